"""Servers replicated in a staging account through StartPlan and the wave preflight, against a fake DRS: StartPlan
freezes each extended one's id (a redelivery reuses it), the preflight names each one that is not extended, in
EXTENSION_ERROR or extended after the start, and nothing launches for a CRITICAL one (an OPTIONAL one is left
out)."""

from __future__ import annotations

import json

from events.models import PreLaunchDone, StartPlan, WaveFailed, WaveReady
from orchestrator.adapters.drs import DrsPermanentError
from orchestrator.steps.pre_launch import on_wave_ready
from orchestrator.steps.start_plan import start_plan
from tests.unit.steps.world import S1, World, plan, wave

ACCOUNT = "111122223333"
STAGED_A, STAGED_B = "s-5000000000000000a", "s-5000000000000000b"
EXTENDED_A, EXTENDED_B = "s-e0000000000000001", "s-e0000000000000002"
READY = WaveReady(execution_id="e1", plan_id="p", wave_id="db")


def _staged(sid: str, **fields: str) -> dict[str, str]:
    return {"stagingAccountID": ACCOUNT, "stagingSourceServerID": sid, **fields}


def _extend(world: World, extended: str, staged: str, *, error: str | None = None) -> None:
    """The extended source server DRS made in this account for `staged` of the staging account."""
    area = {
        "status": "EXTENSION_ERROR" if error else "EXTENDED",
        "stagingAccountID": ACCOUNT,
        "stagingSourceServerArn": f"arn:aws:drs:us-east-1:{ACCOUNT}:source-server/{staged}",
        **({"errorMessage": error} if error else {}),
    }
    world.drs.add_source_server(extended, staging_area=area)


def _frozen_servers(world: World) -> list[dict[str, str]]:
    execution = world.ledger.get_execution("e1")
    assert execution is not None
    return [s for w in json.loads(execution["planDocument"])["waves"] for s in w["servers"]]


def test_start_freezes_the_extended_server_and_the_wave_launches_it(world: World) -> None:
    # GIVEN a staging server extended into this account, beside a server of this account
    _extend(world, EXTENDED_A, STAGED_A)
    world.start(plan(wave("db", _staged(STAGED_A), S1)))
    # THEN the frozen plan launches the extended server in its place
    assert [s["sourceServerID"] for s in _frozen_servers(world)] == [EXTENDED_A, S1]
    assert _frozen_servers(world)[0]["stagingSourceServerID"] == STAGED_A
    # WHEN the wave is ready THEN the preflight passes (the extension is EXTENDED and the one frozen)
    on_wave_ready(world.rt, READY, "wr-1")
    assert world.wave_status("e1", "db") == "PRE_LAUNCH"
    assert [type(e) for e in world.bus.published] == [PreLaunchDone]


def test_a_redelivered_start_reuses_the_frozen_extension_even_if_drs_changed(world: World) -> None:
    # GIVEN an execution started while the staging server was not extended
    document = plan(wave("db", _staged(STAGED_A), S1))
    world.start(document)
    # WHEN it is extended, then the same StartPlan is delivered again
    _extend(world, EXTENDED_A, STAGED_A)
    start_plan(world.rt, StartPlan(plan=document, execution_id="e1"), "start-e1")
    # THEN nothing is refused (a redelivery only announces the same start again) and the execution keeps what it
    # froze
    assert world.bus.types() == ["PlanStarted", "WaveReady"]
    assert [s["sourceServerID"] for s in _frozen_servers(world)] == [STAGED_A, S1]


def test_a_critical_staging_server_not_extended_fails_the_wave_before_any_launch(world: World) -> None:
    # GIVEN a CRITICAL staging server with no extended source server, and one extended in EXTENSION_ERROR
    _extend(world, EXTENDED_B, STAGED_B, error="cannot assume DRSStagingAccountRole")
    world.start(plan(wave("db", _staged(STAGED_A), _staged(STAGED_B), S1)))
    # WHEN the wave is ready
    on_wave_ready(world.rt, READY, "wr-1")
    # THEN it failed naming each, with why and what to do, and nothing was launched
    assert world.wave_status("e1", "db") == "FAILED"
    [failed] = world.bus.published
    assert isinstance(failed, WaveFailed)
    assert failed.reason == (
        f"preflight failed: {STAGED_A}: staging server {STAGED_A} of account {ACCOUNT} is not extended into this "
        "account (drs-orch extend PLAN creates its extended source server); "
        f"{EXTENDED_B}: extended source server {EXTENDED_B} of staging server {STAGED_B} of account {ACCOUNT} is in "
        "EXTENSION_ERROR: cannot assume DRSStagingAccountRole"
    )
    assert [s.source_server_id for s in failed.failed_servers] == [STAGED_A, EXTENDED_B]
    assert world.drs.started == []


def test_an_optional_staging_server_not_extended_is_left_out(world: World) -> None:
    # GIVEN an OPTIONAL staging server not extended, beside a healthy server
    world.start(plan(wave("db", _staged(STAGED_A, criticality="OPTIONAL"), S1)))
    # WHEN the wave is ready
    on_wave_ready(world.rt, READY, "wr-1")
    # THEN the wave goes on without it, recorded FAILED with the reason
    assert world.wave_status("e1", "db") == "PRE_LAUNCH"
    servers = world.ledger.wave_servers("e1", "db")
    assert servers[STAGED_A].launch_status == "FAILED"
    assert "is not extended into this account" in str(servers[STAGED_A].reason)
    assert servers[S1].launch_status != "FAILED"


def test_a_staging_server_extended_after_the_start_is_named_with_its_new_id(world: World) -> None:
    # GIVEN an execution that froze a staging server before it was extended, then it was extended
    world.start(plan(wave("db", _staged(STAGED_A))))
    _extend(world, EXTENDED_A, STAGED_A)
    # WHEN the wave is ready
    on_wave_ready(world.rt, READY, "wr-1")
    # THEN the preflight says so (the frozen plan cannot launch it) instead of launching something else
    [failed] = world.bus.published
    assert isinstance(failed, WaveFailed)
    assert f"was extended as {EXTENDED_A} after this execution started" in failed.reason
    assert world.drs.started == []


def test_a_permanent_error_reading_extended_servers_refuses_the_start(world: World) -> None:
    # GIVEN DRS refusing the stagingAccountIDs read for good
    world.drs.fail("extended_source_servers", DrsPermanentError("AccessDeniedException: no", "AccessDeniedException"))
    # WHEN a plan with a staging server is started
    started = start_plan(world.rt, StartPlan(plan=plan(wave("db", _staged(STAGED_A))), execution_id="e1"), "s-1")
    # THEN it is refused with DRS's error and no execution exists
    assert started is None
    assert world.ledger.get_execution("e1") is None or world.ledger.get_execution("e1")["planDocument"] == "{}"
    assert world.bus.types() == ["PlanFailed"]
    assert "AccessDeniedException: no" in world.bus.published[0].reason
