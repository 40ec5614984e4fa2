"""StartPlan (orchestrator/steps/start_plan.py) against fakes: create the execution, release the root waves."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from events.models import (
    OPERATOR_SOURCE,
    SOURCE,
    ControlRejected,
    Mode,
    PlanFailed,
    PlanStarted,
    Problem,
    StartPlan,
    WaveReady,
)
from orchestrator.domain.execution import drill_ttl_seconds
from orchestrator.steps.start_plan import start_plan
from tests.unit.steps.world import S1, S2, World, plan, wave

DIAMOND = plan(wave("a", S1), wave("b", S2, dependsOn=["a"]), wave("c", dependsOn=["a"], servers=[]))


def _plan() -> dict:
    return plan(wave("db", S1), wave("app", S2, dependsOn=["db"]))


def test_a_valid_plan_creates_the_execution_and_releases_its_root_waves(world: World) -> None:
    # GIVEN a two-wave plan, app depending on db
    detail = StartPlan(plan=_plan(), execution_id="e1")
    # WHEN it is started
    execution_id = start_plan(world.rt, detail, "evt-1")
    # THEN the execution runs, db is READY, app PENDING
    assert execution_id == "e1"
    execution = world.ledger.get_execution("e1")
    assert execution is not None
    assert (execution["status"], execution["planId"], execution["mode"]) == ("RUNNING", "p", "DRILL")
    assert world.wave_status("e1", "db") == "READY"
    assert world.wave_status("e1", "app") == "PENDING"
    # AND PlanStarted then one WaveReady, for the root wave only
    assert world.bus.published == [
        PlanStarted(
            execution_id="e1", plan_id="p", mode=Mode.DRILL, plan_name="p", wave_ids=["db", "app"], root_wave_ids=["db"]
        ),
        WaveReady(execution_id="e1", plan_id="p", wave_id="db"),
    ]


def test_a_redelivered_start_plan_creates_nothing_twice(world: World) -> None:
    # GIVEN a started plan
    detail = StartPlan(plan=_plan(), execution_id="e1")
    start_plan(world.rt, detail, "evt-1")
    first = world.ledger.get_execution("e1")
    announced = list(world.bus.published)
    # WHEN the same event is delivered again
    again = start_plan(world.rt, detail, "evt-1")
    # THEN the answer is the same and the execution unchanged
    assert again == "e1"
    assert world.ledger.get_execution("e1") == first
    assert world.wave_status("e1", "db") == "READY"
    # AND the replay re-announces exactly the same events (the first delivery may have died before
    # publishing): the same WaveReady, which the pre-launch step takes once (tested in test_pre_launch)
    assert world.bus.published == announced + announced


def test_another_start_with_the_same_id_and_plan_changes_nothing(world: World) -> None:
    # GIVEN a started plan
    start_plan(world.rt, StartPlan(plan=_plan(), execution_id="e1"), "evt-1")
    world.bus.published.clear()
    # WHEN a different event starts the same plan under the same execution id
    again = start_plan(world.rt, StartPlan(plan=_plan(), execution_id="e1"), "evt-2")
    # THEN nothing is created or announced
    assert again is None
    assert world.bus.published == []


def test_an_invalid_plan_is_refused_once_with_plan_failed(world: World) -> None:
    # GIVEN a plan whose wave depends on a wave that does not exist
    bad = plan(wave("db", S1, dependsOn=["nowhere"]))
    # WHEN it is started twice with the same event id
    assert start_plan(world.rt, StartPlan(plan=bad, execution_id="e1"), "evt-1") is None
    assert start_plan(world.rt, StartPlan(plan=bad, execution_id="e1"), "evt-1") is None
    # THEN no execution exists, and one PlanFailed names the problem
    assert world.ledger.get_execution("e1") is None
    [failed] = world.bus.published
    assert isinstance(failed, PlanFailed)
    assert (failed.execution_id, failed.plan_id, failed.reason) == ("e1", "p", "invalid plan: 1 problem(s)")
    assert [e.wave_id for e in failed.errors] == ["db"]


def test_an_unconfirmed_recovery_is_refused(world: World) -> None:
    # GIVEN a RECOVERY start without confirmRecovery, from the operator endpoint
    detail = StartPlan(plan=_plan(), execution_id="e1", mode=Mode.RECOVERY)
    # WHEN it is started
    assert start_plan(world.rt, detail, "evt-1", source=OPERATOR_SOURCE) is None
    # THEN nothing was created and PlanFailed says why
    assert world.ledger.get_execution("e1") is None
    [failed] = world.bus.published
    assert isinstance(failed, PlanFailed)
    assert [e.code for e in failed.errors] == ["unconfirmed_recovery"]


def test_another_plan_under_a_started_id_is_refused_without_touching_it(world: World) -> None:
    # GIVEN a started execution e1
    start_plan(world.rt, StartPlan(plan=_plan(), execution_id="e1"), "evt-1")
    world.bus.published.clear()
    before = world.ledger.get_execution("e1")
    # WHEN another plan is started under e1
    other = plan(wave("x", S1), plan_id="other")
    assert start_plan(world.rt, StartPlan(plan=other, execution_id="e1"), "evt-2") is None
    # THEN a ControlRejected answers (no PlanFailed pages for e1), and e1 is as it was
    [rejected] = world.bus.published
    assert isinstance(rejected, ControlRejected)
    assert (rejected.execution_id, rejected.command) == ("e1", "StartPlan")
    assert rejected.reason == (
        "executionId 'e1' belongs to an execution of plan 'p' (DRILL, RUNNING) started with another plan or "
        "mode: refused, and that execution is not affected"
    )
    assert world.ledger.get_execution("e1") == before


def test_an_invalid_plan_under_a_started_id_is_refused_without_a_plan_failed(world: World) -> None:
    # GIVEN a started execution e1
    start_plan(world.rt, StartPlan(plan=_plan(), execution_id="e1"), "evt-1")
    world.bus.published.clear()
    # WHEN an invalid plan is started under e1
    bad = plan(wave("db", S1, dependsOn=["nowhere"]))
    assert start_plan(world.rt, StartPlan(plan=bad, execution_id="e1", requested_by="bob"), "evt-2") is None
    # THEN a ControlRejected names the execution that holds the id (no PlanFailed pages for e1)
    assert world.bus.published == [
        ControlRejected(
            execution_id="e1",
            command="StartPlan",
            requested_by="bob",
            reason=(
                "executionId 'e1' belongs to an execution of plan 'p' (RUNNING), which this refusal does not "
                "affect; the StartPlan was refused: invalid plan: 1 problem(s)"
            ),
        )
    ]
    assert world.ledger.get_execution("e1")["status"] == "RUNNING"


# ---- scripts under the SSM document allow-list (issue #13) ------------------------------------------------

FENCE_BY_TAG = {
    "documentName": "AWS-RunShellScript",
    "parameters": {"commands": ["shutdown -h now"]},
    "targets": {"tags": {"Role": "database-primary"}},
}


def _items(world: World) -> list[dict]:
    """Every item of the world's ledger table."""
    return world.ledger._table.scan(ConsistentRead=True)["Items"]


