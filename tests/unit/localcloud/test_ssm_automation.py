"""The SSM simulator's Automation engine, exercised through real boto3 ``ssm`` clients, against moto's Route 53."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from localcloud import cloud as local_cloud
from localcloud.ssm_automation import AUTOMATION_DETAIL_TYPE
from localcloud.ssm_sim import SsmSimConfig, SsmSimulator, install_globally, uninstall_globally

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
I1 = "i-0aaaaaaaaaaaaaaa1"
TOKEN = "0c6f5e3a-8a1b-4c2d-9e0f-112233445566"


class FakeClock:
    def __init__(self) -> None:
        self.moment = T0

    def now(self) -> datetime:
        return self.moment

    def tick(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


UPSERT = {
    "description": "Point a record at a value, then wait until it has it.",
    "schemaVersion": "0.3",
    "parameters": {
        "HostedZoneId": {"type": "String"},
        "RecordName": {"type": "String"},
        "Value": {"type": "String"},
        "WaitSeconds": {"type": "Integer", "default": 60},
    },
    "mainSteps": [
        {
            "name": "upsertRecord",
            "action": "aws:executeAwsApi",
            "inputs": {
                "Service": "route53",
                "Api": "ChangeResourceRecordSets",
                "HostedZoneId": "{{ HostedZoneId }}",
                "ChangeBatch": {
                    "Changes": [
                        {
                            "Action": "UPSERT",
                            "ResourceRecordSet": {
                                "Name": "{{ RecordName }}",
                                "Type": "A",
                                "TTL": 60,
                                "ResourceRecords": [{"Value": "{{ Value }}"}],
                            },
                        }
                    ]
                },
            },
            "outputs": [{"Name": "ChangeId", "Selector": "$.ChangeInfo.Id", "Type": "String"}],
        },
        {
            "name": "waitForValue",
            "action": "aws:waitForAwsResourceProperty",
            "timeoutSeconds": 30,
            "inputs": {
                "Service": "route53",
                "Api": "ListResourceRecordSets",
                "HostedZoneId": "{{ HostedZoneId }}",
                "StartRecordName": "{{ RecordName }}",
                "StartRecordType": "A",
                "MaxItems": "1",
                "PropertySelector": "$.ResourceRecordSets[0].ResourceRecords[0].Value",
                "DesiredValues": ["{{ Value }}"],
            },
        },
    ],
    "outputs": ["upsertRecord.ChangeId"],
}


def wait_for(value: str, timeout: int = 30) -> dict[str, Any]:
    """A runbook that only waits until the record web.example.internal has `value`."""
    step = json.loads(json.dumps(UPSERT["mainSteps"][1]))  # type: ignore[index]
    step["timeoutSeconds"] = timeout
    step["inputs"]["DesiredValues"] = [value]
    return {"schemaVersion": "0.3", "parameters": UPSERT["parameters"], "mainSteps": [step]}


@contextmanager
def simulated(sim: SsmSimulator) -> Iterator[None]:
    """moto for the other services, `sim` for SSM's Run Command and Automation (as the local cloud serves them)."""
    with mock_aws():
        install_globally(sim)
        local_cloud._keep_moto_off_run_command()
        try:
            yield
        finally:
            uninstall_globally()


@pytest.fixture
def cloud() -> Iterator[dict[str, Any]]:
    clock, events = FakeClock(), list[dict[str, Any]]()
    sim = SsmSimulator(clock, on_event=events.append)
    sim.register_runbook("DnsCutover", UPSERT)
    with simulated(sim):
        route53 = boto3.client("route53", region_name="us-east-1")
        zone = route53.create_hosted_zone(Name="example.internal", CallerReference="t")["HostedZone"]["Id"]
        config = Config(retries={"total_max_attempts": 1, "mode": "standard"})
        client = boto3.client("ssm", region_name="us-east-1", config=config)
        yield {"sim": sim, "ssm": client, "route53": route53, "zone": zone, "clock": clock, "events": events}


