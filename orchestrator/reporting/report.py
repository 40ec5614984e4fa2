"""The execution report: what ran, when, with which DRS jobs and servers, read from the ledger."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic.alias_generators import to_camel

from orchestrator.adapters.ledger import Ledger
from orchestrator.domain.clock import parse_iso
from orchestrator.domain.execution import frozen_plan
from orchestrator.domain.plan import Plan, PlanError, Selection
from orchestrator.domain.plan.launch import has_launch_settings
from orchestrator.domain.records import ATTEMPT_TIMES, ExecutionRecord, WaveAttempt, WaveJob
from orchestrator.domain.records.approvals import APPROVAL_TIMES, ApprovalRecord
from orchestrator.domain.records.detail import WaveDetail
from orchestrator.domain.records.launch_settings import AppliedSettings
from orchestrator.domain.records.servers import ServerAttempt
from orchestrator.domain.resolution import parse_record, selections_of
from orchestrator.reporting.objectives import add_objectives

ATTEMPT_TIME_KEYS: tuple[str, ...] = tuple(to_camel(name) for name in ATTEMPT_TIMES)
"""The report's key of each moment of a wave's attempt (`ATTEMPT_TIMES`: readyAt, preLaunchAt, ...), in the
order they happen; the timeline reads them back."""

APPROVAL_TIME_KEYS: tuple[str, ...] = tuple(to_camel(name) for name in APPROVAL_TIMES)
"""The report's key of each moment of a wave's approval (`APPROVAL_TIMES`: requestedAt, approvedAt, ...)."""

_APPROVAL_FIELDS = (  # the fields of an ApprovalRecord the report shows, in this order, under camelCase keys
    "status",
    "approvers",
    "requested_at",
    "deadline",
    "approved_by",
    "approved_at",
    "comment",
    "denied_by",
    "denied_at",
    "deny_reason",
    "timed_out_at",
    "gate",
)


def build_report(
    ledger: Ledger, execution_id: str, events: Iterable[dict[str, Any]] | None = None
) -> dict[str, Any] | None:
    """The report of one execution; `events` are `{detailType, time, waveId}` in publish order."""
    execution = ledger.execution(execution_id)
    if execution is None:
        return None
    details = ledger.wave_details(execution_id, ledger.waves(execution_id))  # two Queries, not two per wave
    settings = (  # read only when the frozen plan sets launch settings (none were applied otherwise)
        {record.source_server_id: record for record in ledger.settings_records(execution_id)}
        if has_launch_settings(frozen_plan(execution))
        else {}
    )
    order = [w["waveId"] for w in _plan_waves(execution)] or sorted(details)
    selected = _selections(execution)
    targets = _targets(execution)
    started, ended = execution.started_at, execution.ended_at
    duration = (parse_iso(ended) - parse_iso(started)).total_seconds() if started and ended else None
    report = {
        "executionId": execution_id,
        "planId": execution.plan_id,
        "planName": execution.plan_name,
        "mode": execution.mode,
        "status": execution.status.value,
        "startedAt": started,
        # when the disaster was declared, the objectives' start (an execution from before it was recorded: its start)
        "declaredAt": execution.declared_at or started,
        "endedAt": ended,
        "durationSeconds": duration,
        "requestedBy": execution.requested_by,
        "stopReason": execution.stop_reason,
        **({"cancelledBy": execution.cancelled_by} if execution.cancelled_by else {}),
        # a stored plan's run: the version it froze and that version's SHA-256 (issue #16, stored plans)
        **({"planRef": dict(execution.plan_ref)} if execution.plan_ref else {}),
        # a failback execution (issue #15): the RECOVERY it fails back, each wave's DRS failback path, and what its
        # reprotect did
        **_failback(execution),
        "waves": [
            _targeted(_selected(_wave(details[w], settings), selected.get(w)), targets.get(w))
            for w in order
            if w in details
        ],
        "terminations": terminations(ledger, execution_id),
        "events": list(events or []),
    }
    return add_objectives(report, _frozen(execution))


def _failback(execution: ExecutionRecord) -> dict[str, Any]:
    """`failback`: `{of, waves: {waveId: FAILBACK_LAUNCH | REVERSE_REPLICATION}, reprotect: bool}` and, once done,
    `reprotect`: `{at, servers: [{sourceServerId, action, protectedSourceServerId, replicationState, reason}],
    terminatedRecoveryInstanceIds}`; nothing for an execution that is not a failback."""
    if execution.failback is None:
        return {}
    record = execution.failback
    found: dict[str, Any] = {
        "failback": {
            "of": record.get("of"),
            "waves": dict(record.get("waves") or {}),
            "reprotect": bool(record.get("reprotect")),
        }
    }
    if execution.reprotect is not None:
        found["reprotect"] = dict(execution.reprotect)
    return found


def _frozen(execution: ExecutionRecord) -> Plan | None:
    try:
        return frozen_plan(execution)
    except (PlanError, ValueError):
        return None


def _targets(execution: ExecutionRecord) -> dict[str, dict[str, str]]:
    """Each wave with a target (issue #15): its account and Region (never its role's external id); a wave in the
    orchestrator's own account and Region has none."""
    plan = _frozen(execution)
    if plan is None:
        return {}
    return {
        wave.wave_id: {"accountId": wave.target.account_id, "region": wave.target.region}
        for wave in plan.waves
        if wave.target is not None
    }


def _targeted(wave: dict[str, Any], target: dict[str, str] | None) -> dict[str, Any]:
    """`wave` with its `target` ({accountId, region}) when it recovered in another account or Region."""
    return {**wave, "target": target} if target is not None else wave


def _plan_waves(execution: ExecutionRecord) -> list[dict[str, Any]]:
    import json

    try:
        waves = json.loads(execution.plan_document).get("waves", [])
    except ValueError:
        return []
    return [w for w in waves if isinstance(w, dict) and "waveId" in w]


def _selections(execution: ExecutionRecord) -> dict[str, tuple[Mapping[str, str], list[Selection]]]:
    """Per wave that selected servers by tag: its sourceServerTags and why each of its servers is in it (from
    the record start_plan kept beside the frozen plan); nothing for an execution without selectors."""
    record = parse_record(execution.resolution)
    if record is None:
        return {}
    try:
        by_wave = selections_of(frozen_plan(execution), record)
    except PlanError:
        return {}
    return {
        wave_id: (dict(entry.get("sourceServerTags") or {}), by_wave.get(wave_id, []))
        for wave_id, entry in (record.get("waves") or {}).items()
        if isinstance(entry, Mapping)
    }


def _selected(wave: dict[str, Any], selection: tuple[Mapping[str, str], list[Selection]] | None) -> dict[str, Any]:
    """`wave` with, when it selected servers by tag, its `sourceServerTags`, the servers they selected
    (`selectedServerIds`, listed ones included) and each server's `selection` (`listed`, `selected by
    sourceServerTags k=v`, or `listed (also selected by ...)`)."""
    if selection is None:
        return wave
    tags, selections = selection
    why = {s.source_server_id: s.describe() for s in selections}
    for server in wave["servers"]:
        server["selection"] = why.get(server["sourceServerId"], "listed")
    return {
        **wave,
        "sourceServerTags": dict(tags),
        "selectedServerIds": sorted(s.source_server_id for s in selections if s.selector is not None),
    }


def _times(attempt: WaveAttempt) -> dict[str, str | None]:
    """The moments of `attempt` under the report's keys (`ATTEMPT_TIME_KEYS`), None for those not reached."""
    times = attempt.times()
    return {key: times.get(name) for name, key in zip(ATTEMPT_TIMES, ATTEMPT_TIME_KEYS, strict=True)}


def _launch_settings(record: AppliedSettings) -> dict[str, Any]:
    """What a launch applied to a server (its effective settings and where each came from), the template versions,
    whether it was restored, and where the recovery instance actually landed (EC2's word, when known)."""
    return {
        "applied": dict(record.applied),
        "origins": dict(record.origins),
        "status": record.status.value,
        "templateId": record.template_id,
        "templateVersion": record.version,
        "previousTemplateVersion": record.previous_version,
        "restoredAt": record.restored_at,
        "landed": (
            {
                "recoveryInstanceId": record.recovery_instance_id,
                "subnetId": record.subnet_id,
                "privateIp": record.private_ip,
            }
            if record.subnet_id
            else None
        ),
    }


def _wave(detail: WaveDetail, settings: Mapping[str, AppliedSettings] | None = None) -> dict[str, Any]:
    """One wave of the report: its record, with what `Ledger.wave_detail` gathers from items of their own (each
    job's servers, each server's result, each script's instances, how each server ended each earlier attempt)."""
    wave = detail.wave
    jobs = [
        {
            "jobId": job.job_id,
            "sourceServerIds": list(detail.job_servers.get(job.job_id, ())),
            "status": job.status,
            "startedAt": job.started_at,
            "completedAt": job.completed_at,
            # a packed job (issue #19): the other waves whose servers share it (`<execution id>/<wave id>`)
            **({"sharedWith": list(job.shared_with)} if job.shared_with else {}),
        }
        for job in sorted(wave.current.jobs, key=lambda job: job.started_at or "")
    ]
    servers = [
        {
            "sourceServerId": sid,
            "criticality": s.criticality.value if s.criticality is not None else None,
            "launchStatus": s.launch_status.value,
            "recoveryInstanceId": s.recovery_instance_id,
            "jobId": s.job_id,
            "recoveryPointAt": s.recovery_point_at,  # the snapshot its recovery instance was launched from
            "privateIp": s.private_ip,  # its recovery instance's private IP (DRS's DescribeRecoveryInstances)
            **({"reason": s.reason} if s.reason else {}),
            **(
                {"launchSettings": _launch_settings(settings[sid])}
                if settings and sid in settings and settings[sid].wave_id == wave.wave_id
                else {}
            ),
        }
        for sid, s in sorted(detail.servers.items())
    ]
    return {
        "waveId": wave.wave_id,
        "status": wave.status.value,
        "attempt": wave.attempt,
        "dependsOn": list(wave.depends_on),
        **_times(wave.current),
        "reason": wave.current.reason,
        "jobs": jobs,
        "servers": servers,
        "scripts": list(detail.scripts),
        "warnings": list(wave.warnings),
        "approval": _approval(wave.approval),
        **({"skippedBy": wave.skipped_by, "skippedAt": wave.skipped_at} if wave.skipped_by else {}),
        **(
            {
                "retriedBy": wave.retried_by,
                "retriedAt": wave.retried_at,
                "relaunchedServers": list(wave.launch_servers or ()),
                "previousAttempts": [
                    _previous_attempt(attempt, detail.attempt_servers.get(attempt.attempt, {}))
                    for attempt in wave.previous_attempts
                ],
            }
            if wave.retried_by
            else {}
        ),
    }


def _previous_attempt(attempt: WaveAttempt, servers: Mapping[str, ServerAttempt]) -> dict[str, Any]:
    """An earlier attempt of a retried wave (`WaveAttempt.archived`): its number, status, the moments it reached,
    its reason and launch summary (when set), its jobs, how many of its servers launched (and what else the
    ledger kept of it) and how each server ended it (`servers`, from `WaveDetail.attempt_servers`)."""
    times = attempt.times()
    return {
        "attempt": attempt.attempt,
        "status": attempt.status.value,
        **{key: times[name] for name, key in zip(ATTEMPT_TIMES, ATTEMPT_TIME_KEYS, strict=True) if name in times},
        **({"reason": attempt.reason} if attempt.reason is not None else {}),
        **({"launchSummary": attempt.launch_summary} if attempt.launch_summary is not None else {}),
        "jobs": [_previous_job(job) for job in attempt.jobs],
        **({"serversLaunched": attempt.servers_launched} if attempt.servers_launched is not None else {}),
        **attempt.extra,
        "servers": [_attempt_server(sid, ended) for sid, ended in servers.items()],
    }


def _attempt_server(source_server_id: str, ended: ServerAttempt) -> dict[str, Any]:
    """How a server ended an earlier attempt: its id, launch status, and its recovery instance, job and reason
    when known."""
    known = {"recoveryInstanceId": ended.recovery_instance_id, "jobId": ended.job_id, "reason": ended.reason}
    return {
        "sourceServerId": source_server_id,
        "launchStatus": ended.launch_status.value,
        **{key: value for key, value in known.items() if value},
    }


def _previous_job(job: WaveJob) -> dict[str, Any]:
    """A job of an earlier attempt: its id, and its status, start and end when recorded."""
    fields = {"status": job.status, "startedAt": job.started_at, "completedAt": job.completed_at}
    return {"jobId": job.job_id, **{key: value for key, value in fields.items() if value is not None}, **job.extra}


def terminations(ledger: Ledger, execution_id: str) -> list[dict[str, Any]]:
    """Every termination the orchestrator asked DRS for, oldest first: why (ROLLBACK of a failed wave, a
    drill's TIME_TO_LIVE, CANCEL with terminateDrillInstances, an operator's CLEANUP), when, the wave (None:
    the whole execution), the recovery instances and the DRS terminate jobs."""
    recorded = [t for t in ledger.list_terminations(execution_id) if t.get("reason") and t.get("at")]
    return [
        {
            "reason": t["reason"],
            "at": t["at"],
            "waveId": t.get("waveId") or None,
            "recoveryInstanceIds": list(t.get("instances", [])),
            "jobIds": list(t.get("jobIds", [])),
            # once its jobs have ended: what they terminated, and what not with DRS's reason (or why it was given up)
            **(
                {"terminatedInstanceIds": list(t.get("terminated", [])), "endedAt": t.get("endedAt")}
                if t.get("endedJobIds")
                else {}
            ),
            **({"notTerminated": list(t["notTerminated"])} if t.get("notTerminated") else {}),
            **({"error": t["error"]} if t.get("error") else {}),
        }
        for t in sorted(recorded, key=lambda t: (str(t["at"]), str(t.get("sk", ""))))
    ]


def _approval(approval: ApprovalRecord | None) -> dict[str, Any] | None:
    """Who was asked, who decided and when (None: the wave had no approval gate); the fields recorded only."""
    if approval is None:
        return None
    values = {name: getattr(approval, name) for name in _APPROVAL_FIELDS}
    values["status"] = approval.status.value
    values["approvers"] = None if approval.approvers is None else list(approval.approvers)
    return {to_camel(name): value for name, value in values.items() if value is not None}


def report_json(report: Mapping[str, Any]) -> str:
    """The report's one JSON text, as `drs-orch report -o`, `run --report` and the archive function write it (two-space
    indent, non-ASCII characters as \\u escapes, a final newline): `sha256sum` of that file is the digest the
    evidence bucket's metadata and the HTML evidence report carry. TypeError when the report holds a value JSON
    cannot carry."""
    return json.dumps(report, indent=2) + "\n"
