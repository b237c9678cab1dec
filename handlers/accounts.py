"""/accounts: the linked accounts; per account rename, make default, unlink (confirmed)."""

from __future__ import annotations

from datetime import UTC

from aiogram import F, Router, html
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.callbacks import AccountCB
from bot.db.models import User
from bot.db.models_accounts import ALIAS_MAX_LEN, LinkedAccount
from bot.filters import MenuEntry, feature_router, is_step_input
from bot.i18n import fmt_date
from bot.keyboards.accounts import (
    account_card_keyboard,
    accounts_list_keyboard,
    after_unlink_keyboard,
    alias_keyboard,
    unlink_confirm_keyboard,
)
from bot.keyboards.common import MENU_ACCOUNTS
from bot.services import Services
from bot.services.accounts import AccountGone, InvalidAlias, masked_number
from fsm.accounts import AccountData, AccountStates
from handlers.markup import take_buttons_off


def _q(text: str) -> str:
    return html.quote(text)


async def accounts_view(services: Services, user: User
                        ) -> tuple[str, InlineKeyboardMarkup]:
    accounts = await services.accounts.list_for(user.id)
    limit = services.linking.total_limit
    can_link = len(accounts) < limit
    if not accounts:
        return (_("📋 You have no linked accounts yet. Link one to see its balance and submit "
                  "meter readings here."), accounts_list_keyboard([], can_link))
    lang = user.language
    lines = [_("📋 <b>Your accounts</b> ({count} of {limit})").format(
        count=len(accounts), limit=limit), ""]
    entries: list[tuple[LinkedAccount, str]] = []
    for account in accounts:
        title = services.accounts.title(account, lang)
        supplier = services.accounts.supplier_name(account, lang)
        unit = services.accounts.unit_name(account, lang)
        star = "⭐ " if account.is_default else "▫️ "
        line = f"{star}<b>{_q(account.alias or supplier)}</b>"
        if account.alias:
            line += f" · {_q(supplier)}"
        if unit:
            line += f" · {_q(unit)}"
        lines.append(f"{line}\n      <code>{masked_number(account)}</code>")
        entries.append((account, f"{star}{title} · {masked_number(account)}"))
    lines += ["", _("⭐ — the default account: the bot uses it when you don't choose another. "
                    "Tap an account to rename it, make it the default or unlink it.")]
    return "\n".join(lines), accounts_list_keyboard(entries, can_link)


def card_text(account: LinkedAccount, services: Services, lang: str) -> str:
    supplier = services.linking.supplier(account.supplier_code)
    title = services.accounts.title(account, lang)
    lines = [("⭐ " if account.is_default else "") + f"<b>{_q(title)}</b>"]
    supplier_name = services.accounts.supplier_name(account, lang)
    if title != supplier_name:  # named by the user: the title does not say whose it is
        lines.append(_("Supplier: {supplier}").format(supplier=_q(supplier_name)))
    unit = supplier.unit(account.unit) if supplier and account.unit else None
    if unit is not None:
        lines.append(_("Unit: {unit}").format(unit=_q(unit.name.get(lang))))
    lines.append(_("Account: <code>{number}</code>").format(number=masked_number(account)))
    lines.append(_("Owner: {owner}").format(owner=_q(account.owner_masked)))
    lines.append(_("Address: {address}").format(address=_q(account.address_masked)))
    # The day in the supplier's zone, as its readings and tickets are dated (a Perm account
    # linked at 00:08 local time said «22 November» beside readings of the 23rd).
    linked = account.linked_at if account.linked_at.tzinfo else account.linked_at.replace(
        tzinfo=UTC)
    if supplier is not None:
        linked = linked.astimezone(supplier.zone)
    lines.append(_("Linked on {date}").format(date=fmt_date(linked.date(), lang)))
    if account.is_default:
        lines += ["", _("⭐ This is your default account.")]
    return "\n".join(lines)


async def show_accounts(message: Message, services: Services, user: User) -> None:
    text, markup = await accounts_view(services, user)
    await message.answer(text, reply_markup=markup)


async def _edit(message: Message, text: str, markup: InlineKeyboardMarkup | None) -> None:
    try:
        await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as exc:
        if "message is not modified" not in str(exc):
            raise


