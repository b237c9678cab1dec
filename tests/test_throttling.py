"""A user flooding the bot is slowed down, told so once, and nobody else notices."""

from __future__ import annotations

import asyncio
import math
import random
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram.types import Chat, Message, Update
from redis.asyncio import Redis

from bot.middlewares.throttling import (
    MemoryRateLimiter,
    RedisRateLimiter,
    Verdict,
)
from tests.support.botenv import BOT_USER
from tests.support.services import RedisTrips, require_redis

REDIS_URL = "redis://127.0.0.1:6379/14"
NOTICE_EN = "Too many messages at once — please wait a couple of seconds."
NOTICE_RU = "Слишком много сообщений подряд — подождите пару секунд."
HELP_EN = "What I can do"
BURST = 10


@dataclass
class Clock:
    now: float = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def fresh_id() -> int:
    # Redis outlives the test run; ids picked at random keep runs (and engineers) apart.
    return 10_000_000 + secrets.randbelow(2**30)


def message_update(user_id: int, text: str = "/help", *, chat_id: int | None = None,
                   chat_type: str = "private", lang: str = "en") -> Update:
    entities = ([{"type": "bot_command", "offset": 0, "length": len(text.split(maxsplit=1)[0])}]
                if text.startswith("/") else None)
    chat = ({"id": user_id, "type": "private", "first_name": "A"} if chat_type == "private"
            else {"id": chat_id, "type": chat_type, "title": "Neighbours"})
    return Update.model_validate({
        "update_id": fresh_id(),
        "message": {
            "message_id": secrets.randbelow(10**6) + 1, "date": int(time.time()), "text": text,
            "chat": chat, "entities": entities,
            "from": {"id": user_id, "is_bot": False, "first_name": "A", "language_code": lang},
        },
    })


def callback_update(user_id: int, data: str = "stale:button") -> Update:
    message = Message(message_id=1, date=datetime.now(UTC), text="old message",
                      chat=Chat(id=user_id, type="private", first_name="A"),
                      from_user=BOT_USER)
    return Update.model_validate({
        "update_id": fresh_id(),
        "callback_query": {
            "id": str(fresh_id()), "chat_instance": "ci", "data": data,
            "from": {"id": user_id, "is_bot": False, "first_name": "A", "language_code": "en"},
            "message": message.model_dump(exclude_none=True),
        },
    })


async def send(env: Any, update: Update) -> None:
    await env.dp.feed_update(env.bot, update)


def texts_to(chat_id: int, *envs: Any) -> list[str]:
    return [r.text or "" for env in envs for r in env.session.requests
            if r.method == "sendMessage" and r.chat_id == chat_id]


def sample(env: Any, name: str, **labels: str) -> float:
    value = env.runtime.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else float(value)


def throttled(**settings: Any) -> dict[str, Any]:
    # Explicit, whatever the suite's default: conversation tests type faster than any human.
    return {"throttle_rate": 3, "throttle_burst": BURST, **settings}


async def frozen_env(bot_env: Any, **settings: Any) -> tuple[Any, Clock]:
    env = await bot_env(**throttled(**settings))
    clock = Clock()
    assert env.runtime.throttle is not None
    env.runtime.throttle.clock = clock
    return env, clock


# --- the bucket --------------------------------------------------------------------------------


async def test_bucket_allows_a_burst_then_one_notice_then_silence() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(rate=3, burst=BURST, clock=clock)
    verdicts = [await limiter.take(1, 42) for _ in range(20)]
    assert verdicts[:BURST] == [Verdict.ALLOW] * BURST
    assert verdicts[BURST] is Verdict.DROP_WITH_NOTICE
    assert verdicts[BURST + 1:] == [Verdict.DROP] * (20 - BURST - 1)
    # A third of a second buys one more; the episode goes on, so no second notice.
    clock.advance(1 / 3 + 0.01)
    assert await limiter.take(1, 42) is Verdict.ALLOW
    assert await limiter.take(1, 42) is Verdict.DROP
    # Quiet until the bucket is full again: the episode is over, a new one gets a notice.
    clock.advance(BURST / 3 + 0.01)
    assert [await limiter.take(1, 42) for _ in range(BURST)] == [Verdict.ALLOW] * BURST
    assert await limiter.take(1, 42) is Verdict.DROP_WITH_NOTICE


