"""The operator step (orchestrator/steps/operator.py) against fakes: what it publishes, with which
requestedBy, and every request it refuses without publishing anything."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from events.models import (
    ApprovalDenied,
    ApprovalGranted,
    CancelPlan,
    Mode,
    PausePlan,
    ResumePlan,
    RetryWave,
    SkipWave,
    StartPlan,
)
from localcloud.operators import url_request
from orchestrator.adapters.kms import MacUnavailable
from orchestrator.config import Settings
from orchestrator.steps.operator import Answer, Caller, operate
from orchestrator.steps.operator_proof import sign
from tests.fakes import FakeBus
from tests.unit.steps.world import S1, STEP_DEFAULTS, World, plan, wave

ALICE = Caller("arn:aws:sts::123456789012:assumed-role/DROps/alice", account_id="123456789012", caller_id="AROAX:alice")
DROPS = "arn:aws:iam::123456789012:role/DROps"
PLAN = plan(wave("db", S1))
REFUSED = f"{ALICE.arn} may not start a RECOVERY (a real failover): it is none of the deploy's recovery principals"


@pytest.fixture
def bus(world: World) -> FakeBus:
    """The operator endpoint's bus (the one that publishes with the operator source)."""
    world.rt.operator_bus = FakeBus()
    return world.rt.operator_bus


def _signed(world: World, command: Any, request_id: str = "req-1") -> Any:
    """`command` as the operator endpoint publishes it for request `request_id`: with its proof (now)."""
    return sign(world.rt, command, command_id=f"op-{request_id}")


def _send(world: World, detail_type: Any, detail: Any, caller: Caller = ALICE) -> Answer:
    return operate(world.rt, caller, {"detailType": detail_type, "detail": detail}, request_id="req-1")


@pytest.mark.parametrize(
    ("detail_type", "detail", "expected"),
    [
        (
            "ApprovalGranted",
            {"waveId": "db", "comment": "ok"},
            ApprovalGranted(execution_id="e1", wave_id="db", comment="ok", requested_by=ALICE.arn),
        ),
        (
            "ApprovalDenied",
            {"waveId": "db", "reason": "no"},
            ApprovalDenied(execution_id="e1", wave_id="db", reason="no", requested_by=ALICE.arn),
        ),
        (
            "CancelPlan",
            {"terminateDrillInstances": True},
            CancelPlan(execution_id="e1", terminate_drill_instances=True, requested_by=ALICE.arn),
        ),
        ("PausePlan", {}, PausePlan(execution_id="e1", requested_by=ALICE.arn)),
        ("ResumePlan", {}, ResumePlan(execution_id="e1", requested_by=ALICE.arn)),
        (
            "RetryWave",
            {"waveId": "db", "allServers": True},
            RetryWave(execution_id="e1", wave_id="db", all_servers=True, requested_by=ALICE.arn),
        ),
        ("SkipWave", {"waveId": "db"}, SkipWave(execution_id="e1", wave_id="db", requested_by=ALICE.arn)),
    ],
)
def test_each_command_is_published_with_the_callers_verified_arn(
    world: World, bus: FakeBus, detail_type: str, detail: dict[str, Any], expected: Any
) -> None:
    # GIVEN a command that names nobody WHEN alice sends it through the operator endpoint
    answer = _send(world, detail_type, {"executionId": "e1", **detail})
    # THEN it is published once, with alice's ARN as requestedBy and the endpoint's proof, and the answer says so
    assert bus.published == [_signed(world, expected)]
    assert bus.published[0].operator_proof.command_id == "op-req-1"
    assert answer == Answer(
        202, {"accepted": True, "detailType": detail_type, "executionId": "e1", "requestedBy": ALICE.arn}
    )
    assert world.bus.published == []  # never on the orchestrator's own bus (its source is not the operator's)


def test_a_requested_by_equal_to_the_caller_is_taken(world: World, bus: FakeBus) -> None:
    answer = _send(world, "PausePlan", {"executionId": "e1", "requestedBy": ALICE.arn})
    assert answer.accepted
    assert bus.published == [_signed(world, PausePlan(execution_id="e1", requested_by=ALICE.arn))]


