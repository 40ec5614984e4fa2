"""Servers replicated in a staging account: how a plan names them (stagingAccountID + stagingSourceServerID), the
mistakes refused at their plan line, and how StartPlan's resolution to extended source servers freezes them
(orchestrator/domain/staging.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.domain.plan import PlanError, load_plan, parse_plan, plan_to_document
from orchestrator.domain.staging import (
    ExtendedSourceServer,
    extension_reason,
    parse_source_server_arn,
    resolve_staging,
    staging_accounts,
    staging_servers,
)

ACCOUNT, OTHER = "111122223333", "444455556666"
STAGED_A, STAGED_B, LOCAL = "s-5000000000000000a", "s-5000000000000000b", "s-1000000000000000a"
EXTENDED_A = "s-e0000000000000001"


def _arn(account: str, sid: str) -> str:
    return f"arn:aws:drs:us-east-1:{account}:source-server/{sid}"


def _extended(sid: str, account: str, staged: str, *, error: str | None = None) -> ExtendedSourceServer:
    return ExtendedSourceServer(sid, account, _arn(account, staged), "EXTENSION_ERROR" if error else "EXTENDED", error)


def _plan(*servers: object) -> dict[str, object]:
    return {"planId": "p", "waves": [{"waveId": "db", "servers": list(servers)}]}


def test_a_staging_server_is_named_by_its_account_and_its_id_there() -> None:
    # GIVEN a wave with a staging server (no sourceServerID) beside a server of this account
    plan = parse_plan(_plan({"stagingAccountID": ACCOUNT, "stagingSourceServerID": STAGED_A}, LOCAL))
    # THEN it is a staging server awaiting its extension: its id is the staging one until StartPlan resolves it
    staged, local = plan.waves[0].servers
    assert (staged.source_server_id, staged.staging_account_id, staged.is_staging, staged.awaits_extension) == (
        STAGED_A,
        ACCOUNT,
        True,
        True,
    )
    assert (local.is_staging, local.awaits_extension) == (False, False)
    assert staging_accounts(plan) == [ACCOUNT]
    assert [(s.wave_id, s.key, s.criticality) for s in staging_servers(plan)] == [
        ("db", (ACCOUNT, STAGED_A), "CRITICAL")
    ]
    # AND the plan round-trips through its document (the frozen plan is read back the same)
    assert parse_plan(plan_to_document(plan)) == plan


def test_staging_mistakes_are_refused_at_their_plan_line(tmp_path: Path) -> None:
    # GIVEN a plan with an unquoted account id, a short one, a half-named staging server and a bad staging id
    path = tmp_path / "plan.yaml"
    path.write_text(
        "planId: p\n"
        "waves:\n"
        "  - waveId: db\n"
        "    servers:\n"
        f"      - {{stagingAccountID: {ACCOUNT}, stagingSourceServerID: {STAGED_A}}}\n"
        f"      - {{stagingAccountID: '11112222333', stagingSourceServerID: {STAGED_B}}}\n"
        f"      - {{stagingAccountID: '{ACCOUNT}'}}\n"
        f"      - {{stagingAccountID: '{OTHER}', stagingSourceServerID: s-bad}}\n"
    )
    # WHEN it is loaded
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    # THEN each mistake is named at its line and path
    messages = [str(p) for p in caught.value.problems]
    assert any(m.startswith(f"{path}:5: waves[0].servers[0].stagingAccountID") and "quote it" in m for m in messages), (
        messages
    )
    assert any(
        m.startswith(f"{path}:6: waves[0].servers[1].stagingAccountID") and "malformed stagingAccountID" in m
        for m in messages
    ), messages
    assert any(
        m.startswith(f"{path}:7: waves[0].servers[2]") and "needs both stagingAccountID and stagingSourceServerID" in m
        for m in messages
    ), messages
    assert any(
        m.startswith(f"{path}:8: waves[0].servers[3].stagingSourceServerID") and "malformed" in m for m in messages
    ), messages
    assert len(messages) == 4, messages


def test_the_same_staging_server_twice_in_a_wave_is_a_duplicate() -> None:
    # GIVEN one staging server listed twice
    staged = {"stagingAccountID": ACCOUNT, "stagingSourceServerID": STAGED_A}
    # WHEN the plan is parsed THEN it is refused as a server listed twice
    with pytest.raises(PlanError, match="listed twice"):
        parse_plan(_plan(staged, dict(staged)))


def test_resolution_freezes_each_extended_server_and_leaves_the_others_awaiting() -> None:
    # GIVEN two staging servers, one extended into this account, and a server of this account
    plan = parse_plan(
        _plan(
            {"stagingAccountID": ACCOUNT, "stagingSourceServerID": STAGED_A, "criticality": "OPTIONAL"},
            {"stagingAccountID": ACCOUNT, "stagingSourceServerID": STAGED_B},
            LOCAL,
        )
    )
    # WHEN it is resolved against DRS's extended servers (one of another staging account's same id is ignored)
    resolved = resolve_staging(
        plan, [_extended(EXTENDED_A, ACCOUNT, STAGED_A), _extended("s-e0000000000000009", OTHER, STAGED_B)]
    )
    # THEN the extended one launches as its extended server, keeping its settings; the other awaits
    a, b, local = resolved.waves[0].servers
    assert (a.source_server_id, a.staging_source_server_id, a.criticality.value, a.awaits_extension) == (
        EXTENDED_A,
        STAGED_A,
        "OPTIONAL",
        False,
    )
    assert (b.source_server_id, b.awaits_extension) == (STAGED_B, True)
    assert local.source_server_id == LOCAL
    # AND the frozen document reads back to the same resolved plan
    assert parse_plan(plan_to_document(resolved)) == resolved


def test_extension_reasons_name_the_staging_server_and_what_is_wrong() -> None:
    plan = parse_plan(_plan({"stagingAccountID": ACCOUNT, "stagingSourceServerID": STAGED_A}))
    awaiting = plan.waves[0].servers[0]
    resolved = resolve_staging(plan, [_extended(EXTENDED_A, ACCOUNT, STAGED_A)]).waves[0].servers[0]
    origin = f"staging server {STAGED_A} of account {ACCOUNT}"
    # not extended at all
    assert extension_reason(awaiting, None) == (
        f"{origin} is not extended into this account (drs-orch extend PLAN creates its extended source server)"
    )
    # extended after the execution froze it
    assert "after this execution started" in str(extension_reason(awaiting, _extended(EXTENDED_A, ACCOUNT, STAGED_A)))
    # resolved and healthy: nothing to say
    assert extension_reason(resolved, _extended(EXTENDED_A, ACCOUNT, STAGED_A)) is None
    # resolved, but DRS now reports its extension broken
    broken = _extended(EXTENDED_A, ACCOUNT, STAGED_A, error="staging role missing")
    assert extension_reason(resolved, broken) == (
        f"extended source server {EXTENDED_A} of {origin} is in EXTENSION_ERROR: staging role missing"
    )
    # resolved, but its extension was deleted since
    assert "is not extended" in str(extension_reason(resolved, None))


def test_source_server_arns_are_parsed_as_the_drs_model_spells_them() -> None:
    assert parse_source_server_arn(_arn(ACCOUNT, STAGED_A)) == (ACCOUNT, STAGED_A)
    assert parse_source_server_arn(f"arn:aws-us-gov:drs:us-gov-west-1:{ACCOUNT}:source-server/{STAGED_A}") == (
        ACCOUNT,
        STAGED_A,
    )
    assert parse_source_server_arn(f"arn:aws:drs:us-east-1:{ACCOUNT}:job/drsjob-1") is None
    assert ExtendedSourceServer.from_item({"sourceServerID": LOCAL, "stagingArea": {"status": "NOT_EXTENDED"}}) is None
