"""End to end: who may approve and who may start a RECOVERY comes from AWS authentication (the operator
endpoint), never from a field the publisher writes (issue #13: "a forged requestedBy approved a gated wave").

Each attack of the issue is played on the local cloud, through the same operator function, control function
and StartPlan function as on AWS: a command the operator endpoint publishes carries the caller's verified
ARN; anything put on the bus directly is not an operator command.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest
from typer.testing import CliRunner

from events.models import OPERATOR_SOURCE, SOURCE, Mode
from localcloud.lambda_runtime import ACCOUNT, REGION
from localcloud.operators import url_request
from localcloud.runner import StartRefused, start, wait
from orchestrator.domain.plan import parse_plan, plan_to_document
from tests.e2e.function_url import Identity, function_url
from tests.e2e.helpers import (
    ALICE,
    DROPS,
    MALLORY,
    assert_choreography_invariants,
    command,
    count_metrics,
    events_of,
    execution,
    ledger_items,
    ledger_waves,
    sid,
    start_recovery_calls,
    wave,
    wave_status,
)

RECOVERY = {"planId": "failover", "waves": [wave("db", [sid("d", 1)]), wave("app", [sid("p", 1)], ["db"])]}


def _gated() -> Any:
    return parse_plan(
        {
            "planId": "gated",
            "waves": [
                wave("w1", [sid("a", 1)]),
                wave("w2", [sid("b", 1)], ["w1"], approval={"required": True, "approvers": [DROPS]}),
            ],
        }
    )


def _at_the_gate(local_cloud: Any, **profile: Any) -> tuple[Any, str]:
    cloud = local_cloud(**profile)
    execution_id = start(cloud, _gated())
    cloud.run_until(lambda: wave_status(cloud, execution_id, "w2") == "AWAITING_APPROVAL", timeout=60)
    cloud.drain()
    return cloud, execution_id


# ---- approvals ---------------------------------------------------------------------------------------


def test_a_forged_requested_by_on_the_bus_approves_nothing(local_cloud, monkeypatch):
    # GIVEN a wave awaiting the approval of the DROps role
    cloud, execution_id = _at_the_gate(local_cloud)
    before, delivered = ledger_items(cloud), dict(cloud.stats.delivered)
    counts = count_metrics(monkeypatch)

    # WHEN an ApprovalGranted naming an approver's session is put on the bus directly (the attack of the
    # audit; on AWS the bus policy refuses that PutEvents to anyone but the operator function's role)
    forged = {"executionId": execution_id, "waveId": "w2", "requestedBy": ALICE}
    cloud.publish("ApprovalGranted", forged)
    cloud.drain()

    # THEN no rule takes it to the control function (operator commands are taken from the operator source
    # only): the wave still waits and nothing changed
    assert cloud.stats.delivered == delivered
    assert wave_status(cloud, execution_id, "w2") == "AWAITING_APPROVAL"
    assert ledger_items(cloud) == before

    # AND had a rule delivered it, the control function refuses it as an invalid event, counted
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "ApprovalGranted",
        "source": SOURCE,
        "account": ACCOUNT,
        "time": "2026-01-01T09:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": forged,
    }
    result = cloud.lambdas.invoke("control", event)
    assert result["status"] == "rejected"
    assert f"source: expected '{OPERATOR_SOURCE}', got '{SOURCE}'" in result["error"]
    assert counts == {"InvalidEvents": 1}
    assert ledger_items(cloud) == before

    # AND the plan still runs to its gate's timeout, as if nothing had been sent
    assert wait(cloud, execution_id, timeout=60).status == "FAILED"
    assert ledger_waves(cloud, execution_id)["w2"]["approval"]["status"] == "TIMED_OUT"
    assert set(cloud.drs.stats.launches) == {sid("a", 1)}


def test_a_requested_by_naming_someone_else_is_refused_by_the_operator_endpoint(local_cloud, monkeypatch):
    # GIVEN a wave awaiting the approval of the DROps role
    cloud, execution_id = _at_the_gate(local_cloud)
    before, published = ledger_items(cloud), len(cloud.events)
    counts = count_metrics(monkeypatch)

    # WHEN mallory, authenticated, sends an approval that claims to be alice's
    reply = cloud.operate(
        "ApprovalGranted", {"executionId": execution_id, "waveId": "w2", "requestedBy": ALICE}, caller=MALLORY
    )

    # THEN the endpoint refuses it (403) naming both, publishes nothing, and counts it
    assert reply.status == 403
    assert reply.error.startswith(f"requestedBy '{ALICE}' is not the caller {MALLORY}")
    assert len(cloud.events) == published
    cloud.drain()
    assert ledger_items(cloud) == before
    assert counts == {"OperatorRefused": 1}


def test_an_approval_by_an_authenticated_caller_who_is_no_approver_is_refused(local_cloud):
    # GIVEN a wave awaiting the approval of the DROps role
    cloud, execution_id = _at_the_gate(local_cloud)
    before = ledger_items(cloud, decisions=False)

    # WHEN mallory (a session of another role) approves it through the operator endpoint
    command(cloud, "ApprovalGranted", {"executionId": execution_id, "waveId": "w2"}, by=MALLORY)
    cloud.drain()

    # THEN the endpoint published it as mallory's, and the control function refused it: the wave still waits
    [rejected] = events_of(cloud, "ControlRejected", execution_id)
    assert rejected.detail["requestedBy"] == MALLORY
    assert rejected.detail["reason"] == f"{MALLORY} may not decide on wave w2: it is none of the approvers ({DROPS})"
    assert wave_status(cloud, execution_id, "w2") == "AWAITING_APPROVAL"
    assert ledger_items(cloud, decisions=False) == before


def test_an_approval_by_an_approver_is_granted_and_recorded_with_the_verified_arn(local_cloud):
    # GIVEN a wave awaiting the approval of the DROps role
    cloud, execution_id = _at_the_gate(local_cloud)

    # WHEN alice, in the DROps role, approves it through the operator endpoint (the body names nobody)
    caller = command(cloud, "ApprovalGranted", {"executionId": execution_id, "waveId": "w2", "comment": "ok"}, by=ALICE)
    result = wait(cloud, execution_id, timeout=60)

    # THEN the plan completes; the command on the bus, the ledger and the report hold alice's verified ARN
    assert caller == ALICE
    assert result.status == "COMPLETED"
    [granted] = [e for e in cloud.events if e.detail_type == "ApprovalGranted"]
    assert (granted.source, granted.detail["requestedBy"]) == (OPERATOR_SOURCE, ALICE)
    assert ledger_waves(cloud, execution_id)["w2"]["approval"]["approvedBy"] == ALICE
    assert result.report is not None
    [w2] = [w for w in result.report["waves"] if w["waveId"] == "w2"]
    assert (w2["approval"]["status"], w2["approval"]["approvedBy"]) == ("GRANTED", ALICE)
    assert_choreography_invariants(cloud, execution_id)


# ---- RECOVERY ----------------------------------------------------------------------------------------


def test_a_recovery_start_plan_put_on_the_bus_is_refused_and_launches_nothing(local_cloud, monkeypatch):
    # GIVEN a local cloud
    cloud = local_cloud()
    counts = count_metrics(monkeypatch)
    cloud.drs.ensure_servers([sid("d", 1), sid("p", 1)])

    # WHEN a confirmed RECOVERY StartPlan is put on the bus directly (the drill path: who sent it is unknown)
    cloud.publish(
        "StartPlan",
        {
            "plan": plan_to_document(parse_plan(RECOVERY)),
            "executionId": "forged-recovery",
            "mode": "RECOVERY",
            "confirmRecovery": "failover",
            "requestedBy": ALICE,
        },
    )
    cloud.drain()

    # THEN it is refused with a PlanFailed saying why; no execution, no DRS job
    [failed] = events_of(cloud, "PlanFailed", "forged-recovery")
    assert failed.detail["reason"].startswith("RECOVERY mode is a real failover: it starts only through the operator")
    assert [e["code"] for e in failed.detail["errors"]] == ["unauthenticated_recovery"]
    assert execution(cloud, "forged-recovery") is None
    assert start_recovery_calls(cloud) == 0
    assert counts.get("RecoveryRefused") == 1


def test_a_recovery_through_the_operator_by_a_caller_who_is_no_recovery_principal_is_refused(local_cloud):
    # GIVEN a deploy whose only recovery principals are DROps sessions
    cloud = local_cloud(**{"operators.recoveryPrincipals": [DROPS]})
    published = len(cloud.events)

    # WHEN mallory (authenticated, another role) starts a confirmed RECOVERY through the operator endpoint
    with pytest.raises(StartRefused) as refused:
        start(cloud, parse_plan(RECOVERY), mode=Mode.RECOVERY, confirm=True, requested_by=MALLORY)

    # THEN the endpoint refuses it (403) and publishes nothing: no execution, no DRS job
    assert refused.value.status == 403
    assert refused.value.reason == (
        f"{MALLORY} may not start a RECOVERY (a real failover): it is none of the deploy's recovery principals "
        f"({DROPS})"
    )
    assert len(cloud.events) == published
    cloud.drain()
    assert ledger_items(cloud) == []
    assert start_recovery_calls(cloud) == 0


def test_a_recovery_through_the_operator_by_a_recovery_principal_runs(local_cloud):
    # GIVEN a deploy whose recovery principals are DROps sessions
    cloud = local_cloud(**{"operators.recoveryPrincipals": [DROPS]})

    # WHEN alice (a DROps session) starts a confirmed RECOVERY through the operator endpoint
    execution_id = start(cloud, parse_plan(RECOVERY), mode=Mode.RECOVERY, confirm=True, requested_by=ALICE)
    result = wait(cloud, execution_id, timeout=60)

    # THEN it runs as a RECOVERY started by alice's verified ARN: real (non-drill) launches of every server
    assert result.status == "COMPLETED"
    record = execution(cloud, execution_id)
    assert record is not None
    assert (record["mode"], record["requestedBy"]) == ("RECOVERY", ALICE)
    [started] = [e for e in cloud.events if e.detail_type == "StartPlan"]
    assert started.source == OPERATOR_SOURCE
    assert {job.is_drill for job in cloud.drs._jobs.values() if job.job_type == "LAUNCH"} == {False}
    assert set(cloud.drs.stats.launches) == {sid("d", 1), sid("p", 1)}


def test_a_malformed_recovery_principal_setting_refuses_every_recovery(local_cloud, monkeypatch):
    # GIVEN an operator function whose RECOVERY_PRINCIPALS holds a malformed entry (the CDK app refuses it at
    # synth; a hand-edited function could still carry one)
    cloud = local_cloud()
    cloud.runtime.settings.recovery_principals = f"{DROPS},ops-team"

    # WHEN a caller the well-formed entry admits starts a RECOVERY
    reply = cloud.operate(
        "StartPlan",
        {"plan": RECOVERY, "executionId": "r-1", "mode": "RECOVERY", "confirmRecovery": "failover"},
        caller=ALICE,
    )

    # THEN nothing starts (fail closed), and the answer names the bad entry
    assert reply.status == 500
    assert "'ops-team' is not an IAM principal" in reply.error
    assert not [e for e in cloud.events if e.detail_type == "StartPlan"]


# ---- the CLI, SigV4 to the URL -----------------------------------------------------------------------


def test_cli_commands_with_aws_are_signed_with_sigv4_and_recorded_as_the_verified_caller(local_cloud, monkeypatch):
    from drs_orch.app import app

    # GIVEN a wave awaiting the approval of the DROps role, behind a Function URL that checks SigV4 signatures
    # and knows two access keys: alice's (a DROps session) and mallory's (another role)
    cloud, execution_id = _at_the_gate(local_cloud)
    identities = {
        "AKIAALICE0000000000A": Identity("alice-secret", ALICE),
        "AKIAMALLORY000000000": Identity("m", MALLORY),
    }
    runner = CliRunner()
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)

    def as_(key: str, secret: str) -> None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)

    with function_url(cloud, identities) as url:
        aws = ["--aws", "--operator-url", url.url, "--region", "us-east-1"]

        # WHEN mallory approves with her credentials
        as_("AKIAMALLORY000000000", "m")
        refused = runner.invoke(app, ["approve", execution_id, "--wave", "w2", *aws])
        cloud.drain()
        # THEN the endpoint published it as mallory (exit 0: accepted), and the control function refused it
        assert refused.exit_code == 0, refused.output
        assert f"as {MALLORY}" in " ".join(refused.output.split())
        assert [e.detail["requestedBy"] for e in events_of(cloud, "ControlRejected", execution_id)] == [MALLORY]
        assert wave_status(cloud, execution_id, "w2") == "AWAITING_APPROVAL"

        # WHEN someone signs with alice's key id but a wrong secret, and someone posts without a signature
        as_("AKIAALICE0000000000A", "guessed")
        forged = runner.invoke(app, ["approve", execution_id, "--wave", "w2", *aws])
        unsigned = urllib.request.Request(
            url.url,
            data=json.dumps(
                {"detailType": "ApprovalGranted", "detail": {"executionId": execution_id, "waveId": "w2"}}
            ).encode(),
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(unsigned, timeout=10)
        # THEN both are refused before the function runs (HTTP 403), and nothing was published
        assert forged.exit_code == 2
        assert "the operator URL answered HTTP 403: Forbidden" in " ".join(forged.output.split())
        assert denied.value.code == 403
        assert (url.forbidden, len(url.invoked)) == (2, 1)

        # WHEN alice approves with her credentials
        as_("AKIAALICE0000000000A", "alice-secret")
        granted = runner.invoke(app, ["approve", execution_id, "--wave", "w2", "--comment", "smoke tests green", *aws])

    # THEN it is published as alice, and the wave is approved by alice's verified ARN
    assert granted.exit_code == 0, granted.output
    assert wait(cloud, execution_id, timeout=60).status == "COMPLETED"
    approval = ledger_waves(cloud, execution_id)["w2"]["approval"]
    assert (approval["approvedBy"], approval["comment"]) == (ALICE, "smoke tests green")
    assert [e["requestContext"]["authorizer"]["iam"]["userArn"] for e in url.invoked] == [MALLORY, ALICE]


def test_the_operator_function_refuses_a_request_without_an_authenticated_caller(local_cloud, monkeypatch):
    # GIVEN a running local cloud
    cloud = local_cloud()
    counts = count_metrics(monkeypatch)
    published = len(cloud.events)
    body = {"detailType": "CancelPlan", "detail": {"executionId": "e-1"}}

    # WHEN the function gets a Function URL request without IAM identity (the URL switched to AuthType NONE),
    # a GET, and an EventBridge event (a direct invocation with the wrong shape)
    anonymous = url_request(body, ALICE)
    del anonymous["requestContext"]["authorizer"]
    get = url_request(body, ALICE)
    get["requestContext"]["http"]["method"] = "GET"
    answers = [
        cloud.lambdas.invoke("operator", anonymous),
        cloud.lambdas.invoke("operator", get),
        cloud.lambdas.invoke("operator", {"detail-type": "CancelPlan", "source": OPERATOR_SOURCE, "detail": {}}),
    ]

    # THEN each is refused with its status, and nothing is published
    assert [(a["statusCode"], json.loads(a["body"])["error"]) for a in answers] == [
        (403, "no authenticated caller: the operator URL takes only SigV4-signed requests (AWS_IAM)"),
        (405, "POST a command"),
        (400, "not a Function URL request"),
    ]
    assert len(cloud.events) == published
    assert counts == {"OperatorRefused": 3}
