"""/reminders: per account, the readings-window reminder (which day, what time), the
payment-due reminder (how early) and the new-receipt notice; the user's time zone. Also the
buttons under a reminder (submit a reading, pay, receipt, turn this reminder off), and the
chat-member updates that pause reminders while the user has blocked the bot.

Entry points: /reminders, `/start reminders` and `/start reminders_<account id>` (the
readings feature links here), the buttons below.
"""

from __future__ import annotations

import contextlib

from aiogram import F, Router, html
from aiogram.enums import ChatMemberStatus, ChatType
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    CallbackQuery,
    ChatMemberUpdated,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.i18n import gettext as _

from bot.callbacks import LinkCB, ReminderActionCB, ReminderCB
from bot.db.models import User
from bot.filters import feature_router, is_step_input
from bot.i18n import fmt_day_month
from bot.keyboards.reminders import (
    account_keyboard,
    fmt_time,
    overview_keyboard,
    payment_days_keyboard,
    payment_days_label,
    readings_day_keyboard,
    readings_day_label,
    reminder_keyboard,
    time_keyboard,
    timezone_keyboard,
)
from bot.reminders.models import (
    RECEIPT_FIRST_DAY,
    ReadingsAnchor,
    ReminderKind,
    parse_time_of_day,
    zone_by_index,
    zone_name,
)
from bot.services import Services
from bot.services.accounts import AccountGone, masked_number
from bot.services.reminders import AccountReminders, InvalidChoice
from fsm.reminders import ReminderData, ReminderStates
from handlers.deeplinks import account_id_of, follow_deep_link

# The features the buttons under a reminder open, by their deep-link payload.
_ACTION_FEATURES = {"reading": "reading", "pay": "pay", "receipt": "receipt"}
# Account ids are 32-bit in the database; a forged larger one must not reach a query
# (PostgreSQL refuses it with an error rather than finding nothing).
_MAX_ID = 2**31 - 1


def _account_id(value: int | str | None) -> int | None:
    if isinstance(value, str) or value is None:
        value = account_id_of(value)
    return value if value is not None and 0 < value <= _MAX_ID else None


def _q(text: str) -> str:
    return html.quote(text)


def _kind_name(kind: ReminderKind) -> str:
    return {ReminderKind.READINGS: _("about meter readings"),
            ReminderKind.PAYMENT: _("about the payment"),
            ReminderKind.RECEIPT: _("about new receipts")}[kind]


def _next(entry: AccountReminders, kind: ReminderKind, lang: str) -> str:
    at = entry.upcoming.get(kind)
    if at is None:
        return ""
    return "\n      " + _("next: {date}").format(date=fmt_day_month(at.date(), lang))


def _zone_line(zone: str, chosen: str | None) -> str:
    if chosen is None:
        return _("🌍 Time zone: {zone}, your supplier's").format(zone=zone_name(zone))
    return _("🌍 Time zone: {zone}").format(zone=zone_name(zone))


def _account_zone_line(zone: str, chosen: str | None) -> str:
    # The chosen zone is the user's, not the account's: say so on the account's screen.
    if chosen is None:
        return _zone_line(zone, chosen)
    return _("🌍 Time zone: {zone}, for all your accounts").format(zone=zone_name(zone))


def account_text(entry: AccountReminders, services: Services, lang: str,
                 chosen_zone: str | None) -> str:
    account, settings = entry.account, entry.settings
    title = services.accounts.title(account, lang)
    at = fmt_time(settings.time_of_day)
    lines = [_("🔔 <b>Reminders: {title}</b> · <code>{number}</code>").format(
        title=_q(title), number=masked_number(account)), ""]
    if settings.readings_on:
        lines.append(_("📟 Meter readings: {day}, at {time}").format(
            day=readings_day_label(settings.readings_anchor, settings.readings_days_before),
            time=at) + _next(entry, ReminderKind.READINGS, lang))
    else:
        lines.append(_("📟 Meter readings: off"))
    if settings.payment_on:
        lines.append(_("💳 Payment: {days}, at {time}").format(
            days=payment_days_label(settings.payment_days_before), time=at)
            + _next(entry, ReminderKind.PAYMENT, lang))
    else:
        lines.append(_("💳 Payment: off"))
    if settings.receipt_on:
        lines.append(_("🧾 New receipt: when it is out, from day {day} of the month, at "
                       "{time}").format(day=RECEIPT_FIRST_DAY, time=at))
    else:
        lines.append(_("🧾 New receipt: off"))
    lines.append(_account_zone_line(entry.zone, chosen_zone))
    if entry.window is not None:
        lines.append("")
        if entry.window.always_open:
            lines.append(_("{supplier} accepts readings on any day of the month.").format(
                supplier=_q(services.accounts.supplier_name(account, lang))))
        else:
            lines.append(_("{supplier} accepts readings from day {start} to day {end} of the "
                           "month.").format(
                supplier=_q(services.accounts.supplier_name(account, lang)),
                start=entry.window.start_day, end=entry.window.end_day))
    lines += ["", _("Tap a reminder to turn it on or off.")]
    return "\n".join(lines)


