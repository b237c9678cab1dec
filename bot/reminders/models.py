"""What a user can set for the reminders of one account, and the defaults until they do.

An account without a settings row has the defaults: every reminder on, so linking an account
is enough to be reminded (the planner reads a missing row as `DEFAULTS`). A row is written
the first time the user changes something. The time zone is the user's (one for all their
accounts); until they choose one, each account is reminded in its supplier's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __
from babel.support import LazyProxy

if TYPE_CHECKING:
    from bot.db.models_reminders import ReminderSettingsRow


class ReminderKind(StrEnum):
    READINGS = "readings"  # the supplier's readings window is open (or closing)
    PAYMENT = "payment"  # the receipt's due date is near
    RECEIPT = "receipt"  # a new receipt is out


class ReadingsAnchor(StrEnum):
    START = "start"  # on the window's first day
    END = "end"  # `readings_days_before` days before its last day (0: on the last day)


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # written, not sent yet (or waiting for a retry: see next_attempt_at)
    SENDING = "sending"  # claimed by a sender, the request may be on its way
    SENT = "sent"
    FAILED = "failed"  # given up, with the reason
    PAUSED = "paused"  # not sent: the user blocked the bot
    SKIPPED = "skipped"  # not sent on purpose: nothing is due, the receipt never came…


# When the user has not chosen a time: mid-morning, when most people read messages.
DEFAULT_TIME: Final = time(10, 0)
# ЖК РФ ст. 155 ч. 1: pay by the 10th of the next month unless the contract says otherwise.
# The billing system's own due date replaces it once a payment reminder has asked for it.
LEGAL_DUE_DAY: Final = 10
# Receipts appear when the supplier closes the month; from the 1st day on, the bot asks the
# billing system whether the new one is there, once a day, until this day of the month.
RECEIPT_FIRST_DAY: Final = 1
RECEIPT_LAST_DAY: Final = 10

READINGS_DAYS_BEFORE_CHOICES: Final = (0, 1, 2, 3)
PAYMENT_DAYS_BEFORE_CHOICES: Final = (1, 2, 3, 5, 7)
HOUR_CHOICES: Final = tuple(range(7, 23))


@dataclass(frozen=True, slots=True)
class ReminderSettings:
    """One account's reminder settings (a `reminder_settings` row, or the defaults)."""

    readings_on: bool = True
    readings_anchor: ReadingsAnchor = ReadingsAnchor.START
    readings_days_before: int = 1
    payment_on: bool = True
    payment_days_before: int = 3
    receipt_on: bool = True
    time_of_day: time = DEFAULT_TIME
    # Day of the month receipts are due, learnt from the billing system; None: LEGAL_DUE_DAY.
    due_day: int | None = None

    def enabled(self, kind: ReminderKind) -> bool:
        return {
            ReminderKind.READINGS: self.readings_on,
            ReminderKind.PAYMENT: self.payment_on,
            ReminderKind.RECEIPT: self.receipt_on,
        }[kind]

    def switched(self, kind: ReminderKind, on: bool) -> ReminderSettings:
        if kind is ReminderKind.READINGS:
            return replace(self, readings_on=on)
        if kind is ReminderKind.PAYMENT:
            return replace(self, payment_on=on)
        return replace(self, receipt_on=on)

    @property
    def any_on(self) -> bool:
        return self.readings_on or self.payment_on or self.receipt_on


DEFAULTS: Final = ReminderSettings()


def settings_from_row(row: ReminderSettingsRow | None) -> ReminderSettings:
    if row is None:
        return DEFAULTS
    return ReminderSettings(
        readings_on=row.readings_on,
        readings_anchor=ReadingsAnchor(row.readings_anchor),
        readings_days_before=row.readings_days_before,
        payment_on=row.payment_on,
        payment_days_before=row.payment_days_before,
        receipt_on=row.receipt_on,
        time_of_day=time(*divmod(row.minute_of_day, 60)),
        due_day=row.due_day,
    )


