"""The operator-proof key in the synthesized template: an HMAC key that only the operator function may generate
MACs with and only the StartPlan and control functions may verify with (infra/constructs/operator_proof.py)."""

from __future__ import annotations

from typing import Any

from infra.definitions import FUNCTIONS
from tests.infra.conftest import Synth


def _key(synth: Synth) -> dict[str, Any]:
    return synth.resources[synth.logical_id(synth.stack.operator_proof.key)]["Properties"]


def _role_of(synth: Synth, name: str) -> str:
    return synth.logical_id(synth.stack.functions.roles[name])


def test_the_key_is_an_hmac_key_that_kms_does_not_rotate(synth: Synth) -> None:
    key = _key(synth)
    assert (key["KeySpec"], key["KeyUsage"], key.get("EnableKeyRotation")) == ("HMAC_256", "GENERATE_VERIFY_MAC", None)


def test_only_the_operator_generates_and_only_start_plan_and_control_verify(synth: Synth) -> None:
    # GIVEN the key policy
    statements = _key(synth)["KeyPolicy"]["Statement"]
    # WHEN listing who may use the key, and how
    uses = sorted(
        (s["Principal"]["AWS"]["Fn::GetAtt"][0], s["Action"], s["Condition"]["StringEquals"]["kms:MacAlgorithm"])
        for s in statements
        if s["Action"] in ("kms:GenerateMac", "kms:VerifyMac")
    )
    # THEN exactly the three roles, each with its own action, each with HMAC_SHA_256 only
    assert uses == sorted(
        [
            (_role_of(synth, "operator"), "kms:GenerateMac", "HMAC_SHA_256"),
            (_role_of(synth, "start_plan"), "kms:VerifyMac", "HMAC_SHA_256"),
            (_role_of(synth, "control"), "kms:VerifyMac", "HMAC_SHA_256"),
        ]
    )
    assert {name for name, spec in FUNCTIONS.items() if spec.operator_proof} == {"operator", "start_plan", "control"}


def test_the_account_administers_the_key_but_cannot_use_or_grant_it(synth: Synth) -> None:
    # GIVEN the key policy's statements for anything but the three roles (the account: IAM policies)
    statements = _key(synth)["KeyPolicy"]["Statement"]
    others = [s for s in statements if s["Action"] not in ("kms:GenerateMac", "kms:VerifyMac")]
    actions = {a for s in others for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    # THEN no IAM policy of the account can give anyone a MAC: no use, no grant, no wildcard
    assert [s["Sid"] for s in others] == ["AccountAdministersTheKeyOnly"]
    assert all(s["Effect"] == "Allow" for s in statements)
    assert not any("*" in a or a in ("kms:GenerateMac", "kms:VerifyMac", "kms:CreateGrant") for a in actions)
    assert "kms:PutKeyPolicy" in actions  # KMS's lockout safety check: the account can still manage it


def test_the_roles_hold_the_same_action_on_that_key_only(synth: Synth) -> None:
    key_id = synth.logical_id(synth.stack.operator_proof.key)
    granted: dict[str, list[Any]] = {}
    for policy in synth.of_type("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if any(a.startswith("kms:") and "Mac" in a for a in actions):
                for role in policy["Properties"]["Roles"]:
                    granted.setdefault(role["Ref"], []).append((actions, statement["Resource"], statement["Condition"]))
    on_key = {"Fn::GetAtt": [key_id, "Arn"]}
    only_sha256 = {"StringEquals": {"kms:MacAlgorithm": "HMAC_SHA_256"}}
    assert granted == {
        _role_of(synth, "operator"): [(["kms:GenerateMac"], on_key, only_sha256)],
        _role_of(synth, "start_plan"): [(["kms:VerifyMac"], on_key, only_sha256)],
        _role_of(synth, "control"): [(["kms:VerifyMac"], on_key, only_sha256)],
    }
