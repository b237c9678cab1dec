"""/reading: submit a meter reading; a meter's reading history and consumption chart.

account (skipped when there is one) → meter (skipped when there is one) → the meter screen:
the last accepted reading and this period's submission window → one value per tariff zone
(day, then night) → a confirmation with the consumption and the estimated cost → «Submit»:
accepted with the date and a reference number, refused with the reason, or — the supplier
being down — kept in the outbox, sent by the background worker, and the user told then.
Entry points: /reading, «📟 Submit reading» (main menu and account cards),
`/start reading` and `/start reading_<account id>` (reminders send users there).

Account, meter, history and chart buttons carry what they act on, so they work from any old
message; the confirmation's buttons carry a tag of the draft's key, so an older confirmation
cannot submit the values of a newer one.

Values typed and not submitted are not lost when the user goes elsewhere (a menu entry, a
command, another feature's button): `UnsavedReadingWatch` keeps them aside and tells the user
the reading was not submitted; opening that meter again continues from them. After an
accepted reading, the account's next meter still without one this period is offered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Final

from aiogram import Bot, F, Router, html
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.billing.errors import AccountNotFound, SupplierUnavailable
from bot.billing.models import Meter, Period, ReadingRecord, ReadingSource, ReadingState
from bot.callbacks import ReadingCB, ReadingMeterCB, ReadingStepCB
from bot.db.models import User
from bot.db.models_accounts import LinkedAccount
from bot.db.models_readings import OutboxStatus
from bot.filters import MenuEntry, feature_router, is_step_input
from bot.i18n import fmt_date, fmt_day_month, fmt_money, fmt_period
from bot.keyboards.common import MENU_READING, main_menu
from bot.keyboards.readings import (
    KEY_TAG_LEN,
    accounts_keyboard,
    confirm_keyboard,
    continue_keyboard,
    meter_keyboard,
    meters_keyboard,
    next_meter_keyboard,
    retry_keyboard,
)
from bot.middlewares.events import EventContext
from bot.middlewares.leaving import LeavingWatch
from bot.readings_outbox import fmt_reading, fmt_volume, outcome_text, values_text, zone_label
from bot.services import Services
from bot.services.readings import Draft, MeterOutlook, SupplierGone, new_key, split_values
from bot.services.readings_rules import (
    ROLLOVER_SHARE,
    Assessment,
    ReadingInputCode,
    ReadingInputError,
    ReadingOutcome,
    ZoneAssessment,
    allowed_decimals,
    is_number_attempt,
    other_zone_fit,
)
from bot.suppliers.accounts import mask_account
from bot.suppliers.models import Resubmission, Supplier
from bot.views.suppliers import contacts_line
from fsm.readings import (
    ReadingData,
    ReadingStates,
    drop_unsaved,
    keep_unsaved,
    take_unsaved,
)
from handlers.account_choice import (
    account_entries,
    account_header,
    button_account,
    message_of,
    start_with_account,
)
from handlers.deeplinks import account_id_of, follow_deep_link, has_route

# Callback prefixes of this feature: its stale buttons are answered here, with the step.
_PREFIXES = ("rd", "rdm", "rds")


def _q(text: str) -> str:
    return html.quote(text)


def _ours(data: str | None) -> bool:
    return data is not None and data.split(":", 1)[0] in _PREFIXES


def _note(ctx: EventContext | None, account: LinkedAccount, **values: str) -> None:
    """What support staff see of this step; the account number only masked."""
    if ctx is not None:
        ctx.notes.update(supplier=account.supplier_code, account=mask_account(account.number),
                         **values)


# --- words -------------------------------------------------------------------------------


def source_label(source: ReadingSource) -> str:
    if source is ReadingSource.SUPPLIER:
        return _("taken by the supplier")
    if source is ReadingSource.ESTIMATE:
        return _("estimated by the supplier")
    return _("submitted by the subscriber")


def state_label(state: ReadingState) -> str:
    if state is ReadingState.PENDING:
        return _("being checked")
    if state is ReadingState.REJECTED:
        return _("rejected")
    return _("accepted")


def _example(decimals: int, lang: str) -> str:
    separator = "," if lang == "ru" else "."
    return "1234" if decimals == 0 else f"1234{separator}5"


def _top(capacity: int, lang: str) -> str:
    return fmt_reading(Decimal(10) ** capacity - 1, lang)


def meter_label(meter: Meter, *, submitted: bool = False) -> str:
    """The meter's button; `submitted`: this period's reading is in (or on its way)."""
    label = f"№ {meter.serial}"
    if submitted:
        label = "✅ " + label
    if len(meter.zones) > 1:
        label += " · " + "/".join(zone_label(zone) for zone in meter.zones)
    return label


def window_text(outlook: MeterOutlook, lang: str) -> str:
    window = outlook.window
    supplier = _q(outlook.supplier.display_name(lang))
    period = fmt_period(window.period.year, window.period.month, lang)
    start = fmt_day_month(window.opens_at, lang)
    end = fmt_day_month(window.closes_at, lang)
    if window.open and outlook.supplier.readings.window.always_open:
        return _("🗓 <b>{supplier}</b> accepts readings on any day of the month.").format(
            supplier=supplier)
    if window.open:
        return _("🗓 Readings for {period} are accepted from {start} to {end}: you can submit "
                 "now.").format(period=period, start=start, end=end)
    return _("🗓 Readings are not accepted today. <b>{supplier}</b> accepts readings for "
             "{period} from {start} to {end}: come back on {start}.").format(
        supplier=supplier, period=period, start=start, end=end)


def meter_text(services: Services, account: LinkedAccount, outlook: MeterOutlook,
               lang: str) -> str:
    meter = outlook.meter
    lines = [_("📟 <b>Meter № {serial}</b>").format(serial=_q(meter.serial)),
             account_header(services, account, lang)]
    if len(meter.zones) > 1:
        lines.append(_("Tariff zones: {zones}").format(
            zones=", ".join(_q(zone_label(zone)) for zone in meter.zones)))
    if meter.check_date is not None:
        lines.append(_("Next verification: {date}").format(date=fmt_date(meter.check_date,
                                                                          lang)))
    last = outlook.shown_last
    lines.append("")
    if last is None:
        lines.append(_("No accepted readings yet."))
    else:
        lines.append(_("Last accepted reading: {values}, {date} ({source})").format(
            values=values_text(meter.zones, last.values, lang),
            date=fmt_date(last.taken_on, lang), source=source_label(last.source)))
    if outlook.decision != "refuse":
        # Refused: the period's reading is in, and what follows says so (the window being
        # open read «you can submit now» right above «a second one is not accepted»).
        lines += ["", window_text(outlook, lang)]
    return "\n".join(lines)


def prompt_text(data: ReadingData, zone_index: int, supplier: Supplier, lang: str) -> str:
    decimals = allowed_decimals(data.meter(), supplier.readings)
    example = _example(decimals, lang)
    if decimals == 0:
        text = _("✏️ Send the reading: whole cubic metres (the black digits), without the red "
                 "ones after the decimal point. For example: <code>{example}</code>").format(
            example=example)
    else:
        text = ngettext(
            "✏️ Send the reading, with at most {n} digit after the decimal point (the red "
            "one). For example: <code>{example}</code>",
            "✏️ Send the reading, with at most {n} digits after the decimal point (the red "
            "ones). For example: <code>{example}</code>",
            decimals,
        ).format(n=decimals, example=example)
    if len(data.zones) > 1:
        zone = _q(zone_label(data.zones[zone_index]))
        text = _("Zone {index} of {count}: <b>{zone}</b>.").format(
            index=zone_index + 1, count=len(data.zones), zone=zone) + "\n" + text
    return text


def input_error_text(exc: ReadingInputError, data: ReadingData, supplier: Supplier,
                     lang: str) -> str:
    decimals = allowed_decimals(data.meter(), supplier.readings)
    if exc.code is ReadingInputCode.AMBIGUOUS and exc.choices is not None:
        whole, decimal = exc.choices
        text = _("❌ Is it {whole} or {decimal}? Send the reading without a thousands "
                 "separator: <code>{whole_plain}</code>, or with a dot before the decimals: "
                 "<code>{decimal_plain}</code>.").format(
            whole=fmt_reading(whole, lang), decimal=fmt_reading(decimal, lang),
            whole_plain=f"{whole:f}", decimal_plain=f"{decimal:f}")
    elif exc.code is ReadingInputCode.NEGATIVE:
        text = _("❌ A reading cannot be negative: send the digits exactly as the meter shows "
                 "them.")
    elif exc.code is ReadingInputCode.TOO_MANY_DIGITS:
        limit = exc.limit or data.capacity
        text = ngettext(
            "❌ Too many digits: this meter shows {n} digit before the decimal point, so its "
            "reading is at most {top}. If you typed the red digits too, put a decimal point "
            "before them.",
            "❌ Too many digits: this meter shows {n} digits before the decimal point, so its "
            "reading is at most {top}. If you typed the red digits too, put a decimal point "
            "before them.",
            limit,
        ).format(n=limit, top=_top(limit, lang))
    elif exc.code is ReadingInputCode.TOO_MANY_DECIMALS and decimals == 0:
        text = _("❌ <b>{supplier}</b> accepts whole cubic metres only: send the reading "
                 "without the red digits after the decimal point.").format(
            supplier=_q(supplier.display_name(lang)))
    elif exc.code is ReadingInputCode.TOO_MANY_DECIMALS:
        text = ngettext(
            "❌ At most {n} digit after the decimal point is accepted here: drop the extra ones.",
            "❌ At most {n} digits after the decimal point are accepted here: drop the extra ones.",
            decimals,
        ).format(n=decimals)
    elif decimals == 0:
        text = _("❌ This does not look like a reading. Send the black digits from the meter, "
                 "for example <code>{example}</code>: whole cubic metres, nothing else."
                 ).format(example=_example(decimals, lang))
    else:
        text = _("❌ This does not look like a reading. Send the digits from the meter, for "
                 "example <code>{example}</code>: a comma or a dot before the decimals, "
                 "nothing else.").format(example=_example(decimals, lang))
    return text + _zone_reminder(data)


def typed_text(zones: Sequence[str], values: Sequence[str | None], lang: str) -> str:
    """What has been typed so far: «1 234 m³», or «day 1 234 m³» with the night still to
    type (HTML)."""
    pairs = [(zone, Decimal(value)) for zone, value in zip(zones, values, strict=True)
             if value is not None]
    if len(zones) < 2:
        return values_text(zones, [value for _zone, value in pairs], lang)
    return " · ".join(f"{_q(zone_label(zone))} <b>{fmt_reading(value, lang)}</b>"
                      for zone, value in pairs) + " " + _("m³")


def left_text(data: ReadingData, lang: str) -> str:
    return _("⚠️ <b>The reading of meter № {serial} was not submitted.</b> What you typed is "
             "kept: {values}. To go on from there, press «📟 Continue the reading» or send "
             "/reading.").format(serial=_q(data.serial),
                                 values=typed_text(data.zones, data.values, lang))


def next_meter_text(services: Services, account: LinkedAccount, meter: Meter,
                    period: Period, lang: str) -> str:
    return _("📟 Account {account} has one more meter without a reading for {period}: "
             "№ {serial}.").format(account=account_header(services, account, lang),
                                   period=fmt_period(period.year, period.month, lang),
                                   serial=_q(meter.serial))


def _zone_reminder(data: ReadingData) -> str:
    index = data.next_zone
    if len(data.zones) < 2 or index is None:
        return ""
    return "\n" + _("Now: the <b>{zone}</b> reading.").format(
        zone=_q(zone_label(data.zones[index])))


# A consumption this many times the supplier's usual maximum is called a likely typo.
GROSS_TIMES: Final = 10


def mixed_zones_hint(data: ReadingData, zone: ZoneAssessment, limit: Decimal,
                     lang: str) -> str | None:
    """«It looks like the day reading» when the value typed for a zone continues another
    zone's dial instead of its own; None when it does not."""
    meter = data.meter()
    if zone.outcome is ReadingOutcome.ROLLOVER or zone.zone not in meter.zones \
            or meter.last is None:
        return None  # a dial past zero continues its own count
    other = other_zone_fit(meter, meter.zones.index(zone.zone), zone.value, limit)
    if other is None:
        return None
    return _("🔀 {value} looks like the <b>{other}</b> reading (its previous one was "
             "{previous}), not the {zone} one: check that the zones are not mixed up.").format(
        value=fmt_reading(zone.value, lang), other=_q(zone_label(meter.zones[other])),
        previous=fmt_reading(meter.last.values[other], lang), zone=_q(zone_label(zone.zone)))