async def test_buckets_are_per_user_and_per_bot() -> None:
    limiter = MemoryRateLimiter(rate=1, burst=1, clock=Clock())
    assert await limiter.take(1, 42) is Verdict.ALLOW
    assert await limiter.take(1, 42) is Verdict.DROP_WITH_NOTICE
    assert await limiter.take(1, 43) is Verdict.ALLOW
    assert await limiter.take(2, 42) is Verdict.ALLOW


async def test_memory_keeps_only_recently_active_users() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(rate=2, burst=4, clock=clock)
    for user_id in range(100):
        await limiter.take(1, user_id)
    assert len(limiter) == 100
    clock.advance(2.0)  # burst / rate: every bucket is full again
    await limiter.take(1, 1000)
    assert len(limiter) == 1


async def test_redis_script_matches_the_python_bucket() -> None:
    require_redis()
    redis = Redis.from_url(REDIS_URL)
    clock = Clock()
    shared = RedisRateLimiter(redis, rate=3, burst=5, clock=clock)
    local = MemoryRateLimiter(rate=3, burst=5, clock=clock)
    user_id = fresh_id()
    rng = random.Random(20261121)
    try:
        for _ in range(300):
            clock.advance(rng.choice([0.0, 0.0, 0.05, 0.1, 0.34, 1.0, 2.5]))
            assert await shared.take(1, user_id) is await local.take(1, user_id)
        ttl_ms = await redis.pttl(shared.key(1, user_id))
        assert 0 < ttl_ms <= math.ceil(5 / 3 * 1000) + 1000, "an idle bucket must leave Redis"
    finally:
        await redis.delete(shared.key(1, user_id))
        await redis.aclose()


# --- through the real dispatcher ---------------------------------------------------------------


async def test_flood_gets_a_burst_and_one_notice_others_are_served(bot_env: Any) -> None:
    env, clock = await frozen_env(bot_env)
    flooder, neighbour = 7201, 7202

    async def flood() -> None:
        for _ in range(20):
            await send(env, message_update(flooder))

    async def calm() -> None:
        for _ in range(5):
            await send(env, message_update(neighbour))
            await asyncio.sleep(0)

    await asyncio.gather(flood(), calm())
    said = texts_to(flooder, env)
    assert len(said) <= BURST + 1
    assert said.count(NOTICE_EN) == 1
    assert sum(HELP_EN in text for text in said) == BURST
    assert said[-1] == NOTICE_EN, "the notice answers the first dropped message"
    assert [HELP_EN in text for text in texts_to(neighbour, env)] == [True] * 5

    assert sample(env, "bot_updates_total", kind="message", outcome="throttled") == 20 - BURST
    assert sample(env, "bot_updates_total", kind="message", outcome="handled") == BURST + 5
    # Dropped updates never reach the handlers: the latency histogram saw only the others.
    assert sample(env, "bot_handler_latency_seconds_count") == BURST + 5

    # Still flooding: still dropped, and not told again.
    await send(env, message_update(flooder))
    assert len(texts_to(flooder, env)) == BURST + 1
    # After a pause the user is served again.
    clock.advance(5)
    await send(env, message_update(flooder))
    assert HELP_EN in texts_to(flooder, env)[-1]


async def test_notice_is_in_the_users_language(bot_env: Any) -> None:
    env, _ = await frozen_env(bot_env, throttle_burst=1)
    await send(env, message_update(7203, lang="ru"))
    await send(env, message_update(7203, lang="ru"))
    assert texts_to(7203, env)[-1] == NOTICE_RU


async def test_dropped_button_presses_are_answered_silently(bot_env: Any) -> None:
    env, _ = await frozen_env(bot_env, throttle_burst=1)
    user_id = 7204
    await send(env, message_update(user_id))
    for _ in range(3):
        await send(env, callback_update(user_id))
    answers = [r.obj for r in env.session.requests if r.method == "answerCallbackQuery"]
    assert len(answers) == 3, "every dropped press stops its button's spinner"
    # The first drop of the episode carries the notice as a toast; the rest say nothing.
    assert [getattr(a, "text", None) for a in answers] == [NOTICE_EN, None, None]
    assert len(texts_to(user_id, env)) == 1, "no notice message on top of the toast"
    assert sample(env, "bot_updates_total", kind="callback_query", outcome="throttled") == 3


