"""Recovery objectives on the plan and on a wave: loaded as given, frozen and read back unchanged, never
inherited by a wave that states none."""

from __future__ import annotations

import pytest

from orchestrator.domain.plan import PlanError, parse_plan, plan_to_document


def _plan(**extra: object) -> dict[str, object]:
    return {
        "planId": "objectives",
        "waves": [
            {"waveId": "db", "servers": ["s-00000000000000001"], "objectives": {"rtoMinutes": 30}},
            {"waveId": "app", "servers": ["s-00000000000000002"], "dependsOn": ["db"]},
        ],
        **extra,
    }


def test_plan_and_wave_objectives_load_as_given_and_survive_the_frozen_document() -> None:
    # GIVEN a plan with an RTO and an RPO, and a wave with an RTO of its own only
    data = _plan(objectives={"rtoMinutes": 60, "rpoMinutes": 7.5})

    # WHEN it is loaded, frozen and loaded again
    plan = parse_plan(data)
    again = parse_plan(plan_to_document(plan))

    # THEN the figures are the plan's own, and the wave without objectives has none (no inheritance)
    for loaded in (plan, again):
        assert loaded.objectives is not None
        assert (loaded.objectives.rto_minutes, loaded.objectives.rpo_minutes) == (60.0, 7.5)
        db = loaded.wave("db").objectives
        assert db is not None
        assert (db.rto_minutes, db.rpo_minutes) == (30.0, None)
        assert loaded.wave("app").objectives is None
    assert plan_to_document(plan)["objectives"] == {"rtoMinutes": 60.0, "rpoMinutes": 7.5}


def test_a_plan_without_objectives_has_none_and_its_document_does_not_mention_them() -> None:
    # GIVEN / WHEN a plan that declares no objectives
    plan = parse_plan({"planId": "plain", "waves": [{"waveId": "db", "servers": ["s-00000000000000001"]}]})

    # THEN it has none, and its frozen document carries no objectives key
    assert plan.objectives is None
    assert "objectives" not in plan_to_document(plan)
    assert "objectives" not in plan_to_document(plan)["waves"][0]


@pytest.mark.parametrize(
    ("objectives", "message"),
    [
        ({"rtoMinutes": -5}, "objectives.rtoMinutes: rtoMinutes -5 is out of range (above 0, at most 525600)"),
        ({"rpoMinutes": True}, "objectives.rpoMinutes: rpoMinutes: input should be a valid number (got True)"),
        ({"rtoMinutes": float("nan")}, "objectives.rtoMinutes: rtoMinutes: input should be a finite number (got nan)"),
        ({}, "objectives: objectives needs rtoMinutes, rpoMinutes or both"),
    ],
)
def test_malformed_plan_objectives_are_refused_at_their_path(objectives: dict[str, object], message: str) -> None:
    # GIVEN a plan whose objectives are not positive numbers of minutes
    data = _plan(objectives=objectives)

    # WHEN it is loaded
    with pytest.raises(PlanError) as raised:
        parse_plan(data)

    # THEN it is refused with one problem at the objectives' path
    assert [str(problem) for problem in raised.value.problems] == [message]
