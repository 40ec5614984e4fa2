"""Inspection by archive replay: rebuild an execution from its events alone and compare with the ledger.

The bus archive keeps every orchestrator event. `replay_execution` replays a time window of it into an
*inspector* rule that matches replayed events only (`"replay-name": [{"exists": true}]`, the opposite of
every live rule, so the replay launches nothing and writes nothing) and targets an SQS queue, then reads
the queue and keeps the events of one execution. `rebuild` is a pure function from those events to the
execution's timeline and final state; `ledger_state` reads the same shape from the ledger; `compare`
lists every difference.

On AWS, `drs-orch inspect EXECUTION --aws` does exactly this against the deployed bus and its archive
(StartReplay to a temporary inspector rule and queue, deleted afterwards). EventBridge replays
asynchronously and in no guaranteed order, and the envelope times are publish times: `rebuild` therefore
orders by status precedence within a wave attempt, never by arrival. Locally, moto replays synchronously
and ignores the time window, and the archive holds wall-clock times (not the simulated clock's), so the
events are filtered by execution id, never by time.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from events.models import SOURCE
from orchestrator.adapters.ledger import Ledger
from orchestrator.domain.status import ExecutionStatus, WaveStatus

# how far each event takes a wave within one attempt (a later attempt always wins)
WAVE_STEP: dict[str, tuple[int, WaveStatus]] = {
    "WaveReady": (1, WaveStatus.READY),
    "ApprovalRequested": (2, WaveStatus.AWAITING_APPROVAL),
    "PreLaunchDone": (3, WaveStatus.LAUNCHING),
    "DRSJobStarted": (4, WaveStatus.LAUNCHING),
    "DRSJobCompleted": (4, WaveStatus.LAUNCHING),
    "WaveSkipped": (6, WaveStatus.SKIPPED),  # skipped for a stop or an upstream failure (may be reopened later)
    "WaveFailed": (7, WaveStatus.FAILED),
    "PostLaunchDone": (8, WaveStatus.COMPLETED),
    "WaveCompleted": (8, WaveStatus.COMPLETED),
}
OPERATOR_SKIP = (9, WaveStatus.SKIPPED)  # SkipWave: an operator's decision, final
PLAN_STEP: dict[str, tuple[int, ExecutionStatus]] = {
    "PlanStarted": (1, ExecutionStatus.RUNNING),
    "PlanFailed": (2, ExecutionStatus.FAILED),  # a retried or skipped wave may take a FAILED plan on to the end
    "PlanCompleted": (3, ExecutionStatus.COMPLETED),
    "PlanCancelled": (3, ExecutionStatus.CANCELLED),
}


def _detail(event: Mapping[str, Any]) -> dict[str, Any]:
    detail = event.get("detail")
    return detail if isinstance(detail, dict) else {}


def events_of_execution(events: Iterable[Mapping[str, Any]], execution_id: str) -> list[dict[str, Any]]:
    """The orchestrator events of one execution (a StartPlan names it in `executionId` too)."""
    return [dict(e) for e in events if e.get("source") == SOURCE and _detail(e).get("executionId") == execution_id]


def rebuild(events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The timeline and final state of one execution from its events alone (in any order).

    Returns `{status, mode, planId, waves: {waveId: {status, attempt, serversLaunched, firstAt, lastAt,
    approvedBy}}, timeline: [{time, detailType, waveId}]}`."""
    ordered = sorted((dict(e) for e in events), key=lambda e: str(e.get("time", "")))
    state = _Rebuilt(rejected=_rejected_commands(ordered))
    for event in ordered:
        state.take(event)
    return state.result()


def _rejected_commands(events: Iterable[Mapping[str, Any]]) -> set[tuple[str, Any, Any]]:
    """(command, waveId, requestedBy) of every command the orchestrator refused (a ControlRejected)."""
    refusals = (_detail(event) for event in events if event.get("detail-type") == "ControlRejected")
    return {(str(detail.get("command")), detail.get("waveId"), detail.get("requestedBy")) for detail in refusals}


def _wave_step(kind: str, detail: Mapping[str, Any]) -> tuple[int, WaveStatus] | None:
    """How far event `kind` takes its wave within an attempt (None: it does not move the wave)."""
    if kind == "WaveSkipped" and detail.get("skippedBy"):
        return OPERATOR_SKIP
    return WAVE_STEP.get(kind)


