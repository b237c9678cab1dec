"""The user's lock, state and data in one Redis round trip.

aiogram takes the per-user events-isolation lock (`SET NX`, polled), then reads the state
(`GET`); most steps then read or clear the data (`GET`, `DEL`): three or four round trips
before any handler does its work, on every update. Here the lock is taken by a script that,
once it holds it, returns the state and the data in the same answer. What it returned is
exact for as long as the lock is held (every update of that user and chat waits for it),
so the FSM middleware's read of the state and the update's first look at the data
(`TrackedState`) cost nothing more.

The prefetched values live in a context variable of the task handling the update: the
isolation sets them when it takes the lock and forgets them when it lets go; the state is
handed out once (a second read must see what this update wrote since).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiogram.fsm.storage.base import BaseEventIsolation, KeyBuilder, StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from redis.asyncio import Redis

logger = logging.getLogger(__name__)

_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3])}
end
return {0}
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(slots=True)
class Prefetched:
    key: StorageKey
    state: str | None
    data: str | None  # the stored JSON; None: no data
    state_taken: bool = False


_prefetched: contextvars.ContextVar[Prefetched | None] = contextvars.ContextVar(
    "fsm_prefetched", default=None)


def prefetched_data(key: StorageKey) -> tuple[bool, str | None]:
    """Whether this task took the lock of `key` (and so read its data), and the data's JSON
    as stored then (None: there was none)."""
    found = _prefetched.get()
    if found is None or found.key != key:
        return False, None
    return True, found.data


class PrefetchingRedisStorage(RedisStorage):
    """aiogram's Redis storage, answering the first read of the state from the prefetch."""

    async def get_state(self, key: StorageKey) -> str | None:
        found = _prefetched.get()
        if found is not None and found.key == key and not found.state_taken:
            found.state_taken = True
            return found.state
        return await super().get_state(key)

    def prefetching_isolation(self, **kwargs: Any) -> PrefetchingIsolation:
        return PrefetchingIsolation(self.redis, self.key_builder, **kwargs)


class PrefetchingIsolation(BaseEventIsolation):
    """A per-key Redis lock, as aiogram's `RedisEventIsolation` (a token set with `NX` and
    an expiry, polled every `sleep` seconds, released only by its holder), whose taking
    also reads the state and the data."""

    def __init__(self, redis: Redis, key_builder: KeyBuilder, *, timeout: float = 60,
                 sleep: float = 0.005) -> None:
        self.redis = redis
        self.key_builder = key_builder
        self.timeout_ms = int(timeout * 1000)
        self.sleep = sleep
        self._acquire = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        build = self.key_builder.build
        keys = [build(key, "lock"), build(key, "state"), build(key, "data")]
        token = os.urandom(16).hex()
        while True:
            answer = await self._acquire(keys=keys, args=[token, self.timeout_ms])
            if answer[0] == 1:
                break
            await asyncio.sleep(self.sleep)
        state, data = (_text(value) for value in answer[1:3])
        _prefetched.set(Prefetched(key, state, data))
        try:
            yield None
        finally:
            _prefetched.set(None)
            released = await self._release(keys=keys[:1], args=[token])
            if not released:
                # It expired (an update held it longer than `timeout`) and may now be
                # someone else's: theirs is left alone.
                logger.warning("the FSM lock had expired before it was released")

    async def close(self) -> None:
        pass


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return None if value is None else str(value)
