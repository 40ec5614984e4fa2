"""Red team of issue #13 (security): attacks on what SECURITY.md claims, each of which the orchestrator did NOT stop
when the red team played it, and stops now.

Each test plays one attack on the embedded local cloud (the same handlers, state machine and rules as on AWS) and
asserts what SECURITY.md says should happen. They were recorded as `xfail(strict=True)` while the hole was open;
the fixes removed the marks: a plan writing its own run context and a typographic quote breaking out of a
PowerShell string (h/ctx), a skip stepping around an approval gate (h/skipgate), a direct invocation naming the
operator's source (h/mac: the operator's KMS HMAC proof), a source server's hostname with terminal controls (h/ctx).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from events.models import OPERATOR_SOURCE, Mode
from localcloud.cloud import Stalled
from localcloud.runner import start, wait
from orchestrator.domain.plan import parse_plan, plan_to_document
from orchestrator.domain.untrusted import NOT_INERT
from tests.e2e.helpers import (
    ALICE,
    DROPS,
    MALLORY,
    command,
    envelope,
    events_of,
    execution,
    invoke,
    sid,
    start_recovery_calls,
    wave,
    wave_status,
)


def _sent(cloud: Any, document: str) -> list[dict[str, list[str]]]:
    """The parameters (as sent) of every command of `document` the SSM simulator received."""
    return [c.parameters for c in cloud.ssm._commands.values() if c.document.name == document]


# ---- the run context of a script is written by the plan ---------------------------------------------------


def test_a_drill_plan_cannot_tell_its_scripts_they_run_in_a_recovery(local_cloud):
    # GIVEN the deployed default allow-list, and a DRILL whose post-launch step runs the project's own
    # DRSOrch-WaitForSsmAgent, passing the run context's parameters itself: Mode RECOVERY and a RecoveryInstances
    # map of its choosing (what a DNS-rewriting document would act on)
    cloud = local_cloud()
    forged = {"Mode": "RECOVERY", "RecoveryInstances": '{"s-00000000000000db1":{"instanceId":"i-0123456789abcdef0"}}'}
    plan = {
        "planId": "innocent-drill",
        "waves": [
            wave("db", [sid("d", 1)], postLaunch=[{"documentName": "DRSOrch-WaitForSsmAgent", "parameters": forged}])
        ],
    }
    # WHEN it is started on the bus, as a drill
    execution_id = start(cloud, parse_plan(plan), execution_id="forged-context")
    result = wait(cloud, execution_id, timeout=60)
    # THEN either StartPlan refused the plan before anything ran (the run context is the orchestrator's to
    # write), or the instance was told the truth: a drill, with the wave's own recovery instance
    sent = _sent(cloud, "DRSOrch-WaitForSsmAgent")
    if result.status == "REJECTED":
        assert (sent, start_recovery_calls(cloud)) == ([], 0)
    else:
        [launched] = cloud.session.client("drs").describe_recovery_instances()["items"]
        told = [
            (p["Mode"], {k: v["instanceId"] for k, v in json.loads(p["RecoveryInstances"][0]).items()}) for p in sent
        ]
        assert told == [(["DRILL"], {sid("d", 1): launched["ec2InstanceID"]})]


# ---- PowerShell quotes in the project's own documents -----------------------------------------------------

#: The characters PowerShell's tokenizer takes for a single quote: ' and the typographic ones U+2018 to U+201B
#: (PowerShell's `SpecialCharacters.IsSingleQuote`; Ansible's PowerShell shell plugin escapes all five for this).
PS_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
_QUOTED_PLACEHOLDER = re.compile(r"'([^'{]*)\{\{\s*(\w+)\s*\}\}([^']*)'")


def _literal_end(line: str, opening: int) -> int:
    """Where the PowerShell single-quoted string opened at `opening` ends (a doubled quote is an escaped one)."""
    i = opening + 1
    while i < len(line):
        if line[i] in PS_SINGLE_QUOTES:
            if i + 1 < len(line) and line[i + 1] in PS_SINGLE_QUOTES:
                i += 2
                continue
            return i
        i += 1
    return -1


def _powershell_breakouts(command: Any) -> list[str]:
    """The PowerShell lines of a sent command in which a parameter, substituted as SSM does into '...', ends the
    single-quoted string before the template's own closing quote (what follows runs as code)."""
    found = []
    for step in command.document.content["mainSteps"]:
        if step["action"] != "aws:runPowerShellScript":
            continue
        for template in step["inputs"]["runCommand"]:
            match = _QUOTED_PLACEHOLDER.search(template)
            if match is None:
                continue
            before, name, after = match.groups()
            value = command.effective[name][0]
            line = template[: match.start()] + f"'{before}{value}{after}'" + template[match.end() :]
            if _literal_end(line, match.start()) != match.start() + 1 + len(before + value + after):
                found.append(line)
    return found