def test_a_script_outside_the_allow_list_is_refused_with_nothing_written_but_the_refusal(world: World) -> None:
    # GIVEN the default allow-list (the project's own documents), and a DRILL plan whose pre-launch step runs
    # AWS-RunShellScript on the instances tagged Role=database-primary (any instance of the account)
    world.configure(allowed_ssm_documents="DRSOrch-*")
    world.ssm.add_document("AWS-RunShellScript", ["workingDirectory"], required=["commands"])
    world.ssm.tagged[("Role", "database-primary")] = ["i-0a1b2c3d4e5f60718"]
    attack = plan(wave("db", S1, preLaunch=[FENCE_BY_TAG]), wave("app", S2, dependsOn=["db"]))
    # WHEN it is started (and the same event delivered again)
    assert start_plan(world.rt, StartPlan(plan=attack, execution_id="e1", requested_by="mallory"), "evt-1") is None
    assert start_plan(world.rt, StartPlan(plan=attack, execution_id="e1", requested_by="mallory"), "evt-1") is None
    # THEN one PlanFailed names the wave, the step, the document and the allow-list
    assert world.bus.published == [
        PlanFailed(
            execution_id="e1",
            plan_id="p",
            reason="scripts refused: 1 script(s) name an SSM document outside the allow-list (DRSOrch-*)",
            errors=[
                Problem(
                    message=(
                        "pre-launch step #1 of wave 'db' runs SSM document 'AWS-RunShellScript', which is not in the "
                        "SSM document allow-list (DRSOrch-*): plans may run only the documents the deploy setting "
                        "ALLOWED_SSM_DOCUMENTS lists"
                    ),
                    code="document-not-allowed",
                    wave_id="db",
                    path="waves[0].preLaunch[0].documentName",
                )
            ],
        )
    ]
    # AND nothing was sent, described or launched, no execution exists, and the ledger holds only the refusal
    assert (world.ssm.sent, world.ssm.described, world.drs.started) == ([], [], [])
    assert world.ledger.get_execution("e1") is None
    assert [(item["pk"], item["kind"]) for item in _items(world)] == [("EVENT#evt-1", "DECISION")]