async def _overview(services: Services, user: User) -> tuple[str, InlineKeyboardMarkup]:
    """The overview, or (when the user has one account) that account's screen."""
    entries = await services.reminders.overview(user.id)
    chosen = await services.reminders.timezone_choice(user.id)
    lang = user.language
    if not entries:
        return (_("🔔 Reminders come for linked accounts. Link one and I will remind you when "
                  "to submit meter readings, when a payment is due and when a new receipt is "
                  "out."),
                InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
                    text=_("🔗 Link an account"),
                    callback_data=LinkCB(action="start").pack())]]))
    if len(entries) == 1:
        entry = entries[0]
        return (account_text(entry, services, lang, chosen),
                account_keyboard(entry.account.id, entry.settings, several=False))
    lines = [_("🔔 <b>Reminders</b>"), "",
             _("I remind you when the readings window opens, when a payment is due and when "
               "a new receipt is out. Tap an account to change its reminders."), ""]
    buttons = []
    for entry in entries:
        title = services.accounts.title(entry.account, lang)
        marks = " ".join(icon + ("✅" if entry.settings.enabled(kind) else "▫️")
                         for icon, kind in (("📟", ReminderKind.READINGS),
                                            ("💳", ReminderKind.PAYMENT),
                                            ("🧾", ReminderKind.RECEIPT)))
        lines.append(f"<b>{_q(title)}</b> · <code>{masked_number(entry.account)}</code>\n"
                     f"      {marks}")
        buttons.append((entry.account.id, f"{title} · {masked_number(entry.account)}"))
    zones = {entry.zone for entry in entries}
    if chosen is not None or len(zones) == 1:
        lines += ["", _zone_line(next(iter(zones)), chosen)]
    else:
        lines += ["", _("🌍 Time zone: each account's supplier's")]
    return "\n".join(lines), overview_keyboard(buttons)


async def show_reminders(message: Message, state: FSMContext, services: Services, user: User,
                         account_id: int | None = None) -> None:
    await state.clear()
    if await services.reminders.resume(user.id):
        # They are talking to the bot, so it is not blocked (any more).
        await message.answer(_("🔔 Your reminders were paused because the bot could not reach "
                               "you. They are on again."))
    if account_id is not None:
        try:
            entry = await services.reminders.for_account(user.id, account_id)
        except AccountGone:
            pass
        else:
            several = await services.accounts.count(user.id) > 1
            await message.answer(
                account_text(entry, services, user.language,
                             await services.reminders.timezone_choice(user.id)),
                reply_markup=account_keyboard(entry.account.id, entry.settings,
                                              several=several))
            return
    text, markup = await _overview(services, user)
    await message.answer(text, reply_markup=markup)


async def reminders_deep_link(message: Message, state: FSMContext, services: Services,
                              user: User, arg: str | None) -> None:
    """`/start reminders` and `/start reminders_<account id>`."""
    await show_reminders(message, state, services, user, _account_id(arg))


async def _edit(message: Message, text: str, markup: InlineKeyboardMarkup | None) -> None:
    try:
        await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as exc:
        if "message is not modified" not in str(exc):
            raise


