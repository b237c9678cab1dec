"""The reminders' rate limiter with a fake clock: even global spacing, one message a chat a
second, a global pause after a 429."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from bot.reminders.ratelimit import RateLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def limiter(rate: float = 25, chat_interval: float = 1.1) -> tuple[RateLimiter, FakeTime]:
    fake = FakeTime()
    return RateLimiter(rate, chat_interval, clock=fake.clock, sleep=fake.sleep), fake


async def test_global_pace_is_even_without_a_burst() -> None:
    rl, fake = limiter(rate=25)
    times = []
    for chat in range(100):
        await rl.acquire(chat)
        times.append(fake.now)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap == pytest.approx(0.04) for gap in gaps)
    # No window of one second ever holds more than 25.
    assert max(sum(1 for t in times if start <= t < start + 1 - 1e-9) for start in times) == 25


async def test_one_chat_waits_its_interval_others_do_not() -> None:
    rl, fake = limiter(rate=25, chat_interval=1.1)
    await rl.acquire(7)
    start = fake.now
    assert rl.chat_ready_in(7) == pytest.approx(1.1)
    assert rl.chat_ready_in(8) == 0
    await rl.acquire(8)
    assert fake.now - start == pytest.approx(0.04)
    await rl.acquire(7)
    assert fake.now - start == pytest.approx(1.1)


async def test_pause_after_429_holds_everybody() -> None:
    rl, fake = limiter()
    await rl.acquire(1)
    rl.pause(5)
    assert rl.paused_for == pytest.approx(5)
    before = fake.now
    await rl.acquire(2)
    assert fake.now - before == pytest.approx(5)
    assert rl.paused_for == 0


async def test_waiters_are_served_in_order() -> None:
    rl = RateLimiter(50, 0)
    order: list[int] = []

    async def take(chat: int) -> None:
        await rl.acquire(chat)
        order.append(chat)

    await asyncio.gather(*(take(chat) for chat in range(10)))
    assert order == list(range(10))


def test_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0)
    with pytest.raises(ValueError):
        RateLimiter(10, -1)


async def test_pace_spaces_requests_that_were_delayed_together() -> None:
    rl, fake = limiter(rate=25)
    # Slots handed out evenly, then a stall (a slow commit) lets three requests queue up.
    for chat in range(3):
        await rl.acquire(chat)
    fake.now += 0.5
    leaving = []
    for _ in range(3):
        await rl.pace()
        leaving.append(fake.now)
    assert [round(b - a, 3) for a, b in itertools.pairwise(leaving)] == [0.04, 0.04]
