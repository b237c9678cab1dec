"""Keyboards of linked accounts, and the extension point for features acting on one account.

An account's card (right after linking, and in /accounts) shows the buttons of every feature
that acts on one account — balance, readings, receipts… — above its own buttons. A feature
adds its buttons by writing a function `(account) -> buttons` in its own keyboard module and
listing it in `account_feature_buttons` below; the order there is the order on the card.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from bot.callbacks import AccountCB, LinkCB
from bot.db.models_accounts import LinkedAccount
from bot.keyboards.step import StepKeyboard

# Buttons one feature offers for an account; none when it does not apply to this account.
AccountButtons = Callable[[LinkedAccount], Iterable[InlineKeyboardButton]]

# Feature buttons are laid out this many to a row.
_FEATURE_ROW = 2


def account_feature_buttons() -> tuple[AccountButtons, ...]:
    """The one place that lists the features acting on one account, in card order.

    Import the feature's function inside this function (feature keyboards import this module
    for `AccountButtons`), e.g.::

        from bot.keyboards.balance import balance_buttons
        return (balance_buttons,)
    """
    from bot.keyboards.balance import balance_buttons
    from bot.keyboards.payments import pay_buttons, receipt_buttons
    from bot.keyboards.readings import reading_buttons

    return (balance_buttons, reading_buttons, pay_buttons, receipt_buttons)


def feature_rows(account: LinkedAccount) -> list[list[InlineKeyboardButton]]:
    buttons = [button for factory in account_feature_buttons() for button in factory(account)]
    return [buttons[i:i + _FEATURE_ROW] for i in range(0, len(buttons), _FEATURE_ROW)]


def linked_card_keyboard(account: LinkedAccount) -> InlineKeyboardMarkup:
    """Under the «account linked» message: what the user can do next."""
    rows = feature_rows(account)
    rows.append([
        InlineKeyboardButton(text=_("📋 My accounts"),
                             callback_data=AccountCB(action="show").pack()),
        InlineKeyboardButton(text=_("🔗 Link another"),
                             callback_data=LinkCB(action="start").pack()),
    ])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def accounts_list_keyboard(entries: list[tuple[LinkedAccount, str]],
                           can_link: bool) -> InlineKeyboardMarkup:
    """One button per account (`entries`: account and its button text), then «Link»."""
    rows = [
        [InlineKeyboardButton(text=text,
                              callback_data=AccountCB(action="open", id=account.id).pack())]
        for account, text in entries
    ]
    if can_link:
        rows.append([InlineKeyboardButton(text=_("🔗 Link an account"),
                                          callback_data=LinkCB(action="start").pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def account_card_keyboard(account: LinkedAccount) -> InlineKeyboardMarkup:
    rows = feature_rows(account)
    rows.append([InlineKeyboardButton(
        text=_("✏️ Rename"), callback_data=AccountCB(action="rename", id=account.id).pack())])
    if not account.is_default:
        rows.append([InlineKeyboardButton(
            text=_("⭐ Make default"),
            callback_data=AccountCB(action="default", id=account.id).pack())])
    rows.append([InlineKeyboardButton(
        text=_("🗑 Unlink"), callback_data=AccountCB(action="unlink", id=account.id).pack())])
    rows.append([InlineKeyboardButton(
        text=_("⬅️ All accounts"), callback_data=AccountCB(action="list").pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def unlink_confirm_keyboard(account: LinkedAccount) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(
            # TRANSLATORS: the seeds' word for unlinking an account is «Отключить».
            text=_("🗑 Yes, unlink"),
            callback_data=AccountCB(action="unlink_yes", id=account.id).pack())],
        [InlineKeyboardButton(
            text=_("⬅️ No, keep it"),
            callback_data=AccountCB(action="open", id=account.id).pack())],
    ])


def alias_keyboard(account: LinkedAccount) -> InlineKeyboardMarkup | None:
    if not account.alias:
        return None
    return StepKeyboard(inline_keyboard=[[InlineKeyboardButton(
        text=_("Remove the name"),
        callback_data=AccountCB(action="unalias", id=account.id).pack())]])


def after_unlink_keyboard(can_link: bool, has_accounts: bool) -> InlineKeyboardMarkup | None:
    rows = []
    if has_accounts:
        rows.append([InlineKeyboardButton(text=_("📋 My accounts"),
                                          callback_data=AccountCB(action="list").pack())])
    if can_link:
        rows.append([InlineKeyboardButton(text=_("🔗 Link an account"),
                                          callback_data=LinkCB(action="start").pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None
