"""The stack reads infra.definitions at synth time: change a route there and the rule changes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from infra import definitions
from tests.infra.conftest import CONTEXT, synthesize


def test_a_changed_route_reaches_the_synthesized_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the job-watch route also listening to a new detail-type
    routes = tuple(
        dataclasses.replace(route, detail_types=(*route.detail_types, "JobWatchNudge"))
        if route.name == "job-watch"
        else route
        for route in definitions.ROUTES
    )
    monkeypatch.setattr(definitions, "ROUTES", routes)

    # WHEN the stack is synthesized (nag off: only the routing matters here)
    synth = synthesize(tmp_path, CONTEXT, nag=False)

    # THEN the rule's pattern has it, replay exclusion included
    rule = synth.resources[synth.logical_id(synth.stack.routes.rules["job-watch"])]["Properties"]
    assert rule["EventPattern"]["detail-type"] == ["DRSJobStarted", "JobWatchTick", "JobWatchNudge"]
    assert rule["EventPattern"]["replay-name"] == [{"exists": False}]
