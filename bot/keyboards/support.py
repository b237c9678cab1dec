"""Keyboards of /support: topics, the account a ticket is about, the user's tickets."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __
from babel.support import LazyProxy

from bot.callbacks import SupportAccountCB, SupportCB, SupportTopicCB
from bot.db.models_support import TicketTopic
from bot.keyboards.step import StepKeyboard

TOPIC_LABELS: dict[str, LazyProxy] = {
    TicketTopic.LINKING: __("🔗 Linking an account"),
    TicketTopic.READINGS: __("📟 Meter readings"),
    TicketTopic.PAYMENTS: __("💳 Payments"),
    TicketTopic.RECEIPT: __("🧾 Receipt"),
    TicketTopic.OTHER: __("❓ Something else"),
}


def own_words(text: str) -> str:
    """A ticket's text as stored, where the user's phones and e-mails are masked
    («<phone>»), with the masks named in the current language: «[телефон]», «[phone]»."""
    return text.replace("<phone>", _("[phone]")).replace("<email>", _("[e-mail]"))


def topic_label(topic: str) -> str:
    return str(TOPIC_LABELS.get(topic, TOPIC_LABELS[TicketTopic.OTHER]))


def topics_keyboard(tickets: int) -> InlineKeyboardMarkup:
    """The topics two to a row, then «My tickets» when the user has any."""
    buttons = [InlineKeyboardButton(text=str(label),
                                    callback_data=SupportTopicCB(topic=topic).pack())
               for topic, label in TOPIC_LABELS.items()]
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    if tickets:
        rows.append([InlineKeyboardButton(
            text=_("📂 My tickets ({count})").format(count=tickets),
            callback_data=SupportCB(action="list").pack())])
    return StepKeyboard(inline_keyboard=rows)


def accounts_keyboard(entries: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    """`entries`: the account's id and its button text."""
    rows = [[InlineKeyboardButton(text=text, callback_data=SupportAccountCB(id=account_id).pack())]
            for account_id, text in entries]
    rows.append([InlineKeyboardButton(text=_("No specific account"),
                                      callback_data=SupportAccountCB(id=0).pack())])
    return StepKeyboard(inline_keyboard=rows)


def reply_keyboard(ticket_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("↩️ Reply"), callback_data=SupportCB(action="reply", id=ticket_id).pack())]])


def tickets_keyboard(entries: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    rows = [[InlineKeyboardButton(text=text,
                                  callback_data=SupportCB(action="open", id=ticket_id).pack())]
            for ticket_id, text in entries]
    rows.append([InlineKeyboardButton(text=_("✍️ New ticket"),
                                      callback_data=SupportCB(action="new").pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def ticket_keyboard(ticket_id: int, is_open: bool) -> InlineKeyboardMarkup:
    rows = []
    if is_open:
        rows.append([
            InlineKeyboardButton(text=_("↩️ Reply"),
                                 callback_data=SupportCB(action="reply", id=ticket_id).pack()),
            InlineKeyboardButton(text=_("✅ Close"),
                                 callback_data=SupportCB(action="close", id=ticket_id).pack()),
        ])
    rows.append([InlineKeyboardButton(text=_("⬅️ My tickets"),
                                      callback_data=SupportCB(action="list").pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)
