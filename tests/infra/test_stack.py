"""The synthesized stack: resources, routing, environment, alerting."""

from __future__ import annotations

import json
from typing import Any

import pytest

from events.generate import SCHEMAS_DIR, load_schema
from events.models import ALL_EVENTS, OPERATOR_SOURCE, SOURCE
from infra.constructs.script_documents import document_content
from infra.definitions import (
    ALARM_EVENTS,
    CONTROL_EVENTS,
    ENV_ALLOWED_SSM_DOCUMENTS,
    FUNCTIONS,
    METRICS_NAMESPACE,
    OPERATOR_EVENTS,
    REPLAY_EXCLUSION,
    ROUTES,
    STATE_MACHINE,
    TABLE_PARTITION_KEY,
    TABLE_SORT_KEY,
    TABLE_TTL_ATTRIBUTE,
    function_environment,
    project_ssm_documents,
)
from infra.stack import StackConfig
from tests.infra.conftest import ALARM_EMAIL, LAMBDA_FUNCTIONS, PUBLISHERS, RECOVERY_PRINCIPALS, Synth


def test_resource_counts(synth: Synth) -> None:
    # GIVEN the stack synthesized from infra.definitions
    # THEN there is one function per FUNCTIONS entry and the console widget's, one rule per route plus the alert and
    # approval rules
    assert len(synth.of_type("AWS::Lambda::Function")) == len(FUNCTIONS) + 1
    assert len(synth.of_type("AWS::Events::Rule")) == len(ROUTES) + 2
    assert len(synth.of_type("AWS::StepFunctions::StateMachine")) == 1
    assert len(synth.of_type("AWS::Events::EventBus")) == 1
    assert len(synth.of_type("AWS::Events::Archive")) == 1
    assert len(synth.of_type("AWS::DynamoDB::Table")) == 1
    assert len(synth.of_type("AWS::Scheduler::ScheduleGroup")) == 1
    assert len(synth.of_type("AWS::SNS::Topic")) == 1
    assert len(synth.of_type("AWS::CloudWatch::Dashboard")) == 1
    # a DLQ per route, one for the alert rule, one for failed async invocations
    assert len(synth.of_type("AWS::SQS::Queue")) == len(ROUTES) + 2
    # the project's own script documents (the default script allow-list)
    assert len(synth.of_type("AWS::SSM::Document")) == len(project_ssm_documents())


def test_the_projects_script_documents_are_deployed_under_their_names(synth: Synth) -> None:
    documents = {d["Properties"]["Name"]: d["Properties"] for d in synth.of_type("AWS::SSM::Document").values()}
    runbooks = {  # the ready Automation runbooks (issue #18); the others are Command documents
        "DRSOrch-AuroraGlobalFailover",
        "DRSOrch-DnsCutover",
        "DRSOrch-RegisterTargets",
        "DRSOrch-ScaleEcsService",
    }
    assert sorted(documents) == sorted(
        runbooks | {"DRSOrch-HealthCheck", "DRSOrch-ServiceCheck", "DRSOrch-WaitForSsmAgent"}
    )
    for name, props in documents.items():
        kind = "Automation" if name in runbooks else "Command"
        assert (props["DocumentType"], props["UpdateMethod"]) == (kind, "NewVersion"), name
        assert props["Content"] == document_content(name)


def test_state_machine_is_express_with_full_logging_and_tracing(synth: Synth) -> None:
    ((_, machine),) = synth.of_type("AWS::StepFunctions::StateMachine").items()
    props = machine["Properties"]
    assert props["StateMachineType"] == "EXPRESS"
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is True
    assert props["TracingConfiguration"] == {"Enabled": True}
    # the definition is the .asl.json with every substitution applied, and invokes launch_wave
    joined = props["DefinitionString"]["Fn::Join"][1]
    text = "".join(part if isinstance(part, str) else "<ref>" for part in joined)
    assert "${" not in text
    launch_wave = synth.logical_id(synth.stack.functions.functions["launch_wave"])
    assert {"Fn::GetAtt": [launch_wave, "Arn"]} in joined
    assert '"MaxConcurrency": 5' in text


