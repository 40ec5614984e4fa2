"""The frozen plan of a large execution fits in its DynamoDB item (400 KB): it is stored compressed."""

from __future__ import annotations

from moto import mock_aws

from orchestrator.adapters.ledger import Ledger
from orchestrator.domain.execution import frozen_plan
from orchestrator.domain.plan import parse_plan, plan_to_document
from tests.unit.moto_ledger import SettableClock, ledger_table


def _plan(servers: int) -> dict:
    per_wave = 100
    waves = [
        {"waveId": f"w{w}", "servers": [f"s-{w * per_wave + n:017d}" for n in range(per_wave)]}
        for w in range(servers // per_wave)
    ]
    return {"planId": "big", "waves": waves}


def test_the_frozen_plan_of_ten_thousand_servers_is_stored_and_read_back_whole() -> None:
    # GIVEN a plan of 10,000 servers (the plan limit), whose frozen document is far over 400 KB as JSON text
    document = plan_to_document(parse_plan(_plan(10_000)))
    with mock_aws():
        ledger = Ledger(ledger_table(), SettableClock())
        # WHEN an execution of it is created
        ledger.create_execution(
            execution_id="e",
            plan_id="big",
            plan_name="big",
            plan_document=document,
            mode="DRILL",
            requested_by="me",
            key="start",
            waves=[],
        )
        # THEN it is RUNNING and its frozen plan reads back equal, with every server
        execution = ledger.execution("e")
        assert execution is not None
        assert execution.status == "RUNNING"
        assert plan_to_document(frozen_plan(execution)) == document
        assert sum(len(w.server_ids) for w in frozen_plan(execution).waves) == 10_000
