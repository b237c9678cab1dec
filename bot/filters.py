"""Shared filters, set on routers rather than repeated on handlers."""

from __future__ import annotations

from typing import Any

from aiogram.filters import Filter
from aiogram.types import TelegramObject

from bot.db.models import User


class RegisteredUser(Filter):
    """Passes for a registered user; the fallback router tells everybody else to /start."""

    async def __call__(
        self, event: TelegramObject, user: User | None = None
    ) -> bool | dict[str, Any]:
        return user is not None and user.is_registered
