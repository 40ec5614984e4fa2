"""WAIT steps in the plan model (orchestrator/domain/plan/model.py): `{type: WAIT, seconds: N}` in preLaunch and
postLaunch loads as a step of its own, is written back as just that, and is invisible to the SSM document checks
(allow-list, parameters, validate's warnings). Its refusals, each with its plan line, are in
invalid/wait-step-errors.yaml (test_invalid_corpus.py)."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.domain.plan import PlanError, ScriptType, parse_plan, plan_to_document, plan_warnings
from orchestrator.domain.plan.documents import (
    AllowList,
    DocumentParameters,
    disallowed_documents,
    documents_to_describe,
    parameter_problems,
)
from orchestrator.domain.plan.model import WAIT_SECONDS_MAX
from tests.unit.domain.plan.conftest import server_id


def _plan(**wave: Any) -> dict[str, Any]:
    return {
        "planId": "p",
        "defaults": {"scriptTimeoutSeconds": 120},
        "waves": [{"waveId": "db", "servers": [server_id(1)], **wave}],
    }


def test_a_wait_step_loads_with_its_seconds_and_none_of_an_ssm_steps_defaults() -> None:
    # GIVEN a wave that waits 10 minutes before a script, and 5 s after its launch
    document = _plan(
        preLaunch=[{"type": "WAIT", "seconds": 600}, {"documentName": "DRSOrch-Fence"}],
        postLaunch=[{"type": "WAIT", "seconds": 5}],
    )

    # WHEN it is loaded
    plan = parse_plan(document)

    # THEN the waits are WAIT steps named by their length, without targets (the defaults fill only the script)
    wave = plan.waves[0]
    wait, fence = wave.pre_launch
    assert (wait.type, wait.seconds, wait.targets, wait.name, wait.is_wait) == (
        ScriptType.WAIT,
        600,
        None,
        "WAIT 600 s",
        True,
    )
    assert (fence.type, fence.name, fence.timeout_seconds, fence.is_wait) == (
        ScriptType.SSM_DOCUMENT,
        "DRSOrch-Fence",
        120,
        False,
    )
    assert [s.name for s in wave.post_launch] == ["WAIT 5 s"]
    # AND a wait has no document or targets to ask for
    with pytest.raises(ValueError, match="WAIT 600 s runs no SSM document"):
        _ = wait.document
    with pytest.raises(ValueError, match="WAIT 600 s runs on no instance"):
        _ = wait.run_targets


def test_a_plan_with_waits_is_written_back_as_it_was_given_and_reads_back_equal() -> None:
    # GIVEN a loaded plan with waits
    plan = parse_plan(_plan(preLaunch=[{"type": "WAIT", "seconds": 60}, {"type": "WAIT", "seconds": 1}], postLaunch=[]))

    # WHEN it is written as a document (what StartPlan freezes into the ledger)
    document = plan_to_document(plan)

    # THEN each wait is its type and seconds alone, and the document loads to the same plan
    assert document["waves"][0]["preLaunch"] == [{"type": "WAIT", "seconds": 60}, {"type": "WAIT", "seconds": 1}]
    assert parse_plan(document) == plan


@pytest.mark.parametrize("seconds", [1, WAIT_SECONDS_MAX])
def test_the_bounds_of_seconds_are_accepted(seconds: int) -> None:
    # GIVEN / WHEN a wait of the shortest and of the longest length / THEN it loads
    plan = parse_plan(_plan(preLaunch=[{"type": "WAIT", "seconds": seconds}]))
    assert plan.waves[0].pre_launch[0].seconds == seconds


def test_a_missing_seconds_is_refused_at_the_steps_line() -> None:
    # GIVEN a YAML plan whose WAIT step has no seconds
    text = "planId: p\nwaves:\n  - waveId: db\n    servers: [s-00000000000000001]\n    preLaunch:\n      - type: WAIT\n"

    # WHEN it is loaded THEN it is refused at the step's line, naming the field
    with pytest.raises(PlanError) as caught:
        parse_plan(text, "p.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "p.yaml:6: waves[0].preLaunch[0].seconds (wave db): missing required field 'seconds'"
    ]


def test_the_document_checks_skip_wait_steps() -> None:
    # GIVEN a plan with waits around one script of a document outside the allow-list
    plan = parse_plan(
        _plan(
            preLaunch=[{"type": "WAIT", "seconds": 30}, {"documentName": "Other", "parameters": {"X": "1"}}],
            postLaunch=[{"type": "WAIT", "seconds": 30}],
        )
    )
    allowed = AllowList.parse("DRSOrch-*")

    # WHEN StartPlan's and validate's checks look at it
    refused = disallowed_documents(plan, allowed)
    described = documents_to_describe(plan, AllowList.parse("*"))
    wrong = parameter_problems(plan, {"Other": DocumentParameters(frozenset({"X"}))})

    # THEN only the script is checked: it is the one refused, at its own place, and the only document to read
    assert [(p.code, p.path) for p in refused] == [("document-not-allowed", "waves[0].preLaunch[1].documentName")]
    assert (described, wrong) == (["Other"], [])


def test_validate_does_not_warn_of_a_pre_launch_wait_without_targets() -> None:
    # GIVEN a wave whose pre-launch is one wait (no targets: it runs on nothing)
    plan = parse_plan(_plan(preLaunch=[{"type": "WAIT", "seconds": 30}]))

    # WHEN validate looks for warnings THEN there is none (a wait needs no recovery instance)
    assert plan_warnings(plan) == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("timeoutSeconds", 5),
        ("timeoutSeconds", "soon"),
        ("retries", 9),
        ("onFailure", "IGNORE"),
        ("documentName", ""),
        ("parameters", ["not", "a", "mapping"]),
        ("targets", {"wave": "db", "tags": {"Role": "x"}}),
    ],
)
def test_a_wait_step_refuses_an_ssm_steps_key_whatever_its_value(key: str, value: Any) -> None:
    # GIVEN a WAIT step that sets a key only an SSM step takes, to a value that key would not accept either
    document = _plan(preLaunch=[{"type": "WAIT", "seconds": 60, key: value}])

    # WHEN it is loaded
    with pytest.raises(PlanError) as caught:
        parse_plan(document)

    # THEN the one problem says a wait takes no such key (not the SSM step's range or choices, which would send
    # the author to fix a value the step must not have at all)
    assert [p.message for p in caught.value.problems] == [
        f"a WAIT step takes no {key}: it sends nothing and cannot fail (it waits its `seconds`, then ends)"
    ]


def test_an_ssm_step_refuses_seconds_whatever_its_value() -> None:
    # GIVEN an SSM step that sets a WAIT step's seconds, to a value out of a wait's range too
    document = _plan(postLaunch=[{"documentName": "DRSOrch-Smoke", "seconds": 0}])

    # WHEN it is loaded
    with pytest.raises(PlanError) as caught:
        parse_plan(document)

    # THEN the one problem says seconds belongs to a WAIT step (not the wait's range)
    assert [p.message for p in caught.value.problems] == [
        "seconds is a WAIT step's (type: WAIT); an SSM_DOCUMENT step runs until it ends or its timeoutSeconds"
    ]
