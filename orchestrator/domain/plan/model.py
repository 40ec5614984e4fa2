"""The recovery-plan model: camelCase on the wire, snake_case in Python, unknown fields rejected.

A plan is a DAG of waves. Each wave launches its DRS source servers after its `dependsOn` waves
complete, around pre-launch and post-launch steps: SSM scripts (`SSM_DOCUMENT`), SSM Automation runbooks
(`SSM_AUTOMATION`), timed pauses (`WAIT`) and asynchronous Lambda invocations (`LAMBDA`). Values left out inherit
the plan `defaults` (a wave's `onFailure`, a script's `timeoutSeconds`) or the wave itself (a script's `targets`):
the model fills them in when it loads, so a loaded plan is fully resolved.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from events.models import DRILL_TTL_MAX_SECONDS, DRILL_TTL_MIN_SECONDS
from orchestrator.domain.plan.base import PlanModel, scalar_to_str
from orchestrator.domain.plan.launch import ServerLaunchSettings, WaveLaunchSettings
from orchestrator.domain.plan.suggest import quote
from orchestrator.domain.plan.target import Target
from orchestrator.domain.principals import principal_problem

PLAN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
WAVE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
SERVER_ID_PATTERN = r"^s-[0-9a-zA-Z]{17}$"
SNAPSHOT_ID_PATTERN = r"^pit-[0-9a-zA-Z]{17}$"
INSTANCE_ID_PATTERN = r"^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$"
#: An AWS account id (botocore's drs model, AccountID: 12 characters; DRS's own pattern is looser, this is exact).
ACCOUNT_ID_PATTERN = r"^[0-9]{12}$"

SCRIPT_TIMEOUT_MIN = 30
MAX_TARGET_INSTANCE_IDS = 1_000  # sent in SendCommand calls of at most 50 (20 calls)
MAX_TARGET_TAGS = 5  # SendCommand Targets per call: every tag must match (one Target per tag)
SCRIPT_TIMEOUT_MAX = 172_800
#: A WAIT step's `seconds`: 1 s to 2 hours, the longest WAIT step of a native DRS recovery plan (botocore's drs
#: model, WaitStepConfiguration.waitDurationMinutes: 1 to 120 minutes), so a native plan's waits always fit and
#: a plan of ours never waits longer in one step than DRS does (consecutive WAIT steps wait longer).
WAIT_SECONDS_MIN = 1
WAIT_SECONDS_MAX = 7_200
APPROVAL_TIMEOUT_MIN = 60
APPROVAL_TIMEOUT_MAX = 604_800
MAX_RETRIES = 5
#: A LAMBDA step's `functionName`: a function name (1 to 64 letters, digits, `-`, `_`) or its unqualified ARN
#: (botocore's lambda model, Invoke's FunctionName; a qualifier is refused: the stack's destinations are configured
#: on the unqualified function).
LAMBDA_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
LAMBDA_ARN_PATTERN = r"^arn:aws[a-z-]*:lambda:[a-z]{2}(-gov)?-[a-z]+-\d:\d{12}:function:[A-Za-z0-9_-]{1,64}$"
#: A LAMBDA step's `payload`, as compact JSON: at most 16 KiB (our limit: it is frozen into the execution and sent
#: with the run context, and the record bringing the result back carries it in an EventBridge event of at most
#: 256 KB: orchestrator/steps/lambda_steps.py MAX_INVOKE_PAYLOAD_BYTES).
MAX_LAMBDA_PAYLOAD_BYTES = 16_384
#: The key of the run context in what a LAMBDA step's function receives (beside the payload's own keys): the
#: orchestrator's alone, a payload may not set it.
LAMBDA_CONTEXT_KEY = "drsOrchestrator"
#: A wave's sourceServerTags: at most 50 tags (DRS's tags per resource), keys of 1 to 128 characters and
#: values of at most 256 (DRS TagKey/TagValue).
MAX_SELECTOR_TAGS = 50
MAX_SELECTOR_KEY_CHARS = 128
MAX_SELECTOR_VALUE_CHARS = 256
#: Recovery objectives in minutes: above 0, at most 365 days (DRS keeps point-in-time snapshots up to 365 days, so
#: no recovery point is older; an RTO beyond it is a typo).
MAX_OBJECTIVE_MINUTES = 525_600

#: Validation context key: skip the whole-plan graph checks (check_plan has already run them).
GRAPH_CHECKED = "graph_checked"


class OnFailure(StrEnum):
    """What a wave failure does to the plan: stop releasing waves, or carry on with the others."""

    STOP = "STOP"
    CONTINUE = "CONTINUE"


class ScriptOnFailure(StrEnum):
    """What a failed script does to its wave: warn and go on, or fail the wave."""

    WARN = "WARN"
    FAIL = "FAIL"


class Criticality(StrEnum):
    """A CRITICAL server that fails to launch fails the wave; an OPTIONAL one only warns and counts toward
    the wave's successThreshold. A server that leaves it out is CRITICAL, or OPTIONAL when its wave sets a
    successThreshold."""

    CRITICAL = "CRITICAL"
    OPTIONAL = "OPTIONAL"


class Rollback(StrEnum):
    """What to do with the wave's launched instances when the wave fails."""

    NONE = "NONE"
    TERMINATE = "TERMINATE"


class ScriptType(StrEnum):
    """A pre-launch or post-launch step: an SSM Run Command document run on instances, an SSM Automation runbook
    run in the account (StartAutomationExecution), a timed pause, or an asynchronous invocation of a deploy-allowed
    Lambda function."""

    SSM_DOCUMENT = "SSM_DOCUMENT"
    SSM_AUTOMATION = "SSM_AUTOMATION"
    WAIT = "WAIT"
    LAMBDA = "LAMBDA"


#: An Automation parameter's name (botocore's ssm model, AutomationParameterKey: 1 to 50 characters).
AUTOMATION_PARAMETER_PATTERN = r"^[A-Za-z0-9_.-]{1,50}$"


def _matches(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, value) is not None


_scalar_to_str = scalar_to_str


def _parameter_value(value: Any) -> Any:
    if isinstance(value, list):
        return [_scalar_to_str(item) for item in value]
    return _scalar_to_str(value)


def _parameters(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _parameter_value(item) for key, item in value.items()}
    return value


_Model = PlanModel