async def test_in_a_group_the_limit_is_per_user(bot_env: Any) -> None:
    env, _ = await frozen_env(bot_env, throttle_burst=2)
    group = -100123
    for _ in range(5):
        await send(env, message_update(7205, "hello", chat_id=group, chat_type="supergroup"))
    notices = [r.obj for r in env.session.requests
               if r.method == "sendMessage" and r.chat_id == group]
    assert [getattr(n, "text", None) for n in notices] == [NOTICE_EN]
    assert getattr(notices[0], "reply_parameters", None) is not None, "says whom it is for"
    assert sample(env, "bot_updates_total", kind="message", outcome="throttled") == 3
    # Another member of the same group is not held back by the first one's flood.
    await send(env, message_update(7206, "hello", chat_id=group, chat_type="supergroup"))
    await send(env, message_update(7206, "hello", chat_id=group, chat_type="supergroup"))
    assert sample(env, "bot_updates_total", kind="message", outcome="throttled") == 3


async def test_throttle_rate_zero_turns_it_off(bot_env: Any) -> None:
    env = await bot_env(throttle_rate=0)
    assert env.runtime.throttle is None
    for _ in range(20):
        await send(env, message_update(7207))
    assert sum(HELP_EN in text for text in texts_to(7207, env)) == 20


@pytest.fixture
async def redis_envs(bot_env: Any) -> AsyncIterator[tuple[Any, Any, Clock]]:
    require_redis()
    first = await bot_env(**throttled(redis_url=REDIS_URL))
    second = await bot_env(**throttled(redis_url=REDIS_URL))
    clock = Clock(now=time.time())
    for env in (first, second):
        assert isinstance(env.runtime.throttle, RedisRateLimiter)
        env.runtime.throttle.clock = clock
    yield first, second, clock


async def test_instances_sharing_redis_share_the_bucket(
        redis_envs: tuple[Any, Any, Clock]) -> None:
    first, second, clock = redis_envs
    user_id, neighbour = fresh_id(), fresh_id()
    for i in range(20):  # a load balancer spreads the flood over both instances
        await send(first if i % 2 else second, message_update(user_id))
    said = texts_to(user_id, first, second)
    assert sum(HELP_EN in text for text in said) == BURST
    assert said.count(NOTICE_EN) == 1
    await send(first, message_update(neighbour))
    assert HELP_EN in texts_to(neighbour, first)[-1]
    clock.advance(5)
    await send(second, message_update(user_id))
    assert HELP_EN in texts_to(user_id, second)[-1]


async def test_with_redis_an_update_costs_two_round_trips_and_a_repeat_no_token(
        redis_envs: tuple[Any, Any, Clock]) -> None:
    """The lock script also marks the update's id as seen and takes the sender's token; the
    release writes the outcome: /help costs two Redis round trips in all. A repeated update
    (a retried delivery) is dropped before it spends a token."""
    first, second, _clock = redis_envs
    user_id = fresh_id()
    redis = first.runtime.redis
    with RedisTrips(redis) as trips:
        update = message_update(user_id)
        await send(first, update)
        assert trips == ["EVALSHA", "EVALSHA"], trips
        for _ in range(3):  # delivered again, to either instance
            await send(first, update)
            await send(second, update)
    assert sum(HELP_EN in text for text in texts_to(user_id, first, second)) == 1
    bucket = await redis.hgetall(first.runtime.throttle.key(first.bot.id, user_id))
    assert float(bucket[b"tokens"]) == BURST - 1  # the repeats spent nothing
    for _ in range(BURST - 1):  # the rest of the burst is still there
        await send(second, message_update(user_id))
    said = texts_to(user_id, first, second)
    assert sum(HELP_EN in text for text in said) == BURST and NOTICE_EN not in said
    await send(first, message_update(user_id))
    assert texts_to(user_id, first, second).count(NOTICE_EN) == 1
