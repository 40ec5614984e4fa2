"""StartPlan with waves that choose their servers by DRS source-server tags (issue #14 item 4), against fakes:
the selectors are resolved once, when the execution starts (every DescribeSourceServers page, servers
replicating back left out), frozen into the execution with a compact record of why each server is in its
wave; a resolution with problems is refused with nothing created; a repeated StartPlan reuses what was
frozen, whatever the tags are now."""

from __future__ import annotations

import json

import pytest

from events.models import ControlRejected, Mode, PlanFailed, PlanStarted, Problem, StartPlan, WaveReady
from orchestrator.adapters.drs import DrsPermanentError, DrsThrottled
from orchestrator.domain.execution import frozen_plan
from orchestrator.reporting.report import build_report
from orchestrator.steps.start_plan import start_plan
from tests.unit.steps.world import S1, S2, S3, World, plan, server_id, wave

S4, S5 = server_id(4), server_id(5)
DB, WEB = {"app": "shop", "tier": "db"}, {"app": "shop", "tier": "web"}


def _tagged(world: World) -> None:
    """S1 and S2 are the shop's databases, S3 its web server; S4 is a web server replicating back (FAILBACK);
    S5 belongs to another application."""
    world.drs.add_source_server(S1, tags=DB)
    world.drs.add_source_server(S2, tags=DB)
    world.drs.add_source_server(S3, tags=WEB)
    world.drs.add_source_server(S4, tags=WEB, direction="FAILBACK")
    world.drs.add_source_server(S5, tags={"app": "crm", "tier": "web"})


def _selecting() -> dict:
    """db lists S1 and also selects the shop's databases; web only selects the shop's web servers."""
    return plan(wave("db", S1, sourceServerTags=DB), wave("web", dependsOn=["db"], sourceServerTags=WEB))


def _items(world: World) -> list[dict]:
    return world.ledger._table.scan(ConsistentRead=True)["Items"]


def test_selected_servers_are_frozen_into_the_execution_with_why_each_is_in_its_wave(world: World) -> None:
    # GIVEN tagged source servers and a plan whose waves select by tag
    _tagged(world)
    # WHEN it is started
    assert start_plan(world.rt, StartPlan(plan=_selecting(), execution_id="e1"), "evt-1") == "e1"
    # THEN the frozen plan lists what was selected (after what the wave lists) and no selector
    execution = world.ledger.execution("e1")
    assert execution is not None
    frozen = frozen_plan(execution)
    assert [w.server_ids for w in frozen.waves] == [[S1, S2], [S3]]
    assert [w.source_server_tags for w in frozen.waves] == [None, None]
    # AND the ledger has a server item for each, so the web wave launches S3 (not 0 servers)
    assert set(world.ledger.wave_detail("e1", world.ledger.wave("e1", "web")).servers) == {S3}
    # AND the record of the resolution is kept beside the frozen plan, compactly
    record = json.loads(execution.resolution or "")
    assert {key: record[key] for key in ("sourceServers", "failbackSkipped", "waves")} == {
        "sourceServers": 4,
        "failbackSkipped": 1,
        "waves": {
            "db": {"sourceServerTags": DB, "listed": 1, "alsoSelected": [S1]},
            "web": {"sourceServerTags": WEB, "listed": 0, "alsoSelected": []},
        },
    }
    # AND the run starts as any other
    assert world.bus.published == [
        PlanStarted(
            execution_id="e1", plan_id="p", mode=Mode.DRILL, plan_name="p", wave_ids=["db", "web"], root_wave_ids=["db"]
        ),
        WaveReady(execution_id="e1", plan_id="p", wave_id="db"),
    ]


def test_the_report_says_which_selector_chose_each_server(world: World) -> None:
    # GIVEN a started plan whose waves select by tag
    _tagged(world)
    start_plan(world.rt, StartPlan(plan=_selecting(), execution_id="e1"), "evt-1")
    # WHEN its report is built
    report = build_report(world.ledger, "e1")
    # THEN each selecting wave names its selector, what it selected and why each server is there
    assert report is not None
    db, web = report["waves"]
    assert (db["sourceServerTags"], db["selectedServerIds"]) == (DB, [S1, S2])
    assert [(s["sourceServerId"], s["selection"]) for s in db["servers"]] == [
        (S1, "listed (also selected by sourceServerTags app=shop, tier=db)"),
        (S2, "selected by sourceServerTags app=shop, tier=db"),
    ]
    assert (web["sourceServerTags"], web["selectedServerIds"]) == (WEB, [S3])
    assert [(s["sourceServerId"], s["selection"]) for s in web["servers"]] == [
        (S3, "selected by sourceServerTags app=shop, tier=web")
    ]


