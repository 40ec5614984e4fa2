"""The target-account stack (issue #15 item 3): deployed in each recovery or staging account, beside the
orchestrator stack deployed once in the orchestrator's account.

One template for every target account: what differs per deployment is given as CloudFormation parameters
(`cdk deploy DrsOrchestratorTarget --parameters ...`, or a StackSet), read from the orchestrator stack's outputs;
what the orchestrator grants its functions (source-server tag, recovery-instance roles, SSM documents, script-target
tag) is read from the same cdk.json context as the orchestrator stack, so both grant the same.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, CfnParameter, Stack, Token
from constructs import Construct

from infra.constructs.nag import acknowledge, acknowledge_policy_wildcards
from infra.constructs.permissions import PermissionSettings
from infra.constructs.target_account import EventForwarding, TargetRole
from infra.stack import StackConfig

# IAM role ARNs (any partition), each element of the list parameter (CloudFormation applies a CommaDelimitedList's
# AllowedPattern to each value); role names: IAM's RoleName characters, with a path
ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$"
BUS_ARN_PATTERN = r"^arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[\w.-]{1,256}$"
# STS AssumeRole ExternalId: 2 to 1,224 characters of [\w+=,.@:/-] (STS API reference, AssumeRole)
EXTERNAL_ID_PATTERN = r"^[\w+=,.@:/-]{2,1224}$"


class TargetAccountStack(Stack):
    """The role the orchestrator assumes here (a wave's target, issue #15) and the
    forwarding of this account's aws.drs and aws.ssm events to its bus."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StackConfig | None = None, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        cfg = config or StackConfig.from_context(self.node.try_get_context)
        role_arns = CfnParameter(
            self,
            "OrchestratorFunctionRoleArns",
            type="CommaDelimitedList",
            allowed_pattern=ROLE_ARN_PATTERN,
            description="the orchestrator stack's output TargetTrustedRoleArns: the function roles that may assume "
            "the target role (comma-separated role ARNs)",
        )
        bus_arn = CfnParameter(
            self,
            "OrchestratorEventBusArn",
            type="String",
            allowed_pattern=BUS_ARN_PATTERN,
            description="the orchestrator stack's output EventBusArn: where this account's DRS and SSM events go",
        )
        external_id = CfnParameter(
            self,
            "ExternalId",
            type="String",
            no_echo=True,
            allowed_pattern=EXTERNAL_ID_PATTERN,
            description="the external id the orchestrator must give to assume the target role (sts:ExternalId)",
        )
        self.target_role = TargetRole(
            self,
            "TargetRole",
            trusted_role_arns=Token.as_string(role_arns.value),
            external_id=external_id.value_as_string,
            settings=PermissionSettings(
                source_server_tag=cfg.source_server_tag,
                recovery_instance_role_names=cfg.recovery_instance_role_names,
                allowed_ssm_documents=cfg.allowed_ssm_documents,
                script_target_tag=cfg.script_target_tag,
                # no automation role here: runbooks started in this account get no AutomationAssumeRole to pass
                automation_role_arn=None,
            ),
        )
        self.forwarding = EventForwarding(self, "Forwarding", orchestrator_bus_arn=bus_arn.value_as_string)
        acknowledge(
            self.forwarding.dead_letter_queue,
            "SQS3",
            "This queue is itself the dead-letter queue of the forwarding rules' targets; a DLQ of a DLQ would only "
            "hide failures.",
        )
        acknowledge_policy_wildcards(self)
        CfnOutput(
            self,
            "TargetRoleArn",
            value=self.target_role.role.role_arn,
            description="the role a wave's target names (roleArn, with the ExternalId given here as externalId); "
            "add it to the orchestrator's targetRoleArns setting",
        )
        CfnOutput(self, "ForwardDeadLetterQueueUrl", value=self.forwarding.dead_letter_queue.queue_url)