@pytest.mark.parametrize(
    ("request_body", "status", "error"),
    [
        (["not", "an object"], 400, 'the body must be a JSON object {"detailType": ..., "detail": {...}}'),
        ({"detailType": "PausePlan"}, 400, 'the body must be a JSON object {"detailType": ..., "detail": {...}}'),
        (
            {"detailType": "PausePlan", "detail": {}, "requestedBy": "x"},
            400,
            'the body must be a JSON object {"detailType": ..., "detail": {...}}',
        ),
        (
            {"detailType": "WaveReady", "detail": {}},
            400,
            "detailType must be one of ApprovalDenied, ApprovalGranted, CancelPlan, Failback, PausePlan, Reprotect, "
            "ResumePlan, "
            "RetryWave, SkipWave, StartPlan, got 'WaveReady'",
        ),
        ({"detailType": 7, "detail": {}}, 400, "detailType must be one of"),
        ({"detailType": "PausePlan", "detail": "e1"}, 400, "detail must be a JSON object"),
        ({"detailType": "PausePlan", "detail": {}}, 400, "invalid PausePlan: detail.executionId: Field required"),
        (
            {"detailType": "ApprovalDenied", "detail": {"executionId": "e1", "waveId": "db"}},
            400,
            "invalid ApprovalDenied: detail.reason: Field required",
        ),
        (
            {"detailType": "ApprovalDenied", "detail": {"executionId": "e1", "waveId": "db", "reason": " "}},
            400,
            "invalid ApprovalDenied: detail.reason: Value error, a denial must give its reason",
        ),
        (
            {"detailType": "RetryWave", "detail": {"executionId": "e1", "waveId": "db", "bogus": 1}},
            400,
            "invalid RetryWave: detail.bogus: Extra inputs are not permitted",
        ),
        (
            {"detailType": "ApprovalGranted", "detail": {"executionId": "e1", "waveId": "db", "requestedBy": DROPS}},
            403,
            f"requestedBy '{DROPS}' is not the caller {ALICE.arn}: the operator endpoint records the caller AWS "
            "authenticated; leave requestedBy out",
        ),
    ],
)
def test_a_request_that_is_not_a_command_of_the_caller_is_refused_and_nothing_is_published(
    world: World, bus: FakeBus, request_body: Any, status: int, error: str
) -> None:
    # WHEN the request is sent THEN it is refused with its status and reason, and nothing is published
    answer = operate(world.rt, ALICE, request_body, request_id="req-1")
    assert answer.status == status
    assert answer.body["error"].startswith(error)
    assert bus.published == []


def test_a_start_plan_without_an_execution_id_gets_one_from_the_request(world: World, bus: FakeBus) -> None:
    # WHEN a DRILL StartPlan without executionId is sent
    answer = _send(world, "StartPlan", {"plan": PLAN})
    # THEN it is published with an id named after the request, which the answer gives back
    [published] = bus.published
    assert isinstance(published, StartPlan)
    assert (published.execution_id, published.mode, published.requested_by) == ("op-req-1", Mode.DRILL, ALICE.arn)
    assert answer.body["executionId"] == "op-req-1"


@pytest.mark.parametrize(
    ("principals", "status", "error"),
    [
        ("", 403, f"{REFUSED} (none: the deploy lists no recovery principal)"),
        ("arn:aws:iam::123456789012:role/Other", 403, f"{REFUSED} (arn:aws:iam::123456789012:role/Other)"),
        ("arn:aws:iam::210987654321:role/DROps", 403, f"{ALICE.arn} may not start a RECOVERY"),  # another account
        (f"{DROPS}, ops", 500, "the deploy's recovery principals are malformed ('ops' is not an IAM principal"),
        (f"arn:aws:iam::123456789012:role/Other, {DROPS}", 202, None),
        ("arn:aws:sts::123456789012:assumed-role/DROps/al*", 202, None),
    ],
)
def test_a_recovery_is_published_only_for_a_recovery_principal(
    world: World, bus: FakeBus, principals: str, status: int, error: str | None
) -> None:
    # GIVEN the deploy's recovery principals
    world.rt.settings = Settings(**STEP_DEFAULTS, recovery_principals=principals)
    # WHEN alice starts a confirmed RECOVERY
    answer = _send(world, "StartPlan", {"plan": PLAN, "executionId": "r1", "mode": "RECOVERY", "confirmRecovery": "p"})
    # THEN it is published exactly when she is one of them
    assert answer.status == status
    if error is None:
        [published] = bus.published
        assert isinstance(published, StartPlan)
        assert (published.mode, published.requested_by) == (Mode.RECOVERY, ALICE.arn)
    else:
        assert answer.body["error"].startswith(error)
        assert bus.published == []


def test_a_drill_needs_no_recovery_principal(world: World, bus: FakeBus) -> None:
    # GIVEN a deploy with no recovery principal WHEN alice starts a drill THEN it is published
    assert _send(world, "StartPlan", {"plan": PLAN, "executionId": "d1"}).accepted
    assert len(bus.published) == 1


