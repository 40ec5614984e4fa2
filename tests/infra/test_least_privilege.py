"""IAM: no wildcard actions, '*' resources only where AWS offers nothing narrower, cdk-nag clean."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from infra.constructs.nag import render
from infra.definitions import FUNCTIONS
from tests.infra.conftest import Synth

# Actions that have no resource-level permissions (Service Authorization Reference: empty "Resource
# types" column), so "*" is the only possible resource. Kept here, apart from the code, on purpose.
STAR_ALLOWED = frozenset(
    {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
        "drs:DescribeJobs",
        "drs:DescribeSourceServers",
        "drs:DescribeRecoveryInstances",
        # ReverseReplication's dependent read (the failback engine, issue #15): no resource-level permissions
        "drs:DescribeReplicationConfigurationTemplates",
        # drs-orch export-native / import-native: a list, and a create whose plan has no ARN yet (as DRS's other
        # Create*/List* actions; the SAR copy at hand predates recovery plans: an assumption an account must confirm)
        "drs:ListRecoveryPlans",
        "drs:CreateRecoveryPlan",
        # drs-orch extend: neither has resource-level permissions (Service Authorization Reference, drs: empty
        # Resource types column for CreateExtendedSourceServer and ListExtensibleSourceServers)
        "drs:ListExtensibleSourceServers",
        "drs:CreateExtendedSourceServer",
        "ssm:ListCommandInvocations",
        "ssm:ListCommands",
        "ssm:CancelCommand",
        "ec2:DescribeAccountAttributes",
        "ec2:DescribeAvailabilityZones",
        "ec2:DescribeImages",
        "ec2:DescribeInstanceAttribute",
        "ec2:DescribeInstanceStatus",
        "ec2:DescribeInstanceTypes",
        "ec2:DescribeInstances",
        "ec2:DescribeLaunchTemplateVersions",
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSnapshots",
        "ec2:DescribeSubnets",
        "ec2:DescribeVolumes",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeInstanceTypeOfferings",
        # the Automation role: the target registration runbook's wait (infra/constructs/automation_role.py)
        "elasticloadbalancing:DescribeTargetHealth",
    }
)


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _documents(synth: Synth, *, include_key_policies: bool = False) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every policy document in the template: identity and resource policies."""
    for key, res in synth.resources.items():
        props = res.get("Properties", {})
        kind = res["Type"]
        if kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") or kind.endswith(("QueuePolicy", "TopicPolicy")):
            yield key, props["PolicyDocument"]
        elif kind == "AWS::IAM::Role":
            yield key, props["AssumeRolePolicyDocument"]
            for policy in props.get("Policies", []):
                yield key, policy["PolicyDocument"]
        elif kind == "AWS::Events::EventBusPolicy":
            yield key, {"Statement": _listify(props["Statement"])}
        elif kind == "AWS::KMS::Key" and include_key_policies:
            yield key, props["KeyPolicy"]


def _policies(synth: Synth) -> list[dict[str, Any]]:
    return [*synth.of_type("AWS::IAM::Policy").values(), *synth.of_type("AWS::IAM::ManagedPolicy").values()]


def _identity_statements(synth: Synth) -> Iterator[tuple[str, dict[str, Any]]]:
    """Statements of the roles' policies, CDK's overflow managed policies (a role past IAM's inline size) too."""
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for key, res in synth.of_type(kind).items():
            for statement in res["Properties"]["PolicyDocument"]["Statement"]:
                yield key, statement


def test_no_statement_grants_every_action_of_a_service(synth: Synth) -> None:
    # (Deny statements may: `Deny sqs:* unless aws:SecureTransport` is how TLS is enforced.)
    for key, document in _documents(synth):
        for statement in document["Statement"]:
            if statement["Effect"] != "Allow":
                continue
            for action in _listify(statement.get("Action", [])):
                assert action != "*", key
                assert not action.endswith(":*"), (key, action)