def test_a_failback_script_outside_the_allow_list_is_refused_before_the_recovery_runs(world: World) -> None:
    # GIVEN the default allow-list, and a plan whose recovery scripts are allowed but whose db wave's failback
    # post-launch step runs AWS-RunShellScript (a failback of it would run a root shell)
    world.configure(allowed_ssm_documents="DRSOrch-*")
    world.ssm.add_document("AWS-RunShellScript", ["workingDirectory"], required=["commands"])
    world.ssm.add_document("DRSOrch-WaitForSsmAgent")
    agent = {"documentName": "DRSOrch-WaitForSsmAgent"}
    fenced = plan(wave("db", S1, postLaunch=[agent], failback={"postLaunch": [agent, FENCE_BY_TAG]}))
    # WHEN it is started (for a recovery or a drill: its failback would run from the same plan)
    assert start_plan(world.rt, StartPlan(plan=fenced, execution_id="e1"), "evt-1") is None
    # THEN one PlanFailed names the failback step at its path, and nothing was sent, launched or created
    [failed] = world.bus.published
    assert isinstance(failed, PlanFailed)
    assert failed.reason == "scripts refused: 1 script(s) name an SSM document outside the allow-list (DRSOrch-*)"
    assert [(e.code, e.path, e.wave_id) for e in failed.errors] == [
        ("document-not-allowed", "waves[0].failback.postLaunch[1].documentName", "db")
    ]
    assert failed.errors[0].message.startswith("failback post-launch step #2 of wave 'db' runs SSM document")
    assert (world.ssm.sent, world.drs.started) == ([], [])
    assert world.ledger.get_execution("e1") is None


def test_a_failback_scripts_parameters_are_checked_when_the_plan_starts(world: World) -> None:
    # GIVEN an allowed document requiring Target, named by a failback health check that does not give it
    world.configure(allowed_ssm_documents="DRSOrch-*")
    world.ssm.add_document("DRSOrch-HealthCheck", required=["Target"])
    check = plan(wave("db", S1, failback={"healthCheck": {"documentName": "DRSOrch-HealthCheck"}}))
    # WHEN it is started / THEN the document was read and the start refused at the failback health check
    assert start_plan(world.rt, StartPlan(plan=check, execution_id="e1"), "e") is None
    assert world.ssm.described == ["DRSOrch-HealthCheck"]
    [failed] = world.bus.published
    assert [(e.code, e.path) for e in failed.errors] == [("missing-parameter", "waves[0].failback.healthCheck")]


def test_a_failback_lambda_step_outside_the_allowed_functions_is_refused_when_the_plan_starts(world: World) -> None:
    # GIVEN a deploy allowing one function, and a plan whose failback pre-launch step invokes another
    allowed = "arn:aws:lambda:us-east-1:123456789012:function:dns-cutover"
    world.configure(allowed_lambda_functions=allowed)
    step = {"type": "LAMBDA", "functionName": "dns-cutover"}
    other = plan(wave("db", S1, preLaunch=[step], failback={"preLaunch": [{**step, "functionName": "dns-back"}]}))
    # WHEN it is started / THEN it is refused at that step's functionName, and nothing was created
    assert start_plan(world.rt, StartPlan(plan=other, execution_id="e1"), "e") is None
    [failed] = world.bus.published
    assert isinstance(failed, PlanFailed)
    assert [(e.code, e.path) for e in failed.errors] == [
        ("function-not-allowed", "waves[0].failback.preLaunch[0].functionName")
    ]
    assert world.ledger.get_execution("e1") is None


