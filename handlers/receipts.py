"""/receipt: the payment document of a period as a PDF.

account (skipped when there is one) → period: the latest with one tap, any other from the
pages of periods, or typed as «10.2026» → `receipt_<account>_<YYYY-MM>.pdf`.
Entry points: /receipt, «🧾 Receipt» in the main menu and on account cards,
`/start receipt[_<id>]`.

A receipt of a past period never changes, so the period buttons carry the account and the
period and keep working on older messages, as long as the account is still the user's.
A supplier outage keeps the choice: «Retry» repeats exactly the call that failed.
"""

from __future__ import annotations

from aiogram import F, Router, html
from aiogram.enums import ChatAction
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.billing.models import Period
from bot.callbacks import ReceiptCB, ReceiptPageCB
from bot.db.models import User
from bot.db.models_accounts import LinkedAccount
from bot.filters import MenuEntry, feature_router, is_step_input
from bot.i18n import fmt_date, fmt_money, fmt_period
from bot.keyboards.common import MENU_RECEIPT, main_menu
from bot.keyboards.payments import (
    after_receipt_keyboard,
    periods_keyboard,
    periods_pages,
    receipt_accounts_keyboard,
    receipt_retry_keyboard,
)
from bot.middlewares.events import EventContext
from bot.services import Services
from bot.services.receipts import (
    AccountNotFound,
    ReceiptFile,
    ReceiptNotAvailable,
    SupplierGone,
    SupplierUnavailable,
    parse_period,
)
from fsm.receipts import ReceiptData, ReceiptStates
from handlers.account_choice import (
    account_entries,
    account_header,
    button_account,
    start_with_account,
)
from handlers.deeplinks import account_id_of
from handlers.payments import (
    account_not_found_text,
    note,
    supplier_gone_text,
)


def _q(text: str) -> str:
    return html.quote(text)


def _period(period: Period, lang: str) -> str:
    return fmt_period(period.year, period.month, lang)


def _example(period: Period) -> str:
    return f"{period.month:02d}.{period.year}"


# --- texts -------------------------------------------------------------------------------------


def periods_text(header: str, periods: list[Period], page: int, lang: str) -> str:
    text = _("🧾 <b>Receipt</b> · {account}\n\nThe latest receipt is for <b>{period}</b>. "
             "Choose the period, or send the month and year, for example "
             "<code>{example}</code>.").format(
        account=header, period=_period(periods[0], lang), example=_example(periods[0]))
    pages = periods_pages(len(periods))
    if pages > 1:
        text += "\n" + _("Page {page} of {pages}.").format(
            page=min(max(page, 0), pages - 1) + 1, pages=pages)
    return text


def outage_text(supplier_name: str) -> str:
    return _("⚠️ <b>{supplier}</b> is not responding right now. Your choice is kept: press "
             "«🔄 Retry» in a minute.").format(supplier=_q(supplier_name))


def document_caption(file: ReceiptFile, header: str, lang: str) -> str:
    receipt = file.receipt
    lines = [_("🧾 Receipt for {period} · {account}").format(
        period=_period(receipt.period, lang), account=header)]
    closing = receipt.balance.closing
    if closing > 0:
        line = _("Amount due: <b>{amount}</b>").format(amount=fmt_money(closing, lang))
        if receipt.balance.due_date is not None:
            line += " " + _("(pay by {date})").format(
                date=fmt_date(receipt.balance.due_date, lang))
        lines.append(line)
    elif closing < 0:
        lines.append(_("Overpayment: <b>{amount}</b>").format(amount=fmt_money(-closing, lang)))
    else:
        lines.append(_("Nothing is due."))
    if file.supplier.payment.demo:
        lines.append(_("⚠️ Demo requisites: do not pay with this receipt."))
    return "\n".join(lines)


def step_hint(current: str | None) -> str:
    hints = {
        ReceiptStates.account.state: _("Now: choose the account."),
        ReceiptStates.period.state: _("Now: choose the period."),
    }
    return hints.get(current or "", "")


async def _leave(state: FSMContext) -> None:
    """End /receipt's conversation, and only it: a period button of an older message may be
    tapped in the middle of another conversation, which must go on."""
    current = await state.get_state()
    if current is not None and current.startswith(f"{ReceiptStates.__name__}:"):
        await state.clear()


