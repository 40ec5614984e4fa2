"""`drs-orch validate` warns about scripts outside the SSM document allow-list, at their line; `validate --aws`
checks each script's parameters against its document in the account (DescribeDocument, here answered by the
SSM simulator through a real botocore client), as StartPlan will."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from typer.testing import CliRunner

from drs_orch import app as cli
from localcloud.ssm_sim import SsmSimulator

EXAMPLES = Path(cli.__file__).resolve().parent / "examples"
THREE_TIER = str(EXAMPLES / "three-tier.yaml")
# the example's web tier is chosen by tag: who it is depends on DRS when a run starts
SELECTOR_WARNING = (
    f"{THREE_TIER}:109: waves[2].sourceServerTags (wave web): warning: wave 'web' selects its servers by "
    "sourceServerTags (app=shop, tier=web): they are resolved when the execution starts, against the source servers "
    "DRS has then (see who is selected with drs-orch show PLAN --sim PROFILE, or --aws)"
)
runner = CliRunner()

WRONG = """\
planId: wrong
waves:
  - waveId: db
    servers: [s-00000000000000001]
    postLaunch:
      - documentName: DRSOrch-HealthCheck
        parameters:
          Target: tcp://db:5432
          Timeout: "9"
      - documentName: DRSOrch-Gone
      - documentName: AWS-RunShellScript
        parameters: {commands: [id]}
    healthCheck:
      documentName: DRSOrch-HealthCheck
