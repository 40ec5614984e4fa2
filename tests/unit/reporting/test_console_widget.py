"""The CloudWatch dashboard custom widget (issue #17 item 2): its Lambda renders the latest executions and one
execution's graph and waves from a ledger on moto that the real ledger adapter (through the steps) wrote."""

from __future__ import annotations

import html as html_text
import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from events.models import WaveReady
from handlers import console_widget as widget_handler
from infra.definitions import ledger_table_request
from orchestrator.steps.console_widget import DOCS, answer
from orchestrator.steps.pre_launch import on_wave_ready
from tests.html_page import Page
from tests.unit.steps.world import S1, S2, S3, World, launching, plan, wave

ARN = "arn:aws:lambda:us-east-1:123456789012:function:drs-orch-console-widget"
HOSTILE = '<script>alert("x")</script>&amp;'
CONTEXT = {"widgetContext": {"dashboardName": "drs", "widgetId": "widget-1", "params": {}, "width": 588}}


class _LambdaContext:
    function_name = "drs-orch-console-widget"
    memory_limit_in_mb = 256
    invoked_function_arn = ARN
    aws_request_id = "req-1"


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv(widget_handler.TABLE_VARIABLE, "ledger")
    widget_handler._ledger.cache_clear()
    with mock_aws():
        table = boto3.resource("dynamodb", region_name="us-east-1").create_table(**ledger_table_request("ledger"))
        yield World(table)
    widget_handler._ledger.cache_clear()


def _invoke(event: dict[str, Any]) -> Any:
    """The deployed handler's answer to `event` (the dashboard's call), on the moto ledger."""
    return widget_handler.handler({**CONTEXT, **event}, _LambdaContext())


def _actions(html: str) -> list[tuple[str | None, dict[str, Any]]]:
    """Each <cwdb-action>: its endpoint and its JSON params."""
    found = re.findall(r'<cwdb-action action="call" display="widget" endpoint="([^"]*)">(.*?)</cwdb-action>', html)
    return [(endpoint, json.loads(html_text.unescape(params))) for endpoint, params in found]


def _two_executions(world: World) -> None:
    """e-old (plan p-old) started at 09:00 and launching its wave db; e-new (plan named HOSTILE, two waves) at 09:05."""
    launching(world, plan(wave("db", S1), plan_id="p-old"), execution_id="e1")
    world.advance(300)
    hostile = {**plan(wave("db", S2), wave("app", S3, dependsOn=["db"]), plan_id="p-new"), "name": HOSTILE}
    world.start(hostile, execution_id="e2")


def test_the_list_shows_the_latest_executions_newest_first_each_linking_to_its_view(world: World) -> None:
    # GIVEN two executions in the ledger, both running, the newer with a hostile plan name
    _two_executions(world)

    # WHEN the dashboard calls the widget with no parameter
    html = _invoke({})

    # THEN a row per execution, newest first: id, plan, mode, status, start (duration: still running)
    page = Page(html)
    [table] = [t for t in page.tables if t.css_class == "executions"]
    assert table.rows[0] == ["execution", "plan", "mode", "status", "started", "duration"]
    assert [row[1:] for row in table.rows[1:]] == [
        [HOSTILE, "DRILL", "RUNNING", "2026-01-01T09:05:00.000Z", "—"],
        ["p-old", "DRILL", "RUNNING", "2026-01-01T09:00:00.000Z", "—"],
    ]
    # AND each execution links to its own view through the widget's own function; the plan name is text, not markup
    assert _actions(html) == [(ARN, {"executionId": "e2"}), (ARN, {"executionId": "e1"})]
    assert "<script>" not in html
    assert page.tags("script") == []


