"""What a compromised target instance reports through its SSM agent (orchestrator/steps/scripts.py, capture):
its output is kept inert (orchestrator/domain/untrusted.py) and bounded, and an invocation status the code does
not know never fails a handler."""

from __future__ import annotations

from typing import Any

import pytest

from events.models import PreLaunchDone, PreLaunchTick, WaveReady
from orchestrator.domain.records.scripts import InvocationResult, ScriptId, ScriptStatus
from orchestrator.domain.untrusted import REPLACEMENT, inert
from orchestrator.steps.pre_launch import on_wave_ready
from orchestrator.steps.scripts import OUTPUT_EXCERPT, _instance_result, on_command_status, on_tick
from tests.unit.steps.world import S1, World, plan, wave

I1, I2 = "i-00000000000000001", "i-00000000000000002"
SCRIPT = ScriptId(execution_id="e1", wave_id="db", wave_attempt=1, phase="PRE_LAUNCH", index=0)
R = REPLACEMENT

# ---- the sanitiser ---------------------------------------------------------------------------------------

HOSTILE = [
    # (what the instance wrote, what is kept)
    ("\x1b[2J\x1b[31mOK\x1b[0m", f"{R}[2J{R}[31mOK{R}[0m"),  # ANSI CSI: clear screen, colour
    ("\x1b]52;c;cm0gLXJmIH4K\x07", f"{R}]52;c;cm0gLXJmIH4K{R}"),  # OSC 52 clipboard write, BEL-terminated
    ("\x1b]52;c;cm0gLXJmIH4K\x1b\\", f"{R}]52;c;cm0gLXJmIH4K{R}\\"),  # the same, ST-terminated
    ("\x1b]8;;https://evil.example/\x1b\\docs\x1b]8;;\x1b\\", f"{R}]8;;https://evil.example/{R}\\docs{R}]8;;{R}\\"),
    ("FAILED\rPASSED", f"FAILED{R}PASSED"),  # a lone CR: PASSED would print over FAILED
    ("line 1\r\nline 2\r\n", "line 1\nline 2\n"),  # a CRLF line end (Windows) keeps its line
    ("a\x00b\x08c\x7fd", f"a{R}b{R}c{R}d"),  # NUL, backspace, DEL
    ("\x9b31m\x9d0;title\x9c", f"{R}31m{R}0;title{R}"),  # the 8-bit CSI, OSC and ST (C1)
    ("lone \ud800 and \udfff", f"lone {R} and {R}"),  # lone surrogates
    ("ok \u202egnp.exe\u202c \u2066x\u2069", f"ok {R}gnp.exe{R} {R}x{R}"),  # bidi overrides and isolates
    (
        "[bold red]PASSED[/] [link=https://evil.example]here[/link]",
        "[bold red]PASSED[/] [link=https://evil.example]here[/link]",
    ),
    ("tab\there\nnewline, émoji 🚀, 日本語, \u200d", "tab\there\nnewline, émoji 🚀, 日本語, \u200d"),
]


@pytest.mark.parametrize(("reported", "kept"), HOSTILE)
def test_inert_replaces_what_a_terminal_would_act_on_and_keeps_printable_text(reported: str, kept: str) -> None:
    # GIVEN text an instance wrote, WHEN made inert, THEN it is exactly the expected text
    assert inert(reported) == kept


def test_inert_keeps_no_control_character_of_any_code_point_but_tab_and_newline() -> None:
    # GIVEN every C0 and C1 control, DEL, every surrogate and the bidi controls
    controls = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0), *range(0xD800, 0xE000))]
    controls += [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]

    # WHEN made inert, THEN only tab and newline are left as they were, each other one is one U+FFFD
    assert [c for c in controls if inert(c) == c] == ["\t", "\n"]
    assert {inert(c) for c in controls} - {"\t", "\n"} == {R}


# ---- capture --------------------------------------------------------------------------------------------


def _running(world: World, **fields: Any) -> str:
    """Wave `db` in PRE_LAUNCH with its one pre-launch script sent to two instances, still running. Returns the
    command id (bus emptied)."""
    world.ssm.add_document("Fence")
    world.ssm.outcomes["Fence"] = ("InProgress", "")
    fence = {"documentName": "Fence", "targets": {"instanceIds": [I1, I2]}, "timeoutSeconds": 60, **fields}
    world.start(plan(wave("db", S1, preLaunch=[fence])))
    on_wave_ready(world.rt, WaveReady(execution_id="e1", plan_id="p", wave_id="db"), "wr-1")
    [command_id] = world.ssm.commands
    world.bus.published.clear()
    return command_id