def build_router() -> Router:
    router = feature_router(__name__)
    router.my_chat_member.filter(F.chat.type == ChatType.PRIVATE)

    @router.message(Command("reminders"))
    async def reminders_command(message: Message, state: FSMContext, services: Services,
                                user: User) -> None:
        await show_reminders(message, state, services, user)

    async def _account_screen(message: Message, services: Services, user: User,
                              entry: AccountReminders) -> None:
        several = await services.accounts.count(user.id) > 1
        await _edit(message, account_text(entry, services, user.language,
                                          await services.reminders.timezone_choice(user.id)),
                    account_keyboard(entry.account.id, entry.settings, several=several))

    @router.callback_query(ReminderCB.filter(F.action.in_({"list", "tz", "settz"})
                                             & (F.id == 0)))
    async def overview_actions(query: CallbackQuery, callback_data: ReminderCB,
                               state: FSMContext, services: Services, user: User) -> None:
        message = query.message if isinstance(query.message, Message) else None
        if message is None:
            await query.answer(_("This button is no longer active."))
            return
        await state.clear()
        if callback_data.action == "tz":
            await query.answer()
            await _edit(message, _timezone_text(await services.reminders.timezone_choice(
                user.id)), timezone_keyboard(0, await services.reminders.timezone_choice(
                    user.id)))
            return
        if callback_data.action == "settz":
            if not await _set_zone(query, callback_data.value, services, user):
                return
        else:
            await query.answer()
        text, markup = await _overview(services, user)
        await _edit(message, text, markup)

    # Every other action is on one account the user must still have.
    @router.callback_query(ReminderCB.filter())
    async def account_actions(query: CallbackQuery, callback_data: ReminderCB,
                              state: FSMContext, services: Services, user: User) -> None:
        message = query.message if isinstance(query.message, Message) else None
        try:
            account_id = _account_id(callback_data.id)
            if account_id is None:
                raise AccountGone
            entry = await services.reminders.for_account(user.id, account_id)
        except AccountGone:
            await query.answer(_("This account is no longer linked."))
            return
        if message is None:
            await query.answer(_("This button is no longer active."))
            return
        action, value, account_id = callback_data.action, callback_data.value, entry.account.id
        if action != "time":
            await state.clear()
        try:
            if action == "open":
                await query.answer()
            elif action == "toggle":
                kind = ReminderKind(value)
                entry = await services.reminders.toggle(user.id, account_id, kind)
                await query.answer(
                    (_("🔔 On: reminders {what}") if entry.settings.enabled(kind) else
                     _("🔕 Off: reminders {what}")).format(what=_kind_name(kind)))
            elif action == "day":
                await query.answer()
                await _edit(message, _("📅 On which day of the readings window should I "
                                       "remind you?"),
                            readings_day_keyboard(account_id, entry.settings))
                return
            elif action == "setday":
                anchor = ReadingsAnchor.START if value == "s" else ReadingsAnchor.END
                days = int(value[1:]) if anchor is ReadingsAnchor.END else 0
                was_on = entry.settings.readings_on
                entry = await services.reminders.set_readings_day(user.id, account_id, anchor,
                                                                  days)
                # Choosing the day turns the reminder on: say so when it was off.
                await query.answer(_("Saved.") if was_on
                                   else _("Saved, and the reminder is on again."))
            elif action == "pay":
                await query.answer()
                await _edit(message, _("📆 How many days before the due date should I remind "
                                       "you about the payment?"),
                            payment_days_keyboard(account_id, entry.settings))
                return
            elif action == "setpay":
                was_on = entry.settings.payment_on
                entry = await services.reminders.set_payment_days(user.id, account_id,
                                                                  int(value))
                await query.answer(_("Saved.") if was_on
                                   else _("Saved, and the reminder is on again."))
            elif action == "time":
                await query.answer()
                await state.set_state(ReminderStates.time)
                await ReminderData(account_id=account_id).save(state)
                await _edit(message, _time_prompt(entry, services, user.language),
                            time_keyboard(account_id, entry.settings.time_of_day))
                return
            elif action == "settime":
                at = parse_time_of_day(f"{value[:2]}:{value[2:]}")
                if at is None or len(value) != 4:
                    raise InvalidChoice(value)
                entry = await services.reminders.set_time(user.id, account_id, at)
                await query.answer(_("Saved."))
            elif action == "tz":
                await query.answer()
                chosen = await services.reminders.timezone_choice(user.id)
                await _edit(message, _timezone_text(chosen),
                            timezone_keyboard(account_id, chosen))
                return
            elif action == "settz":
                if not await _set_zone(query, value, services, user):
                    return
                entry = await services.reminders.for_account(user.id, account_id)
            else:
                await query.answer(_("This button is no longer active."))
                return
        except (ValueError, InvalidChoice):
            # A forged or outdated value: the screen as it stands now instead.
            await query.answer(_("This button is no longer active."))
        except AccountGone:
            await query.answer(_("This account is no longer linked."))
            return
        await _account_screen(message, services, user, entry)

    @router.message(ReminderStates.time, F.text, F.func(is_step_input))
    async def time_sent(message: Message, state: FSMContext, services: Services,
                        user: User) -> None:
        data = await ReminderData.load(state)
        at = parse_time_of_day(message.text or "")
        if data.account_id is None:
            await state.clear()
            await show_reminders(message, state, services, user)
            return
        if at is None:
            await message.answer(_("I need a time of day such as 9:30 or 21:00. Choose an hour "
                                   "above, send the time, or /cancel."))
            return
        try:
            entry = await services.reminders.set_time(user.id, data.account_id, at)
        except AccountGone:
            await state.clear()
            await message.answer(_("This account is no longer linked."))
            return
        await state.clear()
        several = await services.accounts.count(user.id) > 1
        await message.answer(_("✅ Reminders for this account will come at {time}.").format(
            time=fmt_time(at)))
        await message.answer(
            account_text(entry, services, user.language,
                         await services.reminders.timezone_choice(user.id)),
            reply_markup=account_keyboard(entry.account.id, entry.settings, several=several))

    @router.message(ReminderStates.time, ~F.text)
    async def time_not_text(message: Message) -> None:
        await message.answer(_("Send the time as text, such as 9:30, choose an hour above, "
                               "or /cancel."))

    # --- the buttons under a reminder ---------------------------------------------------

    @router.callback_query(ReminderActionCB.filter())
    async def reminder_action(query: CallbackQuery, callback_data: ReminderActionCB,
                              state: FSMContext, services: Services, user: User) -> None:
        message = query.message if isinstance(query.message, Message) else None
        account_id = _account_id(callback_data.id)
        account = (await services.accounts.get(user.id, account_id)
                   if account_id is not None else None)
        if account is None:
            await query.answer(_("This account is no longer linked."))
            return
        try:
            kind = ReminderKind(callback_data.kind)
        except ValueError:
            await query.answer(_("This button is no longer active."))
            return
        action = callback_data.action
        if action in ("off", "on"):
            on = action == "on"
            await services.reminders.set_enabled(user.id, account.id, kind, on)
            await query.answer(
                (_("🔔 I will remind you {what} for this account again.") if on else
                 _("🔕 No more reminders {what} for this account. /reminders to turn them "
                   "back on.")).format(what=_kind_name(kind)),
                show_alert=not on)
            if message is not None:
                with contextlib.suppress(TelegramBadRequest):
                    await message.edit_reply_markup(
                        reply_markup=reminder_keyboard(kind, account.id, off=not on))
            return
        feature = _ACTION_FEATURES.get(action)
        if feature is None or message is None:
            await query.answer(_("This button is no longer active."))
            return
        await query.answer()
        await state.clear()
        if not await follow_deep_link(f"{feature}_{account.id}", message, state, services,
                                      user):
            await message.answer(_("This is not available in the bot yet. Your supplier's "
                                   "personal cabinet has it; see /help for what I can do."))

    # --- blocked and unblocked ----------------------------------------------------------

    @router.my_chat_member()
    async def chat_member_changed(event: ChatMemberUpdated, services: Services,
                                  user: User | None) -> None:
        if user is None:
            return
        status = event.new_chat_member.status
        if status == ChatMemberStatus.KICKED:
            await services.reminders.pause(user.id, "blocked")
        elif status == ChatMemberStatus.MEMBER:
            await services.reminders.resume(user.id)

    return router


