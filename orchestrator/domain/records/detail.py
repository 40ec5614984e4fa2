"""A wave with what the ledger keeps of it in items of their own: what the execution report shows of a wave.

`Ledger.wave_detail(execution_id, wave)` gives it for a `WaveRecord`. The wave item stays small whatever the
wave's size (DynamoDB items are limited to 400 KB): each server's result, each launch claim's servers and each
script's per-instance results live in items of their own, which this record gathers (two Queries, three when
the wave ran scripts on instances).

The script summaries are given as the ledger's script items hold them (mappings with the ledger's camelCase
names), until that kind of item has records of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.domain.records.servers import ServerAttempt, ServerResult
from orchestrator.domain.records.waves import WaveRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class WaveDetail:
    """`wave` and, from items of their own:

    - `servers`: `{sourceServerId: ServerResult}` in id order, as `Ledger.wave_servers` gives them;
    - `job_servers`: `{job id: source server ids}`, the servers of each job's launch claim (`()` when the
      claim is not found), for the jobs of the current attempt;
    - `attempt_servers`: `{attempt number: {sourceServerId: ServerAttempt}}`, for each earlier attempt
      (`wave.previous_attempts`) how each server had ended it (`ServerResult.ended`), in id order;
    - `scripts`: the wave's script summaries (`wave.scripts`), each that ran on instances with its
      per-instance results as `instances` (in instance order)."""

    wave: WaveRecord
    servers: Mapping[str, ServerResult] = field(default_factory=dict)
    job_servers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    attempt_servers: Mapping[int, Mapping[str, ServerAttempt]] = field(default_factory=dict)
    scripts: tuple[Mapping[str, Any], ...] = ()
