"""What the dashboard shows, read from the ledger by the readers `drs-orch` already has, and where it comes from.

Two sources, one interface (`Source`):

- `LocalSource`: a local run (`drs-orch run --ui`, `demo --ui`). The local cloud runs on its own loop thread and
  nothing else may call it concurrently, so the loop thread itself reads: `refresh()`, called between its steps
  (`run_session`'s `on_progress`), builds each execution's report with the runner's reader
  (`localcloud.runner.result_of`: `orchestrator.reporting.report.build_report` with the events published for it)
  whenever events were published since the last read, spaced so reads take at most READ_SHARE of the loop's time
  (a 200-wave plan's report takes a good part of a second: read every step, it stalled the run), and wakes the
  pages waiting for a change; a start the orchestrator refused (PlanFailed) shows REJECTED with its reason.
  Commands go to the run's control socket, as `drs-orch approve ...` from another shell sends them
  (`drs_orch.control.send_local`).
- `LedgerSource`: a deployed stack (`drs-orch ui --aws --table NAME`), read with the operator's own credentials:
  the latest executions (at most `MAX_LISTED`) by `Ledger.latest_executions` (one Query of the table's
  executions-by-start index, as the console widget lists them), one execution by
  `orchestrator.reporting.stored.ledger_report`
  (the report `drs-orch report` prints). The ledger has no change feed the operator reads, so a page polls it
  every `interval` seconds (2 by default) and is sent only what changed; a read AWS refuses (AccessDenied,
  throttling) is `SourceUnavailable` (the page's 502). Commands go to the stack's operator URL signed with the
  operator's credentials (`drs_orch.control.send_aws`).

`execution_rows` orders the list (running first, then the newest); `moments` lists what the ledger recorded of
each wave (its attempt's times, its approval's) when no event was kept (the ledger keeps none: the bus archive does).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from drs_orch import control
from events.models import Contract
from orchestrator.adapters.ledger.executions import MAX_LISTED
from orchestrator.domain.clock import parse_iso
from orchestrator.domain.records.waves import ExecutionListing
from orchestrator.domain.status import EXECUTION_FINAL
from orchestrator.reporting.report import APPROVAL_TIME_KEYS, ATTEMPT_TIME_KEYS

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud
    from localcloud.runner import RunResult
    from orchestrator.adapters.ledger import Ledger

MIN_REFRESH_SECONDS = 0.25  # the local loop rebuilds the reports at most this often (real seconds)
READ_SHARE = 0.2  # at most this share of the local loop's time goes to the dashboard's reads
REJECTED_PROBLEMS_SHOWN = 5  # a refused plan's problems the page names (PlanFailed lists up to 50)
REJECTED = "REJECTED"  # a start the orchestrator refused: no execution in the ledger, only its PlanFailed
POLL_SECONDS = 2.0  # how often a page of a deployed stack reads the ledger again


@dataclass(frozen=True)
class ExecutionRow:
    """One execution in the list: ids, plan, DRILL or RECOVERY, status, start (ISO 8601) and duration in seconds
    (until its end, or until now while it runs; None before it started)."""

    execution_id: str
    plan: str
    mode: str
    status: str
    started_at: str | None
    duration_seconds: float | None

    @property
    def running(self) -> bool:
        return self.status not in EXECUTION_FINAL and self.status != REJECTED


def listing_item(execution: ExecutionListing) -> dict[str, Any]:
    """An execution as the index lists it, under the item's attribute names `execution_rows` reads."""
    return {
        "executionId": execution.execution_id,
        "planId": execution.plan_id,
        "planName": execution.plan_name,
        "mode": execution.mode,
        "status": execution.status,
        "startedAt": execution.started_at,
        "endedAt": execution.ended_at,
    }


def execution_rows(items: Iterable[Mapping[str, Any]], now: datetime) -> list[ExecutionRow]:
    """The list's rows from execution items or reports (`executionId`, `planId`, `planName`, `mode`, `status`,
    `startedAt`, `endedAt`): the running ones first, then each group newest first; `now` ends a running one's
    duration."""
    rows = []
    for item in items:
        started, ended = item.get("startedAt"), item.get("endedAt")
        duration = None
        if isinstance(started, str) and started:
            until = parse_iso(ended) if isinstance(ended, str) and ended else now
            duration = max((until - parse_iso(started)).total_seconds(), 0.0)
        rows.append(
            ExecutionRow(
                execution_id=str(item.get("executionId")),
                plan=str(item.get("planName") or item.get("planId") or ""),
                mode=str(item.get("mode") or ""),
                status=str(item.get("status") or "UNKNOWN"),
                started_at=started if isinstance(started, str) else None,
                duration_seconds=duration,
            )
        )
    newest_first = sorted(rows, key=lambda row: row.started_at or "", reverse=True)
    return sorted(newest_first, key=lambda row: not row.running)