def test_key_policies_keep_only_the_account_administration_statement_wide(synth: Synth) -> None:
    # KMS key policies must let the account administer the key (else it becomes unmanageable): that is
    # the one `kms:*`, and it is granted to the account root, never to a service or a role.
    for key, document in _documents(synth, include_key_policies=True):
        for statement in document["Statement"]:
            if "kms:*" in _listify(statement["Action"]):
                principal = statement["Principal"]["AWS"]
                assert ":root" in str(principal), (key, statement)


def test_star_resources_only_for_actions_without_resource_level_permissions(synth: Synth) -> None:
    for key, statement in _identity_statements(synth):
        if "*" in _listify(statement["Resource"]):
            assert set(_listify(statement["Action"])) <= STAR_ALLOWED, (key, statement)


def test_only_the_wave_launcher_starts_recoveries_and_only_on_its_terms(synth: Synth) -> None:
    launcher_role = synth.logical_id(synth.stack.functions.roles["launch_wave"])
    starters = []
    for res in _policies(synth):
        for statement in res["Properties"]["PolicyDocument"]["Statement"]:
            if "drs:StartRecovery" in _listify(statement["Action"]):
                starters.append((res["Properties"]["Roles"], statement))
    ((roles, statement),) = starters
    assert roles == [{"Ref": launcher_role}]
    assert "source-server/*" in str(statement["Resource"])
    # context sourceServerTag (cdk.json: drs-orchestrator=enabled) gates which servers can be launched
    assert statement["Condition"] == {"StringEquals": {"aws:ResourceTag/drs-orchestrator": "enabled"}}


def test_only_the_control_function_terminates_recovery_instances(synth: Synth) -> None:
    control_role = synth.logical_id(synth.stack.functions.roles["control"])
    holders = [
        res["Properties"]["Roles"]
        for res in _policies(synth)
        for statement in res["Properties"]["PolicyDocument"]["Statement"]
        if "drs:TerminateRecoveryInstances" in _listify(statement["Action"])
    ]
    assert holders == [[{"Ref": control_role}]]


def test_a_jobs_log_is_read_by_the_watcher_and_the_terminations_only(synth: Synth) -> None:
    # why a server did not launch (the job watcher), why an instance was not terminated (the control
    # function's terminations): each reads its DRS job's log, and nothing else does
    expected = {synth.logical_id(synth.stack.functions.roles[name]) for name in ("job_watcher", "control")}
    readers = {
        role["Ref"]
        for res in _policies(synth)
        for statement in res["Properties"]["PolicyDocument"]["Statement"]
        if "drs:DescribeJobLogItems" in _listify(statement["Action"])
        for role in res["Properties"]["Roles"]
    }
    assert readers == expected


# The EC2 statements AWSElasticDisasterRecoveryConsoleFullAccess v8 grants without a DRS tag condition (a launch's
# subnet, image, ...; detaching from a DRS instance; a security group's VPC): only through an AWS service.
EC2_WITHOUT_TAG = {"DrsLaunchInstanceResources", "DrsDetachVolume", "DrsCreateSecurityGroupInVpc"}
DRS_TAG = "AWSElasticDisasterRecoveryManaged"


# The EC2 changes a function makes itself, not DRS with its credentials: a plan's launch settings, as a new version
# of the launch template DRS keeps for a source server, made the default and later the previous one again
# (orchestrator/steps/launch_settings.py). Only these two actions, only on launch templates carrying DRS's tag (both
# take aws:ResourceTag on launch-template in the Service Authorization Reference; AWS's own DRS policies scope them
# so), and only the launcher creates versions (post_launch restores the default).
DIRECT_EC2_CHANGES = {
    "launch_wave": ["ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate"],
    "post_launch": ["ec2:ModifyLaunchTemplate"],
}