def build_router() -> Router:
    router = feature_router(__name__)

    @router.message(Command("accounts"))
    @router.message(MenuEntry(MENU_ACCOUNTS))
    async def accounts_command(message: Message, state: FSMContext, services: Services,
                               user: User) -> None:
        await state.clear()
        await show_accounts(message, services, user)

    @router.callback_query(AccountCB.filter(F.action == "show"))
    async def accounts_button(query: CallbackQuery, services: Services, user: User) -> None:
        await query.answer()
        if isinstance(query.message, Message):
            await show_accounts(query.message, services, user)

    @router.callback_query(AccountCB.filter(F.action == "list"))
    async def accounts_back(query: CallbackQuery, services: Services, user: User) -> None:
        await query.answer()
        if isinstance(query.message, Message):
            text, markup = await accounts_view(services, user)
            await _edit(query.message, text, markup)

    @router.callback_query(AccountCB.filter(F.action == "unlink_yes"))
    async def unlink_confirmed(query: CallbackQuery, callback_data: AccountCB,
                               services: Services, user: User) -> None:
        account = await services.accounts.get(user.id, callback_data.id)
        if account is None:
            await query.answer(_("This account is no longer linked."))
            return
        title = services.accounts.title(account, user.language)
        try:
            successor = await services.accounts.unlink(user.id, account.id)
        except AccountGone:
            await query.answer(_("This account is no longer linked."))
            return
        await query.answer()
        text = _("🗑 Account <b>{title}</b> (<code>{number}</code>) unlinked.").format(
            title=_q(title), number=masked_number(account))
        if successor is not None:
            text += "\n" + _("⭐ Your default account is now <b>{title}</b>.").format(
                title=_q(services.accounts.title(successor, user.language)))
        remaining = await services.accounts.count(user.id)
        if isinstance(query.message, Message):
            await _edit(query.message, text, after_unlink_keyboard(
                can_link=remaining < services.linking.total_limit, has_accounts=remaining > 0))

    # Every other action is on one account the user must still have.
    @router.callback_query(AccountCB.filter())
    async def account_action(query: CallbackQuery, callback_data: AccountCB,
                             state: FSMContext, services: Services, user: User) -> None:
        account = await services.accounts.get(user.id, callback_data.id)
        message = query.message if isinstance(query.message, Message) else None
        if account is None or message is None:
            await query.answer(_("This account is no longer linked."))
            return
        lang = user.language
        action = callback_data.action
        if action == "open":
            await query.answer()
            await _edit(message, card_text(account, services, lang),
                        account_card_keyboard(account))
        elif action == "default":
            account = await services.accounts.make_default(user.id, account.id)
            await query.answer(_("⭐ It's now your default account."))
            await _edit(message, card_text(account, services, lang),
                        account_card_keyboard(account))
        elif action == "unlink":
            await query.answer()
            await _edit(
                message,
                _("🗑 Unlink <b>{title}</b> (<code>{number}</code>)?\n\nEverything the bot "
                  "keeps for it (reminders, readings not yet sent and the like) will be "
                  "deleted. The account itself stays with the supplier, and you can link it "
                  "again later.").format(title=_q(services.accounts.title(account, lang)),
                                         number=masked_number(account)),
                unlink_confirm_keyboard(account))
        elif action == "rename":
            await query.answer()
            await state.set_state(AccountStates.alias)
            await AccountData(account_id=account.id).save(state)
            await message.answer(
                _("✏️ Send a new name for <b>{title}</b> (up to {max} characters), for example "
                  "“Home” or “Mum's cottage”.").format(
                    title=_q(services.accounts.title(account, lang)), max=ALIAS_MAX_LEN),
                reply_markup=alias_keyboard(account))
        elif action == "unalias":
            await services.accounts.rename(user.id, account.id, None)
            await state.clear()
            await query.answer(_("Name removed."))
            await take_buttons_off(message)
            await message.answer(card_text(account, services, lang),
                                 reply_markup=account_card_keyboard(account))
        else:
            await query.answer(_("This button is no longer active."))

    @router.message(AccountStates.alias, F.text, F.func(is_step_input))
    async def alias_sent(message: Message, state: FSMContext, services: Services,
                         user: User) -> None:
        data = await AccountData.load(state)
        if data.account_id is None:
            await state.clear()
            await show_accounts(message, services, user)
            return
        try:
            account = await services.accounts.rename(user.id, data.account_id,
                                                     message.text or "")
        except InvalidAlias as exc:
            if exc.reason == "too_long":
                await message.answer(_("The name is too long: at most {max} characters. Send a "
                                       "shorter one, or /cancel.").format(max=ALIAS_MAX_LEN))
            else:
                await message.answer(_("The name must not be empty. Send a name, or /cancel."))
            return
        except AccountGone:
            await state.clear()
            await message.answer(_("This account is no longer linked."))
            return
        await state.clear()
        await message.answer(_("✅ Name saved."))
        await message.answer(card_text(account, services, user.language),
                             reply_markup=account_card_keyboard(account))

    @router.message(AccountStates.alias, ~F.text)
    async def alias_bad_input(message: Message) -> None:
        await message.answer(_("Send the new name as text, or /cancel."))

    return router