def test_ledger_table(synth: Synth) -> None:
    ((_, table),) = synth.of_type("AWS::DynamoDB::Table").items()
    props = table["Properties"]
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [
        {"AttributeName": TABLE_PARTITION_KEY, "KeyType": "HASH"},
        {"AttributeName": TABLE_SORT_KEY, "KeyType": "RANGE"},
    ]
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["TimeToLiveSpecification"] == {"AttributeName": TABLE_TTL_ATTRIBUTE, "Enabled": True}


def test_archive_keeps_every_orchestrator_event(synth: Synth) -> None:
    ((_, archive),) = synth.of_type("AWS::Events::Archive").items()
    assert archive["Properties"]["EventPattern"] == {"source": [SOURCE, OPERATOR_SOURCE]}  # commands too
    assert archive["Properties"]["RetentionDays"] == 365


def test_schema_registry_has_one_schema_per_contract(synth: Synth) -> None:
    assert len(synth.of_type("AWS::EventSchemas::Registry")) == 1
    schemas = synth.of_type("AWS::EventSchemas::Schema").values()
    by_name = {s["Properties"]["SchemaName"]: s["Properties"] for s in schemas}
    files = sorted(path.stem for path in SCHEMAS_DIR.glob("*.json"))
    assert sorted(by_name) == [f"{SOURCE}@{name}" for name in files]
    assert {cls.DETAIL_TYPE for cls in ALL_EVENTS} <= set(files)
    for name in files:
        props = by_name[f"{SOURCE}@{name}"]
        assert props["Type"] == "JSONSchemaDraft4"
        assert json.loads(props["Content"]) == load_schema(name)


def test_each_route_is_one_rule_on_the_right_bus_and_target(synth: Synth) -> None:
    bus_ref = {"Ref": synth.logical_id(synth.stack.bus.bus)}
    rules = synth.stack.routes.rules
    assert set(rules) == {route.name for route in ROUTES}
    for route in ROUTES:
        props = synth.resources[synth.logical_id(rules[route.name])]["Properties"]
        assert props["EventPattern"] == route.pattern
        if route.bus == "orchestrator":
            assert props["EventBusName"] == bus_ref
        else:  # aws.drs / aws.ssm events arrive on the account's default bus
            assert props.get("EventBusName", "default") == "default"
        ((target),) = props["Targets"]
        if route.target == STATE_MACHINE:
            machine = synth.logical_id(synth.stack.wave_launch.state_machine)
            assert target["Arn"] == {"Ref": machine}
        else:
            function = synth.logical_id(synth.stack.functions.functions[route.target])
            assert target["Arn"] == {"Fn::GetAtt": [function, "Arn"]}


def test_every_rule_target_has_retry_policy_and_dead_letter_queue(synth: Synth) -> None:
    queues = synth.of_type("AWS::SQS::Queue")
    for key, rule in synth.of_type("AWS::Events::Rule").items():
        for target in rule["Properties"]["Targets"]:
            assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 21600, "MaximumRetryAttempts": 50}, key
            dlq = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
            assert dlq in queues, key


def test_every_live_rule_ignores_replays(synth: Synth) -> None:
    for key, rule in synth.of_type("AWS::Events::Rule").items():
        pattern = rule["Properties"]["EventPattern"]
        assert pattern["replay-name"] == REPLAY_EXCLUSION["replay-name"], key