"""


class _Clock:
    def now(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> tuple[SsmSimulator, list[str | None]]:
    """The SSM simulator (with the document library) behind every boto3 ssm client the CLI makes."""
    sim = SsmSimulator(_Clock())
    sim.load_library()
    regions: list[str | None] = []
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"})

    def make_client(service: str, region_name: str | None = None) -> Any:
        assert service == "ssm"
        regions.append(region_name)
        client = boto3.session.Session().client(
            "ssm", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x", config=config
        )
        return sim.attach(client)

    monkeypatch.setattr(boto3, "client", make_client)
    monkeypatch.delenv("ALLOWED_SSM_DOCUMENTS", raising=False)
    return sim, regions


def _lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line]


def test_validate_warns_at_their_lines_about_scripts_outside_the_default_allow_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the three-tier example, whose fence and web smoke test run AWS-RunShellScript, and no setting
    monkeypatch.delenv("ALLOWED_SSM_DOCUMENTS", raising=False)
    # WHEN it is validated
    result = runner.invoke(cli.app, ["validate", THREE_TIER])
    # THEN it is valid (exit 0), with a warning at each script's documentName line
    assert result.exit_code == 0, result.output
    unless = (
        "which is not in the SSM document allow-list (DRSOrch-*): plans may run only the documents the deploy "
        "setting ALLOWED_SSM_DOCUMENTS lists (validate assumed this list: pass the deployed one with "
        "--allowed-documents)"
    )
    assert _lines(result.output) == [
        f"{THREE_TIER}:48: waves[0].preLaunch[0].documentName (wave database): warning: pre-launch step #1 of "
        f"wave 'database' runs SSM document 'AWS-RunShellScript', {unless}",
        SELECTOR_WARNING,
        f"{THREE_TIER}:123: waves[2].postLaunch[0].documentName (wave web): warning: post-launch step #1 of wave "
        f"'web' runs SSM document 'AWS-RunShellScript', {unless}",
        f"✓ {THREE_TIER}: plan 'three-tier' is valid (3 waves, 5 servers, 3 warnings)",
    ]
    # AND the lines are those of the documents
    text = (EXAMPLES / "three-tier.yaml").read_text().splitlines()
    assert (text[47].strip(), text[122].strip()) == ("documentName: AWS-RunShellScript",) * 2


@pytest.mark.parametrize("how", ["option", "environment"])
def test_validate_takes_the_deployed_allow_list_from_its_option_or_the_setting(
    monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    # GIVEN the deployed allow-list, which lists AWS-RunShellScript, as an option or as ALLOWED_SSM_DOCUMENTS
    monkeypatch.delenv("ALLOWED_SSM_DOCUMENTS", raising=False)
    args = ["validate", THREE_TIER]
    if how == "option":
        args += ["--allowed-documents", "DRSOrch-*, AWS-RunShellScript"]
    else:
        monkeypatch.setenv("ALLOWED_SSM_DOCUMENTS", "DRSOrch-*,AWS-RunShellScript")
    # WHEN the example is validated
    result = runner.invoke(cli.app, args)
    # THEN no warning
    assert result.exit_code == 0, result.output
    assert _lines(result.output) == [
        SELECTOR_WARNING,
        f"✓ {THREE_TIER}: plan 'three-tier' is valid (3 waves, 5 servers, 1 warning)",
    ]


def test_a_malformed_allow_list_is_a_usage_error() -> None:
    # GIVEN / WHEN an allow-list with a '*' inside a name
    result = runner.invoke(cli.app, ["validate", THREE_TIER, "--allowed-documents", "DRS*Orch"])
    # THEN exit 2, naming the entry
    assert result.exit_code == 2
    assert "ALLOWED_SSM_DOCUMENTS: malformed entry 'DRS*Orch'" in " ".join(result.output.replace("│", " ").split())


def test_validate_aws_checks_the_parameters_against_the_documents_in_the_account(
    account: tuple[SsmSimulator, list[str | None]], tmp_path: Path
) -> None:
    # GIVEN a plan with a misspelt parameter, a document the account does not have, a health check without its
    # required Target, and an AWS-RunShellScript step (outside the default allow-list)
    sim, regions = account
    plan = tmp_path / "wrong.yaml"
    plan.write_text(WRONG)
    # WHEN it is validated with --aws
    result = runner.invoke(cli.app, ["validate", str(plan), "--aws", "--region", "eu-west-1"])
    # THEN exit 2, each problem at its line, as StartPlan will refuse it
    assert result.exit_code == 2, result.output
    assert _lines(result.output) == [
        f"{plan}:9: waves[0].postLaunch[0].parameters.Timeout (wave db): post-launch step #1 of wave 'db': "
        "parameter 'Timeout' is not declared by SSM document 'DRSOrch-HealthCheck' (did you mean "
        "'TimeoutSeconds'?) (declares: ExecutionId, ExpectedStatus, InsecureTls, IntervalSeconds, Mode, PlanId, "
        "RecoveryInstances, Target, TimeoutSeconds, WaveId, executionTimeout)",
        f"{plan}:10: waves[0].postLaunch[1].documentName (wave db): post-launch step #2 of wave 'db': SSM document "
        "'DRSOrch-Gone' cannot be read: DescribeDocument: InvalidDocument: Document DRSOrch-Gone does not exist in "
        "your account",
        f"{plan}:13: waves[0].healthCheck (wave db): health check of wave 'db': SSM document 'DRSOrch-HealthCheck' "
        "requires parameter 'Target' (it has no default)",
        f"✗ {plan}: 3 problems",
    ]
    # AND each allowed document was described once, in the region asked, and AWS-RunShellScript not at all
    assert (sim.stats.calls["DescribeDocument"], regions) == (2, ["eu-west-1"])


def test_validate_aws_passes_a_plan_whose_parameters_are_right(
    account: tuple[SsmSimulator, list[str | None]],
) -> None:
    # GIVEN / WHEN the diamond example is validated with --aws
    result = runner.invoke(cli.app, ["validate", str(EXAMPLES / "diamond.yaml"), "--aws"])
    # THEN it is valid
    assert result.exit_code == 0, result.output
    assert _lines(result.output) == [f"✓ {EXAMPLES / 'diamond.yaml'}: plan 'diamond' is valid (4 waves, 5 servers)"]


def test_validate_aws_without_permission_names_the_aws_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN an account that refuses the caller DescribeDocument
    client = boto3.session.Session().client(
        "ssm", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stubber = Stubber(client)
    stubber.add_client_error("describe_document", "AccessDeniedException", "not authorized", 400)
    monkeypatch.setattr(boto3, "client", lambda service, region_name=None: client)
    # WHEN a plan is validated with --aws
    with stubber:
        result = runner.invoke(cli.app, ["validate", str(EXAMPLES / "diamond.yaml"), "--aws"])
    # THEN one line names the AWS error (it is the caller's, not the plan's), exit 2
    assert result.exit_code == 2
    assert " ".join(result.output.split()) == "AWS DescribeDocument: AccessDeniedException: not authorized"
