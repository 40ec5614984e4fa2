"""Free text that DRS reports (a source server's hostname, a job log's rawError) is made inert where it is
captured, as script output is (orchestrator/domain/untrusted.py): the preflight's reasons, the DRS adapter's
job-log reasons, the cleanup's reasons for what it could not terminate."""

from __future__ import annotations

import botocore.session
from botocore.stub import Stubber

from events.models import WaveFailed, WaveReady
from orchestrator.adapters.drs import Drs
from orchestrator.domain.untrusted import NOT_INERT, REPLACEMENT
from orchestrator.steps.cleanup import _job_outcome
from orchestrator.steps.pre_launch import on_wave_ready
from tests.unit.steps.world import S1, World, plan, wave

#: OSC 52 (writes the clipboard), clear screen, a bidi override, a C1 CSI and a lone surrogate.
HOSTILE = "db01\x1b]52;c;cm0gLXJmIH4K\x07\x1b[2J\u202eevil\x9b\ud800"
#: HOSTILE as `inert` leaves it: each of those characters replaced by U+FFFD, one for one.
SHOWN = "db01" + REPLACEMENT + "]52;c;cm0gLXJmIH4K" + REPLACEMENT * 2 + "[2J" + REPLACEMENT + "evil" + REPLACEMENT * 2


def test_the_hostname_a_stalled_server_reports_reaches_the_wave_failure_inert(world: World) -> None:
    # GIVEN a source server whose replication agent reports a hostname with terminal controls, and has stalled
    world.drs.add_source_server(S1, replication="STALLED", hostname=HOSTILE)
    world.start(plan(wave("db", S1)))
    # WHEN its wave is ready (the preflight names it)
    on_wave_ready(world.rt, WaveReady(execution_id="e1", plan_id="p", wave_id="db"), "wr-1")
    # THEN the wave failure's reason names it with every control replaced
    [failed] = world.bus.of(WaveFailed)
    assert failed.reason == f"preflight failed: {S1}: replication is STALLED, not CONTINUOUS ({SHOWN})"


def test_a_hostname_longer_than_a_dns_name_is_cut(world: World) -> None:
    # GIVEN a stalled server reporting a 5,000-character hostname
    world.drs.add_source_server(S1, replication="STALLED", hostname="h" * 5000)
    world.start(plan(wave("db", S1)))
    # WHEN the preflight names it
    on_wave_ready(world.rt, WaveReady(execution_id="e1", plan_id="p", wave_id="db"), "wr-1")
    # THEN the reason keeps 252 characters of it, marked as cut (253 in all, a DNS name's length)
    [failed] = world.bus.of(WaveFailed)
    assert failed.reason == f"preflight failed: {S1}: replication is STALLED, not CONTINUOUS ({'h' * 252}…)"


def test_a_job_logs_raw_error_is_made_inert_by_the_adapter() -> None:
    # GIVEN a job log whose launch failure carries a rawError with terminal controls (tab and newline are
    # whitespace, collapsed as before)
    client = botocore.session.get_session().create_client(
        "drs", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    drs, stubber = Drs(client, sleep=lambda _: None), Stubber(client)
    stubber.add_response(
        "describe_job_log_items",
        {
            "items": [
                {
                    "event": "LAUNCH_FAILED",
                    "eventData": {"sourceServerID": "s-0000000000000000a", "rawError": f"boot\tfailed\non {HOSTILE}"},
                }
            ]
        },
        {"jobID": "drsjob-0000000000000000a"},
    )
    # WHEN the adapter reads the reasons
    with stubber:
        reasons = drs.job_failure_reasons("drsjob-0000000000000000a")
    # THEN the reason shows the controls as U+FFFD
    assert reasons == {"s-0000000000000000a": f"LAUNCH_FAILED: boot failed on {SHOWN}"}


def test_a_termination_reason_from_the_drs_port_is_recorded_inert(world: World) -> None:
    # GIVEN a terminate job that failed for one server, whose DRS port reports a reason with terminal controls
    world.drs.failure_reasons["drsjob-t"] = {S1: f"TERMINATE_FAILED: {HOSTILE}"}
    job = {
        "jobID": "drsjob-t",
        "participatingServers": [{"sourceServerID": S1, "recoveryInstanceID": "i-1", "launchStatus": "FAILED"}],
    }
    # WHEN the cleanup reads what the job did not terminate
    terminated, not_terminated = _job_outcome(world.rt, job)
    # THEN the reason it records is inert
    assert terminated == []
    assert [(n.recovery_instance_id, n.reason) for n in not_terminated] == [("i-1", f"TERMINATE_FAILED: {SHOWN}")]
    assert NOT_INERT.search(not_terminated[0].reason) is None
