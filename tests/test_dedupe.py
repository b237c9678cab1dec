"""An update delivered twice (a webhook retry, two instances polling) is handled once."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import Update
from aiohttp import web
from redis.asyncio import Redis

from bot.middlewares.dedupe import (
    SEEN_TTL,
    DedupeMiddleware,
    MemorySeenUpdates,
    RedisSeenUpdates,
)
from bot.runners import create_webhook_app
from tests.conftest import TEST_TOKEN
from tests.support.services import require_redis

REDIS_URL = "redis://127.0.0.1:6379/14"
SECRET = "dedupe-Secret_1"


def help_update(update_id: int, user_id: int) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id % 1_000_000, "date": int(time.time()), "text": "/help",
            "chat": {"id": user_id, "type": "private", "first_name": "A"},
            "from": {"id": user_id, "is_bot": False, "first_name": "A", "language_code": "en"},
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }


def fresh_id() -> int:
    # Redis outlives the test run; ids picked at random keep runs (and engineers) apart.
    return 10_000_000 + secrets.randbelow(2**30)


def replies(*envs: Any) -> list[str]:
    return [r.text or "" for env in envs for r in env.session.requests
            if r.method == "sendMessage"]


def sample(env: Any, name: str, **labels: str) -> float:
    value = env.runtime.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else float(value)


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    require_redis()
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


async def feed(env: Any, update: dict[str, Any]) -> Any:
    return await env.dp.feed_update(env.bot, Update.model_validate(update))


# --- the backends ------------------------------------------------------------------------------


async def test_memory_remembers_per_bot_and_forgets_after_the_ttl() -> None:
    now = [0.0]
    seen = MemorySeenUpdates(ttl=100, clock=lambda: now[0])
    assert await seen.first_time(1, 7)
    assert not await seen.first_time(1, 7)
    assert await seen.first_time(2, 7), "another bot's update 7 is another update"
    now[0] = 99
    assert not await seen.first_time(1, 7)
    now[0] = 101
    assert await seen.first_time(1, 7)
    assert len(seen) == 1, "expired ids are dropped, not kept forever"


async def test_memory_is_bounded() -> None:
    seen = MemorySeenUpdates(capacity=3, clock=lambda: 0.0)
    for update_id in range(10):
        assert await seen.first_time(1, update_id)
    assert len(seen) == 3
    assert not await seen.first_time(1, 9)
    assert await seen.first_time(1, 0), "the oldest went first"


async def test_redis_key_has_the_24h_ttl(redis: Redis) -> None:
    seen = RedisSeenUpdates(redis)
    update_id = fresh_id()
    assert await seen.first_time(1, update_id)
    assert not await seen.first_time(1, update_id)
    ttl = await redis.ttl(seen.key(1, update_id))
    assert SEEN_TTL - 60 < ttl <= SEEN_TTL
    await redis.delete(seen.key(1, update_id))


async def test_redis_down_fails_open() -> None:
    broken = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    middleware = DedupeMiddleware(RedisSeenUpdates(broken))
    calls: list[int] = []

    async def handler(event: Any, data: dict[str, Any]) -> str:
        calls.append(event.update_id)
        return "handled"

    bot = Bot(TEST_TOKEN)
    try:
        update = Update.model_validate(help_update(5, 1))
        assert await middleware(handler, update, {"bot": bot}) == "handled"
        assert calls == [5]
    finally:
        await bot.session.close()
        await broken.aclose()


# --- through the real dispatcher ---------------------------------------------------------------


async def test_same_update_twice_is_handled_once_in_memory(bot_env: Any) -> None:
    env = await bot_env()
    update = help_update(fresh_id(), 7101)
    await feed(env, update)
    assert await feed(env, update) is UNHANDLED
    assert len(replies(env)) == 1
    assert sample(env, "bot_updates_total", kind="message", outcome="duplicate") == 1
    assert sample(env, "bot_updates_total", kind="message", outcome="handled") == 1
    # The repeat never reached the event log: one record, one latency observation.
    assert sample(env, "bot_handler_latency_seconds_count") == 1
    # A new id from the same user is a new update.
    await feed(env, help_update(fresh_id(), 7101))
    assert len(replies(env)) == 2


async def test_same_update_twice_is_handled_once_with_redis(bot_env: Any, redis: Redis) -> None:
    env = await bot_env(redis_url=REDIS_URL)
    user_id = fresh_id()
    update = help_update(fresh_id(), user_id)
    await feed(env, update)
    await feed(env, update)
    assert len(replies(env)) == 1
    assert sample(env, "bot_updates_total", kind="message", outcome="duplicate") == 1


async def test_two_instances_sharing_redis_handle_an_update_once(bot_env: Any,
                                                                 redis: Redis) -> None:
    first = await bot_env(redis_url=REDIS_URL)
    second = await bot_env(redis_url=REDIS_URL)
    assert first.dp is not second.dp and first.runtime is not second.runtime
    user_id = fresh_id()
    # One after the other (a retry that reached another instance) ...
    update = help_update(fresh_id(), user_id)
    await feed(first, update)
    await feed(second, update)
    assert len(replies(first, second)) == 1
    # ... and at the same moment: exactly one of the two wins.
    update = help_update(fresh_id(), user_id)
    await asyncio.gather(feed(first, update), feed(second, update))
    assert len(replies(first, second)) == 2
    duplicates = sum(sample(env, "bot_updates_total", kind="message", outcome="duplicate")
                     for env in (first, second))
    assert duplicates == 2


async def test_webhook_retry_is_handled_once(bot_env: Any) -> None:
    env = await bot_env(mode="webhook", webhook_url="https://bot.example.org",
                        webhook_secret=SECRET)
    runner = web.AppRunner(create_webhook_app(env.bot, env.dp, env.settings))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}{env.settings.webhook_path}"
    update = help_update(fresh_id(), 7102)
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(2):  # Telegram did not see the first 200, so it delivers again
                async with http.post(url, json=update,
                                     headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as resp:
                    assert resp.status == 200
        # Webhook updates are handled in the background, after the 200.
        for _ in range(200):
            if replies(env) and sample(env, "bot_updates_total", kind="message",
                                       outcome="duplicate"):
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        assert await env.runtime.in_flight.drain(5)
        assert len(replies(env)) == 1
        assert sample(env, "bot_updates_total", kind="message", outcome="duplicate") == 1
    finally:
        await runner.cleanup()
