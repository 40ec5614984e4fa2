"""The ledger's keys: every item's partition key (`pk`) and sort key (`sk`), one builder per item kind.

An execution's items share its partition (`EXEC#<id>`) and are told apart by the sort key's prefix, so one
Query with `begins_with(sk, prefix)` lists one kind. The shared DRS capacity record and its queue live in a
partition of their own (`CAPACITY`); an SSM command's index item, an event's decision and a handler's
failure count live in one partition per command or event. The layout is read by the tests and the chaos
campaign: change a key here and they no longer find the items.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.domain.records.scripts import script_name

Key = dict[str, str]  # {"pk": ..., "sk": ...}

EXEC_SK = "#EXECUTION"
PLAN_SK = "#PLAN"
WAVE_PREFIX = "WAVE#"
SERVER_PREFIX = "SERVER#"
LAUNCH_PREFIX = "LAUNCH#"
SCRIPT_PREFIX = "SCRIPT#"
INVOCATION_PREFIX = "INVOCATION#"
BULK_PREFIXES = (SERVER_PREFIX, INVOCATION_PREFIX)  # item kinds an execution has thousands of (TTL in batches)
TERMINATE_PREFIX = "TERMINATE#"  # the records of what was terminated
TERMINATION_CLAIM_PREFIX = "TERMJOB#"  # not under TERMINATE#: those are the records of what was terminated
TERMINATION_WAIT_PREFIX = "TERMWAIT#"
COMMAND_SK = "#COMMAND"
DECISION_SK = "#DECISION"
CAPACITY_PK = "CAPACITY"
CAPACITY_SK = "DRS"
QUEUE_PREFIX = "QUEUE#"
POOL_PREFIX = "POOL#"  # a wave target's capacity pool (issue #15): CAPACITY/POOL#<account>#<region>, its target
SETTINGS_PREFIX = "LSETTINGS#"  # an execution's launch settings applied to one source server
HOLD_SK = "#SETTINGS_HOLD"  # the one execution that holds a source server's launch settings now
OBJECTIVE_PREFIX = "OBJECTIVE#"  # an RTO alert (ObjectiveAtRisk, ObjectiveMissed) claimed once per scope and kind


def capacity_pk(pool: str | None) -> str:
    """The capacity partition of a pool: `CAPACITY` for the orchestrator's own account and Region (today's keys), or
    `CAPACITY#<account>#<region>` for a wave target's (its capacity record, queue and packed jobs)."""
    return CAPACITY_PK if pool is None else f"{CAPACITY_PK}#{pool}"


def exec_pk(execution_id: str) -> str:
    return f"EXEC#{execution_id}"


def execution_id_of(item: Mapping[str, Any]) -> str:
    """The execution id of an item under an execution's partition (`exec_pk`); KeyError without a `pk`."""
    return str(item["pk"]).removeprefix(exec_pk(""))


def execution_key(execution_id: str) -> Key:
    return {"pk": exec_pk(execution_id), "sk": EXEC_SK}


def wave_sk(wave_id: str) -> str:
    return f"{WAVE_PREFIX}{wave_id}"


def wave_key(execution_id: str, wave_id: str) -> Key:
    return {"pk": exec_pk(execution_id), "sk": wave_sk(wave_id)}


def server_sk(wave_id: str, server_id: str) -> str:
    return f"{SERVER_PREFIX}{wave_id}#{server_id}"


def wave_of(sk: str, prefix: str) -> str:
    """The wave id in the sort key `sk` of a wave's own item under `prefix` (SERVER#, LAUNCH#: `<prefix><wave>#...`;
    a wave id has no '#': `WAVE_ID_PATTERN`)."""
    return sk.removeprefix(prefix).split("#", 1)[0]


def launch_sk(wave_id: str, attempt: int, chunk: int) -> str:
    return f"{LAUNCH_PREFIX}{wave_id}#{attempt:03d}#{chunk:04d}"


def script_sk(wave_id: str, wave_attempt: int, phase: str, index: int) -> str:
    """A script item's sort key: its name (`orchestrator.domain.records.scripts.script_name`, SCRIPT_PREFIX...)."""
    return script_name(wave_id, wave_attempt, phase, index)


def invocation_prefix(script_sk_: str) -> str:
    """The sort key prefix of a script's per-instance results: `INVOCATION#<wave>#<attempt>#<phase>#<index>#`."""
    return f"{INVOCATION_PREFIX}{script_sk_.removeprefix(SCRIPT_PREFIX)}#"


def termination_claim_key(execution_id: str, key: str) -> Key:
    return {"pk": exec_pk(execution_id), "sk": f"{TERMINATION_CLAIM_PREFIX}{key}"}


def settings_key(execution_id: str, source_server_id: str) -> Key:
    return {"pk": exec_pk(execution_id), "sk": f"{SETTINGS_PREFIX}{source_server_id}"}


def hold_key(source_server_id: str) -> Key:
    """A source server's launch-settings hold: a partition per server, shared by every execution."""
    return {"pk": f"SERVERHOLD#{source_server_id}", "sk": HOLD_SK}


def command_pk(command_id: str) -> str:
    return f"CMD#{command_id}"


def failure_pk(event_id: str) -> str:
    return f"FAILURE#{event_id}"


def decision_pk(event_id: str) -> str:
    return f"EVENT#{event_id}"


def decision_key(event_id: str) -> Key:
    return {"pk": decision_pk(event_id), "sk": DECISION_SK}


CAPACITY_KEY: Key = {"pk": CAPACITY_PK, "sk": CAPACITY_SK}


def objective_alert_key(execution_id: str, wave_id: str | None, alert: str) -> Key:
    """The claim of one RTO alert: `OBJECTIVE#PLAN#<alert>` for the plan's RTO, `OBJECTIVE#WAVE#<wave>#<alert>`."""
    scope = "PLAN" if wave_id is None else f"WAVE#{wave_id}"
    return {"pk": exec_pk(execution_id), "sk": f"{OBJECTIVE_PREFIX}{scope}#{alert}"}