def test_the_frozen_plan_of_a_started_execution_keeps_its_failback_scripts_for_a_failback(world: World) -> None:
    # GIVEN an allowed plan whose db wave fails back with its own post-launch step and no health check, and which
    # reprotects
    from orchestrator.domain.execution import frozen_plan
    from orchestrator.domain.plan import for_failback

    world.configure(allowed_ssm_documents="DRSOrch-*")
    world.ssm.add_document("DRSOrch-WaitForSsmAgent")
    world.ssm.add_document("DRSOrch-HealthCheck")
    agent, check = {"documentName": "DRSOrch-WaitForSsmAgent"}, {"documentName": "DRSOrch-HealthCheck"}
    both = plan(wave("db", S1, healthCheck=check, failback={"postLaunch": [agent], "healthCheck": None}))
    # WHEN it is started
    assert start_plan(world.rt, StartPlan(plan={**both, "failback": {"reprotect": True}}, execution_id="e1"), "e")
    # THEN its frozen plan keeps the failback as written (the null health check too), so the plan a failback of it
    # runs has the failback steps and no health check, and reprotects
    execution = world.ledger.execution("e1")
    assert execution is not None
    frozen = frozen_plan(execution)
    back = for_failback(frozen).wave("db")
    assert ([s.document for s in back.post_launch], back.health_check) == (["DRSOrch-WaitForSsmAgent"], None)
    assert frozen.wave("db").health_check is not None
    assert frozen.reprotects is True


def test_the_same_script_starts_once_the_deploy_allows_its_document(world: World) -> None:
    # GIVEN an allow-list that adds AWS-RunShellScript to the project's documents
    world.configure(allowed_ssm_documents="DRSOrch-*, AWS-RunShellScript")
    world.ssm.add_document("AWS-RunShellScript", ["workingDirectory"], required=["commands"])
    # WHEN the plan of the test above is started
    fence = plan(wave("db", S1, preLaunch=[FENCE_BY_TAG]))
    started = start_plan(world.rt, StartPlan(plan=fence, execution_id="e1"), "e")
    # THEN it runs: its document was described once, and the root wave is released
    assert started == "e1"
    assert world.ssm.described == ["AWS-RunShellScript"]
    assert world.bus.types() == ["PlanStarted", "WaveReady"]


def test_parameters_a_document_does_not_declare_or_requires_are_refused(world: World) -> None:
    # GIVEN a document with a required Target and an optional TimeoutSeconds, used by three scripts: one with
    # a misspelt parameter, one without its Target, one right
    world.configure(allowed_ssm_documents="DRSOrch-*")
    world.ssm.add_document("DRSOrch-HealthCheck", ["TimeoutSeconds", "ExecutionId"], required=["Target"])
    check = {"documentName": "DRSOrch-HealthCheck", "targets": {"instanceIds": ["i-00000000000000001"]}}
    scripts = [
        {**check, "parameters": {"Target": "tcp://db:5432", "TimeoutSecond": "60"}},
        {**check, "parameters": {"TimeoutSeconds": "60"}},
        {**check, "parameters": {"Target": "tcp://db:5432"}},
    ]
    # WHEN the plan is started
    checks = plan(wave("db", S1, postLaunch=scripts))
    assert start_plan(world.rt, StartPlan(plan=checks, execution_id="e1"), "e") is None
    # THEN the document was described once, and PlanFailed names each wrong parameter where it is
    assert world.ssm.described == ["DRSOrch-HealthCheck"]
    [failed] = world.bus.published
    assert isinstance(failed, PlanFailed)
    assert failed.reason == "scripts refused: 2 problem(s) with the scripts' documents or parameters"
    assert [(e.code, e.path, e.message) for e in failed.errors] == [
        (
            "unknown-parameter",
            "waves[0].postLaunch[0].parameters.TimeoutSecond",
            "post-launch step #1 of wave 'db': parameter 'TimeoutSecond' is not declared by SSM document "
            "'DRSOrch-HealthCheck' (did you mean 'TimeoutSeconds'?) (declares: ExecutionId, Target, TimeoutSeconds)",
        ),
        (
            "missing-parameter",
            "waves[0].postLaunch[1].parameters",
            "post-launch step #2 of wave 'db': SSM document 'DRSOrch-HealthCheck' requires parameter 'Target' "
            "(it has no default)",
        ),
    ]
    assert world.ledger.get_execution("e1") is None