def _ended(command_id: str, instance_id: str, status: object = "Success") -> dict[str, Any]:
    return {"command-id": command_id, "instance-id": instance_id, "status": status}


def _due(world: World, purpose: str) -> list[PreLaunchTick]:
    """The script ticks of `purpose` due now (every tick due fires once)."""
    return [t for t in world.scheduler.due(world.clock.now()) if isinstance(t, PreLaunchTick) and t.purpose == purpose]


def _outputs(world: World) -> dict[str, str | None]:
    [run] = world.ledger.list_scripts("e1", "db")
    return {i.instance_id: i.output for i in run.instances or ()}


def test_the_output_an_instance_reports_is_kept_inert_in_the_ledger(world: World) -> None:
    # GIVEN a WARN script whose instances fail with hostile output (every case above, one after the other)
    command_id = _running(world, onFailure="WARN")
    reported = "".join(text for text, _ in HOSTILE)
    world.ssm.finish(command_id, "Failed", reported)

    # WHEN their completion events arrive
    on_command_status(world.rt, _ended(command_id, I1, "Failed"), "ev-1")
    on_command_status(world.rt, _ended(command_id, I2, "Failed"), "ev-2")

    # THEN the ledger keeps exactly the inert text, for each instance, and the event carries no output at all
    kept = "".join(text for _, text in HOSTILE)
    assert _outputs(world) == {I1: kept, I2: kept}
    [done] = world.published(PreLaunchDone)
    assert [(i.instance_id, i.status, i.output) for i in done.scripts[0].instances] == [
        (I1, "Failed", None),
        (I2, "Failed", None),
    ]


def test_ten_megabytes_of_output_are_cut_before_they_are_kept() -> None:
    # GIVEN an invocation whose two plugins report 10 MB of escape sequences and text
    plugin = {"Output": "\x1b[31m" + "x" * 5_000_000}
    invocation = {"InstanceId": I1, "Status": "Failed", "CommandPlugins": [plugin, plugin]}

    # WHEN captured
    result = _instance_result(invocation, I1)

    # THEN the first OUTPUT_EXCERPT characters are kept, inert
    assert result == InvocationResult(
        instance_id=I1, status="Failed", output=f"{R}[31m" + "x" * (OUTPUT_EXCERPT - 5), duration_seconds=None
    )


@pytest.mark.parametrize("status", ["Bogus", "Delivered", "", None, 42])
def test_a_status_ssm_does_not_define_never_fails_a_handler_and_the_try_times_out(world: World, status: object) -> None:
    # GIVEN a running script; one instance ends Success, the other reports a status that is not SSM's
    command_id = _running(world)
    world.ssm._invocations[command_id][I1]["Status"] = "Success"
    world.ssm._invocations[command_id][I2]["Status"] = status

    # WHEN completion events name that status, and a poll tick reads the invocations
    on_command_status(world.rt, _ended(command_id, I2, status), "ev-1")
    on_command_status(world.rt, _ended(command_id, I1), "ev-2")
    world.advance(5)
    [poll] = _due(world, "poll")
    on_tick(world.rt, poll, "poll-1")

    # THEN nothing failed and the script still runs (an unknown status is not an end)
    [run] = world.ledger.list_scripts("e1", "db")
    assert (run.status, world.bus.published) == (ScriptStatus.RUNNING, [])

    # AND at its timeout that invocation counts as TimedOut (it was cancelled), the other keeps its Success
    world.advance(55)
    [timeout] = _due(world, "timeout")
    on_tick(world.rt, timeout, "timeout-1")
    assert world.ssm.cancelled == [(command_id, [I2])]
    [run] = world.ledger.list_scripts("e1", "db")
    assert run.status is ScriptStatus.TIMED_OUT
    assert [(i.instance_id, i.status) for i in run.instances or ()] == [(I1, "Success"), (I2, "TimedOut")]


@pytest.mark.parametrize("status", [["Success"], {"Status": "Success"}, None, 7])
def test_a_status_event_whose_status_is_not_a_string_is_ignored(world: World, status: object) -> None:
    # GIVEN a running script whose invocations both succeeded
    command_id = _running(world)
    world.ssm.finish(command_id, "Success")

    # WHEN status-change events of both carry a status that is not a string
    on_command_status(world.rt, _ended(command_id, I1, status), "ev-1")
    on_command_status(world.rt, _ended(command_id, I2, status), "ev-2")

    # THEN nothing failed and nothing was counted: the poll ticks conclude the script
    [run] = world.ledger.list_scripts("e1", "db")
    assert (run.status, run.done_count, world.bus.published) == (ScriptStatus.RUNNING, 0, [])
