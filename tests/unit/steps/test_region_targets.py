"""Another Region of the orchestrator's own account as a wave target, without a role (issue #15 items 1/4/7: cross-
Region DR inside one account): the wave's DRS, SSM and EC2 calls go to that Region on the runtime's own credentials
(no AssumeRole), its capacity counts in that Region's pool; a role-less target of another account, or one the runtime
cannot tell is its own, fails the wave at preflight; the own account's own Region is the home runtime."""

from __future__ import annotations

from typing import Any

import pytest

from events.models import DRSJobCompleted, JobWatchTick, PreLaunchDone, WaveFailed, WaveReady
from orchestrator.domain.plan import Target
from orchestrator.domain.targets import NOT_OWN_ACCOUNT, TargetUnavailable, pool_of
from orchestrator.steps import capacity
from orchestrator.steps.job_watcher import on_launch_result, on_tick
from orchestrator.steps.launch_wave import start_job
from orchestrator.steps.pre_launch import on_wave_ready
from tests.unit.steps.test_targets import ready, servers
from tests.unit.steps.world import World, plan, wave

OWN, OTHER = "111122223333", "222233334444"
BUS_ARN = f"arn:aws:events:us-east-1:{OWN}:event-bus/drs-orch"
POOL_WEST = f"{OWN}#us-west-2"


def own_region(region: str = "us-west-2", account: str = OWN) -> dict[str, str]:
    return {"accountId": account, "region": region}


@pytest.fixture
def own(world: World) -> World:
    """The world with the orchestrator's own account known (its bus ARN), in us-east-1."""
    world.configure(bus_arn=BUS_ARN)
    return world


def test_a_role_less_target_launches_watches_and_counts_in_that_region_with_no_assume_role(own: World) -> None:
    # GIVEN a wave whose target is us-west-2 of the orchestrator's own account, without a role
    [chunk] = ready(own, plan(wave("db", *servers(1, 3), target=own_region())), "db")
    west = own.targets.drs(OWN, "us-west-2")
    # WHEN its chunk starts
    assert start_job(own.rt, chunk)["outcome"] == "STARTED"
    # THEN the job started in us-west-2, not in the home Region, and no role was assumed
    assert [s["sourceServerID"] for s in west.started[0]["servers"]] == servers(1, 3)
    assert own.drs.started == []
    assert own.targets.assumed == []
    # AND its capacity counts in us-west-2's pool, not the home pool
    assert own.ledger.capacity(pool=POOL_WEST).active_jobs == 1
    assert not own.ledger.capacity().active_jobs
    # WHEN the job ends there and the watcher ticks, THEN it is read in us-west-2 and its capacity given back
    [job_id] = west.jobs
    west.finish_job(job_id)
    on_tick(own.rt, JobWatchTick(execution_id="e1", plan_id="p", wave_id="db", attempt=1, tick=1))
    assert [e.job_id for e in own.bus.of(DRSJobCompleted)] == [job_id]
    assert not own.ledger.capacity(pool=POOL_WEST).active_jobs


def test_a_launch_result_of_the_own_account_in_the_targets_region_is_read_there(own: World) -> None:
    # GIVEN a role-less us-west-2 wave whose job there has ended
    [chunk] = ready(own, plan(wave("db", *servers(1, 2), target=own_region())), "db")
    start_job(own.rt, chunk)
    west = own.targets.drs(OWN, "us-west-2")
    [job_id] = west.jobs
    west.finish_job(job_id)
    # WHEN its Launch Result event arrives with the own account and us-west-2
    on_launch_result(own.rt, {"job-id": job_id}, account=OWN, region="us-west-2")
    # THEN the job is read in us-west-2 and its end reported at once (not looked for in the home Region)
    assert [e.job_id for e in own.bus.of(DRSJobCompleted)] == [job_id]


@pytest.mark.parametrize(
    ("bus_arn", "expected"),
    [
        (BUS_ARN, f"target account {OTHER} gives no roleArn and is not this orchestrator's account {OWN}"),
        ("", f"target account {OTHER} gives no roleArn and is not this orchestrator's account (unknown"),
    ],
)
def test_a_role_less_target_of_another_account_fails_its_wave_at_preflight(
    world: World, bus_arn: str, expected: str
) -> None:
    # GIVEN a role-less target naming another account (or any, when the runtime does not know its own)
    world.configure(bus_arn=bus_arn)
    world.start(plan(wave("db", *servers(1, 2), target=own_region(account=OTHER))))
    # WHEN the wave is ready
    on_wave_ready(world.rt, WaveReady(execution_id="e1", plan_id="p", wave_id="db"), "wr")
    # THEN it fails before anything runs, the reason naming both accounts; nothing is asked of any DRS
    assert world.wave_status("e1", "db") == "FAILED"
    [failed] = world.bus.of(WaveFailed)
    assert failed.reason.startswith(expected), failed.reason
    assert world.bus.of(PreLaunchDone) == []
    assert world.drs.started == []
    assert world.targets.assumed == []
    assert world.targets.accounts == {} or world.targets.drs(OTHER, "us-west-2").started == []


def test_a_role_less_target_of_the_own_account_and_region_is_the_home_runtime(own: World) -> None:
    home = Target.model_validate(own_region("us-east-1"))
    there = own.rt.at(home)
    assert there is own.rt
    assert capacity.pool(there) is None
    assert own.targets.accounts == {}
    # AND its wave runs as a wave without a target: the home DRS, the home pool
    [chunk] = ready(own, plan(wave("db", *servers(1, 2))), "db")
    assert start_job(own.rt, chunk)["outcome"] == "STARTED"
    assert len(own.drs.started) == 1


def test_at_refuses_a_role_less_target_of_another_account_naming_both(own: World) -> None:
    with pytest.raises(TargetUnavailable) as refused:
        own.rt.at(Target.model_validate(own_region(account=OTHER)))
    assert refused.value.code == NOT_OWN_ACCOUNT
    assert refused.value.role_arn is None
    assert refused.value.reason == (
        f"target account {OTHER} gives no roleArn and is not this orchestrator's account {OWN}"
    )


def test_the_pool_of_a_role_less_target_is_home_only_in_the_own_account_and_region() -> None:
    home = (OWN, "us-east-1")
    assert pool_of(None, home) is None
    assert pool_of(Target.model_validate(own_region("us-east-1")), home) is None
    assert pool_of(Target.model_validate(own_region("us-west-2")), home) == POOL_WEST
    # without a known own account, and for a target with a role (even into the own account), the pool is its own
    assert pool_of(Target.model_validate(own_region("us-east-1")), (None, "us-east-1")) == f"{OWN}#us-east-1"
    roled: dict[str, Any] = {
        **own_region("us-east-1"),
        "roleArn": f"arn:aws:iam::{OWN}:role/t",
        "externalId": "ext-123",
    }
    assert pool_of(Target.model_validate(roled), home) == f"{OWN}#us-east-1"