class PlanDefaults(_Model):
    """Plan-wide defaults that waves and scripts inherit when they leave a value out."""

    on_failure: OnFailure = Field(OnFailure.STOP, description="Default for every wave's onFailure.")
    script_timeout_seconds: int = Field(
        600,
        ge=SCRIPT_TIMEOUT_MIN,
        le=SCRIPT_TIMEOUT_MAX,
        description="Default timeoutSeconds of every script.",
    )
    max_replication_lag_seconds: int = Field(
        3600,
        ge=0,
        description="A server whose last replicated snapshot is older than this is not ready to launch.",
    )
    require_approval_in_recovery: bool = Field(
        False,
        description="In a real recovery (not a drill), every wave waits for an approval.",
    )
    drill_instance_ttl_seconds: int | None = Field(
        None,
        ge=DRILL_TTL_MIN_SECONDS,
        le=DRILL_TTL_MAX_SECONDS,
        description=(
            "Drills only: terminate the drill's recovery instances this long after its first launch (once "
            "the execution has ended). Default: keep them until `drs-orch cleanup`."
        ),
    )
    launch_settings: WaveLaunchSettings | None = Field(
        None,
        description=(
            "Launch settings of every recovery instance, unless its wave or server sets the key (privateIp is "
            "per server). Default: each server launches as its DRS launch settings stand."
        ),
    )


