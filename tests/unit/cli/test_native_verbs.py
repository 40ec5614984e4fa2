"""`drs-orch import-native` and `export-native` against a simulation profile's DRS (`--sim`): a native plan of the
profile becomes our plan file; our diamond becomes a native plan of its layers after the flattening is printed;
a native plan's WAIT steps become WAIT steps of its waves; an unknown plan, 21 steps, a bad name and a name another
plan holds exit 2 and write nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from drs_orch.app import app
from orchestrator.domain.plan import load_plan

runner = CliRunner()
DB, APP, WEB = "s-d0000000000000001", "s-a0000000000000001", "s-w0000000000000001"
SHOP = {
    "name": "shop",
    "description": "three tiers",
    "steps": [
        {"name": "Databases", "servers": {DB: "CRITICAL"}},
        {"name": "App tier", "servers": {APP: "OPTIONAL"}},
        {"name": "Web", "servers": {WEB: "CRITICAL"}},
    ],
}
DIAMOND = """\
planId: diamond
waves:
  - {waveId: A, servers: [s-a0000000000000001]}
  - {waveId: B, dependsOn: [A], servers: [s-b0000000000000001, s-b0000000000000002]}
  - {waveId: C, dependsOn: [A], servers: [s-c0000000000000001]}
  - {waveId: D, dependsOn: [B, C], servers: [s-d0000000000000001]}
