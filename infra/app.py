"""CDK app entry: `python -m infra.app` (make synth) or `cdk synth` (cdk.json runs this module): the orchestrator
stack and the target-account stack (infra/target_stack.py).

Run directly, the app reads cdk.json's context itself (the CDK CLI would pass it), writes to `cdk.out/`
unless CDK_OUTDIR says otherwise, and checks the stack with cdk-nag's AWS Solutions pack: a finding that
is neither fixed nor acknowledged with a reason fails the synth.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from infra.stack import OrchestratorStack
from infra.target_stack import TargetAccountStack

REPO_ROOT = Path(__file__).resolve().parent.parent
CDK_JSON = REPO_ROOT / "cdk.json"
DEFAULT_STACK_NAME = "DrsOrchestrator"
DEFAULT_TARGET_STACK_NAME = "DrsOrchestratorTarget"


def cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    if not path.is_file():
        return {}
    context = json.loads(path.read_text()).get("context", {})
    return dict(context)


def build_app(
    context: dict[str, Any] | None = None, *, outdir: str | None = None, nag: bool = True
) -> tuple[App, OrchestratorStack]:
    """The app and its orchestrator stack; `context` overrides cdk.json (and the CLI's context overrides both). The
    app also holds the target-account stack (`target_stack_of`), deployed in each recovery or staging account."""
    app = App(
        outdir=outdir or os.environ.get("CDK_OUTDIR") or str(REPO_ROOT / "cdk.out"),
        context={**cdk_json_context(), **(context or {})},
    )
    stack_name = str(app.node.try_get_context("stackName") or DEFAULT_STACK_NAME)
    stack = OrchestratorStack(app, stack_name, description="DRS Orchestrator: recovery plans on EventBridge")
    target_name = str(app.node.try_get_context("targetStackName") or DEFAULT_TARGET_STACK_NAME)
    TargetAccountStack(
        app,
        target_name,
        config=stack.config,
        description="DRS Orchestrator target account: the role it assumes, DRS and SSM events forwarded to it",
    )
    if nag:
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


def target_stack_of(app: App) -> TargetAccountStack:
    """The app's target-account stack."""
    found = [child for child in app.node.children if isinstance(child, TargetAccountStack)]
    if len(found) != 1:
        raise ValueError(f"the app holds {len(found)} target-account stacks, not one")
    return found[0]


def main() -> None:
    app, _ = build_app()
    app.synth()


if __name__ == "__main__":
    main()
