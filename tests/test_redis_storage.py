"""With REDIS_URL the FSM lives in the real Redis: a restart resumes the conversation."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from redis.asyncio import Redis

from tests.support.services import REDIS_URL, RedisTrips, require_redis


async def test_restart_midway_resumes_same_step_redis(bot_env: Any) -> None:
    require_redis()
    redis = Redis.from_url(REDIS_URL)
    await redis.flushdb()
    await redis.aclose()
    env = await bot_env(redis_url=REDIS_URL)
    assert type(env.runtime.storage).__name__ == "PrefetchingRedisStorage"
    assert type(env.runtime.isolation).__name__ == "PrefetchingIsolation"
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
    isolation = env.runtime.isolation
    assert isolation.sleep == ISOLATION_LOCK["sleep"] <= 0.01
    assert isolation.timeout_ms == ISOLATION_LOCK["timeout"] * 1000 >= 30_000


async def test_the_lock_hands_out_state_and_data_read_as_it_was_taken() -> None:
    """Taking a user's lock reads their state and data in the same round trip; the
    storage's first read of the state is answered from it, later reads go to Redis (they
    must see this update's writes); another task waits for the lock and gets its own."""
    import asyncio

    from aiogram.fsm.storage.base import StorageKey

    from bot.fsm_storage.keys import DestinyKeyBuilder
    from bot.fsm_storage.prefetch import PrefetchingRedisStorage, prefetched_data

    require_redis()
    redis = Redis.from_url(REDIS_URL)
    try:
        await redis.flushdb()
        storage = PrefetchingRedisStorage(redis, key_builder=DestinyKeyBuilder())
        isolation = storage.prefetching_isolation(timeout=60, sleep=0.005)
        key = StorageKey(bot_id=1, chat_id=5, user_id=5)
        other = StorageKey(bot_id=1, chat_id=6, user_id=6)
        await storage.set_state(key, "Steps:first")
        await storage.set_data(key, {"a": 1})
        order: list[str] = []

        async def second() -> None:
            async with isolation.lock(key):
                order.append("second in")
                assert await storage.get_state(key) == "Steps:second"  # the first's write
                assert prefetched_data(key) == (True, None)  # the first cleared the data

        with RedisTrips(redis) as commands:
            async with isolation.lock(key):
                assert commands == ["EVALSHA"]
                assert prefetched_data(key) == (True, '{"a": 1}')
                assert prefetched_data(other) == (False, None)
                assert await storage.get_state(key) == "Steps:first"
                assert commands == ["EVALSHA"]  # answered from the prefetch
                waiting = asyncio.create_task(second())
                await asyncio.sleep(0.05)
                assert order == []  # kept out while the lock is held
                await storage.set_state(key, "Steps:second")
                await storage.set_data(key, {})
                assert await storage.get_state(key) == "Steps:second"  # read again: not stale
                order.append("first out")
        await waiting
        assert order == ["first out", "second in"]
        assert prefetched_data(key) == (False, None)  # forgotten with the lock
        assert await redis.keys("fsm:*:lock") == []  # released
    finally:
        await redis.flushdb()
        await redis.aclose()


async def test_an_expired_lock_is_left_to_its_new_holder(caplog: Any) -> None:
    """An update that outlived the lock's expiry must not release the lock someone else
    has taken since: it logs a warning and leaves it."""
    from aiogram.fsm.storage.base import StorageKey

    from bot.fsm_storage.keys import DestinyKeyBuilder
    from bot.fsm_storage.prefetch import PrefetchingRedisStorage

    require_redis()
    redis = Redis.from_url(REDIS_URL)
    try:
        await redis.flushdb()
        storage = PrefetchingRedisStorage(redis, key_builder=DestinyKeyBuilder())
        isolation = storage.prefetching_isolation(timeout=60, sleep=0.005)
        key = StorageKey(bot_id=1, chat_id=5, user_id=5)
        lock_key = DestinyKeyBuilder().build(key, "lock")
        async with isolation.lock(key):
            await redis.set(lock_key, "someone else")  # as if it expired and was taken
        assert await redis.get(lock_key) == b"someone else"
        assert "had expired" in caplog.text
    finally:
        await redis.flushdb()
        await redis.aclose()
