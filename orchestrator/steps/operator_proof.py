"""The proof that a command came from the operator endpoint, made by the operator function and checked by the
StartPlan and control functions (issue #13: a direct Lambda Invoke writes the event's `source` field itself).

The operator function signs what it publishes: `operatorProof` = {commandId, issuedAt, mac}, where `mac` is
KMS GenerateMac (HMAC_SHA_256) with the stack's operator-proof key, which only the operator function's role may
use to generate (its key policy; infra/constructs/operator_proof.py). The MAC covers the detail-type and the
whole detail but the `mac` itself, as JSON with sorted keys (KMS takes a message of at most 4096 bytes and a
StartPlan carries a plan of up to 256 KiB, so the message is a SHA-256 digest of that JSON with a label).

A consumer takes an event with the operator source only when VerifyMac says its MAC is valid and its proof is
fresh; otherwise the event is invalid (`InvalidEvent`: logged here and by the handler, counted InvalidEvents,
alarmed; nothing changes). When KMS does not answer (throttled past the client's retries), `MacUnavailable` is
raised: the delivery is retried, the command is not refused.

Replays. EventBridge redelivers the same event (same id, same detail): it verifies, and each consumer already
decides an event once. A captured proof re-sent in a new event carries the same detail, so it is the same command
and must not act twice: the control function records its decision under the signed `commandId` rather than the
event id (a copy finds the decision of the first: a retry of a wave, a pause after a resume, an approval of a
later attempt are not repeated), and a StartPlan's signed executionId makes a copy a repeat of its start. A proof
older than `MAX_PROOF_AGE` is refused, so a copy cannot outlive those records (by default they never expire; a
deploy's time to live, FINISHED_EXECUTION_TTL_DAYS, is at least 3 days: orchestrator/domain/evidence.py
MIN_LEDGER_TTL_DAYS); the age covers EventBridge's retries (the rules' maximum event age, 6 h by default, at most
24 h) and Lambda's (6 h), with room to spare.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from events.envelope import InvalidEvent
from events.models import Contract, OperatorProof
from orchestrator.domain.clock import iso, parse_iso
from orchestrator.domain.ports import MacPort
from orchestrator.observability import logger
from orchestrator.runtime import Runtime

PROOF_FIELD = "operatorProof"
MAX_PROOF_AGE = timedelta(days=2)
MAX_CLOCK_SKEW = timedelta(minutes=5)  # a proof issued "later" than now by more than this is no proof
_LABEL = b"drs-orch operator proof v1\n"

C = TypeVar("C", bound=Contract)


def proof_message(detail_type: str, detail: Mapping[str, Any]) -> bytes:
    """What the MAC is computed over: the label and the SHA-256 of the detail-type and the detail, as JSON with
    sorted keys, without the proof's `mac`."""
    unsigned = dict(detail)
    proof = unsigned.get(PROOF_FIELD)
    if isinstance(proof, Mapping):
        unsigned[PROOF_FIELD] = {k: v for k, v in proof.items() if k != "mac"}
    canonical = json.dumps(
        {"detailType": detail_type, "detail": unsigned},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
    )
    return _LABEL + hashlib.sha256(canonical.encode("ascii")).hexdigest().encode("ascii")


def _mac(rt: Runtime) -> MacPort:
    if rt.mac is None:
        raise RuntimeError("this runtime has no operator-proof key (OPERATOR_PROOF_KEY_ID)")
    return rt.mac


def sign(rt: Runtime, command: C, *, command_id: str) -> C:
    """`command` with its operatorProof: `command_id`, now, and the MAC over the rest. Raises MacUnavailable."""
    detail = command.to_detail()
    detail[PROOF_FIELD] = {"commandId": command_id, "issuedAt": iso(rt.clock.now())}
    detail[PROOF_FIELD]["mac"] = _mac(rt).generate(proof_message(command.DETAIL_TYPE, detail))
    return type(command).model_validate(detail)


def _invalid(detail_type: str, problem: str, **fields: Any) -> InvalidEvent:
    logger.warning("operator command without a valid proof", detail_type=detail_type, problem=problem, **fields)
    return InvalidEvent(detail_type, [f"detail.{PROOF_FIELD}: {problem}"])


def _issued_at(text: str) -> datetime | None:
    try:
        moment = parse_iso(text)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else None


def proven_command_id(rt: Runtime, event: Mapping[str, Any]) -> str:
    """The signed commandId of an event with the operator source, once its proof holds: the key its decision is
    recorded under. `InvalidEvent` when the proof is missing, stale, from the future, or its MAC is not the
    operator endpoint's for this detail-type and detail; MacUnavailable when KMS did not answer."""
    detail_type = str(event.get("detail-type"))
    detail = event.get("detail")
    raw = detail.get(PROOF_FIELD) if isinstance(detail, Mapping) else None
    if not isinstance(detail, Mapping) or raw is None:
        raise _invalid(detail_type, "missing: only the operator endpoint's signed commands are taken from its source")
    try:
        proof = OperatorProof.model_validate(raw)
    except ValueError:
        raise _invalid(detail_type, "malformed") from None
    issued = _issued_at(proof.issued_at)
    now = rt.clock.now()
    if issued is None:
        raise _invalid(detail_type, "issuedAt is not a time", command_id=proof.command_id)
    if issued < now - MAX_PROOF_AGE or issued > now + MAX_CLOCK_SKEW:
        raise _invalid(
            detail_type,
            f"issued at {proof.issued_at}, outside {MAX_PROOF_AGE} before now",
            command_id=proof.command_id,
        )
    if not _mac(rt).verify(proof_message(detail_type, detail), proof.mac):
        raise _invalid(
            detail_type, "its MAC is not the operator endpoint's for this command", command_id=proof.command_id
        )
    return proof.command_id
