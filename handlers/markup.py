"""Taking the buttons off a message, once: the guard of buttons a double tap must not run twice."""

from __future__ import annotations

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import Message


async def drop_markup(message: Message) -> bool:
    """Take the buttons off `message`; False when they were gone already.

    The user's updates are handled one at a time, so the second press of a double tap
    (or a press on a second device) comes after the first one took the buttons away, and
    Telegram answers its edit with "message is not modified": the press is a repeat.
    """
    try:
        await message.edit_reply_markup(reply_markup=None)
    except TelegramBadRequest as exc:
        return "message is not modified" not in str(exc)
    return True