class ScriptTargets(_Model):
    """Where a script runs: exactly one of instanceIds, tags, or the recovered instances of a wave."""

    instance_ids: list[str] | None = Field(
        None,
        min_length=1,
        description="Managed instances; sent in SendCommand calls of at most 50 instances each.",
        json_schema_extra={"maxItems": MAX_TARGET_INSTANCE_IDS},
    )
    tags: dict[str, str] | None = Field(
        None,
        min_length=1,
        description="The managed instances that carry every one of these tags (at most 5, SendCommand's limit).",
        json_schema_extra={"maxProperties": MAX_TARGET_TAGS},
    )
    wave: str | None = None

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None and len(value) > MAX_TARGET_TAGS:
            msg = (
                f"at most {MAX_TARGET_TAGS} tags, not {len(value)} (SendCommand takes {MAX_TARGET_TAGS} "
                "targets, one per tag, and an instance must carry every one)"
            )
            raise ValueError(msg)
        return value

    @field_validator("instance_ids")
    @classmethod
    def _instance_ids(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(value) > MAX_TARGET_INSTANCE_IDS:
            msg = (
                f"at most {MAX_TARGET_INSTANCE_IDS} instance ids, not {len(value)} (they are sent 50 per "
                "SendCommand call; target more instances by tags)"
            )
            raise ValueError(msg)
        for instance_id in value or []:
            if not _matches(INSTANCE_ID_PATTERN, instance_id):
                msg = f"malformed instance id '{quote(instance_id)}' (expected 'i-' and 8 or 17 hex digits)"
                raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> ScriptTargets:
        given = [name for name in ("instanceIds", "tags", "wave") if getattr(self, _snake(name)) is not None]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            msg = f"targets needs exactly one of instanceIds, tags or wave (found: {found})"
            raise ValueError(msg)
        return self


def _snake(name: str) -> str:
    return {"instanceIds": "instance_ids"}.get(name, name)


#: What an SSM_DOCUMENT step sets and a WAIT step may not (a wait runs nothing, on nothing, and cannot fail).
_NOT_FOR_WAIT = ("documentName", "parameters", "targets", "timeoutSeconds", "onFailure", "retries")
#: What a LAMBDA step alone sets, and what it may not (it runs no document, on no instance: its function gets the
#: run context and its own `payload`).
_LAMBDA_ONLY = ("functionName", "payload")
_NOT_FOR_LAMBDA = ("documentName", "parameters", "targets", "seconds")


#: What only an SSM_AUTOMATION step sets.
_AUTOMATION_ONLY = ("recoveryInstancesParameter",)


def _script_schema(schema: dict[str, Any]) -> None:
    """documentName is required of an SSM_DOCUMENT step (`type` left out is one) and of an SSM_AUTOMATION step,
    seconds of a WAIT step, which takes none of _NOT_FOR_WAIT; targets is never required (it defaults to the wave)
    and an SSM_AUTOMATION step takes none (it runs in the account: recoveryInstancesParameter hands it the wave's
    instances), while only it takes recoveryInstancesParameter."""
    schema.pop("required", None)
    props = schema.get("properties", {})
    for name in ("documentName", "seconds", "targets", *_LAMBDA_ONLY, *_AUTOMATION_ONLY):  # never null in a plan
        if name in props and "anyOf" in props[name]:
            kept = [option for option in props[name].pop("anyOf") if option != {"type": "null"}]
            props[name] = {**kept[0], **props[name]} if len(kept) == 1 else {"anyOf": kept, **props[name]}
            props[name].pop("default", None)
    if "targets" in props:
        props["targets"]["description"] = "Where the script runs. Default: the instances of this wave."
    not_ssm = [ScriptType.WAIT.value, ScriptType.LAMBDA.value]
    wait, lambda_ = ({"properties": {"type": {"const": kind}}, "required": ["type"]} for kind in not_ssm)
    automation = {"properties": {"type": {"const": ScriptType.SSM_AUTOMATION.value}}, "required": ["type"]}
    schema["allOf"] = [
        {
            "if": wait,
            "then": {
                "required": ["seconds"],
                "properties": dict.fromkeys(_NOT_FOR_WAIT + _LAMBDA_ONLY + _AUTOMATION_ONLY, False),
            },
        },
        {
            "if": lambda_,
            "then": {
                "required": ["functionName"],
                "properties": dict.fromkeys(_NOT_FOR_LAMBDA + _AUTOMATION_ONLY, False),
            },
        },
        {
            "if": {"properties": {"type": {"enum": not_ssm}}, "required": ["type"]},
            "else": {"required": ["documentName"], "properties": dict.fromkeys(("seconds", *_LAMBDA_ONLY), False)},
        },
        {
            "if": automation,
            "then": {"properties": {"targets": False}},
            "else": {"properties": dict.fromkeys(_AUTOMATION_ONLY, False)},
        },
    ]


def _wait_refuses(name: str, value: Any, info: ValidationInfo) -> Any:
    """`value`, unless the step is a WAIT step, which takes no `name` (ValueError naming it)."""
    if info.data.get("type") is ScriptType.WAIT:
        msg = f"a WAIT step takes no {name}: it sends nothing and cannot fail (it waits its `seconds`, then ends)"
        raise ValueError(msg)
    return value


def _lambda_refuses(name: str, value: Any, info: ValidationInfo) -> Any:
    """`value`, unless the step is a LAMBDA step, which takes no `name` (ValueError naming it)."""
    if info.data.get("type") is ScriptType.LAMBDA:
        msg = (
            f"a LAMBDA step takes no {name}: it invokes its functionName with the run context and its `payload` "
            "(no document, no instance)"
        )
        raise ValueError(msg)
    return value


def _lambda_only(name: str, value: Any, info: ValidationInfo) -> Any:
    """`value`, unless it is set on a step that is not a LAMBDA step (ValueError naming it)."""
    kind = info.data.get("type")
    if value is not None and kind is not None and kind is not ScriptType.LAMBDA:
        msg = f"{name} is a LAMBDA step's (type: LAMBDA): a step of type {kind.value} takes none"
        raise ValueError(msg)
    return value


def _checked_function_name(value: Any) -> Any:
    """A function name or its unqualified ARN (ValueError naming what is wrong)."""
    if isinstance(value, str) and not (_matches(LAMBDA_NAME_PATTERN, value) or _matches(LAMBDA_ARN_PATTERN, value)):
        msg = (
            f"functionName '{quote(value, 170)}' is neither a function name (1 to 64 letters, digits, '-', '_') nor "
            "an unqualified function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME; no version or alias)"
        )
        raise ValueError(msg)
    return value


def _lambda_payload(value: Any) -> Any:
    """A JSON object of at most MAX_LAMBDA_PAYLOAD_BYTES as compact JSON (ValueError otherwise)."""
    if value is None:
        return value
    if not isinstance(value, dict):
        msg = "payload must be a mapping (a JSON object), merged into the run context the function receives"
        raise ValueError(msg)  # noqa: TRY004 - pydantic reports a ValueError at the key's line
    try:
        size = len(json.dumps(value, separators=(",", ":"), allow_nan=False).encode())
    except (TypeError, ValueError) as exc:
        msg = f"payload is not JSON: {exc}"
        raise ValueError(msg) from None
    if LAMBDA_CONTEXT_KEY in value:
        msg = f"payload may not set {LAMBDA_CONTEXT_KEY}: the orchestrator writes the run context there"
        raise ValueError(msg)
    if size > MAX_LAMBDA_PAYLOAD_BYTES:
        msg = f"payload is {size} bytes as JSON (at most {MAX_LAMBDA_PAYLOAD_BYTES})"
        raise ValueError(msg)
    return value


def _required_of(kinds: ScriptType | tuple[ScriptType, ...], value: Any, info: ValidationInfo) -> Any:
    """`value`; None (left out) when the step is of one of `kinds` is a missing required field."""
    if value is None and info.data.get("type") in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise PydanticCustomError("missing", "Field required")
    return value


_RUNS_A_DOCUMENT = (ScriptType.SSM_DOCUMENT, ScriptType.SSM_AUTOMATION)


class Script(_Model):
    """A step run before or after a wave launches (or as its health check): an SSM document run on instances
    (`type` SSM_DOCUMENT, the default: documentName required), an SSM Automation runbook run in the account (`type`
    SSM_AUTOMATION: documentName required, no targets; recoveryInstancesParameter names the runbook parameter
    given the wave's recovery instance ids), a pause of `seconds` (`type` WAIT: none of documentName, parameters,
    targets, timeoutSeconds, onFailure or retries; not a health check), or an asynchronous invocation of a Lambda
    function (`type` LAMBDA: functionName required, an optional `payload`, timeoutSeconds, onFailure, retries; none
    of documentName, parameters, targets, seconds)."""

    model_config = ConfigDict(json_schema_extra=_script_schema)

    type: ScriptType = ScriptType.SSM_DOCUMENT
    document_name: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        validate_default=True,
        description="SSM document name or ARN (SSM_AUTOMATION: the Automation runbook's).",
    )
    seconds: int | None = Field(
        None,
        ge=WAIT_SECONDS_MIN,
        le=WAIT_SECONDS_MAX,
        validate_default=True,
        description=(
            "WAIT steps: how long the step waits, in whole seconds (1 to 7200: a native DRS WAIT step's 1 to 120 "
            "minutes). Its end is a scheduler tick: no function waits meanwhile."
        ),
    )
    function_name: str | None = Field(
        None,
        validate_default=True,
        description=(
            "LAMBDA steps: the function to invoke (asynchronously), by name or unqualified ARN; it must be one of the "
            "deploy's allowed function ARNs (allowedLambdaFunctions)."
        ),
    )
    payload: dict[str, Any] | None = Field(
        None,
        description=(
            "LAMBDA steps: a JSON object (at most 16 KiB) the function receives under `payload`, beside the run "
            "context."
        ),
    )
    parameters: Annotated[dict[str, str | list[str]], BeforeValidator(_parameters)] = Field(
        default_factory=dict,
        description=(
            "The document's parameters. A value may take values from the run when the step is sent: "
            "${{ run.executionId }}, ${{ run.mode }}, ${{ run.planId }}, ${{ run.planName }}, and of an upstream wave "
            "(or, after launch, this one) ${{ waves.<waveId>.instanceIds }}, ${{ waves.<waveId>.privateIps }}, "
            "${{ waves.<waveId>.servers.<sourceServerID>.instanceId }} or .privateIp (README: Values from the run)."
        ),
    )
    targets: ScriptTargets | None = Field(None, validate_default=True)
    recovery_instances_parameter: str | None = Field(
        None,
        description=(
            "SSM_AUTOMATION steps: the runbook's StringList parameter that receives the EC2 instance ids of this "
            "wave's recovery instances (post-launch: those it launched; pre-launch: its previous ones). None left: "
            "the step fails (or, onFailure WARN, is skipped) instead of running the runbook on nothing."
        ),
        json_schema_extra={"pattern": AUTOMATION_PARAMETER_PATTERN},
    )
    timeout_seconds: int = Field(
        600,
        ge=SCRIPT_TIMEOUT_MIN,
        le=SCRIPT_TIMEOUT_MAX,
        description="Default: the plan's defaults.scriptTimeoutSeconds.",
    )
    on_failure: ScriptOnFailure = ScriptOnFailure.FAIL
    retries: int = Field(0, ge=0, le=MAX_RETRIES)

    # Each runs before the field's own type and range checks: a key the step's type does not take is refused
    # whatever its value, so the author is not sent to fix a timeout's range or an onFailure's spelling that the
    # step must not have at all.
    @field_validator("document_name", mode="before")
    @classmethod
    def _document_name(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None:
            return _lambda_refuses("documentName", _wait_refuses("documentName", value, info), info)
        return _required_of(_RUNS_A_DOCUMENT, value, info)

    @field_validator("function_name", mode="before")
    @classmethod
    def _function_name(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None:
            return _checked_function_name(_lambda_only("functionName", value, info))
        return _required_of(ScriptType.LAMBDA, value, info)

    @field_validator("payload", mode="before")
    @classmethod
    def _payload(cls, value: Any, info: ValidationInfo) -> Any:
        return _lambda_payload(_lambda_only("payload", value, info))

    @field_validator("seconds", mode="before")
    @classmethod
    def _seconds(cls, value: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("type")
        if value is not None and kind in (*_RUNS_A_DOCUMENT, ScriptType.LAMBDA):
            article = "a" if kind is ScriptType.LAMBDA else "an"
            msg = (
                f"seconds is a WAIT step's (type: WAIT); {article} {kind.value} step runs until it ends or its "
                "timeoutSeconds"
            )
            raise ValueError(msg)
        return _required_of(ScriptType.WAIT, value, info)

    @field_validator("targets", mode="before")
    @classmethod
    def _targets(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and info.data.get("type") is ScriptType.SSM_AUTOMATION:
            msg = (
                "an SSM_AUTOMATION step takes no targets: its runbook runs in the account, not on instances (name the "
                "runbook parameter that receives the wave's recovery instances in recoveryInstancesParameter)"
            )
            raise ValueError(msg)
        if value is not None:
            return _lambda_refuses("targets", _wait_refuses("targets", value, info), info)
        return _required_of(ScriptType.SSM_DOCUMENT, value, info)

    @field_validator("parameters", mode="before")
    @classmethod
    def _parameters_of_a_document(cls, value: Any, info: ValidationInfo) -> Any:
        return _lambda_refuses("parameters", _wait_refuses("parameters", value, info), info)

    @field_validator("recovery_instances_parameter", mode="before")
    @classmethod
    def _recovery_instances_parameter(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and info.data.get("type") is ScriptType.WAIT:
            return _wait_refuses("recoveryInstancesParameter", value, info)
        if value is not None and info.data.get("type") is ScriptType.LAMBDA:
            return _lambda_refuses("recoveryInstancesParameter", value, info)
        if value is not None and info.data.get("type") is ScriptType.SSM_DOCUMENT:
            msg = (
                "recoveryInstancesParameter is an SSM_AUTOMATION step's; an SSM_DOCUMENT step's targets say where it "
                "runs"
            )
            raise ValueError(msg)
        if value is not None and not (isinstance(value, str) and _matches(AUTOMATION_PARAMETER_PATTERN, value)):
            msg = f"malformed runbook parameter name '{quote(str(value))}' (1 to 50 letters, digits, '_', '.', '-')"
            raise ValueError(msg)
        return value

    @field_validator("timeout_seconds", "on_failure", "retries", mode="before")
    @classmethod
    def _not_for_wait(cls, value: Any, info: ValidationInfo) -> Any:
        return _wait_refuses(_camel(info.field_name or ""), value, info)

    @property
    def is_wait(self) -> bool:
        return self.type is ScriptType.WAIT

    @property
    def is_lambda(self) -> bool:
        return self.type is ScriptType.LAMBDA

    @property
    def runs_document(self) -> bool:
        """An SSM_DOCUMENT step: the only kind run on instances (with targets)."""
        return self.type is ScriptType.SSM_DOCUMENT

    @property
    def has_document(self) -> bool:
        """An SSM_DOCUMENT or SSM_AUTOMATION step: the kinds with a document (an SSM document or a runbook) and
        parameters, which the allow-list and the parameter checks apply to."""
        return self.type in _RUNS_A_DOCUMENT

    @property
    def function(self) -> str:
        """The function a LAMBDA step invokes (a name or an ARN). Raises ValueError for any other step."""
        if self.function_name is None:
            msg = f"{self.name} invokes no Lambda function"
            raise ValueError(msg)
        return self.function_name

    @property
    def is_automation(self) -> bool:
        return self.type is ScriptType.SSM_AUTOMATION

    @property
    def supplied_parameters(self) -> frozenset[str]:
        """The runbook parameters the orchestrator fills for this step besides the plan's `parameters` (the one
        recoveryInstancesParameter names)."""
        name = self.recovery_instances_parameter
        return frozenset({name}) if name else frozenset()

    @property
    def name(self) -> str:
        """What the step is called in the ledger, the report and the CLI: its SSM document, `WAIT 600 s`, or
        `LAMBDA <functionName>`."""
        if self.is_wait:
            return f"WAIT {self.seconds} s"
        if self.is_lambda:
            return f"LAMBDA {self.function_name}"
        return str(self.document_name)

    @property
    def document(self) -> str:
        """The SSM document of an SSM_DOCUMENT step. Raises ValueError for a WAIT step (it has none)."""
        if self.document_name is None:
            msg = f"{self.name} runs no SSM document"
            raise ValueError(msg)
        return self.document_name

    @property
    def run_targets(self) -> ScriptTargets:
        """The targets of an SSM_DOCUMENT step (filled in with its wave when the plan left them out). Raises
        ValueError for a WAIT step (it has none)."""
        if self.targets is None:
            msg = f"{self.name} runs on no instance"
            raise ValueError(msg)
        return self.targets


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


_UNRESOLVED_PLACEHOLDER = "s-" + "0" * 17  # stands in for a malformed stagingSourceServerID (the plan is refused)
_STAGING_PAIR = (
    "a server replicated in a staging account needs both stagingAccountID and stagingSourceServerID (its source "
    "server id in that account)"
)


def _account_id(value: Any) -> Any:
    """A 12-digit account id must be quoted in YAML: unquoted, YAML reads it as a number (and one with a leading
    0 as an octal number), so a number is refused rather than guessed back into digits."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        msg = f"stagingAccountID must be a quoted string of 12 digits (YAML read {value!r} as a number: quote it)"
        raise ValueError(msg)  # noqa: TRY004 (pydantic turns a ValueError into the plan problem at this path)
    return value


def _staging_source_server(data: Any) -> Any:
    """A server replicated in a staging account is written with its staging account and its id there; until it is
    resolved (StartPlan: orchestrator/domain/staging.py) its `sourceServerID` is that staging id."""
    if not isinstance(data, dict):
        return data
    staging = data.get("stagingSourceServerID", data.get("staging_source_server_id"))
    account = data.get("stagingAccountID", data.get("staging_account_id"))
    if (staging is None) != (account is None):
        raise ValueError(_STAGING_PAIR)
    if staging is not None and "sourceServerID" not in data and "source_server_id" not in data:
        # a malformed staging id is refused once, at stagingSourceServerID (not again at the defaulted field)
        valid = isinstance(staging, str) and _matches(SERVER_ID_PATTERN, staging)
        return {**data, "sourceServerID": staging if valid else _UNRESOLVED_PLACEHOLDER}
    return data


class Server(_Model):
    """A DRS source server, optionally pinned to a point-in-time recovery snapshot.

    A server replicated in a staging account (DRS's multi-account replication: at most 300 replicating source
    servers per account) names `stagingAccountID` and `stagingSourceServerID` (its source server id in that
    account): it is recovered through its extended source server in this account (CreateExtendedSourceServer,
    `drs-orch extend`), which StartPlan finds (DescribeSourceServers filtered on stagingAccountIDs) and freezes
    as its `sourceServerID`. Left out, `sourceServerID` is the staging id until then."""

    source_server_id: str = Field(
        alias="sourceServerID",
        json_schema_extra={"pattern": SERVER_ID_PATTERN},
        description=(
            "The DRS source server in this account. For a staging server: its extended source server, filled in "
            "when the execution starts (default: stagingSourceServerID until then)."
        ),
    )
    staging_account_id: Annotated[str | None, BeforeValidator(_account_id)] = Field(
        None,
        alias="stagingAccountID",
        json_schema_extra={"pattern": ACCOUNT_ID_PATTERN},
        description="The staging account that replicates this server (12 digits, quoted); with stagingSourceServerID.",
    )
    staging_source_server_id: str | None = Field(
        None,
        alias="stagingSourceServerID",
        json_schema_extra={"pattern": SERVER_ID_PATTERN},
        description="This server's source server id in its staging account; with stagingAccountID.",
    )
    recovery_snapshot_id: str | None = Field(
        None, alias="recoverySnapshotID", json_schema_extra={"pattern": SNAPSHOT_ID_PATTERN}
    )
    criticality: Criticality = Field(
        Criticality.CRITICAL,
        description="Default: CRITICAL, or OPTIONAL in a wave that sets successThreshold.",
    )
    launch_settings: ServerLaunchSettings | None = Field(
        None,
        description="This server's launch settings, over its wave's and the plan defaults' (privateIp only here).",
    )

    @field_validator("source_server_id")
    @classmethod
    def _server_id(cls, value: str) -> str:
        if not _matches(SERVER_ID_PATTERN, value):
            msg = f"malformed source server id '{quote(value)}' (expected 's-' and 17 letters or digits)"
            raise ValueError(msg)
        return value

    @field_validator("recovery_snapshot_id")
    @classmethod
    def _snapshot_id(cls, value: str | None) -> str | None:
        if value is not None and not _matches(SNAPSHOT_ID_PATTERN, value):
            msg = f"malformed recovery snapshot id '{quote(value)}' (expected 'pit-' and 17 letters or digits)"
            raise ValueError(msg)
        return value

    @field_validator("staging_account_id")
    @classmethod
    def _staging_account(cls, value: str | None) -> str | None:
        if value is not None and not _matches(ACCOUNT_ID_PATTERN, value):
            msg = f"malformed stagingAccountID '{quote(value)}' (expected 12 digits)"
            raise ValueError(msg)
        return value

    @field_validator("staging_source_server_id")
    @classmethod
    def _staging_server_id(cls, value: str | None) -> str | None:
        if value is not None and not _matches(SERVER_ID_PATTERN, value):
            msg = f"malformed stagingSourceServerID '{quote(value)}' (expected 's-' and 17 letters or digits)"
            raise ValueError(msg)
        return value

    @model_validator(mode="before")
    @classmethod
    def _staging_default(cls, data: Any) -> Any:
        return _staging_source_server(data)

    @model_validator(mode="after")
    def _staging_pair(self) -> Server:
        if (self.staging_account_id is None) != (self.staging_source_server_id is None):
            raise ValueError(_STAGING_PAIR)
        return self

    @property
    def is_staging(self) -> bool:
        """Whether the server replicates in a staging account (recovered through its extended source server)."""
        return self.staging_account_id is not None

    @property
    def awaits_extension(self) -> bool:
        """A staging server not resolved to an extended source server of this account (its id is the staging one)."""
        return self.is_staging and self.source_server_id == self.staging_source_server_id


class Objectives(_Model):
    """Recovery objectives, in minutes, measured from the moment the disaster is declared (StartPlan's time, or its
    `declaredAt`): the recovery time objective (RTO: by then the waves are recovered, their post-launch scripts and
    health check done) and the recovery point objective (RPO: no recovered server's point-in-time snapshot is older
    than this at the declared time). Either may be left out; a number above 0 (at most 365 days).

    On the plan they hold for the whole plan (its RTO is achieved when its last wave completes; its RPO by its worst
    server); on a wave for that wave alone. A wave without objectives of its own does not inherit the plan's: the
    plan's are judged, and watched while the run goes (ObjectiveAtRisk, ObjectiveMissed), once for the plan."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    rto_minutes: float | None = Field(
        None,
        gt=0,
        le=MAX_OBJECTIVE_MINUTES,
        strict=True,
        allow_inf_nan=False,
        description="Recovery time objective: minutes from the declared time to the end of the post-launch phase.",
    )
    rpo_minutes: float | None = Field(
        None,
        gt=0,
        le=MAX_OBJECTIVE_MINUTES,
        strict=True,
        allow_inf_nan=False,
        description="Recovery point objective: most minutes between a server's recovery snapshot and the declared "
        "time.",
    )

    @model_validator(mode="after")
    def _one_at_least(self) -> Objectives:
        if self.rto_minutes is None and self.rpo_minutes is None:
            msg = "objectives needs rtoMinutes, rpoMinutes or both"
            raise ValueError(msg)
        return self


def _approver(value: str) -> str:
    problem = principal_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


Approver = Annotated[str, AfterValidator(_approver)]


def _selector_key(value: str) -> str:
    if not 1 <= len(value) <= MAX_SELECTOR_KEY_CHARS:
        msg = f"a tag key of {len(value)} characters (DRS tag keys have 1 to {MAX_SELECTOR_KEY_CHARS})"
        raise ValueError(msg)
    return value


def _selector_value(value: str) -> str:
    if len(value) > MAX_SELECTOR_VALUE_CHARS:
        msg = f"a tag value of {len(value)} characters (DRS tag values have at most {MAX_SELECTOR_VALUE_CHARS})"
        raise ValueError(msg)
    return value


#: Kept exactly as written (no whitespace stripped, unlike the plan's other strings): DRS compares tags exactly, and
#: a space a quoted key or value keeps is one the source server's tag has.
_EXACT = StringConstraints(strip_whitespace=False)
SelectorKey = Annotated[str, _EXACT, AfterValidator(_selector_key)]
SelectorValue = Annotated[str, _EXACT, BeforeValidator(scalar_to_str), AfterValidator(_selector_value)]


class Approval(_Model):
    """A human approval gate before the wave launches."""

    required: bool = True
    timeout_seconds: int = Field(3600, ge=APPROVAL_TIMEOUT_MIN, le=APPROVAL_TIMEOUT_MAX)
    approvers: list[Approver] = Field(
        default_factory=list,
        description=(
            "Who may approve or deny: IAM principals, each a role ARN (every session of the role), a session "
            "pattern (arn:aws:sts::123456789012:assumed-role/DROps/*; wildcards only in the session name) or a "
            "user ARN. The caller's ARN comes from AWS authentication (the operator endpoint). Empty: any "
            "operator may decide."
        ),
    )


def _server_shorthand(value: Any) -> Any:
    """`- s-...` is short for `- {sourceServerID: s-...}` (no criticality stated: see `Server.criticality`)."""
    if isinstance(value, list):
        return [{"sourceServerID": item} if isinstance(item, str) else item for item in value]
    return value


_SCRIPT_LIST_KEYS = ("preLaunch", "pre_launch", "postLaunch", "post_launch")


def _is_wait(script: Any) -> bool:
    return isinstance(script, dict) and script.get("type") == ScriptType.WAIT.value


def _runs_on_instances(script: Any) -> bool:
    """An SSM_DOCUMENT step (written as such, or without a type): a wait, a runbook or a Lambda step has no targets."""
    return isinstance(script, dict) and script.get("type") not in (
        ScriptType.WAIT.value,
        ScriptType.SSM_AUTOMATION.value,
        ScriptType.LAMBDA.value,
    )


def _fill_script_targets(script: Any, wave_id: str) -> Any:
    if isinstance(script, dict) and "targets" not in script and _runs_on_instances(script):
        return {**script, "targets": {"wave": wave_id}}
    return script


def _map_wave_scripts(wave: dict[str, Any], change: Any) -> dict[str, Any]:
    """Copy a raw wave with `change` applied to each of its scripts, recovery and failback alike (a list item of
    preLaunch or postLaunch, the healthCheck; a null healthCheck is left null)."""

    def scripts_of(raw: dict[str, Any]) -> dict[str, Any]:
        out = dict(raw)
        for key in _SCRIPT_LIST_KEYS:
            if isinstance(out.get(key), list):
                out[key] = [change(script) for script in out[key]]
        for key in ("healthCheck", "health_check"):
            if out.get(key) is not None:
                out[key] = change(out[key])
        return out

    out = scripts_of(wave)
    if isinstance(out.get("failback"), dict):
        out["failback"] = scripts_of(out["failback"])
    return out


def _refuse_wait_health_check(value: Script | None) -> Script | None:
    if value is not None and value.is_wait:
        msg = (
            "a healthCheck cannot be a WAIT step: a health check is a gate, and a wait always passes (put the "
            "WAIT step at the end of postLaunch)"
        )
        raise ValueError(msg)
    return value


#: The keys of a wave's `failback` (WaveFailback), in run order, by their attribute names.
FAILBACK_SCRIPT_FIELDS = ("pre_launch", "post_launch", "health_check")


class WaveFailback(_Model):
    """The wave's scripts in a FAILBACK run (issue #15): each key given replaces the recovery one for a failback
    (an empty list, or null, means none in failback); a key left out keeps the recovery one. `for_failback`
    (orchestrator/domain/plan/direction.py) makes the plan a failback runs. Its scripts get every check the
    recovery scripts get (targets, parameters and their run references, the SSM document and Lambda allow-lists)."""

    pre_launch: list[Script] | None = Field(
        None, description="The failback's pre-launch steps (replace preLaunch; [] or null: none)."
    )
    post_launch: list[Script] | None = Field(
        None, description="The failback's post-launch steps (replace postLaunch; [] or null: none)."
    )
    health_check: Script | None = Field(
        None, description="The failback's health check (replaces healthCheck; null: none)."
    )

    @field_validator("health_check")
    @classmethod
    def _health_check(cls, value: Script | None) -> Script | None:
        return _refuse_wait_health_check(value)

    def given(self) -> dict[str, list[Script] | Script | None]:
        """The keys given (attribute name -> value; None a null), in run order: what replaces the recovery ones."""
        return {name: getattr(self, name) for name in FAILBACK_SCRIPT_FIELDS if name in self.model_fields_set}

    @property
    def scripts(self) -> list[tuple[str, list[Script]]]:
        """(plan key, its steps) of every list or health check given, in run order (a health check as a list of
        at most one)."""
        out: list[tuple[str, list[Script]]] = []
        for name, value in self.given().items():
            steps = value if isinstance(value, list) else [value] if value is not None else []
            out.append((_camel(name), steps))
        return out

    def document(self) -> dict[str, Any]:
        """As a plan writes it: the keys given (a null one as null), each step as `step_document` writes it."""
        out: dict[str, Any] = {}
        for name, value in self.given().items():
            if isinstance(value, list):
                out[_camel(name)] = [
                    step_document(step.model_dump(by_alias=True, exclude_none=True, mode="json")) for step in value
                ]
            elif value is not None:
                out[_camel(name)] = step_document(value.model_dump(by_alias=True, exclude_none=True, mode="json"))
            else:
                out[_camel(name)] = None
        return out


class Wave(_Model):
    """A set of servers launched together once every wave it depends on has completed."""

    wave_id: str = Field(
        description="Unique within the plan; other waves name it in dependsOn.",
        json_schema_extra={"pattern": WAVE_ID_PATTERN},
    )
    name: str | None = None
    servers: Annotated[
        list[Server],
        BeforeValidator(_server_shorthand, json_schema_input_type=list[str | Server]),
    ] = Field(
        default_factory=list,
        description=(
            "Source servers; a bare 's-...' string is a server without a criticality: CRITICAL, or OPTIONAL "
            "when the wave sets successThreshold. May be left out when the wave has sourceServerTags."
        ),
    )
    source_server_tags: dict[SelectorKey, SelectorValue] | None = Field(
        None,
        description=(
            "Also launch every DRS source server that carries all of these tags, resolved when the execution "
            "starts (and frozen into it). A server of `servers` is in the wave whether its tags match or not: "
            "list a selected server there to give it its own settings. A server selected by two waves, or listed "
            "in one and selected by another, and a selector that selects nothing, are errors."
        ),
        json_schema_extra={"minProperties": 1, "maxProperties": MAX_SELECTOR_TAGS},
    )
    launch_settings: WaveLaunchSettings | None = Field(
        None,
        description="Launch settings of the wave's servers, over the plan defaults' (privateIp is per server).",
    )
    depends_on: list[str] = Field(default_factory=list, description="Waves that must complete first.")
    pre_launch: list[Script] = Field(default_factory=list)
    post_launch: list[Script] = Field(default_factory=list)
    on_failure: OnFailure = Field(OnFailure.STOP, description="Default: the plan's defaults.onFailure.")
    success_threshold: float | None = Field(
        None,
        gt=0,
        le=1,
        description=(
            "Share of the wave's servers that must launch. Its servers without an explicit criticality are "
            "then OPTIONAL (they count toward the threshold); an explicitly CRITICAL server still fails the "
            "wave at once. Default: no threshold, every server without a criticality is CRITICAL."
        ),
    )
    approval: Approval | None = None
    health_check: Script | None = Field(None, description="A script run after launch as a gate.")
    rollback: Rollback = Rollback.NONE
    objectives: Objectives | None = Field(
        None,
        description="This wave's own recovery objectives (it does not inherit the plan's: those are the plan's).",
    )
    target: Target | None = Field(
        None,
        description=(
            "The account and Region this wave recovers in, through the role given (default: the plan's target; "
            "neither: the orchestrator's own account and Region)."
        ),
    )
    failback: WaveFailback | None = Field(
        None,
        description=(
            "The scripts of a failback run of this wave: each of preLaunch, postLaunch, healthCheck given replaces "
            "the recovery one in a failback ([] or null: none); one left out keeps the recovery one."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _default_targets(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        wave_id = data.get("waveId", data.get("wave_id"))
        if not isinstance(wave_id, str):
            return data
        return _map_wave_scripts(data, lambda script: _fill_script_targets(script, wave_id))

    @model_validator(mode="after")
    def _effective_criticality(self) -> Wave:
        """With a successThreshold, a server that does not state its criticality is OPTIONAL: it counts
        toward the threshold instead of failing the wave alone. The loaded plan (and so the frozen plan,
        the ledger and the report) carries the effective value."""
        if self.success_threshold is not None:
            self.servers = [
                server
                if "criticality" in server.model_fields_set
                else server.model_copy(update={"criticality": Criticality.OPTIONAL})
                for server in self.servers
            ]
        return self

    @field_validator("health_check")
    @classmethod
    def _health_check(cls, value: Script | None) -> Script | None:
        return _refuse_wait_health_check(value)

    @field_validator("source_server_tags")
    @classmethod
    def _selector_size(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None and not 1 <= len(value) <= MAX_SELECTOR_TAGS:
            msg = f"sourceServerTags needs 1 to {MAX_SELECTOR_TAGS} tags, not {len(value)}"
            raise ValueError(msg)
        return value

    @field_validator("wave_id")
    @classmethod
    def _wave_id(cls, value: str) -> str:
        if not _matches(WAVE_ID_PATTERN, value):
            msg = f"malformed wave id '{quote(value)}' (up to 64 letters, digits, '.', '_', '-'; starts alphanumeric)"
            raise ValueError(msg)
        return value

    @property
    def server_ids(self) -> list[str]:
        return [server.source_server_id for server in self.servers]

    @property
    def scripts(self) -> list[Script]:
        """Every script of the wave in run order: pre-launch, post-launch, health check (a recovery's: a failback
        runs `for_failback(plan)`, whose waves hold their failback scripts here)."""
        return [*self.pre_launch, *self.post_launch, *([self.health_check] if self.health_check else [])]

    def script_lists(self) -> list[tuple[str, str, list[Script]]]:
        """(path under the wave, plan key, steps) of every script list of the wave, recovery then failback:
        `preLaunch`, `postLaunch`, `healthCheck` (a list of at most one), then `failback.preLaunch`, ... for the
        failback keys given. What every check of a wave's scripts walks (a failback script gets each one)."""
        health = [self.health_check] if self.health_check is not None else []
        lists = [("preLaunch", "preLaunch", self.pre_launch), ("postLaunch", "postLaunch", self.post_launch)]
        lists.append(("healthCheck", "healthCheck", health))
        if self.failback is not None:
            lists.extend((f"failback.{key}", key, steps) for key, steps in self.failback.scripts)
        return lists


def apply_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """Copy `data` with the plan defaults written into every wave and script that leaves them out.

    An invalid default is not propagated (it is reported once, at `defaults`).
    """
    defaults = data.get("defaults")
    if not isinstance(defaults, dict):
        return data
    on_failure = defaults.get("onFailure", defaults.get("on_failure"))
    timeout = defaults.get("scriptTimeoutSeconds", defaults.get("script_timeout_seconds"))
    on_failure_ok = on_failure in {item.value for item in OnFailure}
    timeout_ok = (
        isinstance(timeout, int)
        and not isinstance(timeout, bool)
        and SCRIPT_TIMEOUT_MIN <= timeout <= SCRIPT_TIMEOUT_MAX
    )
    waves = data.get("waves")
    if not isinstance(waves, list) or not (on_failure_ok or timeout_ok):
        return data

    def script(raw: Any) -> Any:
        if _is_wait(raw):
            return raw  # a wait has no timeout: it ends when its seconds are over
        if timeout_ok and isinstance(raw, dict) and "timeoutSeconds" not in raw and "timeout_seconds" not in raw:
            return {**raw, "timeoutSeconds": timeout}
        return raw

    new_waves: list[Any] = []
    for wave in waves:
        if not isinstance(wave, dict):
            new_waves.append(wave)
            continue
        out = _map_wave_scripts(wave, script)
        if on_failure_ok and "onFailure" not in out and "on_failure" not in out:
            out["onFailure"] = on_failure
        new_waves.append(out)
    return {**data, "waves": new_waves}


def inherit_target(data: dict[str, Any]) -> dict[str, Any]:
    """Copy `data` with the plan's `target` written into every wave that sets none (so a loaded plan, and the frozen
    plan, names each wave's target itself). An invalid plan target is not copied (it is reported once, at `target`)."""
    target = data.get("target")
    waves = data.get("waves")
    if not isinstance(target, dict) or not isinstance(waves, list):
        return data
    try:
        Target.model_validate(target)
    except ValueError:
        return data
    filled = [
        {**wave, "target": target} if isinstance(wave, dict) and wave.get("target") is None else wave for wave in waves
    ]
    return {**data, "waves": filled}


class PlanFailback(_Model):
    """What a FAILBACK run of the plan does besides its waves (issue #15)."""

    reprotect: bool = Field(
        False,
        strict=True,
        description=(
            "After a completed failback, restart protection in the original direction (replication from the "
            "origin to the recovery side again) automatically. Default: the operator reprotects."
        ),
    )


class Plan(_Model):
    """A recovery plan: waves as a DAG (no dependencies at all means every wave starts at once)."""

    model_config = ConfigDict(title="DRS Orchestrator recovery plan")

    plan_id: str = Field(
        description="Unique plan id: letters, digits, '.', '_', '-'; at most 128.",
        json_schema_extra={"pattern": PLAN_ID_PATTERN},
    )
    name: str | None = None
    description: str | None = None
    version: Annotated[str | None, BeforeValidator(_scalar_to_str)] = None
    defaults: PlanDefaults = Field(default_factory=PlanDefaults)
    objectives: Objectives | None = Field(
        None,
        description="The plan's recovery objectives: its RTO is its last wave's, its RPO its worst server's.",
    )
    waves: list[Wave] = Field(default_factory=list)
    priority: int = Field(
        0,
        ge=-1000,
        le=1000,
        strict=True,  # `priority: yes` or "5" is a mistake to name, not a 1 or a 5
        description=(
            "Who goes first when DRS capacity is short (issue #19): among chunks ready to launch, those on the longest "
            "remaining dependency path of their plan (in waves) go first, then those of the plan with the higher "
            "priority, then "
            "the earlier ready. -1000 to 1000; default 0. A chunk that has waited the packer's starvation limit is "
            "overtaken by no one, whatever its priority."
        ),
    )

    target: Target | None = Field(
        None,
        description=(
            "The account and Region every wave without a target of its own recovers in (default: the "
            "orchestrator's own account and Region, no AssumeRole)."
        ),
    )
    failback: PlanFailback | None = Field(
        None,
        description="Failback options (a wave's own failback scripts are under that wave's `failback`).",
    )

    @model_validator(mode="before")
    @classmethod
    def _inherit_defaults(cls, data: Any) -> Any:
        return inherit_target(apply_defaults(data)) if isinstance(data, dict) else data

    @field_validator("plan_id")
    @classmethod
    def _plan_id(cls, value: str) -> str:
        if not _matches(PLAN_ID_PATTERN, value):
            msg = f"malformed plan id '{quote(value)}' (up to 128 letters, digits, '.', '_', '-'; starts alphanumeric)"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _graph(self, info: ValidationInfo) -> Plan:
        if isinstance(info.context, dict) and info.context.get(GRAPH_CHECKED):
            return self
        from orchestrator.domain.plan.graph import graph_problems
        from orchestrator.domain.plan.launch import launch_problems
        from orchestrator.domain.plan.selectors import selector_problems
        from orchestrator.domain.plan.target import target_problems

        waves = list(enumerate(self.waves))
        problems = [
            *graph_problems(plan_to_document(self)),
            *launch_problems(self.defaults, waves),
            *selector_problems(waves),
            *target_problems(waves),
        ]
        if problems:
            msg = "; ".join(f"{p.path}: {p.message}" if p.path else p.message for p in problems)
            raise ValueError(msg)
        return self

    @property
    def reprotects(self) -> bool:
        """Whether a completed failback of this plan restarts protection in the original direction by itself."""
        return self.failback is not None and self.failback.reprotect

    @property
    def wave_ids(self) -> list[str]:
        return [wave.wave_id for wave in self.waves]

    def wave(self, wave_id: str) -> Wave:
        for wave in self.waves:
            if wave.wave_id == wave_id:
                return wave
        msg = f"no wave '{wave_id}' in plan '{self.plan_id}'"
        raise KeyError(msg)


def plan_to_document(plan: Plan) -> dict[str, Any]:
    """The plan as a camelCase JSON-able dict that `parse_plan` reads back to an equal plan.

    Every default is written out, except a script's `targets` when it is the wave itself (the
    meaning of leaving `targets` out), and a WAIT step is its `type` and `seconds` alone.
    """
    document = plan.model_dump(by_alias=True, exclude_none=True, mode="json")
    for wave, model in zip(document["waves"], plan.waves, strict=True):
        for key in ("preLaunch", "postLaunch"):
            wave[key] = [step_document(script) for script in wave.get(key, [])]
        scripts = [*wave["preLaunch"], *wave["postLaunch"]]
        if "healthCheck" in wave:
            scripts.append(wave["healthCheck"])
        if model.failback is not None:  # its keys as given: a null one (none in failback) is not left out
            wave["failback"] = model.failback.document()
            for value in wave["failback"].values():
                scripts.extend(value if isinstance(value, list) else [value] if value is not None else [])
        for script in scripts:
            if script.get("targets") == {"wave": wave["waveId"]}:
                del script["targets"]
    return document


def step_document(dumped: dict[str, Any]) -> dict[str, Any]:
    """A dumped step as a plan writes it: a WAIT or LAMBDA step without the SSM fields' defaults it may not set."""
    if dumped.get("type") == ScriptType.WAIT.value:
        return {"type": ScriptType.WAIT.value, "seconds": dumped["seconds"]}
    if dumped.get("type") == ScriptType.LAMBDA.value:
        return {key: value for key, value in dumped.items() if key not in _NOT_FOR_LAMBDA}
    return dumped
