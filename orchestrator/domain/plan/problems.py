"""What is wrong with a plan, and where: every check reports `Problem`s instead of raising."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One problem in a plan: a message, a stable code, and where it is (wave, field path, file line)."""

    message: str
    code: str
    wave_id: str | None = None
    path: str | None = None
    line: int | None = None
    source: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        """`plan.yaml:12: waves[1].dependsOn[0] (wave app): unknown dependency 'db2'`."""
        where = ""
        if self.source:
            where = f"{self.source}:{self.line}: " if self.line is not None else f"{self.source}: "
        elif self.line is not None:
            where = f"line {self.line}: "
        location = self.path or ""
        if self.wave_id is not None:
            location = f"{location} (wave {self.wave_id})".strip()
        if location:
            return f"{where}{location}: {self.message}"
        return f"{where}{self.message}"


class PlanError(Exception):
    """A plan could not be loaded: it carries every problem found, not only the first."""

    def __init__(self, problems: list[Problem], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        count = len(self.problems)
        head = f"{source}: " if source else ""
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"{head}invalid recovery plan ({count} problem{'s' if count != 1 else ''})\n{lines}")


def join_path(*parts: str | int) -> str:
    """`("waves", 1, "dependsOn", 0)` -> `waves[1].dependsOn[0]`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else part
    return out
