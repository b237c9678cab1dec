"""An update's Redis work in two round trips: one to take the user's lock, one to let go.

aiogram takes the per-user events-isolation lock (`SET NX`, polled), then reads the state
(`GET`); the repeated-update filter sets the update's id (`SET NX`), the flood limit takes a
token (a script), most steps read the data, the step's outcome is written (`SET`/`DEL`),
and the lock is released (a script): six to eight round trips on every update. Here:

- the lock is taken by a script that, once it holds it, also reads the state and the data,
  marks the update's id as seen and takes the user's token, and answers all of it at once.
  The state and data it read are exact for as long as the lock is held (every update of
  that user and chat waits for it); the id and the token are settled under the lock, as
  the filters themselves would have. The filters (bot/middlewares/dedupe.py, throttling.py)
  use those answers instead of asking again; `AdmissionMiddleware` tells the lock which id
  and user the update has, before aiogram's FSM middleware takes it;
- the lock is released by a script that first writes what the update left in the state
  and data (`TrackedState.write_back` hands it over instead of writing itself).

What was read lives in a context variable of the task handling the update: set when the lock
is taken, forgotten when it is let go; the state is handed out once (a second read must see
what this update wrote since).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.fsm.storage.base import BaseEventIsolation, KeyBuilder, StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.types import TelegramObject, Update
from redis.asyncio import Redis

logger = logging.getLogger(__name__)

# KEYS: lock, state, data[, seen id[, bucket]]; ARGV: token, lock TTL (ms)[, seen TTL (s)
# [, rate, burst, now, bucket TTL (ms)]]. {0}: the lock is someone else's; else
# {1, state, data, first time (1/0, -1: not asked), token verdict (-1: not asked)}.
_ACQUIRE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {0}
end
local first = -1
local verdict = -1
if #KEYS >= 4 then
  if redis.call('SET', KEYS[4], 1, 'NX', 'EX', ARGV[3]) then
    first = 1
    if #KEYS >= 5 then
      verdict = take(KEYS[5], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7])
    end
  else
    first = 0
  end
end
return {1, redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3]), first, verdict}
"""
# KEYS: lock, state, data; ARGV: token, then for the state and the data each an operation
# ('' none, 'set', 'del'), a value and a TTL in seconds ('' none). The writes are made
# whoever holds the lock now (as plain writes would be); the lock is deleted only if ours.
_RELEASE = """
local function write(key, op, value, ttl)
  if op == 'set' then
    if ttl == '' then
      redis.call('SET', key, value)
    else
      redis.call('SET', key, value, 'EX', ttl)
    end
  elseif op == 'del' then
    redis.call('DEL', key)
  end
end
write(KEYS[2], ARGV[2], ARGV[3], ARGV[4])
write(KEYS[3], ARGV[5], ARGV[6], ARGV[7])
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(slots=True)
class Admission:
    """The update's id and, when the flood limit applies to it, its sender's bucket: what
    the lock script settles along with the lock."""

    bot_id: int
    update_id: int
    seen_key: str
    seen_ttl: int
    user_id: int | None = None
    bucket_key: str | None = None
    bucket_args: Callable[[], list[float | int]] | None = None
    first: bool | None = None  # settled when the lock was taken; None: not (yet)
    verdict: int | None = None


@dataclass(slots=True)
class Prefetched:
    key: StorageKey
    state: str | None
    data: str | None  # the stored JSON; None: no data
    state_taken: bool = False
    # What the update leaves, written as the lock is let go: (operation, value, TTL).
    state_write: tuple[str, str, str] = ("", "", "")
    data_write: tuple[str, str, str] = ("", "", "")


_prefetched: contextvars.ContextVar[Prefetched | None] = contextvars.ContextVar(
    "fsm_prefetched", default=None)
_admission: contextvars.ContextVar[Admission | None] = contextvars.ContextVar(
    "update_admission", default=None)


def prefetched_data(key: StorageKey) -> tuple[bool, str | None]:
    """Whether this task took the lock of `key` (and so read its data), and the data's JSON
    as stored then (None: there was none)."""
    found = _prefetched.get()
    if found is None or found.key != key:
        return False, None
    return True, found.data


def admitted_first(bot_id: int, update_id: int) -> bool | None:
    """Whether the update was new, as settled with its user's lock; None: not settled so.
    Answered once."""
    admission = _admission.get()
    if admission is None or admission.first is None or \
            (admission.bot_id, admission.update_id) != (bot_id, update_id):
        return None
    first, admission.first = admission.first, None
    return first


def admitted_verdict(bot_id: int, user_id: int) -> int | None:
    """The flood-limit verdict taken with the user's lock (the script's number); None: not
    taken so. Answered once."""
    admission = _admission.get()
    if admission is None or admission.verdict is None or \
            (admission.bot_id, admission.user_id) != (bot_id, user_id):
        return None
    verdict, admission.verdict = admission.verdict, None
    return verdict


class PrefetchingRedisStorage(RedisStorage):
    """aiogram's Redis storage, answering the first read of the state from the prefetch,
    and leaving the update's writes to the release of its lock."""

    async def get_state(self, key: StorageKey) -> str | None:
        found = _prefetched.get()
        if found is not None and found.key == key and not found.state_taken:
            found.state_taken = True
            return found.state
        return await super().get_state(key)

    def defer_write(self, key: StorageKey, write_state: bool, state: str | None,
                    data: dict[str, Any] | None) -> bool:
        """Hand the update's outcome to the release of its lock; False when this task does
        not hold the lock of `key` (then the caller writes it)."""
        found = _prefetched.get()
        if found is None or found.key != key:
            return False
        if write_state:
            found.state_write = (("del", "", "") if state is None
                                 else ("set", state, _seconds(self.state_ttl)))
        if data is not None:
            found.data_write = (("del", "", "") if not data
                                else ("set", self.json_dumps(data), _seconds(self.data_ttl)))
        return True

    def prefetching_isolation(self, **kwargs: Any) -> PrefetchingIsolation:
        return PrefetchingIsolation(self.redis, self.key_builder, **kwargs)