def _run_script(local_cloud: Any, document: str, parameters: dict[str, str]) -> list[Any]:
    """Run a DRILL on the bus whose one wave's post-launch step runs `document` with `parameters`, on the deployed
    default allow-list; the commands of `document` the SSM simulator received."""
    cloud = local_cloud()
    plan = {
        "planId": "innocent-drill",
        "waves": [wave("web", [sid("w", 1)], postLaunch=[{"documentName": document, "parameters": parameters}])],
    }
    execution_id = start(cloud, parse_plan(plan), execution_id="ps-quotes")
    wait(cloud, execution_id, timeout=60)
    return [c for c in cloud.ssm._commands.values() if c.document.name == document]


def test_the_breakout_check_passes_ordinary_parameters(local_cloud):
    # GIVEN a health check of an ordinary https URL, whose Windows step assigns it in a single-quoted string
    # WHEN it runs
    [sent] = _run_script(local_cloud, "DRSOrch-HealthCheck", {"Target": "https://web.example/health?x=1"})
    # THEN the check used below finds no breakout in it (it tells a quoted value from one that escapes)
    assert (sent.effective["Target"], _powershell_breakouts(sent)) == (["https://web.example/health?x=1"], [])


@pytest.mark.parametrize(
    ("document", "parameters"),
    [
        # Target: allowedPattern "https?://[^'\"\\s`]+" refuses ' but not U+2019
        ("DRSOrch-HealthCheck", {"Target": "https://db.example/\u2019;calc.exe;\u2019"}),
        # RecoveryInstances, which the plan may write itself (above): "^[^'`\\\\]*$"
        ("DRSOrch-WaitForSsmAgent", {"RecoveryInstances": "\u2018;calc.exe;\u2018"}),
    ],
)
def test_a_drill_cannot_break_out_of_a_powershell_string_of_the_projects_own_documents(
    local_cloud, document, parameters
):
    # GIVEN the deployed default allow-list (only the DRSOrch-* documents, "not a root shell"), and a DRILL whose
    # post-launch step passes one of their parameters a typographic quote, which PowerShell takes for '
    # WHEN it is started on the bus, as a drill
    sent = _run_script(local_cloud, document, parameters)
    # THEN no command was sent whose Windows step runs the parameter's tail as PowerShell code (the document's
    # allowedPattern, which SSM checks, or StartPlan must refuse the value)
    assert [line for c in sent for line in _powershell_breakouts(c)] == []


# ---- an approver's "no" is undone by anyone who may call the operator URL --------------------------------


def test_a_caller_who_is_no_approver_cannot_undo_an_approvers_denial_of_a_recovery_gate(local_cloud):
    # GIVEN a RECOVERY (started by a recovery principal) whose root wave waits for the DROps role's approval
    # (defaults.requireApprovalInRecovery), and whose app tier depends on it
    cloud = local_cloud()
    gate = {"required": False, "approvers": [DROPS]}
    plan = {
        "planId": "failover",
        "defaults": {"requireApprovalInRecovery": True},
        "waves": [wave("db", [sid("d", 1)], approval=gate), wave("app", [sid("p", 1)], ["db"])],
    }
    execution_id = start(cloud, parse_plan(plan), mode=Mode.RECOVERY, confirm=True, requested_by="oncall")
    cloud.run_until(lambda: wave_status(cloud, execution_id, "db") == "AWAITING_APPROVAL", timeout=60)
    # AND alice, an approver, denies it: the wave fails, nothing launched
    command(cloud, "ApprovalDenied", {"executionId": execution_id, "waveId": "db", "reason": "not now"}, by=ALICE)
    cloud.drain()
    assert (wave_status(cloud, execution_id, "db"), start_recovery_calls(cloud)) == ("FAILED", 0)

    # WHEN mallory, authenticated but neither an approver nor a recovery principal, skips the denied wave
    command(cloud, "SkipWave", {"executionId": execution_id, "waveId": "db", "reason": "go on"}, by=MALLORY)
    cloud.run_until(lambda: cloud.execution_finished(execution_id), timeout=60)

    # THEN the denial stands: the skip is refused, and the app tier is never failed over
    assert [e.detail["requestedBy"] for e in events_of(cloud, "ControlRejected", execution_id)] == [MALLORY]
    assert (wave_status(cloud, execution_id, "db"), start_recovery_calls(cloud)) == ("FAILED", 0)


