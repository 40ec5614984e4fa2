"""The script items (SSM Run Command): one per script of a wave attempt (`SCRIPT#<wave>#<attempt>#<phase>#
<index>`), one index item per SSM command (`CMD#<command id>`, so an SSM status event finds its script) and
one item per instance a script ran on (`INVOCATION#...`, its per-instance result: a script may run on
thousands of instances, so neither the script item nor the wave's summary grows with them).

A script is claimed before anything is sent (so a duplicate event never sends twice), and every step of its
life is a conditional write on its `status` and `tryNumber` (1, then +1 per retry): SENDING -> RUNNING ->
RETRY_WAIT -> SENDING (try n+1) ... -> its end (`finish_script`). A write whose condition does not hold is a
REPLAY when the script is already as that write would have left it, else REJECTED (`_outcome`).

The methods take and return the records of `orchestrator.domain.records.scripts`; the mapping of an item to
its record and back is here (`script_record` / `script_item`, `command_record` / `command_item`,
`invocation_record` / `invocation_map`, `try_record` / `try_map`): `x_item(x_record(item)) == item` for an
item as the ledger reads it (`_base._plain`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from orchestrator.adapters.ledger._base import LedgerBase, LedgerError, _dynamo, _plain, _Update
from orchestrator.adapters.ledger._keys import (
    COMMAND_SK,
    INVOCATION_PREFIX,
    SCRIPT_PREFIX,
    Key,
    command_pk,
    exec_pk,
    invocation_prefix,
    script_sk,
    wave_key,
)
from orchestrator.adapters.ledger.records import _BOOL, _INT, _LIST, _MAP, _SAME, _attributes, _Convert, _extra, _fields
from orchestrator.domain.outcome import Outcome
from orchestrator.domain.plan import ScriptOnFailure
from orchestrator.domain.records.scripts import (
    CommandIndexEntry,
    InvocationResult,
    ScriptId,
    ScriptPhase,
    ScriptRun,
    ScriptSpec,
    ScriptStatus,
    ScriptTry,
    SendDeferral,
)

#: Results kept per script after their try ended (`record_late_result`): a bound on what a flood of records can add.
MAX_LATE_RESULTS = 10
_INVOCATION_KEYS = frozenset({"pk", "sk", "kind", "tryNumber", "expiresAt"})
_KEYS = ("pk", "sk", "kind")  # derived from the ids (_keys.py)

# ---- items <-> records ---------------------------------------------------------------------------------

# field -> (attribute, conversion); a field of None is an absent attribute
_INVOCATION: dict[str, tuple[str, _Convert]] = {
    "instance_id": ("instanceId", _SAME),
    "status": ("status", _SAME),
    "output": ("output", _SAME),
    "duration_seconds": ("durationSeconds", _SAME),
}
_TRY: dict[str, tuple[str, _Convert]] = {  # the order a try's result has always been written in
    "try_number": ("tryNumber", _INT),
    "status": ("status", (ScriptStatus, str)),
    "command_ids": ("commandIds", _LIST),
    "instances_failed": ("instancesFailed", _INT),
    "ended_at": ("endedAt", _SAME),
    "reason": ("reason", _SAME),
}


def invocation_record(item: Mapping[str, Any]) -> InvocationResult:
    """A per-instance result (an `INVOCATION#` item without its keys, as `list_scripts` gives it)."""
    return InvocationResult(**_fields(item, _INVOCATION), extra=_extra(item, _INVOCATION))


def invocation_map(result: InvocationResult) -> dict[str, Any]:
    return {**_attributes(result, _INVOCATION), **result.extra}


def try_record(item: Mapping[str, Any]) -> ScriptTry:
    """A failed try's result (one of a script's `history`, or its `lastResult`)."""
    return ScriptTry(**_fields(item, _TRY), extra=_extra(item, _TRY))


def try_map(result: ScriptTry) -> dict[str, Any]:
    return {**_attributes(result, _TRY), **result.extra}


_TRIES: _Convert = (lambda value: tuple(try_record(t) for t in value), lambda value: [try_map(t) for t in value])
_INSTANCES: _Convert = (
    lambda value: tuple(invocation_record(i) for i in value),
    lambda value: [invocation_map(i) for i in value],
)
_RUN: dict[str, tuple[str, _Convert]] = {
    "execution_id": ("executionId", _SAME),
    "plan_id": ("planId", _SAME),
    "wave_id": ("waveId", _SAME),
    "wave_attempt": ("waveAttempt", _INT),
    "phase": ("phase", _SAME),
    "index": ("index", _INT),
    "document_name": ("documentName", _SAME),
    "on_failure": ("onFailure", (ScriptOnFailure, str)),
    "health_check": ("healthCheck", _BOOL),
    "retries": ("retries", _INT),
    "timeout_seconds": ("timeoutSeconds", _INT),
    "started_at": ("startedAt", _SAME),
    "status": ("status", (ScriptStatus, str)),
    "try_number": ("tryNumber", _INT),
    "send_key": ("sendKey", _SAME),
    "claimed_at": ("claimedAt", _SAME),
    "command_ids": ("commandIds", _LIST),
    "expected": ("expected", _INT),
    "target_count": ("targetCount", _INT),
    "tags": ("tags", _MAP),
    "parameter_values": ("parameterValues", _MAP),
    "sent_at": ("sentAt", _SAME),
    "deadline": ("deadline", _SAME),
    "done_count": ("doneCount", _INT),
    "done_instances": ("doneInstances", _LIST),
    "resends": ("resends", _INT),
    "resend_try": ("resendTry", _INT),
    "resend_at": ("resendAt", _SAME),
    "deferred_by": ("deferredBy", _SAME),
    "send_error": ("sendError", _SAME),
    "history": ("history", _TRIES),
    "last_result": ("lastResult", (try_record, try_map)),
    "ended_at": ("endedAt", _SAME),
    "done_key": ("doneKey", _SAME),
    "reason": ("reason", _SAME),
    "warnings": ("warnings", _LIST),
    "instance_count": ("instanceCount", _INT),
    "instances": ("instances", _INSTANCES),
    "expires_at": ("expiresAt", _INT),
}
_COMMAND: dict[str, tuple[str, _Convert]] = {
    "try_number": ("tryNumber", _INT),
    "expected": ("expected", _INT),
    "expires_at": ("expiresAt", _INT),
}
_COMMAND_OWN = {*_KEYS, "executionId", "scriptSk", "waveId", "phase", "index", "waveAttempt"}


def _script_key(script: ScriptId) -> Key:
    return {"pk": exec_pk(script.execution_id), "sk": _sk(script)}


def _sk(script: ScriptId) -> str:
    return script_sk(script.wave_id, script.wave_attempt, script.phase, script.index)


def _script_id(execution_id: str, sk: str) -> ScriptId:
    """The script whose sort key is `sk` (`script_sk`: the wave id may hold `#`, the other three parts not).
    ValueError when it is not a script's."""
    wave_id, attempt, phase, index = sk.removeprefix(SCRIPT_PREFIX).rsplit("#", 3)
    if not sk.startswith(SCRIPT_PREFIX) or phase not in ("PRE_LAUNCH", "POST_LAUNCH"):
        raise ValueError(f"not a script's sort key: {sk}")
    known: ScriptPhase = "PRE_LAUNCH" if phase == "PRE_LAUNCH" else "POST_LAUNCH"
    return ScriptId(
        execution_id=execution_id, wave_id=wave_id, wave_attempt=int(attempt), phase=known, index=int(index)
    )


