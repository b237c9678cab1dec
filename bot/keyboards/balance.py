"""Keyboards of the balance card and of the histories."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from bot.callbacks import AccountCB, BalanceCB, ChargesCB, HistoryCB, LinkCB, PaymentsCB
from bot.db.models_accounts import LinkedAccount

_ROW = 2


def balance_buttons(account: LinkedAccount) -> list[InlineKeyboardButton]:
    """«💰 Balance» on account cards (see `account_feature_buttons`)."""
    return [InlineKeyboardButton(
        text=_("💰 Balance"), callback_data=BalanceCB(action="new", id=account.id).pack())]


def _other_features(account: LinkedAccount) -> list[list[InlineKeyboardButton]]:
    """Every other feature's buttons for the account (pay, receipt, reading…), as on its
    card in /accounts; the balance button itself would only reopen this card."""
    from bot.keyboards.accounts import account_feature_buttons

    buttons = [button for factory in account_feature_buttons() if factory is not balance_buttons
               for button in factory(account)]
    return [buttons[i:i + _ROW] for i in range(0, len(buttons), _ROW)]


def balance_card_keyboard(account: LinkedAccount, *, switch: bool) -> InlineKeyboardMarkup:
    """Under a balance card: the histories, the other features, and with `switch` (the user
    has several accounts) the way to another account's card or to all of them."""
    rows = [
        [InlineKeyboardButton(text=_("💸 Payments"),
                              callback_data=HistoryCB(what="pay", id=account.id).pack()),
         InlineKeyboardButton(text=_("📊 Charges"),
                              callback_data=HistoryCB(what="chg", id=account.id).pack())],
        [InlineKeyboardButton(text=_("ℹ️ Account details"),
                              callback_data=HistoryCB(what="det", id=account.id).pack())],
    ]
    rows += _other_features(account)
    if switch:
        rows.append([
            InlineKeyboardButton(text=_("🔀 Another account"),
                                 callback_data=BalanceCB(action="pick").pack()),
            InlineKeyboardButton(text=_("🗂 All accounts"),
                                 callback_data=BalanceCB(action="all").pack()),
        ])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def account_choice_keyboard(entries: list[tuple[LinkedAccount, str]]) -> InlineKeyboardMarkup:
    """One button per account (`entries`: account and its button text), then «All»."""
    rows = [[InlineKeyboardButton(text=text,
                                  callback_data=BalanceCB(action="open", id=account.id).pack())]
            for account, text in entries]
    rows.append([InlineKeyboardButton(text=_("🗂 All accounts"),
                                      callback_data=BalanceCB(action="all").pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def no_accounts_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("🔗 Link an account"), callback_data=LinkCB(action="start").pack())]])


def retry_keyboard(callback_data: str) -> InlineKeyboardMarkup:
    """«Retry» repeats the very request that failed: its button carries the same data."""
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("🔄 Retry"), callback_data=callback_data)]])


def account_gone_keyboard(account: LinkedAccount) -> InlineKeyboardMarkup:
    """The supplier no longer knows the account: its card in /accounts, to unlink it."""
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("📋 My accounts"), callback_data=AccountCB(action="open", id=account.id).pack())]])


def _pager(previous: str | None, following: str | None) -> list[InlineKeyboardButton]:
    row = []
    if previous is not None:
        row.append(InlineKeyboardButton(text=_("◀️ Newer"), callback_data=previous))
    if following is not None:
        row.append(InlineKeyboardButton(text=_("Older ▶️"), callback_data=following))
    return row


def payments_keyboard(account: LinkedAccount, years: list[int], year: int, page: int,
                      pages: int) -> InlineKeyboardMarkup:
    """Years (the shown one ticked), then the pages of that year, newest first."""
    rows = [[InlineKeyboardButton(
        text=("✓ " if option == year else "") + str(option),
        callback_data=PaymentsCB(id=account.id, year=option).pack()) for option in years]]
    pager = _pager(
        PaymentsCB(id=account.id, year=year, page=page - 1).pack() if page > 0 else None,
        PaymentsCB(id=account.id, year=year, page=page + 1).pack() if page + 1 < pages
        else None)
    if pager:
        rows.append(pager)
    return InlineKeyboardMarkup(inline_keyboard=rows)


def charges_keyboard(account: LinkedAccount, page: int, pages: int) -> InlineKeyboardMarkup | None:
    pager = _pager(
        ChargesCB(id=account.id, page=page - 1).pack() if page > 0 else None,
        ChargesCB(id=account.id, page=page + 1).pack() if page + 1 < pages else None)
    return InlineKeyboardMarkup(inline_keyboard=[pager]) if pager else None
