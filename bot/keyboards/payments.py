"""Keyboards of /pay and /receipt, and their buttons on account cards.

Buttons carry the linked account's id (and a period): the handlers check that the account
is still the user's before acting on it.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from bot.billing.models import Period
from bot.callbacks import PayCB, ReceiptCB, ReceiptPageCB
from bot.db.models_accounts import LinkedAccount
from bot.i18n import fmt_period
from bot.keyboards.step import StepKeyboard

# Two years of monthly receipts in three pages; a row of two month names fits a phone.
PERIODS_PAGE_SIZE = 8
_PERIODS_ROW = 2


# --- account cards (bot/keyboards/accounts.py: account_feature_buttons) --------------------


def pay_buttons(account: LinkedAccount) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(text=_("💳 Pay"),
                                 callback_data=PayCB(action="start", id=account.id).pack())]


def receipt_buttons(account: LinkedAccount) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(text=_("🧾 Receipt"),
                                 callback_data=ReceiptCB(action="start", id=account.id).pack())]


# --- choosing the account -------------------------------------------------------------------


def pay_accounts_keyboard(entries: Sequence[tuple[LinkedAccount, str]]) -> InlineKeyboardMarkup:
    """One button per account (`entries`: the account and its button text)."""
    return StepKeyboard(inline_keyboard=[
        [InlineKeyboardButton(text=text,
                              callback_data=PayCB(action="start", id=account.id).pack())]
        for account, text in entries
    ])


def receipt_accounts_keyboard(entries: Sequence[tuple[LinkedAccount, str]]
                              ) -> InlineKeyboardMarkup:
    return StepKeyboard(inline_keyboard=[
        [InlineKeyboardButton(text=text,
                              callback_data=ReceiptCB(action="start", id=account.id).pack())]
        for account, text in entries
    ])


# --- /pay -------------------------------------------------------------------------------------


def amount_keyboard(account_id: int, due_label: str | None) -> InlineKeyboardMarkup:
    """The amount due as one tap (`due_label`, None when nothing is due), or another amount."""
    rows = []
    if due_label is not None:
        rows.append([InlineKeyboardButton(
            text=_("✅ Pay {amount}").format(amount=due_label),
            callback_data=PayCB(action="due", id=account_id).pack())])
    rows.append([InlineKeyboardButton(
        text=_("✏️ Another amount") if due_label is not None else _("✏️ Enter an amount"),
        callback_data=PayCB(action="custom", id=account_id).pack())])
    return StepKeyboard(inline_keyboard=rows)


def pay_retry_keyboard(account_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("🔄 Retry"), callback_data=PayCB(action="start", id=account_id).pack())]])


def after_qr_keyboard(account_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=_("💳 Another amount"),
                             callback_data=PayCB(action="start", id=account_id).pack()),
        InlineKeyboardButton(text=_("🧾 Receipt"),
                             callback_data=ReceiptCB(action="start", id=account_id).pack()),
    ]])


# --- /receipt ---------------------------------------------------------------------------------


def periods_pages(total: int) -> int:
    """Pages of the older periods when an account has `total` (the latest has its own row)."""
    return max(1, -(-(total - 1) // PERIODS_PAGE_SIZE))


def periods_keyboard(account_id: int, periods: Sequence[Period], lang: str,
                     page: int) -> InlineKeyboardMarkup:
    """The latest period (`periods` is newest first) as the one-tap default, then the older
    ones a page at a time, with arrows labelled by the page they lead to."""
    rows: list[list[InlineKeyboardButton]] = []
    if not periods:
        return StepKeyboard(inline_keyboard=rows)

    def get(period: Period, text: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            text=text, callback_data=ReceiptCB(action="get", id=account_id,
                                               period=str(period)).pack())

    latest = periods[0]
    rows.append([get(latest, _("📄 Latest: {period}").format(
        period=fmt_period(latest.year, latest.month, lang)))])
    pages = periods_pages(len(periods))
    page = min(max(page, 0), pages - 1)
    older = periods[1:]
    shown = older[page * PERIODS_PAGE_SIZE:(page + 1) * PERIODS_PAGE_SIZE]
    buttons = [get(p, fmt_period(p.year, p.month, lang)) for p in shown]
    rows += [buttons[i:i + _PERIODS_ROW] for i in range(0, len(buttons), _PERIODS_ROW)]
    nav = []
    if page > 0:
        nav.append(InlineKeyboardButton(
            text=f"◀️ {page}/{pages}",
            callback_data=ReceiptPageCB(id=account_id, page=page - 1).pack()))
    if page < pages - 1:
        nav.append(InlineKeyboardButton(
            text=f"{page + 2}/{pages} ▶️",
            callback_data=ReceiptPageCB(id=account_id, page=page + 1).pack()))
    if nav:
        rows.append(nav)
    return StepKeyboard(inline_keyboard=rows)


def receipt_retry_keyboard(account_id: int, period: Period | None) -> InlineKeyboardMarkup:
    """«Retry» repeats exactly what failed: listing the periods, or fetching one receipt."""
    data = (ReceiptCB(action="get", id=account_id, period=str(period)) if period is not None
            else ReceiptCB(action="start", id=account_id))
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("🔄 Retry"), callback_data=data.pack())]])


def after_receipt_keyboard(account_id: int, *, due: bool) -> InlineKeyboardMarkup:
    """Under a receipt: «Pay» when the receipt asks for money (`due`), another period."""
    row = [InlineKeyboardButton(text=_("🧾 Another period"),
                                callback_data=ReceiptCB(action="start", id=account_id).pack())]
    if due:
        row.insert(0, InlineKeyboardButton(
            text=_("💳 Pay"), callback_data=PayCB(action="start", id=account_id).pack()))
    return InlineKeyboardMarkup(inline_keyboard=[row])