def record_value(route53: Any, zone: str, name: str) -> str | None:
    sets = route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    found = [s for s in sets if s["Name"] == name and s["Type"] == "A"]
    return found[0]["ResourceRecords"][0]["Value"] if found else None


def start(cloud: dict[str, Any], document: str = "DnsCutover", **parameters: str) -> str:
    values = {"HostedZoneId": cloud["zone"], "RecordName": "web.example.internal.", "Value": "10.1.2.3", **parameters}
    answer = cloud["ssm"].start_automation_execution(
        DocumentName=document, Parameters={k: [v] for k, v in values.items()}
    )
    return str(answer["AutomationExecutionId"])


def execution(cloud: dict[str, Any], execution_id: str) -> dict[str, Any]:
    return dict(cloud["ssm"].get_automation_execution(AutomationExecutionId=execution_id)["AutomationExecution"])


def statuses(cloud: dict[str, Any]) -> list[str]:
    return [json.loads(e["Detail"])["Status"] for e in cloud["events"] if e["DetailType"] == AUTOMATION_DETAIL_TYPE]


def test_an_api_step_upserts_the_route53_record_and_the_wait_sees_it(cloud: dict[str, Any]) -> None:
    # GIVEN a runbook that UPSERTs an A record and waits until it has the value
    # WHEN it is started
    execution_id = start(cloud)

    # THEN moto's Route 53 has the record, the wait saw it at once, and the execution succeeded with the change id
    assert record_value(cloud["route53"], cloud["zone"], "web.example.internal.") == "10.1.2.3"
    done = execution(cloud, execution_id)
    assert done["AutomationExecutionStatus"] == "Success"
    assert [s["StepStatus"] for s in done["StepExecutions"]] == ["Success", "Success"]
    change_id = done["StepExecutions"][0]["Outputs"]["ChangeId"]
    assert done["Outputs"] == {"upsertRecord.ChangeId": change_id}
    assert statuses(cloud) == ["InProgress", "Success"]
    event = cloud["events"][-1]
    assert event["Source"] == "aws.ssm"
    assert json.loads(event["Detail"])["ExecutionId"] == execution_id
    assert json.loads(event["Detail"])["Definition"] == "DnsCutover"


def test_a_wait_that_never_sees_its_value_times_out_at_the_step_timeout(cloud: dict[str, Any]) -> None:
    # GIVEN the record holds 10.0.0.9 and a runbook waits (30 s) for 10.1.2.3
    start(cloud, Value="10.0.0.9")
    cloud["sim"].register_runbook("WaitOnly", wait_for("10.1.2.3", timeout=30))
    execution_id = start(cloud, "WaitOnly")

    # WHEN 25 s pass, THEN it still waits (polling every 5 s)
    cloud["clock"].tick(25)
    cloud["sim"].advance()
    assert execution(cloud, execution_id)["AutomationExecutionStatus"] == "InProgress"
    assert cloud["sim"].next_due() == T0 + timedelta(seconds=30)

    # WHEN the 30 s are over, THEN the step and the execution are TimedOut, saying what it waited for
    cloud["clock"].tick(5)
    cloud["sim"].advance()
    done = execution(cloud, execution_id)
    assert done["AutomationExecutionStatus"] == "TimedOut"
    assert done["StepExecutions"][0]["StepStatus"] == "TimedOut"
    assert done["ExecutionEndTime"] == T0 + timedelta(seconds=30)
    assert "timed out after 30 s" in done["FailureMessage"]
    assert "['10.0.0.9']" in done["FailureMessage"]


