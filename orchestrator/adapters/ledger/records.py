"""The one place that knows which DynamoDB attribute holds which field of a record (orchestrator.domain.records).

`wave_record(item)` / `wave_item(record)`, `execution_record(item)` / `execution_item(record)` and
`attempt_record(map)` / `attempt_map(attempt)` map an item as the ledger reads it (`_base._plain`: numbers
as int, sets as sorted lists; an execution with its frozen plan as `planDocument`, see
`Executions.get_execution`) to its record and back: `x_item(x_record(item)) == item`. The attributes a
record does not name are kept in its `extra` and written back as they were. `wave_attributes(fields)` names
the attributes of wave fields for a write (what a retry or a reopen removes).

The item layout is the one the ledger has always written: these tables only give it a name per field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from orchestrator.adapters.ledger._base import LedgerError
from orchestrator.adapters.ledger._keys import EXEC_SK, exec_pk, wave_sk
from orchestrator.domain.records import ATTEMPT_TIMES, ExecutionRecord, WaveAttempt, WaveJob, WaveRecord
from orchestrator.domain.records.approvals import ApprovalRecord, ApprovalStatus
from orchestrator.domain.records.waves import PreflightExclusion
from orchestrator.domain.status import ExecutionStatus, WaveStatus

_Convert = tuple[Callable[[Any], Any], Callable[[Any], Any]]  # (attribute -> field, field -> attribute)
_SAME: _Convert = (lambda value: value, lambda value: value)
_INT: _Convert = (int, lambda value: value)
_LIST: _Convert = (tuple, list)
_MAP: _Convert = (dict, dict)
_BOOL: _Convert = (bool, lambda value: value)

# field -> (attribute, conversion); a field of None is an absent attribute
_TIME_ATTRIBUTES: dict[str, str] = {
    "ready_at": "readyAt",
    "pre_launch_at": "preLaunchAt",
    "launch_started_at": "launchStartedAt",
    "launched_at": "launchedAt",
    "post_launch_at": "postLaunchAt",
    "completed_at": "completedAt",
    "ended_at": "endedAt",
}
_JOB: dict[str, tuple[str, _Convert]] = {
    "launch_key": ("launchKey", _SAME),
    "server_count": ("serverCount", _INT),
    "status": ("status", _SAME),
    "started_at": ("startedAt", _SAME),
    "completed_at": ("completedAt", _SAME),
    "done_key": ("doneKey", _SAME),
    "reported_at": ("reportedAt", _SAME),
    "packed_key": ("packedKey", _SAME),
    "server_ids": ("servers", _LIST),
    "shared_with": ("sharedWith", _LIST),
}
_ATTEMPT: dict[str, tuple[str, _Convert]] = {  # the order an archived attempt has always been written in
    "attempt": ("attempt", _INT),
    "status": ("status", (WaveStatus, str)),
    **{name: (_TIME_ATTRIBUTES[name], _SAME) for name in ATTEMPT_TIMES},
    "reason": ("reason", _SAME),
    "launch_summary": ("launchSummary", _SAME),
    # jobs: a list in an archived attempt, a map by job id on the wave (see _attempt_fields)
    "servers_launched": ("serversLaunched", _INT),
}
_APPROVAL: dict[str, tuple[str, _Convert]] = {  # a wave's `approval` map
    "status": ("status", (ApprovalStatus, str)),
    "request_id": ("requestId", _SAME),
    "requested_at": ("requestedAt", _SAME),
    "deadline": ("deadline", _SAME),
    "approvers": ("approvers", _LIST),
    "gate": ("gate", _SAME),
    "attempt": ("attempt", _INT),
    "approved_by": ("approvedBy", _SAME),
    "approved_at": ("approvedAt", _SAME),
    "comment": ("comment", _SAME),
    "denied_by": ("deniedBy", _SAME),
    "denied_at": ("deniedAt", _SAME),
    "deny_reason": ("denyReason", _SAME),
    "timed_out_at": ("timedOutAt", _SAME),
    "decision_key": ("decisionKey", _SAME),
}


# an approval: a map on the wave item, converted by the wave's table below


def approval_record(item: Mapping[str, Any]) -> ApprovalRecord:
    """A wave's `approval` map as its record (`approval_map` maps it back: `approval_map(approval_record(m)) == m`)."""
    return ApprovalRecord(**_fields(item, _APPROVAL), extra=_extra(item, _APPROVAL))