@pytest.mark.parametrize(
    ("detail_type", "detail", "refused"),
    [
        ("Failback", {"executionId": "r1", "confirmFailback": "p"}, "start a failback (a real one, not a drill)"),
        ("Reprotect", {"executionId": "f1", "terminateRecoveryInstances": True}, "terminate the recovery side's"),
        ("Failback", {"executionId": "r1", "drill": True}, None),
        ("Reprotect", {"executionId": "f1"}, None),
    ],
)
def test_a_real_failback_and_a_terminating_reprotect_need_a_recovery_principal(
    world: World, bus: FakeBus, detail_type: str, detail: dict[str, object], refused: str | None
) -> None:
    # GIVEN a deploy whose recovery principal is not alice
    world.rt.settings = Settings(**STEP_DEFAULTS, recovery_principals="arn:aws:iam::123456789012:role/Other")
    # WHEN she sends the command
    answer = _send(world, detail_type, detail)
    # THEN a real failback and a terminating reprotect are refused (403, naming what she may not do, nothing
    # published); a failback drill and a plain reprotect are published as hers
    if refused is None:
        assert answer.accepted
        [published] = bus.published
        assert detail_type == published.DETAIL_TYPE
    else:
        assert answer.status == 403
        assert answer.body["error"].startswith(f"{ALICE.arn} may not {refused}")
        assert bus.published == []


def test_a_command_put_events_refuses_is_answered_503(world: World, bus: FakeBus) -> None:
    # GIVEN a bus that refuses the entry
    bus.fail("publish", FakeBus.refused())
    # WHEN a command is sent THEN the answer says it was not published, to send it again
    answer = _send(world, "CancelPlan", {"executionId": "e1"})
    assert answer.status == 503
    assert answer.body["error"] == "the CancelPlan was not published (PutEvents rejected 1 entries): send it again"
    assert bus.published == []


# ---- the handler: the Function URL request around the step ----------------------------------------------


@pytest.fixture
def handle(world: World, bus: FakeBus) -> Iterator[Any]:
    from handlers.operator import handler
    from localcloud.lambda_runtime import LambdaContext
    from orchestrator.runtime import set_runtime

    set_runtime(world.rt)

    def call(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = handler(event, LambdaContext(function_name="drs-orch-operator"))
        return int(response["statusCode"]), json.loads(response["body"])

    yield call
    set_runtime(None)


def test_the_handler_reads_the_caller_from_the_request_context_and_a_base64_body(
    world: World, handle: Any, bus: FakeBus
) -> None:
    # GIVEN a signed request whose body Lambda passed base64-encoded
    event = url_request({}, ALICE.arn)
    event["body"] = base64.b64encode(json.dumps({"detailType": "PausePlan", "detail": {"executionId": "e1"}}).encode())
    event["body"] = event["body"].decode()
    event["isBase64Encoded"] = True
    # WHEN the function handles it THEN the command is published as the caller the context names
    assert handle(event)[0] == 202
    request_id = event["requestContext"]["requestId"]
    assert bus.published == [_signed(world, PausePlan(execution_id="e1", requested_by=ALICE.arn), request_id)]


@pytest.mark.parametrize(
    ("body", "base64_encoded", "error"),
    [
        ("{not json", False, "the body is not JSON: Expecting property name enclosed in double quotes"),
        ("%%%", True, "the body is not valid base64"),
        ("x" * (256 * 1024 + 1), False, f"the body is {256 * 1024 + 1} bytes; a command is at most {256 * 1024}"),
    ],
)
def test_a_body_that_is_not_a_json_command_is_refused(
    handle: Any, bus: FakeBus, body: str, base64_encoded: bool, error: str
) -> None:
    event = url_request({}, ALICE.arn)
    event["body"], event["isBase64Encoded"] = body, base64_encoded
    status, answer = handle(event)
    assert status == 400
    assert answer["error"].startswith(error)
    assert bus.published == []


def test_a_detail_that_brings_its_own_proof_is_refused(world: World, bus: FakeBus) -> None:
    # GIVEN a proof copied from another command WHEN alice sends it along THEN nothing is published: the endpoint
    # writes the proof itself
    proof = {"commandId": "op-other", "issuedAt": "2026-01-01T09:00:00.000Z", "mac": "AAAA"}
    answer = _send(world, "PausePlan", {"executionId": "e1", "operatorProof": proof})
    assert (answer.status, answer.body["error"], bus.published) == (
        400,
        "detail.operatorProof: the operator endpoint writes the proof itself; leave it out",
        [],
    )


def test_a_command_kms_does_not_sign_is_not_published(world: World, bus: FakeBus) -> None:
    # GIVEN KMS throttling GenerateMac past the client's retries
    world.mac.fail("generate", MacUnavailable("GenerateMac failed: ThrottlingException"))
    # WHEN alice sends a command THEN nothing is published, and she is told to send it again
    answer = _send(world, "PausePlan", {"executionId": "e1"})
    assert (answer.status, bus.published) == (503, [])
    assert answer.body["error"] == (
        "the PausePlan was not signed (GenerateMac failed: ThrottlingException): send it again"
    )
