"""End to end on the local cloud: a plan whose database replicates in a staging account first fails its wave's
preflight naming the staging server (nothing launches), `drs-orch extend PLAN --aws` then creates its extended
source server in the recovery account, and the plan run again launches that extended server, exactly once."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from drs_orch.app import app
from localcloud.runner import run_plan
from orchestrator.domain.plan import load_plan
from tests.e2e.helpers import events_of, sid, wave

runner = CliRunner()
ACCOUNT = "111122223333"
STAGED = "s-5000000000000000a"
APP = sid("ap", 1)
STAGING = {"drs.stagingAccounts": {ACCOUNT: {"servers": {STAGED: {"hostname": "db-1"}}}}}


def test_a_staging_server_fails_preflight_until_extended_then_its_extension_launches_once(
    local_cloud, tmp_path: Path
) -> None:
    # GIVEN a local cloud whose DRS recovers servers of a staging account, and a plan whose database wave names one
    cloud = local_cloud(**STAGING)
    cloud.drs.ensure_servers([APP])
    plan_file = tmp_path / "shop.yaml"
    plan_file.write_text(
        yaml.safe_dump(
            {
                "planId": "shop",
                "waves": [
                    wave("db", [{"stagingAccountID": ACCOUNT, "stagingSourceServerID": STAGED}]),
                    wave("app", [APP], ["db"]),
                ],
            }
        )
    )
    plan = load_plan(plan_file)

    # WHEN it runs before the staging server is extended
    first = run_plan(cloud, plan, timeout=120)

    # THEN the database wave fails its preflight naming the staging server and what to do; nothing launched
    assert first.status == "FAILED", first.report
    [failed] = events_of(cloud, "WaveFailed", first.execution_id, "db")
    assert failed.detail["reason"] == (
        f"preflight failed: {STAGED}: staging server {STAGED} of account {ACCOUNT} is not extended into this account "
        "(drs-orch extend PLAN creates its extended source server)"
    )
    assert sum(cloud.drs.stats.launches.values()) == 0

    # WHEN the operator extends it
    extended = runner.invoke(app, ["extend", str(plan_file), "--yes", "--aws", "--region", "us-east-1"])

    # THEN its extended source server exists in the recovery account
    assert extended.exit_code == 0, extended.output
    described = cloud.session.client("drs").describe_source_servers(filters={"stagingAccountIDs": [ACCOUNT]})
    extension = described["items"]
    assert [s["stagingArea"]["stagingSourceServerArn"] for s in extension] == [
        f"arn:aws:drs:us-east-1:{ACCOUNT}:source-server/{STAGED}"
    ]
    extended_id = extension[0]["sourceServerID"]
    assert f"created {extended_id} (EXTENDED)" in " ".join(extended.output.split())

    # WHEN the plan runs again
    second = run_plan(cloud, plan, timeout=120)

    # THEN it completes, the extended server launched exactly once in the database wave, the staging id never
    assert second.status == "COMPLETED", second.report
    assert cloud.drs.stats.launches[extended_id] == 1
    assert cloud.drs.stats.launches[STAGED] == 0
    assert cloud.drs.stats.launches[APP] == 1
    assert second.report is not None
    [db] = [w for w in second.report["waves"] if w["waveId"] == "db"]
    assert [s["sourceServerId"] for s in db["servers"]] == [extended_id]
