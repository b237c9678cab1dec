"""One scheduler among several processes: two leader elections against the real Redis
(DB 13), with short TTLs so a takeover happens within seconds."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from bot.reminders.leader import LeaderElection
from tests.support.services import require_redis

pytestmark = pytest.mark.redis

REDIS_URL = "redis://127.0.0.1:6379/13"
TTL = 1.5
RENEW = 0.3


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    require_redis()
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except OSError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"Redis DB 13 not reachable: {exc}")
    yield client
    await client.aclose()


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, float]] = []

    async def elected(self) -> None:
        self.events.append(("elected", time.monotonic()))

    async def lost(self) -> None:
        self.events.append(("lost", time.monotonic()))


def election(redis: Redis, key: str, name: str) -> LeaderElection:
    return LeaderElection(redis, key=key, ttl=TTL, renew_every=RENEW, identity=name)


async def wait_until(predicate, timeout: float) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def test_one_leader_and_a_bounded_takeover_when_it_dies(redis: Redis) -> None:
    key = f"test:leader:{uuid.uuid4().hex}"
    ra, rb = Recorder(), Recorder()
    a, b = election(redis, key, "a"), election(redis, key, "b")
    await a.start(ra.elected, ra.lost)
    await b.start(rb.elected, rb.lost)
    try:
        assert a.is_leader and not b.is_leader
        assert await redis.get(key) == b"a"
        # Renewals keep it: after several TTLs a still leads and b never did.
        await asyncio.sleep(TTL * 2.5)
        assert a.is_leader and not b.is_leader
        assert [e for e, _ in rb.events] == []
        # a dies without releasing (no stop(): its renewal task simply ends, like a crash).
        assert a._task is not None
        a._task.cancel()
        died = time.monotonic()
        taken = await wait_until(lambda: b.is_leader, TTL + RENEW + 2)
        assert taken <= TTL + RENEW + 0.5
        assert rb.events[0][0] == "elected" and rb.events[0][1] - died <= TTL + RENEW + 0.5
        assert await redis.get(key) == b"b"
        # The dead one stops counting itself the leader before its lock could have expired.
        assert not a.is_leader
    finally:
        await b.stop()
        await a.stop()
    assert [e for e, _ in rb.events] == ["elected", "lost"]
    assert await redis.get(key) is None  # b released it on stop


async def test_a_clean_stop_hands_over_at_once(redis: Redis) -> None:
    key = f"test:leader:{uuid.uuid4().hex}"
    ra, rb = Recorder(), Recorder()
    a, b = election(redis, key, "a"), election(redis, key, "b")
    await a.start(ra.elected, ra.lost)
    await b.start(rb.elected, rb.lost)
    try:
        await a.stop()
        assert [e for e, _ in ra.events] == ["elected", "lost"]
        # Released, not expired: b takes over at its next attempt, well before the TTL.
        taken = await wait_until(lambda: b.is_leader, TTL)
        assert taken <= RENEW + 0.3
    finally:
        await b.stop()


async def test_a_leader_that_lost_its_key_steps_down(redis: Redis) -> None:
    key = f"test:leader:{uuid.uuid4().hex}"
    ra = Recorder()
    a = election(redis, key, "a")
    await a.start(ra.elected, ra.lost)
    try:
        assert a.is_leader
        # Someone else holds the key now (e.g. after a long pause of this process).
        await redis.set(key, "intruder", px=int(TTL * 1000))
        await wait_until(lambda: not a.is_leader, RENEW * 3)
        assert [e for e, _ in ra.events] == ["elected", "lost"]
    finally:
        await a.stop()
    assert await redis.get(key) == b"intruder"  # not released by a: it was not a's


async def test_without_redis_the_only_process_leads() -> None:
    rec = Recorder()
    solo = LeaderElection(None)
    await solo.start(rec.elected, rec.lost)
    assert solo.is_leader
    await solo.stop()
    assert not solo.is_leader
    assert [e for e, _ in rec.events] == ["elected", "lost"]


def test_timings_are_checked() -> None:
    with pytest.raises(ValueError):
        LeaderElection(None, ttl=5, renew_every=5)


async def test_a_leader_that_cannot_start_gives_the_lock_back(redis: Redis) -> None:
    key = f"test:leader:{uuid.uuid4().hex}"
    attempts = 0
    lost = 0

    async def failing() -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("job store unreachable")

    async def on_lost() -> None:
        nonlocal lost
        lost += 1

    a = election(redis, key, "a")
    await a.start(failing, on_lost)
    try:
        assert not a.is_leader and lost == 1
        assert await redis.get(key) is None  # released, not held for the TTL
        await wait_until(lambda: a.is_leader, RENEW * 4)  # the next try succeeds
        assert attempts == 2
    finally:
        await a.stop()
