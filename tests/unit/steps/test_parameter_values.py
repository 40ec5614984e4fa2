"""Values from the run resolved when a step is sent (orchestrator/steps/parameter_values.py): with a fake ledger
(a dict of server records), then through the SSM_DOCUMENT step's hook (orchestrator/steps/scripts.py) against fakes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from events.models import DRSJobCompleted, PlanFailed, ServerLaunch, StartPlan
from orchestrator.domain.plan import Criticality, parse_plan
from orchestrator.domain.records.scripts import ScriptId
from orchestrator.domain.records.servers import ServerLaunchStatus, ServerResult
from orchestrator.steps.parameter_values import (
    ResolvedParameters,
    RunContext,
    StepPhase,
    Unresolved,
    resolve_parameters,
)
from orchestrator.steps.post_launch import on_job_completed
from orchestrator.steps.start_plan import start_plan
from tests.unit.steps.world import S1, S2, S3, World, launching, plan, wave

PLAN = parse_plan(
    {
        "planId": "refs",
        "name": "Three tier",
        "waves": [
            {"waveId": "db", "servers": [S2, S1]},
            {"waveId": "web.v2", "servers": [S3], "dependsOn": ["db"]},
        ],
    }
)


def _server(
    source_server_id: str, status: ServerLaunchStatus, instance: str | None = None, ip: str | None = None
) -> ServerResult:
    return ServerResult(
        execution_id="e1",
        wave_id="db",
        source_server_id=source_server_id,
        criticality=Criticality.CRITICAL,
        launch_status=status,
        attempt=1,
        recovery_instance_id=instance,
        private_ip=ip,
    )


LAUNCHED = ServerLaunchStatus.LAUNCHED
#: db's servers as the ledger holds them: both launched (listed out of id order, as no reader may rely on)
DB = {
    S2: _server(S2, LAUNCHED, "i-0000000000000000b", "10.0.0.2"),
    S1: _server(S1, LAUNCHED, "i-0000000000000000a", "10.0.0.1"),
}


class _Ledger:
    """A fake ledger: the servers of each wave, counting the reads."""

    def __init__(self, waves: Mapping[str, Mapping[str, ServerResult]]) -> None:
        self.waves = waves
        self.reads: list[str] = []

    def servers(self, wave_id: str) -> Mapping[str, ServerResult]:
        self.reads.append(wave_id)
        return self.waves.get(wave_id, {})


def _context(ledger: _Ledger, *, wave_id: str = "web.v2", phase: StepPhase = "POST_LAUNCH") -> RunContext:
    return RunContext(PLAN, "e1", "DRILL", wave_id, phase, ledger.servers)


def test_run_values_and_a_wave_list_resolve_a_list_item_alone_into_items_and_text_joined_with_commas() -> None:
    # GIVEN parameters naming the run and db's recovered IPs: a list item alone, inside a text and a string value
    ledger = _Ledger({"db": DB})
    parameters: dict[str, str | list[str]] = {
        "hosts": ["${{ waves.db.privateIps }}", "extra"],
        "line": "run ${{ run.executionId }} ${{ run.mode }} of ${{ run.planId }} (${{ run.planName }})",
        "ids": "${{ waves.db.instanceIds }}",
        "one": ["ip=${{ waves.db.servers.s-00000000000000002.privateIp }}"],
        "plain": ["echo ${HOME} {{ssm:/p}}"],
    }

    # WHEN they are resolved
    resolved = resolve_parameters(parameters, _context(ledger))

    # THEN the list item alone became one item per IP (source server id order), the others are joined, and the
    # parameters without references are as they were (and are not part of the evidence); db was read once
    assert resolved == ResolvedParameters(
        parameters={
            "hosts": ["10.0.0.1", "10.0.0.2", "extra"],
            "line": "run e1 DRILL of refs (Three tier)",
            "ids": "i-0000000000000000a,i-0000000000000000b",
            "one": ["ip=10.0.0.2"],
            "plain": ["echo ${HOME} {{ssm:/p}}"],
        },
        values={
            "hosts": ["10.0.0.1", "10.0.0.2", "extra"],
            "line": "run e1 DRILL of refs (Three tier)",
            "ids": "i-0000000000000000a,i-0000000000000000b",
            "one": ["ip=10.0.0.2"],
        },
    )
    assert ledger.reads == ["db"]


def test_parameters_without_references_read_nothing() -> None:
    # GIVEN parameters without any reference, and a ledger that must not be read
    def unread(wave_id: str) -> Mapping[str, ServerResult]:
        raise AssertionError(wave_id)

    context = RunContext(PLAN, "e1", "DRILL", "web.v2", "POST_LAUNCH", unread)

    # WHEN / THEN they are resolved as they are
    assert resolve_parameters({"commands": ["echo ok"], "a": "b"}, context) == ResolvedParameters(
        {"commands": ["echo ok"], "a": "b"}, {}
    )


def test_a_server_that_did_not_launch_is_left_out_of_the_waves_list() -> None:
    # GIVEN db where one server launched and the other failed (an OPTIONAL one)
    ledger = _Ledger({"db": {S1: DB[S1], S2: _server(S2, ServerLaunchStatus.FAILED)}})

    # WHEN db's IPs are resolved
    resolved = resolve_parameters({"hosts": ["${{ waves.db.privateIps }}"]}, _context(ledger))

    # THEN only the launched server's
    assert isinstance(resolved, ResolvedParameters)
    assert resolved.parameters == {"hosts": ["10.0.0.1"]}


@pytest.mark.parametrize(
    ("servers", "parameter", "reason"),
    [
        (
            {S1: _server(S1, ServerLaunchStatus.FAILED), S2: _server(S2, ServerLaunchStatus.NOT_STARTED)},
            "${{ waves.db.privateIps }}",
            "parameter 'p': ${{ waves.db.privateIps }} is empty: no server of wave 'db' launched",
        ),
        (
            {S1: DB[S1], S2: _server(S2, LAUNCHED, "i-0000000000000000b")},
            "${{ waves.db.privateIps }}",
            f"parameter 'p': ${{{{ waves.db.privateIps }}}} is empty: server {S2} of wave 'db' launched, but its "
            "recovery instance i-0000000000000000b has no private IP on record (DRS's DescribeRecoveryInstances did "
            "not give one when its job ended)",
        ),
        (
            {S1: DB[S1], S2: _server(S2, ServerLaunchStatus.FAILED)},
            f"ip=${{{{ waves.db.servers.{S2}.privateIp }}}}",
            f"parameter 'p': ${{{{ waves.db.servers.{S2}.privateIp }}}} is empty: server {S2} of wave 'db' did not "
            "launch (FAILED)",
        ),
        (
            {S1: DB[S1]},
            f"${{{{ waves.db.servers.{S3}.instanceId }}}}",
            f"parameter 'p': ${{{{ waves.db.servers.{S3}.instanceId }}}} is empty: server {S3} of wave 'db' did not "
            "launch (not in the wave)",
        ),
        (
            {},
            "${{ waves.gone.privateIps }}",
            "parameter 'p': '${{ waves.gone.privateIps }}' names unknown wave 'gone'",
        ),
    ],
    ids=["none-launched", "no-ip", "server-failed", "server-not-in-wave", "unknown-wave"],
)
def test_an_empty_value_is_unresolved_with_the_reason(
    servers: Mapping[str, ServerResult], parameter: str, reason: str
) -> None:
    # GIVEN db's servers as the ledger holds them
    ledger = _Ledger({"db": servers})

    # WHEN a parameter naming what db lacks is resolved
    resolved = resolve_parameters({"ok": "fine", "p": [parameter]}, _context(ledger))

    # THEN it is unresolved with the reason (nothing is sent)
    assert resolved == Unresolved(reason)


def test_the_own_wave_before_its_launch_and_a_missing_plan_name_are_unresolved() -> None:
    # GIVEN a pre-launch step of db naming db, and a plan without a name
    ledger = _Ledger({"db": DB})
    nameless = RunContext(
        PLAN.model_copy(update={"name": None}), "e1", "DRILL", "web.v2", "POST_LAUNCH", ledger.servers
    )

    # WHEN / THEN each is unresolved with its reason, db's servers unread
    assert resolve_parameters(
        {"p": "${{ waves.db.instanceIds }}"}, _context(ledger, wave_id="db", phase="PRE_LAUNCH")
    ) == Unresolved(
        "parameter 'p': ${{ waves.db.instanceIds }} names this step's own wave in its pre-launch phase: nothing is "
        "recovered yet"
    )
    assert resolve_parameters({"p": "${{ run.planName }}"}, nameless) == Unresolved(
        "parameter 'p': ${{ run.planName }} is empty: the plan has no planName"
    )
    assert ledger.reads == []


# ---- through the SSM_DOCUMENT step (fakes) -----------------------------------------------------------


def _completed(world: World, job: str, *results: tuple[str, str]) -> None:
    """db's job ended in `world`'s DRS with these results, and its DRSJobCompleted arrives."""
    world.drs.finish_job(job, dict(results), reasons={sid: "LAUNCH_FAILED: x" for sid, _ in results})
    instances = {i["sourceServerID"]: i["recoveryInstanceID"] for i in world.drs.recovery_instances.values()}
    event = DRSJobCompleted(
        execution_id="e1",
        plan_id="p",
        wave_id="db",
        job_id=job,
        servers=[
            ServerLaunch(source_server_id=sid, launch_status=status, recovery_instance_id=instances.get(sid))
            for sid, status in results
        ],
    )
    on_job_completed(world.rt, event, "jc-1")


def _step(**fields: Any) -> dict[str, Any]:
    return {"documentName": "Register", "targets": {"instanceIds": ["i-0000000000000abcd"]}, **fields}


def test_a_post_launch_step_is_sent_its_waves_ips_and_records_them(world: World) -> None:
    # GIVEN db whose post-launch step registers db's recovered IPs
    world.ssm.add_document("Register", ["Hosts"])
    document = plan(wave("db", S1, S2, postLaunch=[_step(parameters={"Hosts": ["${{ waves.db.privateIps }}"]})]))
    [job] = launching(world, document)

    # WHEN db's job ends with both servers launched
    _completed(world, job, (S1, "LAUNCHED"), (S2, "LAUNCHED"))

    # THEN SendCommand got db's two IPs (what DRS said of each recovery instance), and the step's record keeps them
    ips = [
        world.drs.recovery_instances[instance]["recoveryInstanceProperties"]["networkInterfaces"][0]["ips"][0]
        for instance in sorted(
            world.drs.recovery_instances, key=lambda i: world.drs.recovery_instances[i]["sourceServerID"]
        )
    ]
    [sent] = world.ssm.sent
    assert sent["parameters"] == {"Hosts": ips}
    run = world.ledger.get_script(
        ScriptId(execution_id="e1", wave_id="db", wave_attempt=1, phase="POST_LAUNCH", index=0)
    )
    assert run is not None
    assert run.parameter_values == {"Hosts": ips}


def test_an_empty_value_fails_a_warn_step_with_a_warning_and_the_phase_goes_on(world: World) -> None:
    # GIVEN db with an OPTIONAL server whose IP a WARN step sends, then a step without references
    world.ssm.add_document("Register", ["Hosts"])
    steps = [
        _step(parameters={"Hosts": f"${{{{ waves.db.servers.{S2}.privateIp }}}}"}, onFailure="WARN"),
        _step(parameters={"Hosts": "static"}),
    ]
    optional = {"sourceServerID": S2, "criticality": "OPTIONAL"}
    [job] = launching(world, plan(wave("db", S1, optional, successThreshold=0.5, postLaunch=steps)))

    # WHEN db's job ends with the OPTIONAL server failed
    _completed(world, job, (S1, "LAUNCHED"), (S2, "FAILED"))

    # THEN the first step failed unsent with the reason and a warning, and the second was sent
    reason = (
        f"not sent: parameter 'Hosts': ${{{{ waves.db.servers.{S2}.privateIp }}}} is empty: server {S2} of wave 'db' "
        "did not launch (FAILED)"
    )
    first = world.ledger.get_script(
        ScriptId(execution_id="e1", wave_id="db", wave_attempt=1, phase="POST_LAUNCH", index=0)
    )
    assert first is not None
    assert (first.status, first.reason, first.command_ids) == ("Failed", reason, ())
    assert (
        f"db: post-launch script #1 Register Failed ({reason}) (onFailure WARN)"
        in world.ledger.get_wave("e1", "db")["warnings"]
    )
    assert [s["parameters"] for s in world.ssm.sent] == [{"Hosts": ["static"]}]


def test_start_plan_refuses_a_reference_to_a_wave_that_is_not_upstream(world: World) -> None:
    # GIVEN db -> app, where db's post-launch step names app's IPs (downstream: they do not exist yet)
    step = _step(parameters={"Hosts": "${{ waves.app.privateIps }}"})
    bad = plan(wave("db", S1, postLaunch=[step]), wave("app", S2, dependsOn=["db"]))

    # WHEN it is started
    started = start_plan(world.rt, StartPlan(plan=bad, execution_id="e1"), "evt-1")

    # THEN nothing runs, and PlanFailed names the problem at the parameter
    assert started is None
    assert world.ledger.get_execution("e1") is None
    [failed] = world.bus.published
    assert isinstance(failed, PlanFailed)
    assert [(e.code, e.path, e.wave_id) for e in failed.errors] == [
        ("reference-not-upstream", "waves[0].postLaunch[0].parameters.Hosts", "db")
    ]
