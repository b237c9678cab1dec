"""With REDIS_URL the FSM lives in the real Redis: a restart resumes the conversation."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from redis.asyncio import Redis

from tests.support.services import REDIS_URL, require_redis


async def test_restart_midway_resumes_same_step_redis(bot_env: Any) -> None:
    require_redis()
    redis = Redis.from_url(REDIS_URL)
    await redis.flushdb()
    await redis.aclose()
    env = await bot_env(redis_url=REDIS_URL)
    assert type(env.runtime.storage).__name__ == "RedisStorage"
    assert type(env.runtime.isolation).__name__ == "RedisEventIsolation"
    client = env.client()
    await client.send("/start")
    await client.click("✓ 🇷🇺 Русский")
    await client.click("✅ Согласен")
    async with AsyncExitStack() as stack:
        env2 = await env.restart(stack)
        client2 = env2.client()
        await client2.share_contact("+79161234567")
        assert "e-mail" in client2.last_text()
    # the keys carry a TTL, so abandoned conversations do not pile up forever
    redis = Redis.from_url(REDIS_URL)
    try:
        keys = await redis.keys("fsm:*")
        assert keys
        ttls = [await redis.ttl(k) for k in keys]
        assert all(t > 0 for t in ttls), ttls
    finally:
        await redis.flushdb()
        await redis.aclose()



async def test_the_users_lock_is_polled_often(bot_env: Any) -> None:
    """A waiting update polls its user's lock every few ms, not every 0.1 s (redis-py's
    default): it goes on as soon as the update before it is done."""
    from bot.app import ISOLATION_LOCK

    require_redis()
    env = await bot_env(redis_url=REDIS_URL)
    assert env.runtime.isolation.lock_kwargs == ISOLATION_LOCK
    assert ISOLATION_LOCK["sleep"] <= 0.01 and ISOLATION_LOCK["timeout"] >= 30
