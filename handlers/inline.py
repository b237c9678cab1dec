"""Inline mode: `@bot <query>` in any chat lists the asker's own linked accounts as balance
cards, filtered by the query; the chosen card is posted in that chat with a button that
opens the bot.

A card may land in a group, so it holds what the balance card holds and nothing more: the
account's name, its supplier, the masked number and the money — never a phone, an e-mail, the
full number, the owner's name or the address. Answers are personal (`is_personal`) and cached
briefly: a balance is private, and it changes.
"""

from __future__ import annotations

import asyncio
from typing import Final

from aiogram import Bot, Router, html
from aiogram.enums import ParseMode
from aiogram.types import (
    InlineQuery,
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InlineQueryResultUnion,
    InputTextMessageContent,
)
from aiogram.utils.i18n import gettext as _

from bot.billing.models import Balance
from bot.db.models import User
from bot.db.models_accounts import LinkedAccount
from bot.i18n import fmt_money
from bot.keyboards.groups import open_bot_keyboard, start_link
from bot.services import Services
from bot.services.accounts import masked_number
from bot.services.balance import Failure, Fetched
from bot.views.balance import balance_card_text
from handlers.groups import bot_username

# Telegram keeps at most 50 results per answer.
MAX_RESULTS: Final = 50
# Seconds Telegram may serve the same answer to the same user again without asking.
CACHE_TIME: Final = 10
# An inline answer must come within seconds; a supplier slower than this shows «unavailable».
BALANCE_TIMEOUT: Final = 6.0
# `/start` payload of the results button: registration (or linking) then goes on to linking.
REGISTER_PAYLOAD: Final = "link"
ACCOUNTS_PAYLOAD: Final = "accounts"  # /start accounts: the list of linked accounts


def matches(account: LinkedAccount, query: str, names: list[str]) -> bool:
    """Every word of the query appears in the alias or a name of the supplier
    (case-insensitive), or is the tail of the account number."""
    words = query.casefold().split()
    if not words:
        return True
    haystack = " ".join([account.alias or "", *names]).casefold()
    tail = account.number[-4:]
    return all(word in haystack or (word.isdigit() and tail.endswith(word)) for word in words)


def _summary(balance: Balance, lang: str) -> str:
    if balance.closing > 0:
        return _("Amount due: {amount}").format(amount=fmt_money(balance.closing, lang))
    if balance.closing < 0:
        return _("Overpayment: {amount}").format(amount=fmt_money(-balance.closing, lang))
    return _("No debt")


def unavailable_card(title: str, supplier: str, number: str) -> str:
    return _("💰 <b>{title}</b>\n{supplier} · <code>{number}</code>\n\n⚠️ The balance is "
             "temporarily unavailable: the supplier is not responding. Try again later.").format(
        title=html.quote(title), supplier=html.quote(supplier), number=number)


def not_found_card(title: str, supplier: str, number: str) -> str:
    return _("💰 <b>{title}</b>\n{supplier} · <code>{number}</code>\n\n❓ The supplier no "
             "longer finds this account.").format(
        title=html.quote(title), supplier=html.quote(supplier), number=number)


async def _balance(services: Services, account: LinkedAccount) -> Fetched[Balance]:
    try:
        return await asyncio.wait_for(services.balance.balance(account), BALANCE_TIMEOUT)
    except TimeoutError:
        return Fetched(account, services.balance.supplier(account), failure=Failure.UNAVAILABLE)


async def _nothing(query: InlineQuery, button: str, payload: str) -> None:
    """No results, and a button above them into the bot (/start `payload`)."""
    await query.answer([], cache_time=CACHE_TIME, is_personal=True,
                       button=InlineQueryResultsButton(text=button, start_parameter=payload))


def build_router() -> Router:
    router = Router(name=__name__)

    @router.inline_query()
    async def inline_balances(query: InlineQuery, services: Services, user: User | None,
                              bot: Bot) -> None:
        if user is None or not user.is_registered:
            await _nothing(query, _("Register in the bot to share your balance"),
                           REGISTER_PAYLOAD)
            return
        lang = user.language
        accounts = await services.accounts.list_for(user.id)
        if not accounts:
            await _nothing(query, _("Link an account in the bot"), REGISTER_PAYLOAD)
            return
        chosen = []
        for account in accounts:
            supplier = services.balance.supplier(account)
            names = [supplier.display_name(code) for code in ("ru", "en")] if supplier else []
            if matches(account, query.query, [*names, account.supplier_code]):
                chosen.append(account)
        if not chosen:
            # Words that name none of the user's accounts: an empty list alone reads «no
            # results»; the button shows what is there to share.
            await _nothing(query, _("No account matches: see my accounts"), ACCOUNTS_PAYLOAD)
            return
        chosen = chosen[:MAX_RESULTS]
        fetched = await asyncio.gather(*(_balance(services, account) for account in chosen))
        username = await bot_username(bot)
        results: list[InlineQueryResultUnion] = []
        for item in fetched:
            account = item.account
            supplier_name = services.accounts.supplier_name(account, lang)
            title = services.accounts.title(account, lang)
            number = masked_number(account)
            if item.value is not None:
                card = balance_card_text(account, item.supplier, item.value, lang,
                                         overdue=services.balance.overdue(account, item.value))
                description = f"{_summary(item.value, lang)} · {number}"
            elif item.failure is Failure.NOT_FOUND:
                card = not_found_card(title, supplier_name, number)
                description = _("The supplier no longer finds this account")
            else:
                card = unavailable_card(title, supplier_name, number)
                description = _("Balance temporarily unavailable")
            results.append(InlineQueryResultArticle(
                id=f"acc{account.id}",
                title=(f"{account.alias} · {services.accounts.where(account, lang)}"
                       if account.alias else title),
                description=description,
                input_message_content=InputTextMessageContent(message_text=card,
                                                              parse_mode=ParseMode.HTML),
                reply_markup=open_bot_keyboard(start_link(username, f"balance_{account.id}"),
                                               _("💰 Open in the bot")),
            ))
        await query.answer(results, cache_time=CACHE_TIME, is_personal=True)

    return router
