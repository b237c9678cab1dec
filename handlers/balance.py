"""/balance: the current period's balance of the default account, of a chosen one, or of all.

Entry points: /balance, the main-menu entry, «💰 Balance» on account cards, `/start balance`
and `/start balance_<account id>`. A supplier outage shows a notice with «Retry», which
repeats the same request; nothing is lost because nothing is being entered.
"""

from __future__ import annotations

import asyncio
from typing import Final, TypeVar

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.billing.models import Balance
from bot.callbacks import BalanceCB
from bot.db.models import User
from bot.db.models_accounts import LinkedAccount
from bot.filters import MenuEntry, feature_router
from bot.keyboards.balance import (
    account_choice_keyboard,
    account_gone_keyboard,
    balance_card_keyboard,
    no_accounts_keyboard,
    retry_keyboard,
)
from bot.keyboards.common import MENU_BALANCE
from bot.services import Services
from bot.services.accounts import masked_number
from bot.services.balance import Failure, Fetched
from bot.views.balance import account_not_found_text, balance_card_text, balance_outage_text

__all__ = [
    "balance_deep_link",
    "build_router",
    "edit_or_send",
    "failure_view",
    "show_balance",
    "stale_account_text",
]

T = TypeVar("T")

# Longest 429 wait worth sitting out while sending all the cards, in seconds.
_PATIENCE: Final = 5


def stale_account_text() -> str:
    return _("This account is no longer linked.")


def not_yours_text() -> str:
    # A link names an account by id: a card shared into a group, opened by another member,
    # or one of the user's own accounts since unlinked. Neither is "no longer linked".
    return _("That account is not among your linked accounts.")


async def edit_or_send(message: Message, text: str, markup: InlineKeyboardMarkup | None
                       ) -> None:
    """Replace the message; a message Telegram no longer lets edit (too old, deleted) gets a
    new one instead, so a button always leads somewhere."""
    try:
        await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as exc:
        if "message is not modified" in str(exc):
            return  # a double tap re-renders the same view
        await message.answer(text, reply_markup=markup)


def failure_view(fetched: Fetched[T], lang: str, retry_data: str
                 ) -> tuple[str, InlineKeyboardMarkup]:
    """The notice for a billing call that brought nothing back."""
    if fetched.failure is Failure.NOT_FOUND:
        return (account_not_found_text(fetched.account, fetched.supplier, lang),
                account_gone_keyboard(fetched.account))
    return (balance_outage_text(fetched.account, fetched.supplier, lang),
            retry_keyboard(retry_data))


def card_view(services: Services, fetched: Fetched[Balance], lang: str, *, switch: bool
              ) -> tuple[str, InlineKeyboardMarkup]:
    account = fetched.account
    if fetched.value is None:
        return failure_view(fetched, lang, BalanceCB(action="open", id=account.id).pack())
    overdue = services.balance.overdue(account, fetched.value)
    return (balance_card_text(account, fetched.supplier, fetched.value, lang, overdue=overdue),
            balance_card_keyboard(account, switch=switch))


def no_accounts_text() -> str:
    return _("💰 You have no linked accounts yet. Link your gas account, and its balance "
             "will be here.")


async def _card(services: Services, user: User, account: LinkedAccount, several: bool
                ) -> tuple[str, InlineKeyboardMarkup]:
    fetched = await services.balance.balance(account)
    return card_view(services, fetched, user.language, switch=several)


async def show_balance(message: Message, services: Services, user: User,
                       account_id: int | None = None, *, link: bool = False) -> None:
    """The card of the given account, else of the default one; with several accounts the card
    offers another account or all of them."""
    asked, account, several = await services.balance.card_target(user.id, account_id)
    if asked is not None:
        account = asked
    elif account_id is not None:
        await message.answer(not_yours_text() if link else stale_account_text())
    if account is None:
        await message.answer(no_accounts_text(), reply_markup=no_accounts_keyboard())
        return
    text, markup = await _card(services, user, account, several)
    await message.answer(text, reply_markup=markup)


