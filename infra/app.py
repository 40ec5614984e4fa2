"""CDK app entry: `python -m infra.app` (make synth) or `cdk synth` (cdk.json runs this module).

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

REPO_ROOT = Path(__file__).resolve().parent.parent
CDK_JSON = REPO_ROOT / "cdk.json"
DEFAULT_STACK_NAME = "DrsOrchestrator"


def cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    if not path.is_file():
        return {}
    context = json.loads(path.read_text()).get("context", {})
    return dict(context)


def build_app(
    context: dict[str, Any] | None = None, *, outdir: str | None = None, nag: bool = True
) -> tuple[App, OrchestratorStack]:
    """The app and its one stack; `context` overrides cdk.json (and the CLI's context overrides both)."""
    app = App(
        outdir=outdir or os.environ.get("CDK_OUTDIR") or str(REPO_ROOT / "cdk.out"),
        context={**cdk_json_context(), **(context or {})},
    )
    stack_name = str(app.node.try_get_context("stackName") or DEFAULT_STACK_NAME)
    stack = OrchestratorStack(app, stack_name, description="DRS Orchestrator: recovery plans on EventBridge")
    if nag:
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


def main() -> None:
    app, _ = build_app()
    app.synth()


if __name__ == "__main__":
    main()
