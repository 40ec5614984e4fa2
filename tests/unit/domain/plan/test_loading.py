from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.domain.plan import (
    Criticality,
    OnFailure,
    Plan,
    PlanError,
    Problem,
    ScriptOnFailure,
    check_plan,
    load_plan,
    parse_plan,
    plan_to_document,
)
from tests.unit.domain.plan.conftest import EXAMPLES, server_id

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml")) + sorted(EXAMPLES.glob("*.json"))


def _plan(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "planId": "p",
        "waves": [
            {"waveId": "db", "servers": [server_id(1)]},
            {"waveId": "app", "dependsOn": ["db"], "servers": [server_id(2)]},
        ],
    }
    document.update(overrides)
    return document


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda path: path.name)
def test_every_example_loads_and_round_trips(path: Path) -> None:
    # GIVEN an example plan shipped for new users
    # WHEN it is loaded
    plan = load_plan(path)

    # THEN it round-trips through the camelCase document
    document = plan_to_document(plan)
    assert parse_plan(json.loads(json.dumps(document))) == plan
    assert parse_plan(json.dumps(document)) == plan


def test_three_tier_example_has_the_documented_shape() -> None:
    # GIVEN / WHEN the three-tier example is loaded
    plan = load_plan(EXAMPLES / "three-tier.yaml")

    # THEN it has the three waves in a chain, with scripts, an optional server, launch settings, and a web tier
    # chosen by tag
    assert plan.plan_id == "three-tier"
    assert plan.wave_ids == ["database", "application", "web"]
    database, application, web = plan.waves
    assert len(database.servers) == 2
    assert database.pre_launch[0].document_name == "AWS-RunShellScript"
    assert database.pre_launch[0].parameters == {"commands": ["echo fence old site"]}
    assert database.pre_launch[0].targets.tags
    assert database.post_launch
    assert application.depends_on == ["database"]
    assert len(application.servers) == 3
    assert [s.criticality for s in application.servers].count(Criticality.OPTIONAL) == 1
    assert web.depends_on == ["application"]
    assert (web.servers, web.source_server_tags) == ([], {"app": "shop", "tier": "web"})
    assert web.post_launch
    assert [w.launch_settings is not None for w in plan.waves] == [True, True, True]
    assert all(len(server_id) == 19 for wave in plan.waves for server_id in wave.server_ids)


def test_diamond_and_parallel_examples() -> None:
    # GIVEN / WHEN the diamond and parallel examples are loaded
    diamond = load_plan(EXAMPLES / "diamond.yaml")
    parallel = load_plan(EXAMPLES / "parallel.yaml")

    # THEN the diamond joins B and C into D, and the parallel plan has no dependencies at all
    assert diamond.wave("D").depends_on == ["B", "C"]
    assert all(not wave.depends_on for wave in parallel.waves)


def test_seed_format_loads_and_converts() -> None:
    # GIVEN the seed project's PascalCase JSON plan without a PlanId
    # WHEN it is loaded
    plan = load_plan(EXAMPLES / "seed-format.json")

    # THEN it is converted to the native model, with a plan id taken from the file name
    assert plan.plan_id == "seed-format"
    assert plan.wave_ids == ["wave-0", "wave-1"]
    wave = plan.wave("wave-1")
    assert wave.depends_on == ["wave-0"]
    assert wave.server_ids == ["s-8000000000000000a"]
    script = wave.pre_launch[0]
    assert (script.document_name, script.timeout_seconds, script.parameters) == ("DatabaseBackup", 300, {})
    assert script.targets.wave == "wave-1"
    assert wave.post_launch[0].parameters == {"commands": ["echo wave-1 up"]}


def test_seed_format_dict_with_plan_id_and_server_objects() -> None:
    # GIVEN a seed-format dict (as in the seed's own event) with PascalCase plan fields and servers
    seed = {
        "PlanId": "seed",
        "Name": "Seed",
        "Waves": [
            {
                "WaveId": "wave-0",
                "Servers": [{"SourceServerID": server_id(1), "Criticality": "OPTIONAL"}],
                "Dependencies": [],
                "PreLaunchScripts": [],
                "PostLaunchScripts": [{"Type": "SSM_DOCUMENT", "DocumentName": "X", "Targets": {"Tags": {"A": "b"}}}],
            }
        ],
    }

    # WHEN it is parsed
    plan = parse_plan(seed)

    # THEN every field is converted, the user's tag keys untouched
    assert (plan.plan_id, plan.name) == ("seed", "Seed")
    assert plan.waves[0].servers[0].criticality is Criticality.OPTIONAL
    assert plan.waves[0].post_launch[0].targets.tags == {"A": "b"}