def test_a_plan_without_selectors_reads_no_source_server_and_reports_as_before(world: World) -> None:
    # GIVEN a plan that only lists servers, and DescribeSourceServers failing if it were called
    world.drs.fail("list_source_servers", DrsPermanentError("AccessDeniedException", "AccessDeniedException"))
    # WHEN it is started
    assert start_plan(world.rt, StartPlan(plan=plan(wave("db", S1)), execution_id="e1"), "evt-1") == "e1"
    # THEN the source servers were not read, nothing of a resolution is kept and the report has no selection
    assert world.drs.unused_errors() == {"list_source_servers": 1}
    execution = world.ledger.execution("e1")
    assert execution is not None
    assert execution.resolution is None
    report = build_report(world.ledger, "e1")
    assert report is not None
    [db] = report["waves"]
    assert "sourceServerTags" not in db
    assert "selection" not in db["servers"][0]


def test_selectors_that_do_not_resolve_are_refused_with_every_problem_and_nothing_created(world: World) -> None:
    # GIVEN S3 carries both the shop's web tags and the cache tier's: web and cache both select it, and the
    # batch wave selects nothing
    world.drs.add_source_server(S1)
    world.drs.add_source_server(S3, tags={**WEB, "cache": "yes"})
    document = plan(
        wave("db", S1),
        wave("web", dependsOn=["db"], sourceServerTags=WEB),
        wave("cache", dependsOn=["db"], sourceServerTags={"cache": "yes"}),
        wave("batch", dependsOn=["db"], sourceServerTags={"tier": "batch"}),
    )
    # WHEN it is started
    assert start_plan(world.rt, StartPlan(plan=document, execution_id="e1"), "evt-1") is None
    # THEN one PlanFailed names each problem, its wave and both places
    [failed] = world.bus.published
    assert isinstance(failed, PlanFailed)
    assert failed.reason == "tag selectors refused: 2 problem(s)"
    assert failed.errors == [
        Problem(
            message=(
                f"source server '{S3}' is selected by the sourceServerTags of wave 'web' (waves[1].sourceServerTags) "
                "and selected by the sourceServerTags of wave 'cache' (waves[2].sourceServerTags): a server launches "
                "in one wave (narrow a selector with one more tag, or list the server in one wave only)"
            ),
            code="server-selected-twice",
            wave_id="cache",
            path="waves[2].sourceServerTags",
        ),
        Problem(
            message="the sourceServerTags of wave 'batch' (tier=batch) select no source server (of the 2 there are)",
            code="selector-selects-nothing",
            wave_id="batch",
            path="waves[3].sourceServerTags",
        ),
    ]
    # AND nothing was created: the ledger holds only the record of the refusal
    assert world.ledger.get_execution("e1") is None
    assert [item["kind"] for item in _items(world)] == ["DECISION"]


def test_a_listed_server_another_wave_selects_is_refused_naming_both_places(world: World) -> None:
    # GIVEN db lists S3, which web's selector also picks
    world.drs.add_source_server(S3, tags=WEB)
    document = plan(wave("db", S3), wave("web", dependsOn=["db"], sourceServerTags=WEB))
    # WHEN it is started
    assert start_plan(world.rt, StartPlan(plan=document, execution_id="e1"), "evt-1") is None
    # THEN the PlanFailed names where it is listed and which selector picks it
    [failed] = world.bus.published
    assert isinstance(failed, PlanFailed)
    assert [(e.code, e.wave_id, e.path, e.message) for e in failed.errors] == [
        (
            "server-selected-twice",
            "web",
            "waves[1].sourceServerTags",
            f"source server '{S3}' is listed in wave 'db' (waves[0].servers[0]) and selected by the sourceServerTags "
            "of wave 'web' (waves[1].sourceServerTags): a server launches in one wave (narrow a selector with one "
            "more tag, or list the server in one wave only)",
        )
    ]
    assert world.ledger.get_execution("e1") is None


def test_a_redelivered_start_after_a_tag_change_reuses_what_was_frozen(world: World) -> None:
    # GIVEN a started plan whose web wave selected S3
    _tagged(world)
    detail = StartPlan(plan=_selecting(), execution_id="e1")
    start_plan(world.rt, detail, "evt-1")
    first = world.ledger.get_execution("e1")
    announced = list(world.bus.published)
    # AND since then S3 lost its tags (web would now select nothing) and S5 joined the shop's web tier;
    # reading the source servers again would fail
    world.drs.source_servers[S3]["tags"] = {}
    world.drs.source_servers[S5]["tags"] = dict(WEB)
    world.drs.fail("list_source_servers", DrsPermanentError("AccessDeniedException", "AccessDeniedException"))
    # WHEN the same event is delivered again
    again = start_plan(world.rt, detail, "evt-1")
    # THEN it is the same start: the frozen plan and its servers unchanged, no refusal, the same announcements
    assert again == "e1"
    assert world.ledger.get_execution("e1") == first
    assert world.bus.published == announced + announced
    # AND the source servers were not read again
    assert world.drs.unused_errors() == {"list_source_servers": 1}


