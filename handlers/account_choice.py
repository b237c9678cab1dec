"""Choosing the account a conversation acts on: /pay, /receipt and /reading start alike.

The account asked for (a deep link, a button) when it is still the user's, else the only
one; with several, the conversation's own step asks which; without any, an offer to link one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aiogram import html
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.db.models import User
from bot.db.models_accounts import LinkedAccount
from bot.keyboards.linking import link_offer_keyboard
from bot.services import Services
from bot.services.accounts import masked_number
from fsm.base import FormData

AccountEntries = Sequence[tuple[LinkedAccount, str]]


def message_of(query: CallbackQuery) -> Message | None:
    """The message a button is under; None when it is too old for the bot to see."""
    return query.message if isinstance(query.message, Message) else None


async def button_account(query: CallbackQuery, services: Services, user: User,
                         account_id: int) -> tuple[LinkedAccount, Message] | None:
    """The user's account a button names, and the message the button is under; None after
    telling the user the account is no longer linked. The query is left for the caller to
    answer."""
    account = await services.accounts.get(user.id, account_id)
    message = message_of(query)
    if account is None or message is None:
        await query.answer(_("This account is no longer linked."))
        return None
    return account, message


def account_entries(services: Services, accounts: list[LinkedAccount],
                    lang: str) -> list[tuple[LinkedAccount, str]]:
    """Button texts of the accounts to choose from (plain text: no escaping), default starred."""
    return [(account, ("⭐ " if account.is_default else "")
             + f"{services.accounts.title(account, lang)} · {masked_number(account)}")
            for account in accounts]


def account_header(services: Services, account: LinkedAccount, lang: str) -> str:
    title = html.quote(services.accounts.title(account, lang))
    return f"{title} (<code>{masked_number(account)}</code>)"


async def pick_account(message: Message, services: Services, user: User,
                       account_id: int | None, no_accounts: str | None = None
                       ) -> tuple[list[LinkedAccount], LinkedAccount | None]:
    """The user's accounts and the one to act on: the one asked for (when it is still the
    user's), else the only one; None when the user must choose. Tells a user without
    accounts to link one first (`no_accounts`, or the receipts and payments wording)."""
    accounts = await services.accounts.list_for(user.id)
    if not accounts:
        await message.answer(
            no_accounts or _("🔗 You have no linked accounts yet. Link one first, and then you "
                             "can get its receipts and pay for it here."),
            reply_markup=link_offer_keyboard())
        return accounts, None
    chosen = next((a for a in accounts if a.id == account_id), None)
    if chosen is None and len(accounts) == 1:
        chosen = accounts[0]
    return accounts, chosen


async def start_with_account(message: Message, state: FSMContext, services: Services,
                             user: User, account_id: int | None, *, step: State,
                             data: FormData, prompt: str,
                             keyboard: Callable[[AccountEntries], InlineKeyboardMarkup],
                             no_accounts: str | None = None) -> LinkedAccount | None:
    """Start a conversation afresh: the account to go on with, or None when the user was
    asked to choose one (the conversation is then at `step` with `data`) or has none."""
    await state.clear()
    accounts, account = await pick_account(message, services, user, account_id, no_accounts)
    if accounts and account is None:
        await state.set_state(step)
        await data.save(state)
        await message.answer(prompt, reply_markup=keyboard(
            account_entries(services, accounts, user.language)))
    return account
