"""Read a hash-pinned requirements lock (requirements/*.lock, written by `make upgrade`) for the tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[2]
DEV_LOCK = REPO_ROOT / "requirements" / "dev.lock"
LAMBDA_LOCK = REPO_ROOT / "requirements" / "lambda.lock"
BOOTSTRAP_LOCK = REPO_ROOT / "requirements" / "bootstrap.lock"


@dataclass(frozen=True)
class Pin:
    requirement: Requirement
    hashes: tuple[str, ...]

    @property
    def name(self) -> str:
        return canonicalize_name(self.requirement.name)

    @property
    def version(self) -> str | None:
        """The pinned version, or None unless the requirement is exactly one `==`."""
        specs = list(self.requirement.specifier)
        return specs[0].version if len(specs) == 1 and specs[0].operator == "==" else None


def read_lock(path: Path) -> list[Pin]:
    """One Pin per requirement line (a package may appear twice, under disjoint markers)."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    if pending.strip():
        logical.append(pending)
    pins = []
    for line in logical:
        head, *options = line.split(" --hash=")
        pins.append(Pin(Requirement(head.strip()), tuple(option.strip() for option in options)))
    return pins


def versions(pins: list[Pin]) -> dict[str, set[str | None]]:
    """Every version each package is pinned to."""
    out: dict[str, set[str | None]] = {}
    for pin in pins:
        out.setdefault(pin.name, set()).add(pin.version)
    return out


def requirement_names(lines: list[str]) -> set[str]:
    """The canonical names of requirement specifiers (`moto[ec2]>=5`, `pip`, ...)."""
    return {canonicalize_name(Requirement(line).name) for line in lines}


def read_in(path: Path) -> list[str]:
    """The requirement lines of a requirements/*.in file."""
    return [s for line in path.read_text(encoding="utf-8").splitlines() if (s := line.split("#", 1)[0].strip())]