def test_limit_lists_that_many_and_a_bad_limit_is_said_in_the_widget(world: World) -> None:
    # GIVEN two executions
    _two_executions(world)
    # WHEN the widget is asked for 1, then for "many"
    one = Page(_invoke({"limit": 1}))
    bad = _invoke({"limit": "many"})
    # THEN the first lists the newest only; the second says what is wrong above the default list
    [table] = [t for t in one.tables if t.css_class == "executions"]
    assert [row[0].split()[0] for row in table.rows[1:]] == ["e2"]
    assert "limit must be a whole number from 1 to 50, not &#39;many&#39;" in bad
    [listed] = [t for t in Page(bad).tables if t.css_class == "executions"]
    assert len(listed.rows) == 3


@pytest.mark.parametrize(
    ("limit", "shown"),
    [
        ("²", "'²'"),  # str.isdigit() admits it, int() does not
        ("٣", "'٣'"),  # an Arabic-Indic digit: not a limit anyone typed
        ("9" * 5000, "'" + "9" * 39),  # int() refuses more than 4,300 digits
        (-1, "-1"),
        (0, "0"),
        ("51", "'51'"),
        (10**30, str(10**30)),
        (1.5, "1.5"),
        (True, "True"),
        ([3], "list"),
        ({"n": 3}, "dict"),
    ],
)
def test_a_limit_that_is_not_one_is_said_in_the_widget_never_raised(world: World, limit: object, shown: str) -> None:
    # GIVEN two executions
    _two_executions(world)
    # WHEN the widget's limit is not a whole number from 1 to 50
    answer = _invoke({"limit": limit})
    # THEN it says so, naming what it was given (cut), above the default list: the function did not fail
    assert f"limit must be a whole number from 1 to 50, not {shown}" in html_text.unescape(answer)
    [listed] = [t for t in Page(answer).tables if t.css_class == "executions"]
    assert len(listed.rows) == 3


def test_one_execution_shows_its_graph_and_each_waves_status(world: World) -> None:
    # GIVEN e2 (db, then app after db) with db ready and pre-launching
    _two_executions(world)
    on_wave_ready(world.rt, WaveReady(execution_id="e2", plan_id="p-new", wave_id="db"), "wr-e2")

    # WHEN the widget is called for e2 (a click on its row)
    html = _invoke({"executionId": "e2"})

    # THEN its waves in plan order with their status, servers, failures and attempt
    page = Page(html)
    [waves] = [t for t in page.tables if t.css_class == "waves"]
    db_status = world.wave_status("e2", "db")
    assert [row[:6] for row in waves.rows] == [
        ["wave", "depends on", "status", "servers launched", "failed", "attempt"],
        ["db", "", db_status, "0/1", "0", "1"],
        ["app", "db", "PENDING", "0/1", "0", "1"],
    ]
    # AND the evidence report's dependency graph: a box per wave with its status, an arrow db -> app
    nodes = [(g["data-wave-id"], g["data-status"]) for g in page.tags("g") if g.get("class") == "node"]
    assert nodes == [("db", db_status), ("app", "PENDING")]
    assert len([p for p in page.tags("path") if p.get("class") == "edge"]) == 1
    # AND the execution's own facts, its plan name as text, and a link back to the list
    [facts] = [t for t in page.tables if t.css_class == "execution"]
    assert facts.rows[0] == ["execution", "e2", "mode", "DRILL"]
    assert HOSTILE in html_text.unescape(html)
    assert "<script>" not in html
    assert _actions(html) == [(ARN, {})]


def test_an_unknown_execution_is_said_in_the_widget_without_an_error(world: World) -> None:
    # GIVEN an empty ledger / WHEN the widget is called for an execution it does not hold
    html = _invoke({"executionId": "nope-000000000000"})
    # THEN it says so, with a link back to the list
    assert Page(html).tags("p")[0]["class"] == "note"
    assert "No execution nope-000000000000 in the ledger." in html
    assert _actions(html) == [(ARN, {})]