def test_a_caller_who_is_no_approver_cannot_step_around_a_waiting_gate(local_cloud):
    # GIVEN a drill whose wave "gate" waits for the DROps role's approval, and a wave "after" that depends on it
    cloud = local_cloud()
    plan = {
        "planId": "gated",
        "waves": [
            wave("gate", [sid("g", 1)], approval={"required": True, "approvers": [DROPS]}),
            wave("after", [sid("a", 1)], ["gate"]),
        ],
    }
    execution_id = start(cloud, parse_plan(plan))
    cloud.run_until(lambda: wave_status(cloud, execution_id, "gate") == "AWAITING_APPROVAL", timeout=60)
    cloud.drain()

    # WHEN mallory, who is no approver, skips the waiting wave instead of approving it
    command(cloud, "SkipWave", {"executionId": execution_id, "waveId": "gate"}, by=MALLORY)
    cloud.drain()

    # THEN she is refused as her approval would be: the wave still waits, and nothing behind it launched
    assert [e.detail["requestedBy"] for e in events_of(cloud, "ControlRejected", execution_id)] == [MALLORY]
    assert (wave_status(cloud, execution_id, "gate"), wave_status(cloud, execution_id, "after")) == (
        "AWAITING_APPROVAL",
        "PENDING",
    )
    assert start_recovery_calls(cloud) == 0


# ---- text a source server reports ------------------------------------------------------------------------

HOSTNAME = "db01\x1b]52;c;cm0gLXJmIH4K\x07\x1b[2J\u202eevil"  # OSC 52 (clipboard), clear screen, bidi override


def test_a_source_servers_hostname_reaches_no_event_with_terminal_controls(local_cloud):
    # GIVEN a source server whose replication agent reports a hostname carrying terminal control sequences, and
    # whose replication has stalled (so the preflight names it)
    cloud = local_cloud()
    cloud.drs.register_source_server(sid("d", 1), replication_state="STALLED", hostname=HOSTNAME)
    # WHEN a drill of it starts (the preflight fails its wave)
    execution_id = start(cloud, parse_plan({"planId": "p", "waves": [wave("db", [sid("d", 1)])]}), execution_id="h-1")
    assert wait(cloud, execution_id, timeout=60).status == "FAILED"
    # THEN the failure events name it inert (each control replaced by U+FFFD), as script output is
    reasons = [e.detail["reason"] for e in cloud.events if e.detail_type in ("WaveFailed", "PlanFailed")]
    assert len(reasons) == 2
    assert [NOT_INERT.search(reason) for reason in reasons] == [None, None]


# ---- a direct invocation that names the operator's source ------------------------------------------------


def test_a_direct_invocation_of_start_plan_with_the_operators_source_starts_no_recovery(local_cloud):
    # GIVEN a deploy whose only recovery principals are DROps sessions
    cloud = local_cloud(**{"operators.recoveryPrincipals": [DROPS]})
    plan = parse_plan({"planId": "failover", "waves": [wave("db", [sid("d", 1)])]})
    cloud.drs.ensure_servers([sid("d", 1)])
    # WHEN mallory invokes the StartPlan function directly with a confirmed RECOVERY that names the operator's
    # source and alice as its requester
    detail = {
        "plan": plan_to_document(plan),
        "executionId": "direct-recovery",
        "mode": "RECOVERY",
        "confirmRecovery": "failover",
        "requestedBy": ALICE,
    }
    invoke(cloud, "start_plan", envelope("StartPlan", detail, OPERATOR_SOURCE))
    # (the cloud runs until nothing is left to do: an execution that never starts never finishes)
    with pytest.raises(Stalled):
        cloud.run_until(lambda: cloud.execution_finished("direct-recovery"), timeout=60)
    # THEN no RECOVERY runs: no execution, no StartRecovery
    assert (execution(cloud, "direct-recovery"), start_recovery_calls(cloud)) == (None, 0)


def test_a_direct_invocation_of_control_with_the_operators_source_approves_nothing(local_cloud):
    # GIVEN a wave awaiting the approval of the DROps role
    cloud = local_cloud()
    plan = {"planId": "gated", "waves": [wave("w1", [sid("a", 1)], approval={"required": True, "approvers": [DROPS]})]}
    execution_id = start(cloud, parse_plan(plan))
    cloud.run_until(lambda: wave_status(cloud, execution_id, "w1") == "AWAITING_APPROVAL", timeout=60)
    cloud.drain()
    # WHEN mallory invokes the control function directly with an ApprovalGranted in alice's name, from the
    # operator's source
    forged = {"executionId": execution_id, "waveId": "w1", "requestedBy": ALICE}
    answer = invoke(cloud, "control", envelope("ApprovalGranted", forged, OPERATOR_SOURCE))
    cloud.drain()
    # THEN it is refused, and the wave still waits
    assert (answer["status"], wave_status(cloud, execution_id, "w1")) == ("rejected", "AWAITING_APPROVAL")
