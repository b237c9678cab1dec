"""/pay: a payment QR code (ГОСТ Р 56042-2014) that any Russian banking app scans.

account (skipped when there is one) → amount: the amount due with one tap, or any amount
typed → the QR code as a photo, with the recipient, account, period, amount and how to pay.
Entry points: /pay, «💳 Pay» in the main menu and on account cards, `/start pay[_<id>]`.
A supplier outage keeps the chosen account: «Retry» asks the supplier again.

The caption shows the account number in full: it is the owner's private chat, and the
banking app will show the same number. It is never logged (notes carry it masked).
"""

from __future__ import annotations

from decimal import Decimal

from aiogram import F, Router, html
from aiogram.enums import ChatAction
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.billing.models import Period
from bot.callbacks import PayCB
from bot.db.models import User
from bot.db.models_accounts import LinkedAccount
from bot.filters import MenuEntry, feature_router, is_step_input
from bot.i18n import fmt_date, fmt_money, fmt_period
from bot.keyboards.common import MENU_PAY, main_menu
from bot.keyboards.payments import (
    after_qr_keyboard,
    amount_keyboard,
    pay_accounts_keyboard,
    pay_retry_keyboard,
)
from bot.middlewares.events import EventContext
from bot.services import Services
from bot.services.payments import (
    MAX_AMOUNT,
    AccountNotFound,
    AmountDue,
    AmountError,
    InvalidAmount,
    PaymentQr,
    SupplierGone,
    SupplierUnavailable,
    parse_amount,
)
from bot.suppliers.accounts import mask_account
from fsm.payments import PayData, PayStates
from handlers.account_choice import (
    account_entries,
    account_header,
    button_account,
    message_of,
    start_with_account,
)
from handlers.deeplinks import account_id_of


def _q(text: str) -> str:
    return html.quote(text)


# --- shared with /receipt ----------------------------------------------------------------------


def supplier_gone_text() -> str:
    return _("The bot no longer serves the supplier of this account, so I can't do this for "
             "it. See /accounts.")


def account_not_found_text(supplier_name: str) -> str:
    return _("❌ <b>{supplier}</b> no longer finds this account (accounts are sometimes merged "
             "or renumbered). Check the number on your latest receipt, and link it again in "
             "/accounts if it has changed.").format(supplier=_q(supplier_name))


def note(ctx: EventContext | None, account: LinkedAccount, **values: str) -> None:
    """What support staff see of this step; the account number only masked."""
    if ctx is not None:
        ctx.notes.update(supplier=account.supplier_code, account=mask_account(account.number),
                         **values)


# --- texts -------------------------------------------------------------------------------------


def amount_examples() -> str:
    return _("for example <code>1500</code> or <code>1234.56</code>")


def due_line(due: AmountDue, amount: Decimal, lang: str) -> str:
    if due.overdue and due.due_date is not None:
        # Not "for October": a debt past its due date is rarely one month's bill alone.
        return _("⚠️ <b>Overdue debt: {amount}</b> (it was due by {date})").format(
            amount=fmt_money(amount, lang), date=fmt_date(due.due_date, lang))
    line = _("Amount due for {period}: <b>{amount}</b>").format(
        period=fmt_period(due.period.year, due.period.month, lang),
        amount=fmt_money(amount, lang))
    if due.due_date is not None:
        line += " " + _("(pay by {date})").format(date=fmt_date(due.due_date, lang))
    return line


def amount_text(header: str, due: AmountDue, lang: str) -> str:
    lines = [_("💳 <b>Payment</b> · {account}").format(account=header), ""]
    if due.amount is not None:
        lines += [due_line(due, due.amount, lang), "",
                  _("Tap the button to get a QR code for this amount, or send another amount "
                    "as a message, {examples}.").format(examples=amount_examples())]
    else:
        if due.overpayment is not None:
            lines.append(_("✅ Nothing is due: you have an overpayment of <b>{amount}</b>.")
                         .format(amount=fmt_money(due.overpayment, lang)))
        else:
            lines.append(_("✅ Nothing is due: the account is settled."))
        lines += ["", _("To pay in advance, send the amount as a message, {examples}.")
                  .format(examples=amount_examples())]
    return "\n".join(lines)


def custom_prompt(lang: str) -> str:
    return _("✏️ Send the amount in roubles, {examples}. At most {max}.").format(
        examples=amount_examples(), max=fmt_money(MAX_AMOUNT, lang))


def amount_error(error: AmountError, lang: str) -> str:
    if error is AmountError.NOT_POSITIVE:
        text = _("❌ The amount must be greater than zero.")
    elif error is AmountError.TOO_MANY_DECIMALS:
        text = _("❌ At most two digits after the decimal point (kopecks), for example "
                 "<code>1234.56</code>. Write thousands with a space: <code>1 500</code>.")
    elif error is AmountError.TOO_LARGE:
        text = _("❌ That is more than one payment may be: at most {max}.").format(
            max=fmt_money(MAX_AMOUNT, lang))
    else:
        text = _("❌ I can't read this amount. Send a number of roubles, {examples}.").format(
            examples=amount_examples())
    return text + "\n" + _("Send the amount again, or /cancel.")