def test_seed_without_plan_id_and_without_source_gets_a_default_id() -> None:
    # GIVEN / WHEN a seed-format dict with no PlanId and no file
    plan = parse_plan({"Waves": [{"WaveId": "w", "SourceServerIDs": [server_id(1)]}]})

    # THEN it still gets a valid plan id
    assert plan.plan_id == "seed-plan"


def test_defaults_are_inherited_and_can_be_overridden() -> None:
    # GIVEN plan defaults and a wave and script that override some of them
    document = _plan(
        defaults={"onFailure": "CONTINUE", "scriptTimeoutSeconds": 120},
        waves=[
            {
                "waveId": "db",
                "servers": [server_id(1)],
                "postLaunch": [{"documentName": "A"}, {"documentName": "B", "timeoutSeconds": 45}],
                "healthCheck": {"documentName": "H"},
            },
            {"waveId": "app", "onFailure": "STOP", "servers": [server_id(2)]},
        ],
    )

    # WHEN it is parsed
    plan = parse_plan(document)

    # THEN unset values come from the defaults, set values win, and targets default to the wave
    db, app = plan.waves
    assert db.on_failure is OnFailure.CONTINUE
    assert app.on_failure is OnFailure.STOP
    assert [script.timeout_seconds for script in db.post_launch] == [120, 45]
    assert db.health_check is not None
    assert db.health_check.timeout_seconds == 120
    assert db.health_check.targets.wave == "db"
    assert db.post_launch[0].on_failure is ScriptOnFailure.FAIL
    assert db.post_launch[0].retries == 0


def test_built_in_defaults() -> None:
    # GIVEN / WHEN a minimal plan
    plan = parse_plan(_plan())

    # THEN the documented defaults apply
    assert plan.defaults.on_failure is OnFailure.STOP
    assert plan.defaults.script_timeout_seconds == 600
    assert plan.defaults.max_replication_lag_seconds == 3600
    assert plan.defaults.require_approval_in_recovery is False
    assert plan.waves[0].servers[0].criticality is Criticality.CRITICAL
    assert plan.waves[0].rollback.value == "NONE"


def test_snake_case_names_are_accepted_too() -> None:
    # GIVEN a plan written with the Python attribute names
    document = {"plan_id": "p", "waves": [{"wave_id": "w", "servers": [{"source_server_id": server_id(1)}]}]}

    # WHEN / THEN it loads
    assert parse_plan(document).wave("w").server_ids == [server_id(1)]


def test_parse_plan_reads_yaml_text() -> None:
    # GIVEN YAML text
    text = f"planId: p\nwaves:\n  - waveId: w\n    servers: [{server_id(1)}]\n"

    # WHEN / THEN it parses
    assert parse_plan(text).wave_ids == ["w"]


def test_parse_plan_reports_lines_for_text_and_none_for_dicts() -> None:
    # GIVEN the same bad plan as text and as a dict
    text = f"planId: p\nwaves:\n  - waveId: w\n    servers: [{server_id(1)}]\n    dependsOn: [x]\n"

    # WHEN each is parsed
    with pytest.raises(PlanError) as from_text:
        parse_plan(text, source="p.yaml")
    with pytest.raises(PlanError) as from_dict:
        parse_plan({"planId": "p", "waves": [{"waveId": "w", "servers": [server_id(1)], "dependsOn": ["x"]}]})

    # THEN the text has a line, the dict has none, and both say where the problem is
    assert str(from_text.value.problems[0]) == "p.yaml:5: waves[0].dependsOn[0] (wave w): unknown dependency 'x'"
    assert str(from_dict.value.problems[0]) == "waves[0].dependsOn[0] (wave w): unknown dependency 'x'"
    assert "p.yaml" in str(from_text.value)


def test_check_plan_never_raises_and_reports_everything() -> None:
    # GIVEN content that is wrong in many ways at once
    document: dict[str, Any] = {
        "planId": "p",
        "waves": [
            {"waveId": "a", "dependsOn": ["b"], "servers": ["nope"]},
            {"waveId": "b", "dependsOn": ["a"], "servers": [server_id(1)], "bogus": 1},
            "not a wave",
        ],
    }

    # WHEN it is checked
    plan, problems = check_plan(document)

    # THEN no plan, and every problem is there
    assert plan is None
    codes = {problem.code for problem in problems}
    assert {"cycle", "invalid-server-id", "unknown-field", "invalid-value"} <= codes


@pytest.mark.parametrize("data", [None, [], "text", 3])
def test_check_plan_rejects_a_top_level_that_is_not_a_mapping(data: Any) -> None:
    # GIVEN / WHEN a top level that is not a mapping
    plan, problems = check_plan(data)

    # THEN one clear problem
    assert plan is None
    assert [problem.code for problem in problems] == ["not-a-mapping"]


def test_check_plan_returns_the_plan_when_valid() -> None:
    plan, problems = check_plan(_plan())
    assert problems == []
    assert isinstance(plan, Plan)


