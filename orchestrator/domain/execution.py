"""An execution's identity and its frozen plan: pure helpers every step shares.

An execution keeps the plan exactly as it was when it started (`planDocument`, JSON); every step reads
the plan back from there, never from the plan's source, so editing a plan never changes a run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from events.models import StartPlan
from orchestrator.domain.plan import Plan
from orchestrator.domain.records import ExecutionRecord


def execution_id_for(detail: StartPlan, event_id: str) -> str:
    """A StartPlan without an executionId gets one from its event id, so a redelivery is the same run."""
    return detail.execution_id or f"exec-{event_id}"


@lru_cache(maxsize=64)
def _parse_frozen(document: str) -> Plan:
    """The plan of a frozen document, validated by the model alone: `parse_plan`'s limits on input text are for
    what a user sends (a plan of 10,000 servers listed by id is about 200,000 characters), while the frozen
    document writes every server's fields out (about 520,000 for the same plan) and was checked when it started."""
    return Plan.model_validate(json.loads(document))


def frozen_plan(execution: ExecutionRecord | Mapping[str, Any]) -> Plan:
    """The plan exactly as it was when the execution started (cached per document)."""
    if isinstance(execution, ExecutionRecord):
        return _parse_frozen(execution.plan_document)
    return _parse_frozen(execution["planDocument"])


def drill_ttl(plan_ttl: int | None, start_ttl: int | None) -> int | None:
    """A drill's time to live in seconds: the shorter of its plan's `drillInstanceTtlSeconds` and its StartPlan's
    (a scheduled drill's always carries one), None when neither sets one."""
    set_ = [ttl for ttl in (plan_ttl, start_ttl) if ttl is not None]
    return min(set_) if set_ else None


def drill_ttl_seconds(execution: ExecutionRecord | Mapping[str, Any]) -> int | None:
    """The time to live of a DRILL execution's recovery instances, in seconds (None: a RECOVERY, or no time to
    live): the one recorded when it started (`drill_ttl`), else its frozen plan's (an execution started before the
    ledger recorded it)."""
    mode: Any
    recorded: Any
    if isinstance(execution, ExecutionRecord):
        mode, recorded = execution.mode, execution.drill_ttl_seconds
    else:
        mode, recorded = execution.get("mode"), execution.get("drillTtlSeconds")
    if mode != "DRILL":
        return None
    if recorded is not None:
        return int(recorded)
    return frozen_plan(execution).defaults.drill_instance_ttl_seconds
