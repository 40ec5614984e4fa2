"""The execution report as it is kept: what `drs-orch report` prints and the archive function stores.

`ledger_report` is `build_report` without the `events` key: the ledger keeps no event (the bus archive does:
`drs-orch inspect --aws`), so the report read back from the ledger on AWS, the one archived when the execution
ends and the one `report --aws` reads back from the evidence bucket are the same dict. `report_json` is its one
serialization (two-space indent, a final newline): the bytes the bucket stores, whose SHA-256 the object's
metadata (and an HTML report rendered from it) carries.
"""

from __future__ import annotations

from typing import Any

from orchestrator.adapters.ledger import Ledger
from orchestrator.reporting.report import build_report, report_json


def ledger_report(ledger: Ledger, execution_id: str) -> dict[str, Any] | None:
    """The report of `execution_id` from the ledger alone (no `events`), or None when the ledger has no such
    execution."""
    report = build_report(ledger, execution_id)
    if report is not None:
        report.pop("events", None)
    return report


__all__ = ["ledger_report", "report_json"]
