"""Unit: a server's effective criticality (issue #11, fault 4) and script target limits (fault 9)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.domain.plan import Criticality, PlanError, parse_plan, plan_to_document, plan_warnings
from orchestrator.domain.plan.model import Wave
from tests.unit.domain.plan.conftest import server_id


def _criticality(wave: dict[str, Any]) -> list[str]:
    plan = parse_plan({"planId": "p", "waves": [{"waveId": "w", **wave}]})
    return [server.criticality.value for server in plan.wave("w").servers]


def test_unmarked_servers_of_a_wave_with_a_threshold_are_optional_and_marked_ones_keep_their_criticality():
    # GIVEN a wave with a threshold: two unmarked servers (one a bare id), one CRITICAL, one OPTIONAL
    wave = {
        "successThreshold": 0.5,
        "servers": [
            server_id(1),
            {"sourceServerID": server_id(2)},
            {"sourceServerID": server_id(3), "criticality": "CRITICAL"},
            {"sourceServerID": server_id(4), "criticality": "OPTIONAL"},
        ],
    }

    # WHEN / THEN the unmarked servers count toward the threshold (OPTIONAL); explicit values stand
    assert _criticality(wave) == ["OPTIONAL", "OPTIONAL", "CRITICAL", "OPTIONAL"]


def test_without_a_threshold_unmarked_servers_stay_critical():
    # GIVEN / WHEN / THEN a wave without successThreshold: an unmarked server is CRITICAL as before
    assert _criticality({"servers": [server_id(1), {"sourceServerID": server_id(2), "criticality": "OPTIONAL"}]}) == [
        "CRITICAL",
        "OPTIONAL",
    ]


def test_the_effective_criticality_survives_the_frozen_plan_round_trip():
    # GIVEN a plan whose threshold wave has unmarked servers, beside a wave without a threshold
    plan = parse_plan(
        {
            "planId": "p",
            "waves": [
                {"waveId": "a", "servers": [server_id(1), server_id(2)], "successThreshold": 0.5},
                {"waveId": "b", "servers": [server_id(3)]},
            ],
        }
    )

    # WHEN it is frozen (as StartPlan stores it) and read back
    document = plan_to_document(plan)
    again = parse_plan(document)

    # THEN the document states the effective value, and the plan read back is the same
    assert [s["criticality"] for s in document["waves"][0]["servers"]] == ["OPTIONAL", "OPTIONAL"]
    assert document["waves"][1]["servers"][0]["criticality"] == "CRITICAL"
    assert again == plan


def test_the_wave_model_alone_resolves_the_criticality_too():
    # GIVEN / WHEN one wave validated on its own (as `validate` checks each wave)
    wave = Wave.model_validate({"waveId": "w", "servers": [server_id(1)], "successThreshold": 1})

    # THEN its unmarked server is OPTIONAL
    assert wave.servers[0].criticality is Criticality.OPTIONAL


def test_more_than_fifty_explicit_instance_ids_are_accepted():
    # GIVEN a post-launch script on 120 explicit instances (SendCommand takes 50 per call: sent in batches)
    ids = [f"i-{n:017x}" for n in range(120)]
    plan = parse_plan(
        {
            "planId": "p",
            "waves": [
                {
                    "waveId": "w",
                    "servers": [server_id(1)],
                    "postLaunch": [{"documentName": "d", "targets": {"instanceIds": ids}}],
                }
            ],
        }
    )

    # WHEN / THEN every instance id is kept, in order
    assert plan.wave("w").post_launch[0].targets.instance_ids == ids


@pytest.mark.parametrize(
    ("targets", "path", "message"),
    [
        (
            {"instanceIds": [f"i-{n:017x}" for n in range(1001)]},
            "waves[0].postLaunch[0].targets.instanceIds",
            "at most 1000 instance ids, not 1001 "
            "(they are sent 50 per SendCommand call; target more instances by tags)",
        ),
        (
            {"tags": {f"k{n}": "v" for n in range(6)}},
            "waves[0].postLaunch[0].targets.tags",
            "at most 5 tags, not 6 (SendCommand takes 5 targets, one per tag, and an instance must carry every one)",
        ),
    ],
)
def test_targets_beyond_what_send_command_can_address_are_refused(targets: dict[str, Any], path: str, message: str):
    # GIVEN a script with 1,001 instance ids, or six tags (SendCommand takes at most 5 Targets: a sixth tag
    # used to be dropped, which widened the selection)
    document = {
        "planId": "p",
        "waves": [
            {"waveId": "w", "servers": [server_id(1)], "postLaunch": [{"documentName": "d", "targets": targets}]}
        ],
    }

    # WHEN it is loaded
    with pytest.raises(PlanError) as error:
        parse_plan(document)

    # THEN one problem names the field and the limit
    assert [(p.path, p.message) for p in error.value.problems] == [(path, message)]


def test_the_readme_threshold_example_lets_one_unmarked_server_fail():
    # GIVEN the plan shown in README.md's "A plan" section
    readme = (Path(__file__).resolve().parents[4] / "README.md").read_text(encoding="utf-8")
    block = readme.split("## A plan\n\n```yaml\n", 1)[1].split("```", 1)[0]
    plan = parse_plan(yaml.safe_load(block))

    # WHEN / THEN its threshold wave counts its three unmarked servers toward 0.75 of four (one may fail),
    # keeps the explicitly CRITICAL one, and validate has nothing to warn about
    wave = plan.wave("application")
    assert [s.criticality.value for s in wave.servers] == ["OPTIONAL", "OPTIONAL", "OPTIONAL", "CRITICAL"]
    assert wave.success_threshold == 0.75
    assert plan_warnings(plan) == []