def outage_text(supplier_name: str) -> str:
    return _("⚠️ <b>{supplier}</b> is not responding right now, so I can't tell the amount due. "
             "Your choice of account is kept: press «🔄 Retry» in a minute.").format(
        supplier=_q(supplier_name))


def qr_caption(qr: PaymentQr, lang: str) -> str:
    """Recipient, account (and its management unit), period, amount and how to pay; well
    under the 1024 characters of a caption even with the longest payee name (160)."""
    lines = [_("💳 <b>Payment QR code</b>")]
    if qr.demo:
        lines.append(_("⚠️ <b>Demo requisites:</b> these bank details are made up for the "
                       "demonstration and are not the supplier's. Do not pay with this code."))
    lines += [
        "",
        _("Recipient: {name}").format(name=_q(qr.recipient)),
        _("Account: <code>{number}</code>").format(number=_q(qr.number)),
    ]
    unit = qr.unit_name(lang)
    if unit:
        lines.append(_("Unit: {unit}").format(unit=_q(unit)))
    lines += [
        _("Period: {period}").format(period=fmt_period(qr.period.year, qr.period.month, lang)),
        _("Amount: <b>{amount}</b>").format(amount=fmt_money(qr.amount, lang)),
        "",
        _("<b>How to pay:</b> open your banking app → «Pay by QR code» (or its scanner) → "
          "point the camera at this code shown on another screen. On this phone, save the "
          "picture and choose it from the gallery in the same section."),
        _("Check the recipient and the amount before you confirm."),
    ]
    return "\n".join(lines)


def step_hint(current: str | None) -> str:
    hints = {
        PayStates.account.state: _("Now: choose the account."),
        PayStates.amount.state: _("Now: choose or send the amount."),
    }
    return hints.get(current or "", "")


# --- steps -------------------------------------------------------------------------------------


async def start_payment(message: Message, state: FSMContext, services: Services, user: User,
                        account_id: int | None = None,
                        ctx: EventContext | None = None) -> None:
    """Start (or restart) /pay; at the account `account_id` when it is the user's."""
    account = await start_with_account(
        message, state, services, user, account_id, step=PayStates.account, data=PayData(),
        prompt=_("💳 <b>Payment</b>\nWhich account are you paying for?"),
        keyboard=pay_accounts_keyboard)
    if account is not None:
        await ask_amount(message, state, services, user, account, ctx)


async def pay_deep_link(message: Message, state: FSMContext, services: Services, user: User,
                        arg: str | None) -> None:
    """`/start pay` and `/start pay_<account id>`: reminders send the user here."""
    await start_payment(message, state, services, user, account_id_of(arg))


async def ask_amount(message: Message, state: FSMContext, services: Services, user: User,
                     account: LinkedAccount, ctx: EventContext | None = None) -> None:
    """Ask the supplier what is due, and offer it (or say nothing is due)."""
    lang = user.language
    data = PayData(account_id=account.id)
    await state.set_state(PayStates.amount)
    await data.save(state)
    supplier_name = services.accounts.supplier_name(account, lang)
    try:
        due = await services.payments.amount_due(account)
    except SupplierGone:
        await state.clear()
        await message.answer(supplier_gone_text(), reply_markup=main_menu())
        return
    except SupplierUnavailable:
        note(ctx, account, pay="unavailable")
        await message.answer(outage_text(supplier_name),
                             reply_markup=pay_retry_keyboard(account.id))
        return
    except AccountNotFound:
        note(ctx, account, pay="not_found")
        await state.clear()
        await message.answer(account_not_found_text(supplier_name), reply_markup=main_menu())
        return
    data.period = str(due.period)
    data.due = str(due.amount) if due.amount is not None else None
    await data.save(state)
    note(ctx, account, pay="due" if due.amount is not None else "nothing_due")
    header = account_header(services, account, lang)
    await message.answer(amount_text(header, due, lang), reply_markup=amount_keyboard(
        account.id, fmt_money(due.amount, lang) if due.amount is not None else None))


async def send_qr(message: Message, state: FSMContext, services: Services, user: User,
                  account: LinkedAccount, period: Period, amount: Decimal,
                  ctx: EventContext | None, kind: str) -> None:
    if message.bot is not None:
        await message.bot.send_chat_action(message.chat.id, ChatAction.UPLOAD_PHOTO)
    try:
        qr = await services.payments.qr(account, period, amount)
    except SupplierGone:
        await state.clear()
        await message.answer(supplier_gone_text(), reply_markup=main_menu())
        return
    await state.clear()
    note(ctx, account, pay=f"qr_{kind}")
    await message.answer_photo(
        BufferedInputFile(qr.png, filename=f"payment_{period}.png"),
        caption=qr_caption(qr, user.language),
        reply_markup=after_qr_keyboard(account.id),
    )


