"""The wave launch Express state machine, defined in infra/wave_launch.asl.json."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.definitions import state_machine_definition


class WaveLaunch(Construct):
    """One Express execution per wave: cut the wave into DRS jobs and start them (never waits for them)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        launch_function: lambda_.IFunction,
        start_job_concurrency: int,
        throttle_retry_interval_seconds: int,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.definition = state_machine_definition(
            {
                "LaunchWaveFunctionArn": launch_function.function_arn,
                "StartJobConcurrency": str(int(start_job_concurrency)),
                "ThrottleRetryIntervalSeconds": str(int(throttle_retry_interval_seconds)),
            }
        )
        self.log_group = logs.LogGroup(self, "Logs", retention=log_retention)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_type=sfn.StateMachineType.EXPRESS,
            definition_body=sfn.DefinitionBody.from_string(self.definition),
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True,
            comment="DRS Orchestrator: launch one wave",
        )
        # The tasks invoke the unqualified function ARN only (no versions or aliases).
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[launch_function.function_arn])
        )