# --- steps -------------------------------------------------------------------------------------


async def start_receipt(message: Message, state: FSMContext, services: Services, user: User,
                        account_id: int | None = None,
                        ctx: EventContext | None = None) -> None:
    """Start (or restart) /receipt; at the account `account_id` when it is the user's."""
    account = await start_with_account(
        message, state, services, user, account_id, step=ReceiptStates.account,
        data=ReceiptData(),
        prompt=_("🧾 <b>Receipt</b>\nWhich account do you need the receipt for?"),
        keyboard=receipt_accounts_keyboard)
    if account is not None:
        await show_periods(message, state, services, user, account, ctx)


async def receipt_deep_link(message: Message, state: FSMContext, services: Services,
                            user: User, arg: str | None) -> None:
    """`/start receipt` and `/start receipt_<account id>`."""
    await start_receipt(message, state, services, user, account_id_of(arg))


async def _periods(message: Message, state: FSMContext, services: Services, user: User,
                   account: LinkedAccount, ctx: EventContext | None) -> list[Period] | None:
    """The account's receipt periods, or None after telling the user why there are none."""
    supplier_name = services.accounts.supplier_name(account, user.language)
    try:
        periods = await services.receipts.periods(account)
    except SupplierGone:
        await _leave(state)
        await message.answer(supplier_gone_text(), reply_markup=main_menu())
        return None
    except SupplierUnavailable:
        note(ctx, account, receipt="unavailable")
        await message.answer(outage_text(supplier_name),
                             reply_markup=receipt_retry_keyboard(account.id, None))
        return None
    except AccountNotFound:
        note(ctx, account, receipt="not_found")
        await _leave(state)
        await message.answer(account_not_found_text(supplier_name), reply_markup=main_menu())
        return None
    if not periods:
        await _leave(state)
        await message.answer(_("There are no receipts for this account yet: the first one "
                               "comes once the first month has been billed."),
                             reply_markup=main_menu())
        return None
    return periods


async def show_periods(message: Message, state: FSMContext, services: Services, user: User,
                       account: LinkedAccount, ctx: EventContext | None = None) -> None:
    await state.set_state(ReceiptStates.period)
    await ReceiptData(account_id=account.id).save(state)
    periods = await _periods(message, state, services, user, account, ctx)
    if periods is None:
        return
    lang = user.language
    await message.answer(
        periods_text(account_header(services, account, lang), periods, 0, lang),
        reply_markup=periods_keyboard(account.id, periods, lang, 0))


async def send_receipt(message: Message, state: FSMContext, services: Services, user: User,
                       account: LinkedAccount, period: Period,
                       ctx: EventContext | None = None) -> None:
    lang = user.language
    supplier_name = services.accounts.supplier_name(account, lang)
    if message.bot is not None:
        await message.bot.send_chat_action(message.chat.id, ChatAction.UPLOAD_DOCUMENT)
    try:
        file = await services.receipts.pdf(account, period, lang)
    except ReceiptNotAvailable:
        note(ctx, account, receipt="not_available")
        await message.answer(_("There is no receipt for {period} for this account. Choose "
                               "another period.").format(period=_period(period, lang)))
        return
    except SupplierGone:
        await _leave(state)
        await message.answer(supplier_gone_text(), reply_markup=main_menu())
        return
    except SupplierUnavailable:
        # «Retry» carries the account and the period: nothing else needs keeping.
        note(ctx, account, receipt="unavailable")
        await message.answer(outage_text(supplier_name),
                             reply_markup=receipt_retry_keyboard(account.id, period))
        return
    except AccountNotFound:
        note(ctx, account, receipt="not_found")
        await _leave(state)
        await message.answer(account_not_found_text(supplier_name), reply_markup=main_menu())
        return
    await _leave(state)
    note(ctx, account, receipt="sent", period=str(period))
    await message.answer_document(
        BufferedInputFile(file.content, filename=file.filename),
        caption=document_caption(file, account_header(services, account, lang), lang),
        reply_markup=after_receipt_keyboard(account.id, due=file.receipt.balance.closing > 0),
    )


