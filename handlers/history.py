"""The buttons under a balance card: payments by year, charges of the last 12 months and the
account's details. A history opens as a new message under the card; its year and page
buttons then turn that message over in place."""

from __future__ import annotations

from aiogram import Router
from aiogram.enums import ChatType
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.callbacks import ChargesCB, HistoryCB, PaymentsCB
from bot.db.models import User
from bot.db.models_accounts import LinkedAccount
from bot.filters import RegisteredUser
from bot.keyboards.balance import charges_keyboard, payments_keyboard
from bot.services import Services
from bot.views.balance import charges_pages, details_text, payments_pages
from handlers.balance import edit_or_send, failure_view, stale_account_text

# (text, keyboard, a notice for the callback answer)
View = tuple[str, InlineKeyboardMarkup | None, str | None]


def _stale_page() -> str:
    return _("This page is out of date: here is the current one.")


def _page(page: int, pages: int) -> tuple[int, str | None]:
    """The page to show and, when the one asked for no longer exists, why another is."""
    if 0 <= page < pages:
        return page, None
    return min(max(page, 0), pages - 1), _stale_page()


async def payments_view(services: Services, account: LinkedAccount, lang: str,
                        year: int | None, page: int = 0) -> View:
    """`year` None: the current one."""
    years = services.balance.payment_years(account)
    notice = None
    if year not in years:
        # A year button of a message from an earlier year: the window has moved on.
        notice = None if year is None else _stale_page()
        year, page = years[-1], 0
    fetched = await services.balance.payments(account, year)
    if fetched.value is None:
        text, markup = failure_view(fetched, lang,
                                    PaymentsCB(id=account.id, year=year, page=page).pack())
        return text, markup, notice
    pages = payments_pages(account, fetched.supplier, year, fetched.value, lang)
    page, stale = _page(page, len(pages))
    return (pages[page], payments_keyboard(account, years, year, page, len(pages)),
            notice or stale)


async def charges_view(services: Services, account: LinkedAccount, lang: str,
                       page: int = 0) -> View:
    fetched = await services.balance.charges(account)
    if fetched.value is None:
        text, markup = failure_view(fetched, lang, ChargesCB(id=account.id, page=page).pack())
        return text, markup, None
    history = fetched.value
    pages = charges_pages(account, fetched.supplier, history.charges, history.start,
                          history.end, lang)
    page, stale = _page(page, len(pages))
    return pages[page], charges_keyboard(account, page, len(pages)), stale


async def details_view(services: Services, account: LinkedAccount, lang: str) -> View:
    fetched = await services.balance.details(account)
    if fetched.value is None:
        text, markup = failure_view(fetched, lang,
                                    HistoryCB(what="det", id=account.id, edit=True).pack())
        return text, markup, None
    return details_text(account, fetched.supplier, fetched.value, lang), None, None


def _own_private_chat(message: Message, user: User) -> bool:
    return message.chat.type == ChatType.PRIVATE and message.chat.id == user.id


def build_router() -> Router:
    router = Router(name=__name__)
    router.callback_query.filter(RegisteredUser())

    async def _target(query: CallbackQuery, services: Services, user: User, account_id: int
                      ) -> tuple[Message, LinkedAccount] | None:
        """The message and the account of a history button; None (answered) when either is
        gone: an unlinked account, a message Telegram no longer gives."""
        message = query.message if isinstance(query.message, Message) else None
        if message is None:
            # An inline message, or one too old for Telegram to send along.
            await query.answer(_("This button is no longer active."))
            return None
        account = await services.balance.target(user.id, account_id)
        if account is None:
            await query.answer(stale_account_text())
            return None
        return message, account

    @router.callback_query(HistoryCB.filter())
    async def open_history(query: CallbackQuery, callback_data: HistoryCB, services: Services,
                           user: User) -> None:
        found = await _target(query, services, user, callback_data.id)
        if found is None:
            return
        message, account = found
        lang = user.language
        if callback_data.what == "pay":
            view = await payments_view(services, account, lang, None)
        elif callback_data.what == "chg":
            view = await charges_view(services, account, lang)
        elif callback_data.what == "det":
            # The owner's full name and address: never into a group, whoever pressed.
            if not _own_private_chat(message, user):
                await query.answer(_("For your privacy, account details are shown only in "
                                     "a private chat with the bot."), show_alert=True)
                return
            view = await details_view(services, account, lang)
        else:
            await query.answer(_("This button is no longer active."))
            return
        text, markup, notice = view
        await query.answer(notice)
        if callback_data.edit:
            await edit_or_send(message, text, markup)
        else:
            await message.answer(text, reply_markup=markup)

    @router.callback_query(PaymentsCB.filter())
    async def payments_page(query: CallbackQuery, callback_data: PaymentsCB,
                            services: Services, user: User) -> None:
        found = await _target(query, services, user, callback_data.id)
        if found is None:
            return
        message, account = found
        text, markup, notice = await payments_view(services, account, user.language,
                                                   callback_data.year, callback_data.page)
        await query.answer(notice)
        await edit_or_send(message, text, markup)

    @router.callback_query(ChargesCB.filter())
    async def charges_page(query: CallbackQuery, callback_data: ChargesCB, services: Services,
                           user: User) -> None:
        found = await _target(query, services, user, callback_data.id)
        if found is None:
            return
        message, account = found
        text, markup, notice = await charges_view(services, account, user.language,
                                                  callback_data.page)
        await query.answer(notice)
        await edit_or_send(message, text, markup)

    return router
