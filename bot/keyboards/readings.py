"""Keyboards of /reading: choosing the account and the meter, the meter screen, the
confirmation, and the account card's «Submit reading» button."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from bot.callbacks import ReadingCB, ReadingMeterCB, ReadingStepCB
from bot.db.models_accounts import LinkedAccount
from bot.keyboards.step import StepKeyboard

# How much of the idempotency key a confirmation's buttons carry: enough to tell two
# confirmations of one user apart, short enough for the 64 bytes of callback data.
KEY_TAG_LEN = 8


def reading_buttons(account: LinkedAccount) -> list[InlineKeyboardButton]:
    """The account card's entry to /reading (see bot.keyboards.accounts)."""
    return [InlineKeyboardButton(text=_("📟 Submit reading"),
                                 callback_data=ReadingCB(action="acc", id=account.id).pack())]


def accounts_keyboard(entries: Sequence[tuple[LinkedAccount, str]]) -> InlineKeyboardMarkup:
    return StepKeyboard(inline_keyboard=[
        [InlineKeyboardButton(text=text,
                              callback_data=ReadingCB(action="acc", id=account.id).pack())]
        for account, text in entries
    ])


def meters_keyboard(account_id: int, labels: Sequence[str]) -> InlineKeyboardMarkup:
    return StepKeyboard(inline_keyboard=[
        [InlineKeyboardButton(
            text=label,
            callback_data=ReadingMeterCB(action="open", id=account_id, m=index).pack())]
        for index, label in enumerate(labels)
    ])


def meter_keyboard(account_id: int, meter_index: int, *, remind: bool = False,
                   anew: bool = False, history: bool = True) -> InlineKeyboardMarkup:
    """Under the meter screen and an accepted reading: the history (not under the history
    itself: `history` False) and the chart; `anew` under a reading continued with values
    typed earlier: dropping them."""
    row = [InlineKeyboardButton(
        text=_("📊 Chart"),
        callback_data=ReadingMeterCB(action="chart", id=account_id, m=meter_index).pack())]
    if history:
        row.insert(0, InlineKeyboardButton(
            text=_("📜 History"),
            callback_data=ReadingMeterCB(action="hist", id=account_id, m=meter_index).pack()))
    rows = [row]
    if remind:
        rows.append([InlineKeyboardButton(
            text=_("⏰ Remind me when it opens"),
            callback_data=ReadingCB(action="remind", id=account_id).pack())])
    if anew:
        rows.insert(0, [InlineKeyboardButton(
            text=_("✏️ Start over"),
            callback_data=ReadingMeterCB(action="anew", id=account_id, m=meter_index).pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def continue_keyboard(account_id: int, meter_index: int) -> InlineKeyboardMarkup:
    """Under the notice that a reading was left unsubmitted: back to its meter."""
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("📟 Continue the reading"),
        callback_data=ReadingMeterCB(action="open", id=account_id, m=meter_index).pack())]])


def next_meter_keyboard(account_id: int, meter_index: int,
                        serial: str) -> InlineKeyboardMarkup:
    """After an accepted reading: the account's next meter still without one."""
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("📟 Submit reading: № {serial}").format(serial=serial),
        callback_data=ReadingMeterCB(action="open", id=account_id, m=meter_index).pack())]])


def retry_keyboard(account_id: int, meter_index: int | None) -> InlineKeyboardMarkup:
    data = (ReadingCB(action="acc", id=account_id) if meter_index is None
            else ReadingMeterCB(action="open", id=account_id, m=meter_index))
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=_("🔄 Retry"), callback_data=data.pack())]])


def confirm_keyboard(key: str) -> InlineKeyboardMarkup:
    tag = key[:KEY_TAG_LEN]
    return StepKeyboard(inline_keyboard=[
        [InlineKeyboardButton(text=_("✅ Submit"),
                              callback_data=ReadingStepCB(action="submit", k=tag).pack())],
        [InlineKeyboardButton(text=_("✏️ Change"),
                              callback_data=ReadingStepCB(action="edit", k=tag).pack()),
         InlineKeyboardButton(text=_("✖️ Cancel"),
                              callback_data=ReadingStepCB(action="cancel", k=tag).pack())],
    ])