class _Rebuilt:
    """The execution as `rebuild` folds the events into it, one event at a time (oldest first)."""

    def __init__(self, rejected: set[tuple[str, Any, Any]]) -> None:
        self.rejected = rejected
        self.plan: tuple[int, str] = (0, "UNKNOWN")
        self.mode: Any = None
        self.plan_id: Any = None
        self.waves: dict[str, dict[str, Any]] = {}
        # per wave, per source server: (attempt, launchStatus) of its latest DRSJobCompleted
        self.servers: dict[str, dict[str, tuple[int, str]]] = {}
        self.planned: set[str] = set()
        self.timeline: list[dict[str, Any]] = []

    def take(self, event: Mapping[str, Any]) -> None:
        kind = str(event.get("detail-type", ""))
        detail = _detail(event)
        wave_id = detail.get("waveId")
        self.timeline.append({"time": event.get("time"), "detailType": kind, "waveId": wave_id})
        self._take_plan(kind, detail)
        if isinstance(wave_id, str):
            self._take_wave(wave_id, event, kind, detail)

    def _wave(self, wave_id: str) -> dict[str, Any]:
        return self.waves.setdefault(wave_id, {"status": WaveStatus.PENDING.value, "attempt": 1, "_rank": (0, 0)})

    def _take_plan(self, kind: str, detail: Mapping[str, Any]) -> None:
        self.plan_id = self.plan_id or detail.get("planId")
        if kind in {"PlanStarted", "PlanCompleted"} and detail.get("mode"):
            self.mode = detail["mode"]
        if kind in PLAN_STEP and PLAN_STEP[kind][0] >= self.plan[0]:
            self.plan = (PLAN_STEP[kind][0], PLAN_STEP[kind][1].value)
        if kind == "PlanStarted":
            self.planned.update(detail.get("waveIds", []))
            for wave_id in detail.get("waveIds", []):
                self._wave(wave_id)

    def _take_wave(self, wave_id: str, event: Mapping[str, Any], kind: str, detail: Mapping[str, Any]) -> None:
        wave = self._wave(wave_id)
        wave["firstAt"] = min(filter(None, [wave.get("firstAt"), event.get("time")]), default=None)
        wave["lastAt"] = max(filter(None, [wave.get("lastAt"), event.get("time")]), default=None)
        attempt = int(detail.get("attempt", 1))
        if kind == "ApprovalGranted" and ("ApprovalGranted", wave_id, detail.get("requestedBy")) not in self.rejected:
            wave["approvedBy"] = detail.get("requestedBy")
        step = _wave_step(kind, detail)
        if step is not None and (attempt, step[0]) >= wave["_rank"]:
            wave["_rank"] = (attempt, step[0])
            wave["status"], wave["attempt"] = step[1].value, attempt
        if kind == "DRSJobCompleted":
            self._take_servers(wave_id, detail.get("servers", []), attempt)

    def _take_servers(self, wave_id: str, servers: Iterable[Mapping[str, Any]], attempt: int) -> None:
        known_here = self.servers.setdefault(wave_id, {})
        for server in servers:
            sid = server.get("sourceServerId")
            if not sid:
                continue
            known = known_here.get(sid)
            if known is None or attempt >= known[0]:
                known_here[sid] = (attempt, str(server.get("launchStatus")))

    def result(self) -> dict[str, Any]:
        for wave_id in [w for w, wave in self.waves.items() if wave["_rank"] == (0, 0) and w not in self.planned]:
            del self.waves[wave_id]  # named only by a command (a rejected one, say): not a wave of the plan
        for wave_id, wave in self.waves.items():
            wave.pop("_rank", None)
            wave.setdefault("approvedBy", None)
            wave["serversLaunched"] = sorted(
                s for s, (_, status) in self.servers.get(wave_id, {}).items() if status == "LAUNCHED"
            )
        return {
            "planId": self.plan_id,
            "mode": self.mode,
            "status": self.plan[1],
            "waves": dict(sorted(self.waves.items())),
            "timeline": self.timeline,
        }


def ledger_state(ledger: Ledger, execution_id: str) -> dict[str, Any] | None:
    """The same shape as `rebuild`, read from the ledger (None when the execution is unknown)."""
    execution = ledger.execution(execution_id)
    if execution is None:
        return None
    waves = {}
    for wave in ledger.waves(execution_id):
        waves[wave.wave_id] = {
            "status": wave.status.value,
            "attempt": wave.attempt,
            "serversLaunched": sorted(
                sid for sid, s in ledger.wave_servers(execution_id, wave.wave_id).items() if s.launched
            ),
            "approvedBy": wave.approval.approved_by if wave.approval else None,
        }
    return {
        "planId": execution.plan_id,
        "mode": execution.mode,
        "status": execution.status.value,
        "waves": dict(sorted(waves.items())),
    }