def approval_map(approval: ApprovalRecord) -> dict[str, Any]:
    """The `approval` map of a wave item, as the ledger reads it."""
    return {**_attributes(approval, _APPROVAL), **approval.extra}


_WAVE: dict[str, tuple[str, _Convert]] = {
    "remaining": ("remaining", _INT),
    "depends_on": ("dependsOn", _LIST),
    "dependents": ("dependents", _LIST),
    "on_failure": ("onFailure", _SAME),
    "server_count": ("serverCount", _INT),
    "servers_failed": ("serversFailed", _INT),
    "jobs_expected": ("jobsExpected", _INT),
    "jobs_done": ("jobsDone", _INT),
    "scripts": ("scripts", (lambda value: tuple(dict(s) if isinstance(s, Mapping) else s for s in value), list)),
    "warnings": ("warnings", _LIST),
    "last_key": ("lastKey", _SAME),
    "released_by": ("releasedBy", _LIST),
    "approval": ("approval", (approval_record, approval_map)),
    "launch_servers": ("launchServers", _LIST),
    "retry_key": ("retryKey", _SAME),
    "retried_by": ("retriedBy", _SAME),
    "retried_at": ("retriedAt", _SAME),
    "skip_key": ("skipKey", _SAME),
    "skipped_by": ("skippedBy", _SAME),
    "skipped_at": ("skippedAt", _SAME),
    "skipped_for": ("skippedFor", _SAME),
    "skipped_from": ("skippedFrom", _SAME),
    "failed_reason": ("failedReason", _SAME),
    "preflight_excluded": (
        "preflightExcluded",
        (
            lambda value: PreflightExclusion(attempt=int(value["attempt"]), servers=tuple(value["servers"])),
            lambda value: {"attempt": value.attempt, "servers": list(value.servers)},
        ),
    ),
    "launch_token": ("launchToken", _SAME),
}
_EXECUTION: dict[str, tuple[str, _Convert]] = {
    "plan_id": ("planId", _SAME),
    "plan_name": ("planName", _SAME),
    "mode": ("mode", _SAME),
    "status": ("status", (ExecutionStatus, str)),
    "wave_count": ("waveCount", _INT),
    "terminal_count": ("terminalCount", _INT),
    "requested_by": ("requestedBy", _SAME),
    "started_at": ("startedAt", _SAME),
    "declared_at": ("declaredAt", _SAME),
    "drill_ttl_seconds": ("drillTtlSeconds", _INT),
    "plan_document": ("planDocument", _SAME),
    "resolution": ("resolution", _SAME),
    "plan_ref": ("planRef", _MAP),
    "failed_waves": ("failedWaves", _LIST),
    "paused": ("paused", _BOOL),
    "ended_at": ("endedAt", _SAME),
    "last_key": ("lastKey", _SAME),
    "start_key": ("startKey", _SAME),
    "stop_reason": ("stopReason", _SAME),
    "stopped_by": ("stoppedBy", _SAME),
    "paused_by": ("pausedBy", _SAME),
    "cancel_requested": ("cancelRequested", _BOOL),
    "cancel_key": ("cancelKey", _SAME),
    "cancelled_by": ("cancelledBy", _SAME),
    "running_wave_ids": ("runningWaveIds", _LIST),
    "terminate_on_cancel": ("terminateOnCancel", _BOOL),
    "failback": ("failback", _MAP),
    "reprotect": ("reprotect", _MAP),
}
_KEYS = ("pk", "sk", "kind")  # derived from the ids (_keys.py)
_WAVE_OWN = {*_KEYS, "executionId", "waveId", "jobs", "previousAttempts"}
_EXECUTION_OWN = {*_KEYS, "executionId"}


def _fields(item: Mapping[str, Any], table: Mapping[str, tuple[str, _Convert]]) -> dict[str, Any]:
    return {name: convert[0](item[attr]) for name, (attr, convert) in table.items() if item.get(attr) is not None}


def _attributes(record: object, table: Mapping[str, tuple[str, _Convert]]) -> dict[str, Any]:
    values = {attr: (getattr(record, name), convert) for name, (attr, convert) in table.items()}
    return {attr: convert[1](value) for attr, (value, convert) in values.items() if value is not None}


def _extra(
    item: Mapping[str, Any], *tables: Mapping[str, tuple[str, _Convert]], own: Iterable[str] = ()
) -> dict[str, Any]:
    named = {*own, *(attr for table in tables for attr, _ in table.values())}
    return {attr: value for attr, value in item.items() if attr not in named}


# ---- a job, an attempt -------------------------------------------------------------------------------