def test_a_wait_ends_when_the_property_gets_its_value(cloud: dict[str, Any]) -> None:
    # GIVEN a runbook waiting for 10.1.2.3 while the record holds 10.0.0.9
    start(cloud, Value="10.0.0.9")
    cloud["sim"].register_runbook("WaitOnly", wait_for("10.1.2.3", timeout=300))
    execution_id = start(cloud, "WaitOnly")

    # WHEN the record changes 12 s later
    cloud["clock"].tick(12)
    start(cloud)

    # THEN the next poll (15 s) ends the wait: Success
    cloud["clock"].tick(3)
    cloud["sim"].advance()
    done = execution(cloud, execution_id)
    assert done["AutomationExecutionStatus"] == "Success"
    assert done["ExecutionEndTime"] == T0 + timedelta(seconds=15)


def test_a_failing_api_call_fails_the_execution_with_the_service_error(cloud: dict[str, Any]) -> None:
    # GIVEN a hosted zone that does not exist
    # WHEN the runbook UPSERTs into it
    execution_id = start(cloud, HostedZoneId="Z0000000NOSUCHZONE")

    # THEN the execution Failed at its first step, with Route 53's error, and the second step never ran
    done = execution(cloud, execution_id)
    assert done["AutomationExecutionStatus"] == "Failed"
    assert [s["StepName"] for s in done["StepExecutions"]] == ["upsertRecord"]
    assert "NoSuchHostedZone" in done["FailureMessage"]
    assert statuses(cloud) == ["InProgress", "Failed"]


def test_on_failure_continue_and_next_step_and_is_end(cloud: dict[str, Any]) -> None:
    # GIVEN a runbook whose failing first step continues, jumps over a step and ends early
    runbook = {
        "schemaVersion": "0.3",
        "mainSteps": [
            {"name": "bad", "action": "aws:assertAwsResourceProperty", "onFailure": "Continue",
             "inputs": {"Service": "route53", "Api": "GetHostedZoneCount", "PropertySelector": "$.HostedZoneCount",
                        "DesiredValues": ["7"]}},
            {"name": "jump", "action": "aws:sleep", "inputs": {"Duration": "PT1S"}, "nextStep": "last"},
            {"name": "skipped", "action": "aws:sleep", "inputs": {"Duration": "PT1H"}},
            {"name": "last", "action": "aws:sleep", "inputs": {"Duration": "PT1S"}, "isEnd": True},
            {"name": "never", "action": "aws:sleep", "inputs": {"Duration": "PT1H"}},
        ],
    }  # fmt: skip
    cloud["sim"].register_runbook("Flow", runbook)

    # WHEN it runs for 2 s
    execution_id = cloud["ssm"].start_automation_execution(DocumentName="Flow")["AutomationExecutionId"]
    cloud["clock"].tick(2)
    cloud["sim"].advance()

    # THEN it ran bad (Failed), jump, last and succeeded
    done = execution(cloud, execution_id)
    assert done["AutomationExecutionStatus"] == "Success"
    assert [(s["StepName"], s["StepStatus"]) for s in done["StepExecutions"]] == [
        ("bad", "Failed"),
        ("jump", "Success"),
        ("last", "Success"),
    ]
    assert "HostedZoneCount is ['1'], not one of ['7']" in done["StepExecutions"][0]["FailureMessage"]


def test_stop_cancels_a_running_execution_once(cloud: dict[str, Any]) -> None:
    # GIVEN a runbook sleeping 10 minutes
    sleep = {
        "schemaVersion": "0.3",
        "mainSteps": [{"name": "nap", "action": "aws:sleep", "inputs": {"Duration": "PT10M"}}],
    }
    cloud["sim"].register_runbook("Nap", sleep)
    execution_id = cloud["ssm"].start_automation_execution(DocumentName="Nap")["AutomationExecutionId"]
    cloud["clock"].tick(60)

    # WHEN it is stopped
    cloud["ssm"].stop_automation_execution(AutomationExecutionId=execution_id, Type="Cancel")

    # THEN it is Cancelled now, nothing is due any more, and a second stop is refused
    done = execution(cloud, execution_id)
    assert done["AutomationExecutionStatus"] == "Cancelled"
    assert done["ExecutionEndTime"] == T0 + timedelta(seconds=60)
    assert cloud["sim"].next_due() is None
    assert statuses(cloud) == ["InProgress", "Cancelled"]
    with pytest.raises(ClientError) as refused:
        cloud["ssm"].stop_automation_execution(AutomationExecutionId=execution_id)
    assert refused.value.response["Error"]["Code"] == "InvalidAutomationStatusUpdateException"


