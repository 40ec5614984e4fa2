"""The launch packer's policy (orchestrator/domain/packing.py): the gathering window, the quotas, the order when
capacity is short, no starvation, and a wave's own servers in a shared job."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.domain.packing import (
    PackedJob,
    PackingError,
    Pool,
    ReadyChunk,
    Room,
    launch_order,
    own_launch_settled,
    own_servers,
    pack,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = timedelta(seconds=10)
STARVATION = timedelta(minutes=30)
RECOVERY = Pool("111111111111", "eu-west-1", is_drill=False)
DRILL = Pool("111111111111", "eu-west-1", is_drill=True)
DRS = Room(jobs=20, servers=500, servers_per_job=100)  # the DRS quotas when nothing is in flight


def _chunk(
    n: int,
    servers: int,
    *,
    at: datetime = T0,
    pool: Pool = RECOVERY,
    path: float = 1.0,
    priority: int = 0,
) -> ReadyChunk:
    return ReadyChunk(
        launch_key=f"k{n}",
        execution_id=f"e{n}",
        wave_id="w",
        pool=pool,
        server_ids=tuple(f"s-{n:06d}{i:04d}" for i in range(servers)),
        ready_at=at,
        sequence=n,
        remaining_path=path,
        priority=priority,
    )


def _pack(chunks: list[ReadyChunk], room: Room = DRS, now: datetime = T0 + WINDOW) -> tuple[list[list[str]], list[str]]:
    """(each job's launch keys, the waiting launch keys)."""
    packing = pack(chunks, room, now, window=WINDOW, starvation=STARVATION)
    return [[c.launch_key for c in job.chunks] for job in packing.jobs], [c.launch_key for c in packing.waiting]


def test_the_issues_hundred_waves_of_five_servers_make_five_jobs_of_a_hundred() -> None:
    # GIVEN 100 waves of 5 servers ready together (issue #19: 100 jobs today, 20 at a time)
    chunks = [_chunk(n, 5) for n in range(100)]

    # WHEN they are packed with nothing in flight
    packing = pack(chunks, DRS, T0 + WINDOW, window=WINDOW, starvation=STARVATION)

    # THEN five jobs of 100 servers start at once, each server in exactly one job, nothing waits
    assert [len(job.server_ids) for job in packing.jobs] == [100] * 5
    launched = [sid for job in packing.jobs for sid in job.server_ids]
    assert sorted(launched) == sorted(sid for c in chunks for sid in c.server_ids)
    assert packing.waiting == ()


def test_chunks_gather_for_the_window_then_share_a_job() -> None:
    # GIVEN two chunks ready 4 s apart
    chunks = [_chunk(1, 5), _chunk(2, 5, at=T0 + timedelta(seconds=4))]

    # WHEN the packer looks before the oldest has waited the window
    early = pack(chunks, DRS, T0 + WINDOW - timedelta(seconds=1), window=WINDOW, starvation=STARVATION)

    # THEN nothing starts, and it is told when to look again: when the oldest's window ends
    assert early.jobs == ()
    assert early.next_due == T0 + WINDOW
    # and at the end of the window both start in one job (the younger one did not wait its own window)
    assert _pack(chunks, now=T0 + WINDOW) == ([["k1", "k2"]], [])


def test_a_full_jobs_worth_does_not_wait_for_the_window() -> None:
    # GIVEN 100 servers ready in one pool just now
    chunks = [_chunk(n, 50) for n in range(2)]

    # WHEN / THEN they start at once
    assert _pack(chunks, now=T0) == ([["k0", "k1"]], [])


def test_drills_and_recoveries_never_share_a_job() -> None:
    # GIVEN a drill chunk and a recovery chunk ready together
    chunks = [_chunk(1, 5, pool=DRILL), _chunk(2, 5)]

    # WHEN / THEN two jobs, one per mode
    jobs, waiting = _pack(chunks)
    assert sorted(jobs) == [["k1"], ["k2"]]
    assert waiting == []


def test_a_pool_still_gathering_does_not_hold_back_a_due_one() -> None:
    # GIVEN a recovery chunk due and a drill chunk ready just now
    chunks = [_chunk(1, 5), _chunk(2, 5, pool=DRILL, at=T0 + WINDOW)]

    # WHEN / THEN the recovery starts, the drill waits for its own window
    packing = pack(chunks, DRS, T0 + WINDOW, window=WINDOW, starvation=STARVATION)
    assert [[c.launch_key for c in job.chunks] for job in packing.jobs] == [["k1"]]
    assert [c.launch_key for c in packing.waiting] == ["k2"]
    assert packing.next_due == T0 + 2 * WINDOW


def test_short_capacity_goes_to_the_longest_path_then_priority_then_arrival() -> None:
    # GIVEN room for one job of 10 servers, and four chunks of 10
    room = Room(jobs=1, servers=10, servers_per_job=100)
    first_come = _chunk(1, 10)
    urgent = _chunk(2, 10, priority=5)
    long_path = _chunk(3, 10, path=3.0)
    late = _chunk(4, 10, at=T0 + timedelta(seconds=1))

    # WHEN / THEN the one on the longest remaining path goes
    assert _pack([first_come, urgent, long_path, late], room) == ([["k3"]], ["k2", "k1", "k4"])
    # and without it, the plan priority decides, then arrival
    assert _pack([late, first_come, urgent], room) == ([["k2"]], ["k1", "k4"])
    assert _pack([late, first_come], room) == ([["k1"]], ["k4"])


def test_a_chunk_that_does_not_fit_lets_smaller_ones_by_until_it_starves() -> None:
    # GIVEN 30 servers of room, a 50-server chunk first in line and a 5-server chunk behind it
    room = Room(jobs=20, servers=30, servers_per_job=100)
    large, small = _chunk(1, 50, path=2.0), _chunk(2, 5)

    # WHEN it has waited less than the starvation limit, THEN the small one uses the room
    assert _pack([large, small], room) == ([["k2"]], ["k1"])
    # WHEN it has waited the limit, THEN nothing overtakes it: the room freed by ending jobs is kept for it
    assert _pack([large, small], room, now=T0 + STARVATION) == ([], ["k1", "k2"])


def test_one_large_plan_among_many_small_ones_is_not_starved() -> None:
    # GIVEN small plans' chunks of 20 servers on long paths arriving every 15 s (more than DRS can take: 800
    # servers per 10 minutes), each job taking 10 minutes, the packer looking every 15 s, and, once DRS is
    # full, a large plan's 100-server chunk on a short path
    job_time, step = timedelta(minutes=10), timedelta(seconds=15)
    large_at = T0 + timedelta(minutes=20)
    ready: list[ReadyChunk] = []
    in_flight: list[tuple[datetime, int]] = []  # (ends at, servers)
    started_at: dict[str, datetime] = {}
    now, n = T0, 1
    while now < T0 + timedelta(hours=3) and "k0" not in started_at:
        ready.append(_chunk(n, 20, at=now, path=4.0))
        n += 1
        if now == large_at:
            ready.append(_chunk(0, 100, at=now, path=1.0))
        in_flight = [(end, size) for end, size in in_flight if end > now]
        room = Room(jobs=20 - len(in_flight), servers=500 - sum(size for _, size in in_flight), servers_per_job=100)

        # WHEN the packer packs what is ready into the room left
        packing = pack(ready, room, now, window=WINDOW, starvation=STARVATION)
        for job in packing.jobs:
            in_flight.append((now + job_time, len(job.server_ids)))
            started_at.update({c.launch_key: now for c in job.chunks})
        ready = list(packing.waiting)
        now += step

    # THEN the large plan's chunk started within the starvation limit and one job's time of becoming ready
    assert "k0" in started_at
    assert started_at["k0"] - large_at <= STARVATION + job_time


def test_launch_order_puts_the_starved_first_by_arrival() -> None:
    # GIVEN an old chunk on a short path and a fresh one on a long path
    old, fresh = _chunk(1, 5, path=1.0), _chunk(2, 5, at=T0 + STARVATION, path=9.0)

    # WHEN / THEN before the limit the long path goes first, after it the old chunk
    assert [c.launch_key for c in launch_order([old, fresh], T0 + STARVATION - timedelta(seconds=1), STARVATION)] == [
        "k2",
        "k1",
    ]
    assert [c.launch_key for c in launch_order([fresh, old], T0 + STARVATION, STARVATION)] == ["k1", "k2"]


def test_the_packed_job_key_is_the_same_whatever_the_order() -> None:
    # GIVEN the same chunks in two orders
    a, b = _chunk(1, 5), _chunk(2, 5)

    # WHEN / THEN the key a retried packer claims and tags is the same; another batch has another key
    assert PackedJob(RECOVERY, (a, b)).key == PackedJob(RECOVERY, (b, a)).key
    assert PackedJob(RECOVERY, (a,)).key != PackedJob(RECOVERY, (a, b)).key
    assert PackedJob(RECOVERY, (a, b)).owners["s-0000020000"] == "k2"


@pytest.mark.parametrize(
    ("chunks", "room", "message"),
    [
        ([_chunk(1, 5), replace(_chunk(2, 5), server_ids=_chunk(1, 1).server_ids)], DRS, "in two ready chunks"),
        ([_chunk(1, 5), replace(_chunk(2, 5), launch_key="k1")], DRS, "ready twice"),
        ([_chunk(1, 101)], DRS, "101 servers"),
        ([replace(_chunk(1, 1), server_ids=())], DRS, "0 servers"),
        ([_chunk(1, 5), _chunk(2, 5, pool=Pool("222222222222", "eu-west-1", is_drill=False))], DRS, "one account"),
        ([_chunk(1, 5)], Room(jobs=-1, servers=500, servers_per_job=100), "no valid room"),
    ],
)
def test_inconsistent_input_is_refused_whole(chunks: list[ReadyChunk], room: Room, message: str) -> None:
    # GIVEN / WHEN / THEN a clear error, nothing packed
    with pytest.raises(PackingError, match=message):
        pack(chunks, room, T0 + WINDOW, window=WINDOW, starvation=STARVATION)


def test_a_starvation_limit_shorter_than_the_window_is_refused() -> None:
    with pytest.raises(PackingError, match="at least the window"):
        pack([_chunk(1, 5)], DRS, T0, window=WINDOW, starvation=WINDOW - timedelta(seconds=1))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(1, 100), min_size=0, max_size=40),
    ages=st.lists(st.integers(0, 4000), min_size=40, max_size=40),
    drills=st.lists(st.booleans(), min_size=40, max_size=40),
    jobs=st.integers(0, 20),
    servers=st.integers(0, 500),
)
def test_packing_never_breaks_a_quota_nor_loses_or_doubles_a_server(
    sizes: list[int], ages: list[int], drills: list[bool], jobs: int, servers: int
) -> None:
    # GIVEN any ready chunks and any room left
    now = T0 + timedelta(hours=2)
    chunks = [
        _chunk(n, size, at=now - timedelta(seconds=ages[n]), pool=DRILL if drills[n] else RECOVERY, path=n % 3)
        for n, size in enumerate(sizes)
    ]
    room = Room(jobs=jobs, servers=servers, servers_per_job=100)

    # WHEN they are packed
    packing = pack(chunks, room, now, window=WINDOW, starvation=STARVATION)

    # THEN the quotas hold, every job is one pool's, and every chunk is either in one job or waiting
    assert len(packing.jobs) <= jobs
    assert sum(len(job.server_ids) for job in packing.jobs) <= servers
    for job in packing.jobs:
        assert 0 < len(job.server_ids) <= 100
        assert {c.pool for c in job.chunks} == {job.pool}
    placed = [c.launch_key for job in packing.jobs for c in job.chunks] + [c.launch_key for c in packing.waiting]
    assert sorted(placed) == sorted(c.launch_key for c in chunks)
    # and a due chunk waits only when it could not have fitted, whatever else was packed
    if jobs == 20 and servers == 500 and len(sizes) <= 5:
        assert not [c for c in packing.waiting if now - c.ready_at >= WINDOW]


def _job(*servers: tuple[str, str]) -> list[dict[str, object]]:
    return [{"sourceServerID": sid, "launchStatus": status} for sid, status in servers]


def test_a_wave_is_settled_by_its_own_servers_while_others_in_the_job_launch() -> None:
    # GIVEN a shared job: wave A's two servers have ended, wave B's one is still launching
    job = _job(("s-a1", "LAUNCHED"), ("s-b1", "IN_PROGRESS"), ("s-a2", "FAILED"))

    # WHEN / THEN wave A sees only its own servers, and its launch is over; wave B's is not
    assert [s["sourceServerID"] for s in own_servers(job, ["s-a2", "s-a1"])] == ["s-a1", "s-a2"]
    assert own_launch_settled(job, ["s-a1", "s-a2"])
    assert not own_launch_settled(job, ["s-b1"])


def test_a_wave_whose_server_is_missing_from_the_job_is_not_settled() -> None:
    # GIVEN a job that does not (yet) list one of the wave's servers, and a wave with no servers
    job = _job(("s-a1", "LAUNCHED"))

    # WHEN / THEN neither counts as settled
    assert not own_launch_settled(job, ["s-a1", "s-a2"])
    assert not own_launch_settled(job, [])
