"""Which AWS operations each Lambda function (or CLI verb) makes in the local cloud, as the IAM actions they need.

The grant tests (tests/infra/test_grants_match_calls.py, test_cli_grants_match_calls.py) compare this record
with the IAM policies of the synthesized template: an action a function needs that its role does not grant would
fail on AWS while every local test passes (issue #13: `ssm:ListCommands`); the same for the CLI's verbs and the
policies the stack makes for their users.

Attribution: the local cloud runs each handler inside `invoking(name)` (a contextvar), and `CallRecord.install`
registers a botocore `provide-client-params` hook on the cloud's boto3 session, the one every adapter of the
functions' runtime is built on. A call made while no handler runs (the cloud's own set-up and loop, the test)
is not attributed, nor is one made inside `unattributed()` (the simulators' service events, which AWS
services publish themselves). The IAM action of an operation comes from botocore's service model: the
service's signing name (the IAM prefix; botocore falls back to the endpoint prefix) and the operation name.
A few operations are authorized by other or more actions than their own name, per the Service Authorization
Reference; `iam_actions` adds those (TransactWriteItems, tag-on-create, passing a role, a dependent action).

The CLI makes its own clients (`boto3.client(...)`, `boto3.session.Session()`), not on the cloud's session:
`CallRecord.everywhere()` records every client's calls while it runs, attributed the same way (the test runs
each verb inside `invoking("<verb>")`). A request to a Function URL is no botocore operation: whoever sends one
records `FUNCTION_URL_ACTIONS` with `CallRecord.note`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import botocore.handlers

_FUNCTION: ContextVar[str | None] = ContextVar("drs_orch_local_function", default=None)
HOOK_EVENT = "provide-client-params"  # every operation of every client of the session (hierarchical event)
HOOK_ID = "drs-orch-call-record"
# What Lambda authorizes a SigV4-signed request to an AWS_IAM Function URL against: both actions on the function,
# for URLs created since October 2025 (https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html).
FUNCTION_URL_ACTIONS = ("lambda:InvokeFunctionUrl", "lambda:InvokeFunction")

# DynamoDB authorizes a transaction per item by the item's own action; there is no TransactWriteItems or
# TransactGetItems IAM action (DynamoDB developer guide, "Using IAM with DynamoDB transactions").
_TRANSACT_WRITE_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


@contextmanager
def invoking(function: str) -> Iterator[None]:
    """Attribute the AWS calls made inside to `function` (a key of `infra.definitions.FUNCTIONS`, or a CLI verb)."""
    token = _FUNCTION.set(function)
    try:
        yield
    finally:
        _FUNCTION.reset(token)


@contextmanager
def unattributed() -> Iterator[None]:
    """Calls made inside belong to no function (a simulator acting as the AWS service it stands for)."""
    token = _FUNCTION.set(None)
    try:
        yield
    finally:
        _FUNCTION.reset(token)


def current_function() -> str | None:
    return _FUNCTION.get()


class PerFunction(MutableMapping[str, Any]):
    """A dict each function sees alone: on AWS every function has a process of its own, so what one caches
    (the SSM adapter's document parameters) another never sees, and reads itself. The local cloud runs all of
    them on one runtime; with this in such a cache, each function still makes its own first call, which the
    record then attributes to it."""

    def __init__(self) -> None:
        self._by_function: dict[str | None, dict[str, Any]] = {}

    def _mine(self) -> dict[str, Any]:
        return self._by_function.setdefault(_FUNCTION.get(), {})

    def __getitem__(self, key: str) -> Any:
        return self._mine()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._mine()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._mine()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._mine())

    def __len__(self) -> int:
        return len(self._mine())


def iam_action(operation_model: Any) -> str:
    """`prefix:Operation` from botocore's model (`ssm:ListCommands`, `states:StartExecution`)."""
    return f"{operation_model.service_model.signing_name}:{operation_model.name}"


# S3 operations whose IAM action is not their own name (Service Authorization Reference, Amazon S3: "Actions
# defined by Amazon S3", and the S3 user guide's "Required permissions for Amazon S3 API operations").
_S3_ACTIONS = {
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:ListObjects": "s3:ListBucket",
    "s3:HeadObject": "s3:GetObject",
    "s3:HeadBucket": "s3:ListBucket",
}


def iam_actions(operation_model: Any, params: Mapping[str, Any]) -> list[str]:
    """Every IAM action the call is authorized against, the operation's own first (sorted after it)."""
    action = iam_action(operation_model)
    action = _S3_ACTIONS.get(action, action)
    if action == "dynamodb:TransactWriteItems":
        kinds = {kind for item in params.get("TransactItems", []) for kind in item}
        return sorted(_TRANSACT_WRITE_ACTIONS[kind] for kind in kinds if kind in _TRANSACT_WRITE_ACTIONS)
    if action == "dynamodb:TransactGetItems":
        return ["dynamodb:GetItem"]
    if action == "lambda:Invoke":  # Lambda's Invoke is authorized by lambda:InvokeFunction (SAR, AWS Lambda)
        return ["lambda:InvokeFunction"]
    if action == "s3:HeadObject":  # S3 has no HeadObject action: it is authorized by s3:GetObject (S3 API reference)
        return ["s3:GetObject"]
    extra: set[str] = set()
    if action in {"drs:StartRecovery", "drs:CreateRecoveryPlan", "drs:CreateExtendedSourceServer"} and params.get(
        "tags"
    ):
        extra.add("drs:TagResource")  # tags on create are authorized by drs:TagResource (SAR, API operations)
    if action == "scheduler:CreateSchedule" and (params.get("Target") or {}).get("RoleArn"):
        extra.add("iam:PassRole")  # the schedule's execution role is passed to EventBridge Scheduler
    if action == "ssm:StartAutomationExecution" and "AutomationAssumeRole" in (params.get("Parameters") or {}):
        extra.add("iam:PassRole")  # the runbook's assume role is passed to SSM Automation
    if action == "drs:UpdateLaunchConfiguration":
        extra.add("ec2:DescribeInstances")  # its dependent action (SAR, AWS Elastic Disaster Recovery)
    return [action, *sorted(extra)]


class CallRecord:
    """function name -> the IAM actions its calls needed, over everything run since `install`."""

    def __init__(self, *, keep_params: bool = False) -> None:
        self._lock = threading.Lock()
        self._everywhere = False
        self.calls: dict[str, set[str]] = {}
        # with keep_params: (function or verb, IAM action, the call's parameters) of every attributed call, to
        # check the resources it names (the names a verb gives what it creates, against its policy's patterns)
        self.keep_params = keep_params
        self.params: list[tuple[str, str, dict[str, Any]]] = []

    def install(self, session: Any) -> None:
        """Record the calls of every client `session` (a boto3 Session) makes from now on (clients made
        before keep a copy of the session's handlers without this one: install before making clients)."""
        session.events.register(HOOK_EVENT, self._on_call, unique_id=HOOK_ID)

    @contextmanager
    def everywhere(self) -> Iterator[None]:
        """Record the calls of every client while the block runs, whatever session it is made on: botocore's
        built-in handlers reach each session made inside, and boto3's default session (made before, or inside:
        it outlives the block) is registered and unregistered by hand, as localcloud/botocore_hook.py does.
        A session made inside and kept after the block keeps the handler, inert once the block has ended."""
        import boto3

        handler = self._on_any_call
        entry = (HOOK_EVENT, handler)
        self._everywhere = True
        botocore.handlers.BUILTIN_HANDLERS.append(entry)
        default = boto3.DEFAULT_SESSION
        if default is not None:
            default._session.register(HOOK_EVENT, handler, unique_id=f"{HOOK_ID}-everywhere")
        try:
            yield
        finally:
            self._everywhere = False
            while entry in botocore.handlers.BUILTIN_HANDLERS:
                botocore.handlers.BUILTIN_HANDLERS.remove(entry)
            for session in {id(s): s for s in (default, boto3.DEFAULT_SESSION) if s is not None}.values():
                session._session.unregister(HOOK_EVENT, handler, unique_id=f"{HOOK_ID}-everywhere")
                session._session.unregister(HOOK_EVENT, handler)

    def _on_any_call(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        if self._everywhere:
            self._on_call(params, model)

    def note(self, actions: Sequence[str]) -> None:
        """Record `actions` for the function or verb running now (a request that is no botocore operation)."""
        function = _FUNCTION.get()
        if function is not None:
            with self._lock:
                self.calls.setdefault(function, set()).update(actions)

    def _on_call(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        self.note(iam_actions(model, params))
        function = _FUNCTION.get()
        if self.keep_params and function is not None:
            with self._lock:
                self.params.append((function, iam_action(model), dict(params)))

    def add(self, other: Mapping[str, set[str]] | Mapping[str, list[str]]) -> None:
        with self._lock:
            for function, actions in other.items():
                self.calls.setdefault(function, set()).update(actions)

    def pairs(self) -> list[tuple[str, str]]:
        """(function, action), sorted."""
        with self._lock:
            return sorted((function, action) for function, actions in self.calls.items() for action in actions)

    def to_json(self) -> dict[str, list[str]]:
        with self._lock:
            return {function: sorted(actions) for function, actions in sorted(self.calls.items())}

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def read(cls, path: Path) -> CallRecord:
        record = cls()
        data = json.loads(path.read_text())
        record.add({str(function): [str(a) for a in actions] for function, actions in data.items()})
        return record
