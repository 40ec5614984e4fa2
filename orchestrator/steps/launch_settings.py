"""A plan's launch settings applied to each server just before its StartRecovery, and restored once its job has
ended, or whenever the launch does not happen after all.

Applying one server (`apply_launch_settings`, from `launch_wave.start_job` while its call holds the launch's
lease, after admission): hold the server (`SettingsHold`: one execution at a time), record the previous values
(GetLaunchConfiguration, the template's default version: APPLYING) before anything changes, then
UpdateLaunchConfiguration, CreateLaunchTemplateVersion from the previous default (NetworkInterfaces[0]:
SubnetId, Groups, PrivateIpAddress; InstanceType; TagSpecifications) and ModifyLaunchTemplate DefaultVersion:
APPLIED. Idempotent: a redelivery, a retry or a crash at any point finds the record; our version is created
with a ClientToken (EC2 returns the same version for the same token) and, before it is created, looked for by
its VersionDescription (which names the launch key), so a crash between the version and StartRecovery never
makes a second one.

Restoring one server (`restore_launch_settings`): the template's default back to the previous version (only if
ours is still the default: a default someone else set meanwhile is left alone, and logged), the launch
configuration fields we changed back to their previous values, RESTORED, the hold released. Idempotent.
Called when the wave's jobs have ended (`after_launch`, from `post_launch.close_launch`: the recovery
instances' actual subnet and private IP are recorded first, DescribeInstances), when a chunk fails or is not
started (`launch_wave.chunk_failed`), and when a chunk is dropped (its wave moved on while it waited).

Our template versions are kept, not deleted: EC2 allows 10,000 versions per launch template (a daily drill
of a server for 27 years), DRS keeps the versions its own edits make, a kept version is the record of exactly
what the recovery instance was launched from (the report names it), and deleting would need
ec2:DeleteLaunchTemplateVersions on DRS's templates as well.

A server another running execution holds is not touched: the chunk fails before any change, naming the server
and the holder. A hold of a finished execution (one that ended without restoring: cancelled while its job
ran) is stale: its settings are restored from its record first, then the hold is taken over.

A plan without launch settings costs nothing here: every entry point returns before any call when the frozen
plan sets none (`has_launch_settings`, on the plan already parsed and cached).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from events.models import Mode
from orchestrator.adapters.drs import DrsPermanentError
from orchestrator.domain.execution import frozen_plan
from orchestrator.domain.plan import Plan
from orchestrator.domain.plan.launch import EffectiveLaunch, LaunchSettings, effective_launch, has_launch_settings
from orchestrator.domain.ports import Ec2TemplatesPort
from orchestrator.domain.records import ExecutionRecord
from orchestrator.domain.records.launch_settings import AppliedSettings, SettingsHold, SettingsStatus
from orchestrator.domain.records.launches import LaunchChunk
from orchestrator.domain.records.servers import ServerResult
from orchestrator.domain.status import EXECUTION_FINAL
from orchestrator.observability import logger, metrics
from orchestrator.runtime import Runtime
from orchestrator.steps.targets import wave_runtime

HELD_CODE = "LaunchSettingsHeld"
DESCRIPTION_PREFIX = "drs-orch launch settings"


class LaunchSettingsError(DrsPermanentError):
    """Launch settings cannot be applied (the chunk fails with this reason; the state machine does not retry a
    DrsPermanentError)."""


def version_description(launch_key: str, execution_id: str) -> str:
    """Our template version's VersionDescription (at most 255 characters): how a retry finds it."""
    return f"{DESCRIPTION_PREFIX} {launch_key} of execution {execution_id[:150]}"


def client_token(launch_key: str, source_server_id: str) -> str:
    """CreateLaunchTemplateVersion's ClientToken (at most 128 ASCII characters): one per launch and server."""
    return f"{launch_key}-{source_server_id}"[:128]


def _ec2(rt: Runtime) -> Ec2TemplatesPort:
    if rt.ec2_templates is None:
        raise LaunchSettingsError("no EC2 client: launch settings cannot be applied", code="NoEc2Client")
    return rt.ec2_templates