def _is_ec2_change(statement: dict[str, Any]) -> bool:
    return any(a.startswith("ec2:") and not a.startswith("ec2:Describe") for a in _listify(statement["Action"]))


def test_ec2_changes_a_function_makes_itself_are_only_on_drs_launch_templates(synth: Synth) -> None:
    # GIVEN every statement granting an EC2 change that is not conditioned on an AWS service acting for the role
    names = {synth.logical_id(role): name for name, role in synth.stack.functions.roles.items()}
    direct = [
        (names.get(role["Ref"], role["Ref"]), statement)
        for res in _policies(synth)
        for statement in res["Properties"]["PolicyDocument"]["Statement"]
        if _is_ec2_change(statement) and "aws:ViaAWSService" not in statement.get("Condition", {}).get("Bool", {})
        for role in res["Properties"].get("Roles", [])
    ]
    # THEN they are the launch-settings statements of the launcher and post_launch, one each, exactly so
    assert sorted((name, statement["Sid"]) for name, statement in direct) == [
        (name, "LaunchSettingsTemplates") for name in sorted(DIRECT_EC2_CHANGES)
    ]
    for name, statement in direct:
        assert _listify(statement["Action"]) == DIRECT_EC2_CHANGES[name]
        assert (
            render(statement["Resource"]) == "arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:launch-template/*"
        )
        assert statement["Condition"] == {"Null": {f"aws:ResourceTag/{DRS_TAG}": "false"}}


def test_ec2_changes_only_through_drs_and_only_on_what_drs_tags(synth: Synth) -> None:
    # GIVEN every identity statement granting an EC2 action other than a read, but the launch-settings ones the
    # functions make themselves (the test above)
    mutating = [
        (key, statement)
        for key, statement in _identity_statements(synth)
        if _is_ec2_change(statement) and statement.get("Sid") != "LaunchSettingsTemplates"
    ]
    assert len(mutating) == 18  # 16 for StartRecovery (tag-on-create among them), 2 for TerminateRecoveryInstances

    for key, statement in mutating:
        condition = statement["Condition"]
        # THEN each can only serve DRS acting with the role's credentials (AWS's own DRS policies: aws:ViaAWSService)
        assert condition["Bool"] == {"aws:ViaAWSService": "true"}, (key, statement["Sid"])
        # and each needs DRS's tag on the resource or in the request, or is a tag-on-create, or is one of AWS's own
        # untagged statements
        tagged = [k for k in condition.get("Null", {}) if k.endswith(f"Tag/{DRS_TAG}")]
        on_create = "ec2:CreateAction" in condition.get("StringEquals", {})
        assert tagged or on_create or statement["Sid"] in EC2_WITHOUT_TAG, (key, statement["Sid"])
        if tagged:
            assert condition["Null"] == {tagged[0]: "false"}


def test_only_the_network_checks_functions_read_the_network_and_only_to_describe_it(synth: Synth) -> None:
    # GIVEN every role's statements naming a network read of the launch-settings checks
    from tests.infra.test_grants_match_calls import role_grants

    network_reads = {"ec2:DescribeNetworkInterfaces", "ec2:DescribeInstanceTypeOfferings"}
    readers = {
        name
        for name, grants in role_grants(synth.template).items()
        for grant in grants
        if network_reads & set(grant.actions)
    }
    # THEN only StartPlan (the whole plan) and pre_launch (the wave preflight) hold them, each in one statement of
    # four Describe* actions on "*"
    assert readers == {"start_plan", "pre_launch"}
    statements = [s for _, s in _identity_statements(synth) if s.get("Sid") == "Ec2NetworkReads"]
    assert len(statements) == 2
    for statement in statements:
        assert (statement["Action"], statement["Resource"], statement.get("Condition")) == (
            [
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeInstanceTypeOfferings",
            ],
            "*",
            None,
        )