def settings_values(settings: ReminderSettings, at: datetime) -> dict[str, Any]:
    """The columns of a `reminder_settings` row holding `settings`."""
    return {
        "readings_on": settings.readings_on,
        "readings_anchor": settings.readings_anchor.value,
        "readings_days_before": settings.readings_days_before,
        "payment_on": settings.payment_on,
        "payment_days_before": settings.payment_days_before,
        "receipt_on": settings.receipt_on,
        "minute_of_day": settings.time_of_day.hour * 60 + settings.time_of_day.minute,
        "due_day": settings.due_day,
        "updated_at": at,
    }


# --- time zones ------------------------------------------------------------------------------

MOSCOW: Final = "Europe/Moscow"
# The Russian time zones offered as buttons, west to east; the position is the button's value,
# so append new ones at the end only.
TIME_ZONES: Final[tuple[tuple[str, LazyProxy], ...]] = (
    ("Europe/Kaliningrad", __("Kaliningrad")),
    ("Europe/Moscow", __("Moscow")),
    ("Europe/Samara", __("Samara")),
    ("Asia/Yekaterinburg", __("Yekaterinburg, Perm")),
    ("Asia/Omsk", __("Omsk")),
    ("Asia/Krasnoyarsk", __("Krasnoyarsk")),
    ("Asia/Irkutsk", __("Irkutsk")),
    ("Asia/Yakutsk", __("Yakutsk")),
    ("Asia/Vladivostok", __("Vladivostok")),
    ("Asia/Magadan", __("Magadan")),
    ("Asia/Kamchatka", __("Kamchatka")),
)
# Zones of the supplier catalog that are not buttons, by the name people know them by.
_OTHER_ZONE_NAMES: Final[dict[str, LazyProxy]] = {
    "Europe/Simferopol": __("Simferopol"),
    "Europe/Kirov": __("Kirov"),
    "Asia/Novokuznetsk": __("Novokuznetsk"),
}


def utc_offset(zone: str, at: datetime | None = None) -> str:
    """`UTC+3`, `UTC+5:30`: Russia has kept no summer time since 2014, but ask the zone."""
    moment = at if at is not None else datetime.now(UTC)
    offset = moment.astimezone(ZoneInfo(zone)).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def zone_name(zone: str) -> str:
    """The zone as the user reads it, in the current locale: «Москва (UTC+3)»."""
    label = dict(TIME_ZONES).get(zone) or _OTHER_ZONE_NAMES.get(zone)
    city = str(label) if label is not None else zone.rsplit("/", 1)[-1].replace("_", " ")
    return f"{city} ({utc_offset(zone)})"


def zone_abbr(zone: str, at: datetime | None = None) -> str:
    """A short mark for a time shown in `zone`: «МСК», «МСК+2», «МСК−1» for the Russian
    zones (as Russian timetables write them), «UTC+4» for any other."""
    if zone not in dict(TIME_ZONES) and zone not in _OTHER_ZONE_NAMES:
        return utc_offset(zone, at)
    moment = at if at is not None else datetime.now(UTC)
    here = moment.astimezone(ZoneInfo(zone)).utcoffset()
    moscow = moment.astimezone(ZoneInfo(MOSCOW)).utcoffset()
    hours = (int((here - moscow).total_seconds() // 3600)
             if here is not None and moscow is not None else 0)
    shift = "" if hours == 0 else f"{'+' if hours > 0 else '−'}{abs(hours)}"
    # TRANSLATORS: Moscow time, as in «10:30 (MSK)»; other zones get «MSK+2».
    return _("MSK") + shift


def zone_by_index(index: int) -> str | None:
    return TIME_ZONES[index][0] if 0 <= index < len(TIME_ZONES) else None


def parse_time_of_day(raw: str) -> time | None:
    """«9», «09:30», «9.30», «21 15» → a time; None when it is not one."""
    text = raw.strip().replace(".", ":").replace(" ", ":").replace("-", ":")
    parts = text.split(":")
    if not 1 <= len(parts) <= 2 or not all(p.isdigit() and 1 <= len(p) <= 2 for p in parts):
        return None
    hour = int(parts[0])
    minute = int(parts[1]) if len(parts) == 2 else 0
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)
