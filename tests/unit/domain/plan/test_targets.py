"""A plan's default `target` and a wave's own (issue #15 item 1): the syntax, the inheritance into each wave, and
the mistakes refused at their plan line (AWS's limits: RoleArn 20 to 2,048 characters, ExternalId 2 to 1,224 of
[\\w+=,.@:/-], the role in the target's account)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.domain.plan import PlanError, Target, load_plan, parse_plan, plan_to_document

B, C = "222233334444", "333344445555"


def _target(account: str = B, region: str = "us-west-2", **over: str) -> dict[str, str]:
    return {
        "accountId": account,
        "region": region,
        "roleArn": f"arn:aws:iam::{account}:role/drs-orchestrator-target",
        "externalId": "orchestrator-ext-1",
        **over,
    }


def _plan(target: dict[str, str] | None = None, **waves: dict[str, str] | None) -> dict[str, object]:
    plan: dict[str, object] = {
        "planId": "p",
        "waves": [
            {"waveId": wave_id, "servers": [f"s-1000000000000000{i}"], **({"target": t} if t else {})}
            for i, (wave_id, t) in enumerate(waves.items())
        ],
    }
    if target is not None:
        plan["target"] = target
    return plan


def test_a_plan_without_targets_runs_every_wave_in_its_own_account() -> None:
    plan = parse_plan(_plan(None, db=None, app=None))
    assert plan.target is None
    assert [w.target for w in plan.waves] == [None, None]
    assert "target" not in plan_to_document(plan)["waves"][0]


def test_a_wave_inherits_the_plan_target_unless_it_sets_its_own() -> None:
    # GIVEN a plan default in account B and a wave targeting account C in another Region
    plan = parse_plan(_plan(_target(B), db=None, app=_target(C, "eu-west-1")))
    db, app = plan.waves
    # THEN the wave without a target has the plan's, the other keeps its own
    assert db.target == Target.model_validate(_target(B))
    assert app.target is not None
    assert (app.target.account_id, app.target.region, app.target.label) == (C, "eu-west-1", f"{C}/eu-west-1")
    # AND the plan round-trips through its document (the frozen plan names each wave's target)
    document = plan_to_document(plan)
    assert document["waves"][0]["target"]["accountId"] == B
    assert parse_plan(document) == plan


@pytest.mark.parametrize(
    ("over", "expected"),
    [
        ({"accountId": "12345"}, "malformed accountId '12345'"),
        ({"region": "west"}, "malformed region 'west'"),
        ({"roleArn": "arn:aws:iam::222233334444:user/bob"}, "malformed roleArn"),
        ({"roleArn": "arn:aws:iam::222233334444:role/" + "r" * 2030}, "malformed roleArn"),
        ({"externalId": "x"}, "malformed externalId (1 characters"),
        ({"externalId": "has space"}, "malformed externalId"),
        ({"externalId": "e" * 1225}, "malformed externalId"),
        ({"roleArn": f"arn:aws:iam::{C}:role/drs"}, f"is a role of account {C}, not of the target's accountId {B}"),
    ],
)
def test_a_malformed_target_is_refused(over: dict[str, str], expected: str) -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan(_plan(None, db=_target(B, **over)))
    assert any(expected in str(p) for p in caught.value.problems), caught.value.problems


def test_limits_at_their_edges_are_accepted() -> None:
    longest_role = "arn:aws:iam::222233334444:role/" + "r" * (2048 - len("arn:aws:iam::222233334444:role/"))
    plan = parse_plan(_plan(None, db=_target(B, roleArn=longest_role, externalId="e" * 1224)))
    assert plan.waves[0].target is not None
    assert len(plan.waves[0].target.role_arn) == 2048
    assert parse_plan(_plan(None, db=_target(B, region="us-gov-west-1", externalId="ab"))).waves[0].target


def test_target_mistakes_are_refused_at_their_plan_line(tmp_path: Path) -> None:
    # GIVEN an unquoted account id in the plan target and a wave target with a role of another account
    path = tmp_path / "plan.yaml"
    path.write_text(
        "planId: p\n"
        f"target: {{accountId: {B}, region: us-west-2, roleArn: 'arn:aws:iam::{B}:role/t', externalId: abc}}\n"
        "waves:\n"
        "  - waveId: db\n"
        "    servers: [s-1000000000000000a]\n"
        f"    target: {{accountId: '{C}', region: us-west-2, roleArn: 'arn:aws:iam::{B}:role/t', externalId: abc}}\n"
    )
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    messages = [str(p) for p in caught.value.problems]
    assert any(m.startswith(f"{path}:2: target.accountId") and "quote it" in m for m in messages), messages
    assert any(m.startswith(f"{path}:6: waves[0].target") and f"account {B}" in m for m in messages), messages
    # AND the invalid plan target is reported once (not again in every wave that would inherit it)
    assert sum("quote it" in m for m in messages) == 1


def test_a_wave_with_a_target_may_not_select_servers_by_tag_yet(tmp_path: Path) -> None:
    # GIVEN a plan default target and a wave selecting by tag (its selection would read the own account's servers)
    path = tmp_path / "plan.yaml"
    path.write_text(
        "planId: p\n"
        f"target: {{accountId: '{B}', region: us-west-2, roleArn: 'arn:aws:iam::{B}:role/t', externalId: abc}}\n"
        "waves:\n"
        "  - waveId: web\n"
        "    sourceServerTags: {app: shop}\n"
    )
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    [problem] = caught.value.problems
    assert str(problem).startswith(f"{path}:5: waves[0].sourceServerTags")
    assert "tag selection resolves against the orchestrator's own account only" in str(problem)
    assert problem.code == "target-with-selector"


def test_a_target_without_role_and_external_id_is_another_region_of_the_own_account() -> None:
    # GIVEN a wave target with neither roleArn nor externalId
    plan = parse_plan(_plan(None, db={"accountId": B, "region": "us-west-2"}))
    [db] = plan.waves
    # THEN it is a role-less target, shown like any other, and round-trips without a role
    assert db.target is not None
    assert db.target.role_less
    assert (db.target.role_arn, db.target.external_id, db.target.label) == (None, None, f"{B}/us-west-2")
    assert db.target.key == ("", "", "us-west-2", B)
    assert "roleArn" not in plan_to_document(plan)["waves"][0]["target"]
    assert parse_plan(plan_to_document(plan)) == plan
    # AND a target with a role is not role-less
    assert not Target.model_validate(_target()).role_less


@pytest.mark.parametrize(("given", "missing"), [("roleArn", "externalId"), ("externalId", "roleArn")])
def test_a_target_with_one_of_role_and_external_id_is_refused_at_its_plan_line(
    tmp_path: Path, given: str, missing: str
) -> None:
    value = f"'arn:aws:iam::{B}:role/t'" if given == "roleArn" else "abc"
    path = tmp_path / "plan.yaml"
    path.write_text(
        "planId: p\n"
        "waves:\n"
        "  - waveId: db\n"
        "    servers: [s-1000000000000000a]\n"
        f"    target: {{accountId: '{B}', region: us-west-2, {given}: {value}}}\n"
    )
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    [problem] = caught.value.problems
    assert str(problem).startswith(f"{path}:5: waves[0].target"), str(problem)
    assert f"gives {given} without {missing}: give both" in str(problem)


def test_the_plan_schema_asks_for_both_role_and_external_id_or_neither() -> None:
    import jsonschema

    from orchestrator.domain.plan.schema import plan_schema

    validator = jsonschema.Draft202012Validator(plan_schema())

    def errors(target: dict[str, str]) -> list[str]:
        """Every message, those of the `anyOf` branches (a target or null) included."""
        found = []
        for error in validator.iter_errors(_plan(None, db=target)):
            found += [error.message, *(sub.message for sub in error.context or [])]
        return found

    assert errors({"accountId": B, "region": "us-west-2"}) == []
    assert errors(_target()) == []
    assert "'roleArn' is a dependency of 'externalId'" in errors(
        {"accountId": B, "region": "us-west-2", "externalId": "abc"}
    )
    role_only = {"accountId": B, "region": "us-west-2", "roleArn": f"arn:aws:iam::{B}:role/t"}
    assert "'externalId' is a dependency of 'roleArn'" in errors(role_only)
