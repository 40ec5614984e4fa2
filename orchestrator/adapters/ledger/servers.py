"""The server items (`SERVER#<wave>#<server>`): one per server of a wave, with its criticality, launch status
(NOT_STARTED until its job has ended), the wave attempt that wrote it and, when known, its job, recovery
instance and reason, and how it had ended each earlier attempt (`history`). Written in batches (BatchGetItem,
BatchWriteItem), and only while the wave's item says the write is due (a job's results while the job is not
COMPLETED on the wave: see `Waves.record_job_done`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from orchestrator.adapters.ledger._base import LedgerBase, LedgerError
from orchestrator.adapters.ledger._keys import SERVER_PREFIX, exec_pk, server_sk

ATTEMPT_RESULT = ("recoveryInstanceId", "jobId", "reason")  # what a server's launch in an attempt left on it
_SERVER_KEYS = frozenset({"pk", "sk", "kind", "waveId", "sourceServerId", "expiresAt", "history"})


def new_server_item(execution_id: str, wave_id: str, server_id: str, server: Mapping[str, Any]) -> dict[str, Any]:
    """A server's item as `create_execution` writes it (`server`: criticality, launchStatus)."""
    return {
        "pk": exec_pk(execution_id),
        "sk": server_sk(wave_id, server_id),
        "kind": "SERVER",
        "waveId": wave_id,
        "sourceServerId": server_id,
        "attempt": 1,
        "criticality": server.get("criticality"),
        "launchStatus": server.get("launchStatus", "NOT_STARTED"),
    }


def _server_view(item: Mapping[str, Any]) -> dict[str, Any]:
    """A server item as `wave_servers` gives it."""
    return {name: value for name, value in item.items() if name not in _SERVER_KEYS}


def _servers_at(items: list[dict[str, Any]], attempt: int) -> list[dict[str, Any]]:
    """How each server (of `items`, server items of one wave) had ended wave attempt `attempt`: the first
    state its history kept for that attempt or a later one (it was not launched again in between), else
    its current state."""
    servers = []
    for item in sorted(items, key=lambda i: str(i["sourceServerId"])):
        state = next((h for h in item.get("history", []) if int(h.get("attempt", 0)) >= attempt), item)
        servers.append(
            {
                "sourceServerId": item["sourceServerId"],
                "launchStatus": state.get("launchStatus", "NOT_STARTED"),
                **{name: state[name] for name in ATTEMPT_RESULT if state.get(name)},
            }
        )
    return servers


class Servers(LedgerBase):
    def wave_servers(self, execution_id: str, wave_id: str) -> dict[str, dict[str, Any]]:
        """The servers of a wave by source server id, in id order (one Query, paginated): `criticality`,
        `launchStatus` (NOT_STARTED until the server's job has ended), `attempt` (the wave attempt that
        wrote it) and, when known, `jobId`, `recoveryInstanceId` and `reason`."""
        return {
            str(item["sourceServerId"]): _server_view(item)
            for item in self._query(execution_id, f"{SERVER_PREFIX}{wave_id}#")
        }

    def record_server_results(
        self,
        execution_id: str,
        wave_id: str,
        results: Mapping[str, Mapping[str, Any]],
        *,
        attempt: int,
        job_id: str | None = None,
    ) -> None:
        """Write how servers of a wave ended (`{sourceServerId: {launchStatus, recoveryInstanceId, reason}}`)
        to their items, with `attempt` and `job_id`; a recovery instance id or reason the result lacks is
        left as it was. Idempotent (the same results write the same items; items already so are not
        written again). The caller makes sure the write is due (a job not yet COMPLETED, a wave still
        READY). LedgerError names servers that are not in the wave (nothing is written then)."""
        if not results:
            return
        keys = [{"pk": exec_pk(execution_id), "sk": server_sk(wave_id, server_id)} for server_id in results]
        current = {str(item["sourceServerId"]): item for item in self._batch_get(keys)}
        unknown = sorted(set(results) - set(current))
        if unknown:
            raise LedgerError(f"{len(unknown)} server(s) not in wave {wave_id}: {', '.join(unknown[:5])}")
        items = []
        for server_id, result in results.items():
            item = {**current[server_id], "launchStatus": result.get("launchStatus"), "attempt": attempt}
            if job_id is not None:
                item["jobId"] = job_id
            for name in ("recoveryInstanceId", "reason"):
                if result.get(name):
                    item[name] = result[name]
            if item != current[server_id]:
                items.append(item)
        self._batch_put(items)

    def reset_servers(self, execution_id: str, wave_id: str, server_ids: Iterable[str], *, attempt: int) -> None:
        """Servers a RetryWave launches again in wave attempt `attempt`: NOT_STARTED, without the earlier
        attempt's job, recovery instance and reason (the report never shows them as the new attempt's). How
        each had ended is appended to its `history` (`{attempt, launchStatus, jobId, recoveryInstanceId,
        reason}`: the state it had at the end of attempt `attempt - 1`), from which `wave_detail` tells the
        previous attempts. Idempotent: a server written for `attempt` already is left alone. Runs before the
        retried wave is released, so no job of the wave writes meanwhile."""
        keys = [{"pk": exec_pk(execution_id), "sk": server_sk(wave_id, server_id)} for server_id in server_ids]
        items = []
        for item in self._batch_get(keys):
            if int(item.get("attempt", 1)) >= attempt:
                continue
            ended = {
                "attempt": attempt - 1,
                "launchStatus": item.get("launchStatus", "NOT_STARTED"),
                **{name: item[name] for name in ATTEMPT_RESULT if item.get(name)},
            }
            for name in ATTEMPT_RESULT:
                item.pop(name, None)
            items.append(
                {
                    **item,
                    "launchStatus": "NOT_STARTED",
                    "attempt": attempt,
                    "history": [*item.get("history", []), ended],
                }
            )
        self._batch_put(items)
