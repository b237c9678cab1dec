"""Buttons that lead from a group chat, or from a shared inline card, to the private chat."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _


def start_link(username: str, payload: str | None = None) -> str:
    """`https://t.me/<bot>?start=<payload>`: opens the private chat and, on Start, sends
    `/start <payload>` (A-Z a-z 0-9 _ -, at most 64 characters)."""
    return f"https://t.me/{username}" + (f"?start={payload}" if payload else "")


def open_bot_keyboard(url: str, text: str | None = None) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=text or _("🤖 Open the bot"), url=url)]])
