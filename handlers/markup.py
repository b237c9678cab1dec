"""Taking the buttons off a message: once, as the guard of buttons a double tap must not run
twice, or come what may."""

from __future__ import annotations

import contextlib

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


async def take_buttons_off(message: Message) -> None:
    """Take the buttons off `message`, whether they are still there or not: a press can race
    their removal (bot/middlewares/step_keyboards.py), and its handler must still finish."""
    with contextlib.suppress(TelegramBadRequest):
        await message.edit_reply_markup(reply_markup=None)