def zone_rejection_text(zone: ZoneAssessment, data: ReadingData, supplier: Supplier,
                        lang: str) -> str:
    meter = data.meter()
    taken_on = meter.last.taken_on if meter.last is not None else None
    previous = fmt_reading(zone.previous or Decimal(0), lang)
    date = fmt_date(taken_on, lang) if taken_on is not None else ""
    name = _q(supplier.display_name(lang))
    contacts = contacts_line(supplier, lang)
    if zone.outcome is ReadingOutcome.ZERO:
        text = _("❌ The consumption is zero: the reading equals the previous one, {previous}. "
                 "<b>{supplier}</b> does not accept zero consumption. If you used no gas, "
                 "contact the supplier; otherwise check the digits and send the reading "
                 "again.").format(previous=previous, supplier=name)
        return text + ("\n" + contacts if contacts else "")
    if len(data.zones) > 1:
        text = _("❌ The {zone} reading {value} is less than the previous one, {previous} "
                 "({date}). A meter only counts up: check the digits and send the reading "
                 "again.").format(zone=_q(zone_label(zone.zone)),
                                  value=fmt_reading(zone.value, lang), previous=previous,
                                  date=date)
        hint = mixed_zones_hint(data, zone, Decimal(supplier.readings.max_consumption), lang)
        if hint is not None:
            text += "\n" + hint
    else:
        text = _("❌ {value} is less than the previous reading, {previous} ({date}). A meter "
                 "only counts up: check the digits and send the reading again.").format(
            value=fmt_reading(zone.value, lang), previous=previous, date=date)
    near_top = (zone.previous is not None
                and zone.previous >= Decimal(10) ** data.capacity * (1 - ROLLOVER_SHARE))
    if near_top and not supplier.readings.allow_rollover:
        text += "\n" + _("If your meter went past {top} and started again from zero, "
                         "<b>{supplier}</b> does not accept that here: contact the "
                         "supplier.").format(top=_top(data.capacity, lang), supplier=name)
        if contacts:
            text += "\n" + contacts
    return text