def test_a_document_that_cannot_be_read_is_refused_and_a_throttled_read_is_retried(world: World) -> None:
    # GIVEN an allowed document SSM does not have, and another whose DescribeDocument is throttled once
    from orchestrator.adapters.ssm import SsmThrottled

    world.configure(allowed_ssm_documents="DRSOrch-*")
    world.ssm.add_document("DRSOrch-WaitForSsmAgent")
    missing = plan(wave("db", S1, postLaunch=[{"documentName": "DRSOrch-Gone"}]))
    agent = plan(wave("db", S1, postLaunch=[{"documentName": "DRSOrch-WaitForSsmAgent"}]))
    world.ssm.fail("document_parameters", SsmThrottled("ThrottlingException: slow down", "ThrottlingException"))
    # WHEN the second is started (throttled, then delivered again), and the first
    with pytest.raises(SsmThrottled):
        start_plan(world.rt, StartPlan(plan=agent, execution_id="e2"), "evt-2")
    assert (world.ledger.get_execution("e2"), world.bus.published) == (None, [])
    assert start_plan(world.rt, StartPlan(plan=agent, execution_id="e2"), "evt-2") == "e2"
    assert start_plan(world.rt, StartPlan(plan=missing, execution_id="e1"), "evt-1") is None
    # THEN the throttled one started on its redelivery, and the missing document is named
    failed = world.published(PlanFailed)
    assert [(e.code, e.path, e.message) for f in failed for e in f.errors] == [
        (
            "unknown-document",
            "waves[0].postLaunch[0].documentName",
            "post-launch step #1 of wave 'db': SSM document 'DRSOrch-Gone' cannot be read: DescribeDocument: "
            "InvalidDocument: document DRSOrch-Gone does not exist",
        )
    ]
    assert world.ledger.get_execution("e1") is None


def test_a_required_context_parameter_is_given_by_the_run_so_the_plan_starts_and_the_send_carries_it(
    world: World,
) -> None:
    # GIVEN a document that requires every run-context parameter (no defaults), and a script that sets none
    from events.models import WaveReady as Ready
    from orchestrator.domain.plan.documents import CONTEXT_PARAMETERS
    from orchestrator.steps.pre_launch import on_wave_ready

    world.configure(allowed_ssm_documents="DRSOrch-*")
    world.ssm.add_document("DRSOrch-Context", required=CONTEXT_PARAMETERS)
    script = {"documentName": "DRSOrch-Context", "targets": {"instanceIds": ["i-00000000000000001"]}}
    # WHEN the plan is started and its wave becomes ready
    world.start(plan(wave("db", S1, preLaunch=[script])))
    on_wave_ready(world.rt, Ready(execution_id="e1", plan_id="p", wave_id="db"), "wr-1")
    # THEN the script was sent with every one of them (the check and the send agree on the run context)
    [sent] = world.ssm.sent
    assert set(sent["parameters"]) == CONTEXT_PARAMETERS


def test_every_script_problem_of_a_plan_is_reported_at_once(world: World) -> None:
    # GIVEN a plan with a health check outside the allow-list and a post-launch step missing a parameter
    world.configure(allowed_ssm_documents="DRSOrch-HealthCheck")
    world.ssm.add_document("DRSOrch-HealthCheck", required=["Target"])
    both = plan(
        wave(
            "web",
            S1,
            postLaunch=[{"documentName": "DRSOrch-HealthCheck"}],
            healthCheck={"documentName": "DRSOrch-ServiceCheck", "parameters": {"ServiceName": "nginx"}},
        )
    )
    # WHEN it is started
    assert start_plan(world.rt, StartPlan(plan=both, execution_id="e1"), "e") is None
    # THEN one PlanFailed lists both, and only the allowed document was described
    [failed] = world.bus.published
    assert failed.reason == (
        "scripts refused: 1 script(s) name an SSM document outside the allow-list (DRSOrch-HealthCheck); "
        "1 problem(s) with the scripts' documents or parameters"
    )
    assert [(e.code, e.path) for e in failed.errors] == [
        ("document-not-allowed", "waves[0].healthCheck.documentName"),
        ("missing-parameter", "waves[0].postLaunch[0]"),
    ]
    assert world.ssm.described == ["DRSOrch-HealthCheck"]