"""


def _profile(tmp_path: Path, *plans: dict[str, Any]) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump({"drs": {"recoveryPlans": list(plans)}}))
    return path


def _text(output: str) -> str:
    """The output on one line, without the frame of a usage error."""
    return " ".join(output.replace("│", " ").split())


def test_import_native_writes_the_chain_of_waves_of_the_native_plan(tmp_path: Path) -> None:
    # GIVEN a profile whose DRS has the native plan 'shop'
    profile, out = _profile(tmp_path, SHOP), tmp_path / "shop.yaml"

    # WHEN it is imported by name
    result = runner.invoke(app, ["import-native", "shop", "-o", str(out), "--sim", str(profile)])

    # THEN the file holds a valid plan of three chained waves with the servers' criticality
    assert result.exit_code == 0, result.output
    assert _text(result.output) == (
        f"native plan 'shop' (3 steps) -> plan 'shop' (3 waves in a chain: Databases -> App-tier -> Web), written "
        f"to {out}"
    )
    plan = load_plan(out)
    assert [
        (w.wave_id, w.depends_on, [(s.source_server_id, s.criticality.value) for s in w.servers]) for w in plan.waves
    ] == [
        ("Databases", [], [(DB, "CRITICAL")]),
        ("App-tier", ["Databases"], [(APP, "OPTIONAL")]),
        ("Web", ["App-tier"], [(WEB, "CRITICAL")]),
    ]
    assert out.read_text().startswith(
        "# Imported by drs-orch import-native from the native DRS recovery plan 'shop' "
        "(arn:aws:drs:us-east-1:123456789012:recovery-plan/rp-"
    )


def test_import_native_refuses_an_unknown_plan_and_writes_nothing(tmp_path: Path) -> None:
    profile, out = _profile(tmp_path, SHOP), tmp_path / "out.yaml"

    unknown = runner.invoke(app, ["import-native", "nope", "-o", str(out), "--sim", str(profile)])
    assert unknown.exit_code == 2
    assert _text(unknown.output) == (
        f"no native recovery plan named 'nope' in profile {profile} (simulated: nothing persists) (it has: shop)"
    )
    by_arn = runner.invoke(
        app,
        [
            "import-native",
            "arn:aws:drs:us-east-1:123456789012:recovery-plan/rp-00000000000000000",
            "-o",
            str(out),
            "--sim",
            str(profile),
        ],
    )
    assert by_arn.exit_code == 2
    assert "no native recovery plan arn:aws:drs:us-east-1:123456789012:recovery-plan/rp-00000000000000000 in" in _text(
        by_arn.output
    )
    assert not out.exists()  # nothing written


def test_import_native_writes_wait_steps_as_waits_of_the_waves(tmp_path: Path) -> None:
    # GIVEN a native plan that waits 5 minutes between its SERVER steps, and 1 minute after the last
    waiting = {
        "name": "paused",
        "steps": [
            {"name": "db", "servers": {DB: "CRITICAL"}},
            {"name": "settle", "waitMinutes": 5},
            {"name": "web", "servers": {WEB: "CRITICAL"}},
            {"name": "cool", "waitMinutes": 1},
        ],
    }
    profile, out = _profile(tmp_path, waiting), tmp_path / "out.yaml"

    # WHEN it is imported
    result = runner.invoke(app, ["import-native", "paused", "-o", str(out), "--sim", str(profile)])

    # THEN the waits are the second wave's pre-launch and post-launch WAIT steps, in seconds
    assert result.exit_code == 0, result.output
    assert _text(result.output) == (
        f"native plan 'paused' (4 steps) -> plan 'paused' (2 waves in a chain: db -> web, 2 WAIT step(s) in them), "
        f"written to {out}"
    )
    web = load_plan(out).wave("web")
    assert [(s.type.value, s.seconds) for s in web.pre_launch] == [("WAIT", 300)]
    assert [(s.type.value, s.seconds) for s in web.post_launch] == [("WAIT", 60)]
    # AND the option that dropped them is gone
    dropped = runner.invoke(app, ["import-native", "paused", "-o", str(out), "--sim", str(profile), "--drop-waits"])
    assert dropped.exit_code == 2
    assert "No such option: --drop-waits" in _text(dropped.output)


def test_export_native_of_a_diamond_explains_the_flattening_then_creates_its_layers(tmp_path: Path) -> None:
    # GIVEN a diamond plan and an empty simulated account
    plan = tmp_path / "diamond.yaml"
    plan.write_text(DIAMOND)

    # WHEN it is exported
    result = runner.invoke(app, ["export-native", str(plan), "--sim", str(_profile(tmp_path))])

    # THEN the flattening is printed first, then the native plan of its three layers
    assert result.exit_code == 0, result.output
    text = _text(result.output)
    assert text.startswith(
        f"a native plan cannot express 1 thing(s) of {plan}: - layer 2: waves B, C are parallel branches; they "
        "become one step 'B and C' that launches their servers together and ends when all of them have created "
        "native recovery plan 'diamond': arn:aws:drs:us-east-1:123456789012:recovery-plan/rp-"
    )
    assert text.endswith(
        "1. A: SERVER 1 server(s): s-a0000000000000001 "
        "2. B and C: SERVER 3 server(s): s-b0000000000000001, s-b0000000000000002, s-c0000000000000001 "
        "3. D: SERVER 1 server(s): s-d0000000000000001"
    )


def test_export_native_updates_only_a_plan_it_made_and_dry_run_writes_nothing(tmp_path: Path) -> None:
    plan = tmp_path / "diamond.yaml"
    plan.write_text(DIAMOND)
    mine = {
        "name": "diamond",
        "tags": {"drs-orch:plan-id": "diamond"},
        "steps": [{"name": "old", "servers": {WEB: "CRITICAL"}}],
    }
    profile = _profile(tmp_path, mine, SHOP)

    # a plan of that name that this plan made: its steps are replaced
    updated = runner.invoke(app, ["export-native", str(plan), "--sim", str(profile)])
    assert updated.exit_code == 0, updated.output
    assert "updated native recovery plan 'diamond': arn:aws:drs:" in _text(updated.output)

    # --dry-run says what it would do
    dry = runner.invoke(app, ["export-native", str(plan), "--sim", str(profile), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "dry run: would replace the steps of native recovery plan 'diamond' (arn:aws:drs:" in _text(dry.output)

    # a plan of that name made outside drs-orch is left alone
    taken = runner.invoke(app, ["export-native", str(plan), "--sim", str(profile), "--name", "shop"])
    assert taken.exit_code == 2
    assert "a native recovery plan named 'shop' already exists in profile" in _text(taken.output)
    assert "made outside drs-orch: pass --name for another name; nothing was written" in _text(taken.output)


def test_export_native_refuses_21_steps_and_invalid_names(tmp_path: Path) -> None:
    waves = [
        {"waveId": f"w{n}", "servers": [f"s-{n:017d}"], **({"dependsOn": [f"w{n - 1}"]} if n else {})}
        for n in range(21)
    ]
    long_plan, dotted = tmp_path / "long.yaml", tmp_path / "dotted.yaml"
    long_plan.write_text(yaml.safe_dump({"planId": "long", "waves": waves}))
    dotted.write_text(DIAMOND.replace("planId: diamond", "planId: shop.v2"))
    profile = _profile(tmp_path)

    too_long = runner.invoke(app, ["export-native", str(long_plan), "--sim", str(profile)])
    assert too_long.exit_code == 2
    assert _text(too_long.output) == (
        f"{long_plan}: plan 'long' needs 21 native steps (21 dependency layers, of at most 100 servers per step); a "
        "native recovery plan has at most 20; nothing was written"
    )
    bad_id = runner.invoke(app, ["export-native", str(dotted), "--sim", str(profile)])
    assert bad_id.exit_code == 2
    assert _text(bad_id.output) == (
        "'shop.v2' is not a valid native recovery plan name (1 to 256 letters, digits, spaces, '_' and '-', starting "
        f"with a letter or digit) (the plan id of {dotted}; pass --name)"
    )
    bad_name = runner.invoke(app, ["export-native", str(dotted), "--sim", str(profile), "--name", "-x"])
    assert (bad_name.exit_code, "'-x' is not a valid native recovery plan name" in bad_name.output) == (2, True)


def test_neither_or_both_targets_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["import-native", "shop", "-o", str(tmp_path / "x.yaml")])
    assert result.exit_code == 2
    assert _text(result.output) == "pass --aws (the account) or --sim PROFILE (a simulation profile), one of them"


def test_a_profile_native_plan_that_drs_refuses_or_that_is_malformed_is_a_usage_error(tmp_path: Path) -> None:
    out = tmp_path / "x.yaml"
    both = _profile(tmp_path, {"name": "p", "steps": [{"name": "s", "servers": {DB: "CRITICAL"}, "waitMinutes": 3}]})
    malformed = runner.invoke(app, ["import-native", "p", "-o", str(out), "--sim", str(both)])
    assert malformed.exit_code == 2
    assert "a step has servers (a SERVER step) or waitMinutes (a WAIT step), not both or neither" in _text(
        malformed.output
    )
    too_long = _profile(tmp_path, {"name": "p", "steps": [{"name": "w", "waitMinutes": 121}]})
    refused = runner.invoke(app, ["import-native", "p", "-o", str(out), "--sim", str(too_long)])
    assert refused.exit_code == 2
    assert "drs.recoveryPlans[0]: waitDurationMinutes must be between 1 and 120, got 121" in _text(refused.output)