def rejection_text(assessment: Assessment, data: ReadingData, supplier: Supplier,
                   lang: str) -> str:
    """The whole reading refused: over the maximum where the supplier refuses that (a zone
    lower than before, or unused where that is refused, is caught as it is typed)."""
    if assessment.rejection is ReadingOutcome.OVER_MAX:
        text = _("❌ That would be {total} m³ since the previous reading, more than "
                 "<b>{supplier}</b> accepts: at most {max} m³. Check the digits and send the "
                 "reading again.").format(
            total=fmt_volume(assessment.total or Decimal(0), lang, data.meter().decimals),
            supplier=_q(supplier.display_name(lang)),
            max=fmt_reading(assessment.max_consumption, lang))
        hints = [hint for zone in assessment.zones
                 if (hint := mixed_zones_hint(data, zone, assessment.max_consumption, lang))]
        return "\n".join([text, *hints])
    zone = next(z for z in assessment.zones if z.outcome is assessment.rejection)
    return zone_rejection_text(zone, data, supplier, lang)


def warnings_text(assessment: Assessment, data: ReadingData, lang: str) -> list[str]:
    lines = []
    for code in assessment.confirmations:
        if code is ReadingOutcome.ROLLOVER:
            for zone in assessment.zones:
                if zone.outcome is not ReadingOutcome.ROLLOVER:
                    continue
                lines.append(_("🔄 The reading is lower than the previous one ({previous}): it "
                               "looks like the meter went past {top} and started again from "
                               "zero. The consumption is counted across the wrap: {consumption} "
                               "m³.").format(
                    previous=fmt_reading(zone.previous or Decimal(0), lang),
                    top=_top(data.capacity, lang),
                    consumption=fmt_reading(zone.consumption or Decimal(0), lang)))
        elif code is ReadingOutcome.BELOW_ESTIMATE:
            previous = next((z.previous for z in assessment.zones
                             if z.outcome is ReadingOutcome.BELOW_ESTIMATE), None)
            lines.append(_("ℹ️ The previous reading, {previous}, was estimated by the supplier, "
                           "and yours is lower. That is fine: the supplier will recalculate "
                           "the charges from your real reading.").format(
                previous=fmt_reading(previous or Decimal(0), lang)))
        elif code is ReadingOutcome.OVER_MAX:
            total = assessment.total or Decimal(0)
            times = int(total / assessment.max_consumption)
            if times >= GROSS_TIMES:
                # 99999 typed on a dial at 8322: a slip of the finger far more often than gas.
                lines.append(ngettext(
                    "‼️ The consumption, {total} m³, is {times} time the usual maximum of "
                    "{max} m³ for a period: most likely a digit too many or a misread dial. "
                    "Check the meter before submitting.",
                    "‼️ The consumption, {total} m³, is {times} times the usual maximum of "
                    "{max} m³ for a period: most likely a digit too many or a misread dial. "
                    "Check the meter before submitting.", times,
                ).format(total=fmt_volume(total, lang, data.meter().decimals), times=times,
                         max=fmt_reading(assessment.max_consumption, lang)))
            else:
                lines.append(_("⚠️ The consumption, {total} m³, is above the usual maximum of "
                               "{max} m³ for a period. If the reading is right, submit it "
                               "anyway.").format(
                    total=fmt_volume(total, lang, data.meter().decimals),
                    max=fmt_reading(assessment.max_consumption, lang)))
            for zone in assessment.zones:
                hint = mixed_zones_hint(data, zone, assessment.max_consumption, lang)
                if hint is not None:
                    lines.append(hint)
    return lines