def test_a_plan_naming_more_distinct_documents_than_the_limit_is_refused_without_reading_them(world: World) -> None:
    # GIVEN a plan whose scripts name MAX_DOCUMENTS + 1 distinct allowed documents
    from orchestrator.domain.plan.documents import MAX_DOCUMENTS

    scripts = [{"documentName": f"DRSOrch-Doc{n}"} for n in range(MAX_DOCUMENTS + 1)]
    # WHEN it is started
    checks = plan(wave("db", S1, postLaunch=scripts))
    assert start_plan(world.rt, StartPlan(plan=checks, execution_id="e1"), "e") is None
    # THEN it is refused before any DescribeDocument
    [failed] = world.bus.published
    assert [(e.code, e.message) for e in failed.errors] == [
        (
            "too-many-documents",
            f"the plan's scripts name {MAX_DOCUMENTS + 1} distinct SSM documents (at most {MAX_DOCUMENTS}: each "
            "one's parameters are read before the plan starts)",
        )
    ]
    assert world.ssm.described == []


@pytest.mark.parametrize("source", [SOURCE, "aws.events", "drs.orchestrator.operator2"])
def test_a_recovery_from_any_source_but_the_operator_endpoint_is_refused_before_anything(
    world: World, source: str
) -> None:
    # GIVEN a confirmed RECOVERY StartPlan that did not come from the operator endpoint
    detail = StartPlan(plan=_plan(), execution_id="e1", mode=Mode.RECOVERY, confirm_recovery="p", requested_by="anyone")
    # WHEN it is started
    assert start_plan(world.rt, detail, "evt-1", source=source) is None
    # THEN nothing was created, no document was read, and PlanFailed says why
    assert world.ledger.get_execution("e1") is None
    assert world.ssm.described == []
    [failed] = world.bus.published
    assert isinstance(failed, PlanFailed)
    assert failed.reason.startswith("RECOVERY mode is a real failover: it starts only through the operator endpoint")
    assert [(e.code, e.path, e.message) for e in failed.errors] == [
        (
            "unauthenticated_recovery",
            "mode",
            f"a RECOVERY StartPlan from source {source!r}, not from the operator endpoint",
        )
    ]


def test_a_drill_is_started_from_either_source(world: World) -> None:
    # GIVEN DRILL StartPlans from the bus's publishers and from the operator endpoint
    # WHEN each is started THEN each creates its execution
    assert start_plan(world.rt, StartPlan(plan=_plan(), execution_id="e1"), "evt-1", source=SOURCE) == "e1"
    assert start_plan(world.rt, StartPlan(plan=_plan(), execution_id="e2"), "evt-2", source=OPERATOR_SOURCE) == "e2"


@pytest.mark.parametrize(
    ("plan_ttl", "start_ttl", "recorded"),
    [(None, None, None), (3600, None, 3600), (None, 900, 900), (3600, 900, 900), (600, 14_400, 600)],
)
def test_a_drill_records_the_shorter_of_its_plan_and_start_plan_time_to_live(
    world: World, plan_ttl: int | None, start_ttl: int | None, recorded: int | None
) -> None:
    # GIVEN a drill whose plan and StartPlan each may set a time to live (a scheduled drill's always does)
    document = _plan()
    if plan_ttl is not None:
        document["defaults"] = {"drillInstanceTtlSeconds": plan_ttl}
    # WHEN it is started
    start_plan(world.rt, StartPlan(plan=document, execution_id="e1", drill_instance_ttl_seconds=start_ttl), "evt-1")
    # THEN the execution records the shorter one (None: it keeps its instances until cleanup)
    execution = world.rt.ledger.execution("e1")
    assert execution is not None
    assert execution.drill_ttl_seconds == recorded
    assert drill_ttl_seconds(execution) == recorded


@pytest.mark.parametrize(
    ("detail", "message"),
    [
        (
            {"mode": "RECOVERY", "confirmRecovery": "p", "drillInstanceTtlSeconds": 900},
            "drillInstanceTtlSeconds is for drills",
        ),
        ({"drillInstanceTtlSeconds": 299}, "greater than or equal to 300"),
        ({"drillInstanceTtlSeconds": 604_801}, "less than or equal to 604800"),
        ({"drillInstanceTtlSeconds": "soon"}, "valid integer"),
    ],
)
def test_a_start_plan_time_to_live_outside_a_drill_or_its_bounds_is_refused(detail: dict, message: str) -> None:
    # GIVEN / WHEN a StartPlan with a time to live in a recovery, or out of 300 s to 7 days THEN it is refused
    with pytest.raises(ValidationError, match=message):
        StartPlan.model_validate({"plan": _plan(), **detail})
