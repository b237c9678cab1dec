"""Each update_id is handled once, even when Telegram delivers it again.

Telegram retries a webhook delivery it did not see answered (a timeout, a restart mid-request,
a load balancer hiccup), and two polling instances started by mistake fetch the same updates.
Telegram keeps undelivered updates for 24 h, so an id is remembered that long.

The id is marked as seen *before* it is handled: at most once, never twice. An update whose
handling crashed the process is not handled again (polling confirms updates before handlers
finish anyway, and a webhook answers 200 before them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

from aiogram import BaseMiddleware, Bot
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import TelegramObject, Update
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.fsm_storage.prefetch import admitted_first
from bot.metrics import Metrics

logger = logging.getLogger(__name__)

SEEN_TTL: Final = 24 * 60 * 60
MEMORY_CAPACITY: Final = 100_000


class SeenUpdates(Protocol):
    """Where handled update ids are remembered."""

    async def first_time(self, bot_id: int, update_id: int) -> bool:
        """Remember the id; True only for the first caller, whichever instance it is in."""


class MemorySeenUpdates:
    """In this process only: protects against repeats reaching the same instance, not against
    one instance repeating what another handled (that needs REDIS_URL).

    Bounded: beyond `capacity` ids the oldest are forgotten early. Repeats come within
    minutes, so even a busy bot loses nothing that matters by that.
    """

    def __init__(self, ttl: float = SEEN_TTL, capacity: int = MEMORY_CAPACITY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self.clock = clock
        # Insertion order is expiry order (one TTL for all), so expired ids sit at the front.
        self._expires: dict[tuple[int, int], float] = {}

    async def first_time(self, bot_id: int, update_id: int) -> bool:
        now = self.clock()
        self._forget_expired(now)
        key = (bot_id, update_id)
        if key in self._expires:
            return False
        self._expires[key] = now + self.ttl
        while len(self._expires) > self.capacity:
            del self._expires[next(iter(self._expires))]
        return True

    def _forget_expired(self, now: float) -> None:
        while self._expires:
            oldest = next(iter(self._expires))
            if self._expires[oldest] > now:
                return
            del self._expires[oldest]

    def __len__(self) -> int:
        return len(self._expires)


class RedisSeenUpdates:
    """Shared by every instance on the same Redis: `SET key 1 NX EX ttl` is atomic, so of
    two instances given the same update exactly one wins."""

    def __init__(self, redis: Redis, ttl: int = SEEN_TTL, prefix: str = "bot:seen") -> None:
        self.redis = redis
        self.ttl = ttl
        self.prefix = prefix

    def key(self, bot_id: int, update_id: int) -> str:
        return f"{self.prefix}:{bot_id}:{update_id}"

    async def first_time(self, bot_id: int, update_id: int) -> bool:
        settled = admitted_first(bot_id, update_id)  # with the user's lock, if it was
        if settled is not None:
            return settled
        created = await self.redis.set(self.key(bot_id, update_id), 1, nx=True, ex=self.ttl)
        return bool(created)


def update_kind(update: Update) -> str:
    try:
        return update.event_type
    except LookupError:  # an update type newer than this aiogram
        return "unknown"


class DedupeMiddleware(BaseMiddleware):
    """Outer middleware on `update`: a repeated update_id goes no further."""

    def __init__(self, seen: SeenUpdates, metrics: Metrics | None = None) -> None:
        self.seen = seen
        self.metrics = metrics

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        bot: Bot = data["bot"]
        try:
            first = await self.seen.first_time(bot.id, event.update_id)
        except RedisError:
            # Handling a rare repeat is better than dropping every update while Redis is away.
            logger.warning("update %s: could not check for a repeat, handling it",
                           event.update_id, exc_info=True)
            first = True
        if first:
            return await handler(event, data)
        kind = update_kind(event)
        logger.debug("update %s %s skipped: already handled", event.update_id, kind,
                     extra={"update_id": event.update_id, "kind": kind,
                            "outcome": "duplicate"})
        if self.metrics is not None:
            self.metrics.count_update(kind, "duplicate")
        return UNHANDLED