async def _edit(message: Message, text: str, markup: InlineKeyboardMarkup) -> None:
    try:
        await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as exc:
        # A double tap re-renders the same page.
        if "message is not modified" not in str(exc):
            raise


# --- router ------------------------------------------------------------------------------------


def build_router() -> Router:
    router = feature_router(__name__)

    @router.message(Command("receipt"))
    @router.message(MenuEntry(MENU_RECEIPT))
    async def receipt_command(message: Message, state: FSMContext, services: Services,
                              user: User, event_log: EventContext | None = None) -> None:
        await start_receipt(message, state, services, user, None, event_log)

    @router.callback_query(ReceiptCB.filter(F.action == "start"))
    async def receipt_account(query: CallbackQuery, callback_data: ReceiptCB,
                              state: FSMContext, services: Services, user: User,
                              event_log: EventContext | None = None) -> None:
        found = await button_account(query, services, user, callback_data.id)
        if found is None:
            return
        account, message = found
        await query.answer()
        await show_periods(message, state, services, user, account, event_log)

    @router.callback_query(ReceiptCB.filter(F.action == "get"))
    async def receipt_period(query: CallbackQuery, callback_data: ReceiptCB,
                             state: FSMContext, services: Services, user: User,
                             event_log: EventContext | None = None) -> None:
        found = await button_account(query, services, user, callback_data.id)
        if found is None:
            return
        account, message = found
        try:
            period = Period.parse(callback_data.period)
        except ValueError:
            await query.answer(_("This button is no longer active."))
            return
        # Answered before the PDF is made: the spinner on the button must not wait for it.
        await query.answer(_("🧾 Preparing the receipt for {period}…").format(
            period=_period(period, user.language)))
        await send_receipt(message, state, services, user, account, period, event_log)

    @router.callback_query(ReceiptPageCB.filter())
    async def periods_page(query: CallbackQuery, callback_data: ReceiptPageCB,
                           state: FSMContext, services: Services, user: User,
                           event_log: EventContext | None = None) -> None:
        found = await button_account(query, services, user, callback_data.id)
        if found is None:
            return
        account, message = found
        await query.answer()
        # Asked again rather than kept: the pages then work on older messages too.
        periods = await _periods(message, state, services, user, account, event_log)
        if periods is None:
            return
        lang = user.language
        await _edit(message,
                    periods_text(account_header(services, account, lang), periods,
                                 callback_data.page, lang),
                    periods_keyboard(account.id, periods, lang, callback_data.page))

    @router.message(ReceiptStates.period, F.text, F.func(is_step_input))
    async def period_typed(message: Message, state: FSMContext, services: Services, user: User,
                           event_log: EventContext | None = None) -> None:
        data = await ReceiptData.load(state)
        account = (await services.accounts.get(user.id, data.account_id)
                   if data.account_id is not None else None)
        if account is None:
            await start_receipt(message, state, services, user, None, event_log)
            return
        today = Period.of(services.app.clock().date())
        period = parse_period(message.text or "", today)
        if period is None:
            await message.answer(_("Choose the period with the buttons above, or send the "
                                   "month and year, for example <code>{example}</code> or "
                                   "<code>{named}</code>.").format(
                example=_example(today.shift(-1)),
                named=fmt_period(today.shift(-1).year, today.shift(-1).month, user.language)))
            return
        await send_receipt(message, state, services, user, account, period, event_log)

    @router.message(ReceiptStates.period, F.func(is_step_input))
    async def period_bad_input(message: Message) -> None:
        await message.answer(_("Choose the period with the buttons above, or send the month "
                               "and year as text."))

    @router.message(ReceiptStates.account, F.func(is_step_input))
    async def account_bad_input(message: Message, services: Services, user: User) -> None:
        accounts = await services.accounts.list_for(user.id)
        await message.answer(_("Please choose the account with the buttons below."),
                             reply_markup=receipt_accounts_keyboard(
                                 account_entries(services, accounts, user.language)))

    @router.callback_query(ReceiptCB.filter())
    async def stale_button(query: CallbackQuery, state: FSMContext) -> None:
        hint = step_hint(await state.get_state())
        text = _("This button is no longer active.")
        await query.answer(f"{text} {hint}" if hint else text)

    return router
