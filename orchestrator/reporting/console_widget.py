"""What the stack's CloudWatch dashboard custom widget shows (issue #17 item 2): the latest executions from the ledger
and, for one of them, its dependency graph and each wave's status. HTML, read-only, built from the ledger's reads
alone: the executions index (`Ledger.latest_executions`), one execution with its frozen plan (`Ledger.execution`),
its waves (`Ledger.waves`): GetItem and Query, nothing else (infra/constructs/ledger.py `CONSOLE_READ_ACTIONS`).

The custom widget contract (CloudWatch user guide, "Details about custom widgets in CloudWatch" and "Interactivity
in the custom widget", https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/add_custom_widget_dashboard_about.html):
the dashboard invokes the function with the widget's parameters as the event's own keys and a `widgetContext`; the
function returns HTML (no JavaScript: the console strips it) or `{"markdown": ...}`. A `<cwdb-action action="call"
display="widget" endpoint="ARN">{params}</cwdb-action>` right after an element makes a click on it invoke the function
again with those params and show its answer in place of the widget: each execution of the list links to its own
view so, and the view links back to the list. The drawing of the graph is the evidence report's
(`orchestrator.reporting.graph_svg`). Every value from the ledger is escaped and made inert (the templates'
environment, `orchestrator.reporting.templating`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from markupsafe import Markup

from orchestrator.domain.clock import parse_iso
from orchestrator.domain.records import ExecutionRecord, WaveRecord
from orchestrator.domain.records.waves import ExecutionListing
from orchestrator.domain.status import EXECUTION_FINAL
from orchestrator.reporting.graph_svg import GraphWave, render_graph_svg
from orchestrator.reporting.html import tone
from orchestrator.reporting.templating import environment


class WidgetLedger(Protocol):
    """The ledger's reads the widget makes (`orchestrator.adapters.ledger.Ledger` has them)."""

    def latest_executions(self, limit: int = 20) -> list[ExecutionListing]: ...

    def execution(self, execution_id: str) -> ExecutionRecord | None: ...

    def waves(self, execution_id: str) -> list[WaveRecord]: ...


@dataclass(frozen=True)
class WidgetWave:
    """A wave's row in the execution's view: status in words, servers launched of its count, failed, why."""

    wave_id: str
    status: str
    depends_on: tuple[str, ...]
    launched: int
    servers: int
    failed: int
    attempt: int
    reason: str | None


def _duration(started: str | None, ended: str | None) -> str | None:
    """`12m05s` from `started` to `ended` (ISO 8601); None without both."""
    if not started or not ended:
        return None
    seconds = max(0, int((parse_iso(ended) - parse_iso(started)).total_seconds()))
    return f"{seconds // 60}m{seconds % 60:02d}s"


def _action(endpoint: str, params: Mapping[str, Any]) -> Markup:
    """A `<cwdb-action>` that invokes `endpoint` (the widget's own function) with `params` on a click on the element
    just before it and shows the answer in the widget. The params are JSON text, HTML-escaped."""
    return Markup('<cwdb-action action="call" display="widget" endpoint="{}">{}</cwdb-action>').format(
        endpoint, json.dumps(dict(params), sort_keys=True)
    )


def render_list(listings: Sequence[ExecutionListing], *, endpoint: str, note: str | None = None) -> str:
    """The latest executions as an HTML table, running ones first then newest first (as listed): execution (a link
    to its own view), plan, mode, status (in words, coloured), started, duration. `note`: a message shown above it
    (a parameter that was not understood)."""
    running = [e for e in listings if e.status not in EXECUTION_FINAL]
    ended = [e for e in listings if e.status in EXECUTION_FINAL]
    rows = [
        {
            "listing": listing,
            "tone": tone(listing.status),
            "duration": _duration(listing.started_at, listing.ended_at),
            "action": _action(endpoint, {"executionId": listing.execution_id}),
        }
        for listing in [*running, *ended]
    ]
    return environment().get_template("console_widget.html.j2").render(view="list", rows=rows, note=note, back=None)


def _plan_order(execution: ExecutionRecord, waves: Sequence[WaveRecord]) -> list[WaveRecord]:
    """The waves in the frozen plan's order (the ledger lists them by id); those the plan does not name, last."""
    try:
        named = [str(w.get("waveId")) for w in json.loads(execution.plan_document).get("waves", [])]
    except (ValueError, AttributeError, TypeError):
        named = []
    rank = {wave_id: index for index, wave_id in enumerate(named)}
    return sorted(waves, key=lambda w: (rank.get(w.wave_id, len(rank)), w.wave_id))


def widget_waves(execution: ExecutionRecord, waves: Sequence[WaveRecord]) -> list[WidgetWave]:
    """The execution's waves as the view shows them, in plan order."""
    return [
        WidgetWave(
            wave_id=wave.wave_id,
            status=wave.status.value,
            depends_on=tuple(wave.depends_on),
            launched=wave.current.servers_launched or 0,
            servers=wave.server_count,
            failed=wave.servers_failed,
            attempt=wave.attempt,
            reason=wave.current.reason or wave.failed_reason,
        )
        for wave in _plan_order(execution, waves)
    ]


def render_execution(execution: ExecutionRecord, waves: Sequence[WaveRecord], *, endpoint: str) -> str:
    """One execution: plan, id, mode, status, started, ended, who started it; its dependency graph (the evidence
    report's drawing) with each wave's status; a row per wave (status, servers launched of its count, failed,
    attempt, reason); a link back to the list."""
    rows = widget_waves(execution, waves)
    graph = render_graph_svg(
        [
            GraphWave(w.wave_id, depends_on=w.depends_on, status=w.status, attempt=w.attempt, reason=w.reason)
            for w in rows
        ],
        id_prefix="cw",
    )
    return (
        environment()
        .get_template("console_widget.html.j2")
        .render(
            view="execution",
            execution=execution,
            tone=tone(execution.status.value),
            duration=_duration(execution.started_at, execution.ended_at),
            waves=[{"wave": w, "tone": tone(w.status)} for w in rows],
            graph=graph,
            note=None,
            back=_action(endpoint, {}),
        )
    )


def render_message(message: str, *, endpoint: str) -> str:
    """A message in the widget (an unknown execution, a parameter not understood), with a link to the list."""
    return (
        environment()
        .get_template("console_widget.html.j2")
        .render(view="message", note=message, back=_action(endpoint, {}))
    )