def test_a_client_token_starts_one_execution(cloud: dict[str, Any]) -> None:
    # GIVEN a start with a client token
    parameters = {"HostedZoneId": [cloud["zone"]], "RecordName": ["a.example.internal."], "Value": ["10.9.9.9"]}
    first = cloud["ssm"].start_automation_execution(DocumentName="DnsCutover", Parameters=parameters, ClientToken=TOKEN)

    # WHEN the same start comes again, and one with the token but other parameters
    again = cloud["ssm"].start_automation_execution(DocumentName="DnsCutover", Parameters=parameters, ClientToken=TOKEN)
    with pytest.raises(ClientError) as mismatch:
        cloud["ssm"].start_automation_execution(
            DocumentName="DnsCutover", Parameters={**parameters, "Value": ["10.0.0.1"]}, ClientToken=TOKEN
        )

    # THEN one execution exists, the mismatch is refused
    assert again["AutomationExecutionId"] == first["AutomationExecutionId"]
    assert len(cloud["sim"].automation.executions) == 1
    assert mismatch.value.response["Error"]["Code"] == "IdempotentParameterMismatch"


def test_unknown_runbook_parameters_and_actions_are_refused(cloud: dict[str, Any]) -> None:
    # GIVEN a runbook with an action the simulator does not run
    odd = {"schemaVersion": "0.3", "mainSteps": [{"name": "x", "action": "aws:invokeLambdaFunction", "inputs": {}}]}
    cloud["sim"].register_runbook("Odd", odd)

    # WHEN it, an unknown runbook and an undeclared parameter are started
    odd_id = cloud["ssm"].start_automation_execution(DocumentName="Odd")["AutomationExecutionId"]
    with pytest.raises(ClientError) as missing:
        cloud["ssm"].start_automation_execution(DocumentName="Nope")
    with pytest.raises(ClientError) as undeclared:
        start(cloud, Colour="blue")

    # THEN the action fails the execution by name, the calls are refused with SSM's codes
    done = execution(cloud, odd_id)
    assert done["AutomationExecutionStatus"] == "Failed"
    assert "unsupported action 'aws:invokeLambdaFunction'" in done["FailureMessage"]
    assert missing.value.response["Error"]["Code"] == "AutomationDefinitionNotFoundException"
    assert undeclared.value.response["Error"]["Code"] == "InvalidAutomationExecutionParametersException"


def test_run_command_step_follows_its_command(cloud: dict[str, Any]) -> None:
    # GIVEN a managed instance and a runbook that runs a shell command on it (5 s per invocation)
    cloud["sim"].register_instance(I1)
    runbook = {
        "schemaVersion": "0.3",
        "parameters": {"InstanceIds": {"type": "StringList"}},
        "mainSteps": [
            {
                "name": "run",
                "action": "aws:runCommand",
                "inputs": {
                    "DocumentName": "AWS-RunShellScript",
                    "InstanceIds": "{{ InstanceIds }}",
                    "Parameters": {"commands": ["echo hi"]},
                },
            }
        ],
    }
    cloud["sim"].register_runbook("Run", runbook)
    execution_id = cloud["ssm"].start_automation_execution(DocumentName="Run", Parameters={"InstanceIds": [I1]})[
        "AutomationExecutionId"
    ]

    # WHEN 10 s pass (delivery after 1 s, 5 s of work, a poll every 5 s)
    cloud["clock"].tick(10)
    cloud["sim"].advance()

    # THEN the step succeeded with the command's id, status and output
    done = execution(cloud, execution_id)
    assert done["AutomationExecutionStatus"] == "Success"
    outputs = done["StepExecutions"][0]["Outputs"]
    assert outputs["Status"] == ["Success"]
    assert outputs["Output"] == [f"ok: AWS-RunShellScript on {I1}"]
    assert cloud["sim"].stats.commands_sent == 1


