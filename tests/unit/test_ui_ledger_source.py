"""The dashboard of a deployed stack reads the ledger as `drs-orch report` does (the adapter tier, moto's DynamoDB):
the executions by `Ledger.list_executions` (a Scan of every page, the `#EXECUTION` items only), one execution by
`ledger_report`; an execution the ledger does not hold is None (the page's 404)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from drs_orch.ui.feed import LedgerSource
from orchestrator.adapters.ledger import Ledger, Outcome
from orchestrator.domain.status import ExecutionStatus
from tests.unit.moto_ledger import SettableClock, ledger_table


class _SmallPages:
    """The ledger's table, but every Scan answers at most `limit` items (as past 1 MB), counting the Scans."""

    def __init__(self, table: Any, *, limit: int) -> None:
        self._table, self._limit = table, limit
        self.scans = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def scan(self, **kwargs: Any) -> Any:
        self.scans += 1
        return self._table.scan(Limit=self._limit, **kwargs)


@pytest.fixture
def table() -> Iterator[_SmallPages]:
    with mock_aws():
        yield _SmallPages(ledger_table(), limit=2)


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


def test_the_list_and_one_execution_come_from_the_ledger(table: _SmallPages) -> None:
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

    # THEN both are listed from every page of the Scan, running first, and the report is `drs-orch report`'s
    assert [(r.execution_id, r.plan, r.mode, r.status) for r in rows] == [
        ("exec-2", "Shop <b>", "RECOVERY", "RUNNING"),
        ("exec-1", "Shop <b>", "DRILL", "COMPLETED"),
    ]
    assert table.scans > 1
    assert report is not None
    assert (report["executionId"], report["mode"], [w["waveId"] for w in report["waves"]]) == (
        "exec-2",
        "RECOVERY",
        ["db"],
    )
    assert "events" not in report
    assert source.report("exec-3") is None
    assert source.description == "ledger table ledger (us-east-1)"
