"""The server items (`SERVER#<wave>#<server>`): one per server of a wave, with its criticality, launch status
(NOT_STARTED until its job has ended), the wave attempt that wrote it and, when known, its job, recovery
instance and reason, and how it had ended each earlier attempt (`history`). Written in batches (BatchGetItem,
BatchWriteItem), and only while the wave's item says the write is due (a job's results while the job is not
COMPLETED on the wave: see `Waves.record_job_done`).

`server_result(item)` / `server_item(result)` map a server's item to its record
(`orchestrator.domain.records.servers.ServerResult`) and back: `server_item(server_result(item)) == item`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from orchestrator.adapters.ledger._base import LedgerBase, LedgerError
from orchestrator.adapters.ledger._keys import SERVER_PREFIX, exec_pk, execution_id_of, server_sk, wave_of
from orchestrator.adapters.ledger.records import _INT, _SAME, _attributes, _Convert, _extra, _fields
from orchestrator.domain.plan import Criticality
from orchestrator.domain.records.servers import ServerAttempt, ServerLaunchStatus, ServerOutcome, ServerResult

_KEYS = ("pk", "sk", "kind")
_STATUS: _Convert = (ServerLaunchStatus, str)
_ATTEMPT: dict[str, tuple[str, _Convert]] = {  # an entry of a server's `history`, in the order it is written
    "attempt": ("attempt", _INT),
    "launch_status": ("launchStatus", _STATUS),
    "recovery_instance_id": ("recoveryInstanceId", _SAME),
    "job_id": ("jobId", _SAME),
    "reason": ("reason", _SAME),
    "recovery_point_at": ("recoveryPointAt", _SAME),
    "private_ip": ("privateIp", _SAME),
}
_SERVER: dict[str, tuple[str, _Convert]] = {  # field -> (attribute, conversion), in the order an item is written
    "wave_id": ("waveId", _SAME),
    "source_server_id": ("sourceServerId", _SAME),
    "attempt": ("attempt", _INT),
    "criticality": ("criticality", (Criticality, str)),
    "launch_status": ("launchStatus", _STATUS),
    "job_id": ("jobId", _SAME),
    "recovery_instance_id": ("recoveryInstanceId", _SAME),
    "reason": ("reason", _SAME),
    "recovery_point_at": ("recoveryPointAt", _SAME),  # the snapshot its recovery instance was launched from
    "private_ip": ("privateIp", _SAME),  # its recovery instance's private IP
    # history: a list, written only when not empty (see server_item)
    "expires_at": ("expiresAt", _INT),
}
_SERVER_DEFAULTS: dict[str, Any] = {"criticality": None, "launch_status": ServerLaunchStatus.NOT_STARTED, "attempt": 1}


def _attempt(entry: Mapping[str, Any]) -> ServerAttempt:
    """An entry of a server's history (an entry without attempt or status reads as attempt 0, NOT_STARTED)."""
    fields = {"attempt": 0, "launch_status": ServerLaunchStatus.NOT_STARTED, **_fields(entry, _ATTEMPT)}
    return ServerAttempt(**fields, extra=_extra(entry, _ATTEMPT))


def _attempt_map(attempt: ServerAttempt) -> dict[str, Any]:
    return {**_attributes(attempt, _ATTEMPT), **attempt.extra}


