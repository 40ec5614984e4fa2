"""The ledger: one DynamoDB table holding executions and waves (see the orchestrator/adapters/ledger/ package)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.constructs.keys import customer_managed_key as customer_managed_key_of
from infra.definitions import (
    EXECUTIONS_INDEX,
    EXECUTIONS_INDEX_ATTRIBUTES,
    EXECUTIONS_INDEX_KEYS,
    TABLE_PARTITION_KEY,
    TABLE_SORT_KEY,
    TABLE_TTL_ATTRIBUTE,
)

# What the ledger code does to the table (tests/infra/test_grants_match_calls.py records it). Transactions
# are authorised per item action (there is no IAM action for TransactWriteItems): the capacity queue's unpark
# deletes its item in one, hence DeleteItem; no transaction has a ConditionCheck item, hence no
# ConditionCheckItem. One set for every function: any step may reach any ledger method, and within one table
# the actions are no boundary (UpdateItem creates items, BatchWriteItem puts and deletes them).
LEDGER_ACTIONS: tuple[str, ...] = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:BatchWriteItem",
    "dynamodb:BatchGetItem",
)
# What reading an execution's report does (orchestrator/reporting/report.py through the ledger's reads): the archive
# function (issue #16) holds these alone, so it can write nothing to the ledger.
LEDGER_READ_ACTIONS: tuple[str, ...] = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem")
# What the console widget's reads do (orchestrator/reporting/console_widget.py): the latest executions (Query on
# the executions index), one execution and its frozen plan (GetItem), its waves (Query). Nothing else.
CONSOLE_READ_ACTIONS: tuple[str, ...] = ("dynamodb:GetItem", "dynamodb:Query")
KEY_ACTIONS: tuple[str, ...] = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey")


class Ledger(Construct):
    """PAY_PER_REQUEST, point-in-time recovery, encrypted, TTL on finished executions, retained."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        customer_managed_key: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self.key: kms.Key | None = customer_managed_key_of(
            self, enabled=customer_managed_key, description="DRS Orchestrator ledger table"
        )
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=TABLE_PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=TABLE_SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=(
                dynamodb.TableEncryption.CUSTOMER_MANAGED if self.key else dynamodb.TableEncryption.AWS_MANAGED
            ),
            encryption_key=self.key,
            time_to_live_attribute=TABLE_TTL_ATTRIBUTE,
            removal_policy=RemovalPolicy.RETAIN,
        )
        partition, sort = EXECUTIONS_INDEX_KEYS
        self.table.add_global_secondary_index(
            index_name=EXECUTIONS_INDEX,
            partition_key=dynamodb.Attribute(name=partition, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=sort, type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=list(EXECUTIONS_INDEX_ATTRIBUTES),
        )

    def grant_ledger(self, grantee: iam.IGrantable, *, read_only: bool = False) -> None:
        """Exactly the item actions the ledger code uses, on this table only (not its index); `read_only`: the
        reads alone (`LEDGER_READ_ACTIONS`, and only kms:Decrypt and kms:DescribeKey of a customer managed key)."""
        actions = LEDGER_READ_ACTIONS if read_only else LEDGER_ACTIONS
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=list(actions), resources=[self.table.table_arn])
        )
        if self.key is not None:
            key_actions = ("kms:Decrypt", "kms:DescribeKey") if read_only else KEY_ACTIONS
            grantee.grant_principal.add_to_principal_policy(
                iam.PolicyStatement(actions=list(key_actions), resources=[self.key.key_arn])
            )

    def grant_executions_query(self, grantee: iam.IGrantable) -> None:
        """dynamodb:Query on the executions index (`EXECUTIONS_INDEX`) alone: a function that looks for a plan's
        RUNNING executions (its table actions are `grant_ledger`'s)."""
        index_arn = f"{self.table.table_arn}/index/{EXECUTIONS_INDEX}"
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["dynamodb:Query"], resources=[index_arn])
        )

    def grant_console_read(self, grantee: iam.IGrantable) -> None:
        """What the console widget reads (`CONSOLE_READ_ACTIONS`): GetItem and Query on this table and Query on
        its executions index (`EXECUTIONS_INDEX`); kms:Decrypt and kms:DescribeKey of a customer managed key."""
        index_arn = f"{self.table.table_arn}/index/{EXECUTIONS_INDEX}"
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=list(CONSOLE_READ_ACTIONS), resources=[self.table.table_arn])
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["dynamodb:Query"], resources=[index_arn])
        )
        if self.key is not None:
            grantee.grant_principal.add_to_principal_policy(
                iam.PolicyStatement(actions=["kms:Decrypt", "kms:DescribeKey"], resources=[self.key.key_arn])
            )
