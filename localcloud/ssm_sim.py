"""An in-process SSM Run Command simulator served to boto3 ``ssm`` clients next to moto.

moto serves SSM parameters and the rest; this simulator answers only the Run Command operations
(:data:`localcloud.ssm_sim_wire.OPERATIONS`), each through its own ``before-send.ssm.<Operation>``
botocore event, which botocore calls before moto's generic ``before-send`` stubber. Responses are
JSON 1.1 and go through botocore's own parser. Everything runs on an injected clock: nothing sleeps
and no thread is started; each API call (and :meth:`SsmSimulator.advance`) first applies every
transition that is due, in time order, then answers.

Lifecycle of one invocation (one per target instance), with ``V`` = ``invocationVisibleAfterSeconds``:

- ``t0`` SendCommand: the invocation is ``Pending`` but invisible: GetCommandInvocation answers
  ``InvocationDoesNotExist`` and ListCommandInvocations omits it until ``t0 + V`` (as the real service).
- ``t0 + V``: an ``Online`` instance starts it (``InProgress``); it ends ``duration`` later as
  ``Success`` or ``Failed`` (document behaviour: ``status``/``failOn``), or as ``TimedOut``
  (StatusDetails ``ExecutionTimedOut``) once it has run for the execution timeout: the chosen step's
  ``timeoutSeconds`` input (e.g. ``{{ executionTimeout }}``), else the ``executionTimeout`` parameter,
  else 3600 s. A configured ``status: TimedOut`` runs until that execution timeout.
- An instance whose agent is not ``Online`` keeps the invocation ``Pending`` (re-checked every 5 s) until
  the command's ``TimeoutSeconds`` (default 3600) - the *delivery* timeout, as documented for
  SendCommand - expires: ``TimedOut`` with StatusDetails ``DeliveryTimedOut``.
- ``CancelCommand`` cancels every unfinished invocation at once (``Cancelled``); the command shows
  ``Cancelling`` only while some of its invocations are still unfinished, which cannot happen here.

Fidelity notes (where the choice is ours):

- Target instance ids unknown to the simulator (neither registered nor answered by the
  ``instance_resolver``): if *every* target is unknown, SendCommand fails with ``InvalidInstanceId``
  (what SSM answers for instances that are not managed nodes); otherwise the command is accepted and the
  unknown ones fail at ``t0 + V`` with Status ``Failed``, StatusDetails ``Undeliverable``.
- A recovery instance (resolved with its launch time) registers with SSM ``agentOnlineAfterSeconds`` after
  its launch: until then it is no managed node (SendCommand to it alone answers ``InvalidInstanceId``, the
  documented answer when "SSM Agent isn't registered with the SSM endpoint"; DescribeInstanceInformation
  omits it), afterwards it is Online.
- Tag targets (``tag:<key>``, ``tag-key``) resolve against registered instances only; a target that
  matches nothing gives a command with ``TargetCount`` 0, which is ``Success`` at once.
- A document whose steps' ``platformType`` preconditions (or declared platform types) exclude the
  instance's platform fails that invocation (``Failed``, stderr names the platform) rather than
  skipping every step silently.
- More than 50 InstanceIds, more than 5 Targets or both/neither of InstanceIds and Targets:
  ``ValidationException`` (botocore only checks list minimums client-side).
- Status-change events are emitted for terminal invocation statuses only ("EC2 Command Invocation
  Status-change Notification"); no "EC2 Command Status-change Notification" events. MaxConcurrency and
  MaxErrors are echoed but not enforced. Output goes nowhere but StandardOutputContent (<= 24,000 chars).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import random
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from botocore.awsrequest import AWSResponse

from localcloud.sim_base import ClockedSimulator, EventCallback
from localcloud.ssm_automation import AutomationEngine, ClientFactory
from localcloud.ssm_sim_config import InvocationOutcome, SsmDocumentBehavior, SsmSimConfig
from localcloud.ssm_sim_wire import (
    OPERATIONS,
    SsmError,
    current_simulator,
    error_response,
    event_names,
    install_globally,
    json_response,
    uninstall_globally,
)
from orchestrator.domain.clock import Clock, iso, parse_iso

__all__ = [
    "LIBRARY_DIR",
    "SsmDocumentBehavior",
    "SsmError",
    "SsmSimConfig",
    "SsmSimStats",
    "SsmSimulator",
    "current_simulator",
    "install_globally",
    "uninstall_globally",
]

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
LIBRARY_DIR = Path(__file__).resolve().parent.parent / "infra" / "ssm_documents"
INVOCATION_DETAIL_TYPE = "EC2 Command Invocation Status-change Notification"
MAX_INSTANCE_IDS = 50  # SendCommand InstanceIds max in the ssm model
MAX_TARGETS = 5  # SendCommand Targets max in the ssm model
MAX_OUTPUT = 24_000  # GetCommandInvocation returns at most this many characters of output
DEFAULT_TIMEOUT_SECONDS = 3600  # delivery timeout of a command without TimeoutSeconds
DEFAULT_EXECUTION_TIMEOUT = 3600
DELIVERY_RETRY = timedelta(seconds=5)
_PARAMETER_TYPES = {"String", "StringList", "Integer", "Boolean", "MapList", "StringMap"}
_TERMINAL = {"Success", "Failed", "TimedOut", "Cancelled"}
_PLATFORMS = {"Linux", "Windows", "MacOS"}
_PLATFORM_NAMES = {"Linux": "Amazon Linux", "Windows": "Microsoft Windows Server 2022 Datacenter", "MacOS": "macOS"}
_INSTANCE_KEYS = {"ping_status", "platform", "tags", "private_ip", "computer_name"}
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")

InstanceResolver = Callable[[str], dict[str, Any] | None]


@dataclass
class SsmSimStats:
    """Counters for tests and benchmarks."""

    calls: Counter[str] = field(default_factory=Counter)  # API calls per operation
    errors: Counter[str] = field(default_factory=Counter)  # error answers per code
    commands_sent: int = 0
    invocations: Counter[str] = field(default_factory=Counter)  # invocations per document
    max_instance_ids_per_call: int = 0  # largest number of targets of one SendCommand
    events_emitted: int = 0
    events_dropped: int = 0


@dataclass
class _Parameter:
    name: str
    type: str
    default: Any = None
    has_default: bool = False
    description: str = ""
    allowed_values: list[str] | None = None
    allowed_pattern: str | None = None
    env_var: bool = False  # interpolationType ENV_VAR: the agent also sets SSM_<name> to the value


@dataclass
class _Document:
    name: str
    parameters: dict[str, _Parameter]
    content: dict[str, Any]
    created: datetime
    accept_any: bool = False
    owner: str = ACCOUNT_ID
    platform_types: list[str] = field(default_factory=lambda: sorted(_PLATFORMS))
    text: str | None = None  # the YAML source, when loaded from a file
    document_type: str = (
        "Command"  # or Automation (a runbook: StartAutomationExecution runs it, SendCommand refuses it)
    )

    @property
    def description(self) -> str:
        return str(self.content.get("description", "")).strip()


@dataclass
class _Instance:
    instance_id: str
    ping_status: str
    platform: str
    tags: dict[str, str]
    private_ip: str
    computer_name: str
    registered: datetime


@dataclass
class _Invocation:
    command_id: str
    instance_id: str
    instance_name: str
    visible_at: datetime
    status: str = "Pending"
    status_details: str = "Pending"
    plugin: str = "aws:runShellScript"
    response_code: int = -1
    stdout: str = ""
    stderr: str = ""
    started: datetime | None = None
    ended: datetime | None = None
    outcome: str = "Success"  # Success | Failed | TimedOut, applied at the finish transition
    outcome_details: str = "Success"
    output: str | None = None  # what the instance writes to stdout (SsmDocumentBehavior.output), None: the default

    @property
    def terminal(self) -> bool:
        return self.status in _TERMINAL


@dataclass
class _Command:
    command_id: str
    document: _Document
    parameters: dict[str, list[str]]  # as sent
    effective: dict[str, list[str]]  # with defaults
    environment: dict[str, str]  # SSM_<name> of each ENV_VAR parameter, as the agent sets it for the steps
    instance_ids: list[str]
    targets: list[dict[str, Any]]
    comment: str
    requested: datetime
    timeout_seconds: int
    execution_timeout: int
    max_concurrency: str
    max_errors: str
    invocations: dict[str, _Invocation]
    cancel_requested: bool = False


@dataclass(order=True)
class _Transition:
    at: datetime
    seq: int
    kind: str = field(compare=False)  # deliver | finish
    command_id: str = field(compare=False)
    instance_id: str = field(compare=False)


class SsmSimulator(ClockedSimulator):
    """A clock-driven SSM Run Command service answering boto3 ``ssm`` clients in-process."""

    def __init__(
        self,
        clock: Clock,
        config: SsmSimConfig | None = None,
        *,
        on_event: EventCallback | None = None,
        instance_resolver: InstanceResolver | None = None,
        account_id: str = ACCOUNT_ID,
        region: str = REGION,
        aws_clients: ClientFactory | None = None,
    ) -> None:
        super().__init__(clock, on_event=on_event, account_id=account_id, region=region)
        self.config = config or SsmSimConfig()
        self.instance_resolver = instance_resolver
        self.stats = SsmSimStats()
        self._rng = random.Random(self.config.seed)
        self._behaviors: dict[str, SsmDocumentBehavior] = dict(self.config.documents)
        self._documents: dict[str, _Document] = {}
        self._instances: dict[str, _Instance] = {}
        self._commands: dict[str, _Command] = {}
        self._transitions: list[_Transition] = []
        self._events: list[dict[str, Any]] = []  # produced under the lock, delivered outside it
        self._register_builtins()
        # Automation runbooks: their aws:executeAwsApi steps call `aws_clients(service)` (default: boto3 clients,
        # moto's under the local cloud), their aws:runCommand steps this simulator's SendCommand
        self.automation = AutomationEngine(
            clock,
            account_id=account_id,
            region=region,
            emit=self._automation_event,
            clients=aws_clients,
            run_command=self,
            fail_steps={name: list(steps) for name, steps in self.config.automation_fail_steps.items()},
        )
        for instance_id, node in self.config.instances.items():
            self.register_instance(
                instance_id,
                ping_status=node.ping_status,
                platform=node.platform,
                tags=dict(node.tags),
                private_ip=node.private_ip,
            )

    # ------------------------------------------------------------------ wiring

    def attach(self, client: Any) -> Any:
        """Serve the Run Command operations of this one boto3 ``ssm`` client; returns the client."""
        for name in event_names():
            client.meta.events.register(name, self.handle, unique_id=f"ssm-simulator-{id(self)}-{name}")
        return client

    def install_globally(self) -> None:
        install_globally(self)

    # ------------------------------------------------------------------ documents

    def register_document(
        self,
        name: str,
        parameters: dict[str, dict[str, Any]],
        *,
        content: dict[str, Any] | None = None,
        platform_types: Iterable[str] | None = None,
        owner: str | None = None,
        text: str | None = None,
    ) -> None:
        """Add (or replace) a Command document and its parameter schema.

        ``parameters`` maps each name to ``{type, default?, description?, allowedValues?,
        allowedPattern?, interpolationType?}``; a parameter without ``default`` is required.
        ``interpolationType: ENV_VAR`` (schema 2.2, String parameters) is the only interpolation type.
        """
        schema = {pname: _parameter(name, pname, spec) for pname, spec in parameters.items()}
        body = dict(content or {})
        body.setdefault("schemaVersion", "2.2")
        body.setdefault("parameters", {pname: dict(spec) for pname, spec in parameters.items()})
        body.setdefault("mainSteps", [])
        platforms = sorted(platform_types) if platform_types is not None else _platforms_of(body)
        with self._lock:
            self._documents[name] = _Document(
                name=name,
                parameters=schema,
                content=body,
                created=self.clock.now(),
                owner=owner or self.account_id,
                platform_types=platforms,
                text=text,
            )

    def profile_documents(self) -> list[str]:
        """The documents only the profile defines (``ssm.documents`` names neither built in nor loaded from the
        library): the simulated account's own documents. DescribeDocument lists no parameter for them."""
        with self._lock:
            known = {name for name, document in self._documents.items() if not document.accept_any}
            return sorted(name for name in self.config.documents if name not in known)

    def load_library(self, directory: str | Path = LIBRARY_DIR) -> list[str]:
        """Register every ``*.yaml``/``*.yml`` document of ``directory`` (name = file stem): a Command document,
        or an Automation runbook (``schemaVersion: "0.3"``), which the Automation engine runs."""
        names: list[str] = []
        for path in sorted(Path(directory).iterdir()):
            if path.suffix not in (".yaml", ".yml"):
                continue
            text = path.read_text()
            content = yaml.safe_load(text)
            if not isinstance(content, dict) or "mainSteps" not in content:
                raise ValueError(f"{path}: not an SSM Command document (no mainSteps)")
            if str(content.get("schemaVersion")) == "0.3":
                self.register_runbook(path.stem, content)
                names.append(path.stem)
                continue
            self.register_document(path.stem, content.get("parameters") or {}, content=content, text=text)
            names.append(path.stem)
        return names

    def register_runbook(self, name: str, content: dict[str, Any]) -> None:
        """Add (or replace) an Automation runbook (schemaVersion 0.3, as a dict): see localcloud/ssm_automation.py."""
        declared = {pname: dict(spec or {}) for pname, spec in (content.get("parameters") or {}).items()}
        with self._lock:
            self.automation.register_runbook(name, content)
            self._documents[name] = _Document(
                name=name,
                parameters={
                    pname: _parameter(name, pname, {"type": "String", **spec}) for pname, spec in declared.items()
                },
                content=content,
                created=self.clock.now(),
                document_type="Automation",
            )

    def set_document_behavior(
        self,
        name: str,
        *,
        duration_seconds: float | None = None,
        status: InvocationOutcome | None = None,
        fail_on: Iterable[str] | None = None,
        output: str | None = None,
    ) -> None:
        """Change how later invocations of ``name`` behave (only the arguments given). ``output``: what each
        instance writes to stdout, byte for byte (a compromised instance's agent reports anything)."""
        with self._lock:
            current = self._behaviors.get(name, SsmDocumentBehavior())
            update: dict[str, Any] = {}
            if duration_seconds is not None:
                update["duration_seconds"] = duration_seconds
            if status is not None:
                update["status"] = status
            if fail_on is not None:
                update["fail_on"] = list(fail_on)
            if output is not None:
                update["output"] = output
            self._behaviors[name] = SsmDocumentBehavior.model_validate({**current.model_dump(), **update})

    # ------------------------------------------------------------------ instances

    def register_instance(
        self,
        instance_id: str,
        *,
        ping_status: str = "Online",
        platform: str = "Linux",
        tags: dict[str, str] | None = None,
        private_ip: str | None = None,
        computer_name: str | None = None,
    ) -> None:
        """Add (or update) a managed node; ``ping_status`` Online, ConnectionLost or Inactive."""
        with self._lock:
            self._instances[instance_id] = self._make_instance(
                instance_id,
                {
                    "ping_status": ping_status,
                    "platform": platform,
                    "tags": tags,
                    "private_ip": private_ip,
                    "computer_name": computer_name,
                },
            )

    def set_ping_status(self, instance_id: str, ping_status: str) -> None:
        with self._lock:
            instance = self._instances[instance_id]
            self._instances[instance_id] = self._make_instance(
                instance_id,
                {
                    "ping_status": ping_status,
                    "platform": instance.platform,
                    "tags": instance.tags,
                    "private_ip": instance.private_ip,
                    "computer_name": instance.computer_name,
                },
            )

    def _make_instance(
        self, instance_id: str, spec: dict[str, Any], *, registered: datetime | None = None
    ) -> _Instance:
        unknown = set(spec) - _INSTANCE_KEYS
        if unknown:
            raise ValueError(f"unknown instance attribute(s) {sorted(unknown)} for {instance_id}")
        ping = spec.get("ping_status") or "Online"
        platform = spec.get("platform") or "Linux"
        if ping not in ("Online", "ConnectionLost", "Inactive"):
            raise ValueError(f"ping_status must be Online, ConnectionLost or Inactive, not {ping!r}")
        if platform not in _PLATFORMS:
            raise ValueError(f"platform must be one of {sorted(_PLATFORMS)}, not {platform!r}")
        return _Instance(
            instance_id=instance_id,
            ping_status=ping,
            platform=platform,
            tags=dict(spec.get("tags") or {}),
            private_ip=spec.get("private_ip") or self._private_ip(instance_id),
            computer_name=spec.get("computer_name") or f"ip-{instance_id[-8:]}.ec2.internal",
            registered=registered or self.clock.now(),
        )

    def _instance(self, instance_id: str) -> _Instance | None:
        """A managed node: registered, or answered by the resolver. A resolved instance that says when it was
        launched (``launched_at``: a DRS recovery instance) is a managed node only once its agent is online,
        ``agent_online_after_seconds`` later: before that SSM does not know it (as a real agent that has not
        registered yet)."""
        known = self._instances.get(instance_id)
        if known is not None or self.instance_resolver is None:
            return known
        spec = self.instance_resolver(instance_id)
        if spec is None:
            return None
        spec = dict(spec)
        launched_at: datetime | None = spec.pop("launched_at", None)
        if launched_at is None:
            return self._make_instance(instance_id, spec)
        online_at = launched_at + timedelta(seconds=self.config.agent_online_after_seconds)
        if self.clock.now() < online_at:
            return None
        return self._make_instance(instance_id, spec, registered=online_at)

    # ------------------------------------------------------------------ time

    def next_due(self) -> datetime | None:
        """The next moment an invocation changes state (may be <= now when not yet processed)."""
        with self._lock:
            while self._transitions and self._stale(self._transitions[0]):
                heapq.heappop(self._transitions)
            due = [self._transitions[0].at] if self._transitions else []
            automation = self.automation.next_due()
            return min([*due, *([automation] if automation is not None else [])], default=None)

    # ------------------------------------------------------------------ botocore entry point

    def handle(self, request: Any, **_: Any) -> AWSResponse:
        """The ``before-send.ssm.<Operation>`` handler: answer one prepared request."""
        target = request.headers.get("X-Amz-Target", b"")
        if isinstance(target, bytes):
            target = target.decode()
        operation = target.rsplit(".", 1)[-1]
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        if isinstance(body, bytes | bytearray):
            body = body.decode()
        args: dict[str, Any] = json.loads(body) if body else {}
        with self._lock:
            self.stats.calls[operation] += 1
            request_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
            events = self._process_due()
            try:
                if operation not in OPERATIONS:
                    raise SsmError("ValidationException", f"The SSM simulator does not serve {operation}")
                result = getattr(self, f"_op_{operation}")(args)
                response = json_response(request.url, 200, result, {"x-amzn-RequestId": request_id})
            except SsmError as error:
                self.stats.errors[error.code] += 1
                response = error_response(request.url, error, request_id)
            events.extend(self._process_due())  # a command may complete at once (no targets)
        self._deliver(events)
        return response

    # ------------------------------------------------------------------ operations

    def _op_SendCommand(self, args: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        document = self._document(args["DocumentName"])
        if document.document_type != "Command":
            raise SsmError("InvalidDocument", f"{document.name} is an {document.document_type} document, not Command")
        version = args.get("DocumentVersion")
        if version not in (None, "$LATEST", "$DEFAULT", "1"):
            raise SsmError("InvalidDocumentVersion", f"Document {document.name} has no version {version}")
        sent: dict[str, list[str]] = {k: list(v) for k, v in (args.get("Parameters") or {}).items()}
        effective = _validate_parameters(document, sent)
        instance_ids = self._resolve_targets(args)
        self.stats.max_instance_ids_per_call = max(self.stats.max_instance_ids_per_call, len(instance_ids))
        resolved = {iid: self._instance(iid) for iid in instance_ids}
        if instance_ids and all(inst is None for inst in resolved.values()):
            raise SsmError(
                "InvalidInstanceId",
                f"Instances [{', '.join(instance_ids)}] not in a valid state for account {self.account_id}",
            )

        now = self.clock.now()
        command_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        visible_at = now + timedelta(seconds=self.config.invocation_visible_after_seconds)
        invocations: dict[str, _Invocation] = {}
        for iid in instance_ids:
            instance = resolved[iid]
            name = instance.tags.get("Name", "") if instance else ""
            invocations[iid] = _Invocation(command_id, iid, name, visible_at)
            self._schedule(visible_at, "deliver", command_id, iid)
        command = _Command(
            command_id=command_id,
            document=document,
            parameters=sent,
            effective=effective,
            environment=_environment(document, effective),
            instance_ids=list(args.get("InstanceIds") or []),
            targets=list(args.get("Targets") or []),
            comment=str(args.get("Comment") or ""),
            requested=now,
            timeout_seconds=int(args.get("TimeoutSeconds") or DEFAULT_TIMEOUT_SECONDS),
            execution_timeout=_execution_timeout((document.content.get("mainSteps") or [{}])[0], effective),
            max_concurrency=str(args.get("MaxConcurrency") or "50"),
            max_errors=str(args.get("MaxErrors") or "0"),
            invocations=invocations,
        )
        self._commands[command_id] = command
        self.stats.commands_sent += 1
        self.stats.invocations[document.name] += len(instance_ids)
        return {"Command": self._command_view(command)}

    def _op_GetCommandInvocation(self, args: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        command = self._commands.get(args["CommandId"])
        invocation = command.invocations.get(args["InstanceId"]) if command else None
        if command is None or invocation is None or self.clock.now() < invocation.visible_at:
            raise SsmError("InvocationDoesNotExist", "")  # the real service sends no message either
        plugin = args.get("PluginName")
        if plugin is not None and plugin != invocation.plugin:
            raise SsmError("InvalidPluginName", f"Plugin {plugin} is not part of command {command.command_id}")
        view: dict[str, Any] = {
            "CommandId": command.command_id,
            "InstanceId": invocation.instance_id,
            "Comment": command.comment,
            "DocumentName": command.document.name,
            "DocumentVersion": "1",
            "PluginName": invocation.plugin,
            "ResponseCode": invocation.response_code,
            "ExecutionStartDateTime": iso(invocation.started) if invocation.started else "",
            "ExecutionElapsedTime": _elapsed(invocation, self.clock.now()),
            "ExecutionEndDateTime": iso(invocation.ended) if invocation.ended else "",
            "Status": invocation.status,
            "StatusDetails": invocation.status_details,
            "StandardOutputContent": invocation.stdout[:MAX_OUTPUT],
            "StandardOutputUrl": "",
            "StandardErrorContent": invocation.stderr[:MAX_OUTPUT],
            "StandardErrorUrl": "",
            "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False},
        }
        return view

    def _op_ListCommandInvocations(self, args: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        now = self.clock.now()
        commands = self._select_commands(args, strict=False)
        matches = _command_filters(args.get("Filters") or [])
        instance_id = args.get("InstanceId")
        items = [
            (command, inv)
            for command in commands
            if matches(command, self._command_status(command))
            for inv in command.invocations.values()
            if now >= inv.visible_at and instance_id in (None, inv.instance_id)
        ]
        page, token = _page(items, args)
        details = bool(args.get("Details"))
        body: dict[str, Any] = {"CommandInvocations": [self._invocation_view(c, i, details=details) for c, i in page]}
        if token:
            body["NextToken"] = token
        return body

    def _op_ListCommands(self, args: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        commands = self._select_commands(args, strict=True)
        matches = _command_filters(args.get("Filters") or [])
        instance_id = args.get("InstanceId")
        items = [
            command
            for command in commands
            if matches(command, self._command_status(command)) and instance_id in (None, *command.invocations)
        ]
        page, token = _page(items, args)
        body: dict[str, Any] = {"Commands": [self._command_view(command) for command in page]}
        if token:
            body["NextToken"] = token
        return body

    def _op_CancelCommand(self, args: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        command = self._commands.get(args["CommandId"])
        if command is None:
            raise SsmError("InvalidCommandId", f"Command {args['CommandId']} does not exist")
        wanted = list(args.get("InstanceIds") or [])
        if len(wanted) != len(set(wanted)):
            raise SsmError("DuplicateInstanceId", "Instance ids must be unique")
        unknown = [iid for iid in wanted if iid not in command.invocations]
        if unknown:
            raise SsmError("InvalidInstanceId", f"Instances [{', '.join(unknown)}] are not targets of the command")
        now = self.clock.now()
        command.cancel_requested = True
        for iid in wanted or list(command.invocations):
            invocation = command.invocations[iid]
            if not invocation.terminal:
                self._terminate(command, invocation, now, "Cancelled", "Cancelled", -1, "", "")
        return {}

    def _op_DescribeInstanceInformation(self, args: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        conditions: list[tuple[str, list[str]]] = [
            (f["key"], list(f.get("valueSet") or [])) for f in args.get("InstanceInformationFilterList") or []
        ]
        conditions += [(f["Key"], list(f.get("Values") or [])) for f in args.get("Filters") or []]
        candidates = dict(self._instances)
        for key, values in conditions:
            if key == "InstanceIds":
                for iid in values:
                    if iid not in candidates and (found := self._instance(iid)) is not None:
                        candidates[iid] = found
        items = [inst for _, inst in sorted(candidates.items()) if _instance_matches(inst, conditions)]
        page, token = _page(items, args)
        body: dict[str, Any] = {"InstanceInformationList": [self._instance_view(inst) for inst in page]}
        if token:
            body["NextToken"] = token
        return body

    def _op_DescribeDocument(self, args: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        document = self._document(args["Name"])
        return {"Document": self._document_view(document)}

    def _op_GetDocument(self, args: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        document = self._document(args["Name"])
        fmt = args.get("DocumentFormat") or "JSON"
        if fmt == "YAML":
            content = document.text or yaml.safe_dump(document.content, sort_keys=False)
        else:
            content = json.dumps(document.content, indent=2)
        return {
            "Name": document.name,
            "CreatedDate": document.created.timestamp(),
            "DocumentVersion": "1",
            "Status": "Active",
            "Content": content,
            "DocumentType": document.document_type,
            "DocumentFormat": fmt,
        }

    # ------------------------------------------------------------------ lookups

    def _document(self, name: str) -> _Document:
        document = self._documents.get(name)
        if document is not None:
            return document
        if name in self._behaviors:  # profile-only document: accepts any parameters
            document = _Document(
                name=name,
                parameters={},
                content={"schemaVersion": "2.2", "description": "simulated (profile)", "mainSteps": []},
                created=self.clock.now(),
                accept_any=True,
            )
            self._documents[name] = document
            return document
        raise SsmError("InvalidDocument", f"Document {name} does not exist in your account")

    def _resolve_targets(self, args: dict[str, Any]) -> list[str]:
        """The managed nodes a SendCommand names: its InstanceIds, or the nodes every one of its Targets matches."""
        instance_ids: list[str] = list(args.get("InstanceIds") or [])
        targets: list[dict[str, Any]] = list(args.get("Targets") or [])
        _check_targets(instance_ids, targets)
        if instance_ids:
            return instance_ids
        selected: list[str] | None = None
        for target in targets:
            matched = self._matching(target)
            selected = matched if selected is None else [i for i in selected if i in matched]
        return selected or []

    def _matching(self, target: dict[str, Any]) -> list[str]:
        """The managed nodes one target matches (InstanceIds, tag:NAME or tag-key), in id order."""
        key, values = str(target.get("Key", "")), list(target.get("Values") or [])
        if len(values) > MAX_INSTANCE_IDS:
            raise SsmError("ValidationException", f"At most {MAX_INSTANCE_IDS} values per target")
        if key == "InstanceIds":
            return list(dict.fromkeys(values))
        if key.startswith("tag:"):
            tag = key[4:]
            return [i for i, inst in sorted(self._instances.items()) if inst.tags.get(tag) in values]
        if key == "tag-key":
            return [i for i, inst in sorted(self._instances.items()) if set(values) & set(inst.tags)]
        raise SsmError("ValidationException", f"The SSM simulator does not support target key {key}")

    def _select_commands(self, args: dict[str, Any], *, strict: bool) -> list[_Command]:
        command_id = args.get("CommandId")
        if command_id is None:
            return sorted(self._commands.values(), key=lambda c: c.requested, reverse=True)
        command = self._commands.get(command_id)
        if command is None:
            if strict:
                raise SsmError("InvalidCommandId", f"Command {command_id} does not exist")
            return []
        return [command]

    def _op_StartAutomationExecution(self, args: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return self.automation.start(args)

    def _op_GetAutomationExecution(self, args: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return self.automation.get(args)

    def _op_StopAutomationExecution(self, args: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return self.automation.stop(args)

    def _op_DescribeAutomationExecutions(self, args: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return self.automation.describe(args)

    # ------------------------------------------------------------------ aws:runCommand (the engine's RunCommand)

    def start_command(self, document: str, parameters: dict[str, list[str]], instance_ids: list[str]) -> str:
        """SendCommand on behalf of an automation step (called under the lock). Raises SsmError as SendCommand."""
        args = {"DocumentName": document, "Parameters": parameters, "InstanceIds": instance_ids}
        return str(self._op_SendCommand(args)["Command"]["CommandId"])

    def command_state(self, command_id: str) -> tuple[str, str]:
        """(status, the invocations' output) of a command an automation step sent."""
        command = self._commands[command_id]
        output = "\n".join(inv.stdout for inv in command.invocations.values() if inv.stdout)
        return self._command_status(command), output

    def cancel_command(self, command_id: str) -> None:
        self._op_CancelCommand({"CommandId": command_id})

    def _automation_event(self, event: dict[str, Any]) -> None:
        """An Automation status change, delivered with the invocation events (or dropped, as they are)."""
        if self.config.events == "drop":
            self.stats.events_dropped += 1
            return
        self.stats.events_emitted += 1
        self._events.append(event)

    # ------------------------------------------------------------------ transitions

    def _schedule(self, at: datetime, kind: str, command_id: str, instance_id: str) -> None:
        self._seq += 1
        heapq.heappush(self._transitions, _Transition(at, self._seq, kind, command_id, instance_id))

    def _stale(self, step: _Transition) -> bool:
        invocation = self._commands[step.command_id].invocations[step.instance_id]
        if invocation.terminal:
            return True
        return (step.kind == "finish") != (invocation.status == "InProgress")

    def _process_due(self) -> list[dict[str, Any]]:
        now = self.clock.now()
        while self._transitions and self._transitions[0].at <= now:
            step = heapq.heappop(self._transitions)
            if self._stale(step):
                continue
            command = self._commands[step.command_id]
            invocation = command.invocations[step.instance_id]
            if step.kind == "deliver":
                self._deliver_invocation(command, invocation, step.at)
            else:
                self._finish(command, invocation, step.at)
        self.automation.process_due()  # after the invocations: an aws:runCommand step sees them as of now
        events, self._events = self._events, []
        return events

    def _deliver_invocation(self, command: _Command, invocation: _Invocation, at: datetime) -> None:
        instance = self._instance(invocation.instance_id)
        name = command.document.name
        if instance is None:
            message = f"Undeliverable: instance {invocation.instance_id} is not a managed node"
            self._terminate(command, invocation, at, "Failed", "Undeliverable", -1, "", message)
            return
        if instance.ping_status != "Online":
            deadline = command.requested + timedelta(seconds=command.timeout_seconds)
            if at >= deadline:
                message = f"delivery timed out: instance {instance.instance_id} is {instance.ping_status}"
                self._terminate(command, invocation, at, "TimedOut", "DeliveryTimedOut", -1, "", message)
            else:
                self._schedule(min(at + DELIVERY_RETRY, deadline), "deliver", command.command_id, instance.instance_id)
            return
        step = _step_for(command.document, instance.platform)
        if step is None:
            message = f"{name} has no step for platform {instance.platform} (UnsupportedPlatformType)"
            self._terminate(command, invocation, at, "Failed", "Failed", 1, "", message)
            return
        invocation.plugin = str(step.get("name") or step.get("action") or "aws:runShellScript")
        execution_timeout = _execution_timeout(step, command.effective)
        behavior = self._behaviors.get(name, SsmDocumentBehavior())
        duration = (
            behavior.duration_seconds if behavior.duration_seconds is not None else self.config.default_duration_seconds
        )
        outcome: str = "Failed" if instance.instance_id in behavior.fail_on else behavior.status
        if outcome == "TimedOut" or duration > execution_timeout:
            outcome, duration = "TimedOut", float(execution_timeout)
        invocation.status = invocation.status_details = "InProgress"
        invocation.started = at
        invocation.outcome = outcome
        invocation.outcome_details = {"TimedOut": "ExecutionTimedOut"}.get(outcome, outcome)
        invocation.output = behavior.output
        self._schedule(at + timedelta(seconds=duration), "finish", command.command_id, instance.instance_id)

    def _finish(self, command: _Command, invocation: _Invocation, at: datetime) -> None:
        where = f"{command.document.name} on {invocation.instance_id}"
        written = invocation.output  # what the instance wrote, when the behaviour says (else the defaults)
        if invocation.outcome == "Success":
            stdout = f"ok: {where}" if written is None else written
            self._terminate(command, invocation, at, "Success", "Success", 0, stdout, "")
        elif invocation.outcome == "Failed":
            stdout = written or ""
            self._terminate(command, invocation, at, "Failed", "Failed", 1, stdout, f"failed: {where} (simulated)")
        else:
            seconds = int((at - (invocation.started or at)).total_seconds())
            message = f"timed out: {where} after {seconds}s (simulated)"
            self._terminate(command, invocation, at, "TimedOut", invocation.outcome_details, -1, "", message)

    def _terminate(
        self,
        command: _Command,
        invocation: _Invocation,
        at: datetime,
        status: str,
        details: str,
        code: int,
        stdout: str,
        stderr: str,
    ) -> None:
        invocation.status, invocation.status_details = status, details
        invocation.response_code = code
        invocation.stdout, invocation.stderr = stdout[:MAX_OUTPUT], stderr[:MAX_OUTPUT]
        invocation.ended = at
        if self.config.events == "drop":
            self.stats.events_dropped += 1
            return
        self.stats.events_emitted += 1
        self._events.append(
            {
                "Source": "aws.ssm",
                "DetailType": INVOCATION_DETAIL_TYPE,
                "Resources": [f"arn:aws:ec2:{self.region}:{self.account_id}:instance/{invocation.instance_id}"],
                "Time": at,
                "Detail": json.dumps(
                    {
                        "command-id": command.command_id,
                        "document-name": command.document.name,
                        "instance-id": invocation.instance_id,
                        "requested-date-time": iso(command.requested),
                        "status": status,
                    }
                ),
            }
        )

    # ------------------------------------------------------------------ views

    def _command_status(self, command: _Command) -> str:
        statuses = [inv.status for inv in command.invocations.values()]
        if all(status in _TERMINAL for status in statuses):
            for verdict in ("Cancelled", "Failed", "TimedOut"):
                if verdict in statuses:
                    return verdict
            return "Success"
        if command.cancel_requested:
            return "Cancelling"
        if any(status != "Pending" for status in statuses):
            return "InProgress"
        return "Pending"

    def _command_view(self, command: _Command) -> dict[str, Any]:
        invocations = list(command.invocations.values())
        status = self._command_status(command)
        expires = command.requested + timedelta(seconds=command.timeout_seconds + command.execution_timeout)
        return {
            "CommandId": command.command_id,
            "DocumentName": command.document.name,
            "DocumentVersion": "$DEFAULT",
            "Comment": command.comment,
            "ExpiresAfter": expires.timestamp(),
            "Parameters": command.parameters,
            "InstanceIds": command.instance_ids,
            "Targets": command.targets,
            "RequestedDateTime": command.requested.timestamp(),
            "Status": status,
            "StatusDetails": status,
            "OutputS3Region": self.region,
            "OutputS3BucketName": "",
            "OutputS3KeyPrefix": "",
            "MaxConcurrency": command.max_concurrency,
            "MaxErrors": command.max_errors,
            "TargetCount": len(invocations),
            "CompletedCount": sum(1 for inv in invocations if inv.terminal),
            "ErrorCount": sum(
                1 for inv in invocations if inv.status == "Failed" or inv.status_details == "ExecutionTimedOut"
            ),
            "DeliveryTimedOutCount": sum(1 for inv in invocations if inv.status_details == "DeliveryTimedOut"),
            "ServiceRole": "",
            "NotificationConfig": {"NotificationArn": "", "NotificationEvents": [], "NotificationType": ""},
            "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False},
            "TimeoutSeconds": command.timeout_seconds,
        }

    def _invocation_view(self, command: _Command, inv: _Invocation, *, details: bool) -> dict[str, Any]:
        view: dict[str, Any] = {
            "CommandId": command.command_id,
            "InstanceId": inv.instance_id,
            "InstanceName": inv.instance_name,
            "Comment": command.comment,
            "DocumentName": command.document.name,
            "DocumentVersion": "$DEFAULT",
            "RequestedDateTime": command.requested.timestamp(),
            "Status": inv.status,
            "StatusDetails": inv.status_details,
            "TraceOutput": "",
            "StandardOutputUrl": "",
            "StandardErrorUrl": "",
            "CommandPlugins": [],
            "ServiceRole": "",
            "NotificationConfig": {"NotificationArn": "", "NotificationEvents": [], "NotificationType": ""},
            "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False},
        }
        if details:
            plugin: dict[str, Any] = {
                "Name": inv.plugin,
                "Status": "Cancelled" if inv.status == "Cancelled" else inv.status,
                "StatusDetails": inv.status_details,
                "ResponseCode": inv.response_code,
                "Output": (inv.stdout + inv.stderr)[:2500],  # ListCommandInvocations truncates at 2,500
                "StandardOutputUrl": "",
                "StandardErrorUrl": "",
                "OutputS3Region": self.region,
                "OutputS3BucketName": "",
                "OutputS3KeyPrefix": "",
            }
            if inv.started:
                plugin["ResponseStartDateTime"] = inv.started.timestamp()
            if inv.ended:
                plugin["ResponseFinishDateTime"] = inv.ended.timestamp()
            view["CommandPlugins"] = [plugin]
        return view

    def _instance_view(self, inst: _Instance) -> dict[str, Any]:
        return {
            "InstanceId": inst.instance_id,
            "PingStatus": inst.ping_status,
            "LastPingDateTime": self.clock.now().timestamp(),
            "AgentVersion": "3.3.1142.0",
            "IsLatestVersion": True,
            "PlatformType": inst.platform,
            "PlatformName": _PLATFORM_NAMES[inst.platform],
            "PlatformVersion": "2023" if inst.platform == "Linux" else "10.0.20348",
            "ResourceType": "EC2Instance",
            "IPAddress": inst.private_ip,
            "ComputerName": inst.computer_name,
            "RegistrationDate": inst.registered.timestamp(),
            "SourceId": inst.instance_id,
            "SourceType": "AWS::EC2::Instance",
        }

    def _document_view(self, document: _Document) -> dict[str, Any]:
        digest = hashlib.sha256(json.dumps(document.content, sort_keys=True).encode()).hexdigest()
        return {
            "Hash": digest,
            "HashType": "Sha256",
            "Name": document.name,
            "Owner": document.owner,
            "CreatedDate": document.created.timestamp(),
            "Status": "Active",
            "DocumentVersion": "1",
            "Description": document.description,
            "Parameters": [
                {
                    "Name": p.name,
                    "Type": p.type if p.type in ("String", "StringList") else "String",
                    "Description": p.description,
                    **({"DefaultValue": _default_text(p.default)} if p.has_default else {}),
                }
                for p in document.parameters.values()
            ],
            "PlatformTypes": document.platform_types,
            "DocumentType": document.document_type,
            "SchemaVersion": str(document.content.get("schemaVersion", "2.2")),
            "LatestVersion": "1",
            "DefaultVersion": "1",
            "DocumentFormat": "YAML" if document.text is not None else "JSON",
            "Tags": [],
        }

    # ------------------------------------------------------------------ helpers

    def _private_ip(self, instance_id: str) -> str:
        digest = hashlib.sha256(instance_id.encode()).digest()
        return f"10.{digest[0]}.{digest[1]}.{max(digest[2], 4)}"

    def _register_builtins(self) -> None:
        common = {
            "commands": {"type": "StringList", "description": "Commands to run."},
            "workingDirectory": {"type": "String", "default": "", "description": "Working directory."},
            "executionTimeout": {
                "type": "String",
                "default": "3600",
                "description": "Seconds a command may run before it is considered failed.",
                "allowedPattern": "([1-9][0-9]{0,4})|(1[0-6][0-9]{4})|(17[0-1][0-9]{3})|(172[0-7][0-9]{2})|(172800)",
            },
        }
        for name, action, platforms in (
            ("AWS-RunShellScript", "aws:runShellScript", ["Linux", "MacOS"]),
            ("AWS-RunPowerShellScript", "aws:runPowerShellScript", ["Linux", "MacOS", "Windows"]),
        ):
            step = {
                "action": action,
                "name": action.split(":", 1)[1],
                "inputs": {
                    "runCommand": "{{ commands }}",
                    "workingDirectory": "{{ workingDirectory }}",
                    "timeoutSeconds": "{{ executionTimeout }}",
                },
            }
            self.register_document(
                name,
                common,
                content={"schemaVersion": "2.2", "description": f"Run commands ({action}).", "mainSteps": [step]},
                platform_types=platforms,
                owner="Amazon",
            )


# ---------------------------------------------------------------------- module helpers


def _parameter(document: str, name: str, spec: dict[str, Any]) -> _Parameter:
    if not isinstance(spec, dict) or "type" not in spec:
        raise ValueError(f"document {document}: parameter {name} needs a type")
    kind = str(spec["type"])
    if kind not in _PARAMETER_TYPES:
        raise ValueError(f"document {document}: parameter {name} has unsupported type {kind}")
    allowed = spec.get("allowedValues")
    interpolation = spec.get("interpolationType")
    if interpolation not in (None, "ENV_VAR"):
        raise ValueError(f"document {document}: parameter {name} has unsupported interpolationType {interpolation}")
    if interpolation and kind != "String":
        raise ValueError(f"document {document}: parameter {name}: interpolationType ENV_VAR needs a String")
    pattern = spec.get("allowedPattern")
    if pattern is not None:
        re.compile(_agent_pattern(str(pattern)))  # a pattern that does not compile is refused at registration
    return _Parameter(
        name=name,
        type=kind,
        default=spec.get("default"),
        has_default="default" in spec,
        description=str(spec.get("description", "")),
        allowed_values=[str(v) for v in allowed] if allowed is not None else None,
        allowed_pattern=pattern,
        env_var=interpolation == "ENV_VAR",
    )


def _check_targets(instance_ids: list[str], targets: list[dict[str, Any]]) -> None:
    """SendCommand's rules on InstanceIds and Targets: exactly one of them, each within its size limit, no
    instance twice (the errors SSM answers with)."""
    if bool(instance_ids) == bool(targets):
        raise SsmError("ValidationException", "Specify exactly one of InstanceIds and Targets")
    if len(instance_ids) > MAX_INSTANCE_IDS:
        raise SsmError(
            "ValidationException",
            "1 validation error detected: Value at 'instanceIds' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_INSTANCE_IDS}",
        )
    if len(targets) > MAX_TARGETS:
        raise SsmError(
            "ValidationException",
            "1 validation error detected: Value at 'targets' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_TARGETS}",
        )
    if len(instance_ids) != len(set(instance_ids)):
        raise SsmError("DuplicateInstanceId", "Instance ids must be unique")


def _validate_parameters(document: _Document, sent: dict[str, list[str]]) -> dict[str, list[str]]:
    """Check ``sent`` against the document's schema; returns the values with defaults filled in."""
    if document.accept_any:
        return dict(sent)
    declared = document.parameters
    undeclared = sorted(set(sent) - set(declared))
    if undeclared:
        raise SsmError(
            "InvalidParameters",
            f"Parameter(s) {', '.join(undeclared)} not declared by document {document.name} "
            f"(declared: {', '.join(sorted(declared)) or 'none'})",
        )
    missing = sorted(name for name, p in declared.items() if not p.has_default and name not in sent)
    if missing:
        raise SsmError(
            "InvalidParameters",
            f"Document {document.name} requires parameter(s) {', '.join(missing)}",
        )
    effective: dict[str, list[str]] = {}
    for name, param in declared.items():
        if name not in sent:
            default = param.default
            effective[name] = [str(v) for v in default] if isinstance(default, list) else [_default_text(default)]
            continue
        values = sent[name]
        if param.type in ("String", "Integer", "Boolean") and len(values) != 1:
            raise SsmError("InvalidParameters", f"Parameter {name} of type {param.type} takes exactly one value")
        for value in values:
            _check_value(document.name, param, value)
        effective[name] = values
    return effective


def _check_value(document: str, param: _Parameter, value: str) -> None:
    problem = None
    if param.type == "Integer" and not re.fullmatch(r"-?[0-9]+", value):
        problem = "is not an Integer"
    elif param.type == "Boolean" and value not in ("true", "false"):
        problem = "is not a Boolean"
    elif param.allowed_values is not None and value not in param.allowed_values:
        problem = f"is not one of {param.allowed_values}"
    elif param.allowed_pattern is not None and not _admits(param.allowed_pattern, value):
        problem = f"does not match {param.allowed_pattern}"
    if problem:
        raise SsmError(
            "InvalidParameters",
            f"Parameter {param.name} of document {document}: value {value!r} {problem}",
        )


def _admits(pattern: str, value: str) -> bool:
    r"""Whether ``allowedPattern`` admits ``value`` as the SSM Agent decides it (see ``_agent_pattern``; Go's
    ``\d``, ``\w``, ``\s`` are ASCII classes, hence ``re.ASCII``)."""
    return re.search(_agent_pattern(pattern), value, re.ASCII) is not None


def _agent_pattern(pattern: str) -> str:
    r"""``pattern`` for Python's ``re.search`` with the meaning the SSM Agent gives it: Go's
    ``regexp.MatchString`` (a match anywhere, unless anchored), where ``$`` outside a class is the end of the text.
    Python's ``$`` also matches before a final newline, so ``^[a-z]+$`` would admit ``"abc\n"``: each such
    ``$`` becomes ``\Z``. (The agent checks allowedPattern on the instance before it runs a step; the service's
    own check, at SendCommand, is not documented further, hence the agent's rules.)"""
    out: list[str] = []
    in_class = escaped = False
    for i, char in enumerate(pattern):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]" or pattern[i - 1] == "["
        elif char == "[":
            in_class = True
        elif char == "$":
            out.append("\\Z")
            continue
        out.append(char)
    return "".join(out)


def _environment(document: _Document, effective: dict[str, list[str]]) -> dict[str, str]:
    """The environment the agent gives a command's steps: ``SSM_<name>`` = the value, for each parameter declared
    with ``interpolationType: ENV_VAR`` (SSM Agent 3.3.2746.0 and later; an older agent ignores it)."""
    return {
        f"SSM_{name}": effective[name][0]
        for name, param in document.parameters.items()
        if param.env_var and effective.get(name)
    }


def _default_text(default: Any) -> str:
    if default is None:
        return ""
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, list | dict):
        return json.dumps(default)
    return str(default)


def _platforms_of(content: dict[str, Any]) -> list[str]:
    found: set[str] = set()
    for step in content.get("mainSteps") or []:
        platform = _precondition_platform(step)
        if platform is None:
            return sorted(_PLATFORMS)
        found.add(platform)
    return sorted(found) if found else sorted(_PLATFORMS)


def _precondition_platform(step: dict[str, Any]) -> str | None:
    condition = (step.get("precondition") or {}).get("StringEquals")
    if isinstance(condition, list) and len(condition) == 2 and condition[0] == "platformType":
        return str(condition[1])
    return None


def _step_for(document: _Document, platform: str) -> dict[str, Any] | None:
    """The first step that runs on ``platform`` (None: the document cannot run there)."""
    if platform not in document.platform_types:
        return None
    steps: list[dict[str, Any]] = document.content.get("mainSteps") or []
    if not steps:  # profile-only and bare registered documents
        return {"name": "aws:runShellScript" if platform != "Windows" else "aws:runPowerShellScript"}
    for step in steps:
        wanted = _precondition_platform(step)
        if wanted is None or wanted == platform:
            return step
    return None


def _execution_timeout(step: dict[str, Any], values: dict[str, list[str]]) -> int:
    raw = (step.get("inputs") or {}).get("timeoutSeconds")
    if raw is None and "executionTimeout" in values:
        raw = values["executionTimeout"][0]
    if raw is None:
        return DEFAULT_EXECUTION_TIMEOUT
    text = _PLACEHOLDER.sub(lambda m: (values.get(m.group(1)) or [""])[0], str(raw)).strip()
    return int(text) if text.isdigit() and int(text) > 0 else DEFAULT_EXECUTION_TIMEOUT


def _elapsed(invocation: _Invocation, now: datetime) -> str:
    if invocation.started is None:
        return "PT0S"
    end = invocation.ended or now
    return f"PT{(end - invocation.started).total_seconds():.3f}S"


def _command_filters(filters: list[dict[str, Any]]) -> Callable[[_Command, str], bool]:
    """A predicate over (command, command status) for ListCommands/ListCommandInvocations filters."""
    conditions: list[tuple[str, str]] = []
    for item in filters:
        key, value = str(item["key"]), str(item["value"])
        if key not in ("Status", "DocumentName", "InvokedAfter", "InvokedBefore"):
            raise SsmError("InvalidFilterKey", f"The SSM simulator does not support filter key {key}")
        conditions.append((key, value))

    def matches(command: _Command, status: str) -> bool:
        for key, value in conditions:
            if key == "Status":
                ok = status == value
            elif key == "DocumentName":
                ok = command.document.name == value
            elif key == "InvokedAfter":
                ok = command.requested >= parse_iso(value)
            else:
                ok = command.requested <= parse_iso(value)
            if not ok:
                return False
        return True

    return matches


def _instance_matches(inst: _Instance, conditions: list[tuple[str, list[str]]]) -> bool:
    for key, values in conditions:
        if key == "InstanceIds":
            ok = inst.instance_id in values
        elif key == "PingStatus":
            ok = inst.ping_status in values
        elif key in ("PlatformTypes", "PlatformType"):
            ok = inst.platform in values
        elif key == "ResourceType":
            ok = "EC2Instance" in values
        elif key.startswith("tag:"):
            ok = inst.tags.get(key[4:]) in values
        elif key == "tag-key":
            ok = bool(set(values) & set(inst.tags))
        else:
            raise SsmError("InvalidFilterKey", f"The SSM simulator does not support filter key {key}")
        if not ok:
            return False
    return True


def _page(items: list[Any], args: dict[str, Any]) -> tuple[list[Any], str | None]:
    size = int(args.get("MaxResults") or 50)
    token = args.get("NextToken")
    try:
        start = int(token) if token else 0
    except ValueError as exc:
        raise SsmError("InvalidNextToken", "The specified token is not valid") from exc
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)
