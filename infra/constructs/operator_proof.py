"""The operator-proof key: a KMS HMAC key the operator function signs its commands with, and the StartPlan and
control functions verify them with (orchestrator/steps/operator_proof.py).

Why: the StartPlan and control functions trust a command's `requestedBy` (an approval, a RECOVERY) only from
the operator endpoint, and a direct Lambda Invoke writes the event's `source` field itself; the bus policy does
not stand in front of Invoke. A MAC of this key proves that the operator function published the command, and
nothing else can make one: the key policy below is the only policy that allows its use.

Key policy (KMS developer guide, "Key policies", "HMAC keys in AWS KMS"; condition key `kms:MacAlgorithm`):
- the account may administer the key (describe, tag, change the policy, disable, schedule its deletion), not
  use it: no `kms:*`, no GenerateMac, VerifyMac or CreateGrant, so no IAM policy of the account can give anyone
  a MAC (the default key policy's root `kms:*` would delegate exactly that to IAM);
- the operator function's role alone may GenerateMac, the StartPlan and control functions' roles VerifyMac,
  each only with HMAC_SHA_256. Their IAM policies grant the same on this key (infra/constructs/permissions.py).
KMS does not rotate HMAC keys (automatic rotation is for symmetric encryption keys only).
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

MAC_ALGORITHM = "HMAC_SHA_256"
ONLY_HMAC_SHA_256 = {"StringEquals": {"kms:MacAlgorithm": MAC_ALGORITHM}}
ACTIONS = {"generate": "kms:GenerateMac", "verify": "kms:VerifyMac"}
# What the account (its administrators, through IAM) may do with the key: manage it, never use it or grant it.
ADMIN_ACTIONS = (
    "kms:CancelKeyDeletion",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:EnableKey",
    "kms:GetKeyPolicy",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateKeyDescription",
)


class OperatorProofKey(Construct):
    """The HMAC_256 key (KeyUsage GENERATE_VERIFY_MAC) and who may use it."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        admin = iam.PolicyStatement(
            sid="AccountAdministersTheKeyOnly",
            principals=[iam.AccountRootPrincipal()],
            actions=list(ADMIN_ACTIONS),
            resources=["*"],  # in a key policy, "*" is this key
        )
        self.key = kms.Key(
            self,
            "Key",
            key_spec=kms.KeySpec.HMAC_256,
            key_usage=kms.KeyUsage.GENERATE_VERIFY_MAC,
            policy=iam.PolicyDocument(statements=[admin]),
            removal_policy=RemovalPolicy.DESTROY,  # a proof outlives no stack: nothing to keep
            pending_window=Duration.days(7),
            description="DRS Orchestrator operator proof: only the operator function may generate MACs",
        )
        # checkov's CKV_AWS_7 (key rotation) cannot hold: KMS rotates symmetric encryption keys only, not HMAC
        # keys (EnableKeyRotation is refused for them). Skipped on this key alone (infra/checkov.yaml says why).
        cfn_key = self.key.node.default_child
        assert isinstance(cfn_key, kms.CfnKey)
        cfn_key.add_metadata(
            "checkov",
            {"skip": [{"id": "CKV_AWS_7", "comment": "an HMAC key: KMS does not rotate HMAC keys"}]},
        )

    def admit(self, role: iam.IRole, use: str) -> None:
        """Let `role` use the key: `use` "generate" (the operator function) or "verify" (StartPlan, control)."""
        action = ACTIONS[use]
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"{'Generate' if use == 'generate' else 'Verify'}By{role.node.id.replace('Role', '')}",
                principals=[iam.ArnPrincipal(role.role_arn)],
                actions=[action],
                resources=["*"],
                conditions=ONLY_HMAC_SHA_256,
            )
        )
