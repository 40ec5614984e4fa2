"""What the end-to-end and chaos tests share: plan builders, ledger/event readers and the invariants
every run must keep, whatever the faults."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

import pytest

from localcloud.cloud import LocalCloud, PublishedEvent
from localcloud.lambda_runtime import ACCOUNT, REGION, function_arn
from orchestrator import observability
from orchestrator.domain.clock import iso, parse_iso
from orchestrator.steps.operator_proof import PROOF_FIELD, proof_message

TERMINAL_EXECUTION = {"COMPLETED", "FAILED", "CANCELLED"}


#: The approvers of the tests' gated waves: every session of the DROps role of the local cloud's account.
DROPS = "arn:aws:iam::123456789012:role/DROps"


def session(name: str, role: str = "DROps") -> str:
    """The verified caller ARN of a session `name` of `role` in the local cloud's account."""
    return f"arn:aws:sts::123456789012:assumed-role/{role}/{name}"


ALICE = session("alice")  # a session of DROps: an approver
MALLORY = session("mallory", role="Developers")  # authenticated by AWS, but no approver and no recovery principal


def envelope(detail_type: str, detail: dict[str, Any], source: str) -> dict[str, Any]:
    """An EventBridge event as a rule would deliver it (what a direct Lambda Invoke may hand any function)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": "2026-01-01T09:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": detail,
    }


def command(cloud: LocalCloud, detail_type: str, detail: dict[str, Any], *, by: str = "ops") -> str:
    """Send an operator command through the operator endpoint (as `drs-orch ... --aws` does) as `by`: an ARN,
    or a session name of the DROps role. The endpoint must accept it (it publishes the command on the bus, with
    the caller's ARN as requestedBy); returns that ARN."""
    caller = by if by.startswith("arn:") else session(by)
    reply = cloud.operate(detail_type, detail, caller=caller)
    assert reply.accepted, (reply.status, reply.body)
    return caller


def signed(cloud: LocalCloud, detail_type: str, detail: dict[str, Any], command_id: str) -> dict[str, Any]:
    """`detail` with the proof the operator function would sign it with (its KMS key, now): for tests that play
    the operator function's role itself sending a command that does not fit (the control function still checks
    everything). Any detail, malformed ones too: signed as a dict, as it is published."""
    assert cloud.runtime is not None
    assert cloud.runtime.mac is not None
    proven = {**detail, PROOF_FIELD: {"commandId": command_id, "issuedAt": iso(cloud.clock.now())}}
    proven[PROOF_FIELD]["mac"] = cloud.runtime.mac.generate(proof_message(detail_type, proven))
    return proven


def count_metrics(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every metric the functions count from now on (InvalidEvents, ...), by name."""
    counted: Counter[str] = Counter()
    add_metric = observability.metrics.add_metric

    def counting(*, name: str, **kwargs: Any) -> None:
        counted[name] += int(kwargs.get("value", 1))
        add_metric(name=name, **kwargs)

    monkeypatch.setattr(observability.metrics, "add_metric", counting)
    return counted


def invoke(cloud: LocalCloud, function: str, payload: Any) -> dict[str, Any]:
    """Lambda Invoke, synchronous, as a caller with lambda:InvokeFunction would: the function's answer."""
    response = cloud.session.client("lambda").invoke(FunctionName=function_arn(function), Payload=json.dumps(payload))
    assert "FunctionError" not in response, response["Payload"].read()
    answer: dict[str, Any] = json.loads(response["Payload"].read())
    return answer


def sid(prefix: str, n: int) -> str:
    """A well-formed DRS source server id: 's-' and 17 alphanumerics."""
    body = f"{prefix}{n}"
    return "s-" + body.rjust(17, "0")


def allowing(*documents: str) -> dict[str, Any]:
    """Profile override: the deploy allows these SSM documents besides the project's own (`DRSOrch-*`). The
    deployed default allows only those; a test that runs AWS-RunShellScript says so (and lists the profile's own
    documents it runs too: an explicit allow-list replaces the default)."""
    return {"ssm.allowedDocuments": ["DRSOrch-*", *documents]}


def wave(wave_id: str, servers: list[Any], depends_on: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"waveId": wave_id, "servers": servers, **({"dependsOn": depends_on} if depends_on else {}), **extra}


# ---- reading the run ---------------------------------------------------------------------------


def ledger_waves(cloud: LocalCloud, execution_id: str) -> dict[str, dict[str, Any]]:
    assert cloud.runtime is not None
    return {w["waveId"]: w for w in cloud.runtime.ledger.list_waves(execution_id)}


def wave_status(cloud: LocalCloud, execution_id: str, wave_id: str) -> str | None:
    assert cloud.runtime is not None
    found = cloud.runtime.ledger.get_wave(execution_id, wave_id)
    return found["status"] if found else None


def launch_started(cloud: LocalCloud, execution_id: str, wave_id: str) -> bool:
    """The wave is LAUNCHING with its DRS job started: with launch packing (the default), a LAUNCHING wave first waits
    in the packer's gathering window (orchestrator/steps/packer.py) before any StartRecovery."""
    assert cloud.runtime is not None
    found = cloud.runtime.ledger.wave(execution_id, wave_id)
    return found is not None and found.status == "LAUNCHING" and bool(found.current.jobs)


def execution(cloud: LocalCloud, execution_id: str) -> dict[str, Any] | None:
    assert cloud.runtime is not None
    return cloud.runtime.ledger.get_execution(execution_id)


def events_of(
    cloud: LocalCloud, detail_type: str, execution_id: str | None = None, wave_id: str | None = None
) -> list[PublishedEvent]:
    return [
        e
        for e in cloud.events
        if e.detail_type == detail_type
        and (execution_id is None or e.detail.get("executionId") == execution_id)
        and (wave_id is None or e.wave_id == wave_id)
    ]


def at(value: str) -> datetime:
    return parse_iso(value)


def ledger_items(cloud: LocalCloud, *, decisions: bool = False) -> list[dict[str, Any]]:
    """Every item of the ledger table, in key order (to compare snapshots of the state). The decisions
    recorded on events (`orchestrator.steps.refusals`: a refusal writes one by design) only with `decisions`."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": cloud.runtime.ledger.table_name} if cloud.runtime else {}
    while True:
        page = cloud.dynamodb.scan(**kwargs, ConsistentRead=True)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    if not decisions:
        items = [i for i in items if i.get("kind", {}).get("S") != "DECISION"]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def start_recovery_calls(cloud: LocalCloud) -> int:
    return cloud.drs.stats.calls.get("StartRecovery", 0)


# ---- invariants --------------------------------------------------------------------------------


def assert_choreography_invariants(
    cloud: LocalCloud,
    execution_id: str,
    *,
    closing_events: int = 1,
    relaunched: dict[str, int] | None = None,
    handler_errors: int = 0,
) -> None:
    """What must hold after any run, with or without injected faults (`closing_events`: how many
    PlanCompleted/PlanFailed/PlanCancelled of the execution are on the bus; the plan closes once;
    `relaunched`: servers an operator's RetryWave launched again, with their expected launch count;
    `handler_errors`: deliveries a test made fail on purpose, raised for the platform to retry)."""
    # no server launched twice (unless an operator retried it: then exactly once per attempt)
    launches = cloud.drs.stats.launches
    allowed = relaunched or {}
    unexpected = {s: n for s, n in launches.items() if n != allowed.get(s, 1)}
    assert not unexpected, f"servers launched more (or less) often than once per attempt: {unexpected}"
    # nothing crashed, nothing dead-lettered
    assert sum(cloud.dead_letters().values()) == 0, cloud.dead_letters()
    assert cloud.stats.handler_errors == handler_errors
    # no wave started before every one of its dependencies completed
    waves = ledger_waves(cloud, execution_id)
    for wave_id, item in waves.items():
        started = item.get("readyAt")  # a wave is released (READY) only once its dependencies completed
        if not started:
            continue
        for dependency in item.get("dependsOn", []):
            upstream = waves[dependency]
            # an operator's SkipWave releases the dependents of the skipped wave (the operator's call)
            skipped_by_operator = upstream["status"] == "SKIPPED" and upstream.get("skippedBy")
            assert upstream["status"] == "COMPLETED" or skipped_by_operator, (
                f"{wave_id} ran although {dependency} is {upstream['status']}"
            )
            met_at = upstream.get("completedAt") or upstream["endedAt"]
            assert at(started) >= at(met_at), f"{wave_id} ready at {started}, before {dependency} was met at {met_at}"
        for later in ("preLaunchAt", "launchStartedAt"):
            if item.get(later):
                assert at(item[later]) >= at(started)
    # a finished execution has only finished waves, and ended after all of them
    found = execution(cloud, execution_id)
    if found and found["status"] in TERMINAL_EXECUTION:
        open_waves = {w: i["status"] for w, i in waves.items() if i["status"] not in {"COMPLETED", "FAILED", "SKIPPED"}}
        assert not open_waves, f"execution {found['status']} with open waves {open_waves}"
        for item in waves.values():
            assert at(found["endedAt"]) >= at(item["endedAt"])
        closing = events_of(cloud, f"Plan{found['status'].title()}", execution_id)
        assert len(closing) == closing_events, [e.detail for e in closing]