def confirm_text(services: Services, account: LinkedAccount, data: ReadingData,
                 assessment: Assessment, tariff: Decimal | None, cost: Decimal | None,
                 supplier: Supplier, lang: str) -> str:
    unit = _("m³")
    lines = [_("📋 <b>Check the reading before sending it</b>"),
             _("Meter № {serial} · {account}").format(
                 serial=_q(data.serial), account=account_header(services, account, lang)),
             ""]
    for zone in assessment.zones:
        value = f"<b>{fmt_reading(zone.value, lang)}</b> {unit}"
        if len(assessment.zones) > 1:
            label = zone_label(zone.zone)
            value = f"{_q(label[:1].upper() + label[1:])}: {value}"
        else:
            value = _("Reading: {value}").format(value=value)
        if zone.consumption is not None and len(assessment.zones) > 1:
            value += " · " + _("consumption {consumption} m³").format(
                consumption=fmt_volume(zone.consumption, lang, data.meter().decimals))
        lines.append(value)
    if assessment.total is not None:
        lines.append(_("Consumption: <b>{total}</b> m³").format(
            total=fmt_volume(assessment.total, lang, data.meter().decimals)))
    else:
        lines.append(_("Consumption: the supplier will calculate it."))
    if cost is not None and tariff is not None:
        lines.append(_("Estimated cost: about <b>{cost}</b> (at {tariff} per m³)").format(
            cost=fmt_money(cost, lang), tariff=fmt_money(tariff, lang)))
    if data.replaced_values is not None and data.replaced_on is not None:
        lines += ["", _("♻️ It replaces your reading of {date}: {values}.").format(
            date=fmt_date(data.replaced_on, lang),
            values=values_text(data.zones, [Decimal(v) for v in data.replaced_values], lang))]
    warnings = warnings_text(assessment, data, lang)
    if supplier.readings.resubmission is Resubmission.REFUSE:
        # Said before the tap, not after it: a wrong reading stays for the month.
        warnings.append(_("ℹ️ <b>{supplier}</b> takes one reading a month: once sent, it "
                          "cannot be corrected here.").format(
            supplier=_q(supplier.display_name(lang))))
    if warnings:
        lines += ["", *warnings]
    lines += ["", _("Is everything right? Press «✅ Submit».")]
    return "\n".join(lines)


def history_text(services: Services, account: LinkedAccount, meter: Meter,
                 records: list[ReadingRecord], lang: str) -> str:
    lines = [_("📜 <b>Readings of meter № {serial}</b>").format(serial=_q(meter.serial)),
             account_header(services, account, lang)]
    if not records:
        lines += ["", _("No readings in the last 12 months.")]
        return "\n".join(lines)
    period: Period | None = None
    unit = _("m³")
    for record in records:
        if record.period != period:
            period = record.period
            lines += ["", f"<b>{fmt_period(period.year, period.month, lang)}</b>"]
        parts = [values_text(meter.zones, record.values, lang)]
        if record.consumption and record.state is not ReadingState.REJECTED:
            used = sum(record.consumption, Decimal(0))
            parts.append(f"+{fmt_volume(used, lang, meter.decimals)} {unit}")
        parts += [fmt_date(record.taken_on, lang, "d MMM"), source_label(record.source),
                  state_label(record.state)]
        mark = "❌ " if record.state is ReadingState.REJECTED else "• "
        lines.append(mark + " · ".join(parts))
    return "\n".join(lines)


def step_hint(current: str | None) -> str:
    hints = {
        ReadingStates.account.state: _("Now: choose the account."),
        ReadingStates.meter.state: _("Now: choose the meter."),
        ReadingStates.value.state: _("Now: send the reading."),
        ReadingStates.confirm.state: _("Now: check the reading and press «✅ Submit»."),
    }
    return hints.get(current or "", "")


def outage_text(supplier_name: str) -> str:
    return _("⚠️ <b>{supplier}</b> is not responding right now. Press «🔄 Retry» in a "
             "minute.").format(supplier=_q(supplier_name))


def supplier_gone_text() -> str:
    return _("The bot no longer serves the supplier of this account, so I can't do this for "
             "it. See /accounts.")


def account_not_found_text(supplier_name: str) -> str:
    return _("❌ <b>{supplier}</b> no longer finds this account (accounts are sometimes merged "
             "or renumbered). Check the number on your latest receipt, and link it again in "
             "/accounts if it has changed.").format(supplier=_q(supplier_name))


# --- steps -------------------------------------------------------------------------------


async def start_reading(message: Message, state: FSMContext, services: Services, user: User,
                        account_id: int | None = None,
                        ctx: EventContext | None = None) -> None:
    """Start (or restart) /reading; at the account `account_id` when it is the user's."""
    account = await start_with_account(
        message, state, services, user, account_id, step=ReadingStates.account,
        data=ReadingData(), prompt=_("📟 <b>Meter reading</b>\nWhich account is it for?"),
        keyboard=accounts_keyboard,
        no_accounts=_("📟 You have no linked accounts yet. Link one first, and then you can "
                      "submit meter readings here."))
    if account is not None:
        await open_account(message, state, services, user, account, ctx)


async def reading_deep_link(message: Message, state: FSMContext, services: Services,
                            user: User, arg: str | None) -> None:
    """`/start reading` and `/start reading_<account id>`."""
    await start_reading(message, state, services, user, account_id_of(arg))


async def _meters(message: Message, state: FSMContext, services: Services, user: User,
                  account: LinkedAccount, meter_index: int | None,
                  ctx: EventContext | None) -> list[Meter] | None:
    """The account's meters, or None after telling the user why not."""
    lang = user.language
    supplier_name = services.accounts.supplier_name(account, lang)
    try:
        return await services.readings.meters(account)
    except SupplierGone:
        await state.clear()
        await message.answer(supplier_gone_text(), reply_markup=main_menu())
    except SupplierUnavailable:
        _note(ctx, account, reading="unavailable")
        await state.clear()
        await message.answer(outage_text(supplier_name),
                             reply_markup=retry_keyboard(account.id, meter_index))
    except AccountNotFound:
        _note(ctx, account, reading="not_found")
        await state.clear()
        await message.answer(account_not_found_text(supplier_name), reply_markup=main_menu())
    return None


