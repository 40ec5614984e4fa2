"""infra/checkov.yaml: every check skipped in the IaC scan says why, right above it."""

from __future__ import annotations

import re

import yaml

from infra.definitions import INFRA_DIR

CONFIG = INFRA_DIR / "checkov.yaml"


def test_every_skipped_check_has_its_reason_above_it() -> None:
    # GIVEN the scanner's configuration
    lines = CONFIG.read_text().splitlines()
    skipped = yaml.safe_load(CONFIG.read_text())["skip-check"]
    assert skipped, "nothing skipped: drop the skip-check key instead"

    for check in skipped:
        # THEN the comment block right above the entry starts by naming the check, then gives a reason
        index = lines.index(f"  - {check}")
        block: list[str] = []
        for line in reversed(lines[:index]):
            if not line.strip().startswith("#"):
                break
            block.insert(0, line.strip().lstrip("# "))
        assert block, check
        assert re.match(rf"{check} \(.+\): .{{40,}}", " ".join(block)), (check, block)


def test_the_scan_is_offline_and_of_the_templates_only() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    assert config["framework"] == ["cloudformation"]
    assert config["skip-download"] is True
