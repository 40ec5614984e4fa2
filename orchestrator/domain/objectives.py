"""Recovery objectives: the arithmetic of RTO and RPO, pure (no ledger, no clock of its own).

Every figure counts from the moment the disaster was declared (`declaredAt`: StartPlan's explicit one, else the
moment StartPlan was handled), in minutes:

- achieved RTO of a wave: declaredAt -> the end of its post-launch phase (its scripts and health check: the moment
  it COMPLETED); for a wave without post-launch scripts or health check, the end of its launch (`launchedAt`).
  Of the plan: its last wave's (the latest end of all its waves).
- achieved RPO of a server: declaredAt - the point-in-time snapshot its recovery instance was launched from
  (DescribeRecoveryInstances' `pointInTimeSnapshotDateTime`, recorded with the server's launch); 0 when the
  snapshot is later than the declared time (nothing before the declared moment was lost). Of a wave: its worst
  launched server; of the plan: its worst server of all.
- verdict: MET when achieved <= objective, MISSED otherwise, margin = objective - achieved (negative: missed by
  that much); NOT_MEASURED with a reason when the figure cannot be computed (the wave did not complete, a
  launched server has no snapshot time, ...).

Figures are rounded to the hundredth of a minute (0.6 s) in what is shown; the verdict compares the exact ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from orchestrator.domain.clock import parse_iso

DECLARED_AT_SKEW = timedelta(minutes=5)
"""How far in the future an explicit declaredAt may be (the clocks of whoever publishes StartPlan and of Lambda)."""
DECLARED_AT_MAX_AGE = timedelta(days=7)
"""How long ago an explicit declaredAt may be: a recovery started a week after the disaster is a typo's mark (a
wrong year, month or time zone) rather than a real declaration, and would judge every objective MISSED."""
AT_RISK_PERCENT = 80
"""Default share of an RTO (in percent) after which a wave still running is at risk (ObjectiveAtRisk)."""
DECIMALS = 2


class Verdict(StrEnum):
    MET = "MET"
    MISSED = "MISSED"
    NOT_MEASURED = "NOT_MEASURED"


class Alert(StrEnum):
    """What a deadline tick says of an RTO: at risk (its share of the RTO has passed), or missed (it has passed)."""

    AT_RISK = "AT_RISK"
    MISSED = "MISSED"


@dataclass(frozen=True, slots=True)
class Figure:
    """An achieved figure in minutes (exact), or why there is none (`reason`)."""

    minutes: float | None
    reason: str | None = None

    @classmethod
    def unmeasured(cls, reason: str) -> Figure:
        return cls(None, reason)


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectiveClaim:
    """An objective alert claimed in the ledger before: the event that announces it (its detail-type and detail),
    and whether it was announced."""

    detail_type: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    announced: bool = False


def declared_at_problem(declared: datetime, now: datetime) -> str | None:
    """Why an explicit declaredAt is refused (None: it is fine): more than DECLARED_AT_SKEW in the future, or more
    than DECLARED_AT_MAX_AGE ago."""
    if declared > now + DECLARED_AT_SKEW:
        return f"declaredAt is in the future (more than {int(DECLARED_AT_SKEW.total_seconds() // 60)} minutes ahead)"
    if declared < now - DECLARED_AT_MAX_AGE:
        return f"declaredAt is more than {DECLARED_AT_MAX_AGE.days} days ago (a recovery declared that long ago?)"
    return None


def minutes_between(start: str, end: str) -> float:
    """Minutes from ISO time `start` to ISO time `end` (negative when `end` is earlier)."""
    return (parse_iso(end) - parse_iso(start)).total_seconds() / 60


def rpo_minutes(declared_at: str, recovery_point_at: str | None) -> float | None:
    """A server's achieved RPO: minutes from its snapshot to the declared time, at least 0; None without a
    snapshot time."""
    if recovery_point_at is None:
        return None
    return max(0.0, minutes_between(recovery_point_at, declared_at))


def rto_minutes(declared_at: str, ended_at: str) -> float:
    """A wave's achieved RTO: minutes from the declared time to its end, at least 0."""
    return max(0.0, minutes_between(declared_at, ended_at))


def worst(figures: Iterable[tuple[str, Figure]]) -> Figure:
    """The largest of named figures; NOT measured (naming the first one that is not) if any is not, or if there
    are none."""
    found = list(figures)
    if not found:
        return Figure.unmeasured("nothing to measure")
    for name, figure in found:
        if figure.minutes is None:
            return Figure.unmeasured(f"{name}: {figure.reason}")
    return Figure(max(figure.minutes for _, figure in found if figure.minutes is not None))


def judge(objective_minutes: float, achieved: Figure) -> dict[str, object]:
    """The report's view of one objective: `objectiveMinutes`, `achievedMinutes`, `marginMinutes` (objective -
    achieved), `verdict` MET | MISSED | NOT_MEASURED, and `reason` for NOT_MEASURED only."""
    if achieved.minutes is None:
        return {
            "objectiveMinutes": float(objective_minutes),
            "achievedMinutes": None,
            "marginMinutes": None,
            "verdict": Verdict.NOT_MEASURED.value,
            "reason": achieved.reason or "not measured",
        }
    verdict = Verdict.MET if achieved.minutes <= objective_minutes else Verdict.MISSED
    return {
        "objectiveMinutes": float(objective_minutes),
        "achievedMinutes": round(achieved.minutes, DECIMALS),
        "marginMinutes": round(objective_minutes - achieved.minutes, DECIMALS),
        "verdict": verdict.value,
    }


def deadline(declared_at: str, rto: float, alert: Alert, at_risk_percent: float = AT_RISK_PERCENT) -> datetime:
    """When an RTO of `rto` minutes is at risk (`at_risk_percent` of it has passed) or missed (all of it)."""
    share = at_risk_percent / 100 if alert is Alert.AT_RISK else 1.0
    return parse_iso(declared_at) + timedelta(minutes=rto * share)
