"""The claims of recovery-objective alerts (`OBJECTIVE#...`): one item per execution, scope (the plan's RTO or a
wave's own) and alert (AT_RISK, MISSED), so that ObjectiveAtRisk and ObjectiveMissed go out once each however
often their tick (or the WaveReady that checks a deadline already past) is delivered.

Like a refusal (`decisions.py`), the alert is recorded with the event that announces it, not yet announced, before
it is published; a later copy announces it only if the delivery that claimed it died before it could (two copies
at the same moment may both announce it: at least once, never lost). The items expire with their execution.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from orchestrator.adapters.ledger._base import LedgerBase
from orchestrator.adapters.ledger._keys import objective_alert_key
from orchestrator.domain.objectives import ObjectiveClaim


class ObjectiveAlerts(LedgerBase):
    def claim_objective_alert(
        self, execution_id: str, wave_id: str | None, alert: str, *, detail_type: str, detail: Mapping[str, Any]
    ) -> ObjectiveClaim | None:
        """Claim alert `alert` of the plan's RTO (`wave_id` None) or of wave `wave_id`'s, with the event that
        announces it (not announced yet). None when this call claimed it, else the earlier claim."""
        item = {
            **objective_alert_key(execution_id, wave_id, alert),
            "kind": "OBJECTIVE",
            "at": self.now(),
            "detailType": detail_type,
            "detail": json.dumps(dict(detail), sort_keys=True),  # JSON text: DynamoDB takes no float
            "announced": False,
        }
        earlier = self._create(item)
        if earlier is None:
            return None
        return ObjectiveClaim(
            detail_type=str(earlier.get("detailType", detail_type)),
            detail=json.loads(str(earlier["detail"])) if earlier.get("detail") else dict(detail),
            announced=bool(earlier.get("announced", True)),
        )

    def mark_objective_alert_announced(self, execution_id: str, wave_id: str | None, alert: str) -> None:
        self._table.update_item(
            Key=objective_alert_key(execution_id, wave_id, alert),
            UpdateExpression="SET announced = :yes",
            ExpressionAttributeValues={":yes": True},
        )
