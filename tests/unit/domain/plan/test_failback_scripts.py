"""Per-direction scripts (a wave's `failback:`) and the plan's `failback.reprotect` (issue #15 items 4 and 5):
the model, `for_failback` (orchestrator/domain/plan/direction.py), and every check the recovery scripts get applied
to the failback scripts, each problem at its `waves[i].failback...` path and line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from drs_orch.plan_verbs import describe, register
from orchestrator.domain.plan import (
    Plan,
    PlanError,
    ScriptType,
    for_failback,
    load_plan,
    parse_plan,
    plan_to_document,
    plan_warnings,
)
from orchestrator.domain.plan.documents import (
    AllowList,
    DocumentParameters,
    disallowed_documents,
    documents_to_describe,
    parameter_problems,
)
from orchestrator.domain.plan.lambda_functions import FunctionAllowList, disallowed_functions
from orchestrator.domain.plan.native import unexpressible
from tests.unit.domain.plan.conftest import EXAMPLES, server_id

ARN = "arn:aws:lambda:us-east-1:123456789012:function:notify"
OTHER_ARN = "arn:aws:lambda:us-east-1:123456789012:function:other"

#: db -> app; app's failback replaces its postLaunch and drops its health check, keeps its preLaunch.
PLAN = """\
planId: two-ways
defaults:
  scriptTimeoutSeconds: 900
failback:
  reprotect: true
waves:
  - waveId: db
    servers: [s-00000000000000001]
    postLaunch:
      - documentName: DRSOrch-StartDatabase
  - waveId: app
    dependsOn: [db]
    servers: [s-00000000000000002]
    preLaunch:
      - documentName: DRSOrch-Fence
        targets: {wave: db}
    postLaunch:
      - documentName: DRSOrch-SwitchDns
        parameters: {Zone: recovery}
    healthCheck:
      documentName: DRSOrch-HealthCheck
    failback:
      postLaunch:
        - documentName: DRSOrch-SwitchDns
          parameters: {Zone: origin}
        - type: WAIT
          seconds: 60
      healthCheck: null