class PrefetchingIsolation(BaseEventIsolation):
    """A per-key Redis lock, as aiogram's `RedisEventIsolation` (a token set with `NX` and
    an expiry, polled every `sleep` seconds, released only by its holder), whose taking
    also reads the state and the data and settles the update's admission, and whose
    release writes the update's outcome."""

    def __init__(self, redis: Redis, key_builder: KeyBuilder, *, timeout: float = 60,
                 sleep: float = 0.005) -> None:
        from bot.middlewares.throttling import TAKE_FUNCTION_LUA

        self.redis = redis
        self.key_builder = key_builder
        self.timeout_ms = int(timeout * 1000)
        self.sleep = sleep
        self._acquire = redis.register_script(TAKE_FUNCTION_LUA + _ACQUIRE)
        self._release = redis.register_script(_RELEASE)

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        build = self.key_builder.build
        keys = [build(key, "lock"), build(key, "state"), build(key, "data")]
        token = os.urandom(16).hex()
        admission = _admission.get()
        if admission is not None and (admission.first is not None
                                      or admission.user_id != key.user_id):
            admission = None  # settled already, or another user's lock
        while True:
            extra_keys: list[str] = []
            extra_args: list[Any] = []
            if admission is not None:
                extra_keys.append(admission.seen_key)
                extra_args.append(admission.seen_ttl)
                if admission.bucket_key is not None and admission.bucket_args is not None:
                    extra_keys.append(admission.bucket_key)
                    extra_args += admission.bucket_args()
            answer = await self._acquire(keys=keys + extra_keys,
                                         args=[token, self.timeout_ms, *extra_args])
            if answer[0] == 1:
                break
            await asyncio.sleep(self.sleep)
        if admission is not None:
            admission.first = answer[3] == 1
            admission.verdict = int(answer[4]) if answer[4] != -1 else None
        found = Prefetched(key, _text(answer[1]), _text(answer[2]))
        _prefetched.set(found)
        try:
            yield None
        finally:
            _prefetched.set(None)
            released = await self._release(
                keys=keys, args=[token, *found.state_write, *found.data_write])
            if not released:
                # It expired (an update held it longer than `timeout`) and may now be
                # someone else's: theirs is left alone.
                logger.warning("the FSM lock had expired before it was released")

    async def close(self) -> None:
        pass


class AdmissionMiddleware(BaseMiddleware):
    """Outer middleware on `update`, before aiogram's FSM middleware: tells the lock script
    the update's id and, when the flood limit applies, its sender's bucket."""

    def __init__(self, seen_key: Callable[[int, int], str], seen_ttl: int,
                 bucket_key: Callable[[int, int], str] | None = None,
                 bucket_args: Callable[[], list[float | int]] | None = None) -> None:
        self.seen_key = seen_key
        self.seen_ttl = seen_ttl
        self.bucket_key = bucket_key
        self.bucket_args = bucket_args

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        from bot.middlewares.throttling import throttled_sender

        assert isinstance(event, Update)
        bot: Bot = data["bot"]
        user = data.get("event_from_user")
        admission = Admission(bot.id, event.update_id, self.seen_key(bot.id, event.update_id),
                              self.seen_ttl, user_id=user.id if user else None)
        if self.bucket_key is not None and throttled_sender(event, data) is not None:
            assert user is not None
            admission.bucket_key = self.bucket_key(bot.id, user.id)
            admission.bucket_args = self.bucket_args
        reset = _admission.set(admission)
        try:
            return await handler(event, data)
        finally:
            _admission.reset(reset)


def _seconds(ttl: int | timedelta | None) -> str:
    if ttl is None:
        return ""
    seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else ttl
    return str(max(1, int(seconds)))


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return None if value is None else str(value)
