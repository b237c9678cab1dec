"""The planner: what is due when, with a controlled clock, in the suppliers' real time zones.

Window edges come from the bundled catalog: Москва 15–26 (Europe/Moscow, UTC+3), Пермь 15–25
(Asia/Yekaterinburg, UTC+5), Севгаз 20–25 (Europe/Simferopol, UTC+3), Крымгазсети 1–31."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.billing.models import Period
from bot.reminders.models import (
    DEFAULTS,
    ReadingsAnchor,
    ReminderKind,
    parse_time_of_day,
    utc_offset,
)
from bot.reminders.planner import AccountPlan, due_at, next_occurrence
from bot.suppliers.loader import load_catalog
from bot.suppliers.models import ReadingWindow

GRACE = timedelta(hours=6)
CATALOG = load_catalog()
ONLY_READINGS = replace(DEFAULTS, payment_on=False, receipt_on=False)


def plan(code: str, settings=ONLY_READINGS, zone: str | None = None, user_id: int = 1,
         account_id: int = 10) -> AccountPlan:
    supplier = CATALOG.get(code)
    assert supplier is not None
    return AccountPlan(user_id, account_id, ZoneInfo(zone or supplier.timezone),
                       supplier.readings.window, settings)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def kinds(items) -> list[tuple[str, str, datetime]]:
    return [(item.kind.value, str(item.period), item.scheduled_at.astimezone(UTC))
            for item in items]


@pytest.mark.parametrize(("code", "first_utc"), [
    ("mrg_moscow", utc(2026, 11, 15, 7, 0)),  # 10:00 MSK on the 15th
    ("mrg_perm", utc(2026, 11, 15, 5, 0)),  # 10:00 in Perm (UTC+5) on the 15th
    ("sevgas", utc(2026, 11, 20, 7, 0)),  # 10:00 in Sevastopol (UTC+3) on the 20th
    ("crimea", utc(2026, 11, 1, 7, 0)),  # the window is the whole month: the 1st
])
def test_window_opening_edges(code: str, first_utc: datetime) -> None:
    p = plan(code)
    second = timedelta(seconds=1)
    assert due_at([p], first_utc - second, GRACE) == []
    assert kinds(due_at([p], first_utc, GRACE)) == [("readings", "2026-11", first_utc)]
    # Every tick of the grace period finds the same reminder (the outbox keeps it once)…
    late = due_at([p], first_utc + GRACE - second, GRACE)
    assert [item.key for item in late] == [("readings", 1, 10, "2026-11")]
    # …and not a moment longer.
    assert due_at([p], first_utc + GRACE, GRACE) == []


def test_closing_edges_and_days_before() -> None:
    last_day = replace(ONLY_READINGS, readings_anchor=ReadingsAnchor.END, readings_days_before=0)
    two_before = replace(last_day, readings_days_before=2)
    # Moscow: the window closes on the 26th; Perm on the 25th.
    assert kinds(due_at([plan("mrg_moscow", last_day)], utc(2026, 11, 26, 7), GRACE)) == [
        ("readings", "2026-11", utc(2026, 11, 26, 7))]
    assert kinds(due_at([plan("mrg_moscow", two_before)], utc(2026, 11, 24, 7), GRACE)) == [
        ("readings", "2026-11", utc(2026, 11, 24, 7))]
    assert kinds(due_at([plan("mrg_perm", two_before)], utc(2026, 11, 23, 5), GRACE)) == [
        ("readings", "2026-11", utc(2026, 11, 23, 5))]
    assert due_at([plan("mrg_perm", two_before)], utc(2026, 11, 24, 5), GRACE) == []
    # Sevgas' window is 20-25: «3 days before» the end is the 22nd in Simferopol time.
    three = replace(last_day, readings_days_before=3)
    assert kinds(due_at([plan("sevgas", three)], utc(2026, 11, 22, 7, 30), GRACE)) == [
        ("readings", "2026-11", utc(2026, 11, 22, 7))]


def test_short_months_and_tiny_windows() -> None:
    window = ReadingWindow(start_day=20, end_day=31)  # "to the end of the month"
    settings = replace(ONLY_READINGS, readings_anchor=ReadingsAnchor.END, readings_days_before=1)
    p = AccountPlan(1, 10, ZoneInfo("Europe/Moscow"), window, settings)
    # February 2027 has 28 days: one day before the end is the 27th.
    assert kinds(due_at([p], utc(2027, 2, 27, 7), GRACE)) == [
        ("readings", "2027-02", utc(2027, 2, 27, 7))]
    # A window shorter than the days asked for: the first day, never before the window.
    tiny = AccountPlan(1, 10, ZoneInfo("Europe/Moscow"), ReadingWindow(start_day=25, end_day=26),
                       replace(settings, readings_days_before=3))
    assert kinds(due_at([tiny], utc(2026, 11, 25, 7), GRACE)) == [
        ("readings", "2026-11", utc(2026, 11, 25, 7))]


def test_time_of_day_and_the_users_zone() -> None:
    evening = replace(ONLY_READINGS, time_of_day=time(21, 30))
    # A Perm account followed from Moscow: the 15th at 21:30 Moscow time.
    p = plan("mrg_perm", evening, zone="Europe/Moscow")
    assert kinds(due_at([p], utc(2026, 11, 15, 18, 30), GRACE)) == [
        ("readings", "2026-11", utc(2026, 11, 15, 18, 30))]
    assert due_at([p], utc(2026, 11, 15, 18, 29), GRACE) == []
    # Kaliningrad (UTC+2) at 00:15: a local day that starts on the 14th in UTC.
    night = replace(ONLY_READINGS, time_of_day=time(0, 15))
    k = plan("mrg_moscow", night, zone="Europe/Kaliningrad")
    assert kinds(due_at([k], utc(2026, 11, 14, 22, 15), GRACE)) == [
        ("readings", "2026-11", utc(2026, 11, 14, 22, 15))]


def test_payment_and_receipt() -> None:
    only_payment = replace(DEFAULTS, readings_on=False, receipt_on=False)
    p = plan("mrg_moscow", only_payment)
    # Due by the 10th (the legal default) of December for November; 3 days before = the 7th.
    assert kinds(due_at([p], utc(2026, 12, 7, 7), GRACE)) == [
        ("payment", "2026-11", utc(2026, 12, 7, 7))]
    # A due day learnt from the billing system: the 2nd; 3 days before is in the month before.
    early = plan("mrg_moscow", replace(only_payment, due_day=2))
    assert kinds(due_at([early], utc(2026, 11, 29, 7), GRACE)) == [
        ("payment", "2026-11", utc(2026, 11, 29, 7))]
    seven = plan("mrg_moscow", replace(only_payment, due_day=25, payment_days_before=7))
    assert kinds(due_at([seven], utc(2026, 12, 18, 9), GRACE)) == [
        ("payment", "2026-11", utc(2026, 12, 18, 7))]
    only_receipt = replace(DEFAULTS, readings_on=False, payment_on=False)
    r = plan("sevgas", only_receipt)
    assert kinds(due_at([r], utc(2027, 1, 1, 7), GRACE)) == [
        ("receipt", "2026-12", utc(2027, 1, 1, 7))]


def test_everything_off_and_several_accounts() -> None:
    off = replace(DEFAULTS, readings_on=False, payment_on=False, receipt_on=False)
    assert not off.any_on
    assert due_at([plan("mrg_moscow", off)], utc(2026, 11, 15, 7), GRACE) == []
    # All three on, two accounts: each reminder once, ordered by time.
    a = plan("mrg_moscow", DEFAULTS, account_id=10)
    b = plan("mrg_perm", DEFAULTS, account_id=11)
    found = due_at([a, b], utc(2026, 11, 15, 7), GRACE)
    assert [(item.account_id, item.kind.value) for item in found] == [
        (11, "readings"), (10, "readings")]


def test_after_downtime_a_missed_reminder_is_due_once_per_tick_window() -> None:
    p = plan("mrg_moscow")
    # The bot was down from 06:00 to 09:30 UTC: the 07:00 reminder is due on the first tick.
    ticks = [utc(2026, 11, 15, 9, 30) + timedelta(minutes=m) for m in range(5)]
    keys = {item.key for tick in ticks for item in due_at([p], tick, GRACE)}
    assert keys == {("readings", 1, 10, "2026-11")}


def test_naive_moments_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        due_at([plan("mrg_moscow")], datetime(2026, 11, 15, 10), GRACE)


def test_next_occurrence_for_the_settings_screen() -> None:
    p = plan("mrg_perm", DEFAULTS)
    now = utc(2026, 11, 20, 12)
    assert next_occurrence(p, ReminderKind.READINGS, now).scheduled_at == utc(2026, 12, 15, 5)
    assert next_occurrence(p, ReminderKind.PAYMENT, now).scheduled_at == utc(2026, 12, 7, 5)
    nxt = next_occurrence(p, ReminderKind.RECEIPT, now)
    assert (nxt.scheduled_at, nxt.period) == (utc(2026, 12, 1, 5), Period(2026, 11))


@pytest.mark.parametrize(("raw", "expected"), [
    ("9", time(9, 0)), ("09:30", time(9, 30)), ("9.30", time(9, 30)), ("21 15", time(21, 15)),
    ("0:00", time(0, 0)), ("23:59", time(23, 59)),
    ("24:00", None), ("9:60", None), ("девять", None), ("", None), ("9:3:0", None),
    ("123", None),
])
def test_parse_time_of_day(raw: str, expected: time | None) -> None:
    assert parse_time_of_day(raw) == expected


def test_utc_offsets() -> None:
    at = utc(2026, 11, 15)
    assert utc_offset("Europe/Moscow", at) == "UTC+3"
    assert utc_offset("Asia/Yekaterinburg", at) == "UTC+5"
    assert utc_offset("Europe/Kaliningrad", at) == "UTC+2"
    assert utc_offset("Asia/Kamchatka", at) == "UTC+12"