def _timezone_text(chosen: str | None) -> str:
    text = (_("🌍 <b>Time zone</b>\nReminders come at the time you chose, in this time zone.")
            + "\n" + _("The time zone you choose applies to all your accounts."))
    if chosen is None:
        return text + "\n" + _("Now: your supplier's region's.")
    return text + "\n" + _("Now: {zone}.").format(zone=zone_name(chosen))


def _time_prompt(entry: AccountReminders, services: Services, lang: str) -> str:
    return _("🕒 At what time should the reminders for <b>{title}</b> come? Choose an hour or "
             "send the time, for example 9:30.\nNow: {time}, {zone}.").format(
        title=_q(services.accounts.title(entry.account, lang)),
        time=fmt_time(entry.settings.time_of_day), zone=zone_name(entry.zone))


async def _set_zone(query: CallbackQuery, value: str, services: Services, user: User) -> bool:
    """Apply a time-zone button; False (answered) when it carries no valid zone."""
    if value == "-":
        zone = None
    else:
        zone = zone_by_index(int(value)) if value.isdigit() else None
        if zone is None:
            await query.answer(_("This button is no longer active."))
            return False
    await services.reminders.set_timezone(user.id, zone)
    await query.answer(_("🌍 Time zone for all your accounts: {zone}").format(
        zone=zone_name(zone)) if zone else _("🌍 Time zone: each account's supplier's"))
    return True