def test_the_same_start_under_another_event_after_a_tag_change_changes_nothing(world: World) -> None:
    # GIVEN a started plan, and S3's tags changed since
    _tagged(world)
    start_plan(world.rt, StartPlan(plan=_selecting(), execution_id="e1"), "evt-1")
    first = world.ledger.get_execution("e1")
    world.bus.published.clear()
    world.drs.source_servers[S3]["tags"] = {}
    # WHEN another event starts the same plan under the same execution id
    again = start_plan(world.rt, StartPlan(plan=_selecting(), execution_id="e1"), "evt-2")
    # THEN nothing is created, announced or refused
    assert again is None
    assert world.bus.published == []
    assert world.ledger.get_execution("e1") == first


def test_another_plan_under_a_started_id_is_refused_without_resolving_it(world: World) -> None:
    # GIVEN a started plan
    _tagged(world)
    start_plan(world.rt, StartPlan(plan=_selecting(), execution_id="e1"), "evt-1")
    first = world.ledger.get_execution("e1")
    world.bus.published.clear()
    world.drs.fail("list_source_servers", DrsPermanentError("AccessDeniedException", "AccessDeniedException"))
    # WHEN a plan with other selectors is started under e1
    other = plan(wave("db", sourceServerTags={"app": "crm"}))
    assert start_plan(world.rt, StartPlan(plan=other, execution_id="e1"), "evt-2") is None
    # THEN a ControlRejected answers, e1 is as it was, and the source servers were not read
    [rejected] = world.bus.published
    assert isinstance(rejected, ControlRejected)
    assert rejected.reason == (
        "executionId 'e1' belongs to an execution of plan 'p' (DRILL, RUNNING) started with another plan or "
        "mode: refused, and that execution is not affected"
    )
    assert world.ledger.get_execution("e1") == first
    assert world.drs.unused_errors() == {"list_source_servers": 1}


def test_a_start_that_crashed_before_its_plan_was_stored_resolves_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a start whose Lambda died after the execution item was put, before its plan and waves were written
    _tagged(world)
    detail = StartPlan(plan=_selecting(), execution_id="e1")
    real = world.ledger._batch_put

    def crash(items: list[dict]) -> None:
        raise RuntimeError("the Lambda died")

    monkeypatch.setattr(world.ledger, "_batch_put", crash)
    with pytest.raises(RuntimeError, match="the Lambda died"):
        start_plan(world.rt, detail, "evt-1")
    monkeypatch.setattr(world.ledger, "_batch_put", real)
    # AND S2 was untagged meanwhile
    world.drs.source_servers[S2]["tags"] = {}
    # WHEN the event is delivered again
    assert start_plan(world.rt, detail, "evt-1") == "e1"
    # THEN the selectors are resolved afresh (nothing of the first resolution was stored) and the run starts
    execution = world.ledger.execution("e1")
    assert execution is not None
    assert execution.status.value == "RUNNING"
    assert [w.server_ids for w in frozen_plan(execution).waves] == [[S1], [S3]]
    assert [started.wave_ids for started in world.bus.of(PlanStarted)] == [["db", "web"]]


def test_a_throttled_read_is_retried_and_a_refused_one_refuses_the_start(world: World) -> None:
    # GIVEN DescribeSourceServers throttled
    _tagged(world)
    world.drs.fail("list_source_servers", DrsThrottled("Rate exceeded", "ThrottlingException"))
    detail = StartPlan(plan=_selecting(), execution_id="e1")
    # WHEN the plan is started, THEN the error is raised (EventBridge delivers the StartPlan again), nothing created
    with pytest.raises(DrsThrottled):
        start_plan(world.rt, detail, "evt-1")
    assert world.ledger.get_execution("e1") is None
    assert world.bus.published == []
    # WHEN the read is denied instead
    world.drs.fail("list_source_servers", DrsPermanentError("User is not authorized", "AccessDeniedException"))
    assert start_plan(world.rt, detail, "evt-1") is None
    # THEN the start is refused, saying why
    [failed] = world.bus.published
    assert isinstance(failed, PlanFailed)
    assert [(e.code, e.path, e.message) for e in failed.errors] == [
        (
            "source-servers-unreadable",
            "waves",
            "the source servers could not be read (DescribeSourceServers: User is not authorized)",
        )
    ]
    assert world.ledger.get_execution("e1") is None