def test_a_profile_fault_fails_the_named_step() -> None:
    # GIVEN a simulator whose profile makes DnsCutover's upsertRecord fail
    sim = SsmSimulator(FakeClock(), SsmSimConfig(automation_fail_steps={"DnsCutover": ["upsertRecord"]}))
    sim.register_runbook("DnsCutover", UPSERT)
    with simulated(sim):
        client = boto3.client("ssm", region_name="us-east-1")
        parameters = {"HostedZoneId": ["Z1"], "RecordName": ["a."], "Value": ["10.0.0.1"]}

        # WHEN it runs
        execution_id = client.start_automation_execution(DocumentName="DnsCutover", Parameters=parameters)[
            "AutomationExecutionId"
        ]

        # THEN it Failed at that step, as the fault says
        done = client.get_automation_execution(AutomationExecutionId=execution_id)["AutomationExecution"]
        assert done["AutomationExecutionStatus"] == "Failed"
        assert "simulated fault" in done["FailureMessage"]


def test_the_ready_dns_cutover_runbook_upserts_waits_in_sync_and_verifies() -> None:
    # GIVEN the library's DNS cutover runbook (infra/ssm_documents/DRSOrch-DnsCutover.yaml) and a hosted zone
    sim = SsmSimulator(FakeClock())
    assert "DRSOrch-DnsCutover" in sim.load_library()
    with simulated(sim):
        route53 = boto3.client("route53", region_name="us-east-1")
        zone = route53.create_hosted_zone(Name="example.internal", CallerReference="r")["HostedZone"]["Id"]
        client = boto3.client("ssm", region_name="us-east-1")
        document = client.describe_document(Name="DRSOrch-DnsCutover")["Document"]

        # WHEN it points shop.example.internal. at 10.20.0.31 (the zone id as Route 53 gives it, /hostedzone/...)
        parameters = {"HostedZoneId": [zone], "RecordName": ["shop.example.internal."], "Value": ["10.20.0.31"]}
        execution_id = client.start_automation_execution(DocumentName="DRSOrch-DnsCutover", Parameters=parameters)[
            "AutomationExecutionId"
        ]

        # THEN each of its steps succeeded and the record has the value, with the runbook's TTL default
        done = client.get_automation_execution(AutomationExecutionId=execution_id)["AutomationExecution"]
        assert done["AutomationExecutionStatus"] == "Success"
        assert [s["StepName"] for s in done["StepExecutions"]] == ["upsertRecord", "waitForInSync", "verifyRecord"]
        assert record_value(route53, zone, "shop.example.internal.") == "10.20.0.31"
        [record] = [
            r for r in route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"] if r["Type"] == "A"
        ]
        assert record["TTL"] == 60
        # AND SSM describes it as an Automation runbook declaring its parameters (what StartPlan checks plans against)
        assert document["DocumentType"] == "Automation"
        assert {p["Name"] for p in document["Parameters"]} == {
            "HostedZoneId",
            "RecordName",
            "RecordType",
            "Value",
            "TTL",
            "AutomationAssumeRole",
        }


# ---------------------------------------------------------------------- aws:loop, aws:branch, parameter checks


