"""How steps read the servers' typed results (`Ledger.wave_servers` -> ServerResult) against fakes: a retry
relaunches the servers that did not launch (control.py), and a wave whose plan stopped before any of its
servers reached DRS is not judged (launch_wave.stopped_before_launch)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from events.models import DRSJobCompleted, RetryWave, ServerLaunch
from orchestrator.domain.plan import Criticality
from orchestrator.domain.records.servers import ServerAttempt, ServerLaunchStatus, ServerResult
from orchestrator.domain.status import ExecutionStatus
from orchestrator.steps.control import decide, retry_wave
from orchestrator.steps.launch_wave import stopped_before_launch
from orchestrator.steps.post_launch import on_job_completed
from tests.unit.steps.world import S1, S2, World, launching, plan, wave


def _failed_with_s2(world: World) -> str:
    """Wave db of S1 and S2 whose one job launched S1 and failed S2: the wave FAILED. Its job's id."""
    [job] = launching(world, plan(wave("db", S1, S2)))
    world.drs.finish_job(job, {S2: "FAILED"})
    servers = [
        ServerLaunch(source_server_id=S1, launch_status="LAUNCHED", recovery_instance_id="i-00000000000000001"),
        ServerLaunch(source_server_id=S2, launch_status="FAILED", reason="LAUNCH_FAILED: x"),
    ]
    on_job_completed(
        world.rt, DRSJobCompleted(execution_id="e1", plan_id="p", wave_id="db", job_id=job, servers=servers), "jc-1"
    )
    assert world.wave_status("e1", "db") == "FAILED"
    world.bus.published.clear()
    return job


def test_a_retry_relaunches_only_the_server_that_did_not_launch_and_keeps_how_it_ended(world: World) -> None:
    # GIVEN a wave whose job launched S1 and failed S2
    job = _failed_with_s2(world)
    # WHEN it is retried (twice: a redelivery)
    command = RetryWave(execution_id="e1", wave_id="db", requested_by="ops")
    decide(world.rt, command, "retry-1", retry_wave)
    decide(world.rt, command, "retry-1", retry_wave)
    # THEN attempt 2 relaunches S2 only, counting S1 as launched, and the failed attempt launched one server
    wave_ = world.ledger.wave("e1", "db") or pytest.fail("no wave")
    assert (wave_.attempt, wave_.launch_servers, wave_.current.servers_launched, wave_.servers_failed) == (
        2,
        (S2,),
        1,
        0,
    )
    assert [a.servers_launched for a in wave_.previous_attempts] == [1]
    # AND S2 is NOT_STARTED again, its failed attempt kept once in its history; S1 is as its job left it
    servers = world.ledger.wave_servers("e1", "db")
    assert (servers[S2].launch_status, servers[S2].attempt, servers[S2].reason) == ("NOT_STARTED", 2, None)
    assert servers[S2].history == (
        ServerAttempt(attempt=1, launch_status=ServerLaunchStatus.FAILED, job_id=job, reason="LAUNCH_FAILED: x"),
    )
    assert (servers[S1].launched, servers[S1].attempt, servers[S1].recovery_instance_id) == (
        True,
        1,
        "i-00000000000000001",
    )


def _result(server: str, status: str, job_id: str | None = None) -> ServerResult:
    return ServerResult(
        execution_id="e1",
        wave_id="db",
        source_server_id=server,
        criticality=Criticality.CRITICAL,
        launch_status=ServerLaunchStatus(status),
        attempt=1,
        job_id=job_id,
    )


@pytest.mark.parametrize(
    ("s1", "s2", "stopped"),
    [
        (("NOT_STARTED", None), ("NOT_STARTED", None), True),  # nothing reached DRS
        (("NOT_STARTED", None), ("FAILED", None), True),  # left out by the preflight: no job
        (("NOT_STARTED", None), ("FAILED", "drsjob-1"), False),  # failed by a DRS job
        (("NOT_STARTED", None), ("LAUNCHED", "drsjob-1"), False),
        (("LAUNCHED", "drsjob-1"), ("FAILED", "drsjob-1"), False),  # nothing NOT_STARTED: judged
    ],
)
def test_a_wave_of_a_stopped_plan_is_skipped_only_when_none_of_its_servers_reached_drs(
    world: World, s1: tuple[str, str | None], s2: tuple[str, str | None], stopped: bool
) -> None:
    # GIVEN a plan that stopped
    world.start(plan(wave("db", S1, S2)))
    world.ledger.set_execution_status("e1", from_=["RUNNING"], to="STOPPING", key="stop")
    execution = world.ledger.execution("e1") or pytest.fail("no execution")
    servers = {S1: _result(S1, *s1), S2: _result(S2, *s2)}
    # WHEN / THEN
    assert stopped_before_launch(execution, servers) is stopped
    # AND a running plan's wave is always judged
    assert not stopped_before_launch(replace(execution, status=ExecutionStatus.RUNNING), servers)
