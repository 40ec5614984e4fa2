"""Launch settings in the ledger: the hold on a source server (`SERVERHOLD#<id>`, one execution at a time) and
what an execution applied to each server (`LSETTINGS#<id>` under the execution), with the values to restore.

The hold is a conditional put: made when no execution holds the server, or kept by the one that does; taken
over from a finished execution only with a write conditioned on that execution still holding it; deleted by
its holder when the server's settings are restored. The applied record is written before anything changes
(APPLYING, with the previous values), so a crash at any point finds what to restore. A record of an earlier
launch of the same execution that was never restored keeps its previous values (they are the server's own,
not ours) when a later launch takes it over.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from orchestrator.adapters.ledger._base import LedgerBase, LedgerError, _Update
from orchestrator.adapters.ledger._keys import SETTINGS_PREFIX, execution_id_of, hold_key, settings_key
from orchestrator.adapters.ledger.records import _INT, _MAP, _SAME, _attributes, _Convert, _extra, _fields
from orchestrator.domain.records.launch_settings import AppliedSettings, SettingsHold, SettingsStatus

_HOLD: dict[str, tuple[str, _Convert]] = {
    "source_server_id": ("sourceServerId", _SAME),
    "execution_id": ("executionId", _SAME),
    "wave_id": ("waveId", _SAME),
    "launch_key": ("launchKey", _SAME),
    "held_at": ("heldAt", _SAME),
}
_APPLIED: dict[str, tuple[str, _Convert]] = {
    "source_server_id": ("sourceServerId", _SAME),
    "wave_id": ("waveId", _SAME),
    "launch_key": ("launchKey", _SAME),
    "status": ("status", (SettingsStatus, str)),
    "applied": ("applied", _MAP),
    "origins": ("origins", _MAP),
    "previous_configuration": ("previousConfiguration", _MAP),
    "template_id": ("templateId", _SAME),
    "previous_version": ("previousVersion", _INT),
    "version": ("version", _INT),
    "begun_at": ("begunAt", _SAME),
    "applied_at": ("appliedAt", _SAME),
    "restored_at": ("restoredAt", _SAME),
    "recovery_instance_id": ("recoveryInstanceId", _SAME),
    "subnet_id": ("subnetId", _SAME),
    "private_ip": ("privateIp", _SAME),
}
_KEYS = ("pk", "sk", "kind")


def hold_record(item: Mapping[str, Any]) -> SettingsHold:
    try:
        return SettingsHold(**_fields(item, _HOLD), extra=_extra(item, _HOLD, own=_KEYS))
    except (KeyError, TypeError, ValueError) as exc:
        raise LedgerError(f"not a settings hold: {exc} ({item.get('pk')})") from exc


def hold_item(hold: SettingsHold) -> dict[str, Any]:
    return {**hold_key(hold.source_server_id), "kind": "SETTINGS_HOLD", **_attributes(hold, _HOLD), **hold.extra}


def applied_record(item: Mapping[str, Any]) -> AppliedSettings:
    """An applied-settings item as its record; LedgerError when it lacks what every one has."""
    try:
        return AppliedSettings(
            execution_id=execution_id_of(item), **_fields(item, _APPLIED), extra=_extra(item, _APPLIED, own=_KEYS)
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LedgerError(f"not applied launch settings: {exc} ({item.get('pk')} {item.get('sk')})") from exc


def applied_item(record: AppliedSettings) -> dict[str, Any]:
    return {
        **settings_key(record.execution_id, record.source_server_id),
        "kind": "LAUNCH_SETTINGS",
        **_attributes(record, _APPLIED),
        **record.extra,
    }


class LaunchSettingsItems(LedgerBase):
    # ---- the hold ------------------------------------------------------------------------------------

    def hold_server(self, hold: SettingsHold) -> SettingsHold | None:
        """Hold `hold.source_server_id` for `hold.execution_id` (kept if that execution holds it already).
        None when the execution holds it now; else the hold of the execution that does."""
        stamped = replace(hold, held_at=hold.held_at or self.now())
        written = self._write(
            self._table.put_item,
            Item=hold_item(stamped),
            ConditionExpression="attribute_not_exists(pk) OR executionId = :me",
            ExpressionAttributeValues={":me": hold.execution_id},
        )
        if written.ok:
            return None
        current = self._get(hold_key(hold.source_server_id))
        if current is None:  # released meanwhile: try once more
            return self.hold_server(hold)
        return hold_record(current)

    def take_over_hold(self, hold: SettingsHold, *, from_execution: str) -> bool:
        """Hold the server for `hold.execution_id` in place of `from_execution` (a finished execution), only
        while `from_execution` still holds it."""
        written = self._write(
            self._table.put_item,
            Item=hold_item(replace(hold, held_at=hold.held_at or self.now())),
            ConditionExpression="executionId = :old",
            ExpressionAttributeValues={":old": from_execution},
        )
        return written.ok

    def release_hold(self, source_server_id: str, execution_id: str) -> bool:
        """Delete the server's hold if `execution_id` holds it (False when it does not: nothing deleted)."""
        written = self._write(
            self._table.delete_item,
            Key=hold_key(source_server_id),
            ConditionExpression="executionId = :me",
            ExpressionAttributeValues={":me": execution_id},
        )
        return written.ok

    def server_hold(self, source_server_id: str) -> SettingsHold | None:
        item = self._get(hold_key(source_server_id))
        return hold_record(item) if item else None

    # ---- what was applied ----------------------------------------------------------------------------

    def settings_record(self, execution_id: str, source_server_id: str) -> AppliedSettings | None:
        item = self._get(settings_key(execution_id, source_server_id))
        return applied_record(item) if item else None

    def settings_records(self, execution_id: str) -> list[AppliedSettings]:
        """Every server's applied settings of the execution, by source server id."""
        return [applied_record(item) for item in self._query(execution_id, SETTINGS_PREFIX)]

    def begin_settings(self, record: AppliedSettings) -> AppliedSettings:
        """Record, before anything changes, the settings `record.launch_key` applies and the previous values
        (`record`, status APPLYING). A record of the same launch is kept as it is (a redelivery, a crash: its
        previous values are the server's own). A record of another launch of the execution: RESTORED, it is
        replaced; not restored, it keeps its previous values and becomes this launch's. Returns the record
        as the ledger has it now."""
        key = settings_key(record.execution_id, record.source_server_id)
        fresh = replace(record, status=SettingsStatus.APPLYING, begun_at=record.begun_at or self.now())
        written = self._write(
            self._table.put_item,
            Item=applied_item(fresh),
            ConditionExpression="attribute_not_exists(pk) OR (#s = :restored AND launchKey <> :key)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":restored": str(SettingsStatus.RESTORED), ":key": record.launch_key},
        )
        if written.ok:
            return fresh
        existing = self._get(key)
        if existing is None:
            raise LedgerError(f"applied launch settings of {record.source_server_id} vanished while begun")
        current = applied_record(existing)
        if current.launch_key == record.launch_key or current.restored:
            return current
        update = _Update(
            sets={
                "launchKey": record.launch_key,
                "waveId": record.wave_id,
                "status": str(SettingsStatus.APPLYING),
                "applied": dict(record.applied),
                "origins": dict(record.origins),
                "begunAt": self.now(),
            },
            removes=["version"],
        )
        self._update(key, update, f"{update.name('launchKey')} = {update.value(current.launch_key)}")
        return applied_record(self._get(key) or existing)

    def settings_applied(self, execution_id: str, source_server_id: str, *, launch_key: str, version: int) -> bool:
        """APPLYING -> APPLIED with our template version (only for `launch_key`)."""
        return self._settings_status(
            execution_id,
            source_server_id,
            launch_key,
            {"status": str(SettingsStatus.APPLIED), "version": version, "appliedAt": self.now()},
        )

    def settings_version(self, execution_id: str, source_server_id: str, *, launch_key: str, version: int) -> bool:
        """Note our template version once it exists (before it is made the default)."""
        return self._settings_status(execution_id, source_server_id, launch_key, {"version": version})

    def settings_restored(self, execution_id: str, source_server_id: str, *, launch_key: str) -> bool:
        """-> RESTORED (only for `launch_key`)."""
        return self._settings_status(
            execution_id,
            source_server_id,
            launch_key,
            {"status": str(SettingsStatus.RESTORED), "restoredAt": self.now()},
        )

    def settings_placed(
        self, execution_id: str, source_server_id: str, *, recovery_instance_id: str, subnet_id: str, private_ip: str
    ) -> None:
        """Where the server's recovery instance actually is (EC2's DescribeInstances)."""
        update = _Update(
            sets={"recoveryInstanceId": recovery_instance_id, "subnetId": subnet_id, "privateIp": private_ip}
        )
        self._update(settings_key(execution_id, source_server_id), update, "attribute_exists(pk)")

    def _settings_status(self, execution_id: str, source_server_id: str, launch_key: str, sets: dict[str, Any]) -> bool:
        update = _Update(sets=sets)
        condition = f"{update.name('launchKey')} = {update.value(launch_key)}"
        return self._update(settings_key(execution_id, source_server_id), update, condition).ok
