"""The execution ledger: one DynamoDB table, one execution item, one item per wave and one per server of a wave,
and the claims, scripts, decisions, capacity and terminations that go with them.

Every state change is a conditional write. A transition names the states it may leave and the event
that causes it (`key`): the first delivery of that event wins, a redelivery of the *same* event after a
crash is a REPLAY (so its caller may safely redo what follows the write), and anything else is
REJECTED (transitions.py). Releasing a dependent wave is an atomic decrement guarded by a set of the waves
that already released it, so each dependency counts once, and only the write that reaches zero releases the
wave.

A wave item holds its status, its jobs and counts of its servers; each server's result lives in an item of
its own (`server_sk`), so the wave item stays small whatever the wave's size (DynamoDB items are limited to
400 KB). Server items are written in batches (`_batch_put`), and only while the wave's item says the write
is due (a job's results while the job is not COMPLETED on the wave): see `record_job_done`.

One module per kind of item, each a class over the shared plumbing (`_base.LedgerBase`: the one conditional
write, the one paginated Query, batches, time to live) and the keys (`_keys`):

    executions.py    the execution and its frozen plan      waves.py         wave items and their transitions
    servers.py       a wave's per-server items              launches.py      launch claims (StartRecovery)
    leases.py        the lease on a launch or termination   scripts.py       scripts, SSM commands, results
    decisions.py     operator commands ACCEPTED or REFUSED  transitions.py   the one status transition
    capacity.py      shared DRS capacity and parked queue   terminations.py  termination claims and records
    packing.py       the launch packer's lock and packed jobs
    failures.py      handler failure counters       launch_settings.py  a server's settings hold, what was applied
    objectives.py    recovery-objective alerts claimed once

`Ledger` puts them together: the one class the steps use. A kind that needs another names it as a base
(waves read servers, launch claims and script results), so each module is checked against what it uses.
"""

from __future__ import annotations

from orchestrator.adapters.ledger._base import (
    BATCH_GET,
    BATCH_TRIES,
    BATCH_WRITE,
    LedgerError,
    _is_conditional_failure,
)
from orchestrator.adapters.ledger._keys import (
    BULK_PREFIXES,
    CAPACITY_PK,
    CAPACITY_SK,
    COMMAND_SK,
    DECISION_SK,
    EXEC_SK,
    INVOCATION_PREFIX,
    PLAN_SK,
    QUEUE_PREFIX,
    SERVER_PREFIX,
    TERMINATION_CLAIM_PREFIX,
    TERMINATION_WAIT_PREFIX,
    command_pk,
    decision_pk,
    exec_pk,
    failure_pk,
    invocation_prefix,
    launch_sk,
    script_sk,
    server_sk,
    wave_sk,
)
from orchestrator.adapters.ledger.capacity import Capacity
from orchestrator.adapters.ledger.decisions import ACCEPTED, REFUSED, Decisions
from orchestrator.adapters.ledger.executions import Executions
from orchestrator.adapters.ledger.failures import Failures
from orchestrator.adapters.ledger.launch_settings import LaunchSettingsItems
from orchestrator.adapters.ledger.launches import Launches
from orchestrator.adapters.ledger.objectives import ObjectiveAlerts
from orchestrator.adapters.ledger.packing import PackedLaunches
from orchestrator.adapters.ledger.scripts import Scripts
from orchestrator.adapters.ledger.servers import Servers
from orchestrator.adapters.ledger.terminations import Terminations
from orchestrator.adapters.ledger.waves import Waves
from orchestrator.domain.outcome import Outcome

__all__ = [
    "ACCEPTED",
    "BATCH_GET",
    "BATCH_TRIES",
    "BATCH_WRITE",
    "BULK_PREFIXES",
    "CAPACITY_PK",
    "CAPACITY_SK",
    "COMMAND_SK",
    "DECISION_SK",
    "EXEC_SK",
    "INVOCATION_PREFIX",
    "PLAN_SK",
    "QUEUE_PREFIX",
    "REFUSED",
    "SERVER_PREFIX",
    "TERMINAL_WAVE",
    "TERMINATION_CLAIM_PREFIX",
    "TERMINATION_WAIT_PREFIX",
    "Ledger",
    "LedgerError",
    "Outcome",
    "_is_conditional_failure",
    "command_pk",
    "decision_pk",
    "exec_pk",
    "failure_pk",
    "invocation_prefix",
    "launch_sk",
    "script_sk",
    "server_sk",
    "wave_sk",
]


class Ledger(
    Executions,
    Waves,
    Decisions,
    Servers,
    Scripts,
    Launches,
    Terminations,
    Capacity,
    PackedLaunches,
    Failures,
    LaunchSettingsItems,
    ObjectiveAlerts,
):
    """The ledger adapter; `table` is a boto3 DynamoDB Table resource, `clock` gives every time it writes,
    `finished_ttl_days` how long a finished execution's items are kept (TTL; None, the default: no `expiresAt` is
    written and nothing expires), `sleep` the backoff between
    retries of a batch's unprocessed items. Its methods are those of the kinds of item it is composed of
    (tests/unit/adapters/test_ledger_base.py checks that none hides another's)."""
