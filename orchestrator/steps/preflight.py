"""Checks before a wave launches anything, run before its pre-launch scripts (`pre_launch.on_wave_ready`).

For every server the wave will launch: it exists in DRS (DescribeSourceServers), its replication is
CONTINUOUS, its replication lag is under the plan's `defaults.maxReplicationLagSeconds`, and a pinned
`recoverySnapshotID` exists (DescribeRecoverySnapshots); a server replicated in a staging account has an extended
source server in this account that is EXTENDED (not EXTENSION_ERROR) and is the one the execution froze at start
(orchestrator/domain/staging.py); and, for a server whose launch settings (in the
execution's mode) name a subnet, security groups, a static IP or an instance type, that the account's network has
them as asked (`orchestrator.steps.network_preflight`: the subnet and groups exist in one VPC, the IP is in the
subnet's CIDR, not reserved, not in use; the type is offered in the subnet's zone). A problem on a CRITICAL server
fails the wave
from READY (and then the plan, by the wave's onFailure policy), naming each server and reason; a problem
on an OPTIONAL server leaves that server out of the launch, recorded as FAILED with its reason, so the
wave's successThreshold judges it like a failed launch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from events.models import Mode, WaveReady
from orchestrator.adapters.drs import DrsError, parse_duration
from orchestrator.domain.clock import iso, parse_iso
from orchestrator.domain.execution import frozen_plan
from orchestrator.domain.failback import (
    READY_FOR_LAUNCH,
    REPLICATING_TOWARD_CONTINUOUS,
    FailbackPath,
    RecoveryInstanceView,
)
from orchestrator.domain.launch_judgement import NAMES_LIMIT, listed
from orchestrator.domain.plan import Criticality, Plan, Wave
from orchestrator.domain.records import ExecutionRecord, WaveRecord
from orchestrator.domain.records.changes import WaveChanges
from orchestrator.domain.records.servers import ServerLaunchStatus, ServerOutcome
from orchestrator.domain.records.waves import PreflightExclusion
from orchestrator.domain.staging import extension_reason
from orchestrator.domain.status import WaveStatus
from orchestrator.domain.targets import TargetUnavailable
from orchestrator.domain.untrusted import inert
from orchestrator.observability import logger, metrics
from orchestrator.runtime import Runtime
from orchestrator.steps import wave_failure
from orchestrator.steps.failback import wave_design
from orchestrator.steps.network_preflight import server_network_problems

HEALTHY_REPLICATION = "CONTINUOUS"
MAX_HOSTNAME_CHARS = 253  # a DNS name's length: what a reason keeps of the hostname a source server reports


@dataclass(frozen=True)
class Problem:
    source_server_id: str
    reason: str
    critical: bool

    def __str__(self) -> str:
        return f"{self.source_server_id}: {self.reason}"


def _hostname_label(server: dict[str, Any]) -> str:
    """` (HOSTNAME)` as DRS reports it, or "". The hostname is what the replication agent on the source server
    sends (identificationHints): whoever controls that server writes it, so it is cut to a DNS name's 253
    characters and made inert (orchestrator/domain/untrusted.py) before it reaches any reason, event or report."""
    name = ((server.get("sourceProperties") or {}).get("identificationHints") or {}).get("hostname")
    if not name:
        return ""
    text = str(name)
    cut = text if len(text) <= MAX_HOSTNAME_CHARS else text[: MAX_HOSTNAME_CHARS - 1] + "…"
    return f" ({inert(cut)})"


def check_servers(rt: Runtime, wave: Wave, server_ids: list[str], *, max_lag_seconds: int) -> list[Problem]:
    """Every problem of the servers to launch, in plan order (DRS read errors become problems too)."""
    by_id = {s.source_server_id: s for s in wave.servers}

    def problem(sid: str, reason: str) -> Problem:
        server = by_id.get(sid)
        return Problem(sid, reason, server is None or server.criticality is Criticality.CRITICAL)

    staged = staging_problems(rt, wave, server_ids)
    described = [sid for sid in server_ids if sid not in staged]
    try:
        found = {s["sourceServerID"]: s for s in rt.drs.describe_source_servers(described)} if described else {}
    except DrsError as exc:
        if exc.retryable:  # DRS is busy, the servers may be fine: the redelivered event checks again
            raise
        failed = f"DescribeSourceServers failed: {inert(str(exc))}"
        return [problem(sid, staged.get(sid, failed)) for sid in server_ids]
    problems: list[Problem] = []
    for sid in server_ids:
        reason = staged.get(sid) or _server_reason(
            rt, found.get(sid), by_id[sid].recovery_snapshot_id if sid in by_id else None, max_lag_seconds
        )
        if reason:
            problems.append(problem(sid, reason))
    return problems


def _server_reason(
    rt: Runtime, server: dict[str, Any] | None, snapshot: str | None, max_lag_seconds: int
) -> str | None:
    """Why a source server (as DescribeSourceServers gave it; None: not found) cannot launch, or None."""
    if server is None:
        return "source server not found in DRS"
    info: dict[str, Any] = server.get("dataReplicationInfo") or {}
    state = info.get("dataReplicationState", "UNKNOWN")
    label = _hostname_label(server)
    if state != HEALTHY_REPLICATION:
        return f"replication is {state}, not {HEALTHY_REPLICATION}{label}"
    lag = parse_duration(info.get("lagDuration"))
    if lag is not None and lag > max_lag_seconds:
        return f"replication lag {int(lag)} s exceeds the plan's limit of {max_lag_seconds} s{label}"
    if not snapshot:
        return None
    try:
        known = rt.drs.recovery_snapshot_ids(str(server["sourceServerID"]))
    except DrsError as exc:
        if exc.retryable:
            raise
        return f"DescribeRecoverySnapshots failed: {inert(str(exc))}"
    return None if snapshot in known else f"recovery snapshot {snapshot} not found"


def staging_problems(rt: Runtime, wave: Wave, server_ids: list[str]) -> dict[str, str]:
    """Why each server of `server_ids` replicated in a staging account cannot launch, by its id in the frozen plan:
    not extended into this account (its id is still the staging one), its extended source server in
    EXTENSION_ERROR, or extended otherwise than when the execution started. Read again now (DescribeSourceServers
    filtered on the staging accounts): the extension may have changed since StartPlan resolved it."""
    wanted = set(server_ids)
    staged = [s for s in wave.servers if s.is_staging and s.source_server_id in wanted]
    if not staged:
        return {}
    try:
        extended = rt.drs.extended_source_servers(sorted({str(s.staging_account_id) for s in staged}))
    except DrsError as exc:
        if exc.retryable:
            raise
        return {
            s.source_server_id: f"DescribeSourceServers (stagingAccountIDs) failed: {inert(str(exc))}" for s in staged
        }
    by_key = {e.key: e for e in extended}
    reasons = {
        s.source_server_id: extension_reason(
            s, by_key.get((str(s.staging_account_id), str(s.staging_source_server_id)))
        )
        for s in staged
    }
    return {sid: reason for sid, reason in reasons.items() if reason}


def preflight(
    rt: Runtime, plan: Plan, wave: Wave, server_ids: list[str] | None = None, *, mode: Mode = Mode.DRILL
) -> list[Problem]:
    """Problems that forbid launching (some of) `wave` of `plan` in `mode`, one per server (its reasons joined
    by '; '), in plan order."""
    ids = server_ids if server_ids is not None else wave.server_ids
    problems = check_servers(rt, wave, ids, max_lag_seconds=plan.defaults.max_replication_lag_seconds)
    network = server_network_problems(rt, plan, mode, wave_ids=[wave.wave_id], server_ids=ids)
    if not network:
        return problems
    critical = {s.source_server_id: s.criticality is Criticality.CRITICAL for s in wave.servers}
    reasons: dict[str, list[str]] = {p.source_server_id: [p.reason] for p in problems}
    for found in network:
        where = f", set at {found.problem.path}" if found.problem.path else ""
        reasons.setdefault(found.source_server_id, []).append(f"{found.detail}{where}")
    return [Problem(sid, "; ".join(reasons[sid]), critical.get(sid, True)) for sid in ids if sid in reasons]


def gate(rt: Runtime, execution: ExecutionRecord, wave: WaveRecord, detail: WaveReady, event_id: str) -> bool:
    """Run the preflight of a READY wave (`wave`, as the WaveReady found it). True when the wave failed it
    (nothing may start)."""
    plan = frozen_plan(execution)
    plan_wave = plan.wave(detail.wave_id)
    launch = _launch_servers(wave, detail, plan_wave)
    try:
        there = rt.at(plan_wave.target)  # the wave's account and Region (itself without a target)
    except TargetUnavailable as exc:
        fail_unreachable(rt, execution, plan_wave, launch, exc, attempt=detail.attempt, key=event_id)
        return True
    design = wave_design(execution, detail.wave_id)
    if (
        design is not None
        and design.path is FailbackPath.REVERSE_REPLICATION
        and replicating(there, execution, wave, detail, launch)
    ):
        return True  # held: WaveReady again once its reversed servers may replicate continuously
    if design is not None and design.path is FailbackPath.FAILBACK_LAUNCH:
        problems = failback_launch_problems(there, plan_wave, launch, design.instances)
    else:
        problems = preflight(there, plan, plan_wave, launch, mode=Mode(execution.mode))
    if not problems:
        return False
    metrics.add_metric(name="PreflightProblems", unit="Count", value=len(problems))
    critical = [p for p in problems if p.critical]
    left = [sid for sid in launch if sid not in {p.source_server_id for p in problems}]
    if critical or not left:
        fail_wave(rt, execution, plan_wave, critical or problems, attempt=detail.attempt, key=event_id)
        return True
    # OPTIONAL servers only: leave them out of this attempt's launch, recorded as FAILED with the reason
    # (no server of a READY wave is FAILED before: those a retry keeps are LAUNCHED, the others NOT_STARTED)
    changes = WaveChanges(
        preflight_excluded=PreflightExclusion(
            attempt=detail.attempt, servers=tuple(p.source_server_id for p in problems)
        ),
        warnings=tuple(_warnings(problems)),
        servers_failed=len(problems),
    )
    if rt.ledger.note_wave_if(detail.execution_id, detail.wave_id, status=WaveStatus.READY, changes=changes):
        rt.ledger.record_server_results(
            detail.execution_id,
            detail.wave_id,
            {
                p.source_server_id: ServerOutcome(
                    launch_status=ServerLaunchStatus.FAILED, reason=f"preflight: {p.reason}"
                )
                for p in problems
            },
            attempt=detail.attempt,
        )
        logger.warning(
            "OPTIONAL servers left out by preflight",
            wave_id=detail.wave_id,
            servers=[p.source_server_id for p in problems],
        )
    return False


def failback_launch_problems(
    rt: Runtime, wave: Wave, server_ids: list[str], instances: Mapping[str, str]
) -> list[Problem]:
    """A failback wave of non-EC2 origins: each server's recovery instance must be FAILBACK_READY_FOR_LAUNCH (its
    failback client has replicated it back to the origin machine) before StartFailbackLaunch; the problem names the
    instance and its failback state (DescribeRecoveryInstances, in the wave's account and Region)."""
    by_id = {s.source_server_id: s for s in wave.servers}
    wanted = {sid: instances[sid] for sid in server_ids if sid in instances}
    try:
        found = {
            view.recovery_instance_id: view
            for view in map(
                RecoveryInstanceView.from_item,
                rt.drs.describe_recovery_instances(recovery_instance_ids=list(wanted.values())),
            )
        }
    except DrsError as exc:
        if exc.retryable:
            raise
        found = {}
        unread = f"DescribeRecoveryInstances failed: {inert(str(exc))}"
    else:
        unread = "recovery instance not found in DRS"
    problems = []
    for sid in server_ids:
        rid = wanted.get(sid)
        view = found.get(rid) if rid else None
        critical = sid not in by_id or by_id[sid].criticality is Criticality.CRITICAL
        if rid is None:
            problems.append(Problem(sid, "no recovery instance to fail back", critical))
        elif view is None:
            problems.append(Problem(sid, f"recovery instance {rid}: {unread}", critical))
        elif view.failback_state != READY_FOR_LAUNCH:
            problems.append(
                Problem(sid, f"recovery instance {rid} is {view.state_label}, not {READY_FOR_LAUNCH}", critical)
            )
    return problems


#: how long a failback wave waits between two looks at its reversed servers' initial sync (seconds)
REPLICATION_RECHECK_SECONDS = 60
#: how long a failback waits for reversed servers' initial syncs, from its start, before the wave's preflight judges
#: them as they are (failing the wave: "replication is INITIAL_SYNC, not CONTINUOUS"): 48 hours, beyond the initial
#: sync of the largest disks DRS replicates at its default bandwidth; RetryWave waits again
REVERSE_SYNC_LIMIT = timedelta(hours=48)


def replicating(
    rt: Runtime, execution: ExecutionRecord, wave: WaveRecord, detail: WaveReady, server_ids: list[str]
) -> bool:
    """A failback wave of EC2 origins whose reversed source servers are still on their way to CONTINUOUS
    (INITIATING, INITIAL_SYNC, BACKLOG, CREATING_SNAPSHOT, RESCAN): True, and the wave's WaveReady is scheduled again
    in REPLICATION_RECHECK_SECONDS (the wave stays READY, nothing runs, a warning on the wave says what it waits
    for). Any other state is the preflight's to judge (CONTINUOUS passes; STALLED, DISCONNECTED, STOPPED fail the
    wave naming each server), and so is a sync still running REVERSE_SYNC_LIMIT after the failback started."""
    from orchestrator.adapters.scheduler import schedule_name

    servers = rt.drs.describe_source_servers(server_ids)
    waiting = [
        f"{s.get('sourceServerID')} {(s.get('dataReplicationInfo') or {}).get('dataReplicationState')}"
        for s in servers
        if (s.get("dataReplicationInfo") or {}).get("dataReplicationState") in REPLICATING_TOWARD_CONTINUOUS
    ]
    started = parse_iso(execution.started_at) if execution.started_at else rt.clock.now()
    if not waiting or rt.clock.now() - started >= REVERSE_SYNC_LIMIT:
        return False
    hours = int(REVERSE_SYNC_LIMIT.total_seconds()) // 3600
    note = (
        f"failback: waiting for {len(waiting)} reversed source server(s) to replicate continuously before launching "
        f"back ({listed(waiting)}); the wave fails if they do not within {hours} h of the failback's start"
    )
    if not any(w.startswith("failback: waiting for") for w in wave.warnings):
        rt.ledger.note_wave_if(
            detail.execution_id,
            detail.wave_id,
            status=WaveStatus.READY,
            changes=WaveChanges(warnings=(*wave.warnings, note)),
        )
    due = rt.clock.now() + timedelta(seconds=REPLICATION_RECHECK_SECONDS)
    rt.scheduler.at(
        schedule_name("failback-sync", detail.execution_id, detail.wave_id, str(detail.attempt), iso(due)),
        due,
        WaveReady(
            execution_id=detail.execution_id, plan_id=detail.plan_id, wave_id=detail.wave_id, attempt=detail.attempt
        ),
    )
    logger.info(
        "failback wave waits for its reversed source servers to replicate continuously",
        wave_id=detail.wave_id,
        replicating=waiting[:20],
        recheck_at=iso(due),
    )
    return True


def _warnings(problems: list[Problem]) -> list[str]:
    """One warning per OPTIONAL server left out, the first NAMES_LIMIT, then a line counting the rest."""
    lines = [f"preflight: {p}" for p in problems[:NAMES_LIMIT]]
    if len(problems) > NAMES_LIMIT:
        lines.append(f"preflight: … and {len(problems) - NAMES_LIMIT} more server(s) left out")
    return lines


def _launch_servers(wave: WaveRecord, detail: WaveReady, plan_wave: Wave) -> list[str]:
    if detail.attempt > 1 and wave.launch_servers:  # a RetryWave may relaunch only some servers
        return list(wave.launch_servers)
    return plan_wave.server_ids


def fail_unreachable(
    rt: Runtime,
    execution: ExecutionRecord,
    wave: Wave,
    server_ids: list[str],
    refused: TargetUnavailable,
    *,
    attempt: int,
    key: str,
) -> None:
    """READY -> FAILED before any script or launch: STS refused the wave's target role (the reason names the role
    and the account, e.g. "cannot assume arn:aws:iam::222233334444:role/X in account 222233334444: AccessDenied:
    ..."); every server to launch is NOT_STARTED with that reason."""
    from events.models import ServerLaunch

    by_id = {s.source_server_id: s for s in wave.servers}
    reason = inert(refused.reason)
    logger.warning("wave target refused", wave_id=wave.wave_id, role_arn=refused.role_arn, code=refused.code)
    metrics.add_metric(name="TargetRefused", unit="Count", value=1)
    wave_failure.fail_wave(
        rt,
        execution,
        wave.wave_id,
        from_=[WaveStatus.READY],
        reason=reason,
        key=key,
        attempt=attempt,
        failed_servers=[
            ServerLaunch(
                source_server_id=sid,
                launch_status="NOT_STARTED",
                criticality=by_id[sid].criticality.value if sid in by_id else "CRITICAL",
                reason=reason,
            )
            for sid in server_ids
        ],
    )


def fail_wave(
    rt: Runtime, execution: ExecutionRecord, wave: Wave, problems: list[Problem], *, attempt: int, key: str
) -> None:
    """READY -> FAILED before any launch, naming each server and reason."""
    from events.models import ServerLaunch

    wave_failure.fail_wave(
        rt,
        execution,
        wave.wave_id,
        from_=[WaveStatus.READY],
        reason="preflight failed: " + listed([str(p) for p in problems]),
        key=key,
        attempt=attempt,
        failed_servers=[
            ServerLaunch(
                source_server_id=p.source_server_id,
                launch_status="NOT_STARTED",
                criticality="CRITICAL" if p.critical else "OPTIONAL",
                reason=f"preflight: {p.reason}",
            )
            for p in problems
        ],
    )
