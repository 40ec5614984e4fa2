"""`drs-orch extend PLAN` against a DRS simulator served to every boto3 client (`--aws`, as on an account): the table
of what it will create, the confirmation (asked on a terminal, refused without one unless --yes), the creation of
each missing extended source server, skipping what is extended (a second run creates nothing), and a refused
creation reported with DRS's message."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from drs_orch import extend_verb
from drs_orch.app import app
from localcloud.clock import SimClock
from localcloud.drs_sim import DrsSimConfig, DrsSimulator, install_globally, uninstall_globally

runner = CliRunner()
ACCOUNT, UNTRUSTING = "111122223333", "444455556666"
STAGED_A, STAGED_B, STAGED_X = "s-5000000000000000a", "s-5000000000000000b", "s-6000000000000000a"
AWS = ["--aws", "--region", "us-east-1"]


@pytest.fixture
def drs(monkeypatch: pytest.MonkeyPatch) -> Iterator[DrsSimulator]:
    profile = {
        "stagingAccounts": {
            ACCOUNT: {"servers": {STAGED_A: {"hostname": "db-1"}, STAGED_B: {"extended": True}}},
            UNTRUSTING: {"trustsRecoveryAccount": False, "servers": {STAGED_X: None}},
        }
    }
    simulator = DrsSimulator(SimClock(), DrsSimConfig.from_profile(profile))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    install_globally(simulator)
    try:
        yield simulator
    finally:
        uninstall_globally()


def _plan(tmp_path: Path, *servers: object) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump({"planId": "shop", "waves": [{"waveId": "db", "servers": list(servers)}]}))
    return path


def _staged(account: str, sid: str) -> dict[str, str]:
    return {"stagingAccountID": account, "stagingSourceServerID": sid}


def _text(output: str) -> str:
    return " ".join(output.replace("│", " ").split())


def _extended(simulator: DrsSimulator) -> dict[str, str]:
    """staging ARN -> extended source server id, as DRS now describes them."""
    with simulator._lock:
        servers = list(simulator._servers)
    found: dict[str, str] = {}
    for sid in servers:
        extension = simulator.staging.extension_of(sid)
        if extension is not None:
            found[extension.staging_arn] = sid
    return found


def _arn(account: str, sid: str) -> str:
    return f"arn:aws:drs:us-east-1:{account}:source-server/{sid}"


def test_with_yes_it_creates_the_missing_one_and_skips_the_extended_then_creates_nothing(
    drs: DrsSimulator, tmp_path: Path
) -> None:
    # GIVEN a plan with a staging server to extend, one already extended, and a server of this account
    plan = _plan(tmp_path, _staged(ACCOUNT, STAGED_A), _staged(ACCOUNT, STAGED_B), "s-1000000000000000a")
    before = _extended(drs)

    # WHEN extend runs with --yes
    first = runner.invoke(app, ["extend", str(plan), "--yes", *AWS])

    # THEN the table shows what it will do, then the missing one is created (tagged with the plan) and reported
    assert first.exit_code == 0, first.output
    created = _extended(drs)[_arn(ACCOUNT, STAGED_A)]
    text = _text(first.output)
    assert f"{ACCOUNT} {STAGED_A} db-1 will create" in text
    assert f"{STAGED_B} extended as {before[_arn(ACCOUNT, STAGED_B)]} (skipped)" in text
    assert f"{ACCOUNT}/{STAGED_A}: created {created} (EXTENDED)" in text
    assert "1 created, 0 refused, 1 already extended" in text
    assert drs.stats.calls["CreateExtendedSourceServer"] == 1
    with drs._lock:
        assert drs._servers[created].tags == {extend_verb.PLAN_ID_TAG: "shop"}

    # WHEN it runs again THEN nothing is created: both are extended
    second = runner.invoke(app, ["extend", str(plan), "--yes", *AWS])
    assert second.exit_code == 0, second.output
    assert "nothing to create: every staging server of the plan is extended" in _text(second.output)
    assert drs.stats.calls["CreateExtendedSourceServer"] == 1


def test_without_a_terminal_and_without_yes_it_refuses_and_creates_nothing(drs: DrsSimulator, tmp_path: Path) -> None:
    # GIVEN a plan with a staging server to extend, and no terminal (the CliRunner's stdin is not one)
    plan = _plan(tmp_path, _staged(ACCOUNT, STAGED_A))
    # WHEN extend runs without --yes
    result = runner.invoke(app, ["extend", str(plan), *AWS])
    # THEN it refuses (exit 2) with what to do, after showing the table, and creates nothing
    assert result.exit_code == 2, result.output
    assert "refusing to create 1 extended source server(s) without confirmation" in _text(result.output)
    assert "pass --yes" in _text(result.output)
    assert drs.stats.calls["CreateExtendedSourceServer"] == 0


def test_on_a_terminal_it_asks_and_a_no_creates_nothing_a_yes_creates(
    drs: DrsSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a terminal to ask on
    monkeypatch.setattr(extend_verb, "_interactive", lambda: True)
    plan = _plan(tmp_path, _staged(ACCOUNT, STAGED_A))
    # WHEN the operator answers no
    declined = runner.invoke(app, ["extend", str(plan), *AWS], input="n\n")
    # THEN nothing is created (exit 1: what the plan needs is still missing)
    assert declined.exit_code == 1, declined.output
    assert "create 1 extended source server(s)? [y/N]" in declined.output
    assert "nothing was created" in declined.output
    assert drs.stats.calls["CreateExtendedSourceServer"] == 0
    # WHEN the operator answers yes THEN it is created
    accepted = runner.invoke(app, ["extend", str(plan), *AWS], input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert _arn(ACCOUNT, STAGED_A) in _extended(drs)


def test_a_refused_creation_is_reported_with_drss_message_and_exits_1(drs: DrsSimulator, tmp_path: Path) -> None:
    # GIVEN a plan whose second staging server's account does not trust this one
    plan = _plan(tmp_path, _staged(ACCOUNT, STAGED_A), _staged(UNTRUSTING, STAGED_X))
    # WHEN extend runs
    result = runner.invoke(app, ["extend", str(plan), "--yes", *AWS])
    # THEN the trusted one is created, the other refused with DRS's message, and the exit is 1
    assert result.exit_code == 1, result.output
    text = _text(result.output)
    assert f"{UNTRUSTING}/{STAGED_X}: its staging account's extensible servers could not be read" in text
    assert f"{UNTRUSTING}/{STAGED_X}: refused: AccessDeniedException: Staging account {UNTRUSTING}" in text
    assert "1 created, 1 refused, 0 already extended" in text
    assert set(_extended(drs)) == {_arn(ACCOUNT, STAGED_A), _arn(ACCOUNT, STAGED_B)}


def test_a_plan_without_staging_servers_has_nothing_to_extend(drs: DrsSimulator, tmp_path: Path) -> None:
    result = runner.invoke(app, ["extend", str(_plan(tmp_path, "s-1000000000000000a")), *AWS])
    assert result.exit_code == 0, result.output
    assert "names no server replicated in a staging account: nothing to extend" in _text(result.output)
    assert drs.stats.calls == {}


def test_a_simulation_profile_rehearses_it_without_persisting(tmp_path: Path) -> None:
    # GIVEN a profile with a staging account (no simulator installed: --sim makes its own)
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump({"drs": {"stagingAccounts": {ACCOUNT: {"servers": {STAGED_A: None}}}}}))
    plan = _plan(tmp_path, _staged(ACCOUNT, STAGED_A))
    # WHEN extend runs against it twice THEN each run creates it (nothing persists between them)
    for _ in range(2):
        result = runner.invoke(app, ["extend", str(plan), "--yes", "--sim", str(profile)])
        assert result.exit_code == 0, result.output
        assert "1 created, 0 refused, 0 already extended" in _text(result.output)


def test_validate_notes_each_staging_server_at_its_line(tmp_path: Path) -> None:
    # GIVEN a plan with a staging server (second line of its wave's servers) and a server of this account
    plan = _plan(tmp_path, "s-1000000000000000a", _staged(ACCOUNT, STAGED_A))
    # WHEN it is validated THEN it is valid, with one warning at the staging server saying how it resolves
    result = runner.invoke(app, ["validate", str(plan)])
    assert result.exit_code == 0, result.output
    text = _text(result.output)
    assert (
        f"waves[0].servers[1] (wave db): warning: server {STAGED_A} of staging account {ACCOUNT} launches through "
        "its extended source server in this account, found when the execution starts" in text
    )
    assert "1 warning" in text
