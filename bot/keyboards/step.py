"""The mark of a conversation step's own buttons (bot/middlewares/step_keyboards.py)."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup


class StepKeyboard(InlineKeyboardMarkup):
    """Inline buttons that answer one conversation step (the language, «Skip», the supplier,
    the meter, «✅ Submit»…): they go once the step is over. Telegram gets them exactly as
    an `InlineKeyboardMarkup`; the bot's other buttons (cards, notices, results) work from
    any message and stay."""


# aiogram resolves its models' forward references itself; a subclass needs them again.
StepKeyboard.model_rebuild(_types_namespace={"InlineKeyboardButton": InlineKeyboardButton})
