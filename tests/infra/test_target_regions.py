"""Role-less wave targets in other Regions of the orchestrator's own account (issue #15: cross-Region DR inside one
account): context `targetRegions` grants each DRS, EC2 and SSM call the functions make in the stack's Region in
exactly those Regions too (the same Sids, actions, conditions and resource types; nothing wider), is checked at
synth, and leaves cdk-nag clean."""

from __future__ import annotations

from typing import Any

import pytest

from infra.stack import StackConfig
from tests.infra.conftest import CONTEXT, Synth, synthesize

REGIONS = ("us-west-2", "eu-central-1")
SERVICES = ("drs:", "ec2:", "ssm:", "iam:PassRole")


@pytest.fixture(scope="module")
def regional(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk.out"), {**CONTEXT, "targetRegions": list(REGIONS)})


def _render(value: Any) -> str:
    """A resource as text: Fn::Join joined, a Ref as ${AWS.Region}, a GetAtt as ${Id.Attr}."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return "${" + str(value["Ref"]).replace("::", ".") + "}"  # no colon: an ARN's fields split on ':'

    if "Fn::GetAtt" in value:
        return "${" + ".".join(value["Fn::GetAtt"]) + "}"
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_render(part) for part in parts)
    return repr(value)


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


Key = tuple[str, tuple[str, ...], str]  # Sid, actions, condition


def _statements(template: dict[str, Any]) -> dict[str, dict[Key, set[str]]]:
    """Function role logical id -> its DRS/EC2/SSM/PassRole statements: (Sid, actions, condition) -> the rendered
    resources of every such statement (in any of its policies: its own, launch settings, a Region's)."""
    resources = template["Resources"]
    roles = {
        props["Role"]["Fn::GetAtt"][0]
        for res in resources.values()
        if res["Type"] == "AWS::Lambda::Function" and "Role" in (props := res["Properties"])
    }
    found: dict[str, dict[Key, set[str]]] = {role: {} for role in roles}
    for res in resources.values():
        if res["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            continue
        for role in res["Properties"].get("Roles", []):
            if role.get("Ref") not in found:
                continue
            for statement in res["Properties"]["PolicyDocument"]["Statement"]:
                actions = tuple(sorted(_listify(statement["Action"])))
                if not any(a.startswith(SERVICES) for a in actions):
                    continue
                key = (str(statement.get("Sid", "-")), actions, repr(statement.get("Condition")))
                found[role["Ref"]].setdefault(key, set()).update(_render(r) for r in _listify(statement["Resource"]))
    return found


def _in_regions(resources: set[str]) -> set[str]:
    """What the stack must grant for a statement of `resources`: each ARN of the stack's Region also in each of
    REGIONS, every other resource as it is."""
    here = ":${AWS.Region}:"
    return resources | {arn.replace(here, f":{region}:") for region in REGIONS for arn in resources if here in arn}


def test_every_drs_ec2_and_ssm_grant_of_this_region_is_granted_in_exactly_the_target_regions(
    synth: Synth, regional: Synth
) -> None:
    assert regional.error is None, str(regional.error)
    before, after = _statements(synth.template), _statements(regional.template)
    assert before.keys() == after.keys()
    widened = 0
    for role, statements in before.items():
        assert after[role] == {key: _in_regions(resources) for key, resources in statements.items()}, role
        widened += sum(1 for resources in statements.values() if _in_regions(resources) != resources)
    assert widened > 10  # StartRecovery, its EC2 work, TerminateRecoveryInstances, SendCommand, launch settings...
    # AND no ARN names any other Region (nor a Region wildcard)
    for statements in after.values():
        for resources in statements.values():
            for arn in resources:
                if arn.startswith("arn:") and arn.count(":") >= 4:
                    assert arn.split(":")[3] in {"${AWS.Region}", "", *REGIONS}, arn


def test_the_start_recovery_grant_reaches_the_target_regions_source_servers(regional: Synth) -> None:
    starts = [
        resources
        for statements in _statements(regional.template).values()
        for (sid, _, _), resources in statements.items()
        if sid == "DrsStartRecovery"
    ]
    assert starts
    for resources in starts:
        assert resources == {
            f"arn:${{AWS.Partition}}:drs:{region}:${{AWS.AccountId}}:source-server/*"
            for region in ("${AWS.Region}", *REGIONS)
        }


def test_with_target_regions_the_stack_still_synthesizes_clean_under_cdk_nag(regional: Synth) -> None:
    assert regional.report is not None
    for plugin in regional.report["pluginReports"]:
        assert plugin["violations"] == [], [v["ruleName"] for v in plugin["violations"]]


def test_without_target_regions_no_grant_names_another_region(synth: Synth) -> None:
    for statements in _statements(synth.template).values():
        for resources in statements.values():
            assert not any(region in arn for arn in resources for region in REGIONS)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["us-west-2", "us-west-2", "eu-west-1"], ("us-west-2", "eu-west-1")),
        ("us-west-2, ap-south-1", ("us-west-2", "ap-south-1")),
        (None, ()),
    ],
)
def test_target_regions_are_read_from_context(value: Any, expected: tuple[str, ...]) -> None:
    assert StackConfig.from_context({"targetRegions": value}.get).target_regions == expected


