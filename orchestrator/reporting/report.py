"""The execution report: what ran, when, with which DRS jobs and servers, read from the ledger."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic.alias_generators import to_camel

from orchestrator.adapters.ledger import Ledger
from orchestrator.adapters.ledger.records import wave_record
from orchestrator.domain.clock import parse_iso
from orchestrator.domain.records import ATTEMPT_TIMES, ExecutionRecord, WaveRecord
from orchestrator.domain.records.approvals import APPROVAL_TIMES, ApprovalRecord

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
    waves_by_id: dict[str, tuple[WaveRecord, dict[str, Any]]] = {}
    for item in ledger.list_waves(execution_id):
        wave = wave_record(item)
        waves_by_id[wave.wave_id] = (wave, ledger.wave_detail(execution_id, item))
    order = [w["waveId"] for w in _plan_waves(execution)] or sorted(waves_by_id)
    started, ended = execution.started_at, execution.ended_at
    duration = (parse_iso(ended) - parse_iso(started)).total_seconds() if started and ended else None
    return {
        "executionId": execution_id,
        "planId": execution.plan_id,
        "planName": execution.plan_name,
        "mode": execution.mode,
        "status": execution.status.value,
        "startedAt": started,
        "endedAt": ended,
        "durationSeconds": duration,
        "requestedBy": execution.requested_by,
        "stopReason": execution.stop_reason,
        **({"cancelledBy": execution.cancelled_by} if execution.cancelled_by else {}),
        "waves": [_wave(*waves_by_id[w]) for w in order if w in waves_by_id],
        "terminations": _terminations(ledger, execution_id),
        "events": list(events or []),
    }


def _plan_waves(execution: ExecutionRecord) -> list[dict[str, Any]]:
    import json

    try:
        waves = json.loads(execution.plan_document).get("waves", [])
    except ValueError:
        return []
    return [w for w in waves if isinstance(w, dict) and "waveId" in w]


def _wave(wave: WaveRecord, detail: Mapping[str, Any]) -> dict[str, Any]:
    """One wave of the report: `wave`'s record, with what `Ledger.wave_detail` adds (`detail`: each job's
    servers, each server's result, each script's instances and how each server ended each earlier attempt)."""
    jobs = [
        {
            "jobId": job_id,
            "sourceServerIds": list(job.get("servers", [])),
            "status": job.get("status"),
            "startedAt": job.get("startedAt"),
            "completedAt": job.get("completedAt"),
        }
        for job_id, job in sorted(detail.get("jobs", {}).items(), key=lambda kv: kv[1].get("startedAt") or "")
    ]
    servers = [
        {
            "sourceServerId": sid,
            "criticality": s.get("criticality"),
            "launchStatus": s.get("launchStatus", "NOT_STARTED"),
            "recoveryInstanceId": s.get("recoveryInstanceId"),
            "jobId": s.get("jobId"),
            **({"reason": s["reason"]} if s.get("reason") else {}),
        }
        for sid, s in sorted(detail.get("servers", {}).items())
    ]
    return {
        "waveId": wave.wave_id,
        "status": wave.status.value,
        "attempt": wave.attempt,
        "dependsOn": list(wave.depends_on),
        **{key: getattr(wave.current, name) for name, key in zip(ATTEMPT_TIMES, ATTEMPT_TIME_KEYS, strict=True)},
        "reason": wave.current.reason,
        "jobs": jobs,
        "servers": servers,
        "scripts": list(detail.get("scripts", [])),
        "warnings": list(wave.warnings),
        "approval": _approval(wave.approval),
        **({"skippedBy": wave.skipped_by, "skippedAt": wave.skipped_at} if wave.skipped_by else {}),
        **(
            {
                "retriedBy": wave.retried_by,
                "retriedAt": wave.retried_at,
                "relaunchedServers": list(wave.launch_servers or ()),
                "previousAttempts": list(detail.get("previousAttempts", [])),
            }
            if wave.retried_by
            else {}
        ),
    }


def _terminations(ledger: Ledger, execution_id: str) -> list[dict[str, Any]]:
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