def test_run_instances_needs_drs_tag_on_the_new_instance(synth: Synth) -> None:
    launcher = synth.logical_id(synth.stack.functions.roles["launch_wave"])
    statements = [
        s
        for res in synth.resources.values()
        if res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        and {"Ref": launcher} in res["Properties"].get("Roles", [])  # the CLI policies have none
        for s in res["Properties"]["PolicyDocument"]["Statement"]
        if "ec2:RunInstances" in _listify(s["Action"])
    ]
    on_instances = [s for s in statements if "instance/*" in str(s["Resource"]) and "subnet" not in str(s["Resource"])]
    assert [s["Condition"] for s in on_instances] == [
        {"Bool": {"aws:ViaAWSService": "true"}, "Null": {f"aws:RequestTag/{DRS_TAG}": "false"}}
    ]


def test_create_recovery_instance_for_drs_is_scoped_to_source_servers(synth: Synth) -> None:
    # AWSElasticDisasterRecoveryServiceRolePolicy grants it on arn:aws:drs:*:*:source-server/*: not on "*"
    grants = [
        statement
        for _, statement in _identity_statements(synth)
        if "drs:CreateRecoveryInstanceForDrs" in _listify(statement["Action"])
    ]
    assert len(grants) == 1
    rendered = render(grants[0]["Resource"])
    assert rendered == "arn:<AWS::Partition>:drs:<AWS::Region>:<AWS::AccountId>:source-server/*"


def test_the_recovery_instance_role_is_passed_only_by_drs_to_ec2(synth: Synth) -> None:
    launcher = synth.logical_id(synth.stack.functions.roles["launch_wave"])
    [statement] = [
        s
        for res in synth.resources.values()
        if res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        and {"Ref": launcher} in res["Properties"].get("Roles", [])  # the CLI policies have none
        for s in res["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "DrsLaunchPassInstanceRole"
    ]
    assert statement["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"},
        "ForAnyValue:StringEquals": {"aws:CalledVia": ["drs.amazonaws.com"]},
    }


def test_cdk_nag_finds_nothing_unacknowledged(synth: Synth) -> None:
    # cdk-nag 3 runs as a CDK policy-validation plugin: unacknowledged findings (errors and warnings)
    # fail the synth and are listed in validation-report.json.
    assert synth.error is None, str(synth.error)
    assert synth.report is not None
    for plugin in synth.report["pluginReports"]:
        assert plugin["violations"] == [], [v["ruleName"] for v in plugin["violations"]]
        assert plugin["conclusion"] == "success"
        for suppressed in plugin["suppressedViolations"]:
            assert len(suppressed["reason"].strip()) > 20, suppressed["ruleName"]


# ---- scripts: which documents, on which instances ----------------------------------------------------------

PROJECT_DOCUMENTS = (
    "DRSOrch-AuroraGlobalFailover",
    "DRSOrch-DnsCutover",
    "DRSOrch-HealthCheck",
    "DRSOrch-RegisterTargets",
    "DRSOrch-ScaleEcsService",
    "DRSOrch-ServiceCheck",
    "DRSOrch-WaitForSsmAgent",
)
SCRIPT_FUNCTIONS = ("pre_launch", "post_launch")


def _statements_of(synth: Synth, function: str) -> dict[str, dict[str, Any]]:
    role = synth.logical_id(synth.stack.functions.roles[function])
    return {
        str(statement.get("Sid", "-")): statement
        for res in _policies(synth)
        if {"Ref": role} in res["Properties"].get("Roles", [])  # the CLI policies have none
        for statement in res["Properties"]["PolicyDocument"]["Statement"]
    }


