"""What is due when: pure functions of the settings, the suppliers' rules and a moment.

No database, no clock: the tick, the operator's `reminders due --at` and the tests all ask
the same question, "what is due at this moment?", with the moment as an argument.

A reminder is *due at* `now` when its moment falls in the grace period (`now - grace`, `now`].
The tick asks every minute, so each reminder is found by about `grace / 1 min` ticks; the
outbox's unique key (kind, user, account, period) turns all of them into one row. After
downtime, the first tick finds what fell into the downtime and is still within its grace
period: sent once, late; older ones are not sent at all (a readings reminder a day late is
noise, and the next one comes anyway).

Days are the supplier's calendar (its window runs from the 15th to the 25th wherever the
user is); the time of day is the user's, in their time zone: "on the 15th at 10:00 my time".
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.billing.models import Period
from bot.reminders.models import (
    LEGAL_DUE_DAY,
    RECEIPT_FIRST_DAY,
    ReadingsAnchor,
    ReminderKind,
    ReminderSettings,
)
from bot.suppliers.models import ReadingWindow

__all__ = [
    "AccountPlan",
    "DueReminder",
    "due_at",
    "due_date",
    "next_occurrence",
    "occurrence",
    "reminder_day",
]


@dataclass(frozen=True, slots=True)
class AccountPlan:
    """Everything the planner needs about one linked account."""

    user_id: int
    account_id: int
    zone: ZoneInfo  # the user's chosen zone, else the supplier's
    window: ReadingWindow
    settings: ReminderSettings


@dataclass(frozen=True, slots=True)
class DueReminder:
    kind: ReminderKind
    user_id: int
    account_id: int
    # The readings month for READINGS; the billed month (the receipt's) for PAYMENT, RECEIPT.
    period: Period
    scheduled_at: datetime  # aware

    @property
    def key(self) -> tuple[str, int, int, str]:
        """The outbox's unique key."""
        return (self.kind.value, self.user_id, self.account_id, str(self.period))


def _day(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def due_date(settings: ReminderSettings, month: Period) -> date:
    """When the receipt billed for the month before `month` is due, in `month`."""
    return _day(month.year, month.month, settings.due_day or LEGAL_DUE_DAY)


def reminder_day(kind: ReminderKind, settings: ReminderSettings, window: ReadingWindow,
                 month: Period) -> tuple[date, Period]:
    """The day a reminder of `kind` falls on for calendar month `month`, and its period."""
    if kind is ReminderKind.READINGS:
        start, end = window.bounds(month.year, month.month)
        if settings.readings_anchor is ReadingsAnchor.START:
            return start, month
        return max(start, end - timedelta(days=settings.readings_days_before)), month
    if kind is ReminderKind.PAYMENT:
        # May fall in the month before `month` (due on the 2nd, three days ahead).
        return (due_date(settings, month) - timedelta(days=settings.payment_days_before),
                month.shift(-1))
    return _day(month.year, month.month, RECEIPT_FIRST_DAY), month.shift(-1)


def occurrence(plan: AccountPlan, kind: ReminderKind, month: Period) -> DueReminder:
    day, period = reminder_day(kind, plan.settings, plan.window, month)
    local = datetime.combine(day, plan.settings.time_of_day, tzinfo=plan.zone)
    return DueReminder(kind, plan.user_id, plan.account_id, period, local)


def _months(first: date, last: date) -> Iterator[Period]:
    month = Period.of(first)
    # One month further: a payment reminder for a due date next month may fall in this one.
    while month <= Period.of(last).shift(1):
        yield month
        month = month.shift(1)


def _enabled(plan: AccountPlan) -> list[ReminderKind]:
    return [kind for kind in ReminderKind if plan.settings.enabled(kind)]


def due_at(plans: Iterable[AccountPlan], now: datetime, grace: timedelta) -> list[DueReminder]:
    """Reminders whose moment is in (`now - grace`, `now`], oldest first."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    found: list[DueReminder] = []
    for plan in plans:
        kinds = _enabled(plan)
        if not kinds:
            continue
        first = (now - grace).astimezone(plan.zone).date()
        last = now.astimezone(plan.zone).date()
        for month in _months(first, last):
            for kind in kinds:
                item = occurrence(plan, kind, month)
                if now - grace < item.scheduled_at <= now:
                    found.append(item)
    found.sort(key=lambda item: (item.scheduled_at, item.user_id, item.account_id, item.kind))
    return found


def next_occurrence(plan: AccountPlan, kind: ReminderKind, after: datetime) -> DueReminder:
    """The first moment after `after` a reminder of `kind` would fire (on or off)."""
    month = Period.of(after.astimezone(plan.zone).date()).shift(-1)
    for _ in range(4):
        item = occurrence(plan, kind, month)
        if item.scheduled_at > after:
            return item
        month = month.shift(1)
    raise AssertionError("a monthly reminder always recurs within three months")