def script_record(item: Mapping[str, Any]) -> ScriptRun:
    """A script item (`SCRIPT#...`, with its `instances` when `list_scripts` added them) as its record.
    LedgerError when it lacks an attribute every script item has."""
    try:
        return ScriptRun(**_fields(item, _RUN), extra=_extra(item, _RUN, own=_KEYS))
    except (KeyError, TypeError, ValueError) as exc:
        raise LedgerError(f"not a script item: {exc} ({item.get('pk')} {item.get('sk')})") from exc


def script_item(run: ScriptRun) -> dict[str, Any]:
    """The script item of `run`, as the ledger reads it."""
    return {**_script_key(run.id), "kind": "SCRIPT", **_attributes(run, _RUN), **run.extra}


def command_record(item: Mapping[str, Any]) -> CommandIndexEntry:
    """A command's index item (`CMD#<command id>`) as its record. LedgerError when it is not one."""
    try:
        return CommandIndexEntry(
            command_id=str(item["pk"]).removeprefix(command_pk("")),
            script=_script_id(str(item["executionId"]), str(item["scriptSk"])),
            **_fields(item, _COMMAND),
            extra=_extra(item, _COMMAND, own=_COMMAND_OWN),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LedgerError(f"not a command index item: {exc} ({item.get('pk')} {item.get('sk')})") from exc


def command_item(entry: CommandIndexEntry) -> dict[str, Any]:
    """The index item of `entry`, as the ledger writes it."""
    script = entry.script
    head = _attributes(entry, _COMMAND)
    expires = {"expiresAt": head.pop("expiresAt")} if "expiresAt" in head else {}
    return {
        "pk": command_pk(entry.command_id),
        "sk": COMMAND_SK,
        "kind": "COMMAND",
        "executionId": script.execution_id,
        "scriptSk": _sk(script),
        **head,
        **expires,
        "waveId": script.wave_id,
        "phase": script.phase,
        "index": script.index,
        "waveAttempt": script.wave_attempt,
        **entry.extra,
    }


def _summary(
    run: ScriptRun, *, status: ScriptStatus, try_number: int, ended_at: str, instance_count: int, reason: str | None
) -> dict[str, Any]:
    """A script's summary, as the wave's `scripts` holds it (its instances are in their own items)."""
    return {
        "phase": run.phase,
        "index": run.index,
        "documentName": run.document_name,
        "status": status.value,
        "onFailure": (run.on_failure or ScriptOnFailure.FAIL).value,
        "attempts": try_number,
        "startedAt": run.started_at,
        "endedAt": ended_at,
        "waveAttempt": run.wave_attempt,
        "commandIds": list(run.command_ids),
        **({"healthCheck": True} if run.health_check else {}),
        **({"parameterValues": dict(run.parameter_values)} if run.parameter_values else {}),
        **({"reason": reason} if reason else {}),
        "instanceCount": instance_count,
    }


class Scripts(LedgerBase):
    def get_script(self, script: ScriptId) -> ScriptRun | None:
        item = self._get(_script_key(script))
        return script_record(item) if item is not None else None

    def _outcome(self, script: ScriptId, replayed: Callable[[ScriptRun], bool]) -> tuple[Outcome, ScriptRun | None]:
        """After a script write whose condition did not hold: REPLAY when the script, read again, is as that
        write would have left it (`replayed`), else REJECTED; with the script as it is (None if there is none)."""
        existing = self.get_script(script)
        return (Outcome.REPLAY if existing and replayed(existing) else Outcome.REJECTED), existing

    def list_scripts(self, execution_id: str, wave_id: str, wave_attempt: int | None = None) -> list[ScriptRun]:
        """The scripts of a wave (of one wave attempt), in sort key order, each ended one with its `instances`
        (the per-instance results, from their own items: a script may run on thousands of instances)."""
        suffix = f"{wave_id}#" + (f"{wave_attempt:03d}#" if wave_attempt is not None else "")
        scripts = self._query(execution_id, f"{SCRIPT_PREFIX}{suffix}")
        if any(item.get("instanceCount") for item in scripts):
            results = self._invocations(execution_id, f"{INVOCATION_PREFIX}{suffix}")
            for item in scripts:
                if "instanceCount" in item:
                    item["instances"] = results.get(invocation_prefix(str(item["sk"])), [])
        return [script_record(item) for item in scripts]

    def _invocations(self, execution_id: str, prefix: str) -> dict[str, list[dict[str, Any]]]:
        """Per-instance script results under `prefix`, by their script's `invocation_prefix`, in instance order."""
        found: dict[str, list[dict[str, Any]]] = {}
        for item in self._query(execution_id, prefix):
            sk = str(item["sk"])
            found.setdefault(sk[: sk.rindex("#") + 1], []).append(
                {name: value for name, value in item.items() if name not in _INVOCATION_KEYS}
            )
        return found

    def command_index(self, command_id: str) -> CommandIndexEntry | None:
        item = self._get({"pk": command_pk(command_id), "sk": COMMAND_SK})
        return command_record(item) if item is not None else None

    def index_command(self, script: ScriptId, *, try_number: int, command_id: str, expected: int) -> None:
        """Write the index item of `command_id` before it is sent (`record_sent` writes the same item again)."""
        entry = CommandIndexEntry(
            command_id=command_id,
            script=script,
            try_number=try_number,
            expected=expected,
            expires_at=self._expires_at(),
        )
        self._table.put_item(Item=command_item(entry))

    def claim_script(self, spec: ScriptSpec, *, key: str) -> tuple[Outcome, ScriptRun | None]:
        """Create the script item (status SENDING, try 1, started and claimed now) unless it exists. Returns
        WON, REPLAY (the same key claimed it: the caller redoes what follows) or REJECTED, with the script."""
        script, now = spec.id, self.now()
        item: dict[str, Any] = {
            **_script_key(script),
            "kind": "SCRIPT",
            "executionId": script.execution_id,
            "planId": spec.plan_id,
            "waveId": script.wave_id,
            "waveAttempt": script.wave_attempt,
            "phase": script.phase,
            "index": script.index,
            "documentName": spec.document_name,
            "onFailure": spec.on_failure.value,
            "healthCheck": spec.health_check,
            "retries": spec.retries,
            "timeoutSeconds": spec.timeout_seconds,
            "startedAt": now,
            "status": ScriptStatus.SENDING.value,
            "tryNumber": 1,
            "sendKey": key,
            "claimedAt": now,
            "commandIds": [],
            "history": [],
        }
        if self._write(self._table.put_item, Item=item, ConditionExpression="attribute_not_exists(pk)").ok:
            return Outcome.WON, script_record(_plain(item))
        return self._outcome(script, lambda s: s.send_key == key and s.try_number == 1)

    def claim_retry(self, script: ScriptId, *, try_number: int, key: str) -> tuple[Outcome, ScriptRun | None]:
        """RETRY_WAIT (try n-1) -> SENDING (try n), once."""
        written = self._write(
            self._table.update_item,
            Key=_script_key(script),
            UpdateExpression="SET #s = :sending, tryNumber = :n, sendKey = :k, claimedAt = :now, "
            "commandIds = :empty, expected = :zero, doneCount = :zero REMOVE doneInstances",
            ConditionExpression="#s = :wait AND tryNumber = :previous",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":sending": ScriptStatus.SENDING.value,
                ":wait": ScriptStatus.RETRY_WAIT.value,
                ":n": try_number,
                ":previous": try_number - 1,
                ":k": key,
                ":now": self.now(),
                ":empty": [],
                ":zero": 0,
            },
            ReturnValues="ALL_NEW",
        )
        if written.ok:
            return Outcome.WON, script_record(written.item)
        return self._outcome(script, lambda s: s.send_key == key and s.try_number == try_number)

    def rekey_send(
        self,
        script: ScriptId,
        *,
        try_number: int,
        from_key: str,
        to_key: str,
        deferral: SendDeferral | None = None,
    ) -> tuple[Outcome, ScriptRun | None]:
        """Hand a try that is still SENDING from the holder of `from_key` to `to_key` (a resend deferred to a
        scheduler tick, with its `deferral`; then that tick's claim), once. REPLAY when the item is already
        held by `to_key`."""
        sets: dict[str, Any] = {"sendKey": to_key}
        if deferral is not None:
            sets |= {
                "resends": deferral.resend,
                "resendTry": try_number,
                "resendAt": deferral.resend_at,
                "deferredBy": deferral.deferred_by,
                "sendError": deferral.send_error,
            }
        update = _Update(sets=sets)
        status, send_key, try_name = update.name("status"), update.name("sendKey"), update.name("tryNumber")
        condition = (
            f"{status} = {update.value(ScriptStatus.SENDING.value)} AND {send_key} = {update.value(from_key)} AND "
            f"{try_name} = {update.value(try_number)}"
        )
        written = self._update(_script_key(script), update, condition, returns="ALL_NEW")
        if written.ok:
            return Outcome.WON, script_record(written.item)
        return self._outcome(
            script,
            lambda s: s.status is ScriptStatus.SENDING and s.send_key == to_key and s.try_number == try_number,
        )

    def record_sent(
        self,
        script: ScriptId,
        *,
        try_number: int,
        key: str,
        command_ids: Sequence[str],
        expected: int,
        deadline: datetime,
        tags: Mapping[str, str] | None = None,
        parameter_values: Mapping[str, str | list[str]] | None = None,
    ) -> bool:
        """SENDING -> RUNNING with the command ids, the invocations they target (`expected`), the try's
        `deadline`, the `tags` it targeted and the `parameter_values` its references resolved to (`{name: value}`,
        only the parameters that held references), and an index item per command, so an SSM status event finds its
        script. Returns False when the send was already recorded or superseded."""
        expires = self._expires_at()
        with self._table.batch_writer() as batch:
            for command_id in command_ids:
                entry = CommandIndexEntry(
                    command_id=command_id, script=script, try_number=try_number, expected=expected, expires_at=expires
                )
                batch.put_item(Item=command_item(entry))
        update = _Update(
            sets={
                "status": ScriptStatus.RUNNING.value,
                "commandIds": list(command_ids),
                "expected": expected,
                "doneCount": 0,
                "sentAt": self.now(),
                "deadline": deadline.isoformat(),
                "targetCount": expected,
                **({"tags": dict(tags)} if tags else {}),
                **({"parameterValues": dict(parameter_values)} if parameter_values else {}),
            }
        )
        status, send_key, try_name = update.name("status"), update.name("sendKey"), update.name("tryNumber")
        condition = (
            f"{status} = {update.value(ScriptStatus.SENDING.value)} AND {send_key} = {update.value(key)} AND "
            f"{try_name} = {update.value(try_number)}"
        )
        return self._update(_script_key(script), update, condition).ok

    def record_invocation_done(self, script: ScriptId, *, try_number: int, instance_id: str) -> int | None:
        """Count one finished invocation of the running try once. Returns the count of finished
        invocations, or None when it was already counted or the try is no longer running."""
        written = self._write(
            self._table.update_item,
            Key=_script_key(script),
            UpdateExpression="ADD doneCount :one, doneInstances :set",
            ConditionExpression="#s = :running AND tryNumber = :n AND NOT contains(doneInstances, :iid)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":one": 1,
                ":set": {instance_id},
                ":iid": instance_id,
                ":running": ScriptStatus.RUNNING.value,
                ":n": try_number,
            },
            ReturnValues="UPDATED_NEW",
        )
        return int(written.item["doneCount"]) if written.ok else None

    def record_late_result(self, script: ScriptId, result: InvocationResult) -> bool:
        """Keep a result that came after its try ended on the script item (`lateResults`, each once by its
        `instance_id`, at most MAX_LATE_RESULTS); nothing else changes. Returns whether it was kept now."""
        written = self._write(
            self._table.update_item,
            Key=_script_key(script),
            UpdateExpression="SET lateResults = list_append(if_not_exists(lateResults, :empty), :r) ADD lateIds :id",
            ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(lateIds) OR "
            "(NOT contains(lateIds, :rid) AND size(lateIds) < :max))",
            ExpressionAttributeValues={
                ":r": [_dynamo(invocation_map(result))],
                ":empty": [],
                ":id": {result.instance_id},
                ":rid": result.instance_id,
                ":max": MAX_LATE_RESULTS,
            },
        )
        return written.ok

    def script_retry_wait(
        self, script: ScriptId, *, result: ScriptTry, from_: Iterable[ScriptStatus] = (ScriptStatus.RUNNING,)
    ) -> Outcome:
        """RUNNING (or SENDING, when SendCommand was refused) try `result.try_number` -> RETRY_WAIT, keeping the
        failed try's result in `history` (and as `lastResult`)."""
        froms = {f":from{i}": status.value for i, status in enumerate(from_)}
        kept = _dynamo(try_map(result))
        written = self._write(
            self._table.update_item,
            Key=_script_key(script),
            UpdateExpression="SET #s = :wait, history = list_append(if_not_exists(history, :empty), :r), "
            "lastResult = :result",
            ConditionExpression=f"#s IN ({', '.join(froms)}) AND tryNumber = :n",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":wait": ScriptStatus.RETRY_WAIT.value,
                ":n": result.try_number,
                **froms,
                ":r": [kept],
                ":result": kept,
                ":empty": [],
            },
        )
        if written.ok:
            return Outcome.WON
        return self._outcome(
            script, lambda s: s.status is ScriptStatus.RETRY_WAIT and s.try_number == result.try_number
        )[0]

    def _put_results(
        self, script: ScriptId, instances: Sequence[InvocationResult], *, try_number: int, froms: list[str]
    ) -> None:
        """Write the per-instance results of a script in `froms` at `try_number` (else it has ended or moved
        on: nothing is written), one item each, in batches."""
        current = self.get_script(script)
        if current is None or current.status not in froms or current.try_number != try_number:
            return
        prefix = invocation_prefix(_sk(script))
        self._batch_put(
            [
                {
                    "pk": exec_pk(script.execution_id),
                    "sk": f"{prefix}{instance.instance_id}",
                    "kind": "INVOCATION",
                    "tryNumber": try_number,
                    **invocation_map(instance),
                }
                for instance in instances
            ]
        )

    def finish_script(
        self,
        run: ScriptRun,
        *,
        try_number: int,
        from_: Iterable[ScriptStatus],
        status: ScriptStatus,
        instances: Sequence[InvocationResult],
        reason: str | None,
        warnings: Sequence[str],
        key: str,
    ) -> Outcome:
        """End a script with its verdict (`status`, `reason`) and append its summary (and warnings) to the
        wave, in one transaction, once. REPLAY when the same event (`key`) ended it already.

        The per-instance results (`instances`) go to items of their own first, while the script is still in
        `from_` at `try_number` (a crash after them is redone by the redelivery); the script item and the
        wave's summary keep `instanceCount` instead (`list_scripts` and `wave_detail` give them back), so
        neither grows with the number of instances. The summary is what `run` says of the script (its
        phase, index, document, onFailure, start, wave attempt, commands, whether it is a health check)."""
        froms = [s.value for s in from_]
        script = run.id
        if instances:
            self._put_results(script, instances, try_number=try_number, froms=froms)
        now = self.now()
        update = _Update(
            sets={
                "status": status.value,
                "endedAt": now,
                "doneKey": key,
                "warnings": list(warnings),
                **({"reason": reason} if reason else {}),
                "instanceCount": len(instances),
            }
        )
        condition = f"{update.one_of('status', froms)} AND {update.name('tryNumber')} = {update.value(try_number)}"
        summary = _summary(
            run, status=status, try_number=try_number, ended_at=now, instance_count=len(instances), reason=reason
        )
        summarised = {
            "Update": {
                "TableName": self.table_name,
                "Key": wave_key(script.execution_id, script.wave_id),
                "UpdateExpression": "SET scripts = list_append(if_not_exists(scripts, :empty), :s), "
                "warnings = list_append(if_not_exists(warnings, :empty), :w)",
                "ExpressionAttributeValues": {":s": [_dynamo(summary)], ":w": list(warnings), ":empty": []},
            }
        }
        if self._transact(self._update_request(_script_key(script), update, condition), summarised):
            return Outcome.WON
        return self._outcome(script, lambda s: s.status is status and s.try_number == try_number and s.done_key == key)[
            0
        ]