def test_a_for_each_loop_runs_its_steps_once_per_item_in_order(cloud: dict[str, Any]) -> None:
    # GIVEN a runbook looping over two record names: UPSERT each, then sleep 10 s
    runbook = {
        "schemaVersion": "0.3",
        "parameters": {"HostedZoneId": {"type": "String"}, "Names": {"type": "StringList"}},
        "mainSteps": [
            {
                "name": "each",
                "action": "aws:loop",
                "inputs": {
                    "Iterators": "{{ Names }}",
                    "Steps": [
                        {**UPSERT["mainSteps"][0], "name": "upsert"},  # type: ignore[index]
                        {"name": "pause", "action": "aws:sleep", "inputs": {"Duration": "PT10S"}},
                    ],
                },
            },
            {"name": "after", "action": "aws:sleep", "inputs": {"Duration": "PT1S"}},
        ],
    }
    loop_step = runbook["mainSteps"][0]["inputs"]["Steps"][0]  # type: ignore[index]
    loop_step["inputs"] = json.loads(
        json.dumps(loop_step["inputs"])
        .replace("{{ RecordName }}", "{{ each.CurrentIteratorValue }}")
        .replace("{{ Value }}", "10.0.0.{{ each.CurrentIteration }}")
    )
    cloud["sim"].register_runbook("Each", runbook)
    names = ["a.example.internal.", "b.example.internal."]

    # WHEN it starts, THEN the first item's UPSERT ran and its pause waits; the second has not started
    execution_id = cloud["ssm"].start_automation_execution(
        DocumentName="Each", Parameters={"HostedZoneId": [cloud["zone"]], "Names": names}
    )["AutomationExecutionId"]
    assert record_value(cloud["route53"], cloud["zone"], "a.example.internal.") == "10.0.0.1"
    assert record_value(cloud["route53"], cloud["zone"], "b.example.internal.") is None
    assert cloud["sim"].next_due() == T0 + timedelta(seconds=10)

    # WHEN 21 s pass, THEN both items ran in order, then the step after the loop, and the execution succeeded
    cloud["clock"].tick(21)
    cloud["sim"].advance()
    done = execution(cloud, execution_id)
    assert done["AutomationExecutionStatus"] == "Success"
    assert record_value(cloud["route53"], cloud["zone"], "b.example.internal.") == "10.0.0.2"
    assert [(s["StepName"], s.get("ParentStepDetails", {}).get("IteratorValue")) for s in done["StepExecutions"]] == [
        ("each", None),
        ("upsert", names[0]),
        ("pause", names[0]),
        ("upsert", names[1]),
        ("pause", names[1]),
        ("after", None),
    ]
    assert done["ExecutionEndTime"] == T0 + timedelta(seconds=21)


def test_a_failing_step_inside_a_loop_fails_the_loop_and_the_execution(cloud: dict[str, Any]) -> None:
    # GIVEN a loop whose inner wait can never see its value (5 s timeout)
    wait = {**wait_for("10.9.9.9", timeout=5)["mainSteps"][0], "name": "waitOne"}
    runbook = {
        "schemaVersion": "0.3",
        "parameters": {**UPSERT["parameters"], "Items": {"type": "StringList"}},  # type: ignore[dict-item]
        "mainSteps": [
            {"name": "each", "action": "aws:loop", "inputs": {"Iterators": "{{ Items }}", "Steps": [wait]}},
            {"name": "never", "action": "aws:sleep", "inputs": {"Duration": "PT1S"}},
        ],
    }
    cloud["sim"].register_runbook("EachWait", runbook)
    parameters = {"HostedZoneId": [cloud["zone"]], "RecordName": ["w.example.internal."], "Value": ["1.1.1.1"]}

    # WHEN it runs past the timeout
    execution_id = cloud["ssm"].start_automation_execution(
        DocumentName="EachWait", Parameters={**parameters, "Items": ["x", "y"]}
    )["AutomationExecutionId"]
    cloud["clock"].tick(5)
    cloud["sim"].advance()

    # THEN the inner step and the loop timed out at the first item, and nothing after the loop ran
    done = execution(cloud, execution_id)
    assert done["AutomationExecutionStatus"] == "TimedOut"
    assert [(s["StepName"], s["StepStatus"]) for s in done["StepExecutions"]] == [
        ("each", "TimedOut"),
        ("waitOne", "TimedOut"),
    ]
    assert "Step each TimedOut" in done["FailureMessage"]