def test_queues_are_encrypted_and_tls_only(synth: Synth) -> None:
    policies = [p["Properties"] for p in synth.of_type("AWS::SQS::QueuePolicy").values()]
    for key, queue in synth.of_type("AWS::SQS::Queue").items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True, key
        denies_plain_http = [
            statement
            for policy in policies
            if {"Ref": key} in policy["Queues"]
            for statement in policy["PolicyDocument"]["Statement"]
            if statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert denies_plain_http, key


def test_each_function_sees_only_its_own_environment(synth: Synth) -> None:
    stack = synth.stack
    for name, spec in FUNCTIONS.items():
        props = synth.resources[synth.logical_id(stack.functions.functions[name])]["Properties"]
        expected = function_environment(
            spec,
            table_name=stack.ledger.table.table_name,
            bus_name=stack.bus.bus.event_bus_name,
            bus_arn=stack.bus.bus.event_bus_arn,
            scheduler_group=stack.ticks.group_name,
            scheduler_role_arn=stack.ticks.role.role_arn,
            allowed_ssm_documents=project_ssm_documents(),
            allowed_lambda_functions=LAMBDA_FUNCTIONS,
            recovery_principals=",".join(RECOVERY_PRINCIPALS),
            operator_proof_key=stack.operator_proof.key.key_arn,
            plan_bucket=stack.plan_store.bucket.bucket_name,
            evidence_bucket=stack.evidence.bucket.bucket_name,
            automation_role_arn=stack.automation_role.role.role_arn,
        )
        assert props["Environment"]["Variables"] == stack.resolve(expected), name
        assert props["Handler"] == spec.handler
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["Timeout"] == spec.timeout_seconds
        assert props["MemorySize"] == spec.memory_mb
    # and nothing leaks: the progress function has no scheduler settings (the launcher has them since it
    # schedules the CapacityTick of launches parked for DRS capacity)
    progress = synth.resources[synth.logical_id(stack.functions.functions["progress"])]
    assert "SCHEDULER_ROLE_ARN" not in progress["Properties"]["Environment"]["Variables"]
    # the script allow-list reaches the functions that run scripts (their runtime check reads it), only them
    allowed = {
        name: synth.resources[synth.logical_id(function)]["Properties"]["Environment"]["Variables"].get(
            ENV_ALLOWED_SSM_DOCUMENTS
        )
        for name, function in stack.functions.functions.items()
    }
    documents = ",".join(project_ssm_documents())
    assert {name: value for name, value in allowed.items() if value is not None} == {
        "start_plan": documents,  # StartPlan refuses a plan naming another document
        "pre_launch": documents,
        "post_launch": documents,
    }


def test_function_logs_have_retention(synth: Synth) -> None:
    groups = synth.of_type("AWS::Logs::LogGroup")
    assert len(groups) == len(FUNCTIONS) + 2  # + the console widget's and the state machine's
    assert all(group["Properties"]["RetentionInDays"] == 30 for group in groups.values())
    for function in synth.of_type("AWS::Lambda::Function").values():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert group in groups


def _bus_statements(synth: Synth) -> dict[str, dict[str, Any]]:
    """The bus policy's statements by Sid (CDK prefixes each with `cdk-`)."""
    statements = [p["Properties"]["Statement"] for p in synth.of_type("AWS::Events::EventBusPolicy").values()]
    return {s["Sid"].removeprefix("cdk-"): s for s in statements}


def _arns(value: Any) -> set[str]:
    return {json.dumps(arn, sort_keys=True) for arn in (value if isinstance(value, list) else [value])}


def _role_arn(synth: Synth, role: Any) -> dict[str, Any]:
    return {"Fn::GetAtt": [synth.logical_id(role), "Arn"]}


def test_bus_policy_lets_the_publishers_put_only_start_plan(synth: Synth) -> None:
    statements = _bus_statements(synth)
    # the only Allow: the configured principals, our source, StartPlan, Failback and Reprotect (a drill, a failback
    # drill, a reprotect that terminates nothing: a RECOVERY, a real failback or a termination needs the operator)
    (allow,) = [s for s in statements.values() if s["Effect"] == "Allow"]
    assert sorted(allow["Principal"]["AWS"]) == sorted(PUBLISHERS)
    assert allow["Action"] == "events:PutEvents"
    assert allow["Condition"] == {
        "StringEquals": {"events:source": SOURCE, "events:detail-type": ["StartPlan", "Failback", "Reprotect"]}
    }
    # everybody else (this account's roles included) but the operator function is denied StartPlan
    deny = statements["OnlyPublishersStartPlans"]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", {"AWS": "*"}, "events:PutEvents")
    assert deny["Condition"]["ForAnyValue:StringEquals"] == {
        "events:detail-type": ["StartPlan", "Failback", "Reprotect"]
    }
    operator_role = _role_arn(synth, synth.stack.functions.roles["operator"])
    assert _arns(deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"]) == _arns([*PUBLISHERS, operator_role])


def test_bus_policy_keeps_the_operator_commands_and_source_to_the_operator_function(synth: Synth) -> None:
    statements = _bus_statements(synth)
    operator_role = _role_arn(synth, synth.stack.functions.roles["operator"])
    # GIVEN the operator commands (a forged requestedBy on one of them approved a gated wave) and the operator
    # source (a StartPlan with it may be a RECOVERY) THEN everyone but the operator function's role is denied both
    for sid, key, values in (
        ("OnlyTheOperatorSendsCommands", "events:detail-type", list(OPERATOR_EVENTS)),
        ("OnlyTheOperatorUsesItsSource", "events:source", [OPERATOR_SOURCE]),
    ):
        deny = statements[sid]
        assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", {"AWS": "*"}, "events:PutEvents")
        assert deny["Condition"]["ForAnyValue:StringEquals"] == {key: values}
        assert _arns(deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"]) == _arns([operator_role])
        assert deny["Condition"]["BoolIfExists"] == {"aws:PrincipalIsAWSService": "false"}  # a replay is not denied
    assert set(OPERATOR_EVENTS) == {
        "ApprovalGranted",
        "ApprovalDenied",
        "CancelPlan",
        "PausePlan",
        "ResumePlan",
        "RetryWave",
        "SkipWave",
    }
    # AND no Allow lets anyone else put them (the publishers' Allow is StartPlan only)
    assert not [s for s in statements.values() if s["Effect"] == "Allow" and set(OPERATOR_EVENTS) & set(json.dumps(s))]


def test_the_operator_function_may_put_only_its_own_source(synth: Synth) -> None:
    role_id = synth.logical_id(synth.stack.functions.roles["operator"])
    puts = [
        statement
        for policy in synth.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "events:PutEvents"
    ]
    bus = synth.logical_id(synth.stack.bus.bus)
    assert puts == [
        {
            "Action": "events:PutEvents",
            "Condition": {"ForAllValues:StringEquals": {"events:source": [OPERATOR_SOURCE]}},
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [bus, "Arn"]},
        }
    ]


def test_bus_policy_lets_only_the_orchestrator_send_its_own_events(synth: Synth) -> None:
    deny = _bus_statements(synth)["OnlyTheOrchestratorSendsItsEvents"]
    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == {"AWS": "*"}
    assert deny["Action"] == "events:PutEvents"
    # every contract that is not a command: the choreography's events and the scheduler's ticks
    internal = deny["Condition"]["ForAnyValue:StringEquals"]["events:detail-type"]
    assert set(internal) == {cls.DETAIL_TYPE for cls in ALL_EVENTS} - set(CONTROL_EVENTS)
    assert {"WaveReady", "PostLaunchDone", "ApprovalTimeout", "JobWatchTick"} <= set(internal)
    assert deny["Condition"]["BoolIfExists"] == {"aws:PrincipalIsAWSService": "false"}  # a replay is not denied
    # except the roles of the functions that publish (not the operator's: it sends commands only), and the
    # scheduler's
    publishing = [
        synth.stack.functions.roles[name] for name, spec in FUNCTIONS.items() if spec.needs_bus and not spec.operator
    ]
    expected = [_role_arn(synth, role) for role in publishing] + [_role_arn(synth, synth.stack.ticks.role)]
    assert _arns(deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"]) == _arns(expected)
    assert "operator" not in [name for name, spec in FUNCTIONS.items() if spec.needs_bus and not spec.operator]


def test_the_operator_url_authenticates_with_iam_and_admits_only_the_publishers(synth: Synth) -> None:
    # GIVEN the operator function's Function URL
    function = synth.logical_id(synth.stack.functions.functions["operator"])
    ((_, url),) = synth.of_type("AWS::Lambda::Url").items()
    # THEN it requires SigV4 (AuthType AWS_IAM) and fronts the operator function
    assert url["Properties"]["AuthType"] == "AWS_IAM"
    assert url["Properties"]["TargetFunctionArn"] == {"Fn::GetAtt": [function, "Arn"]}
    # AND its resource policy admits each publisher, for the URL only (both permissions a URL needs)
    permissions = [
        p["Properties"]
        for p in synth.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [function, "Arn"]}
    ]
    assert sorted(
        (p["Principal"], p["Action"], p.get("FunctionUrlAuthType"), p.get("InvokedViaFunctionUrl")) for p in permissions
    ) == sorted(
        [(arn, "lambda:InvokeFunctionUrl", "AWS_IAM", None) for arn in PUBLISHERS]
        + [(arn, "lambda:InvokeFunction", None, True) for arn in PUBLISHERS]
    )
    # AND nobody else: no permission of any function names "*"
    assert all(p["Properties"]["Principal"] != "*" for p in synth.of_type("AWS::Lambda::Permission").values())
    # AND the stack outputs its address
    assert synth.template["Outputs"]["OperatorUrl"]["Value"] == {
        "Fn::GetAtt": [synth.logical_id(synth.stack.operator.url), "FunctionUrl"]
    }


def test_the_recovery_principals_reach_the_operator_function_only(synth: Synth) -> None:
    variables = {
        name: synth.resources[synth.logical_id(function)]["Properties"]["Environment"]["Variables"]
        for name, function in synth.stack.functions.functions.items()
    }
    assert variables["operator"]["RECOVERY_PRINCIPALS"] == ",".join(RECOVERY_PRINCIPALS)
    assert [name for name, env in variables.items() if "RECOVERY_PRINCIPALS" in env] == ["operator"]


def test_operator_commands_are_routed_from_the_operator_source_only(synth: Synth) -> None:
    by_name = {route.name: route for route in ROUTES}
    assert by_name["control"].pattern["source"] == [OPERATOR_SOURCE]
    assert set(by_name["control"].detail_types) == set(OPERATOR_EVENTS)
    assert (by_name["approval-timeout"].pattern["source"], by_name["approval-timeout"].detail_types) == (
        [SOURCE],
        ("ApprovalTimeout",),
    )
    # a StartPlan: a drill from the publishers, or either mode through the operator endpoint
    starts = sorted(route.source for route in ROUTES if "StartPlan" in route.detail_types)
    assert starts == sorted([SOURCE, OPERATOR_SOURCE])
    # and no other rule takes an operator command from any source
    assert [r.name for r in ROUTES if set(r.detail_types) & set(OPERATOR_EVENTS)] == ["control"]


def test_a_malformed_recovery_principal_fails_the_synth() -> None:
    # GIVEN recoveryPrincipals with a free-form name WHEN the stack reads its context THEN it refuses it
    context = {"recoveryPrincipals": "arn:aws:iam::111111111111:role/DrOps,ops-team"}
    with pytest.raises(ValueError, match="recoveryPrincipals: 'ops-team' is not an IAM principal"):
        StackConfig.from_context(context.get)


def test_scheduler_role_may_only_put_events_on_the_bus(synth: Synth) -> None:
    role_id = synth.logical_id(synth.stack.ticks.role)
    role = synth.resources[role_id]["Properties"]
    ((trust,),) = [role["AssumeRolePolicyDocument"]["Statement"]]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    policies = [
        p["Properties"]
        for p in synth.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    ((policy,),) = [policies]
    bus = synth.logical_id(synth.stack.bus.bus)
    assert policy["PolicyDocument"]["Statement"] == [
        {"Action": "events:PutEvents", "Effect": "Allow", "Resource": {"Fn::GetAtt": [bus, "Arn"]}}
    ]


def test_failure_events_page_the_topic(synth: Synth) -> None:
    rule = synth.resources[synth.logical_id(synth.stack.alerting.rule)]["Properties"]
    assert rule["EventPattern"]["detail-type"] == list(ALARM_EVENTS)
    assert rule["EventPattern"]["source"] == [SOURCE]
    ((topic_id, topic),) = synth.of_type("AWS::SNS::Topic").items()
    assert rule["Targets"][0]["Arn"] == {"Ref": topic_id}
    assert "KmsMasterKeyId" in topic["Properties"]
    ((subscription),) = synth.of_type("AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == ALARM_EMAIL
    ((topic_policy),) = synth.of_type("AWS::SNS::TopicPolicy").values()
    assert any(
        s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        for s in topic_policy["Properties"]["PolicyDocument"]["Statement"]
    )


def test_every_alarm_may_publish_to_its_action_topic(synth: Synth) -> None:
    # GIVEN every alarm of the stack and the topic policies
    alarms = synth.of_type("AWS::CloudWatch::Alarm")
    policies = list(synth.of_type("AWS::SNS::TopicPolicy").values())
    assert (
        len(alarms) == len(ROUTES) + 2 + len(FUNCTIONS) + 2
    )  # the DLQs, the functions, invalid events, the state machine

    for alarm_id, alarm in alarms.items():
        for action in alarm["Properties"]["AlarmActions"]:
            topic = action["Ref"]
            # WHEN CloudWatch publishes the alarm's state change to the topic, for this alarm, in this account
            admitting = [
                statement
                for policy in policies
                if {"Ref": topic} in policy["Properties"]["Topics"]
                for statement in policy["Properties"]["PolicyDocument"]["Statement"]
                if statement["Effect"] == "Allow"
                and statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
                and statement["Action"] == "sns:Publish"
                and statement["Resource"] == {"Ref": topic}
                and {"Fn::GetAtt": [alarm_id, "Arn"]} in statement["Condition"]["ArnEquals"]["aws:SourceArn"]
                and statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
            ]
            # THEN the topic policy admits it (a topic policy replaces the default one: nothing else would)
            assert len(admitting) == 1, alarm_id
            # and the topic's key lets CloudWatch encrypt the message
            key = synth.resources[topic]["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
            key_statements = synth.resources[key]["Properties"]["KeyPolicy"]["Statement"]
            assert any(
                s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
                and {"kms:Decrypt", "kms:GenerateDataKey"} <= set(s["Action"])
                for s in key_statements
            ), alarm_id


def test_alarms_cover_every_queue_function_and_the_state_machine(synth: Synth) -> None:
    alarms = [a["Properties"] for a in synth.of_type("AWS::CloudWatch::Alarm").values()]
    by_metric: dict[str, list[dict[str, object]]] = {}
    for alarm in alarms:
        by_metric.setdefault(alarm["MetricName"], []).append(alarm)
        assert alarm["Threshold"] == 0
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["AlarmActions"], "every alarm notifies the topic"
    assert len(by_metric["ApproximateNumberOfMessagesVisible"]) == len(synth.of_type("AWS::SQS::Queue"))
    assert len(by_metric["Errors"]) == len(FUNCTIONS)
    assert len(by_metric["ExecutionsFailed"]) == 1


def test_dashboard_shows_the_orchestrator_metrics(synth: Synth) -> None:
    ((dashboard),) = synth.of_type("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in (
        "WavesCompleted",
        "ServersFailed",
        "DrsJobsStarted",
        "DrsLaunchFailures",
        "LaunchesRecovered",
        "InvalidEvents",
        "PlansCompleted",
        "PlansFailed",
        "PlansCancelled",
        "ExecutionsStarted",
        "ExecutionsFailed",
        "Errors",
        "ApproximateNumberOfMessagesVisible",
    ):
        assert metric in body, metric
    assert METRICS_NAMESPACE in body


def test_the_handlers_retry_budget_is_what_lambda_delivers(synth: Synth) -> None:
    # GIVEN the deliveries after which a failing handler gives up on an event (orchestrator.config)
    from localcloud.cloud import MAX_RECEIVE
    from orchestrator.config import Settings

    budget = Settings().handler_attempts

    # THEN every asynchronously invoked function gets exactly that many deliveries (first try + retries), so
    # the last one fails the wave instead of the event vanishing into the failed-invocations queue; the local
    # dispatcher delivers at least as often
    user_functions = {synth.stack.resolve(config.logical_id) for config in synth.stack.lambda_steps.configs}
    configs = {k: c for k, c in synth.of_type("AWS::Lambda::EventInvokeConfig").items() if k not in user_functions}
    assert configs
    for key, config in configs.items():
        assert config["Properties"]["MaximumRetryAttempts"] + 1 == budget, key
    assert budget <= MAX_RECEIVE


def test_every_function_starts_with_the_environment_the_stack_gives_it(
    synth: Synth, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN each function's environment as synthesized (CloudFormation references stand for their values)
    from orchestrator.config import MissingSettingError, Settings, check_required

    settings_variables = ("LEDGER_TABLE_NAME", "EVENT_BUS_NAME", "EVENT_BUS_ARN", "SCHEDULER_GROUP_NAME")
    for name, function in synth.stack.functions.functions.items():
        variables = synth.resources[synth.logical_id(function)]["Properties"]["Environment"]["Variables"]
        environment = {key: value if isinstance(value, str) else json.dumps(value) for key, value in variables.items()}
        for variable in (*settings_variables, "SCHEDULER_ROLE_ARN", "RECOVERY_PRINCIPALS", "EVIDENCE_BUCKET_NAME"):
            monkeypatch.delenv(variable, raising=False)
        for key, value in environment.items():
            monkeypatch.setenv(key, value)
        # WHEN its settings are checked as at a cold start THEN nothing it needs is missing
        check_required(Settings(), f"drs-orch-{name}")
        # and the check is live on this environment: without its bus name (every function's but the archive's,
        # which publishes nothing: without its bucket; the operator function has no table) it would not start
        monkeypatch.delenv("EVIDENCE_BUCKET_NAME" if name == "archive" else "EVENT_BUS_NAME")
        with pytest.raises(MissingSettingError):
            check_required(Settings(), f"drs-orch-{name}")


def test_invalid_events_page_the_operators_on_the_metric_the_handlers_emit(synth: Synth) -> None:
    # GIVEN the metric every handler emits for a dropped event or a refused direct invocation
    from orchestrator.observability import metrics

    # WHEN the stack's alarms are read
    alarms = [a["Properties"] for a in synth.of_type("AWS::CloudWatch::Alarm").values()]
    invalid = [a for a in alarms if a.get("MetricName") == "InvalidEvents"]
    # THEN one alarm watches it, in the namespace and with the service dimension the code writes, and pages
    [alarm] = invalid
    assert alarm["Namespace"] == metrics.namespace
    assert alarm["Dimensions"] == [{"Name": "service", "Value": metrics.service}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert alarm["AlarmActions"]


def test_the_cli_policies_are_output_and_name_this_stacks_resources_only(synth: Synth) -> None:
    # GIVEN the two customer-managed policies the stack makes for the CLI's users
    operate = synth.logical_id(synth.stack.cli_policies.operate)
    read = synth.logical_id(synth.stack.cli_policies.read)
    bus = {"Fn::GetAtt": [synth.logical_id(synth.stack.bus.bus), "Arn"]}
    archive = {"Fn::GetAtt": [synth.logical_id(synth.stack.bus.archive), "Arn"]}
    function = {"Fn::GetAtt": [synth.logical_id(synth.stack.functions.functions["operator"]), "Arn"]}
    table = {"Fn::GetAtt": [synth.logical_id(synth.stack.ledger.table), "Arn"]}

    # THEN the stack outputs their ARNs, to attach to the operators' and readers' roles
    outputs = synth.template["Outputs"]
    assert (outputs["OperatorPolicyArn"]["Value"], outputs["ReaderPolicyArn"]["Value"]) == (
        {"Ref": operate},
        {"Ref": read},
    )
    # AND the stack attaches them to nobody itself
    for policy in (operate, read):
        assert synth.resources[policy]["Type"] == "AWS::IAM::ManagedPolicy"
        assert not {"Roles", "Users", "Groups"} & set(synth.resources[policy]["Properties"]), policy

    # AND operating names the bus (StartPlan with our source only), the operator function (through its URL
    # only) and this stack
    statements = {s["Sid"]: s for s in synth.resources[operate]["Properties"]["PolicyDocument"]["Statement"]}
    native = {sid for sid in statements if sid.startswith("Export")}  # export-native: DRS's native plans
    assert native == {
        "ExportListsServersAndPlans",
        "ExportReadsNativePlans",
        "ExportWritesNativePlanSteps",
        "ExportTagsNativePlanOnCreate",
    }
    # extend: CreateExtendedSourceServer and ListExtensibleSourceServers (no resource-level permissions), and the
    # drs-orch:plan-id tag only as part of the creation, on source servers of this account and Region
    assert statements["ExtendCreatesExtendedSourceServers"]["Resource"] == "*"
    assert sorted(statements["ExtendCreatesExtendedSourceServers"]["Action"]) == [
        "drs:CreateExtendedSourceServer",
        "drs:ListExtensibleSourceServers",
    ]
    assert statements["ExtendTagsExtendedServerOnCreate"]["Action"] == "drs:TagResource"
    assert statements["ExtendTagsExtendedServerOnCreate"]["Condition"] == {
        "StringEquals": {"drs:CreateAction": "CreateExtendedSourceServer"}
    }
    assert ":source-server/*" in json.dumps(statements["ExtendTagsExtendedServerOnCreate"]["Resource"])
    extend = {"ExtendCreatesExtendedSourceServers", "ExtendTagsExtendedServerOnCreate"}
    elsewhere = native | extend | {sid for sid in statements if sid.startswith("PushPlan")}  # test_plan_store.py
    assert {sid: (s["Resource"], s.get("Condition")) for sid, s in statements.items() if sid not in elsewhere} == {
        "StartDrillsOnTheBus": (
            bus,
            {"StringEquals": {"events:source": SOURCE, "events:detail-type": "StartPlan"}},
        ),
        "CallTheOperatorUrl": (function, {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}),
        "InvokeTheOperatorThroughItsUrlOnly": (function, {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}),
        "FindTheOperatorUrl": ({"Ref": "AWS::StackId"}, None),
    }
    # AND reading names the ledger table, the bus and its archive, and the inspector's own rule, queue and replay
    statements = {s["Sid"]: s for s in synth.resources[read]["Properties"]["PolicyDocument"]["Statement"]}
    assert statements["ReadTheLedger"]["Resource"] == table
    assert statements["FindTheBusAndItsArchive"]["Resource"] == [bus, archive]
    assert statements["InspectorReplay"]["Resource"][:2] == [archive, bus]
    rendered = {sid: json.dumps(s["Resource"]) for sid, s in statements.items()}
    assert '"/drs-orch-inspector-*"' in rendered["InspectorRule"]
    assert rendered["InspectorRuleTargets"] == rendered["InspectorRule"]
    assert '":drs-orch-inspector-*"' in rendered["InspectorQueue"]
    assert statements["InspectorRuleTargets"]["Condition"] == {
        "ForAllValues:ArnLike": {"events:TargetArn": statements["InspectorQueue"]["Resource"]},
        "Null": {"events:TargetArn": "false"},
    }
    assert '":replay/inspect-*"' in rendered["InspectorReplay"]
    assert [r["Fn::Join"][1][-1] for r in statements["ValidateReadsAllowedDocuments"]["Resource"]] == [
        f":document/{name}" for name in project_ssm_documents()
    ]


def test_only_the_script_functions_may_pass_the_automation_role_and_only_to_ssm(synth: Synth) -> None:
    # GIVEN the synthesized stack's Automation role (SSM_AUTOMATION runbooks run as it)
    stack = synth.stack
    role_id = synth.logical_id(stack.automation_role.role)
    role = synth.resources[role_id]["Properties"]

    # THEN only ssm.amazonaws.com of this account assumes it
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "ssm.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    # AND the roles that may pass it are the script functions', each only to SSM
    function_roles = {synth.logical_id(role): name for name, role in stack.functions.roles.items()}
    passing: dict[str, Any] = {}
    for policy in synth.of_type("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement.get("Action") == "iam:PassRole" and statement.get("Resource") == {
                "Fn::GetAtt": [role_id, "Arn"]
            }:
                for attached in policy["Properties"]["Roles"]:
                    passing[function_roles[attached["Ref"]]] = statement["Condition"]
    only_ssm = {"StringEquals": {"iam:PassedToService": "ssm.amazonaws.com"}}
    assert passing == {"pre_launch": only_ssm, "post_launch": only_ssm}