async def show_all(message: Message, services: Services, user: User) -> None:
    """One card per account, in the order of /accounts."""
    accounts = await services.balance.list_for(user.id)
    if not accounts:
        await message.answer(no_accounts_text(), reply_markup=no_accounts_keyboard())
        return
    for fetched in await services.balance.balances(accounts):
        text, markup = card_view(services, fetched, user.language, switch=False)
        await _send_patiently(message, text, markup)


async def _send_patiently(message: Message, text: str, markup: InlineKeyboardMarkup) -> None:
    """Up to 10 cards in a row may exceed Telegram's pace for one chat; aiogram does not wait
    out a 429 by itself. A short wait is worth it here, the user is looking at the chat."""
    try:
        await message.answer(text, reply_markup=markup)
    except TelegramRetryAfter as exc:
        if exc.retry_after > _PATIENCE:
            raise
        await asyncio.sleep(exc.retry_after)
        await message.answer(text, reply_markup=markup)


def choice_view(accounts: list[LinkedAccount], services: Services, lang: str
                ) -> tuple[str, InlineKeyboardMarkup]:
    entries = [
        (account, ("⭐ " if account.is_default else "")
         + f"{services.accounts.title(account, lang)} · {masked_number(account)}")
        for account in accounts
    ]
    return _("💰 Whose balance shall I show?"), account_choice_keyboard(entries)


async def balance_deep_link(message: Message, state: FSMContext, services: Services,
                            user: User, arg: str | None) -> None:
    """`/start balance` and `/start balance_<account id>`."""
    await state.clear()
    if arg is None:
        await show_balance(message, services, user)
        return
    # Not a number: an id that cannot be this user's, told like any other stale link.
    await show_balance(message, services, user, int(arg) if arg.isdecimal() else -1,
                       link=True)


def build_router() -> Router:
    router = feature_router(__name__)

    @router.message(Command("balance"))
    @router.message(MenuEntry(MENU_BALANCE))
    async def balance_command(message: Message, state: FSMContext, services: Services,
                              user: User) -> None:
        # Like every menu entry, it leaves whatever step the user was in.
        await state.clear()
        await show_balance(message, services, user)

    @router.callback_query(BalanceCB.filter(F.action == "all"))
    async def all_cards(query: CallbackQuery, services: Services, user: User) -> None:
        if not isinstance(query.message, Message):
            await query.answer(_("This button is no longer active."))
            return
        await query.answer()
        await show_all(query.message, services, user)

    @router.callback_query(BalanceCB.filter(F.action == "pick"))
    async def pick(query: CallbackQuery, services: Services, user: User) -> None:
        message = query.message if isinstance(query.message, Message) else None
        if message is None:
            await query.answer(_("This button is no longer active."))
            return
        accounts = await services.balance.list_for(user.id)
        await query.answer()
        if not accounts:
            await edit_or_send(message, no_accounts_text(), no_accounts_keyboard())
            return
        if len(accounts) == 1:
            # An older card's button after the others were unlinked: nothing to choose from.
            await edit_or_send(message, *await _card(services, user, accounts[0], False))
            return
        await edit_or_send(message, *choice_view(accounts, services, user.language))

    @router.callback_query(BalanceCB.filter(F.action.in_({"new", "open"})))
    async def card(query: CallbackQuery, callback_data: BalanceCB, services: Services,
                   user: User) -> None:
        message = query.message if isinstance(query.message, Message) else None
        if message is None:
            await query.answer(_("This button is no longer active."))
            return
        account, _default, several = await services.balance.card_target(user.id,
                                                                         callback_data.id)
        if account is None:
            await query.answer(stale_account_text())
            return
        text, markup = await _card(services, user, account, several)
        await query.answer()
        if callback_data.action == "open":
            await edit_or_send(message, text, markup)
        else:
            await message.answer(text, reply_markup=markup)

    @router.callback_query(BalanceCB.filter())
    async def unknown_action(query: CallbackQuery) -> None:
        # A button of a later or earlier version of the bot.
        await query.answer(_("This button is no longer active."))

    return router