def _plan_with_settings(execution: ExecutionRecord) -> Plan | None:
    plan = frozen_plan(execution)
    return plan if has_launch_settings(plan) else None


def _mode(execution: ExecutionRecord) -> Mode:
    return Mode.RECOVERY if execution.mode == Mode.RECOVERY.value else Mode.DRILL


def wanted(execution: ExecutionRecord, wave_id: str, server_ids: Iterable[str]) -> list[EffectiveLaunch]:
    """The servers among `server_ids` of `wave_id` whose effective settings (frozen plan, execution's mode) set
    something, with their settings and origins; [] for a plan without launch settings (no call made)."""
    plan = _plan_with_settings(execution)
    if plan is None:
        return []
    found = [effective_launch(plan, wave_id, sid, _mode(execution)) for sid in server_ids]
    return [launch for launch in found if not launch.settings.is_empty]


# ---- what a server's settings change ---------------------------------------------------------------------


def implied_changes(settings: LaunchSettings) -> dict[str, tuple[Any, str]]:
    """The launch-configuration values `settings` imply where the plan does not set them, `{key: (value, why)}`:
    `targetInstanceTypeRightSizingMethod: NONE` with an instanceType (else DRS picks the type itself), and
    `copyPrivateIp: false` with a privateIp or a subnetId (else DRS puts the source server's IP in the template at
    launch: not the static one, and, in another subnet, an address outside its CIDR that fails the launch)."""
    own = settings.launch_configuration_update()
    implied: dict[str, tuple[Any, str]] = {}
    if settings.instance_type is not None and "targetInstanceTypeRightSizingMethod" not in own:
        implied["targetInstanceTypeRightSizingMethod"] = ("NONE", "implied by instanceType")
    if "copyPrivateIp" not in own:
        if settings.private_ip is not None:
            implied["copyPrivateIp"] = (False, "implied by privateIp")
        elif settings.subnet_id is not None:
            implied["copyPrivateIp"] = (False, "implied by subnetId without a privateIp")
    return implied


def configuration_changes(settings: LaunchSettings) -> dict[str, Any]:
    """UpdateLaunchConfiguration's arguments (but sourceServerID) for `settings`: those set, and those they imply
    (`implied_changes`)."""
    return {
        **settings.launch_configuration_update(),
        **{key: value for key, (value, _) in implied_changes(settings).items()},
    }


def applied_values(launch: EffectiveLaunch) -> tuple[dict[str, Any], dict[str, str]]:
    """What the report says was applied to the server, and where each value came from: the plan's values (their
    plan paths) and the values they imply (`implied_changes`: why)."""
    applied = launch.settings.model_dump(mode="json", by_alias=True, exclude_none=True)
    origins = dict(launch.origins)
    for key, (value, why) in implied_changes(launch.settings).items():
        applied[key] = value
        origins[key] = why
    return applied, origins


def needs_template(settings: LaunchSettings) -> bool:
    return any(
        value is not None
        for value in (
            settings.subnet_id,
            settings.security_group_ids,
            settings.private_ip,
            settings.instance_type,
            settings.tags,
        )
    )


