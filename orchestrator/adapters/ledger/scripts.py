"""The script items (SSM Run Command): one per script of a wave attempt (`SCRIPT#<wave>#<attempt>#<phase>#
<index>`), one index item per SSM command (`CMD#<command id>`, so an SSM status event finds its script) and
one item per instance a script ran on (`INVOCATION#...`, its per-instance result: a script may run on
thousands of instances, so neither the script item nor the wave's summary grows with them).

A script is claimed before anything is sent (so a duplicate event never sends twice), and every step of its
life is a conditional write on its `status` and `tryNumber` (1, then +1 per retry): SENDING -> RUNNING ->
RETRY_WAIT -> SENDING (try n+1) ... -> its end (`finish_script`). A write whose condition does not hold is a
REPLAY when the script is already as that write would have left it, else REJECTED (`_outcome`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from orchestrator.adapters.ledger._base import LedgerBase, Outcome, _dynamo, _plain, _Update
from orchestrator.adapters.ledger._keys import (
    COMMAND_SK,
    INVOCATION_PREFIX,
    SCRIPT_PREFIX,
    command_pk,
    exec_pk,
    invocation_prefix,
    wave_key,
)

_INVOCATION_KEYS = frozenset({"pk", "sk", "kind", "tryNumber", "expiresAt"})


class Scripts(LedgerBase):
    def get_script(self, execution_id: str, sk: str) -> dict[str, Any] | None:
        return self._get({"pk": exec_pk(execution_id), "sk": sk})

    def _outcome(
        self, execution_id: str, sk: str, replayed: Callable[[dict[str, Any]], bool]
    ) -> tuple[Outcome, dict[str, Any] | None]:
        """After a script write whose condition did not hold: REPLAY when the script, read again, is as that
        write would have left it (`replayed`), else REJECTED; with the script as it is (None if there is none)."""
        existing = self.get_script(execution_id, sk)
        return (Outcome.REPLAY if existing and replayed(existing) else Outcome.REJECTED), existing

    def list_scripts(self, execution_id: str, wave_id: str, wave_attempt: int | None = None) -> list[dict[str, Any]]:
        """The script items of a wave (of one wave attempt), each ended one with its `instances` (the
        per-instance results, from their own items: a script may run on thousands of instances)."""
        suffix = f"{wave_id}#" + (f"{wave_attempt:03d}#" if wave_attempt is not None else "")
        scripts = self._query(execution_id, f"{SCRIPT_PREFIX}{suffix}")
        if any(item.get("instanceCount") for item in scripts):
            results = self._invocations(execution_id, f"{INVOCATION_PREFIX}{suffix}")
            for item in scripts:
                if "instanceCount" in item:
                    item["instances"] = results.get(invocation_prefix(str(item["sk"])), [])
        return scripts

    def _invocations(self, execution_id: str, prefix: str) -> dict[str, list[dict[str, Any]]]:
        """Per-instance script results under `prefix`, by their script's `invocation_prefix`, in instance order."""
        found: dict[str, list[dict[str, Any]]] = {}
        for item in self._query(execution_id, prefix):
            sk = str(item["sk"])
            found.setdefault(sk[: sk.rindex("#") + 1], []).append(
                {name: value for name, value in item.items() if name not in _INVOCATION_KEYS}
            )
        return found

    def command_index(self, command_id: str) -> dict[str, Any] | None:
        return self._get({"pk": command_pk(command_id), "sk": COMMAND_SK})

    def claim_script(
        self, execution_id: str, sk: str, *, key: str, record: Mapping[str, Any]
    ) -> tuple[Outcome, dict[str, Any] | None]:
        """Create the script item (status SENDING, try 1) unless it exists. Returns WON, REPLAY (the
        same key claimed it: the caller redoes what follows) or REJECTED, with the existing item."""
        item = {
            "pk": exec_pk(execution_id),
            "sk": sk,
            "kind": "SCRIPT",
            **_dynamo(record),
            "status": "SENDING",
            "tryNumber": 1,
            "sendKey": key,
            "claimedAt": self.now(),
            "commandIds": [],
            "history": [],
        }
        if self._write(self._table.put_item, Item=item, ConditionExpression="attribute_not_exists(pk)").ok:
            return Outcome.WON, _plain(item)
        return self._outcome(execution_id, sk, lambda s: s.get("sendKey") == key and int(s.get("tryNumber", 0)) == 1)

    def claim_retry(
        self, execution_id: str, sk: str, *, try_number: int, key: str
    ) -> tuple[Outcome, dict[str, Any] | None]:
        """RETRY_WAIT (try n-1) -> SENDING (try n), once."""
        written = self._write(
            self._table.update_item,
            Key={"pk": exec_pk(execution_id), "sk": sk},
            UpdateExpression="SET #s = :sending, tryNumber = :n, sendKey = :k, claimedAt = :now, "
            "commandIds = :empty, expected = :zero, doneCount = :zero REMOVE doneInstances",
            ConditionExpression="#s = :wait AND tryNumber = :previous",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":sending": "SENDING",
                ":wait": "RETRY_WAIT",
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
            return Outcome.WON, written.item
        return self._outcome(
            execution_id, sk, lambda s: s.get("sendKey") == key and int(s.get("tryNumber", 0)) == try_number
        )

    def rekey_send(
        self,
        execution_id: str,
        sk: str,
        *,
        try_number: int,
        from_key: str,
        to_key: str,
        sets: Mapping[str, Any] | None = None,
    ) -> tuple[Outcome, dict[str, Any] | None]:
        """Hand a try that is still SENDING from the holder of `from_key` to `to_key` (a resend deferred to a
        scheduler tick, then that tick's claim), once. REPLAY when the item is already held by `to_key`."""
        update = _Update(sets={"sendKey": to_key, **_dynamo(dict(sets or {}))})
        status, send_key, try_name = update.name("status"), update.name("sendKey"), update.name("tryNumber")
        condition = (
            f"{status} = {update.value('SENDING')} AND {send_key} = {update.value(from_key)} AND "
            f"{try_name} = {update.value(try_number)}"
        )
        written = self._update({"pk": exec_pk(execution_id), "sk": sk}, update, condition, returns="ALL_NEW")
        if written.ok:
            return Outcome.WON, written.item
        return self._outcome(
            execution_id,
            sk,
            lambda s: (
                s.get("status") == "SENDING" and s.get("sendKey") == to_key and int(s.get("tryNumber", 0)) == try_number
            ),
        )

    def record_sent(
        self,
        execution_id: str,
        sk: str,
        *,
        try_number: int,
        key: str,
        command_ids: list[str],
        expected: int,
        sets: Mapping[str, Any],
        index: Mapping[str, Any],
    ) -> bool:
        """SENDING -> RUNNING with the command ids (and an index item per command, so an SSM status
        event finds its script). Returns False when the send was already recorded or superseded."""
        expires = self._expires_at()
        with self._table.batch_writer() as batch:
            for command_id in command_ids:
                batch.put_item(
                    Item={
                        "pk": command_pk(command_id),
                        "sk": COMMAND_SK,
                        "kind": "COMMAND",
                        "executionId": execution_id,
                        "scriptSk": sk,
                        "tryNumber": try_number,
                        "expected": expected,
                        "expiresAt": expires,
                        **index,
                    }
                )
        update = _Update(
            sets={
                "status": "RUNNING",
                "commandIds": command_ids,
                "expected": expected,
                "doneCount": 0,
                "sentAt": self.now(),
                **_dynamo(sets),
            }
        )
        status, send_key, try_name = update.name("status"), update.name("sendKey"), update.name("tryNumber")
        condition = (
            f"{status} = {update.value('SENDING')} AND {send_key} = {update.value(key)} AND "
            f"{try_name} = {update.value(try_number)}"
        )
        return self._update({"pk": exec_pk(execution_id), "sk": sk}, update, condition).ok

    def record_invocation_done(self, execution_id: str, sk: str, *, try_number: int, instance_id: str) -> int | None:
        """Count one finished invocation of the running try once. Returns the count of finished
        invocations, or None when it was already counted or the try is no longer running."""
        written = self._write(
            self._table.update_item,
            Key={"pk": exec_pk(execution_id), "sk": sk},
            UpdateExpression="ADD doneCount :one, doneInstances :set",
            ConditionExpression="#s = :running AND tryNumber = :n AND NOT contains(doneInstances, :iid)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":one": 1,
                ":set": {instance_id},
                ":iid": instance_id,
                ":running": "RUNNING",
                ":n": try_number,
            },
            ReturnValues="UPDATED_NEW",
        )
        return int(written.item["doneCount"]) if written.ok else None

    def script_retry_wait(
        self,
        execution_id: str,
        sk: str,
        *,
        try_number: int,
        result: Mapping[str, Any],
        from_: Iterable[str] = ("RUNNING",),
    ) -> Outcome:
        """RUNNING (or SENDING, when SendCommand was refused) try n -> RETRY_WAIT, keeping the failed
        try's result in `history`."""
        froms = {f":from{i}": status for i, status in enumerate(from_)}
        written = self._write(
            self._table.update_item,
            Key={"pk": exec_pk(execution_id), "sk": sk},
            UpdateExpression="SET #s = :wait, history = list_append(if_not_exists(history, :empty), :r), "
            "lastResult = :result",
            ConditionExpression=f"#s IN ({', '.join(froms)}) AND tryNumber = :n",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":wait": "RETRY_WAIT",
                ":n": try_number,
                **froms,
                ":r": [_dynamo(result)],
                ":result": _dynamo(result),
                ":empty": [],
            },
        )
        if written.ok:
            return Outcome.WON
        return self._outcome(
            execution_id, sk, lambda s: s.get("status") == "RETRY_WAIT" and int(s.get("tryNumber", 0)) == try_number
        )[0]

    def finish_script(
        self,
        execution_id: str,
        wave_id: str,
        sk: str,
        *,
        try_number: int,
        from_: Iterable[str],
        status: str,
        sets: Mapping[str, Any],
        summary: Mapping[str, Any],
        warnings: list[str],
        key: str,
    ) -> Outcome:
        """End a script and append its summary (and warnings) to the wave, in one transaction, once.
        REPLAY when the same event (`key`) ended it already.

        The per-instance results (`instances` of `sets`, one a dict with `instanceId`) go to items of their
        own first, while the script is still in `from_` at `try_number` (a crash after them is redone by
        the redelivery); the script item and the wave's summary keep `instanceCount` instead (`list_scripts`
        and `wave_detail` give them back), so neither grows with the number of instances."""
        froms = list(from_)
        instances = list(sets.get("instances") or [])
        sets = {**{k: v for k, v in sets.items() if k != "instances"}, "instanceCount": len(instances)}
        summary = {**{k: v for k, v in summary.items() if k != "instances"}, "instanceCount": len(instances)}
        if instances:
            current = self.get_script(execution_id, sk) or {}
            if current.get("status") in froms and int(current.get("tryNumber", 0)) == try_number:
                prefix = invocation_prefix(sk)
                self._batch_put(
                    [
                        {
                            "pk": exec_pk(execution_id),
                            "sk": f"{prefix}{instance['instanceId']}",
                            "kind": "INVOCATION",
                            "tryNumber": try_number,
                            **instance,
                        }
                        for instance in instances
                    ]
                )
        update = _Update(sets={"status": status, "endedAt": self.now(), "doneKey": key, **_dynamo(sets)})
        condition = f"{update.one_of('status', froms)} AND {update.name('tryNumber')} = {update.value(try_number)}"
        summarised = {
            "Update": {
                "TableName": self.table_name,
                "Key": wave_key(execution_id, wave_id),
                "UpdateExpression": "SET scripts = list_append(if_not_exists(scripts, :empty), :s), "
                "warnings = list_append(if_not_exists(warnings, :empty), :w)",
                "ExpressionAttributeValues": {":s": [_dynamo(summary)], ":w": list(warnings), ":empty": []},
            }
        }
        if self._transact(self._update_request({"pk": exec_pk(execution_id), "sk": sk}, update, condition), summarised):
            return Outcome.WON
        return self._outcome(
            execution_id,
            sk,
            lambda s: (
                s.get("status") == status and int(s.get("tryNumber", 0)) == try_number and s.get("doneKey") == key
            ),
        )[0]
