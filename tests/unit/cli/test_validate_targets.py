"""`validate --aws` reads the caller's account: it checks the network of the waves without a target only (a target
wave's network is checked in its account by its preflight, with the target's role)."""

from __future__ import annotations

from drs_orch.plan_verbs import _network_problems
from orchestrator.domain.plan import Plan, parse_plan
from tests.fakes import FakeEc2

B, SUBNET = "222233334444", "subnet-0a0000000000000a1"


def _plan() -> Plan:
    target = {
        "accountId": B,
        "region": "us-west-2",
        "roleArn": f"arn:aws:iam::{B}:role/t",
        "externalId": "ext-123",
    }
    return parse_plan(
        {
            "planId": "p",
            "waves": [
                {
                    "waveId": "db",
                    "target": target,
                    "servers": [{"sourceServerID": "s-00000000000000001", "launchSettings": {"subnetId": SUBNET}}],
                }
            ],
        }
    )


def test_the_callers_account_network_is_not_held_against_a_target_wave() -> None:
    plan = _plan()
    empty = FakeEc2()  # the caller's account has no such subnet
    assert _network_problems(plan, empty, None, own_only=True) == []
    # without the restriction (a simulated profile's network) the subnet is looked for, and missing
    assert any(SUBNET in p.message for p in _network_problems(plan, empty, None))