def _job(job_id: str, item: Mapping[str, Any]) -> WaveJob:
    return WaveJob(job_id=job_id, **_fields(item, _JOB), extra=_extra(item, _JOB, own=["jobId"]))


def _job_map(job: WaveJob) -> dict[str, Any]:
    return {**_attributes(job, _JOB), **job.extra}


def attempt_record(item: Mapping[str, Any]) -> WaveAttempt:
    """An archived attempt (one of a wave's `previousAttempts`)."""
    fields = _fields(item, _ATTEMPT)
    jobs = tuple(_job(str(job["jobId"]), job) for job in item.get("jobs") or [])
    return WaveAttempt(**fields, jobs=jobs, extra=_extra(item, _ATTEMPT, own=["jobs"]))


def attempt_map(attempt: WaveAttempt) -> dict[str, Any]:
    """An attempt as a wave's `previousAttempts` holds it: attempt, status, times, reason, launchSummary
    (those set), jobs (`{jobId, status, startedAt, completedAt}`) and serversLaunched."""
    head = _attributes(attempt, _ATTEMPT)
    launched = head.pop("serversLaunched", None)
    jobs = [{"jobId": job.job_id, **_job_map(job)} for job in attempt.jobs]
    return {**head, "jobs": jobs, **({} if launched is None else {"serversLaunched": launched}), **attempt.extra}


# ---- a wave ------------------------------------------------------------------------------------------


def wave_record(item: Mapping[str, Any]) -> WaveRecord:
    """A wave item (`WAVE#<wave>`) as its record. LedgerError when it lacks an attribute every wave item has."""
    try:
        jobs = tuple(_job(job_id, job) for job_id, job in (item.get("jobs") or {}).items())
        current = WaveAttempt(**_fields(item, _ATTEMPT), jobs=jobs)
        return WaveRecord(
            execution_id=str(item["executionId"]),
            wave_id=str(item["waveId"]),
            current=current,
            **_fields(item, _WAVE),
            previous_attempts=tuple(attempt_record(a) for a in item.get("previousAttempts") or []),
            extra=_extra(item, _ATTEMPT, _WAVE, own=_WAVE_OWN),
        )
    except (KeyError, TypeError) as exc:
        raise LedgerError(f"not a wave item: {exc} ({item.get('pk')} {item.get('sk')})") from exc


def wave_item(record: WaveRecord) -> dict[str, Any]:
    """The wave item of `record`, as the ledger reads it."""
    current = _attributes(record.current, _ATTEMPT)
    return {
        "pk": exec_pk(record.execution_id),
        "sk": wave_sk(record.wave_id),
        "kind": "WAVE",
        "executionId": record.execution_id,
        "waveId": record.wave_id,
        **current,
        **_attributes(record, _WAVE),
        "jobs": {job.job_id: _job_map(job) for job in record.current.jobs},
        **(
            {"previousAttempts": [attempt_map(a) for a in record.previous_attempts]} if record.previous_attempts else {}
        ),
        **record.extra,
    }


def wave_attributes(fields: Iterable[str]) -> list[str]:
    """The attribute names of wave fields (of `WaveRecord` or its current `WaveAttempt`), in that order.
    LedgerError for a name that is not one."""
    table = {name: attr for name, (attr, _) in {**_ATTEMPT, **_WAVE}.items()}
    unknown = [name for name in fields if name not in table]
    if unknown:
        raise LedgerError(f"not a wave field: {', '.join(unknown)}")
    return [table[name] for name in fields]


# ---- an execution -------------------------------------------------------------------------------------


def execution_record(item: Mapping[str, Any]) -> ExecutionRecord:
    """An execution item (`#EXECUTION`, with `planDocument`) as its record. LedgerError when it lacks an
    attribute every execution item has."""
    try:
        return ExecutionRecord(
            execution_id=str(item["executionId"]),
            **_fields(item, _EXECUTION),
            extra=_extra(item, _EXECUTION, own=_EXECUTION_OWN),
        )
    except (KeyError, TypeError) as exc:
        raise LedgerError(f"not an execution item: {exc} ({item.get('pk')} {item.get('sk')})") from exc


def execution_item(record: ExecutionRecord) -> dict[str, Any]:
    """The execution item of `record` with its `planDocument`, as `Executions.get_execution` reads it."""
    return {
        "pk": exec_pk(record.execution_id),
        "sk": EXEC_SK,
        "kind": "EXECUTION",
        "executionId": record.execution_id,
        **_attributes(record, _EXECUTION),
        **record.extra,
    }
