"""End to end: waves that choose their servers by DRS source-server tags (issue #14 item 4) on the local cloud.
The profile tags source servers the plan never names; StartPlan reads them (DescribeSourceServers, in pages
of two here), freezes the selection, and the report says which selector chose each server. A selector that
selects nothing, or a server two waves select, is refused at start naming the wave and the places, with
nothing created or launched."""

from __future__ import annotations

from typing import Any

from localcloud.runner import run_plan, start, wait
from orchestrator.domain.plan import parse_plan
from tests.e2e.helpers import assert_choreography_invariants, events_of, execution, sid, start_recovery_calls, wave

DB, WEB = {"app": "shop", "tier": "db"}, {"app": "shop", "tier": "web"}
LISTED, DB2, WEB1, WEB2, OTHER = sid("d", 1), sid("d", 2), sid("w", 1), sid("w", 2), sid("o", 1)


def _tags(**servers: dict[str, str]) -> dict[str, Any]:
    return {f"drs.servers.{server}.tags": tags for server, tags in servers.items()}


def _profile() -> dict[str, Any]:
    """DB2 is a shop database; WEB1 and WEB2 its web servers; OTHER another application's web server."""
    return {
        "drs.pageSize": 2,
        f"drs.servers.{DB2}.tags": DB,
        f"drs.servers.{WEB1}.tags": WEB,
        f"drs.servers.{WEB2}.tags": WEB,
        f"drs.servers.{OTHER}.tags": {"app": "crm", "tier": "web"},
    }


def test_a_plan_selecting_by_tag_launches_what_it_selected_and_reports_why(local_cloud) -> None:
    # GIVEN tagged source servers, and a plan whose db wave lists one server and selects the shop's databases,
    # and whose web wave only selects the shop's web servers
    cloud = local_cloud(**_profile())
    plan = {
        "planId": "tagged",
        "waves": [
            wave("db", [LISTED], sourceServerTags=DB),
            {"waveId": "web", "dependsOn": ["db"], "sourceServerTags": WEB},
        ],
    }

    # WHEN it runs
    result = run_plan(cloud, parse_plan(plan), timeout=120)

    # THEN every selected server launched in its wave, and nothing else
    assert result.status == "COMPLETED"
    assert result.report is not None
    db, web = result.report["waves"]
    assert [(s["sourceServerId"], s["launchStatus"]) for s in db["servers"]] == [
        (LISTED, "LAUNCHED"),
        (DB2, "LAUNCHED"),
    ]
    assert [(s["sourceServerId"], s["launchStatus"]) for s in web["servers"]] == [
        (WEB1, "LAUNCHED"),
        (WEB2, "LAUNCHED"),
    ]
    # AND the report says which selector chose each server
    assert (db["sourceServerTags"], db["selectedServerIds"]) == (DB, [DB2])
    assert [s["selection"] for s in db["servers"]] == ["listed", "selected by sourceServerTags app=shop, tier=db"]
    assert (web["sourceServerTags"], web["selectedServerIds"]) == (WEB, [WEB1, WEB2])
    assert [s["selection"] for s in web["servers"]] == ["selected by sourceServerTags app=shop, tier=web"] * 2
    assert_choreography_invariants(cloud, result.execution_id)


def _refused(cloud: Any, plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Start `plan`; assert it was refused with one PlanFailed and nothing created or launched; its errors."""
    calls = start_recovery_calls(cloud)
    execution_id = start(cloud, parse_plan(plan))
    result = wait(cloud, execution_id, timeout=60)
    assert result.status == "REJECTED"
    [failed] = [e.detail for e in events_of(cloud, "PlanFailed") if e.detail["executionId"] == execution_id]
    assert execution(cloud, execution_id) is None
    assert start_recovery_calls(cloud) == calls
    assert cloud.stats.handler_errors == 0
    return list(failed["errors"])


def test_a_selector_that_selects_nothing_is_refused_at_start_naming_its_wave(local_cloud) -> None:
    # GIVEN no source server carries the cache tier's tags
    cloud = local_cloud(**_profile())
    plan = {
        "planId": "no-cache",
        "waves": [
            wave("db", [LISTED]),
            {"waveId": "cache", "dependsOn": ["db"], "sourceServerTags": {"tier": "cache"}},
        ],
    }
    # WHEN it is started, THEN it is refused naming the wave and its selector's place in the plan
    assert _refused(cloud, plan) == [
        {
            "version": "1",
            "message": "the sourceServerTags of wave 'cache' (tier=cache) select no source server (of the 5 there are)",
            "code": "selector-selects-nothing",
            "waveId": "cache",
            "path": "waves[1].sourceServerTags",
        }
    ]


def test_a_server_two_waves_select_is_refused_at_start_naming_both(local_cloud) -> None:
    # GIVEN WEB1 is also the shop's cache: the web wave and the cache wave both select it
    cloud = local_cloud(**{**_profile(), **_tags(**{WEB1: {**WEB, "cache": "yes"}})})
    plan = {
        "planId": "twice",
        "waves": [
            wave("db", [LISTED]),
            {"waveId": "web", "dependsOn": ["db"], "sourceServerTags": WEB},
            {"waveId": "cache", "dependsOn": ["db"], "sourceServerTags": {"cache": "yes"}},
        ],
    }
    # WHEN it is started, THEN it is refused naming the server and both waves' selectors
    assert _refused(cloud, plan) == [
        {
            "version": "1",
            "message": (
                f"source server '{WEB1}' is selected by the sourceServerTags of wave 'web' (waves[1].sourceServerTags) "
                "and selected by the sourceServerTags of wave 'cache' (waves[2].sourceServerTags): a server launches "
                "in one wave (narrow a selector with one more tag, or list the server in one wave only)"
            ),
            "code": "server-selected-twice",
            "waveId": "cache",
            "path": "waves[2].sourceServerTags",
        }
    ]
