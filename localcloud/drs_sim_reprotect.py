"""Re-protection in the DRS simulator: StartReplication of a stopped source server, and the replication states it
goes through until it replicates continuously again.

StartReplication is always served (it is plain DRS API: "Starts replication for a stopped Source Server"). A
server is STOPPED when the profile says so (``drs.servers.<id>.replicationState: STOPPED``, as before) or, with
``drs.failback``, once a StartFailbackLaunch job has launched its recovery instance back on premises (see
``localcloud.drs_sim_failback``). Fidelity notes (the choices where DRS does not document its behaviour):

- After a failback launch the on-premises source server's replication is STOPPED: the failback client overwrote
  the machine's disks with the recovery instance's and rebooted it, so the data DRS replicated from it no longer
  describes it. Its recovery snapshots stay listed (they still recover the machine as it was before the
  failover), but a STOPPED server does not launch (StartRecovery's job fails it, as for any STOPPED server).
- StartReplication (``sourceServerID``; the answer is ``{"sourceServer": <the server as DescribeSourceServers
  shows it>}``, as botocore's model has it): an unknown server is a ResourceNotFoundException (resourceType
  SOURCE_SERVER), a server that is not STOPPED (already replicating, in any state) a ConflictException naming
  its state. The server is INITIATING at once, INITIAL_SYNC after a fifth of ``drs.failback.reprotectSeconds``
  (default 300, also without a ``drs.failback`` section), and CONTINUOUS with a new recovery snapshot after all
  of it. Stopping it again (a later failback launch) cancels the pending steps, and a state set meanwhile by other
  means (``DrsSimulator.set_replication``) stays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from localcloud.drs_sim_wire import DrsError

KIND = "replication"  # the simulator's transition kind for these steps
INITIATING_SHARE = 0.2  # the share of reprotectSeconds spent INITIATING before INITIAL_SYNC
_STEPS = ("INITIATING", "INITIAL_SYNC", "CONTINUOUS")
_GENERATION = 10  # a step's index: generation * _GENERATION + step


@dataclass(frozen=True)
class ReplicationHooks:
    """What re-protection needs of its simulator (called under its lock)."""

    now: Callable[[], datetime]
    schedule: Callable[[datetime, str, str, int], None]  # (at, kind, key, index)
    state: Callable[[str], str | None]  # a source server's dataReplicationState (None: no such server)
    set_state: Callable[[str, str], None]
    snapshot: Callable[[str, datetime], None]  # take a recovery snapshot of the server at that moment
    view: Callable[[str], dict[str, Any]]  # the server as DescribeSourceServers shows it


class Replication:
    """Source servers' replication restarts (StartReplication) and their progress over simulated time."""

    def __init__(self, reprotect_seconds: float, hooks: ReplicationHooks) -> None:
        self.reprotect_seconds = reprotect_seconds
        self.hooks = hooks
        self._generations: dict[str, int] = {}

    def operations(self) -> dict[str, Callable[[dict[str, Any]], tuple[int, dict[str, Any] | None]]]:
        return {"StartReplication": self._op_start_replication}

    def stop(self, source_server_id: str) -> None:
        """The server's replication stops (its machine was overwritten by a failback launch)."""
        self._generations[source_server_id] = self._generations.get(source_server_id, 0) + 1
        self.hooks.set_state(source_server_id, "STOPPED")

    def apply(self, source_server_id: str, index: int, at: datetime) -> None:
        """A due replication step: the server moves on from the step before, unless it was stopped (or restarted)
        since, or something else set its state meanwhile (a test's ``set_replication``: that state stays)."""
        generation, step = divmod(index, _GENERATION)
        if self._generations.get(source_server_id) != generation:
            return
        if self.hooks.state(source_server_id) != _STEPS[step - 1]:
            return
        self.hooks.set_state(source_server_id, _STEPS[step])
        if _STEPS[step] == "CONTINUOUS":
            self.hooks.snapshot(source_server_id, at)

    def _op_start_replication(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        sid = args["sourceServerID"]
        state = self.hooks.state(sid)
        if state is None:
            raise DrsError(
                "ResourceNotFoundException",
                f"Source server {sid} not found",
                resourceId=sid,
                resourceType="SOURCE_SERVER",
            )
        if state != "STOPPED":
            raise DrsError(
                "ConflictException",
                f"Source server {sid} is not stopped: its data replication state is {state}",
                resourceId=sid,
                resourceType="SOURCE_SERVER",
            )
        generation = self._generations.get(sid, 0) + 1
        self._generations[sid] = generation
        now = self.hooks.now()
        self.hooks.set_state(sid, "INITIATING")
        base = generation * _GENERATION
        self.hooks.schedule(now + timedelta(seconds=self.reprotect_seconds * INITIATING_SHARE), KIND, sid, base + 1)
        self.hooks.schedule(now + timedelta(seconds=self.reprotect_seconds), KIND, sid, base + 2)
        return 200, {"sourceServer": self.hooks.view(sid)}