async def _amount_step(state: FSMContext, services: Services, user: User, account_id: int
                       ) -> tuple[PayData, LinkedAccount | None]:
    """The data of the amount step when it is about `account_id`, and the account if it is
    still the user's."""
    data = await PayData.load(state)
    if await state.get_state() != PayStates.amount.state or data.account_id != account_id:
        return data, None
    return data, await services.accounts.get(user.id, account_id)


# --- router ------------------------------------------------------------------------------------


def build_router() -> Router:
    router = feature_router(__name__)

    @router.message(Command("pay"))
    @router.message(MenuEntry(MENU_PAY))
    async def pay_command(message: Message, state: FSMContext, services: Services, user: User,
                          event_log: EventContext | None = None) -> None:
        await start_payment(message, state, services, user, None, event_log)

    @router.callback_query(PayCB.filter(F.action == "start"))
    async def pay_account(query: CallbackQuery, callback_data: PayCB, state: FSMContext,
                          services: Services, user: User,
                          event_log: EventContext | None = None) -> None:
        # Account cards, the account choice, «Retry» and «Another amount» all land here.
        found = await button_account(query, services, user, callback_data.id)
        if found is None:
            return
        account, message = found
        await query.answer()
        await ask_amount(message, state, services, user, account, event_log)

    @router.callback_query(PayCB.filter(F.action == "due"))
    async def pay_due(query: CallbackQuery, callback_data: PayCB, state: FSMContext,
                      services: Services, user: User,
                      event_log: EventContext | None = None) -> None:
        data, account = await _amount_step(state, services, user, callback_data.id)
        message = message_of(query)
        if account is None or message is None or data.period is None or data.due is None:
            # An amount due shown earlier may be out of date: never pay it from an old button.
            await query.answer(_("This button is no longer active. Send /pay for the current "
                                 "amount due."), show_alert=True)
            return
        await query.answer()
        await send_qr(message, state, services, user, account, Period.parse(data.period),
                      Decimal(data.due), event_log, "due")

    @router.callback_query(PayCB.filter(F.action == "custom"))
    async def pay_custom(query: CallbackQuery, callback_data: PayCB, state: FSMContext,
                         services: Services, user: User) -> None:
        _data, account = await _amount_step(state, services, user, callback_data.id)
        message = message_of(query)
        if account is None or message is None:
            await query.answer(_("This button is no longer active. Send /pay to start again."))
            return
        await query.answer()
        await message.answer(custom_prompt(user.language))

    @router.message(PayStates.amount, F.text, F.func(is_step_input))
    async def amount_sent(message: Message, state: FSMContext, services: Services, user: User,
                          event_log: EventContext | None = None) -> None:
        data = await PayData.load(state)
        account = (await services.accounts.get(user.id, data.account_id)
                   if data.account_id is not None else None)
        if account is None:
            await start_payment(message, state, services, user, None, event_log)
            return
        try:
            amount = parse_amount(message.text or "", comma_groups=user.language == "en")
        except InvalidAmount as exc:
            await message.answer(amount_error(exc.error, user.language))
            return
        if data.period is None:
            # The supplier has not told the period yet (an outage): ask it first.
            await ask_amount(message, state, services, user, account, event_log)
            return
        await send_qr(message, state, services, user, account, Period.parse(data.period),
                      amount, event_log, "custom")

    @router.message(PayStates.amount, F.func(is_step_input))
    async def amount_bad_input(message: Message, state: FSMContext, user: User) -> None:
        data = await PayData.load(state)
        text = _("Send the amount as a text message, {examples}.").format(
            examples=amount_examples())
        if data.account_id is None or data.period is None:
            await message.answer(text)
            return
        due_label = fmt_money(Decimal(data.due), user.language) if data.due else None
        await message.answer(text, reply_markup=amount_keyboard(data.account_id, due_label))

    @router.message(PayStates.account, F.func(is_step_input))
    async def account_bad_input(message: Message, services: Services, user: User) -> None:
        accounts = await services.accounts.list_for(user.id)
        await message.answer(_("Please choose the account with the buttons below."),
                             reply_markup=pay_accounts_keyboard(
                                 account_entries(services, accounts, user.language)))

    @router.callback_query(PayCB.filter())
    async def stale_button(query: CallbackQuery, state: FSMContext) -> None:
        hint = step_hint(await state.get_state())
        text = _("This button is no longer active.")
        await query.answer(f"{text} {hint}" if hint else text)

    return router
