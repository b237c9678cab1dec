"""Shared filters, set on routers rather than repeated on handlers."""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Filter
from aiogram.types import Message, TelegramObject

from bot.db.models import User
from bot.keyboards.common import main_menu


class RegisteredUser(Filter):
    """Passes for a registered user; the fallback router tells everybody else to /start."""

    async def __call__(
        self, event: TelegramObject, user: User | None = None
    ) -> bool | dict[str, Any]:
        return user is not None and user.is_registered


def feature_router(name: str) -> Router:
    """The router of a feature for registered users in their private chat: its messages come
    only from the private chat of a registered user, its button presses only from a
    registered user (the registration router answers everybody else)."""
    router = Router(name=name)
    router.message.filter(F.chat.type == ChatType.PRIVATE)
    router.message.filter(RegisteredUser())
    router.callback_query.filter(RegisteredUser())
    return router


def is_step_input(message: Message) -> bool:
    """Commands and main-menu entries sent during a conversation step are not its input:
    they go on to their own handlers and the step is left. Anything else (a sticker, a
    photo included) is the step's to answer. For a step's catch-all handlers:
    `@router.message(SomeStates.step, F.func(is_step_input))`."""
    text = message.text
    if text is None:
        return True
    if text.startswith("/"):
        return False
    return text not in {button.text for row in main_menu().keyboard for button in row}