def test_an_execution_id_that_is_not_one_is_refused_before_the_ledger_is_read() -> None:
    # GIVEN a ledger that fails any read
    class NoReads:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"the ledger was read: {name}")

    # WHEN the widget is called with markup, or a number, as the execution id
    for bad in ("<b>e1</b>", 42):
        html = answer(NoReads(), {"executionId": bad}, endpoint=ARN)
        # THEN it says what an execution id is, escaped, and reads nothing
        assert "executionId must be an execution id" in html
        assert "<b>" not in html


def test_an_empty_ledger_says_there_is_no_execution_yet(world: World) -> None:
    # GIVEN no execution / WHEN the dashboard calls the widget
    html = _invoke({})
    # THEN no table, a sentence saying how to start one
    assert [t.css_class for t in Page(html).tables] == []
    assert "No execution in the ledger yet: start one with drs-orch run PLAN --aws." in html


def test_describe_returns_the_widget_documentation_as_markdown(world: World) -> None:
    # GIVEN the console asking for the function's documentation / WHEN it calls with describe
    # THEN the answer is the documentation as markdown, and nothing is listed
    assert _invoke({"describe": True}) == {"markdown": DOCS}
    assert "executionId" in DOCS


def test_the_ledger_reads_the_index_the_stack_and_the_local_cloud_create(world: World) -> None:
    # GIVEN the ledger's reader and the one definition of the table
    from infra import definitions
    from orchestrator.adapters.ledger import executions

    # WHEN / THEN both name the same index, and a limit out of range is refused before any read
    assert executions.EXECUTIONS_INDEX == definitions.EXECUTIONS_INDEX
    for bad in (0, executions.MAX_LISTED + 1, True):
        with pytest.raises(ValueError, match="limit must be an integer from 1 to 100"):
            world.ledger.latest_executions(bad)


def test_running_executions_come_first_and_an_ended_one_shows_its_duration() -> None:
    # GIVEN the index's answer, newest first: a completed execution, then an older one still running
    from orchestrator.domain.records.waves import ExecutionListing
    from orchestrator.reporting.console_widget import render_list

    listings = [
        ExecutionListing(
            execution_id="e-done",
            plan_id="p",
            status="COMPLETED",
            mode="DRILL",
            started_at="2026-01-01T10:00:00.000Z",
            ended_at="2026-01-01T10:12:05.500Z",
        ),
        ExecutionListing(
            execution_id="e-run", plan_id="p", status="PAUSED", mode="RECOVERY", started_at="2026-01-01T09:00:00.000Z"
        ),
    ]

    # WHEN the list is rendered
    [table] = [t for t in Page(render_list(listings, endpoint=ARN)).tables if t.css_class == "executions"]

    # THEN the paused one (not ended) first, then the completed one with its duration
    assert [[row[0].split()[0], *row[1:]] for row in table.rows[1:]] == [
        ["e-run", "p", "RECOVERY", "PAUSED", "2026-01-01T09:00:00.000Z", "—"],
        ["e-done", "p", "DRILL", "COMPLETED", "2026-01-01T10:00:00.000Z", "12m05s"],
    ]


def test_the_widget_makes_only_the_calls_its_role_grants(world: World) -> None:
    # GIVEN two executions and the deployed handler's own DynamoDB client, its calls recorded
    _two_executions(world)
    calls: list[tuple[str, str | None]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, params.get("IndexName")))

    widget_handler._ledger()._client.meta.events.register("before-parameter-build.dynamodb", record)

    # WHEN the dashboard shows the list, then one execution
    _invoke({})
    _invoke({"executionId": "e2"})

    # THEN the list is one Query of the index; the execution, GetItem (execution, frozen plan) and Query (its waves)
    # on the table: what infra/constructs/ledger.py CONSOLE_READ_ACTIONS grants, and nothing else
    from infra.definitions import EXECUTIONS_INDEX

    assert calls == [("Query", EXECUTIONS_INDEX), ("GetItem", None), ("GetItem", None), ("Query", None)]
