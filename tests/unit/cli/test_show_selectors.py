"""`drs-orch show PLAN` resolves a plan's sourceServerTags before any run: against a simulation profile's
source servers (`--sim`) or the account's (`--aws`: DescribeSourceServers, every page, FAILBACK servers left
out), printing who is in which wave and why, or every problem at its plan line (exit 2); `validate` notes
that selectors are resolved when the execution starts (a warning)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import yaml
from botocore.stub import Stubber
from typer.testing import CliRunner

from drs_orch.app import app

runner = CliRunner()
LISTED, DB2, WEB1, WEB2, OTHER = (
    "s-1000000000000000a",
    "s-1000000000000000b",
    "s-2000000000000000a",
    "s-2000000000000000b",
    "s-3000000000000000a",
)
DB, WEB = {"app": "shop", "tier": "db"}, {"app": "shop", "tier": "web"}
PLAN = """\
planId: tagged
waves:
  - waveId: db
    servers: [s-1000000000000000a]
    sourceServerTags: {app: shop, tier: db}
  - waveId: web
    dependsOn: [db]
    sourceServerTags: {app: shop, tier: web}
"""


def _files(tmp_path: Path, plan: str = PLAN, **tagged: dict[str, str]) -> tuple[Path, Path]:
    plan_path, profile = tmp_path / "plan.yaml", tmp_path / "profile.yaml"
    plan_path.write_text(plan)
    servers = tagged or {DB2: DB, WEB1: WEB, WEB2: {**WEB, "extra": "x"}, OTHER: {"app": "crm", "tier": "web"}}
    profile.write_text(yaml.safe_dump({"drs": {"servers": {sid: {"tags": tags} for sid, tags in servers.items()}}}))
    return plan_path, profile


def test_show_sim_resolves_the_selectors_against_the_profile(tmp_path: Path) -> None:
    # GIVEN a plan selecting by tag and a profile tagging its source servers
    plan, profile = _files(tmp_path)
    # WHEN it is shown as JSON against the profile
    result = runner.invoke(app, ["show", str(plan), "--sim", str(profile), "--json"])
    # THEN every wave holds what its selector selects, and says why each server is there
    assert result.exit_code == 0, result.output
    db, web = json.loads(result.output)["waves"]
    assert (db["servers"], db["sourceServerTags"]) == ([LISTED, DB2], DB)
    assert db["selection"] == {
        LISTED: "listed",
        DB2: "selected by sourceServerTags app=shop, tier=db",
    }
    assert (web["servers"], web["jobs"]) == ([WEB1, WEB2], [2])
    assert web["selection"] == {
        WEB1: "selected by sourceServerTags app=shop, tier=web",
        WEB2: "selected by sourceServerTags app=shop, tier=web",
    }


def test_show_sim_prints_who_is_in_which_wave(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a plan selecting by tag and a profile tagging its source servers
    _files(tmp_path)
    monkeypatch.chdir(tmp_path)
    # WHEN it is shown against the profile
    result = runner.invoke(app, ["show", "plan.yaml", "--sim", "profile.yaml"])
    # THEN the tree names each wave's selector and each selected server with the reason
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.replace("│", " ").replace("├──", " ").replace("└──", " ").split())
    assert text.startswith("tagged (2 waves, 4 servers) Layer 1 (starts first) db: 2 servers in 1 DRS job [2] ")
    assert (
        f"sourceServerTags app=shop, tier=web (resolved against profile profile.yaml) "
        f"{WEB1}: selected by sourceServerTags app=shop, tier=web {WEB2}: selected by sourceServerTags app=shop, "
        "tier=web launch 2 servers"
    ) in text
    assert f"{LISTED}: listed {DB2}: selected by sourceServerTags app=shop, tier=db" in text


def test_show_without_sim_or_aws_says_when_selectors_are_resolved(tmp_path: Path) -> None:
    # GIVEN a plan selecting by tag
    plan, _ = _files(tmp_path)
    # WHEN it is shown without --sim or --aws
    result = runner.invoke(app, ["show", str(plan), "--json"])
    # THEN the waves hold only their listed servers, with their selectors unresolved
    assert result.exit_code == 0, result.output
    db, web = json.loads(result.output)["waves"]
    assert (db["servers"], db["sourceServerTags"], db["selection"]) == ([LISTED], DB, None)
    assert (web["servers"], web["sourceServerTags"], web["selection"]) == ([], WEB, None)


def test_show_sim_names_a_selector_that_selects_nothing_at_its_line(tmp_path: Path) -> None:
    # GIVEN no server of the profile is the shop's web tier
    plan, profile = _files(tmp_path, **{DB2: DB})
    # WHEN it is shown against the profile
    result = runner.invoke(app, ["show", str(plan), "--sim", str(profile)], terminal_width=300)
    # THEN it exits 2 with the problem at the selector's line
    assert result.exit_code == 2
    assert result.output.splitlines()[0] == (
        f"{plan}:8: waves[1].sourceServerTags (wave web): the sourceServerTags of wave 'web' (app=shop, tier=web) "
        "select no source server (of the 2 there are)"
    )


def test_show_sim_names_a_listed_server_another_wave_selects_at_both_lines(tmp_path: Path) -> None:
    # GIVEN db lists WEB1, which web's selector also picks
    plan, profile = _files(tmp_path, PLAN.replace(LISTED, WEB1))
    # WHEN it is shown against the profile
    result = runner.invoke(app, ["show", str(plan), "--sim", str(profile)], terminal_width=400)
    # THEN it exits 2 naming both places with their lines
    assert result.exit_code == 2
    assert result.output.splitlines()[0] == (
        f"{plan}:8: waves[1].sourceServerTags (wave web): source server '{WEB1}' is listed in wave 'db' "
        "(waves[0].servers[0], line 4) and selected by the sourceServerTags of wave 'web' (waves[1].sourceServerTags, "
        "line 8): a server launches in one wave (narrow a selector with one more tag, or list the server in one wave "
        "only)"
    )


def _server(server_id: str, tags: dict[str, str], direction: str = "FAILOVER") -> dict[str, Any]:
    return {"sourceServerID": server_id, "tags": tags, "replicationDirection": direction}


def test_show_aws_resolves_against_every_page_of_the_account_leaving_failback_servers_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the account's source servers in two pages, one of them a web server replicating back
    client = botocore.session.get_session().create_client(
        "drs", region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    stubber = Stubber(client)
    stubber.add_response(
        "describe_source_servers",
        {"items": [_server(DB2, DB), _server(WEB1, WEB)], "nextToken": "page-2"},
        {"filters": {}},
    )
    stubber.add_response(
        "describe_source_servers",
        {"items": [_server(WEB2, WEB, "FAILBACK")]},
        {"filters": {}, "nextToken": "page-2"},
    )
    regions: list[str | None] = []

    def make_client(service: str, region_name: str | None = None) -> Any:
        assert service == "drs"
        regions.append(region_name)
        return client

    monkeypatch.setattr("boto3.client", make_client)
    plan, _ = _files(tmp_path)
    # WHEN it is shown against the account
    with stubber:
        result = runner.invoke(app, ["show", str(plan), "--aws", "--region", "eu-west-1", "--json"])
        stubber.assert_no_pending_responses()
    # THEN both pages were read, and the server failing back is not selected
    assert result.exit_code == 0, result.output
    assert regions == ["eu-west-1"]
    db, web = json.loads(result.output)["waves"]
    assert (db["servers"], web["servers"]) == ([LISTED, DB2], [WEB1])


def test_validate_notes_that_selectors_are_resolved_when_the_execution_starts(tmp_path: Path) -> None:
    # GIVEN a plan selecting by tag
    plan, _ = _files(tmp_path)
    # WHEN it is validated
    result = runner.invoke(app, ["validate", str(plan)], terminal_width=400)
    # THEN it is valid, with a warning at each selector's line
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{plan}:5: waves[0].sourceServerTags (wave db): warning: wave 'db' selects its servers by sourceServerTags "
        "(app=shop, tier=db): they are resolved when the execution starts, against the source servers DRS has then "
        "(see who is selected with drs-orch show PLAN --sim PROFILE, or --aws)",
        f"{plan}:8: waves[1].sourceServerTags (wave web): warning: wave 'web' selects its servers by sourceServerTags "
        "(app=shop, tier=web): they are resolved when the execution starts, against the source servers DRS has then "
        "(see who is selected with drs-orch show PLAN --sim PROFILE, or --aws)",
        f"✓ {plan}: plan 'tagged' is valid (2 waves, 1 server, 2 warnings)",
    ]
