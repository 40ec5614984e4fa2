"""One synthesized stack per test session (a synth costs ~10 s): the tests read the template it wrote."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Before aws_cdk starts its jsii node process: Node 20 is what these machines have.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

PUBLISHERS = (
    "arn:aws:iam::111111111111:role/DrOperators",
    "arn:aws:iam::222222222222:role/drs-orch-automation",
)
RECOVERY_PRINCIPALS = (
    "arn:aws:sts::111111111111:assumed-role/DrOperators/*",
    "arn:aws:iam::111111111111:role/DrIncidentCommander",
)
ALARM_EMAIL = "dr-team@example.com"
LAMBDA_FUNCTIONS = (
    "arn:aws:lambda:us-east-1:123456789012:function:dns-cutover",
    "arn:aws:lambda:us-east-1:123456789012:function:aurora-failover",
)
CONTEXT: dict[str, Any] = {
    "skipBundle": True,  # our code only: the template is the same, pip is left to `make synth`
    "publisherPrincipals": list(PUBLISHERS),
    "recoveryPrincipals": list(RECOVERY_PRINCIPALS),
    "alarmEmail": ALARM_EMAIL,
    "allowedLambdaFunctions": list(LAMBDA_FUNCTIONS),
}


@dataclass
class Synth:
    stack: Any
    template: dict[str, Any]
    report: dict[str, Any] | None
    error: Exception | None
    outdir: Path

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.template["Resources"]
        return resources

    def of_type(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {key: res for key, res in self.resources.items() if res["Type"] == cfn_type}

    def logical_id(self, construct: Any) -> str:
        return str(self.stack.resolve(construct.node.default_child.logical_id))


def synthesize(outdir: Path, context: dict[str, Any], *, nag: bool = True) -> Synth:
    from infra.app import build_app

    app, stack = build_app(context, outdir=str(outdir), nag=nag)
    error: Exception | None = None
    try:
        app.synth()
    except Exception as exc:  # cdk-nag findings fail the synth; the nag test reports them
        error = exc
    template = json.loads((outdir / f"{stack.stack_name}.template.json").read_text())
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    return Synth(stack=stack, template=template, report=report, error=error, outdir=outdir)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk.out"), CONTEXT)