def test_plan_model_validate_runs_the_graph_checks() -> None:
    # GIVEN a document with a cycle, validated straight through the model (e.g. a stored snapshot)
    document = _plan(
        waves=[
            {"waveId": "a", "dependsOn": ["b"], "servers": [server_id(1)]},
            {"waveId": "b", "dependsOn": ["a"], "servers": [server_id(2)]},
        ]
    )

    # WHEN / THEN the model refuses it too
    with pytest.raises(ValueError, match="dependency cycle"):
        Plan.model_validate(document)


def test_wave_lookup() -> None:
    plan = parse_plan(_plan())
    assert plan.wave("app").depends_on == ["db"]
    with pytest.raises(KeyError):
        plan.wave("nope")


def test_a_plan_with_no_dependencies_is_valid() -> None:
    # GIVEN waves with no dependsOn at all (the old parallel mode)
    document = _plan(waves=[{"waveId": f"w{i}", "servers": [server_id(i)]} for i in range(5)])

    # WHEN / THEN it is just a DAG of roots
    assert len(parse_plan(document).waves) == 5


def test_post_launch_may_target_an_ancestor_and_pre_launch_a_strict_ancestor() -> None:
    # GIVEN scripts targeting upstream waves
    document = _plan(
        waves=[
            {"waveId": "db", "servers": [server_id(1)]},
            {"waveId": "mid", "dependsOn": ["db"], "servers": [server_id(2)]},
            {
                "waveId": "app",
                "dependsOn": ["mid"],
                "servers": [server_id(3)],
                "preLaunch": [{"documentName": "X", "targets": {"wave": "db"}}],
                "postLaunch": [{"documentName": "Y", "targets": {"wave": "app"}}],
                "healthCheck": {"documentName": "Z", "targets": {"wave": "mid"}},
            },
        ]
    )

    # WHEN / THEN they are accepted
    assert parse_plan(document).wave("app").pre_launch[0].targets.wave == "db"


def test_parameters_accept_scalars_as_strings() -> None:
    # GIVEN SSM parameters that YAML read as numbers and booleans
    text = (
        f"planId: p\nwaves:\n  - waveId: w\n    servers: [{server_id(1)}]\n"
        "    postLaunch:\n      - documentName: DRSOrch-HealthCheck\n"
        "        parameters: {TimeoutSeconds: 30, Verbose: true, List: [1, a]}\n"
    )

    # WHEN / THEN they become strings
    script = parse_plan(text).waves[0].post_launch[0]
    assert script.parameters == {"TimeoutSeconds": "30", "Verbose": "true", "List": ["1", "a"]}


def test_load_plan_errors_for_missing_directory_and_binary_files(tmp_path: Path) -> None:
    # GIVEN a missing file, a directory and a binary file
    binary = tmp_path / "plan.yaml"
    binary.write_bytes(b"\xff\xfe\x00\x01")

    # WHEN / THEN each is a PlanError with a clear message
    for path, text in (
        (tmp_path / "missing.yaml", "no such file"),
        (tmp_path, "directory"),
        (binary, "not a text"),
    ):
        with pytest.raises(PlanError) as caught:
            load_plan(path)
        assert text in str(caught.value.problems[0])
        assert caught.value.source == str(path)


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing\n")
    with pytest.raises(PlanError, match="empty"):
        load_plan(path)


def test_problem_rendering() -> None:
    # GIVEN problems with more or less location
    full = Problem("unknown dependency 'db2'", "unknown-dependency", "app", "waves[1].dependsOn[0]", 12, "plan.yaml")
    bare = Problem("the plan has no waves", "empty-plan")

    # WHEN / THEN they render as file:line: path (wave W): message
    assert str(full) == "plan.yaml:12: waves[1].dependsOn[0] (wave app): unknown dependency 'db2'"
    assert str(bare) == "the plan has no waves"


_KEYS = st.sampled_from(
    [
        "planId",
        "waves",
        "waveId",
        "dependsOn",
        "servers",
        "preLaunch",
        "postLaunch",
        "healthCheck",
        "targets",
        "wave",
        "tags",
        "instanceIds",
        "documentName",
        "timeoutSeconds",
        "approval",
        "defaults",
        "sourceServerID",
        "Waves",
        "WaveId",
        "Dependencies",
        "x",
    ]
)
_JUNK = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 200_000) | st.sampled_from(["a", "b", "s-00000000000000001", ""]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_KEYS, _JUNK, max_size=5))
def test_check_plan_never_raises_on_junk(data: dict[str, Any]) -> None:
    # GIVEN / WHEN arbitrary nested content shaped like a plan
    plan, problems = check_plan(data)

    # THEN it answers with a plan or with problems, never an exception
    assert (plan is None) == bool(problems)
    assert all(isinstance(str(problem), str) for problem in problems)
