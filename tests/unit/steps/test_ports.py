"""The adapters and the fakes implement the ports the steps use, method for method, signature for signature."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import orchestrator.steps
from orchestrator.adapters.bus import Bus
from orchestrator.adapters.drs import Drs
from orchestrator.adapters.ec2 import Ec2Network
from orchestrator.adapters.ec2_templates import Ec2Templates
from orchestrator.adapters.evidence import EvidenceBucket
from orchestrator.adapters.kms import Kms
from orchestrator.adapters.lambda_invoke import LambdaInvoker
from orchestrator.adapters.ledger import Ledger
from orchestrator.adapters.scheduler import Scheduler
from orchestrator.adapters.ssm import Ssm
from orchestrator.domain import ports
from tests.fakes import (
    FakeBus,
    FakeDrs,
    FakeEc2,
    FakeEc2Templates,
    FakeEvidence,
    FakeLambda,
    FakeMac,
    FakeScheduler,
    FakeSsm,
)
from tests.unit.moto_ledger import SettableClock

PAIRS = [
    (ports.BusPort, Bus, FakeBus),
    (ports.SchedulerPort, Scheduler, FakeScheduler),
    (ports.DrsPort, Drs, FakeDrs),
    (ports.SsmPort, Ssm, FakeSsm),
    (ports.Ec2NetworkPort, Ec2Network, FakeEc2),
    (ports.Ec2TemplatesPort, Ec2Templates, FakeEc2Templates),
    (ports.MacPort, Kms, FakeMac),
    (ports.EvidencePort, EvidenceBucket, FakeEvidence),
    (ports.LambdaPort, LambdaInvoker, FakeLambda),
]


def _methods(port: type) -> list[str]:
    return sorted(name for name, value in vars(port).items() if inspect.isfunction(value) and not name.startswith("_"))


@pytest.mark.parametrize(("port", "adapter", "fake"), PAIRS, ids=lambda p: getattr(p, "__name__", ""))
def test_the_adapter_and_the_fake_have_every_method_of_the_port_with_its_signature(
    port: type, adapter: type, fake: type
) -> None:
    # GIVEN a port, its adapter and its fake
    methods = _methods(port)
    assert methods  # a port with no method would prove nothing
    for name in methods:
        # WHEN their signatures are read
        wanted = inspect.signature(getattr(port, name))
        # THEN the adapter's and the fake's are the port's (names, kinds, defaults, annotations)
        assert inspect.signature(getattr(adapter, name)) == wanted, f"{adapter.__name__}.{name}"
        assert inspect.signature(getattr(fake, name)) == wanted, f"{fake.__name__}.{name}"


def test_the_fakes_are_instances_of_the_ports() -> None:
    # GIVEN one fake of each port
    clock = SettableClock()
    fakes = [
        FakeBus(),
        FakeScheduler(),
        FakeDrs(clock),
        FakeSsm(clock),
        FakeEc2(),
        FakeEc2Templates(),
        FakeMac(),
        FakeEvidence(),
        FakeLambda(),
    ]
    # WHEN / THEN each is an instance of its (runtime-checkable) port, and of no other
    for fake, (port, _, _) in zip(fakes, PAIRS, strict=True):
        assert isinstance(fake, port)
    assert not isinstance(FakeBus(), ports.DrsPort)


def test_the_steps_call_only_what_the_ports_declare() -> None:
    # GIVEN the steps' source
    import re
    from pathlib import Path

    import orchestrator.steps

    source = "\n".join(p.read_text(encoding="utf-8") for p in Path(orchestrator.steps.__file__).parent.glob("*.py"))
    # WHEN every `rt.<port>.<method>` and `_ssm(rt).<method>` call is listed (and `there.drs`/`origin.drs`: a
    # wave target's runtime, `rt.at(target)`)
    called = {
        "bus": set(re.findall(r"\brt\.bus\.(\w+)", source)),
        "scheduler": set(re.findall(r"\brt\.scheduler\.(\w+)", source)),
        "drs": set(re.findall(r"\b(?:rt|there|origin)\.drs\.(\w+)", source)),
        "ssm": set(re.findall(r"\b_ssm\(rt\)\.(\w+)|\bssm\.(\w+)\(", source)),
    }
    ssm_called = {name for pair in called.pop("ssm") for name in pair if name}
    # THEN the ports declare each of them
    assert called["bus"] <= set(_methods(ports.BusPort))
    assert called["scheduler"] <= set(_methods(ports.SchedulerPort))
    assert called["drs"] <= set(_methods(ports.DrsPort))
    assert ssm_called <= set(_methods(ports.SsmPort))
    assert called["drs"] == set(_methods(ports.DrsPort))  # and list nothing the steps do not call


def test_the_ledger_implements_its_port_method_for_method() -> None:
    # GIVEN the ledger's port and its DynamoDB adapter
    methods = _methods(ports.LedgerPort)
    assert len(methods) > 50
    for name in methods:
        # THEN each method of the port is the adapter's, signature for signature
        assert inspect.signature(getattr(Ledger, name)) == inspect.signature(getattr(ports.LedgerPort, name)), name


def test_the_ledger_port_lists_exactly_what_the_steps_ask_of_the_ledger() -> None:
    # GIVEN every call a step makes on the ledger (`rt.ledger.<method>`, or a `ledger` it was handed)
    steps = Path(orchestrator.steps.__file__).parent
    called = {
        name
        for path in steps.glob("*.py")
        for name in re.findall(r"(?<!adapters\.)\bledger\.([a-z_]+)\b", path.read_text(encoding="utf-8"))
    }
    # THEN the port has those methods and no other (a method no step calls belongs to the adapter alone)
    assert called == set(_methods(ports.LedgerPort))