async def open_account(message: Message, state: FSMContext, services: Services, user: User,
                       account: LinkedAccount, ctx: EventContext | None = None) -> None:
    meters = await _meters(message, state, services, user, account, None, ctx)
    if meters is None:
        return
    lang = user.language
    if not meters:
        await state.clear()
        await message.answer(
            _("ℹ️ Account {account} has no meters: <b>{supplier}</b> bills it by the "
              "consumption norm, so there is nothing to submit.").format(
                account=account_header(services, account, lang),
                supplier=_q(services.accounts.supplier_name(account, lang))),
            reply_markup=main_menu())
        return
    if len(meters) == 1:
        await open_meter(message, state, services, user, account, meters, 0, ctx)
        return
    done = await services.readings.submitted(user.id, account, meters)
    labels = [meter_label(meter, submitted=meter.id in done) for meter in meters]
    await state.set_state(ReadingStates.meter)
    await ReadingData(account_id=account.id, meter_labels=labels).save(state)
    text = _("📟 Which meter? {account}").format(account=account_header(services, account, lang))
    if done:
        text += "\n" + _("✅ — this month's reading is already sent.")
    await message.answer(text, reply_markup=meters_keyboard(account.id, labels))


async def open_meter(message: Message, state: FSMContext, services: Services, user: User,
                     account: LinkedAccount, meters: list[Meter], index: int,
                     ctx: EventContext | None = None, *, carry: bool = True) -> None:
    """The meter screen; the first zone's prompt when a reading can be submitted now. Values
    typed for this meter earlier and left unsubmitted are taken up again (`carry`), or
    dropped: the next zone's prompt then, or the confirmation when all are in."""
    lang = user.language
    await state.clear()
    try:
        outlook = await services.readings.outlook(user.id, account, meters[index])
    except SupplierGone:
        await message.answer(supplier_gone_text(), reply_markup=main_menu())
        return
    except SupplierUnavailable:
        _note(ctx, account, reading="unavailable")
        await message.answer(outage_text(services.accounts.supplier_name(account, lang)),
                             reply_markup=retry_keyboard(account.id, index))
        return
    except AccountNotFound:
        await message.answer(account_not_found_text(
            services.accounts.supplier_name(account, lang)), reply_markup=main_menu())
        return
    supplier = outlook.supplier
    name = _q(supplier.display_name(lang))
    text = meter_text(services, account, outlook, lang)
    period = fmt_period(outlook.window.period.year, outlook.window.period.month, lang)
    if outlook.in_flight is not None:
        _note(ctx, account, reading="in_flight")
        text += "\n\n" + _("⏳ Your reading {values} of this meter is on its way to the "
                           "supplier. I will write to you as soon as it is accepted; there is "
                           "no need to send it again.").format(values=values_text(
                               outlook.meter.zones, split_values(outlook.in_flight.values),
                               lang))
        await message.answer(text, reply_markup=meter_keyboard(account.id, index))
        return
    if not outlook.window.open:
        _note(ctx, account, reading="window_closed")
        # Offered only once the reminders feature has registered its deep link.
        await message.answer(text, reply_markup=meter_keyboard(
            account.id, index, remind=has_route("reminders")))
        return
    existing = outlook.existing
    if existing is not None and outlook.decision == "refuse":
        _note(ctx, account, reading="resubmission_refused")
        # Whoever sent it: this user, another holder of the account, the web cabinet.
        text += "\n\n" + _("ℹ️ The reading for {period} has already been submitted: {values} "
                           "({date}). <b>{supplier}</b> does not accept a second reading in the "
                           "same period. If it was wrong, contact the supplier.").format(
            period=period, values=values_text(outlook.meter.zones, existing.values, lang),
            date=fmt_date(existing.taken_on, lang), supplier=name)
        contacts = contacts_line(outlook.supplier, lang)
        if contacts:
            text += "\n" + contacts
        await message.answer(text, reply_markup=meter_keyboard(account.id, index))
        return
    data = ReadingData(account_id=account.id, meter_index=index, meter_count=len(meters),
                       period=str(outlook.window.period))
    data.keep_meter(outlook.meter)
    if existing is not None:
        data.replaced_values = [format(v, "f") for v in existing.values]
        data.replaced_on = existing.taken_on
        text += "\n\n" + _("ℹ️ The reading for {period} has already been submitted: {values} "
                           "({date}). <b>{supplier}</b> lets you correct it: a new reading will "
                           "replace it.").format(
            values=values_text(outlook.meter.zones, existing.values, lang),
            date=fmt_date(existing.taken_on, lang), period=period, supplier=name)
    kept = await take_unsaved(state, account.id, outlook.meter,
                              str(outlook.window.period))
    if carry and kept is not None:
        data.values = kept
        text += "\n\n" + _("✏️ Continuing the reading you started: {values}.").format(
            values=typed_text(data.zones, data.values, lang))
    await state.set_state(ReadingStates.value)
    await data.save(state)
    zone = data.next_zone
    if zone is None:
        await message.answer(text, reply_markup=meter_keyboard(account.id, index))
        await after_values(message, state, services, user, data, account, supplier)
        return
    text += "\n\n" + prompt_text(data, zone, supplier, lang)
    await message.answer(text, reply_markup=meter_keyboard(account.id, index,
                                                           anew=data.unsaved))


