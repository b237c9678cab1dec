from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.services import Services


def session_limit(engine: AsyncEngine) -> int | None:
    """How many updates may hold a session at once without starving the connection pool.

    An update's session keeps its connection until the update is done, and meanwhile the
    FSM storage, the demo billing system and the background services take connections of
    their own. With every pooled connection held by an update waiting for one more, all
    of them wait for the pool timeout (30 s) and fail: a burst of updates as big as the pool
    did exactly that. Two connections stay free for the others, so one is always there.
    None: the pool has no bound (SQLite in memory, tests).
    """
    pool = engine.sync_engine.pool
    size = getattr(pool, "size", None)
    if not callable(size):
        return None
    # `_max_overflow` is the pool's own setting (QueuePool has no public accessor).
    capacity = int(size()) + max(int(getattr(pool, "_max_overflow", 0)), 0)
    return max(1, capacity - 2)


class DatabaseMiddleware(BaseMiddleware):
    """Opens one session per update and hands out the services bound to it.

    The current user is read (never written) here so the locale and the handlers know who is
    talking; a session connects lazily, so updates that touch no table cost nothing.
    At most `limit` updates hold a session at once (see `session_limit`); the others wait
    here, before taking any connection.
    """

    def __init__(self, session_factory: async_sessionmaker[AsyncSession],
                 limit: int | None = None) -> None:
        self.session_factory = session_factory
        self.slots = asyncio.Semaphore(limit) if limit else None

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if self.slots is None:
            return await self._handle(handler, event, data)
        async with self.slots:
            return await self._handle(handler, event, data)

    async def _handle(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        async with self.session_factory() as session:
            services = Services(session, data["app"])
            data["services"] = services
            tg_user = data.get("event_from_user")
            data["user"] = await services.users.get(tg_user.id) if tg_user else None
            return await handler(event, data)
