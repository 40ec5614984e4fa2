"""The execution report: what ran, when, with which DRS jobs and servers, read from the ledger."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from orchestrator.adapters.ledger import Ledger
from orchestrator.domain.clock import parse_iso


def build_report(
    ledger: Ledger, execution_id: str, events: Iterable[dict[str, Any]] | None = None
) -> dict[str, Any] | None:
    """The report of one execution; `events` are `{detailType, time, waveId}` in publish order."""
    execution = ledger.get_execution(execution_id)
    if execution is None:
        return None
    waves_by_id = {w["waveId"]: ledger.wave_detail(execution_id, w) for w in ledger.list_waves(execution_id)}
    order = [w["waveId"] for w in _plan_waves(execution)] or sorted(waves_by_id)
    started, ended = execution.get("startedAt"), execution.get("endedAt")
    duration = (parse_iso(ended) - parse_iso(started)).total_seconds() if started and ended else None
    return {
        "executionId": execution_id,
        "planId": execution["planId"],
        "planName": execution.get("planName"),
        "mode": execution["mode"],
        "status": execution["status"],
        "startedAt": started,
        "endedAt": ended,
        "durationSeconds": duration,
        "requestedBy": execution.get("requestedBy"),
        "stopReason": execution.get("stopReason"),
        **({"cancelledBy": execution["cancelledBy"]} if execution.get("cancelledBy") else {}),
        "waves": [_wave(waves_by_id[w]) for w in order if w in waves_by_id],
        "terminations": _terminations(ledger, execution_id),
        "events": list(events or []),
    }


def _plan_waves(execution: dict[str, Any]) -> list[dict[str, Any]]:
    import json

    try:
        waves = json.loads(execution["planDocument"]).get("waves", [])
    except (KeyError, ValueError):
        return []
    return [w for w in waves if isinstance(w, dict) and "waveId" in w]


def _wave(wave: dict[str, Any]) -> dict[str, Any]:
    jobs = [
        {
            "jobId": job_id,
            "sourceServerIds": list(job.get("servers", [])),
            "status": job.get("status"),
            "startedAt": job.get("startedAt"),
            "completedAt": job.get("completedAt"),
        }
        for job_id, job in sorted(wave.get("jobs", {}).items(), key=lambda kv: kv[1].get("startedAt") or "")
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
        for sid, s in sorted(wave.get("servers", {}).items())
    ]
    return {
        "waveId": wave["waveId"],
        "status": wave["status"],
        "attempt": wave.get("attempt", 1),
        "dependsOn": list(wave.get("dependsOn", [])),
        "readyAt": wave.get("readyAt"),
        "preLaunchAt": wave.get("preLaunchAt"),
        "launchStartedAt": wave.get("launchStartedAt"),
        "launchedAt": wave.get("launchedAt"),
        "postLaunchAt": wave.get("postLaunchAt"),
        "completedAt": wave.get("completedAt"),
        "endedAt": wave.get("endedAt"),
        "reason": wave.get("reason"),
        "jobs": jobs,
        "servers": servers,
        "scripts": list(wave.get("scripts", [])),
        "warnings": list(wave.get("warnings", [])),
        "approval": _approval(wave.get("approval")),
        **({"skippedBy": wave["skippedBy"], "skippedAt": wave.get("skippedAt")} if wave.get("skippedBy") else {}),
        **(
            {
                "retriedBy": wave["retriedBy"],
                "retriedAt": wave.get("retriedAt"),
                "relaunchedServers": list(wave.get("launchServers", [])),
                "previousAttempts": list(wave.get("previousAttempts", [])),
            }
            if wave.get("retriedBy")
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


def _approval(approval: dict[str, Any] | None) -> dict[str, Any] | None:
    """Who was asked, who decided and when (None: the wave had no approval gate)."""
    if not approval:
        return None
    keys = (
        "status",
        "approvers",
        "requestedAt",
        "deadline",
        "approvedBy",
        "approvedAt",
        "comment",
        "deniedBy",
        "deniedAt",
        "denyReason",
        "timedOutAt",
        "gate",
    )
    return {k: approval[k] for k in keys if approval.get(k) is not None}
