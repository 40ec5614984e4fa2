from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
EXAMPLES = ROOT / "drs_orch" / "examples"
INVALID = Path(__file__).resolve().parent / "invalid"


def server_id(number: int) -> str:
    """A well-formed DRS source server id for test plans."""
    return f"s-{number:017d}"


@pytest.fixture
def examples() -> Path:
    return EXAMPLES