def test_more_target_regions_than_a_role_can_hold_policies_for_fail_the_synth() -> None:
    regions = ["us-west-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-south-1"]
    with pytest.raises(ValueError, match=r"targetRegions: 5 Regions, at most 4"):
        StackConfig.from_context({"targetRegions": regions}.get)
    assert len(StackConfig.from_context({"targetRegions": regions[:4]}.get).target_regions) == 4


def _deployed(value: Any) -> Any:
    """A policy value as IAM would store it, pessimistically long: the longest partition, a 12-digit account, a
    Region of 14 characters, 60 characters for a resource's name or ARN."""
    if isinstance(value, list):
        return [_deployed(item) for item in value]
    if isinstance(value, dict):
        if "Ref" in value:
            pseudo = {"AWS::Partition": "aws-us-gov", "AWS::Region": "ap-southeast-4", "AWS::AccountId": "1" * 12}
            return pseudo.get(value["Ref"], "x" * 60)
        if "Fn::GetAtt" in value:
            return "arn:aws-us-gov:iam::111111111111:role/" + "x" * 60
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return str(separator).join(str(_deployed(part)) for part in parts)
        return {key: _deployed(item) for key, item in value.items()}
    return value


def test_every_managed_policy_fits_iams_6144_characters(regional: Synth) -> None:
    import json

    # IAM: a customer managed policy document holds at most 6,144 characters (whitespace not counted)
    sizes = {
        logical_id: len(json.dumps(_deployed(res["Properties"]["PolicyDocument"]), separators=(",", ":")))
        for logical_id, res in regional.resources.items()
        if res["Type"] == "AWS::IAM::ManagedPolicy"
    }
    assert any("InUsWest2" in logical_id for logical_id in sizes)
    assert {logical_id: size for logical_id, size in sizes.items() if size > 6144} == {}


@pytest.mark.parametrize("bad", ["us-west", "*", "us-*-1", "US-WEST-2"])
def test_a_malformed_target_region_fails_the_synth_naming_it(bad: str) -> None:
    with pytest.raises(ValueError, match=r"targetRegions: .* is not a Region name"):
        StackConfig.from_context({"targetRegions": [bad]}.get)


def test_every_function_that_acts_in_a_wave_target_knows_its_own_account_from_its_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from infra.constructs.target_account import target_functions
    from infra.definitions import FUNCTIONS, function_environment
    from orchestrator.config import Settings

    # GIVEN each function's environment as the stack writes it (the bus, proof key and scheduler role ARNs of
    # account 111122223333)
    account = "111122223333"
    for name in target_functions():
        env = function_environment(
            FUNCTIONS[name],
            table_name="t",
            bus_name="b",
            bus_arn=f"arn:aws:events:us-east-1:{account}:event-bus/b",
            scheduler_group="g",
            scheduler_role_arn=f"arn:aws:iam::{account}:role/ticks",
            operator_proof_key=f"arn:aws:kms:us-east-1:{account}:key/k",
        )
        with monkeypatch.context() as patched:
            for variable in ("EVENT_BUS_ARN", "OPERATOR_PROOF_KEY_ID", "SCHEDULER_ROLE_ARN"):
                patched.delenv(variable, raising=False)
            for key, value in env.items():
                patched.setenv(key, value)
            # THEN its settings read the account a role-less target must name (Runtime.at)
            assert Settings().own_account == account, name


def test_the_setting_and_the_role_less_target_are_documented() -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert "targetRegions" in readme
    assert "gives no roleArn and is" in readme  # the role-less target's refusal
