"""Judging a wave's launch, and naming the servers that did not launch: pure policy, no I/O.

A wave whose jobs have all ended launched well enough unless a CRITICAL server did not launch or the
launched share is below the wave's success threshold. A failure names a few servers in its reason and
warnings (NAMES_LIMIT) and at most FAILED_SERVERS_LIMIT in WaveFailed, so every event stays far below
EventBridge's 256 KB entry limit whatever the wave's size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from events.models import ServerLaunch
from orchestrator.domain.records.servers import ServerResult

FAILED_SERVERS_LIMIT = 50  # servers named in one WaveFailed (each ~300 B): far under EventBridge's 256 KB entry
#   limit (PutEvents, "Amazon EventBridge quotas"); a failed wave of 2,000 servers made a 502 KB event that never left
NAMES_LIMIT = 10  # servers named in one reason or warning line


def listed(names: Sequence[str], *, limit: int = NAMES_LIMIT, sep: str = "; ") -> str:
    """`a; b; c; … and 7 more`: the first `limit` of `names`, and how many were left out."""
    shown = sep.join(names[:limit])
    more = len(names) - limit
    return f"{shown}{sep}… and {more} more" if more > 0 else shown


def _named(failed: Sequence[ServerLaunch]) -> list[ServerLaunch]:
    """The servers WaveFailed names: CRITICAL first, then by id, at most FAILED_SERVERS_LIMIT."""
    ordered = sorted(failed, key=lambda s: (s.criticality != "CRITICAL", s.source_server_id))
    return ordered[:FAILED_SERVERS_LIMIT]


def _why(server: ServerLaunch) -> str:
    """`s-… (reason)`: a server that did not launch, and why."""
    return f"{server.source_server_id} ({server.reason or server.launch_status})"


def launch_warnings(failed: list[ServerLaunch]) -> list[str]:
    """One warning per server that did not launch in a wave that launched well enough (OPTIONAL servers,
    or servers below the success threshold's margin), the first NAMES_LIMIT of them, then one line counting
    the rest (each server's reason stays in its SERVER# item: a wave item holds at most 400 KB)."""
    lines = [f"{f.criticality or 'OPTIONAL'} server {_why(f)} did not launch" for f in failed[:NAMES_LIMIT]]
    if len(failed) > NAMES_LIMIT:
        lines.append(f"… and {len(failed) - NAMES_LIMIT} more server(s) did not launch")
    return lines


def _launch(source_server_id: str, server: ServerResult) -> ServerLaunch:
    """How a server ended, as WaveFailed names it."""
    return ServerLaunch(
        source_server_id=source_server_id,
        launch_status=server.launch_status.value,
        recovery_instance_id=server.recovery_instance_id,
        criticality=server.criticality.value if server.criticality is not None else None,
        reason=server.reason,
    )


def judge_launch(
    servers: Mapping[str, ServerResult], success_threshold: float | None
) -> tuple[bool, str, list[ServerLaunch]]:
    """Did the wave launch well enough, from how each of its `servers` (by source server id) ended? CRITICAL
    failures fail it; OPTIONAL ones count toward the threshold."""
    failed = [_launch(sid, s) for sid, s in sorted(servers.items()) if not s.launched]
    critical = [f for f in failed if f.criticality == "CRITICAL"]
    total = len(servers)
    launched = total - len(failed)
    if critical:
        names = listed([_why(f) for f in critical])
        return False, f"{len(critical)} CRITICAL server(s) did not launch: {names}", failed
    if success_threshold is not None and total and launched / total < success_threshold:
        return (
            False,
            (f"only {launched}/{total} servers launched, below the success threshold {success_threshold:.0%}"),
            failed,
        )
    return True, f"{launched}/{total} servers launched", failed