def test_a_loop_over_more_than_max_iterations_or_with_a_condition_fails(cloud: dict[str, Any]) -> None:
    # GIVEN loops the simulator refuses: 3 items with MaxIterations 2, and a do-while loop
    sleep = {"name": "s", "action": "aws:sleep", "inputs": {"Duration": "PT1S"}}
    too_many = {
        "name": "l",
        "action": "aws:loop",
        "inputs": {"Iterators": ["1", "2", "3"], "MaxIterations": 2, "Steps": [sleep]},
    }
    do_while = {"name": "l", "action": "aws:loop", "inputs": {"LoopCondition": {"Variable": "x"}, "Steps": [sleep]}}
    cloud["sim"].register_runbook("TooMany", {"schemaVersion": "0.3", "mainSteps": [too_many]})
    cloud["sim"].register_runbook("DoWhile", {"schemaVersion": "0.3", "mainSteps": [do_while]})

    # WHEN they run, THEN each fails at once, saying why
    failures = [
        execution(cloud, cloud["ssm"].start_automation_execution(DocumentName=name)["AutomationExecutionId"])
        for name in ("TooMany", "DoWhile")
    ]
    assert [f["AutomationExecutionStatus"] for f in failures] == ["Failed", "Failed"]
    assert "3 iterators, more than MaxIterations 2" in failures[0]["FailureMessage"]
    assert "only the for-each aws:loop" in failures[1]["FailureMessage"]


def test_a_branch_goes_to_the_matching_choice_else_the_default(cloud: dict[str, Any]) -> None:
    # GIVEN a runbook branching on Mode to one of two sleeps (each ending the execution)
    runbook = {
        "schemaVersion": "0.3",
        "parameters": {"Mode": {"type": "String", "allowedValues": ["fast", "slow", "odd"]}},
        "mainSteps": [
            {"name": "choose", "action": "aws:branch", "inputs": {
                "Choices": [{"NextStep": "fast", "Variable": "{{ Mode }}", "StringEquals": "fast"}],
                "Default": "slow"}},
            {"name": "slow", "action": "aws:sleep", "inputs": {"Duration": "PT1M"}, "isEnd": True},
            {"name": "fast", "action": "aws:sleep", "inputs": {"Duration": "PT1S"}, "isEnd": True},
        ],
    }  # fmt: skip
    cloud["sim"].register_runbook("Branch", runbook)

    # WHEN it runs with fast and with slow for a minute
    fast, slow = (
        cloud["ssm"].start_automation_execution(DocumentName="Branch", Parameters={"Mode": [mode]})[
            "AutomationExecutionId"
        ]
        for mode in ("fast", "slow")
    )
    cloud["clock"].tick(60)
    cloud["sim"].advance()

    # THEN each went its way and nothing else ran
    assert [s["StepName"] for s in execution(cloud, fast)["StepExecutions"]] == ["choose", "fast"]
    assert [s["StepName"] for s in execution(cloud, slow)["StepExecutions"]] == ["choose", "slow"]
    assert execution(cloud, fast)["StepExecutions"][0]["Outputs"] == {"NextStep": ["fast"]}