def compare(rebuilt: Mapping[str, Any], ledger: Mapping[str, Any]) -> list[str]:
    """Every difference between the state rebuilt from events and the ledger's (empty: they agree)."""
    differences = []
    for key in ("planId", "mode", "status"):
        if rebuilt.get(key) != ledger.get(key):
            differences.append(f"execution {key}: events say {rebuilt.get(key)}, ledger says {ledger.get(key)}")
    events_waves, ledger_waves = rebuilt.get("waves", {}), ledger.get("waves", {})
    for wave_id in sorted(set(events_waves) | set(ledger_waves)):
        from_events, from_ledger = events_waves.get(wave_id), ledger_waves.get(wave_id)
        if from_events is None or from_ledger is None:
            differences.append(f"wave {wave_id}: only in the {'ledger' if from_events is None else 'events'}")
            continue
        for key in ("status", "attempt", "serversLaunched", "approvedBy"):
            if from_events.get(key) != from_ledger.get(key):
                differences.append(
                    f"wave {wave_id} {key}: events say {from_events.get(key)}, ledger says {from_ledger.get(key)}"
                )
    return differences


def inspect_events(events: Iterable[Mapping[str, Any]], ledger: Ledger | None, execution_id: str) -> dict[str, Any]:
    """Rebuild one execution from (replayed) events and compare it with the ledger."""
    mine = events_of_execution(events, execution_id)
    rebuilt = rebuild(mine)
    state = ledger_state(ledger, execution_id) if ledger is not None else None
    return {
        "executionId": execution_id,
        "events": len(mine),
        "rebuilt": rebuilt,
        "ledger": state,
        "differences": compare(rebuilt, state) if state is not None else ["execution not in the ledger"],
    }


# ---- the replay adapter ------------------------------------------------------------------------------


def replay_archive(
    events_client: Any,
    sqs_client: Any,
    *,
    bus_name: str,
    archive_name: str,
    start: datetime,
    end: datetime,
    execution_id: str | None = None,
    wait_seconds: float = 600.0,
    quiet_seconds: float = 5.0,
    sleep: Any = time.sleep,
) -> list[dict[str, Any]]:
    """StartReplay of `archive_name` (between `start` and `end`) onto `bus_name`, caught by a temporary
    inspector rule (replayed events only) into a temporary SQS queue; both are deleted afterwards.
    Returns the replayed events (of `execution_id`, when given), as a rule target receives them."""
    token = uuid.uuid4().hex[:12]
    replay_name = f"inspect-{token}"
    rule = f"drs-orch-inspector-{token}"
    archive = events_client.describe_archive(ArchiveName=archive_name)
    bus_arn = events_client.describe_event_bus(Name=bus_name)["Arn"]
    queue_url = sqs_client.create_queue(QueueName=rule)["QueueUrl"]
    queue_arn = sqs_client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    rule_arn = events_client.put_rule(
        Name=rule,
        EventBusName=bus_name,
        State="ENABLED",
        Description="drs-orch inspect: replayed events only, never a live rule",
        EventPattern=json.dumps({"source": [SOURCE], "replay-name": [replay_name]}),
    )["RuleArn"]
    sqs_client.set_queue_attributes(
        QueueUrl=queue_url,
        Attributes={
            "Policy": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": queue_arn,
                            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                        }
                    ],
                }
            )
        },
    )
    events_client.put_targets(Rule=rule, EventBusName=bus_name, Targets=[{"Id": "inspector", "Arn": queue_arn}])
    received: list[dict[str, Any]] = []
    try:
        events_client.start_replay(
            ReplayName=replay_name,
            EventSourceArn=archive["ArchiveArn"],
            EventStartTime=start,
            EventEndTime=end,
            Destination={"Arn": bus_arn},
        )
        deadline = time.monotonic() + wait_seconds
        while events_client.describe_replay(ReplayName=replay_name)["State"] not in {
            "COMPLETED",
            "FAILED",
            "CANCELLED",
        }:
            if time.monotonic() > deadline:
                raise TimeoutError(f"replay {replay_name} did not complete within {wait_seconds:.0f} s")
            received.extend(_receive(sqs_client, queue_url))
            sleep(1.0)
        quiet_until = time.monotonic() + quiet_seconds  # deliveries may trail the replay's end
        while True:
            batch = _receive(sqs_client, queue_url)
            received.extend(batch)
            if batch:
                quiet_until = time.monotonic() + quiet_seconds
            elif time.monotonic() >= quiet_until:
                break
            else:
                sleep(0.2)
    finally:
        events_client.remove_targets(Rule=rule, EventBusName=bus_name, Ids=["inspector"])
        events_client.delete_rule(Name=rule, EventBusName=bus_name)
        sqs_client.delete_queue(QueueUrl=queue_url)
    mine = [e for e in received if e.get("replay-name") == replay_name]
    return events_of_execution(mine, execution_id) if execution_id else mine


def _receive(sqs_client: Any, queue_url: str) -> list[dict[str, Any]]:
    messages = sqs_client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
        "Messages", []
    )
    events = []
    for message in messages:
        events.append(json.loads(message["Body"]))
        sqs_client.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return events
