"""The local dispatcher (EventBridge's delivery, standing in for it): `faults.reorderDelivery` delivers a
share of events after later ones, each still exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from events.models import CapacityTick
from infra.definitions import Route
from localcloud.cloud import LocalCloud
from localcloud.profile import load_profile


@pytest.fixture
def deliveries(request: pytest.FixtureRequest) -> Iterator[tuple[LocalCloud, list[int]]]:
    """A started local cloud whose targets only record the `seq` of what they receive."""
    cloud = LocalCloud(load_profile(None, **{"faults.reorderDelivery": request.param, "seed": 3}))
    cloud.start()
    seen: list[int] = []

    def record(route: Route, event: dict[str, Any]) -> None:
        seen.append(int(event["detail"]["seq"]))

    cloud._invoke_target = record  # type: ignore[method-assign]
    try:
        yield cloud, seen
    finally:
        cloud.stop()


def _publish(cloud: LocalCloud, count: int) -> None:
    for seq in range(count):  # CapacityTick: one rule, one queue, one target
        cloud.publish("CapacityTick", {"seq": seq})


@pytest.mark.parametrize("deliveries", [0.0], indirect=True)
def test_without_the_fault_events_are_delivered_in_publish_order(deliveries: tuple[LocalCloud, list[int]]) -> None:
    # GIVEN 30 events published one after another
    cloud, seen = deliveries
    _publish(cloud, 30)
    # WHEN the dispatcher delivers them THEN in that order
    assert cloud.pump() is True
    assert seen == list(range(30))
    assert cloud.stats.reordered == 0


@pytest.mark.parametrize("deliveries", [0.3], indirect=True)
def test_reorder_delivery_holds_a_share_back_and_delivers_each_once(deliveries: tuple[LocalCloud, list[int]]) -> None:
    # GIVEN 30 events published one after another, 30 % of deliveries held back
    cloud, seen = deliveries
    _publish(cloud, 30)

    # WHEN the dispatcher delivers them (and what it held back once nothing else is queued)
    cloud.drain()

    # THEN each arrived exactly once, and every held one after at least one published later
    assert sorted(seen) == list(range(30))
    assert seen != list(range(30))
    overtaken = {seq for index, seq in enumerate(seen) if any(later > seq for later in seen[:index])}
    assert len(overtaken) == cloud.stats.reordered > 0
    # AND nothing comes back from the queue: every held message was deleted once delivered
    assert cloud.pump() is False
    assert cloud._held == []
    assert len(seen) == 30


@pytest.mark.parametrize("deliveries", [1.0], indirect=True)
def test_a_held_delivery_goes_out_before_simulated_time_moves_on_to_a_later_tick(
    deliveries: tuple[LocalCloud, list[int]],
) -> None:
    # GIVEN every delivery held back, one event published now and a schedule that publishes another 110 s later
    # (campaign seed 1389: an approval held back went out after its gate's timeout tick, 110 s later)
    cloud, seen = deliveries
    cloud.publish("CapacityTick", {"seq": 0})
    later = cloud.clock.now() + timedelta(seconds=110)
    assert cloud.runtime is not None
    cloud.runtime.scheduler.at("later-tick", later, CapacityTick(due_at=later.isoformat()))

    # WHEN the cloud runs its rounds until one makes no progress (where it would move the clock to the tick)
    rounds = [cloud.step() for _ in range(4)]

    # THEN the held delivery went out before that, and the tick is still the next due moment
    assert seen == [0]
    assert rounds[-1] == (False, later.replace(microsecond=0))
    assert cloud.clock.now() < later