def _previous_configuration(configuration: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The values the launch configuration has now for each key `changes` sets (what restoring sets back)."""
    return {key: configuration[key] for key in changes if key in configuration}


def _primary_interface(settings: LaunchSettings, interfaces: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """NetworkInterfaces with device index 0 (DRS's) carrying the planned subnet, groups and IP."""
    primary = next((nic for nic in interfaces if int(nic.get("DeviceIndex", 0)) == 0), None)
    if primary is None:
        primary = {"DeviceIndex": 0}
        interfaces.insert(0, primary)
    inherited_subnet = primary.get("SubnetId")
    if settings.subnet_id is not None:
        primary["SubnetId"] = settings.subnet_id
    if settings.security_group_ids is not None:
        primary["Groups"] = list(settings.security_group_ids)
    if settings.private_ip is not None:
        primary["PrivateIpAddress"] = settings.private_ip
        primary.pop("PrivateIpAddresses", None)  # one primary address: the static one
    elif settings.subnet_id is not None and inherited_subnet != settings.subnet_id:
        # an address of the source version's subnet cannot hold in another: the instance takes one of the new
        # subnet's (as DRS's copyPrivateIp is turned off with it: implied_changes)
        primary.pop("PrivateIpAddress", None)
        primary.pop("PrivateIpAddresses", None)
    return interfaces


def _instance_tags(settings: LaunchSettings, specifications: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """TagSpecifications with the planned tags merged into the instance's (a version's list replaces its
    source's: the other resource types' and the instance's own tags are carried over)."""
    merged: dict[str, str] = {}
    others = []
    for spec in specifications:
        if spec.get("ResourceType") == "instance":
            merged.update({str(tag["Key"]): str(tag["Value"]) for tag in spec.get("Tags", [])})
        else:
            others.append(spec)
    merged.update(settings.tags or {})
    tags = [{"Key": key, "Value": value} for key, value in merged.items()]
    return [{"ResourceType": "instance", "Tags": tags}, *others]


def template_data(settings: LaunchSettings, source: Mapping[str, Any]) -> dict[str, Any]:
    """CreateLaunchTemplateVersion's LaunchTemplateData for `settings` over the source version's data
    (`source`: its LaunchTemplateData): what is given replaces the source's, the rest is inherited."""
    data: dict[str, Any] = {}
    if any(v is not None for v in (settings.subnet_id, settings.security_group_ids, settings.private_ip)):
        interfaces = [dict(nic) for nic in source.get("NetworkInterfaces") or []]
        data["NetworkInterfaces"] = _primary_interface(settings, interfaces)
    if settings.instance_type is not None:
        data["InstanceType"] = settings.instance_type
    if settings.tags:
        data["TagSpecifications"] = _instance_tags(settings, [dict(s) for s in source.get("TagSpecifications") or []])
    return data


# ---- holding a server ------------------------------------------------------------------------------------


def _hold(rt: Runtime, chunk: LaunchChunk, source_server_id: str) -> str | None:
    """Hold the server for the chunk's execution: None when it does now; else why not (another running execution
    holds it). A stale hold (its execution finished or gone) is restored from its record and taken over."""
    hold = SettingsHold(
        source_server_id=source_server_id,
        execution_id=chunk.execution_id,
        wave_id=chunk.wave_id,
        launch_key=chunk.launch_key,
    )
    other = rt.ledger.hold_server(hold)
    if other is None:
        return None
    holder = rt.ledger.execution(other.execution_id)
    reason = (
        f"server '{source_server_id}': its launch settings are held by execution '{other.execution_id}' "
        f"(wave '{other.wave_id}'), which is running: its launch settings were not changed"
    )
    if holder is not None and holder.status not in EXECUTION_FINAL:
        return reason
    logger.warning(
        "stale launch-settings hold taken over",
        source_server_id=source_server_id,
        holder=other.execution_id,
        holder_status=holder.status if holder else None,
    )
    stale = rt.ledger.settings_record(other.execution_id, source_server_id)
    if stale is not None and not stale.restored:
        _restore(rt, stale)  # releases the stale hold
    if rt.ledger.take_over_hold(hold, from_execution=other.execution_id) or rt.ledger.hold_server(hold) is None:
        return None
    return reason


# ---- applying ---------------------------------------------------------------------------------------------


def apply_launch_settings(rt: Runtime, chunk: LaunchChunk, execution: ExecutionRecord) -> int:
    """Apply each server's effective settings before the chunk's StartRecovery; the number of servers with
    settings (0, with no call made, for a plan without any). Raises LaunchSettingsError, before changing any
    server, when another running execution holds one of them; Ec2Error or DrsError when a call fails."""
    launches = wanted(execution, chunk.wave_id, chunk.server_ids)
    if not launches:
        return 0
    rt = wave_runtime(rt, execution, chunk.wave_id)  # the servers and their templates are in the wave's target
    refused = [reason for launch in launches if (reason := _hold(rt, chunk, launch.source_server_id))]
    if refused:
        metrics.add_metric(name="LaunchSettingsHeld", unit="Count", value=len(refused))
        raise LaunchSettingsError("; ".join(refused)[:1000], code=HELD_CODE)
    for launch in launches:
        _apply(rt, chunk, launch)
    logger.info("launch settings applied", launch_key=chunk.launch_key, servers=len(launches))
    return len(launches)


def _begin(rt: Runtime, chunk: LaunchChunk, launch: EffectiveLaunch) -> AppliedSettings:
    """The server's record for this launch: the one there (a redelivery, or a launch before it never restored:
    its previous values are the server's own), else a new one with the previous values read now."""
    sid = launch.source_server_id
    applied, origins = applied_values(launch)
    record = rt.ledger.settings_record(chunk.execution_id, sid)
    if record is not None and not record.restored:
        if record.launch_key == chunk.launch_key:
            return record
        return rt.ledger.begin_settings(
            AppliedSettings(
                execution_id=chunk.execution_id,
                source_server_id=sid,
                wave_id=chunk.wave_id,
                launch_key=chunk.launch_key,
                status=SettingsStatus.APPLYING,
                applied=applied,
                origins=origins,
            )
        )
    configuration = rt.drs.get_launch_configuration(sid)
    template_id = configuration.get("ec2LaunchTemplateID")
    previous_version = None
    if needs_template(launch.settings):
        if not template_id:
            raise LaunchSettingsError(f"server '{sid}' has no EC2 launch template in DRS", code="NoLaunchTemplate")
        previous_version = int(_ec2(rt).default_version(str(template_id))["VersionNumber"])
    return rt.ledger.begin_settings(
        AppliedSettings(
            execution_id=chunk.execution_id,
            source_server_id=sid,
            wave_id=chunk.wave_id,
            launch_key=chunk.launch_key,
            status=SettingsStatus.APPLYING,
            applied=applied,
            origins=origins,
            previous_configuration=_previous_configuration(configuration, configuration_changes(launch.settings)),
            template_id=str(template_id) if template_id else None,
            previous_version=previous_version,
        )
    )


def _apply(rt: Runtime, chunk: LaunchChunk, launch: EffectiveLaunch) -> None:
    record = _begin(rt, chunk, launch)
    if record.status is SettingsStatus.APPLIED and record.launch_key == chunk.launch_key:
        return
    sid = launch.source_server_id
    rt.drs.update_launch_configuration(sid, configuration_changes(launch.settings))
    version = 0
    if record.template_id is not None and record.previous_version is not None:
        ec2 = _ec2(rt)
        version = _our_version(rt, ec2, record, launch.settings, record.template_id, record.previous_version)
        ec2.set_default(record.template_id, version)
    rt.ledger.settings_applied(chunk.execution_id, sid, launch_key=chunk.launch_key, version=version)


def _our_version(
    rt: Runtime,
    ec2: Ec2TemplatesPort,
    record: AppliedSettings,
    settings: LaunchSettings,
    template_id: str,
    previous: int,
) -> int:
    """Our version of the server's template for this launch: noted, found by its description, or created now
    from the `previous` default."""
    description = version_description(record.launch_key, record.execution_id)
    version = record.version or ec2.find_version(template_id, description, after=previous)
    if version is None:
        data = template_data(settings, _source_data(ec2, template_id, previous))
        version = ec2.create_version(
            template_id,
            source_version=previous,
            data=data,
            description=description,
            client_token=client_token(record.launch_key, record.source_server_id),
        )
        metrics.add_metric(name="LaunchTemplateVersionsCreated", unit="Count", value=1)
    rt.ledger.settings_version(
        record.execution_id, record.source_server_id, launch_key=record.launch_key, version=version
    )
    return version


def _source_data(ec2: Ec2TemplatesPort, template_id: str, previous: int) -> Mapping[str, Any]:
    """The LaunchTemplateData of the version ours is made from (the default before we changed it: still the
    default, as nothing of ours was made the default yet; else, someone changed it meanwhile, only what the plan
    sets goes into ours and the rest comes from `previous` through SourceVersion)."""
    current = ec2.default_version(template_id)
    if int(current["VersionNumber"]) == previous:
        return dict(current.get("LaunchTemplateData") or {})
    return {}


# ---- restoring --------------------------------------------------------------------------------------------


def restore_launch_settings(rt: Runtime, execution: ExecutionRecord, chunk: LaunchChunk) -> int:
    """The chunk's launch will not happen (failed, not started, dropped): restore what it applied to its servers
    (only records of its launch key: a later launch of the wave may have applied them since) and release their
    holds. The number restored now; 0, with no call made, for a plan without launch settings."""
    if _plan_with_settings(execution) is None:
        return 0
    rt = wave_runtime(rt, execution, chunk.wave_id)
    restored = 0
    for sid in chunk.server_ids:
        record = rt.ledger.settings_record(execution.execution_id, sid)
        if record is not None and record.launch_key == chunk.launch_key and not record.restored:
            _restore(rt, record)
            restored += 1
        elif record is None or record.restored:
            rt.ledger.release_hold(sid, execution.execution_id)  # a hold taken without a change (a refused chunk)
    return restored


def _restore(rt: Runtime, record: AppliedSettings) -> None:
    sid = record.source_server_id
    if record.template_id is not None and record.previous_version is not None:
        ec2 = _ec2(rt)
        description = version_description(record.launch_key, record.execution_id)
        ours = record.version or ec2.find_version(record.template_id, description, after=record.previous_version)
        if ours is not None:
            current = int(ec2.default_version(record.template_id)["VersionNumber"])
            if current == ours:
                ec2.set_default(record.template_id, record.previous_version)
            elif current != record.previous_version:
                logger.warning(
                    "launch template default changed by someone else meanwhile: left as it is",
                    source_server_id=sid,
                    template_id=record.template_id,
                    default=current,
                    ours=ours,
                )
    rt.drs.update_launch_configuration(sid, dict(record.previous_configuration))
    rt.ledger.settings_restored(record.execution_id, sid, launch_key=record.launch_key)
    rt.ledger.release_hold(sid, record.execution_id)
    logger.info("launch settings restored", source_server_id=sid, launch_key=record.launch_key)


def after_launch(rt: Runtime, execution: ExecutionRecord, wave_id: str) -> None:
    """Every job of the wave has ended: record where each recovery instance with settings actually landed
    (DescribeInstances), then restore each server's settings. Nothing for a plan without launch settings."""
    if _plan_with_settings(execution) is None:
        return
    records = [r for r in rt.ledger.settings_records(execution.execution_id) if r.wave_id == wave_id]
    if not records:
        return
    rt = wave_runtime(rt, execution, wave_id)
    record_placements(rt, records, rt.ledger.wave_servers(execution.execution_id, wave_id))
    for record in records:
        if not record.restored:
            _restore(rt, record)


@dataclass(frozen=True)
class _Landed:
    record: AppliedSettings
    instance_id: str


def record_placements(rt: Runtime, records: Iterable[AppliedSettings], servers: Mapping[str, ServerResult]) -> int:
    """Note the actual subnet and private IP of each launched server's recovery instance (one DescribeInstances
    per batch of ids); the number noted."""
    landed = [
        _Landed(record, instance_id)
        for record in records
        if record.subnet_id is None
        and (instance_id := getattr(servers.get(record.source_server_id), "recovery_instance_id", None))
    ]
    if not landed:
        return 0
    where = _ec2(rt).placements([item.instance_id for item in landed])
    for item in landed:
        found = where.get(item.instance_id)
        if found is None:
            continue
        rt.ledger.settings_placed(
            item.record.execution_id,
            item.record.source_server_id,
            recovery_instance_id=item.instance_id,
            subnet_id=found[0],
            private_ip=found[1],
        )
    return sum(1 for item in landed if item.instance_id in where)