async def _draft_account(message: Message, state: FSMContext, services: Services,
                         user: User) -> tuple[ReadingData, LinkedAccount, Supplier] | None:
    """The conversation's data, account and supplier; restarts /reading when they are gone
    (the account unlinked meanwhile, the state from an older version)."""
    data = await ReadingData.load(state)
    account = (await services.accounts.get(user.id, data.account_id)
               if data.account_id is not None else None)
    if account is None or data.meter_id is None or data.period is None or not data.zones:
        await start_reading(message, state, services, user)
        return None
    try:
        supplier = services.readings.supplier(account)
    except SupplierGone:
        await state.clear()
        await message.answer(supplier_gone_text(), reply_markup=main_menu())
        return None
    return data, account, supplier


async def after_values(message: Message, state: FSMContext, services: Services, user: User,
                       data: ReadingData, account: LinkedAccount, supplier: Supplier) -> None:
    """All zones typed: judge the reading as a whole, then the confirmation."""
    lang = user.language
    assert data.period is not None
    assessment = services.readings.assess(data.typed(), data.meter(), supplier.readings,
                                          Period.parse(data.period))
    if assessment.rejected:
        bad = {z.zone for z in assessment.zones if z.outcome is assessment.rejection}
        data.values = [None if (zone in bad or assessment.rejection is ReadingOutcome.OVER_MAX)
                       else value for zone, value in zip(data.zones, data.values, strict=True)]
        await data.save(state)
        index = data.next_zone or 0
        await message.answer(rejection_text(assessment, data, supplier, lang) + "\n\n"
                             + prompt_text(data, index, supplier, lang))
        return
    tariff = await services.readings.tariff(account)
    cost = services.readings.cost(assessment.total, tariff)
    data.key = new_key()
    await state.set_state(ReadingStates.confirm)
    await data.save(state)
    await message.answer(confirm_text(services, account, data, assessment, tariff, cost,
                                      supplier, lang),
                         reply_markup=confirm_keyboard(data.key))


# --- the history and the chart -----------------------------------------------------------


async def _meter_of(query: CallbackQuery, services: Services, user: User,
                    callback_data: ReadingMeterCB) -> tuple[LinkedAccount, Meter] | None:
    """The account and meter a stateless button names; None after telling why not."""
    found = await button_account(query, services, user, callback_data.id)
    if found is None:
        return None
    account, message = found
    lang = user.language
    supplier_name = services.accounts.supplier_name(account, lang)
    try:
        meters = await services.readings.meters(account)
    except SupplierGone:
        await query.answer()
        await message.answer(supplier_gone_text())
        return None
    except SupplierUnavailable:
        await query.answer()
        await message.answer(outage_text(supplier_name), reply_markup=retry_keyboard(
            account.id, callback_data.m))
        return None
    except AccountNotFound:
        await query.answer()
        await message.answer(account_not_found_text(supplier_name))
        return None
    if not 0 <= callback_data.m < len(meters):
        await query.answer(_("This meter is no longer on the account."))
        return None
    await query.answer()
    return account, meters[callback_data.m]


async def send_history(message: Message, services: Services, user: User,
                       account: LinkedAccount, meter: Meter, index: int) -> None:
    lang = user.language
    try:
        records = await services.readings.history(account, meter.id)
    except (SupplierUnavailable, AccountNotFound, SupplierGone):
        await message.answer(outage_text(services.accounts.supplier_name(account, lang)),
                             reply_markup=retry_keyboard(account.id, index))
        return
    await message.answer(history_text(services, account, meter, records, lang),
                         reply_markup=meter_keyboard(account.id, index, history=False))


async def send_chart(message: Message, services: Services, user: User,
                     account: LinkedAccount, meter: Meter, index: int) -> None:
    lang = user.language
    try:
        records = await services.readings.history(account, meter.id)
    except (SupplierUnavailable, AccountNotFound, SupplierGone):
        await message.answer(outage_text(services.accounts.supplier_name(account, lang)),
                             reply_markup=retry_keyboard(account.id, index))
        return
    points = services.readings.consumption_points(records)
    if not points:
        await message.answer(_("There is no consumption to show for meter № {serial} yet.")
                             .format(serial=_q(meter.serial)))
        return

    def month_label(period: Period) -> str:
        return fmt_date(period.first_day(), lang, "LLL y")

    title = _("Gas consumption, meter № {serial}").format(serial=meter.serial)
    from bot.documents.chart import render_consumption_chart  # Pillow loads with the first chart

    # Pillow holds the GIL only in parts; off the event loop, other chats are not kept waiting.
    def value_label(value: Decimal) -> str:
        # Whole cubic metres, one decimal for small fractional values; the user's separator.
        whole = value == value.to_integral_value() or value >= 100
        return fmt_volume(value, lang, 0 if whole else 1)

    png = await asyncio.to_thread(render_consumption_chart, points, title=title,
                                  unit_label=_("m³"), month_label=month_label,
                                  value_label=value_label)
    total = sum((value for _period, value in points), Decimal(0))
    caption = _("📊 Monthly gas consumption of meter № {serial}, {account}. Total: {total} m³."
                ).format(serial=_q(meter.serial),
                         account=account_header(services, account, lang),
                         total=fmt_volume(total, lang, meter.decimals))
    await message.answer_photo(BufferedInputFile(png, filename="consumption.png"),
                               caption=caption)


# --- leaving with values typed -----------------------------------------------------------

_UNSAVED_STATES = frozenset({ReadingStates.value.state, ReadingStates.confirm.state})


class UnsavedReadingWatch(LeavingWatch[ReadingData]):
    """Values typed for a reading are never dropped unnoticed: before the handler that takes
    the user away, they are kept aside (`keep_unsaved`), where /reading for that meter takes
    them up again; after it, a user taken out of /reading is told the reading was not
    submitted. The confirmation's own buttons settle the reading themselves; /cancel drops
    it on purpose."""

    steps = _UNSAVED_STATES
    own_buttons = (f"{ReadingStepCB.__prefix__}:",)

    async def before(self, state: FSMContext) -> ReadingData | None:
        draft = await ReadingData.load(state)
        if not draft.unsaved:
            return None
        await keep_unsaved(state, draft)
        return draft

    async def after(self, draft: ReadingData, state_after: str | None, state: FSMContext,
                    user: User, data: dict[str, Any]) -> None:
        if state_after in _UNSAVED_STATES:
            now = await ReadingData.load(state)
            if (now.account_id, now.meter_id) == (draft.account_id, draft.meter_id):
                # Still at this meter (/help), or at it again with the values taken up (or
                # dropped by «Start over»): nothing is left to keep.
                await drop_unsaved(state)
            return  # at another meter now: the values wait for theirs
        if state_after in ReadingStates.__all_states_names__:
            return  # /reading again, choosing the account or meter: the values wait
        markup = (continue_keyboard(draft.account_id, draft.meter_index)
                  if draft.account_id is not None and draft.meter_index is not None else None)
        bot: Bot = data["bot"]
        await bot.send_message(state.key.chat_id, left_text(draft, user.language),
                               reply_markup=markup)


