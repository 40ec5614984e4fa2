"""Native DRS recovery plans in the DRS simulator: plans and ordered steps with DRS's limits and errors,
driven through a boto3 ``drs`` client whose every answer is checked against botocore's output shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.validate import ParamValidator

from localcloud.drs_sim import DrsSimConfig, DrsSimulator

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SERVERS = [f"s-{n:017d}" for n in range(1, 103)]  # 102 known source servers
PREFIX = "arn:aws:drs:us-east-1:123456789012:"


def arn(sid: str) -> str:
    return f"{PREFIX}source-server/{sid}"


class FakeClock:
    def __init__(self) -> None:
        self.moment = T0

    def now(self) -> datetime:
        return self.moment


def _check_output_shape(parsed: dict[str, Any], model: Any, **_: Any) -> None:
    if model.output_shape is None or "Error" in parsed:
        return
    body = {key: value for key, value in parsed.items() if key != "ResponseMetadata"}
    report = ParamValidator().validate(body, model.output_shape)
    assert not report.has_errors(), report.generate_report()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def drs(clock: FakeClock) -> Any:
    sim = DrsSimulator(clock, DrsSimConfig(page_size=2))
    sim.ensure_servers(SERVERS)
    client = boto3.client(
        "drs",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )
    client.meta.events.register("after-call.drs", _check_output_shape)
    return sim.attach(client)


def server_step(*sids: str, level: str | None = None) -> dict[str, Any]:
    servers = [{"serverArn": arn(sid), **({"impactLevel": level} if level else {})} for sid in sids]
    return {"serverStepConfiguration": {"servers": servers}}


def wait_step(minutes: int) -> dict[str, Any]:
    return {"waitStepConfiguration": {"waitDurationMinutes": minutes}}


def refused(call: Any) -> tuple[str, int, dict[str, Any]]:
    with pytest.raises(ClientError) as excinfo:
        call()
    response: dict[str, Any] = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response


def steps_of(drs: Any, plan_arn: str) -> list[tuple[int, str]]:
    """Every step of the plan (all pages), as (stepOrder, stepName)."""
    found: list[tuple[int, str]] = []
    token: dict[str, str] = {}
    while True:
        page = drs.list_recovery_plan_steps(recoveryPlanArn=plan_arn, **token)
        found += [(s["stepOrder"], s["stepName"]) for s in page["recoveryPlanSteps"]]
        if "nextToken" not in page:
            return found
        token = {"nextToken": page["nextToken"]}


# ---------------------------------------------------------------------- plans


def test_a_plan_is_created_read_listed_updated_tagged_and_deleted(drs: Any, clock: FakeClock) -> None:
    # WHEN a plan is created
    created = drs.create_recovery_plan(name="shop", description="three tiers", tags={"team": "dr"})
    plan = created["recoveryPlan"]

    # THEN it is ACTIVE, with an ARN of the account and region, and answered 201
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert plan["recoveryPlanArn"].startswith(f"{PREFIX}recovery-plan/rp-")
    assert plan == {
        "recoveryPlanArn": plan["recoveryPlanArn"],
        "name": "shop",
        "description": "three tiers",
        "status": "ACTIVE",
        "createdAt": "2025-03-01T12:00:00.000Z",
        "updatedAt": "2025-03-01T12:00:00.000Z",
        "tags": {"team": "dr"},
    }
    plan_arn = plan["recoveryPlanArn"]
    assert drs.get_recovery_plan(recoveryPlanArn=plan_arn)["recoveryPlan"] == plan
    assert drs.list_tags_for_resource(resourceArn=plan_arn)["tags"] == {"team": "dr"}

    # WHEN it is renamed a minute later THEN name and updatedAt change
    clock.moment += timedelta(minutes=1)
    updated = drs.update_recovery_plan(recoveryPlanArn=plan_arn, name="shop-v2")["recoveryPlan"]
    assert (updated["name"], updated["description"], updated["updatedAt"]) == (
        "shop-v2",
        "three tiers",
        "2025-03-01T12:01:00.000Z",
    )
    assert drs.list_recovery_plans()["recoveryPlans"] == [
        {
            "recoveryPlanArn": plan_arn,
            "name": "shop-v2",
            "status": "ACTIVE",
            "createdAt": "2025-03-01T12:00:00.000Z",
            "updatedAt": "2025-03-01T12:01:00.000Z",
        }
    ]

    # WHEN it is deleted THEN it is gone
    assert drs.delete_recovery_plan(recoveryPlanArn=plan_arn)["recoveryPlanArn"] == plan_arn
    assert drs.list_recovery_plans()["recoveryPlans"] == []
    code, status, response = refused(lambda: drs.get_recovery_plan(recoveryPlanArn=plan_arn))
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert response["Error"]["Message"] == f"Recovery plan {plan_arn} not found"
    assert (response["resourceId"], response["resourceType"]) == (plan_arn, "RECOVERY_PLAN")


def test_plan_names_are_unique_and_a_client_token_makes_create_idempotent(drs: Any) -> None:
    # GIVEN a plan created with a client token
    first = drs.create_recovery_plan(name="shop", clientToken="tok-1")["recoveryPlan"]

    # WHEN the same request is sent again THEN the same plan is answered, and no second one exists
    assert drs.create_recovery_plan(name="shop", clientToken="tok-1")["recoveryPlan"] == first
    assert len(drs.list_recovery_plans()["recoveryPlans"]) == 1

    # WHEN another plan takes that name THEN ConflictException names the plan holding it
    code, status, response = refused(lambda: drs.create_recovery_plan(name="shop"))
    assert (code, status) == ("ConflictException", 409)
    assert response["Error"]["Message"] == f"A recovery plan named 'shop' already exists: {first['recoveryPlanArn']}"
    other = drs.create_recovery_plan(name="crm")["recoveryPlan"]
    code, _, _ = refused(lambda: drs.update_recovery_plan(recoveryPlanArn=other["recoveryPlanArn"], name="shop"))
    assert code == "ConflictException"


def test_a_name_outside_the_models_pattern_is_a_validation_exception(drs: Any) -> None:
    # WHEN a plan name starts with a dash THEN ValidationException (botocore does not check patterns)
    code, status, response = refused(lambda: drs.create_recovery_plan(name="-shop"))
    assert (code, status) == ("ValidationException", 400)
    message = "name must match [a-zA-Z0-9][a-zA-Z0-9 _-]* (1 to 256 characters), got '-shop'"
    assert response["Error"]["Message"] == message
    assert response["fieldList"] == [{"name": "name", "message": message}]
    assert drs.list_recovery_plans()["recoveryPlans"] == []


def test_list_recovery_plans_pages(drs: Any) -> None:
    # GIVEN three plans and pages of two
    names = ["a", "b", "c"]
    for name in names:
        drs.create_recovery_plan(name=name)

    # WHEN listed page by page THEN every plan comes once, in creation order
    first = drs.list_recovery_plans()
    second = drs.list_recovery_plans(nextToken=first["nextToken"])
    assert [p["name"] for p in first["recoveryPlans"]] == ["a", "b"]
    assert [p["name"] for p in second["recoveryPlans"]] == ["c"]
    assert "nextToken" not in second


# ---------------------------------------------------------------------- steps


def test_steps_are_ordered_inserted_updated_deleted_and_reordered(drs: Any) -> None:
    # GIVEN a plan with a SERVER step, a WAIT step and another SERVER step
    plan_arn = drs.create_recovery_plan(name="shop")["recoveryPlan"]["recoveryPlanArn"]
    db = drs.create_recovery_plan_step(
        recoveryPlanArn=plan_arn, stepName="db", configuration=server_step(SERVERS[0], level="CRITICAL")
    )
    assert db["ResponseMetadata"]["HTTPStatusCode"] == 201
    db_step = db["recoveryPlanStep"]
    assert db_step["recoveryPlanStepArn"].startswith(f"{plan_arn}/step/rps-")
    assert db_step == {
        "recoveryPlanStepArn": db_step["recoveryPlanStepArn"],
        "stepOrder": 1,
        "stepName": "db",
        "configuration": {
            "serverStepConfiguration": {"servers": [{"serverArn": arn(SERVERS[0]), "impactLevel": "CRITICAL"}]}
        },
        "createdAt": "2025-03-01T12:00:00.000Z",
        "updatedAt": "2025-03-01T12:00:00.000Z",
    }
    pause = drs.create_recovery_plan_step(recoveryPlanArn=plan_arn, stepName="pause", configuration=wait_step(5))
    web = drs.create_recovery_plan_step(
        recoveryPlanArn=plan_arn, stepName="web", configuration=server_step(SERVERS[1], SERVERS[2])
    )
    assert steps_of(drs, plan_arn) == [(1, "db"), (2, "pause"), (3, "web")]
    # impactLevel defaults to CRITICAL
    assert {
        s["impactLevel"] for s in web["recoveryPlanStep"]["configuration"]["serverStepConfiguration"]["servers"]
    } == {"CRITICAL"}

    # WHEN a step is inserted at position 2 THEN the later ones move down
    drs.create_recovery_plan_step(
        recoveryPlanArn=plan_arn, stepName="app", stepOrder=2, configuration=server_step(SERVERS[3])
    )
    assert steps_of(drs, plan_arn) == [(1, "db"), (2, "app"), (3, "pause"), (4, "web")]

    # WHEN the wait is lengthened and renamed THEN GetRecoveryPlanStep shows it
    pause_arn = pause["recoveryPlanStep"]["recoveryPlanStepArn"]
    drs.update_recovery_plan_step(recoveryPlanStepArn=pause_arn, stepName="settle", configuration=wait_step(30))
    got = drs.get_recovery_plan_step(recoveryPlanStepArn=pause_arn)["recoveryPlanStep"]
    assert (got["stepOrder"], got["stepName"], got["configuration"]) == (3, "settle", wait_step(30))

    # WHEN the steps are reordered THEN ReorderRecoveryPlanSteps answers them in the new order
    first = drs.list_recovery_plan_steps(recoveryPlanArn=plan_arn)
    rest = drs.list_recovery_plan_steps(recoveryPlanArn=plan_arn, nextToken=first["nextToken"])
    arns = [s["recoveryPlanStepArn"] for s in first["recoveryPlanSteps"] + rest["recoveryPlanSteps"]]
    reordered = drs.reorder_recovery_plan_steps(recoveryPlanArn=plan_arn, orderedStepArns=list(reversed(arns)))
    assert [(s["stepOrder"], s["stepName"]) for s in reordered["recoveryPlanSteps"]] == [
        (1, "web"),
        (2, "settle"),
        (3, "app"),
        (4, "db"),
    ]

    # WHEN a step is deleted THEN the others close up
    deleted = drs.delete_recovery_plan_step(recoveryPlanStepArn=pause_arn)
    assert deleted["recoveryPlanStepArn"] == pause_arn
    assert steps_of(drs, plan_arn) == [(1, "web"), (2, "app"), (3, "db")]
    code, status, response = refused(lambda: drs.get_recovery_plan_step(recoveryPlanStepArn=pause_arn))
    assert (code, status, response["resourceType"]) == ("ResourceNotFoundException", 404, "RECOVERY_PLAN_STEP")
    assert response["Error"]["Message"] == f"Recovery plan step {pause_arn} not found"


def test_list_recovery_plan_steps_pages_in_step_order(drs: Any) -> None:
    # GIVEN three steps, the last inserted first
    plan_arn = drs.create_recovery_plan(name="shop")["recoveryPlan"]["recoveryPlanArn"]
    for name, minutes in (("b", 1), ("c", 2)):
        drs.create_recovery_plan_step(recoveryPlanArn=plan_arn, stepName=name, configuration=wait_step(minutes))
    drs.create_recovery_plan_step(recoveryPlanArn=plan_arn, stepName="a", stepOrder=1, configuration=wait_step(3))

    # WHEN listed in pages of two THEN in step order
    first = drs.list_recovery_plan_steps(recoveryPlanArn=plan_arn)
    second = drs.list_recovery_plan_steps(recoveryPlanArn=plan_arn, nextToken=first["nextToken"])
    assert [s["stepName"] for s in first["recoveryPlanSteps"] + second["recoveryPlanSteps"]] == ["a", "b", "c"]


def test_a_plan_has_at_most_20_steps(drs: Any) -> None:
    # GIVEN a plan with 20 steps
    plan_arn = drs.create_recovery_plan(name="shop")["recoveryPlan"]["recoveryPlanArn"]
    for n in range(20):
        drs.create_recovery_plan_step(recoveryPlanArn=plan_arn, stepName=f"w{n}", configuration=wait_step(1))

    # WHEN a 21st is created THEN ServiceQuotaExceededException
    code, status, response = refused(
        lambda: drs.create_recovery_plan_step(recoveryPlanArn=plan_arn, stepName="w20", configuration=wait_step(1))
    )
    assert (code, status) == ("ServiceQuotaExceededException", 402)
    assert response["Error"]["Message"] == "A recovery plan has at most 20 steps"
    assert (response["resourceType"], response["serviceCode"]) == ("RECOVERY_PLAN_STEP", "drs")
    assert len(steps_of(drs, plan_arn)) == 20


@pytest.mark.parametrize(
    ("configuration", "field", "message"),
    [
        (server_step(*SERVERS[:101]), "servers", "A step has 1 to 100 servers, got 101"),
        (wait_step(121), "waitDurationMinutes", "waitDurationMinutes must be between 1 and 120, got 121"),
        (server_step("s-99999999999999999"), "serverArn", "Source server s-99999999999999999 not found"),
        (
            {
                "serverStepConfiguration": {
                    "servers": [{"serverArn": f"arn:aws:drs:us-east-1:999999999999:source-server/{SERVERS[0]}"}]
                }
            },
            "serverArn",
            f"arn:aws:drs:us-east-1:999999999999:source-server/{SERVERS[0]} is not a source server ARN of this "
            "account and region",
        ),
        (
            server_step(SERVERS[5], SERVERS[5]),
            "servers",
            f"A server is listed twice in the step: {arn(SERVERS[5])}",
        ),
        (
            server_step(SERVERS[0], level="OPTIONALISH"),
            "impactLevel",
            "Invalid value 'OPTIONALISH' for impactLevel: must be CRITICAL or OPTIONAL",
        ),
    ],
    ids=["101-servers", "wait-121", "unknown-server", "other-account", "twice", "bad-level"],
)
def test_a_step_outside_drs_limits_is_a_validation_exception(
    drs: Any, configuration: dict[str, Any], field: str, message: str
) -> None:
    # GIVEN a plan
    plan_arn = drs.create_recovery_plan(name="shop")["recoveryPlan"]["recoveryPlanArn"]

    # WHEN a step breaks a limit THEN ValidationException names the field, and no step was created
    code, status, response = refused(
        lambda: drs.create_recovery_plan_step(recoveryPlanArn=plan_arn, stepName="s", configuration=configuration)
    )
    assert (code, status) == ("ValidationException", 400)
    assert response["Error"]["Message"] == message
    assert response["fieldList"] == [{"name": field, "message": message}]
    assert steps_of(drs, plan_arn) == []


def test_a_step_may_hold_100_servers_and_a_wait_120_minutes(drs: Any) -> None:
    # GIVEN a plan WHEN steps at the limits are created THEN they are
    plan_arn = drs.create_recovery_plan(name="shop")["recoveryPlan"]["recoveryPlanArn"]
    drs.create_recovery_plan_step(recoveryPlanArn=plan_arn, stepName="all", configuration=server_step(*SERVERS[:100]))
    drs.create_recovery_plan_step(recoveryPlanArn=plan_arn, stepName="long", configuration=wait_step(120))
    assert steps_of(drs, plan_arn) == [(1, "all"), (2, "long")]


def test_a_server_is_in_one_step_of_a_plan(drs: Any) -> None:
    # GIVEN a step holding server 1
    plan_arn = drs.create_recovery_plan(name="shop")["recoveryPlan"]["recoveryPlanArn"]
    db = drs.create_recovery_plan_step(recoveryPlanArn=plan_arn, stepName="db", configuration=server_step(SERVERS[0]))
    db_arn = db["recoveryPlanStep"]["recoveryPlanStepArn"]

    # WHEN another step names it THEN ValidationException names the step holding it
    code, _, response = refused(
        lambda: drs.create_recovery_plan_step(
            recoveryPlanArn=plan_arn, stepName="web", configuration=server_step(SERVERS[1], SERVERS[0])
        )
    )
    assert code == "ValidationException"
    assert response["Error"]["Message"] == f"Already in step 'db' ({db_arn}): {arn(SERVERS[0])}"
    # AND the step itself may be updated to keep it
    kept = drs.update_recovery_plan_step(recoveryPlanStepArn=db_arn, configuration=server_step(SERVERS[0], SERVERS[1]))
    assert len(kept["recoveryPlanStep"]["configuration"]["serverStepConfiguration"]["servers"]) == 2


def test_a_steps_type_is_immutable_and_its_order_bounded(drs: Any) -> None:
    # GIVEN a WAIT step
    plan_arn = drs.create_recovery_plan(name="shop")["recoveryPlan"]["recoveryPlanArn"]
    step_arn = drs.create_recovery_plan_step(recoveryPlanArn=plan_arn, stepName="w", configuration=wait_step(1))[
        "recoveryPlanStep"
    ]["recoveryPlanStepArn"]

    # WHEN it is updated into a SERVER step THEN ValidationException, and it is unchanged
    code, _, response = refused(
        lambda: drs.update_recovery_plan_step(
            recoveryPlanStepArn=step_arn, stepName="x", configuration=server_step(SERVERS[0])
        )
    )
    assert code == "ValidationException"
    assert response["Error"]["Message"] == f"Step type is immutable: {step_arn} is a WAIT step"
    got = drs.get_recovery_plan_step(recoveryPlanStepArn=step_arn)["recoveryPlanStep"]
    assert (got["stepName"], got["configuration"]) == ("w", wait_step(1))

    # WHEN a step is placed past the end THEN ValidationException
    code, _, response = refused(
        lambda: drs.create_recovery_plan_step(
            recoveryPlanArn=plan_arn, stepName="z", stepOrder=3, configuration=wait_step(1)
        )
    )
    assert code == "ValidationException"
    assert response["Error"]["Message"] == "stepOrder must be between 1 and 2, got 3"


@pytest.mark.parametrize("mistake", ["missing", "twice", "foreign"])
def test_reorder_takes_every_step_of_the_plan_once(drs: Any, mistake: str) -> None:
    # GIVEN a plan of two steps and another plan's step
    plan_arn = drs.create_recovery_plan(name="shop")["recoveryPlan"]["recoveryPlanArn"]
    arns = [
        drs.create_recovery_plan_step(recoveryPlanArn=plan_arn, stepName=n, configuration=wait_step(1))[
            "recoveryPlanStep"
        ]["recoveryPlanStepArn"]
        for n in ("a", "b")
    ]
    other_arn = drs.create_recovery_plan(name="crm")["recoveryPlan"]["recoveryPlanArn"]
    foreign = drs.create_recovery_plan_step(recoveryPlanArn=other_arn, stepName="x", configuration=wait_step(1))[
        "recoveryPlanStep"
    ]["recoveryPlanStepArn"]
    ordered, message = {
        "missing": ([arns[1]], f"orderedStepArns must list every step of the plan; missing: {arns[0]}"),
        "twice": ([arns[1], arns[1], arns[0]], "orderedStepArns lists a step more than once"),
        "foreign": ([arns[1], arns[0], foreign], f"Not steps of recovery plan {plan_arn}: {foreign}"),
    }[mistake]

    # WHEN the order is not a permutation of the plan's steps THEN ValidationException, order unchanged
    code, _, response = refused(
        lambda: drs.reorder_recovery_plan_steps(recoveryPlanArn=plan_arn, orderedStepArns=ordered)
    )
    assert code == "ValidationException"
    assert response["Error"]["Message"] == message
    assert steps_of(drs, plan_arn) == [(1, "a"), (2, "b")]


def test_steps_of_an_unknown_plan_are_resource_not_found(drs: Any) -> None:
    # WHEN steps of a plan that does not exist are asked for or created THEN ResourceNotFoundException
    missing = f"{PREFIX}recovery-plan/rp-00000000000000000"
    for call in (
        lambda: drs.list_recovery_plan_steps(recoveryPlanArn=missing),
        lambda: drs.create_recovery_plan_step(recoveryPlanArn=missing, stepName="s", configuration=wait_step(1)),
        lambda: drs.reorder_recovery_plan_steps(recoveryPlanArn=missing, orderedStepArns=[f"{missing}/step/rps-0"]),
        lambda: drs.delete_recovery_plan(recoveryPlanArn=missing),
    ):
        code, status, response = refused(call)
        assert (code, status, response["resourceId"]) == ("ResourceNotFoundException", 404, missing)


def test_deleting_a_plan_deletes_its_steps(drs: Any) -> None:
    # GIVEN a plan with a step
    plan_arn = drs.create_recovery_plan(name="shop")["recoveryPlan"]["recoveryPlanArn"]
    step_arn = drs.create_recovery_plan_step(recoveryPlanArn=plan_arn, stepName="w", configuration=wait_step(1))[
        "recoveryPlanStep"
    ]["recoveryPlanStepArn"]

    # WHEN the plan is deleted THEN its step is gone too, and its name is free again
    drs.delete_recovery_plan(recoveryPlanArn=plan_arn)
    code, _, _ = refused(lambda: drs.get_recovery_plan_step(recoveryPlanStepArn=step_arn))
    assert code == "ResourceNotFoundException"
    assert drs.create_recovery_plan(name="shop")["recoveryPlan"]["name"] == "shop"
