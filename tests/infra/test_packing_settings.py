"""The deploy settings of launch packing (issue #19): context `launchPacking`, `packingWindowSeconds`,
`packingStarvationSeconds`, checked at synth and given to the launch function only, in the names the functions'
Settings read (no synth needed: the config and the environments)."""

from __future__ import annotations

from typing import Any

import pytest

from infra.definitions import FUNCTIONS, LaunchPacking, function_environment
from infra.stack import StackConfig
from orchestrator.config import Settings


def _config(**context: Any) -> StackConfig:
    return StackConfig.from_context(context.get)


def test_packing_is_on_with_a_5_s_window_and_600_s_starvation_unless_the_context_says_otherwise() -> None:
    assert _config().launch_packing == LaunchPacking(enabled=True, window_seconds=5, starvation_seconds=600)
    assert _config(launchPacking="false", packingWindowSeconds="0", packingStarvationSeconds=120).launch_packing == (
        LaunchPacking(enabled=False, window_seconds=0, starvation_seconds=120)
    )
    assert _config(launchPacking=False).launch_packing.enabled is False


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"launchPacking": "maybe"}, "launchPacking: 'maybe' is not true or false"),
        ({"packingWindowSeconds": "soon"}, "packingWindowSeconds: 'soon' is not a whole number of seconds"),
        ({"packingWindowSeconds": 301}, "packingWindowSeconds: 301 is not 0 to 300 seconds"),
        ({"packingStarvationSeconds": -1}, "packingStarvationSeconds: -1 is not 0 to 86,400 seconds"),
    ],
)
def test_a_malformed_packing_setting_fails_the_synth_naming_it(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _config(**context)


def test_only_the_launch_function_gets_the_packing_settings_and_its_settings_read_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN / WHEN each function's environment with packing off, a 2 s window and 60 s starvation
    packing = LaunchPacking(enabled=False, window_seconds=2, starvation_seconds=60)
    envs = {
        name: function_environment(
            spec,
            table_name="t",
            bus_name="b",
            bus_arn="arn:b",
            scheduler_group="g",
            scheduler_role_arn="arn:r",
            launch_packing=packing,
        )
        for name, spec in FUNCTIONS.items()
    }
    # THEN the launch function has them, no other
    given = [name for name, env in envs.items() if "DRS_LAUNCH_PACKING" in env]
    assert given == ["launch_wave"]
    # AND the orchestrator's settings read them from that environment
    for key, value in envs["launch_wave"].items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert (settings.drs_packing, settings.drs_packing_window_seconds, settings.drs_packing_starvation_seconds) == (
        False,
        2,
        60,
    )
