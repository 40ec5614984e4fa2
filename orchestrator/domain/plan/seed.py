"""The seed project's JSON plan format (`{"Waves": [{"WaveId": ..., "Dependencies": [...]}]}`).

It is detected by a top-level `Waves` key and converted, key by key, to the native camelCase
document; the path -> line table is carried over so problems still point at the right line.
Keys the converter does not know are kept as they are, so they surface as unknown fields.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

from orchestrator.domain.plan.problems import join_path

Lines = dict[str, int]
_Path = tuple[str | int, ...]

_PLAN_KEYS = {
    "PlanId": "planId",
    "Name": "name",
    "Description": "description",
    "Version": "version",
    "Defaults": "defaults",
    "Waves": "waves",
}
_DEFAULTS_KEYS = {
    "OnFailure": "onFailure",
    "ScriptTimeoutSeconds": "scriptTimeoutSeconds",
    "MaxReplicationLagSeconds": "maxReplicationLagSeconds",
    "RequireApprovalInRecovery": "requireApprovalInRecovery",
}
_WAVE_KEYS = {
    "WaveId": "waveId",
    "Name": "name",
    "Servers": "servers",
    "SourceServerIDs": "servers",
    "SourceServerIds": "servers",
    "Dependencies": "dependsOn",
    "DependsOn": "dependsOn",
    "PreLaunchScripts": "preLaunch",
    "PreLaunch": "preLaunch",
    "PostLaunchScripts": "postLaunch",
    "PostLaunch": "postLaunch",
    "OnFailure": "onFailure",
    "SuccessThreshold": "successThreshold",
    "Approval": "approval",
    "HealthCheck": "healthCheck",
    "Rollback": "rollback",
}
_SERVER_KEYS = {
    "SourceServerID": "sourceServerID",
    "SourceServerId": "sourceServerID",
    "RecoverySnapshotID": "recoverySnapshotID",
    "RecoverySnapshotId": "recoverySnapshotID",
    "Criticality": "criticality",
}
_SCRIPT_KEYS = {
    "Type": "type",
    "DocumentName": "documentName",
    "Parameters": "parameters",
    "Targets": "targets",
    "TimeoutSeconds": "timeoutSeconds",
    "OnFailure": "onFailure",
    "Retries": "retries",
}
_TARGET_KEYS = {"InstanceIds": "instanceIds", "Tags": "tags", "Wave": "wave"}
_APPROVAL_KEYS = {"Required": "required", "TimeoutSeconds": "timeoutSeconds", "Approvers": "approvers"}


def is_seed_format(data: Any) -> bool:
    return isinstance(data, dict) and "Waves" in data and "waves" not in data


def plan_id_from_source(source: str | None) -> str:
    """A valid plan id from a file name (`plans/My Plan.json` -> `My-Plan`)."""
    stem = PurePath(source).stem if source else ""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")[:128]
    return cleaned or "seed-plan"


class _Converter:
    def __init__(self, lines: Lines | None) -> None:
        self.lines = lines or {}
        self.out_lines: Lines = {}

    def note(self, old: _Path, new: _Path) -> None:
        line = self.lines.get(join_path(*old))
        if line is not None:
            self.out_lines[join_path(*new)] = line

    def mapping(self, raw: Any, keys: dict[str, str], old: _Path, new: _Path) -> Any:
        """Rename the keys of one mapping; values are copied unchanged."""
        self.note(old, new)
        if not isinstance(raw, dict):
            return raw
        out: dict[str, Any] = {}
        for key, value in raw.items():
            name = keys.get(str(key), str(key))
            out[name] = value
            self.note((*old, key), (*new, name))
            self.copy_lines(value, (*old, key), (*new, name))
        return out

    def copy_lines(self, value: Any, old: _Path, new: _Path) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                self.note((*old, key), (*new, key))
                self.copy_lines(item, (*old, key), (*new, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.note((*old, index), (*new, index))
                self.copy_lines(item, (*old, index), (*new, index))

    def each(self, raw: Any, old: _Path, new: _Path, convert: Any) -> Any:
        if not isinstance(raw, list):
            return raw
        return [convert(item, (*old, index), (*new, index)) for index, item in enumerate(raw)]

    def script(self, raw: Any, old: _Path, new: _Path) -> Any:
        out = self.mapping(raw, _SCRIPT_KEYS, old, new)
        if isinstance(out, dict) and isinstance(out.get("targets"), dict):
            key = next(k for k in raw if _SCRIPT_KEYS.get(k, k) == "targets")
            out["targets"] = self.mapping(out["targets"], _TARGET_KEYS, (*old, key), (*new, "targets"))
        return out

    def server(self, raw: Any, old: _Path, new: _Path) -> Any:
        if isinstance(raw, str):
            self.note(old, new)
            return raw
        return self.mapping(raw, _SERVER_KEYS, old, new)

    def wave(self, raw: Any, old: _Path, new: _Path) -> Any:
        out = self.mapping(raw, _WAVE_KEYS, old, new)
        if not isinstance(out, dict):
            return out
        source_key = {_WAVE_KEYS.get(k, k): k for k in raw}
        for name, convert in (
            ("servers", self.server),
            ("preLaunch", self.script),
            ("postLaunch", self.script),
        ):
            if name in out:
                out[name] = self.each(out[name], (*old, source_key[name]), (*new, name), convert)
        if "healthCheck" in out:
            out["healthCheck"] = self.script(
                out["healthCheck"], (*old, source_key["healthCheck"]), (*new, "healthCheck")
            )
        if "approval" in out:
            out["approval"] = self.mapping(
                out["approval"], _APPROVAL_KEYS, (*old, source_key["approval"]), (*new, "approval")
            )
        return out


def convert_seed(data: dict[str, Any], lines: Lines | None, source: str | None) -> tuple[dict[str, Any], Lines]:
    """The native document for a seed-format plan, and its path -> line table."""
    converter = _Converter(lines)
    out: dict[str, Any] = converter.mapping(data, _PLAN_KEYS, (), ())
    if "planId" not in out:
        out = {"planId": plan_id_from_source(source), **out}
    if "defaults" in out:
        out["defaults"] = converter.mapping(out["defaults"], _DEFAULTS_KEYS, ("Defaults",), ("defaults",))
    out["waves"] = converter.each(out["waves"], ("Waves",), ("waves",), converter.wave)
    return out, converter.out_lines
