"""How an execution's tag selectors were resolved, as the ledger keeps it beside the frozen plan.

`resolve_selectors` (orchestrator/domain/plan/selectors.py) appends the servers each wave's sourceServerTags
selected after the servers the wave lists, and drops the selectors: the frozen plan says who launches, not
why. The record says why, compactly (an execution may hold 10,000 servers and the plan item must stay under
DynamoDB's 400 KB): per selecting wave its tags, how many of its frozen servers the plan listed (they come
first; the rest were selected), and which listed servers its selector also picked (usually none). It also
holds the digest of the plan as it was submitted, so a repeated StartPlan is told apart from another plan
under the same execution id without resolving again (tags may have changed since).

    {"submittedSha256": "...", "sourceServers": 12, "failbackSkipped": 1,
     "waves": {"web": {"sourceServerTags": {"app": "shop"}, "listed": 1, "alsoSelected": []}}}
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from orchestrator.domain.plan import Plan, Resolution, Selection


def submitted_digest(document: Mapping[str, Any]) -> str:
    """The sha256 of a plan document (canonical JSON: sorted keys)."""
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def resolution_record(
    submitted: Plan, document: Mapping[str, Any], resolution: Resolution, *, source_servers: int, failback: int
) -> dict[str, Any]:
    """The record of `resolution` of the plan `submitted` (as a document: `document`), which read
    `source_servers` source servers and left out `failback` ones replicating back."""
    waves: dict[str, Any] = {}
    for wave in submitted.waves:
        if not wave.source_server_tags:
            continue
        listed = set(wave.server_ids)
        also = [
            s.source_server_id
            for s in resolution.selections
            if s.wave_id == wave.wave_id and s.listed and s.selector is not None and s.source_server_id in listed
        ]
        waves[wave.wave_id] = {
            "sourceServerTags": dict(wave.source_server_tags),
            "listed": len(wave.servers),
            "alsoSelected": also,
        }
    return {
        "submittedSha256": submitted_digest(document),
        "sourceServers": source_servers,
        "failbackSkipped": failback,
        "waves": waves,
    }


def parse_record(text: str | None) -> dict[str, Any] | None:
    """The record as the ledger keeps it (JSON text), or None (no selectors, or not readable)."""
    if not text:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def selections_of(frozen: Plan, record: Mapping[str, Any] | None) -> dict[str, list[Selection]]:
    """Every server of the frozen plan with why it is in its wave, by wave id (plan order; `Selection.describe`
    says it in words). Without a record every server is listed."""
    waves = record.get("waves", {}) if record else {}
    found: dict[str, list[Selection]] = {}
    for wave in frozen.waves:
        entry = waves.get(wave.wave_id) if isinstance(waves, Mapping) else None
        if not isinstance(entry, Mapping):
            found[wave.wave_id] = [Selection(wave.wave_id, sid, True) for sid in wave.server_ids]
            continue
        tags = dict(entry.get("sourceServerTags") or {})
        listed = int(entry.get("listed", len(wave.servers)))
        also = set(entry.get("alsoSelected") or ())
        found[wave.wave_id] = [
            Selection(
                wave.wave_id,
                sid,
                position < listed,
                tags if position >= listed or sid in also else None,
            )
            for position, sid in enumerate(wave.server_ids)
        ]
    return found