def watch_unsaved(router: Router) -> None:
    """Set `UnsavedReadingWatch` on `router` (the root one)."""
    UnsavedReadingWatch().watch(router)


# --- the router --------------------------------------------------------------------------


def build_router() -> Router:
    router = feature_router(__name__)

    @router.message(Command("reading"))
    @router.message(MenuEntry(MENU_READING))
    async def reading_command(message: Message, state: FSMContext, services: Services,
                              user: User, event_log: EventContext | None = None) -> None:
        await start_reading(message, state, services, user, None, event_log)

    @router.callback_query(ReadingCB.filter(F.action == "acc"))
    async def account_chosen(query: CallbackQuery, callback_data: ReadingCB, state: FSMContext,
                             services: Services, user: User,
                             event_log: EventContext | None = None) -> None:
        found = await button_account(query, services, user, callback_data.id)
        if found is None:
            return
        account, message = found
        await query.answer()
        if await state.get_state() == ReadingStates.account.state:
            with contextlib.suppress(TelegramBadRequest):
                await message.edit_reply_markup(reply_markup=None)
        await state.clear()
        await open_account(message, state, services, user, account, event_log)

    @router.callback_query(ReadingCB.filter(F.action == "remind"))
    async def remind(query: CallbackQuery, callback_data: ReadingCB, state: FSMContext,
                     services: Services, user: User) -> None:
        message = message_of(query)
        if message is None or not has_route("reminders"):
            await query.answer(_("This button is no longer active."))
            return
        await query.answer()
        await follow_deep_link(f"reminders_{callback_data.id}", message, state, services, user)

    @router.callback_query(ReadingMeterCB.filter(F.action.in_({"open", "anew"})))
    async def meter_chosen(query: CallbackQuery, callback_data: ReadingMeterCB,
                           state: FSMContext, services: Services, user: User,
                           event_log: EventContext | None = None) -> None:
        found = await button_account(query, services, user, callback_data.id)
        if found is None:
            return
        account, message = found
        await query.answer()
        if await state.get_state() == ReadingStates.meter.state:
            with contextlib.suppress(TelegramBadRequest):
                await message.edit_reply_markup(reply_markup=None)
        meters = await _meters(message, state, services, user, account, callback_data.m,
                               event_log)
        if meters is None:
            return
        if not 0 <= callback_data.m < len(meters):
            await open_account(message, state, services, user, account, event_log)
            return
        await open_meter(message, state, services, user, account, meters, callback_data.m,
                         event_log, carry=callback_data.action == "open")

    @router.callback_query(ReadingMeterCB.filter(F.action.in_({"hist", "chart"})))
    async def history_or_chart(query: CallbackQuery, callback_data: ReadingMeterCB,
                               services: Services, user: User) -> None:
        found = await _meter_of(query, services, user, callback_data)
        message = message_of(query)
        if found is None or message is None:
            return
        account, meter = found
        if callback_data.action == "hist":
            await send_history(message, services, user, account, meter, callback_data.m)
        else:
            await send_chart(message, services, user, account, meter, callback_data.m)

    # --- the steps' wrong input -------------------------------------------------------

    @router.message(ReadingStates.account, F.func(is_step_input))
    async def account_bad_input(message: Message, state: FSMContext, services: Services,
                                user: User) -> None:
        accounts = await services.accounts.list_for(user.id)
        if not accounts:
            await start_reading(message, state, services, user)
            return
        await message.answer(_("Choose the account with the buttons below, or /cancel."),
                             reply_markup=accounts_keyboard(
                                 account_entries(services, accounts, user.language)))

    @router.message(ReadingStates.meter, F.func(is_step_input))
    async def meter_bad_input(message: Message, state: FSMContext, services: Services,
                              user: User) -> None:
        data = await ReadingData.load(state)
        if data.account_id is None or not data.meter_labels:
            await start_reading(message, state, services, user)
            return
        await message.answer(_("Choose the meter with the buttons below, or /cancel."),
                             reply_markup=meters_keyboard(data.account_id, data.meter_labels))

    # --- typing the values ------------------------------------------------------------

    @router.message(ReadingStates.value, F.text, F.func(is_step_input))
    async def value_sent(message: Message, state: FSMContext, services: Services, user: User,
                         event_log: EventContext | None = None) -> None:
        found = await _draft_account(message, state, services, user)
        if found is None:
            return
        await take_value(message, state, services, user, event_log, *found)

    async def take_value(message: Message, state: FSMContext, services: Services, user: User,
                         event_log: EventContext | None, data: ReadingData,
                         account: LinkedAccount, supplier: Supplier) -> None:
        lang = user.language
        index = data.next_zone
        if index is None:
            await after_values(message, state, services, user, data, account, supplier)
            return
        meter = data.meter()
        try:
            value = services.readings.read_value(message.text or "", meter, index,
                                                 supplier.readings, lang)
        except ReadingInputError as exc:
            _note(event_log, account, reading=f"input_{exc.code.value}")
            await message.answer(input_error_text(exc, data, supplier, lang))
            return
        bad = services.readings.zone_rejection(value, meter, index, supplier.readings)
        if bad is not None:
            _note(event_log, account, reading=bad.outcome.value)
            await message.answer(zone_rejection_text(bad, data, supplier, lang)
                                 + _zone_reminder(data))
            return
        data.values[index] = format(value, "f")
        await data.save(state)
        following = data.next_zone
        if following is not None:
            await message.answer(prompt_text(data, following, supplier, lang))
            return
        await after_values(message, state, services, user, data, account, supplier)

    @router.message(ReadingStates.value, ~F.text)
    async def value_not_text(message: Message, state: FSMContext, services: Services,
                             user: User) -> None:
        found = await _draft_account(message, state, services, user)
        if found is None:
            return
        data, _account, supplier = found
        decimals = allowed_decimals(data.meter(), supplier.readings)
        await message.answer(
            _("I can only read a reading typed in digits, not from a photo, a sticker or a "
              "voice message. Send it as text, for example <code>{example}</code>, or "
              "/cancel.").format(example=_example(decimals, user.language))
            + _zone_reminder(data))

    # --- the confirmation -------------------------------------------------------------

    @router.callback_query(ReadingStates.confirm, ReadingStepCB.filter(F.action == "submit"))
    async def submit(query: CallbackQuery, callback_data: ReadingStepCB, state: FSMContext,
                     services: Services, user: User,
                     event_log: EventContext | None = None) -> None:
        data = await ReadingData.load(state)
        message = message_of(query)
        if data.key is None or callback_data.k != data.key[:KEY_TAG_LEN] or message is None:
            await query.answer(_("This button is no longer active.") + " "
                               + step_hint(await state.get_state()))
            return
        account = (await services.accounts.get(user.id, data.account_id)
                   if data.account_id is not None else None)
        if account is None or data.meter_id is None or data.period is None:
            await state.clear()
            await query.answer(_("This account is no longer linked."))
            return
        # Answered first: the billing system may take seconds, and the spinner must stop.
        await query.answer()
        with contextlib.suppress(TelegramBadRequest):
            await message.edit_reply_markup(reply_markup=None)
        draft = Draft(user_id=user.id, account=account, meter=data.meter(),
                      values=data.typed(), period=Period.parse(data.period), key=data.key)
        item = await services.readings.submit(draft)
        _note(event_log, account, reading=f"submit_{item.status}")
        await state.clear()
        supplier = services.app.catalog.get(account.supplier_code)
        text = outcome_text(item, supplier, user.language, later=False)
        if item.outbox_status is not OutboxStatus.ACCEPTED or data.meter_index is None:
            await message.answer(text, reply_markup=main_menu())
            return
        await message.answer(text, reply_markup=meter_keyboard(account.id, data.meter_index))
        # One meter: nothing to offer, and no need to ask the billing system again.
        following = (await services.readings.next_due(user.id, account, data.meter_id)
                     if data.meter_count > 1 else None)
        if following is not None:
            index, meter = following
            await message.answer(
                next_meter_text(services, account, meter, draft.period, user.language),
                reply_markup=next_meter_keyboard(account.id, index, meter.serial))

    @router.callback_query(ReadingStates.confirm, ReadingStepCB.filter(F.action == "edit"))
    async def edit(query: CallbackQuery, callback_data: ReadingStepCB, state: FSMContext,
                   services: Services, user: User) -> None:
        data = await ReadingData.load(state)
        message = message_of(query)
        if data.key is None or callback_data.k != data.key[:KEY_TAG_LEN] or message is None:
            await query.answer(_("This button is no longer active.") + " "
                               + step_hint(await state.get_state()))
            return
        await query.answer()
        with contextlib.suppress(TelegramBadRequest):
            await message.edit_reply_markup(reply_markup=None)
        found = await _draft_account(message, state, services, user)
        if found is None:
            return
        data, _account, supplier = found
        data.values = [None] * len(data.zones)
        data.key = None
        await state.set_state(ReadingStates.value)
        await data.save(state)
        await message.answer(prompt_text(data, 0, supplier, user.language))

    @router.callback_query(ReadingStates.confirm, ReadingStepCB.filter(F.action == "cancel"))
    async def cancel(query: CallbackQuery, callback_data: ReadingStepCB,
                     state: FSMContext) -> None:
        data = await ReadingData.load(state)
        message = message_of(query)
        if data.key is None or callback_data.k != data.key[:KEY_TAG_LEN] or message is None:
            await query.answer(_("This button is no longer active.") + " "
                               + step_hint(await state.get_state()))
            return
        await query.answer()
        await state.clear()
        with contextlib.suppress(TelegramBadRequest):
            await message.edit_reply_markup(reply_markup=None)
        await message.answer(_("Cancelled. The reading was not sent."), reply_markup=main_menu())

    @router.message(ReadingStates.confirm, F.func(is_step_input))
    async def confirm_input(message: Message, state: FSMContext, services: Services,
                            user: User, event_log: EventContext | None = None) -> None:
        data = await ReadingData.load(state)
        key = data.key
        if key is None:
            await state.clear()
            await message.answer(_("Cancelled. The reading was not sent."),
                                 reply_markup=main_menu())
            return
        if (message.text and len(data.zones) == 1
                and is_number_attempt(message.text, comma_groups=user.language == "en")):
            # A one-zone reading typed again at the confirmation is its correction (the
            # old card's buttons go with the step: bot/middlewares/step_keyboards.py).
            found = await _draft_account(message, state, services, user)
            if found is None:
                return
            data, account, supplier = found
            data.values, data.key = [None], None
            await state.set_state(ReadingStates.value)
            await data.save(state)
            await take_value(message, state, services, user, event_log, data, account,
                             supplier)
            return
        text = (_("Press «✅ Submit» to send the reading, or type the right value to correct "
                  "it.") if len(data.zones) == 1 else
                _("Press «✅ Submit» to send the reading, or «✏️ Change» to type it again."))
        await message.answer(text, reply_markup=confirm_keyboard(key))

    # --- this feature's buttons, tapped at the wrong step ------------------------------

    @router.callback_query(F.data.func(_ours))
    async def stale_button(query: CallbackQuery, state: FSMContext) -> None:
        hint = step_hint(await state.get_state())
        text = _("This button is no longer active.")
        await query.answer(f"{text} {hint}" if hint else text)

    return router
