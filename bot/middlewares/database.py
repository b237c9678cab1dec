from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services import Services


class DatabaseMiddleware(BaseMiddleware):
    """Opens one session per update and hands out the services bound to it.

    The current user is read (never written) here so the locale and the handlers know who is
    talking; a session connects lazily, so updates that touch no table cost nothing.
    """

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.session_factory = session_factory

    async def __call__(
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
