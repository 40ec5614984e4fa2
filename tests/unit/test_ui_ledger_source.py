"""The dashboard of a deployed stack reads the ledger as `drs-orch report` does (the adapter tier, moto's DynamoDB):
the latest executions by `Ledger.latest_executions` (one Query of the executions-by-start index, the execution items
only), one execution by `ledger_report`; an execution the ledger does not hold is None (the page's 404)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from drs_orch.ui.feed import LedgerSource, SourceUnavailable
from orchestrator.adapters.ledger import Ledger, Outcome
from orchestrator.domain.status import ExecutionStatus
from tests.unit.moto_ledger import SettableClock, ledger_table


class _CountedQueries:
    """The ledger's table, counting the Queries of each index (None: the table itself) and refusing any Scan."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self.queries: list[str | None] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def query(self, **kwargs: Any) -> Any:
        self.queries.append(kwargs.get("IndexName"))
        return self._table.query(**kwargs)

    def scan(self, **kwargs: Any) -> Any:
        raise AssertionError("the dashboard must not Scan the ledger")


@pytest.fixture
def table() -> Iterator[_CountedQueries]:
    with mock_aws():
        yield _CountedQueries(ledger_table())


def _create(ledger: Ledger, execution_id: str, mode: str = "DRILL") -> None:
    outcome = ledger.create_execution(
        execution_id=execution_id,
        plan_id="shop",
        plan_name="Shop <b>",
        plan_document={
            "planId": "shop",
            "waves": [{"waveId": "db", "servers": [{"sourceServerID": "s-00000000000000001"}]}],
        },
        mode=mode,
        requested_by="alice",
        key=f"start-{execution_id}",
        waves=[{"waveId": "db", "dependsOn": [], "dependents": [], "onFailure": "STOP", "servers": {}}],
    )
    assert outcome is Outcome.WON


def test_the_list_and_one_execution_come_from_the_ledger(table: _CountedQueries) -> None:
    # GIVEN a ledger with two executions (each with its wave, plan and server items beside it), one of them ended
    clock = SettableClock()
    ledger = Ledger(table, clock)  # type: ignore[arg-type]
    _create(ledger, "exec-1")
    _create(ledger, "exec-2", mode="RECOVERY")
    for execution_id in ("exec-1", "exec-2"):
        ledger.set_execution_status(
            execution_id, from_=[ExecutionStatus.CREATING], to=ExecutionStatus.RUNNING, key=f"run-{execution_id}"
        )
    ledger.set_execution_status(
        "exec-1", from_=[ExecutionStatus.RUNNING], to=ExecutionStatus.COMPLETED, key="done-exec-1"
    )
    source = LedgerSource(ledger, region="us-east-1")

    # WHEN the dashboard lists them and reads one
    rows = source.executions()
    report = source.report("exec-2")

    # THEN both are listed by one Query of the index, running first, and the report is `drs-orch report`'s
    assert [(r.execution_id, r.plan, r.mode, r.status) for r in rows] == [
        ("exec-2", "Shop <b>", "RECOVERY", "RUNNING"),
        ("exec-1", "Shop <b>", "DRILL", "COMPLETED"),
    ]
    assert table.queries[0] == "executions-by-start"
    assert table.queries.count("executions-by-start") == 1
    assert report is not None
    assert (report["executionId"], report["mode"], [w["waveId"] for w in report["waves"]]) == (
        "exec-2",
        "RECOVERY",
        ["db"],
    )
    assert "events" not in report
    assert source.report("exec-3") is None
    assert source.description == "ledger table ledger (us-east-1)"


class _Refusing:
    """The ledger's table (moto's) as DynamoDB answers a caller it refuses: every read raises the ClientError boto3
    raises."""

    def __init__(self, table: Any, code: str, message: str) -> None:
        self._table = table
        self.error = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def _refuse(self, operation: str) -> Any:
        from botocore.exceptions import ClientError

        raise ClientError(self.error, operation)  # type: ignore[arg-type]

    def query(self, **kwargs: Any) -> Any:
        return self._refuse("Query")

    def get_item(self, **kwargs: Any) -> Any:
        return self._refuse("GetItem")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("AccessDeniedException", "User: arn:aws:iam::1:user/bob is not authorized to perform: dynamodb:Query"),
        ("ProvisionedThroughputExceededException", "The level of configured provisioned throughput was exceeded"),
    ],
)
def test_a_refused_read_is_source_unavailable_with_the_aws_code_and_message(
    table: _CountedQueries, code: str, message: str
) -> None:
    # GIVEN a ledger that refuses the operator's reads
    refusing = _Refusing(table, code, message)
    source = LedgerSource(Ledger(refusing, SettableClock()), region="us-east-1")  # type: ignore[arg-type]
    # WHEN the dashboard lists the executions and reads one
    with pytest.raises(SourceUnavailable) as listed:
        source.executions()
    with pytest.raises(SourceUnavailable) as read:
        source.report("exec-1")
    # THEN each says what was being read and AWS's code and message (the page's 502)
    assert listed.value.reason == f"listing the executions of the ledger table ledger (us-east-1): {code}: {message}"
    assert read.value.reason == f"reading exec-1 from the ledger table ledger (us-east-1): {code}: {message}"


def _create_waves(ledger: Ledger, execution_id: str, count: int) -> None:
    ids = [f"w{n:03d}" for n in range(count)]
    outcome = ledger.create_execution(
        execution_id=execution_id,
        plan_id="wide",
        plan_name="Wide",
        plan_document={
            "planId": "wide",
            "waves": [{"waveId": w, "servers": [f"s-{n:017d}"]} for n, w in enumerate(ids)],
        },
        mode="DRILL",
        requested_by="alice",
        key=f"start-{execution_id}",
        waves=[{"waveId": w, "dependsOn": [], "dependents": [], "onFailure": "STOP", "servers": {}} for w in ids],
    )
    assert outcome is Outcome.WON


def test_one_executions_report_reads_a_few_queries_whatever_its_number_of_waves(table: _CountedQueries) -> None:
    # GIVEN an execution of 3 waves and one of 60
    ledger = Ledger(table, SettableClock())  # type: ignore[arg-type]
    _create_waves(ledger, "small", 3)
    _create_waves(ledger, "large", 60)
    source = LedgerSource(ledger)
    # WHEN the dashboard reads each (a page load, and each poll of its stream)
    counts = []
    for execution_id in ("small", "large"):
        table.queries.clear()
        report = source.report(execution_id)
        assert report is not None
        counts.append(len(table.queries))
    # THEN both take the same few Queries (the waves, their servers, their launch claims, ...): not two per wave,
    # which made 400 Queries a poll for a 200-wave execution
    assert counts[0] == counts[1] <= 6, counts
    assert len(report["waves"]) == 60


def test_a_version_is_a_poll_window_the_same_for_every_page(table: _CountedQueries) -> None:
    # GIVEN the source of a deployed stack polled every 0.05 s
    source = LedgerSource(Ledger(table, SettableClock()), interval=0.05)  # type: ignore[arg-type]
    # WHEN two pages start watching, then wait for a change
    first, second = source.wait(-1, 1.0), source.wait(-1, 1.0)
    after = source.wait(first, 1.0)
    # THEN a first wait answers at once; pages in one window share its version (one read and rendering for both),
    # and the next wait ends in a later window
    assert second in (first, first + 1)
    assert after > first
    source.close()
    assert source.wait(after, 60.0) >= after  # closed: no wait
