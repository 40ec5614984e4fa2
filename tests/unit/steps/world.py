"""A Runtime of fakes around the real ledger, and the plans and events the step tests share."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from events.models import OPERATOR_SOURCE, SOURCE, Contract, Mode, StartPlan
from orchestrator.adapters.ledger import Ledger
from orchestrator.config import Settings
from orchestrator.runtime import Runtime
from orchestrator.steps.start_plan import start_plan
from tests.fakes import FakeBus, FakeDrs, FakeEc2, FakeEc2Templates, FakeMac, FakeScheduler, FakeSsm, FakeTargets
from tests.unit.moto_ledger import SettableClock

S1, S2, S3 = "s-00000000000000001", "s-00000000000000002", "s-00000000000000003"


def server_id(n: int) -> str:
    return f"s-{n:017d}"


def plan(*waves: dict[str, Any], plan_id: str = "p", **defaults: Any) -> dict[str, Any]:
    """A plan document (camelCase, as StartPlan carries it)."""
    return {"planId": plan_id, "name": plan_id, "defaults": defaults, "waves": list(waves)}


def wave(wave_id: str, *servers: str | dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"waveId": wave_id, "servers": list(servers), **fields}


#: The step tests of scripts run documents of their own ("Fence", "Health"): every document is allowed here
#: (the allow-list's own tests, in test_start_plan.py, narrow it with `configure`).
ALLOW_EVERY_DOCUMENT: dict[str, Any] = {"allowed_ssm_documents": "*"}
#: The step tests drive one chunk's StartJob and expect its own DRS job at once: launch packing (issue #19; on by
#: default, where StartJob parks the chunk and the packer starts it) is off here; tests/unit/steps/test_packer.py and
#: the e2e tests run it on.
STEP_DEFAULTS: dict[str, Any] = {**ALLOW_EVERY_DOCUMENT, "drs_packing": False}


class World:
    """Clock, ledger (on `table`, a moto DynamoDB table of the ledger's schema), fakes and the Runtime the
    steps receive."""

    def __init__(self, table: Any) -> None:
        self.clock = SettableClock()
        self.ledger = Ledger(table, self.clock)
        self.bus = FakeBus()
        self.scheduler = FakeScheduler()
        self.drs = FakeDrs(self.clock)
        self.ssm = FakeSsm(self.clock)
        self.ec2 = FakeEc2()
        self.ec2_templates = FakeEc2Templates()
        self.mac = FakeMac()
        self.targets = FakeTargets(self.clock)  # each wave target's own fakes (issue #15)
        self.rt = Runtime(
            settings=Settings(**STEP_DEFAULTS),
            clock=self.clock,
            ledger=self.ledger,
            bus=self.bus,
            scheduler=self.scheduler,
            drs=self.drs,
            ssm=self.ssm,
            ec2=self.ec2,
            ec2_templates=self.ec2_templates,
            mac=self.mac,
            targets=self.targets,
        )

    def configure(self, **settings: Any) -> None:
        """Settings other than the defaults (such as the DRS quotas); every document is allowed unless
        `allowed_ssm_documents` says otherwise."""
        self.rt.settings = Settings(**{**STEP_DEFAULTS, **settings})

    def advance(self, seconds: float) -> None:
        self.clock.at += timedelta(seconds=seconds)

    def start(
        self, document: dict[str, Any], *, execution_id: str = "e1", mode: Mode = Mode.DRILL, **fields: Any
    ) -> str:
        """A started execution of `document` (through the StartPlan step); the bus is emptied after."""
        for w in document["waves"]:
            target = w.get("target") or document.get("target")  # a wave's servers are in its target's DRS
            drs = self.targets.drs(target["accountId"], target["region"]) if target else self.drs
            for s in w["servers"]:
                if isinstance(s, dict) and "stagingAccountID" in s:
                    continue  # replicated in a staging account: its extended server is the test's to arrange
                sid = s if isinstance(s, str) else s["sourceServerID"]
                if sid not in drs.source_servers:
                    drs.add_source_server(sid)
        # a RECOVERY starts only from the operator endpoint (which checked its caller): start it as from there
        started = start_plan(
            self.rt,
            StartPlan(plan=document, mode=mode, execution_id=execution_id, **fields),
            f"start-{execution_id}",
            source=OPERATOR_SOURCE if mode is Mode.RECOVERY else SOURCE,
        )
        assert started == execution_id, self.bus.published
        self.bus.published.clear()
        return execution_id

    def wave_status(self, execution_id: str, wave_id: str) -> str:
        item = self.ledger.get_wave(execution_id, wave_id)
        assert item is not None
        return str(item["status"])

    def published(self, kind: type[Contract]) -> list[Any]:
        return self.bus.of(kind)


def pre_launched(world: World, document: dict[str, Any], wave_id: str, **start: Any) -> Any:
    """A started plan whose wave `wave_id` has passed its pre-launch phase: its PreLaunchDone (bus emptied)."""
    from events.models import PreLaunchDone, WaveReady
    from orchestrator.steps.pre_launch import on_wave_ready

    world.start(document, **start)
    on_wave_ready(world.rt, WaveReady(execution_id="e1", plan_id=document["planId"], wave_id=wave_id), "wr-1")
    [done] = world.bus.of(PreLaunchDone)
    world.bus.published.clear()
    return done


def launching(world: World, document: dict[str, Any], wave_id: str = "db", **start: Any) -> list[str]:
    """A started plan whose wave `wave_id` has started its DRS jobs: their ids (bus emptied)."""
    from orchestrator.steps.launch_wave import prepare, start_job

    done = pre_launched(world, document, wave_id, **start)
    jobs = [str(start_job(world.rt, chunk)["jobId"]) for chunk in prepare(world.rt, done, "pld-1")["chunks"]]
    world.bus.published.clear()
    return jobs