def test_send_command_runs_only_the_allowed_documents(synth: Synth) -> None:
    # GIVEN the default allow-list (context allowedSsmDocuments: the project's own documents)
    expected = [
        f"arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:document/{name}" for name in PROJECT_DOCUMENTS
    ]
    for function in SCRIPT_FUNCTIONS:
        statements = _statements_of(synth, function)
        # THEN SendCommand names exactly those documents, and no other statement grants it on a document
        documents = statements["SsmSendCommandDocuments"]
        assert [render(r) for r in _listify(documents["Resource"])] == expected
        senders = [s for s in statements.values() if "ssm:SendCommand" in _listify(s["Action"])]
        other = [s for s in senders if s is not documents]
        assert all(render(s["Resource"]).endswith(":instance/*") for s in other), function
        assert [render(r) for r in _listify(statements["SsmDescribeDocument"]["Resource"])] == expected


def test_start_automation_runs_only_the_allowed_runbooks_and_reads_only_executions(synth: Synth) -> None:
    # GIVEN the default allow-list (the same for runbooks: SSM_AUTOMATION steps)
    prefix = "arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:"
    runbooks = [f"{prefix}automation-definition/{name}:*" for name in PROJECT_DOCUMENTS]
    for function in SCRIPT_FUNCTIONS:
        statements = _statements_of(synth, function)
        # THEN StartAutomationExecution names any version of exactly those runbooks, and nothing else grants it
        start = statements["SsmStartAutomationRunbooks"]
        assert [render(r) for r in _listify(start["Resource"])] == runbooks
        starters = [s for s in statements.values() if "ssm:StartAutomationExecution" in _listify(s["Action"])]
        assert starters == [start]
        # AND an execution is read and stopped only as an execution of this account and Region
        executions = statements["SsmAutomationExecutions"]
        assert _listify(executions["Action"]) == ["ssm:GetAutomationExecution", "ssm:StopAutomationExecution"]
        assert render(executions["Resource"]) == f"{prefix}automation-execution/*"


def test_start_plan_reads_the_allowed_documents_and_sends_nothing(synth: Synth) -> None:
    # StartPlan checks a plan's script parameters against the documents (DescribeDocument): only the allowed ones
    statements = _statements_of(synth, "start_plan")
    prefix = "arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:document/"
    expected = [f"{prefix}{name}" for name in PROJECT_DOCUMENTS]
    assert [render(r) for r in _listify(statements["SsmDescribeDocument"]["Resource"])] == expected
    ssm = sorted({a for s in statements.values() for a in _listify(s["Action"]) if a.startswith("ssm:")})
    assert ssm == ["ssm:DescribeDocument"]


def test_send_command_reaches_only_tagged_instances_or_recovery_instances(synth: Synth) -> None:
    for function in SCRIPT_FUNCTIONS:
        statements = _statements_of(synth, function)
        # the deploy-configured script-target tag (context scriptTargetTag, default drs-orch:script-target=allowed)
        assert statements["SsmSendCommandToScriptTargets"]["Condition"] == {
            "StringEquals": {"ssm:resourceTag/drs-orch:script-target": "allowed"}
        }
        # the instances DRS launched (its tag) of source servers StartRecovery may launch (the sourceServerTag,
        # which DRS copies onto the instance when the launch setting copyTags is on)
        assert statements["SsmSendCommandToRecoveryInstances"]["Condition"] == {
            "Null": {"ssm:resourceTag/AWSElasticDisasterRecoveryManaged": "false"},
            "StringEquals": {"ssm:resourceTag/drs-orchestrator": "enabled"},
        }


def test_the_script_functions_may_find_the_commands_a_crash_left(synth: Synth) -> None:
    # a resent script first looks for the commands an interrupted send left (ListCommands, by comment):
    # AccessDenied there would fail every resend on AWS
    holders = {
        name
        for name in FUNCTIONS
        if any("ssm:ListCommands" in _listify(s["Action"]) for s in _statements_of(synth, name).values())
    }
    assert holders == set(SCRIPT_FUNCTIONS)
    for function in SCRIPT_FUNCTIONS:
        assert _statements_of(synth, function)["SsmCommandReads"]["Resource"] == "*"  # no resource-level permission