def rejected_report(execution_id: str, rejections: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The report a page shows of a start the orchestrator refused: status REJECTED, `rejectedReason` each
    PlanFailed's reason with its first problems (`path: message`), no waves."""
    reasons, plan_id = [], ""
    for rejection in rejections:
        plan_id = str(rejection.get("planId") or plan_id)
        problems = [
            f"{problem.get('path') or problem.get('waveId') or 'plan'}: {problem.get('message')}"
            for problem in list(rejection.get("errors") or [])[:REJECTED_PROBLEMS_SHOWN]
            if isinstance(problem, Mapping)
        ]
        reasons.append("; ".join([str(rejection.get("reason")), *problems]))
    return {
        "executionId": execution_id,
        "planId": plan_id,
        "mode": "",
        "status": REJECTED,
        "rejectedReason": " / ".join(reasons) or "the orchestrator refused the start",
        "waves": [],
    }


def moments(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What the ledger recorded of each wave, oldest first: `{time, waveId, what}` for each moment of its current
    attempt (`ATTEMPT_TIME_KEYS`: readyAt ... endedAt) and of its approval (`APPROVAL_TIME_KEYS`)."""
    found = []
    for wave in report.get("waves") or []:
        if not isinstance(wave, Mapping):
            continue
        recorded = wave.get("approval")
        approval: Mapping[str, Any] = recorded if isinstance(recorded, Mapping) else {}
        for source, keys in ((wave, ATTEMPT_TIME_KEYS), (approval, APPROVAL_TIME_KEYS)):
            for key in keys:
                value = source.get(key)
                if isinstance(value, str) and value:
                    what = ("approval " if source is approval else "") + key.removesuffix("At")
                    found.append({"time": value, "waveId": wave.get("waveId"), "what": what})
    return sorted(found, key=lambda moment: moment["time"])


class SourceUnavailable(Exception):
    """The source could not be read (the ledger refused or failed the read: AccessDenied, throttling, an
    unreachable endpoint): `reason`, said to the operator; the dashboard answers 502 with it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _read_failure(exc: Exception, what: str) -> SourceUnavailable:
    """A botocore error reading `what` as the reason the page shows: the AWS error code and message when AWS
    answered one (ClientError), else botocore's message (no credentials, endpoint unreachable)."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return SourceUnavailable(f"{what}: {error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": "))
    return SourceUnavailable(f"{what}: {exc}")


class Source(Protocol):
    """Where the dashboard reads executions and sends commands."""

    description: str  # shown on every page: "local run ..." or "ledger table ... (region)"
    local: bool

    def executions(self) -> list[ExecutionRow]:
        """The executions to list (SourceUnavailable when they cannot be read)."""
        ...

    def report(self, execution_id: str) -> dict[str, Any] | None:
        """The execution's report (`build_report`'s shape), or None when the source has no such execution;
        SourceUnavailable when it cannot be read."""
        ...

    def send(self, command: Contract) -> control.Outcome: ...

    def wait(self, seen: int, timeout: float) -> int:
        """Block until the source may have changed since version `seen` (or `timeout` seconds, or close); the
        version now. A first call (`seen` < 0) returns at once."""
        ...

    @property
    def closed(self) -> bool: ...

    def close(self) -> None: ...


class LocalSource:
    """The executions of a local run; `refresh()` runs on the cloud's loop thread (see the module's docstring).

    The loop's time is the run's: a read (a report of a 200-wave plan takes a good part of a second) holds the loop,
    so reads are spaced so they take at most READ_SHARE of the loop's time: after a read of `d` seconds the next
    waits until `d * (1 / READ_SHARE - 1)` seconds have passed (and at least MIN_REFRESH_SECONDS), however often
    the loop offers one and however many pages watch (they share the one read). `read` (the runner's reader) and
    `clock` (monotonic seconds) are the test's seams."""

    local = True

    def __init__(
        self,
        cloud: LocalCloud,
        execution_ids: Iterable[str],
        *,
        as_: str | None = None,
        read: Callable[[LocalCloud, str], RunResult] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.description = "local run on the embedded local cloud (simulated clock)"
        self._cloud = cloud
        self._ids = list(execution_ids)
        self._as = as_
        self._read = read
        self._clock = clock
        self._reports: dict[str, dict[str, Any]] = {}
        self._now = datetime.now(UTC)
        self._seen_events = -1
        self._next = 0.0  # the loop's clock: no read before (unless forced)
        self._version = 0
        self._closed = False
        self._changed = threading.Condition()
        self.reads = 0  # how many times the executions were read

    def _reader(self) -> Callable[[LocalCloud, str], RunResult]:
        if self._read is None:
            from localcloud.runner import result_of

            self._read = result_of
        return self._read

    def refresh(self, *, force: bool = False) -> None:
        """On the loop thread: read every execution again when events were published since the last read (spaced
        as the class says, unless `force`), and wake the waiting pages when something changed. A start the
        orchestrator refused (PlanFailed, nothing in the ledger) is shown REJECTED with its reason."""
        published = len(self._cloud.events)
        began = self._clock()
        if not force and (published == self._seen_events or began < self._next):
            return
        self._seen_events = published
        reports = {}
        for execution_id in self._ids:
            result = self._reader()(self._cloud, execution_id)
            if result.report is not None:
                reports[execution_id] = result.report
            elif result.status == REJECTED:
                reports[execution_id] = rejected_report(execution_id, result.rejected)
        with self._changed:
            if json.dumps(reports, sort_keys=True, default=str) != json.dumps(
                self._reports, sort_keys=True, default=str
            ):
                self._reports = reports
                self._version += 1
            self._now = self._cloud.clock.now()
            self._changed.notify_all()
        self.reads += 1
        ended = self._clock()
        self._next = ended + max(MIN_REFRESH_SECONDS, (ended - began) * (1 / READ_SHARE - 1))

    def executions(self) -> list[ExecutionRow]:
        with self._changed:
            now = self._now
        return execution_rows([r for r in map(self.report, self._ids) if r is not None], now)

    def report(self, execution_id: str) -> dict[str, Any] | None:
        """The execution's report as last read; one STARTING and without waves while its StartPlan has not been
        handled yet; None for an execution this run does not serve."""
        if execution_id not in self._ids:
            return None
        with self._changed:
            report = self._reports.get(execution_id)
        if report is None:
            return {"executionId": execution_id, "planId": "", "mode": "", "status": "STARTING", "waves": []}
        copied: dict[str, Any] = json.loads(json.dumps(report))  # the page's own copy: the loop replaces, never edits
        return copied

    def send(self, command: Contract) -> control.Outcome:
        return control.send_local(command, as_=self._as)

    def wait(self, seen: int, timeout: float) -> int:
        with self._changed:
            self._changed.wait_for(lambda: self._version != seen or self._closed, timeout=timeout)
            return self._version

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()


class LedgerSource:
    """The executions of a deployed stack's ledger, read with the operator's credentials; commands through its
    operator URL (`url`, else `$DRS_ORCH_OPERATOR_URL`, else the `OperatorUrl` output of `stack`)."""

    local = False

    def __init__(
        self,
        ledger: Ledger,
        *,
        region: str | None = None,
        url: str | None = None,
        stack: str = "DrsOrchestrator",
        interval: float = POLL_SECONDS,
    ) -> None:
        self.description = f"ledger table {ledger.table_name}" + (f" ({region})" if region else "")
        self._ledger = ledger
        self._region, self._url, self._stack = region, url, stack
        self._interval = interval
        self._stop = threading.Event()

    def executions(self) -> list[ExecutionRow]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            listed = self._ledger.latest_executions(MAX_LISTED)
        except (BotoCoreError, ClientError) as exc:
            raise _read_failure(exc, f"listing the executions of the {self.description}") from exc
        return execution_rows((listing_item(execution) for execution in listed), datetime.now(UTC))

    def report(self, execution_id: str) -> dict[str, Any] | None:
        from botocore.exceptions import BotoCoreError, ClientError

        from orchestrator.reporting.stored import ledger_report

        try:
            return ledger_report(self._ledger, execution_id)
        except (BotoCoreError, ClientError) as exc:
            raise _read_failure(exc, f"reading {execution_id[:200]} from the {self.description}") from exc

    def send(self, command: Contract) -> control.Outcome:
        return control.send_aws(command, url=self._url, stack=self._stack, region=self._region)

    def _window(self) -> int:
        return int(time.monotonic() // self._interval)

    def wait(self, seen: int, timeout: float) -> int:
        """The ledger has no change feed here: a version is a poll window of `interval` seconds, the same for
        every page (their streams share one read and rendering per window: `app.SharedRenders`); wait for the next
        window (or `timeout`, or close)."""
        if seen >= 0:
            ahead = (seen + 1) * self._interval - time.monotonic()
            if ahead > 0:
                self._stop.wait(min(ahead, timeout))
        return self._window()

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        self._stop.set()
