"""Values from the run in step parameters: the `${{ ... }}` syntax and its checks at plan load, each problem at the
line of the offending parameter (orchestrator/domain/plan/run_references.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from drs_orch.plan_verbs import register
from orchestrator.domain.plan import PlanError, parse_plan
from orchestrator.domain.plan.run_references import ReferenceProblem, RunReference, split_text

WAVE_IDS = ("db", "web.v2", "app")

#: db -> app -> web; line numbers below are this text's (the parameter under test is `value`, line 14).
PLAN = """\
planId: refs
{name}waves:
  - waveId: db
    servers: [s-00000000000000001]
  - waveId: app
    dependsOn: [db]
    servers: [s-00000000000000002]
    {phase}:
      - documentName: AWS-RunShellScript
        parameters:
          commands:
            - echo ok
            - echo fine
          value: "{value}"
  - waveId: web
    dependsOn: [app]
    servers: [s-00000000000000003]
"""
LINE = 14


def _plan(value: str, *, phase: str = "postLaunch", name: str = "") -> str:
    return PLAN.format(value=value, phase=phase, name=f"name: {name}\n" if name else "")


def _problems(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(PlanError) as caught:
        parse_plan(text, "plan.yaml")
    return [(p.line, p.code, p.message) for p in caught.value.problems]


# ---- the syntax ------------------------------------------------------------------------------------


def test_text_splits_into_literals_and_references() -> None:
    # GIVEN text with two references (one with spaces, one without), an escaped one, and SSM's and a shell's syntax
    text = "ips=${{ waves.db.privateIps }};id=${{run.executionId}} $${{ not.ours }} {{ssm:/p}} ${HOME}"

    # WHEN it is split
    pieces = split_text(text, WAVE_IDS)

    # THEN the references are parsed, `$${{` is a literal `${{`, and `{{ssm:...}}` and `${HOME}` are left alone
    assert pieces == [
        "ips=",
        RunReference("${{ waves.db.privateIps }}", "waves", "privateIps", "db"),
        ";id=",
        RunReference("${{run.executionId}}", "run", "executionId"),
        " ${{ not.ours }} {{ssm:/p}} ${HOME}",
    ]


def test_a_wave_id_with_dots_and_a_servers_attribute_are_read_from_the_right() -> None:
    # GIVEN references to a wave whose id holds a dot, one of them to a server's IP
    # WHEN / THEN the wave is the longest known id, the rest the attribute
    assert split_text("${{ waves.web.v2.instanceIds }}", WAVE_IDS) == [
        RunReference("${{ waves.web.v2.instanceIds }}", "waves", "instanceIds", "web.v2")
    ]
    assert split_text("${{ waves.web.v2.servers.s-00000000000000003.privateIp }}", WAVE_IDS) == [
        RunReference(
            "${{ waves.web.v2.servers.s-00000000000000003.privateIp }}",
            "waves",
            "privateIp",
            "web.v2",
            "s-00000000000000003",
        )
    ]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("${{ waves.db.privateIps", "malformed-reference"),
        ("${{ }}", "malformed-reference"),
        ("${{ waves.db..privateIps }}", "malformed-reference"),
        ("${{ env.HOME }}", "unknown-reference-root"),
        ("${{ run.region }}", "unknown-reference-attribute"),
        ("${{ waves.db }}", "unknown-reference-attribute"),
        ("${{ waves.dbx.privateIps }}", "unknown-reference-wave"),
    ],
)
def test_a_bad_reference_is_a_specific_problem(text: str, code: str) -> None:
    # GIVEN / WHEN a bad reference is split
    found = split_text(text, WAVE_IDS)

    # THEN it is the problem of its kind
    assert isinstance(found, ReferenceProblem)
    assert found.code == code


# ---- the checks at plan load, each at its line ---------------------------------------------------------


def test_references_to_the_run_an_upstream_wave_and_the_own_wave_after_launch_are_valid() -> None:
    # GIVEN app's post-launch step naming the run, upstream db (a server of it too) and app itself
    value = (
        "${{ run.executionId }} ${{ run.mode }} ${{ run.planId }} ${{ run.planName }} ${{ waves.db.privateIps }} "
        "${{ waves.db.servers.s-00000000000000001.instanceId }} ${{ waves.app.instanceIds }}"
    )

    # WHEN the plan is loaded
    plan = parse_plan(_plan(value, name="Refs"), "plan.yaml")

    # THEN it is valid, and the step keeps the references as written (they are resolved when it is sent)
    assert plan.wave("app").post_launch[0].parameters["value"] == value


@pytest.mark.parametrize(
    ("value", "phase", "code", "message"),
    [
        (
            "${{ waves.db.privateIps",
            "postLaunch",
            "malformed-reference",
            "malformed reference '${{ waves.db.privateIps': '${{' without its closing '}}'",
        ),
        (
            "${{ waves.db:privateIps }}",
            "postLaunch",
            "malformed-reference",
            "malformed reference '${{ waves.db:privateIps }}' (expected dotted names, e.g. ${{ run.executionId }} or "
            "${{ waves.<waveId>.privateIps }})",
        ),
        (
            "${{ wave.db.privateIps }}",
            "postLaunch",
            "unknown-reference-root",
            "unknown reference root 'wave' in '${{ wave.db.privateIps }}' (known: run, waves)",
        ),
        (
            "${{ run.region }}",
            "postLaunch",
            "unknown-reference-attribute",
            "unknown attribute 'region' of run in '${{ run.region }}' (known: executionId, mode, planId, planName)",
        ),
        (
            "${{ waves.db.privateIp }}",
            "postLaunch",
            "unknown-reference-attribute",
            "unknown attribute 'privateIp' of wave 'db' in '${{ waves.db.privateIp }}' (known: instanceIds, "
            "privateIps, servers.<sourceServerID>.instanceId, servers.<sourceServerID>.privateIp)",
        ),
        (
            "${{ waves.dbb.privateIps }}",
            "postLaunch",
            "unknown-reference-wave",
            "'${{ waves.dbb.privateIps }}' names unknown wave 'dbb' (did you mean 'db'?)",
        ),
        (
            "${{ waves.web.privateIps }}",
            "postLaunch",
            "reference-not-upstream",
            "'${{ waves.web.privateIps }}' names wave 'web', which is not upstream of 'app' (upstream of 'app': db): "
            "its instances may not exist when this step runs",
        ),
        (
            "${{ waves.app.privateIps }}",
            "preLaunch",
            "reference-before-launch",
            "'${{ waves.app.privateIps }}' names this step's own wave 'app' in a preLaunch step: nothing of it is "
            "recovered before its launch (name it in postLaunch or healthCheck, or name an upstream wave)",
        ),
        (
            "${{ waves.db.servers.s-00000000000000002.privateIp }}",
            "postLaunch",
            "unknown-reference-server",
            "'${{ waves.db.servers.s-00000000000000002.privateIp }}' names source server 's-00000000000000002', which "
            "wave 'db' does not list",
        ),
        (
            "${{ run.planName }}",
            "postLaunch",
            "reference-no-value",
            "'${{ run.planName }}' names the plan's name, and the plan has no `name`",
        ),
    ],
)
def test_each_reference_problem_is_reported_at_the_parameters_line(
    value: str, phase: str, code: str, message: str
) -> None:
    # GIVEN app's step whose `value` parameter holds one bad reference
    # WHEN the plan is loaded
    problems = _problems(_plan(value, phase=phase))

    # THEN exactly that problem, at that parameter's line
    assert problems == [(LINE, code, message)]


def test_a_list_items_problem_is_at_the_items_own_line() -> None:
    # GIVEN a bad reference in the second item of a list parameter (line 13)
    text = _plan("fine").replace("- echo fine", "- echo ${{ waves.nope.instanceIds }}")

    # WHEN the plan is loaded
    problems = _problems(text)

    # THEN the problem is at the item's line
    assert problems == [(13, "unknown-reference-wave", "'${{ waves.nope.instanceIds }}' names unknown wave 'nope'")]


def test_a_health_check_may_name_its_own_wave_and_a_wave_without_upstream_says_so() -> None:
    # GIVEN db's health check naming db itself (valid) and app's recovered instances (db has no upstream wave)
    text = _plan("ok").replace(
        "    servers: [s-00000000000000001]\n",
        "    servers: [s-00000000000000001]\n"
        "    healthCheck:\n"
        "      documentName: AWS-RunShellScript\n"
        "      parameters:\n"
        '        hosts: ["${{ waves.db.privateIps }}", "${{ waves.app.privateIps }}"]\n',
        1,
    )

    # WHEN the plan is loaded
    problems = _problems(text)

    # THEN only the reference to app is a problem, saying db has no upstream wave
    assert problems == [
        (
            8,
            "reference-not-upstream",
            "'${{ waves.app.privateIps }}' names wave 'app', which is not upstream of 'db' ('db' has no upstream "
            "wave): its instances may not exist when this step runs",
        )
    ]


def test_a_server_of_a_wave_that_selects_by_tags_is_known_only_at_run_time() -> None:
    # GIVEN db selecting its servers by tags, and app naming a server db does not list
    text = _plan("${{ waves.db.servers.s-00000000000000009.privateIp }}").replace(
        "    servers: [s-00000000000000001]\n", "    sourceServerTags: {tier: db}\n", 1
    )

    # WHEN the plan is loaded
    plan = parse_plan(text, "plan.yaml")

    # THEN it is valid (an empty value at run time fails the step)
    assert plan.wave("db").source_server_tags == {"tier": "db"}


# ---- through the CLI --------------------------------------------------------------------------------


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_validate_shows_a_reference_to_a_wave_that_is_not_upstream_with_its_line(
    app: typer.Typer, tmp_path: Path
) -> None:
    # GIVEN a plan file whose app step names web, downstream of app
    path = tmp_path / "plan.yaml"
    path.write_text(_plan("${{ waves.web.privateIps }}"))

    # WHEN it is validated
    result = CliRunner().invoke(app, ["validate", str(path)])

    # THEN exit 2 and the problem at its file and line, with the waves that are upstream
    assert result.exit_code == 2, result.output
    assert (
        f"{path}:{LINE}: waves[1].postLaunch[0].parameters.value (wave app): '${{{{ waves.web.privateIps }}}}' names "
        "wave 'web', which is not upstream of 'app' (upstream of 'app': db)"
    ) in " ".join(result.output.split())


def test_validate_shows_a_malformed_reference_with_its_line(app: typer.Typer, tmp_path: Path) -> None:
    # GIVEN a plan file whose app step holds an unclosed reference
    path = tmp_path / "plan.yaml"
    path.write_text(_plan("${{ run.executionId"))

    # WHEN it is validated
    result = CliRunner().invoke(app, ["validate", str(path)])

    # THEN exit 2 and the problem at its file and line
    assert result.exit_code == 2, result.output
    assert (
        f"{path}:{LINE}: waves[1].postLaunch[0].parameters.value (wave app): malformed reference "
        "'${{ run.executionId': '${{' without its closing '}}'"
    ) in " ".join(result.output.split())


def test_references_in_a_plan_with_a_cycle_are_checked_against_the_cycles_waves() -> None:
    # GIVEN a <-> b (a cycle), a's step naming b (upstream through the cycle) and c (not upstream)
    text = """\
planId: cyclic
waves:
  - waveId: a
    dependsOn: [b]
    servers: [s-00000000000000001]
    postLaunch:
      - documentName: AWS-RunShellScript
        parameters:
          commands: ["${{ waves.b.privateIps }}", "${{ waves.c.privateIps }}"]
  - waveId: b
    dependsOn: [a]
    servers: [s-00000000000000002]
  - waveId: c
    servers: [s-00000000000000003]
"""

    # WHEN the plan is loaded
    problems = _problems(text)

    # THEN the cycle is reported, and the one reference to a wave outside a's ancestors
    assert [(line, code) for line, code, _ in problems] == [(4, "cycle"), (9, "reference-not-upstream")]
    assert problems[1][2].startswith(
        "'${{ waves.c.privateIps }}' names wave 'c', which is not upstream of 'a' (upstream of 'a': a, b)"
    )