@pytest.mark.parametrize(
    ("parameters", "why"),
    [
        ({"Mode": ["fast"]}, "needs parameter Count"),
        ({"Mode": ["fast"], "Count": ["1"], "Colour": ["red"]}, "has no parameter Colour"),
        ({"Mode": ["quick"], "Count": ["1"]}, "'quick' is not one of ['fast', 'slow']"),
        ({"Mode": ["fast"], "Count": ["one"]}, "'one' is not an Integer"),
        ({"Mode": ["fast", "slow"], "Count": ["1"]}, "a String takes one value, not 2"),
        ({"Mode": ["fast"], "Count": ["1"], "Ids": ["i-1", "x"]}, "'x' does not match ^i-[0-9]+$"),
    ],
)
def test_start_checks_values_against_the_declared_parameters(
    cloud: dict[str, Any], parameters: dict[str, list[str]], why: str
) -> None:
    # GIVEN a runbook declaring a choice, an Integer and a patterned StringList
    runbook = {
        "schemaVersion": "0.3",
        "parameters": {
            "Mode": {"type": "String", "allowedValues": ["fast", "slow"]},
            "Count": {"type": "Integer"},
            "Ids": {"type": "StringList", "allowedPattern": "^i-[0-9]+$", "default": []},
        },
        "mainSteps": [{"name": "s", "action": "aws:sleep", "inputs": {"Duration": "PT1S"}}],
    }
    cloud["sim"].register_runbook("Checked", runbook)

    # WHEN it is started with a value its declaration refuses
    with pytest.raises(ClientError) as refused:
        cloud["ssm"].start_automation_execution(DocumentName="Checked", Parameters=parameters)

    # THEN SSM's code and the reason come back, and nothing started
    assert refused.value.response["Error"]["Code"] == "InvalidAutomationExecutionParametersException"
    assert why in refused.value.response["Error"]["Message"]
    assert cloud["sim"].automation.executions == {}


def test_stop_during_a_loop_cancels_the_inner_step_and_the_loop(cloud: dict[str, Any]) -> None:
    # GIVEN a loop sleeping a minute per item, stopped 90 s in (inside the second item)
    nap = {"name": "nap", "action": "aws:sleep", "inputs": {"Duration": "PT1M"}}
    loop = {"name": "each", "action": "aws:loop", "inputs": {"Iterators": ["a", "b", "c"], "Steps": [nap]}}
    cloud["sim"].register_runbook("Naps", {"schemaVersion": "0.3", "mainSteps": [loop]})
    execution_id = cloud["ssm"].start_automation_execution(DocumentName="Naps")["AutomationExecutionId"]
    cloud["clock"].tick(90)
    cloud["sim"].advance()

    # WHEN it is stopped
    cloud["ssm"].stop_automation_execution(AutomationExecutionId=execution_id)

    # THEN the running nap and the loop are Cancelled, the first nap stays done, and nothing is due any more
    done = execution(cloud, execution_id)
    assert done["AutomationExecutionStatus"] == "Cancelled"
    assert [(s["StepName"], s["StepStatus"]) for s in done["StepExecutions"]] == [
        ("each", "Cancelled"),
        ("nap", "Success"),
        ("nap", "Cancelled"),
    ]
    assert cloud["sim"].next_due() is None


def test_malformed_loop_and_branch_inputs_fail_the_step_not_the_simulator(cloud: dict[str, Any]) -> None:
    # GIVEN a loop whose MaxIterations is not a number and a branch whose choice is not a mapping
    sleep = {"name": "s", "action": "aws:sleep", "inputs": {"Duration": "PT1S"}}
    odd_loop = {
        "name": "l",
        "action": "aws:loop",
        "inputs": {"Iterators": ["1"], "MaxIterations": "x", "Steps": [sleep]},
    }
    odd_branch = {"name": "b", "action": "aws:branch", "inputs": {"Choices": ["go"], "Default": "s"}}
    cloud["sim"].register_runbook("OddLoop", {"schemaVersion": "0.3", "mainSteps": [odd_loop]})
    cloud["sim"].register_runbook("OddBranch", {"schemaVersion": "0.3", "mainSteps": [odd_branch, sleep]})

    # WHEN they run, THEN each execution Failed, saying why
    failures = [
        execution(cloud, cloud["ssm"].start_automation_execution(DocumentName=name)["AutomationExecutionId"])
        for name in ("OddLoop", "OddBranch")
    ]
    assert [f["AutomationExecutionStatus"] for f in failures] == ["Failed", "Failed"]
    assert "MaxIterations is not an Integer" in failures[0]["FailureMessage"]
    assert "a choice is a mapping, not 'go'" in failures[1]["FailureMessage"]