def server_result(item: Mapping[str, Any]) -> ServerResult:
    """A server's item as its record (`_SERVER_DEFAULTS` for the attributes it lacks). LedgerError when it lacks an
    attribute every server item has."""
    try:
        return ServerResult(
            execution_id=execution_id_of(item),
            **{**_SERVER_DEFAULTS, **_fields(item, _SERVER)},
            history=tuple(_attempt(entry) for entry in item.get("history") or []),
            extra=_extra(item, _SERVER, own=(*_KEYS, "history")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LedgerError(f"not a server item: {exc} ({item.get('pk')} {item.get('sk')})") from exc


def server_item(result: ServerResult) -> dict[str, Any]:
    """The item of a server's record, as the ledger writes and reads it."""
    return {
        "pk": exec_pk(result.execution_id),
        "sk": server_sk(result.wave_id, result.source_server_id),
        "kind": "SERVER",
        **_attributes(result, _SERVER),
        **({"history": [_attempt_map(entry) for entry in result.history]} if result.history else {}),
        **result.extra,
    }


def new_server_item(execution_id: str, wave_id: str, server_id: str, server: Mapping[str, Any]) -> dict[str, Any]:
    """A server's item as `create_execution` writes it (`server`: criticality, launchStatus): attempt 1."""
    criticality = server.get("criticality")
    return server_item(
        ServerResult(
            execution_id=execution_id,
            wave_id=wave_id,
            source_server_id=server_id,
            criticality=Criticality(criticality) if criticality is not None else None,
            launch_status=ServerLaunchStatus(server.get("launchStatus", ServerLaunchStatus.NOT_STARTED)),
            attempt=1,
        )
    )


def _outcome(current: ServerResult, outcome: ServerOutcome, *, attempt: int, job_id: str | None) -> ServerResult:
    """`current` once `outcome` is written for wave attempt `attempt` (by job `job_id`, when given): a recovery
    instance id or reason the outcome lacks is left as it was."""
    return replace(
        current,
        launch_status=outcome.launch_status,
        attempt=attempt,
        job_id=job_id if job_id is not None else current.job_id,
        recovery_instance_id=outcome.recovery_instance_id or current.recovery_instance_id,
        reason=outcome.reason or current.reason,
        recovery_point_at=outcome.recovery_point_at or current.recovery_point_at,
        private_ip=outcome.private_ip or current.private_ip,
    )


def _reset(current: ServerResult, *, attempt: int) -> ServerResult:
    """`current` launched again in wave attempt `attempt`: NOT_STARTED, without the earlier attempt's job,
    recovery instance and reason, which its history keeps (as the state it had at the end of `attempt - 1`)."""
    ended = ServerAttempt(
        attempt=attempt - 1,
        launch_status=current.launch_status,
        recovery_instance_id=current.recovery_instance_id or None,
        job_id=current.job_id or None,
        reason=current.reason or None,
        recovery_point_at=current.recovery_point_at or None,
        private_ip=current.private_ip or None,
    )
    return replace(
        current,
        launch_status=ServerLaunchStatus.NOT_STARTED,
        attempt=attempt,
        job_id=None,
        recovery_instance_id=None,
        reason=None,
        recovery_point_at=None,
        private_ip=None,
        history=(*current.history, ended),
    )


class Servers(LedgerBase):
    def _server_results(self, execution_id: str, wave_id: str) -> list[ServerResult]:
        """The servers of a wave, in id order (one Query, paginated)."""
        return [server_result(item) for item in self._query(execution_id, f"{SERVER_PREFIX}{wave_id}#")]

    def wave_servers(self, execution_id: str, wave_id: str) -> dict[str, ServerResult]:
        """The servers of a wave by source server id, in id order (one Query, paginated): criticality,
        launch status (NOT_STARTED until the server's job has ended), the wave attempt that wrote it and,
        when known, its job, recovery instance and reason (`ServerResult`)."""
        return {server.source_server_id: server for server in self._server_results(execution_id, wave_id)}

    def servers_by_wave(self, execution_id: str) -> dict[str, dict[str, ServerResult]]:
        """Every server of the execution, by wave id then source server id (in id order), as `wave_servers` gives
        one wave's: one Query (paginated) for the whole execution."""
        waves: dict[str, dict[str, ServerResult]] = {}
        for item in self._query(execution_id, SERVER_PREFIX):
            server = server_result(item)
            waves.setdefault(wave_of(str(item["sk"]), SERVER_PREFIX), {})[server.source_server_id] = server
        return waves

    def _servers_of(self, execution_id: str, wave_id: str, server_ids: Iterable[str]) -> list[ServerResult]:
        """The servers of a wave among `server_ids` (BatchGetItem; those not in the wave are left out)."""
        keys = [{"pk": exec_pk(execution_id), "sk": server_sk(wave_id, server_id)} for server_id in server_ids]
        return [server_result(item) for item in self._batch_get(keys)]

    def record_server_results(
        self,
        execution_id: str,
        wave_id: str,
        results: Mapping[str, ServerOutcome],
        *,
        attempt: int,
        job_id: str | None = None,
    ) -> None:
        """Write how servers of a wave ended (`{sourceServerId: ServerOutcome}`) to their items, with `attempt`
        and `job_id`; a recovery instance id or reason the outcome lacks is left as it was. Idempotent (the
        same results write the same items; items already so are not written again). The caller makes sure the
        write is due (a job not yet COMPLETED, a wave still READY). LedgerError names servers that are not in
        the wave (nothing is written then)."""
        if not results:
            return
        current = {server.source_server_id: server for server in self._servers_of(execution_id, wave_id, results)}
        unknown = sorted(set(results) - set(current))
        if unknown:
            raise LedgerError(f"{len(unknown)} server(s) not in wave {wave_id}: {', '.join(unknown[:5])}")
        written = [_outcome(current[sid], outcome, attempt=attempt, job_id=job_id) for sid, outcome in results.items()]
        self._batch_put([server_item(server) for server in written if server != current[server.source_server_id]])

    def reset_servers(self, execution_id: str, wave_id: str, server_ids: Iterable[str], *, attempt: int) -> None:
        """Servers a RetryWave launches again in wave attempt `attempt`: NOT_STARTED, without the earlier
        attempt's job, recovery instance and reason (the report never shows them as the new attempt's). How
        each had ended is appended to its history (`ServerAttempt`: the state it had at the end of attempt
        `attempt - 1`), from which `wave_detail` tells the previous attempts. Idempotent: a server written for
        `attempt` already is left alone. Runs before the retried wave is released, so no job of the wave
        writes meanwhile."""
        servers = self._servers_of(execution_id, wave_id, server_ids)
        self._batch_put([server_item(_reset(s, attempt=attempt)) for s in servers if s.attempt < attempt])