"""


def _wave(wave_id: str, number: int, **rest: Any) -> dict[str, Any]:
    return {"waveId": wave_id, "servers": [server_id(number)], **rest}


def _plan(*waves: dict[str, Any], **rest: Any) -> dict[str, Any]:
    return {"planId": "p", "waves": list(waves), **rest}


def _problems(data: Any) -> list[tuple[str | None, str, int | None]]:
    with pytest.raises(PlanError) as raised:
        parse_plan(data)
    return [(p.path, p.code, p.line) for p in raised.value.problems]


# ---- the model ------------------------------------------------------------------------------------------------------


def test_a_failback_key_given_is_told_from_one_left_out_and_a_null_one_from_both() -> None:
    # GIVEN the plan above / WHEN it is loaded
    plan = parse_plan(PLAN)
    app = plan.wave("app")
    # THEN app's failback gives postLaunch and a null healthCheck, and leaves preLaunch out
    assert app.failback is not None
    given = app.failback.given()
    assert list(given) == ["post_launch", "health_check"]
    assert given["health_check"] is None
    assert [s.name for s in given["post_launch"] or []] == ["DRSOrch-SwitchDns", "WAIT 60 s"]  # type: ignore[union-attr]
    # AND its failback steps are filled in as the recovery ones are: the wave as targets, the plan's timeout
    switch = app.failback.post_launch[0]  # type: ignore[index]
    assert (switch.run_targets.wave, switch.timeout_seconds) == ("app", 900)
    # AND db has no failback, and the plan reprotects
    assert plan.wave("db").failback is None
    assert plan.reprotects is True


def test_a_plan_without_failback_loads_and_writes_as_before() -> None:
    # GIVEN a plan without any failback key / WHEN it is loaded and written out
    plan = parse_plan(_plan(_wave("db", 1, postLaunch=[{"documentName": "DRSOrch-A"}])))
    document = plan_to_document(plan)
    # THEN neither the plan nor its wave has a failback key, and it reprotects nothing
    assert "failback" not in document
    assert "failback" not in document["waves"][0]
    assert plan.reprotects is False
    # AND for_failback gives it back as it is
    assert for_failback(plan) == plan
    assert plan_to_document(for_failback(plan)) == document


def test_the_plan_document_round_trips_with_each_failback_key_as_given() -> None:
    # GIVEN the plan above / WHEN it is written out and read back
    plan = parse_plan(PLAN)
    document = plan_to_document(plan)
    again = Plan.model_validate(json.loads(json.dumps(document)))
    # THEN it is the same plan, the null healthCheck is still given (not left out: that would keep the recovery one),
    # and a failback step whose targets are its own wave is written without them, as a recovery step is
    assert again == plan
    assert document["waves"][1]["failback"]["healthCheck"] is None
    assert again.wave("app").failback.given() == plan.wave("app").failback.given()  # type: ignore[union-attr]
    assert "targets" not in document["waves"][1]["failback"]["postLaunch"][0]
    assert document["waves"][1]["failback"]["postLaunch"][1] == {"type": "WAIT", "seconds": 60}
    assert document["failback"] == {"reprotect": True}


@pytest.mark.parametrize(
    ("failback", "expected"),
    [
        # (the failback given) -> (preLaunch, postLaunch, healthCheck) of the plan a failback runs
        ({}, (["DRSOrch-Pre"], ["DRSOrch-Post"], "DRSOrch-Check")),
        ({"preLaunch": []}, ([], ["DRSOrch-Post"], "DRSOrch-Check")),
        ({"preLaunch": None}, ([], ["DRSOrch-Post"], "DRSOrch-Check")),
        ({"postLaunch": [{"documentName": "DRSOrch-Back"}]}, (["DRSOrch-Pre"], ["DRSOrch-Back"], "DRSOrch-Check")),
        ({"healthCheck": None}, (["DRSOrch-Pre"], ["DRSOrch-Post"], None)),
        ({"healthCheck": {"documentName": "DRSOrch-Home"}}, (["DRSOrch-Pre"], ["DRSOrch-Post"], "DRSOrch-Home")),
        (
            {"preLaunch": [], "postLaunch": [], "healthCheck": None},
            ([], [], None),
        ),
    ],
)
def test_for_failback_replaces_each_key_given_and_keeps_each_left_out(failback: dict, expected: tuple) -> None:
    # GIVEN a wave with recovery steps of each kind and a failback
    script = {"targets": {"instanceIds": ["i-00000000000000001"]}}
    wave = _wave(
        "db",
        1,
        preLaunch=[{**script, "documentName": "DRSOrch-Pre"}],
        postLaunch=[{**script, "documentName": "DRSOrch-Post"}],
        healthCheck={**script, "documentName": "DRSOrch-Check"},
        failback=failback,
    )
    plan = parse_plan(_plan(wave))
    # WHEN the plan a failback runs is made
    back = for_failback(plan)
    # THEN each key given replaced the recovery one, the others stayed, and the wave has no failback left
    [result] = back.waves
    health = result.health_check.document if result.health_check else None
    assert ([s.document for s in result.pre_launch], [s.document for s in result.post_launch], health) == expected
    assert result.failback is None
    # AND the original plan is untouched (the function is pure)
    assert plan.waves[0].pre_launch[0].document == "DRSOrch-Pre"
    assert plan.waves[0].failback is not None


def test_the_failback_plan_round_trips_as_an_ordinary_plan() -> None:
    # GIVEN the plan a failback of the plan above runs
    back = for_failback(parse_plan(PLAN))
    # WHEN it is frozen (written out) and read back
    document = plan_to_document(back)
    again = Plan.model_validate(json.loads(json.dumps(document)))
    # THEN it is the same plan, with no wave failback left, the failback steps in place and the reprotect option kept
    assert again == back
    assert all("failback" not in wave for wave in document["waves"])
    app = again.wave("app")
    assert [s.name for s in app.post_launch] == ["DRSOrch-SwitchDns", "WAIT 60 s"]
    assert app.post_launch[0].parameters == {"Zone": "origin"}
    assert app.health_check is None
    assert [s.document for s in app.pre_launch] == ["DRSOrch-Fence"]
    assert again.reprotects is True


def test_every_example_plan_is_its_own_failback_plan_when_it_gives_no_failback_scripts() -> None:
    # GIVEN the example plans / WHEN the plan a failback runs is made of each without wave failback
    for path in sorted(EXAMPLES.glob("*.yaml")):
        plan = load_plan(path)
        if all(wave.failback is None for wave in plan.waves):
            # THEN it is the plan itself
            assert for_failback(plan) == plan, path


@pytest.mark.parametrize(
    ("key", "value", "suffix"),
    [
        ("healthCheck", {"type": "WAIT", "seconds": 5}, ""),
        ("postLaunch", [{"type": "WAIT"}], "[0].seconds"),
        ("preLaunch", [{"documentName": ""}], "[0].documentName"),
        ("preLaunch", [{"type": "SSM_AUTOMATION", "documentName": "R", "targets": {"wave": "db"}}], "[0].targets"),
        ("postLaunch", [{"documentName": "A", "targets": {"tags": {}}}], "[0].targets.tags"),
        ("postLaunch", "DRSOrch-A", ""),
    ],
)
def test_a_malformed_failback_step_is_the_problem_a_recovery_step_is_at_its_failback_path(
    key: str, value: Any, suffix: str
) -> None:
    # GIVEN the same malformed step as a recovery step and as a failback step
    # WHEN each plan is loaded
    recovery = _error_list(_plan(_wave("db", 1, **{key: value})))
    failback = _error_list(_plan(_wave("db", 1, failback={key: value})))
    # THEN the failback one is the same problem, at the failback path
    assert [(p.path, p.code) for p in recovery] == [(f"waves[0].{key}{suffix}", recovery[0].code)]
    assert [(p.path, p.code, p.message) for p in failback] == [
        (f"waves[0].failback.{key}{suffix}", recovery[0].code, recovery[0].message)
    ]


def test_an_unknown_failback_key_is_a_problem_with_a_hint() -> None:
    # GIVEN a failback with a misspelt key / WHEN the plan is loaded / THEN it is refused at its path, with a hint
    [problem] = _error_list(_plan(_wave("db", 1, failback={"postlaunch": []})))
    assert (problem.path, problem.code) == ("waves[0].failback.postlaunch", "unknown-field")
    assert "postLaunch" in problem.message


def _error_list(data: Any) -> list[Any]:
    with pytest.raises(PlanError) as raised:
        parse_plan(data)
    return raised.value.problems


def test_the_reprotect_option_is_a_boolean() -> None:
    # GIVEN a plan whose failback.reprotect is not a boolean / WHEN it is loaded / THEN it is refused at its path
    assert [path for path, _, _ in _problems(_plan(_wave("db", 1), failback={"reprotect": "yes"}))] == [
        "failback.reprotect"
    ]
    assert [path for path, _, _ in _problems(_plan(_wave("db", 1), failback={"reprotects": True}))] == [
        "failback.reprotects"
    ]
    assert parse_plan(_plan(_wave("db", 1), failback={})).reprotects is False


# ---- the plan checks on failback steps ------------------------------------------------------------------------------


def test_a_failback_script_targeting_a_wave_that_is_not_upstream_is_a_problem_at_its_line() -> None:
    # GIVEN app's failback preLaunch targets app itself, and its failback postLaunch a wave that does not exist
    text = PLAN.replace(
        "      healthCheck: null\n",
        "      healthCheck: null\n"
        "      preLaunch:\n"
        "        - documentName: DRSOrch-Fence\n"
        "          targets: {wave: app}\n",
    ).replace("parameters: {Zone: origin}", "parameters: {Zone: origin}\n          targets: {wave: dbb}")
    # WHEN it is loaded
    problems = {(p.path, p.code): (p.line, p.message) for p in _error_list(text)}
    # THEN each is a script-target problem at the failback step's own path and line, saying it is a failback step
    own = problems[("waves[1].failback.preLaunch[0].targets.wave", "script-target")]
    assert own[0] == text.splitlines().index("          targets: {wave: app}") + 1
    assert own[1].startswith("failback preLaunch script targets itself, which is not upstream of 'app'")
    unknown = problems[("waves[1].failback.postLaunch[0].targets.wave", "script-target")]
    assert "failback postLaunch script targets unknown wave 'dbb' (did you mean 'db'?)" in unknown[1]
    assert len(problems) == 2


def test_run_references_of_a_failback_step_are_checked_as_a_recovery_steps_are() -> None:
    # GIVEN failback steps of db naming app (downstream) and of app's preLaunch naming app itself (not launched yet)
    plan = _plan(
        _wave(
            "db",
            1,
            failback={
                "postLaunch": [{"documentName": "DRSOrch-A", "parameters": {"Hosts": "${{ waves.app.privateIps }}"}}]
            },
        ),
        _wave(
            "app",
            2,
            dependsOn=["db"],
            failback={
                "preLaunch": [
                    {
                        "documentName": "DRSOrch-A",
                        "targets": {"wave": "db"},
                        "parameters": {"Ids": ["${{ waves.db.instanceIds }}", "${{ waves.app.instanceIds }}"]},
                    }
                ]
            },
        ),
    )
    # WHEN it is loaded / THEN each reference problem is at the failback parameter's path
    assert [(path, code) for path, code, _ in _problems(plan)] == [
        ("waves[0].failback.postLaunch[0].parameters.Hosts", "reference-not-upstream"),
        ("waves[1].failback.preLaunch[0].parameters.Ids[1]", "reference-before-launch"),
    ]


def test_the_warnings_of_recovery_steps_are_given_for_failback_steps() -> None:
    # GIVEN a failback preLaunch step without targets and a failback health check that only warns
    plan = parse_plan(
        _plan(
            _wave(
                "db",
                1,
                failback={
                    "preLaunch": [{"documentName": "DRSOrch-A"}],
                    "healthCheck": {"documentName": "DRSOrch-H", "onFailure": "WARN"},
                },
            )
        )
    )
    # WHEN it is checked for warnings / THEN both are warned about at their failback paths
    warnings = plan_warnings(plan)
    assert [(w.path, w.code) for w in warnings] == [
        ("waves[0].failback.preLaunch[0]", "no-targets"),
        ("waves[0].failback.healthCheck.onFailure", "no-effect"),
    ]
    assert warnings[0].message.startswith("failback.preLaunch script DRSOrch-A has no targets")


def test_an_empty_failback_is_warned_about_as_having_no_effect() -> None:
    # GIVEN a wave whose failback gives no key / WHEN the plan is checked for warnings / THEN it is warned about
    [warning] = plan_warnings(parse_plan(_plan(_wave("db", 1, failback={}))))
    assert (warning.path, warning.code) == ("waves[0].failback", "no-effect")
    # AND a failback giving a key, even an empty one, is not
    assert plan_warnings(parse_plan(_plan(_wave("db", 1, failback={"preLaunch": []})))) == []


def _documents_plan() -> Plan:
    step = {"targets": {"instanceIds": ["i-00000000000000001"]}}
    return parse_plan(
        _plan(
            _wave(
                "db",
                1,
                postLaunch=[{**step, "documentName": "DRSOrch-A"}],
                failback={
                    "postLaunch": [
                        {"type": "WAIT", "seconds": 5},
                        {**step, "documentName": "AWS-RunShellScript", "parameters": {"command": "x"}},
                    ],
                    "healthCheck": {"type": "LAMBDA", "functionName": OTHER_ARN},
                    "preLaunch": [{"type": "SSM_AUTOMATION", "documentName": "DRSOrch-Runbook"}],
                },
            )
        )
    )


def test_a_failback_document_outside_the_allow_list_is_a_problem_at_its_path() -> None:
    # GIVEN a plan whose failback post-launch step #2 runs AWS-RunShellScript
    plan = _documents_plan()
    # WHEN its documents are checked against the project's allow-list
    [problem] = disallowed_documents(plan, AllowList.parse("DRSOrch-*"))
    # THEN the failback step is named, at its path
    assert (problem.code, problem.path, problem.wave_id) == (
        "document-not-allowed",
        "waves[0].failback.postLaunch[1].documentName",
        "db",
    )
    assert problem.message.startswith(
        "failback post-launch step #2 of wave 'db' runs SSM document 'AWS-RunShellScript'"
    )
    # AND the documents to describe include the failback ones (allowed ones only)
    assert documents_to_describe(plan, AllowList.parse("DRSOrch-*")) == ["DRSOrch-A", "DRSOrch-Runbook"]
    assert documents_to_describe(plan, AllowList.parse("*")) == ["DRSOrch-A", "DRSOrch-Runbook", "AWS-RunShellScript"]


def test_a_failback_steps_parameters_are_checked_against_its_document() -> None:
    # GIVEN the plan above, its documents read
    plan = _documents_plan()
    documents = {
        "DRSOrch-A": DocumentParameters(frozenset()),
        "AWS-RunShellScript": DocumentParameters(frozenset({"commands"}), frozenset({"commands"})),
        "DRSOrch-Runbook": "DescribeDocument: InvalidDocument: no such document",
    }
    # WHEN the parameters are checked / THEN each failback problem is at its failback path, in run order
    assert [(p.code, p.path) for p in parameter_problems(plan, documents)] == [
        ("unknown-document", "waves[0].failback.preLaunch[0].documentName"),
        ("unknown-parameter", "waves[0].failback.postLaunch[1].parameters.command"),
        ("missing-parameter", "waves[0].failback.postLaunch[1].parameters"),
    ]


def test_a_failback_lambda_step_outside_the_allowed_functions_is_a_problem_at_its_path() -> None:
    # GIVEN the plan above, whose failback health check invokes a function the deploy does not allow
    plan = _documents_plan()
    # WHEN its functions are checked / THEN that step is the problem, at its function name
    [problem] = disallowed_functions(plan, FunctionAllowList.parse(ARN))
    assert (problem.code, problem.path) == ("function-not-allowed", "waves[0].failback.healthCheck.functionName")
    assert disallowed_functions(plan, FunctionAllowList.parse(OTHER_ARN)) == []


def test_a_native_export_names_the_failback_it_cannot_express() -> None:
    # GIVEN the plan above / WHEN it is exported as a native DRS recovery plan / THEN what is lost says failback
    losses = unexpressible(parse_plan(PLAN), {})
    assert any("failback scripts" in line for line in losses), losses
    assert "wave app: failback scripts" in " ".join(losses), losses
    assert any(line.startswith("failback.reprotect") for line in losses), losses


# ---- the CLI --------------------------------------------------------------------------------------------------------


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_validate_and_show_mention_the_failback_scripts(app: typer.Typer, tmp_path: Path) -> None:
    # GIVEN the plan above in a file
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN)
    # WHEN it is validated and shown
    validated = CliRunner().invoke(app, ["validate", str(path)])
    shown = CliRunner().invoke(app, ["show", str(path)])
    # THEN validate counts the waves with failback scripts and says it reprotects
    assert validated.exit_code == 0, validated.output
    assert "failback scripts in 1 wave, reprotect after failback" in " ".join(validated.output.split())
    # AND show lists app's failback steps, and a health check of none
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.split())
    assert "in a failback (each replaces the steps of its kind above):" in text
    assert "post-launch: DRSOrch-SwitchDns on this wave" in text
    assert "health check: none" in text
    assert "protection restarts in the original direction (reprotect)" in text


def test_show_json_gives_the_failback_keys_as_written_and_nothing_for_a_plan_without() -> None:
    # GIVEN the plan above, and one without failback / WHEN each is described
    info = describe(parse_plan(PLAN))
    plain = describe(parse_plan(_plan(_wave("db", 1))))
    # THEN app has its failback keys as written, db none, and the plan its reprotect option
    app_info = info["waves"][1]
    assert list(app_info["failback"]) == ["postLaunch", "healthCheck"]
    assert app_info["failback"]["postLaunch"][1] == {"type": ScriptType.WAIT.value, "seconds": 60}
    assert "failback" not in info["waves"][0]
    assert info["failback"] == {"reprotect": True}
    assert "failback" not in plain
    assert "failback" not in plain["waves"][0]


def test_the_readme_failback_example_loads_and_fails_back_as_it_says() -> None:
    # GIVEN the plan of README.md's "Failback scripts and reprotect" section
    readme = (Path(__file__).resolve().parents[4] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Failback scripts and reprotect") :]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    # WHEN it is loaded and its failback plan made
    plan = parse_plan(block)
    back = for_failback(plan).wave("database")
    # THEN the failback cuts DNS over to the origin with no health check, and the plan reprotects
    assert [s.parameters for s in back.post_launch] == [{"Zone": "origin"}]
    assert back.health_check is None
    assert plan.wave("database").health_check is not None
    assert plan.reprotects is True
