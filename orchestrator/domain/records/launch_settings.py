"""What the ledger holds about the launch settings a launch applied to a source server, and who holds the server.

    SettingsHold      one per source server across every execution: the execution that has applied (or is
                      applying) settings to it now (`Ledger.hold_server`); released when they are restored
    AppliedSettings   one per server of an execution (`Ledger.begin_settings`, `settings_records`): what was
                      applied, where each value came from, what was there before (to restore it), our launch
                      template version, and where the recovery instance actually landed

A server's settings go APPLYING (the previous values recorded, before any change) -> APPLIED (DRS's launch
configuration updated, our template version the default) -> RESTORED (the previous default version and
launch configuration back, the hold released). Times are ISO 8601 text; a field is None when its attribute
is absent; `extra` keeps the attributes a record does not name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class SettingsStatus(StrEnum):
    """Where applying a server's launch settings stands."""

    APPLYING = "APPLYING"  # the previous values are recorded; the changes may be under way
    APPLIED = "APPLIED"  # the launch configuration is updated and our template version is the default
    RESTORED = "RESTORED"  # the previous values are back (or nothing had been changed)


@dataclass(frozen=True, slots=True, kw_only=True)
class SettingsHold:
    """The execution that holds a source server's launch settings now (one at a time)."""

    source_server_id: str
    execution_id: str
    wave_id: str
    launch_key: str
    held_at: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class AppliedSettings:
    """The launch settings an execution applied to one source server (`launch_key`: the launch that applied
    them last). `applied`: the effective settings under their plan names (`subnetId`, `tags`, ...);
    `origins`: where each came from (`waves[1].launchSettings.drill.subnetId`); `previous_configuration`:
    the DRS launch configuration fields we change, as they were (UpdateLaunchConfiguration's arguments);
    `template_id`, `previous_version` (its default version before), `version` (ours, once made);
    `recovery_instance_id`, `subnet_id`, `private_ip`: where the recovery instance actually is (EC2's word)."""

    execution_id: str
    source_server_id: str
    wave_id: str
    launch_key: str
    status: SettingsStatus
    applied: Mapping[str, Any] = field(default_factory=dict)
    origins: Mapping[str, str] = field(default_factory=dict)
    previous_configuration: Mapping[str, Any] = field(default_factory=dict)
    template_id: str | None = None
    previous_version: int | None = None
    version: int | None = None
    begun_at: str | None = None
    applied_at: str | None = None
    restored_at: str | None = None
    recovery_instance_id: str | None = None
    subnet_id: str | None = None
    private_ip: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def restored(self) -> bool:
        return self.status is SettingsStatus.RESTORED
