"""Keyboards of /reminders and of the reminders themselves."""

from __future__ import annotations

from datetime import time

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.callbacks import ReminderActionCB, ReminderCB
from bot.keyboards.step import StepKeyboard
from bot.reminders.models import (
    HOUR_CHOICES,
    PAYMENT_DAYS_BEFORE_CHOICES,
    READINGS_DAYS_BEFORE_CHOICES,
    TIME_ZONES,
    ReadingsAnchor,
    ReminderKind,
    ReminderSettings,
    utc_offset,
)

_HOURS_ROW = 4


def _button(text: str, action: str, account_id: int = 0, value: str = ""
            ) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=text, callback_data=ReminderCB(action=action, id=account_id, value=value).pack())


def _check(on: bool) -> str:
    return "✅ " if on else "▫️ "


def fmt_time(value: time) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


def readings_day_label(anchor: ReadingsAnchor, days_before: int) -> str:
    if anchor is ReadingsAnchor.START:
        return _("on the first day of the window")
    if days_before == 0:
        return _("on the last day of the window")
    return ngettext("{n} day before the window closes", "{n} days before the window closes",
                    days_before).format(n=days_before)


def payment_days_label(days: int) -> str:
    return ngettext("{n} day before the due date", "{n} days before the due date",
                    days).format(n=days)


def readings_day_value(anchor: ReadingsAnchor, days_before: int) -> str:
    return "s" if anchor is ReadingsAnchor.START else f"e{days_before}"


def overview_keyboard(entries: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    """One button per account (`entries`: account id and button text), then the time zone."""
    rows = [[_button(text, "open", account_id)] for account_id, text in entries]
    rows.append([_button(_("🌍 Time zone"), "tz")])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def account_keyboard(account_id: int, settings: ReminderSettings, *,
                     several: bool) -> InlineKeyboardMarkup:
    rows = [
        [_button(_check(settings.readings_on) + _("Meter readings"), "toggle", account_id,
                 ReminderKind.READINGS.value),
         _button("📅 " + _("Which day"), "day", account_id)],
        [_button(_check(settings.payment_on) + _("Payment"), "toggle", account_id,
                 ReminderKind.PAYMENT.value),
         _button("📆 " + _("How early"), "pay", account_id)],
        [_button(_check(settings.receipt_on) + _("New receipt"), "toggle", account_id,
                 ReminderKind.RECEIPT.value)],
        [_button("🕒 " + fmt_time(settings.time_of_day), "time", account_id),
         _button(_("🌍 Time zone"), "tz", account_id)],
    ]
    if several:
        rows.append([_button(_("⬅️ All accounts"), "list")])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def readings_day_keyboard(account_id: int, settings: ReminderSettings) -> InlineKeyboardMarkup:
    current = readings_day_value(settings.readings_anchor, settings.readings_days_before)
    choices = [(ReadingsAnchor.START, 0),
               *((ReadingsAnchor.END, n) for n in READINGS_DAYS_BEFORE_CHOICES)]
    rows = []
    for anchor, days in choices:
        value = readings_day_value(anchor, days)
        mark = "✓ " if value == current else ""
        rows.append([_button(mark + readings_day_label(anchor, days), "setday", account_id,
                             value)])
    rows.append([_button(_("⬅️ Back"), "open", account_id)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def payment_days_keyboard(account_id: int, settings: ReminderSettings) -> InlineKeyboardMarkup:
    rows = []
    for days in PAYMENT_DAYS_BEFORE_CHOICES:
        mark = "✓ " if days == settings.payment_days_before else ""
        rows.append([_button(mark + payment_days_label(days), "setpay", account_id,
                             str(days))])
    rows.append([_button(_("⬅️ Back"), "open", account_id)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def time_keyboard(account_id: int, current: time) -> InlineKeyboardMarkup:
    buttons = []
    for hour in HOUR_CHOICES:
        value = time(hour, 0)
        mark = "✓ " if value == current else ""
        buttons.append(_button(mark + fmt_time(value), "settime", account_id, f"{hour:02d}00"))
    rows = [buttons[i:i + _HOURS_ROW] for i in range(0, len(buttons), _HOURS_ROW)]
    rows.append([_button(_("⬅️ Back"), "open", account_id)])
    return StepKeyboard(inline_keyboard=rows)


def timezone_keyboard(account_id: int, chosen: str | None) -> InlineKeyboardMarkup:
    """Two zones a row; the first button returns to each supplier's own zone."""
    rows = [[_button(("✓ " if chosen is None else "") + _("As my supplier's region"),
                     "settz", account_id, "-")]]
    buttons = [
        _button(("✓ " if zone == chosen else "") + f"{label} ({utc_offset(zone)})", "settz",
                account_id, str(index))
        for index, (zone, label) in enumerate(TIME_ZONES)
    ]
    rows += [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    back = "open" if account_id else "list"
    rows.append([_button(_("⬅️ Back"), back, account_id)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


# --- on a reminder ---------------------------------------------------------------------------


def _action(text: str, action: str, kind: ReminderKind, account_id: int
            ) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=ReminderActionCB(
        action=action, kind=kind.value, id=account_id).pack())


def reminder_keyboard(kind: ReminderKind, account_id: int, *, off: bool = False
                      ) -> InlineKeyboardMarkup:
    """What to do about the reminder, and «turn off» (or back on, once turned off)."""
    reading = _action(_("📟 Submit readings"), "reading", kind, account_id)
    pay = _action(_("💳 Pay"), "pay", kind, account_id)
    receipt = _action(_("🧾 Receipt"), "receipt", kind, account_id)
    first_row = {
        ReminderKind.READINGS: [reading],
        ReminderKind.PAYMENT: [pay, receipt],
        ReminderKind.RECEIPT: [receipt, pay],
    }[kind]
    switch = (_action(_("🔔 Remind me again"), "on", kind, account_id) if off
              else _action(_("🔕 Don't remind me about this"), "off", kind, account_id))
    return InlineKeyboardMarkup(inline_keyboard=[first_row, [switch]])
