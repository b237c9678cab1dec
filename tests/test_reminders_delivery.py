"""The outbox and its sender against the local Bot API server, which enforces Telegram's
limits (30 messages a second, one a second per chat) and checks every request against the
spec: each reminder arrives once, 429/403/5xx/400 are handled, a restart mid-fan-out and two
senders at once neither duplicate nor lose a reminder.

The clock is controlled: it starts at a moment when reminders are due and runs on in real
time (the sender waits real seconds for the rate limiter and for 429s)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as time_of_day
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import func, select

from bot.app import create_bot
from bot.billing.demo import DemoAccountEntry
from bot.billing.models import ReadingSubmission
from bot.db.models import User
from bot.db.models_accounts import LinkedAccount
from bot.db.models_readings import QueuedReading
from bot.db.models_reminders import ReminderDelivery, ReminderPrefs, ReminderSettingsRow
from bot.db.repositories.reminders import ReminderRepository
from bot.reminders.content import ReminderContent
from bot.reminders.delivery import LEASE, Sender
from bot.reminders.models import ReminderKind
from bot.reminders.ratelimit import RateLimiter
from bot.services import Services
from bot.services.reminders import ReminderService
from tests.botapi.server import FakeBotAPI, RateLimits
from tests.conftest import TEST_TOKEN
from tests.support.leaks import remember

GRACE = timedelta(hours=6)
# Moscow's readings window opens on the 15th; 10:00 MSK is 07:00 UTC.
MOSCOW_READINGS = datetime(2026, 11, 15, 7, 0, tzinfo=UTC)
# Perm: payment due by the 10th (the default), 3 days before, 10:00 in Perm (UTC+5).
PERM_PAYMENT = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
FIRST_USER = 8_800_000_001


class RunningClock:
    """Starts at `start` and runs on with real time; `jump` moves it forward."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.origin = time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.origin)

    def jump(self, delta: timedelta) -> None:
        self.start += delta


@dataclass
class World:
    env: Any
    api: FakeBotAPI
    bot: Bot
    clock: RunningClock

    @property
    def app(self) -> Any:
        return self.env.runtime.app

    def sender(self, **kwargs: Any) -> Sender:
        kwargs.setdefault("backoff", lambda attempt: timedelta(seconds=0.2))
        return Sender(self.bot, self.app,
                      ReminderContent(self.app, self.env.runtime.i18n, grace=GRACE),
                      RateLimiter(25), metrics=self.env.runtime.metrics, **kwargs)

    async def enqueue(self, moment: datetime) -> Any:
        async with self.app.session_factory() as session:
            return await ReminderService(session, self.app).enqueue_due(moment)

    async def rows(self) -> list[ReminderDelivery]:
        async with self.app.session_factory() as session:
            return list(await session.scalars(select(ReminderDelivery)
                                               .order_by(ReminderDelivery.id)))

    def sent(self) -> Counter[int]:
        return Counter(int(c.chat_id) for c in self.api.calls_of("sendMessage")
                       if c.ok and c.chat_id is not None)


@pytest.fixture
async def world(bot_env: Callable[..., Any]) -> AsyncIterator[World]:
    env = await bot_env()
    clock = RunningClock(MOSCOW_READINGS)
    env.runtime.app.clock = clock
    async with FakeBotAPI(TEST_TOKEN, limits=RateLimits(global_per_second=30,
                                                       per_chat_per_second=1)) as api:
        session = AiohttpSession(api=TelegramAPIServer.from_base(api.base_url))
        bot = create_bot(env.settings, session=session)
        try:
            yield World(env, api, bot, clock)
        finally:
            await bot.session.close()
        api.assert_no_violations()


async def demo_entries(w: World, code: str) -> list[DemoAccountEntry]:
    connector = w.app.billing.for_supplier(code)
    found: list[DemoAccountEntry] = await connector.demo_accounts([code])
    for entry in found:
        remember(entry.number)
    return found


async def add_user(w: World, user_id: int, entries: list[DemoAccountEntry],
                   language: str = "ru") -> list[int]:
    """A registered user with these demo accounts linked; returns the account ids."""
    now = datetime.now(UTC)
    async with w.app.session_factory() as session:
        session.add(User(id=user_id, language=language, consent_at=now,
                         consent_version="test", registered_at=now))
        accounts = [LinkedAccount(user_id=user_id, supplier_code=e.supplier_code,
                                  number=e.number, unit=e.unit_code,
                                  is_default=i == 0, owner_masked="И****",
                                  address_masked="г. М*****", linked_at=now)
                    for i, e in enumerate(entries)]
        session.add_all(accounts)
        await session.commit()
        return [a.id for a in accounts]


async def moscow_users(w: World, n: int) -> list[int]:
    entries = await demo_entries(w, "mrg_moscow")
    users = [FIRST_USER + i for i in range(n)]
    for i, user_id in enumerate(users):
        await add_user(w, user_id, [entries[i % len(entries)]])
    return users


async def wait_for_sends(w: World, count: int, timeout: float = 20) -> None:
    start = time.monotonic()
    while sum(w.sent().values()) < count:
        assert time.monotonic() - start < timeout, "the sends did not come"
        await asyncio.sleep(0.005)


# --- once, with its buttons ------------------------------------------------------------------


async def test_each_reminder_arrives_once_spaced_per_chat(world: World) -> None:
    w = world
    entries = await demo_entries(w, "mrg_moscow")
    users = await moscow_users(w, 3)
    # The first user has both Moscow demo accounts: two reminders to one chat.
    async with w.app.session_factory() as session:
        session.add(LinkedAccount(user_id=users[0], supplier_code="mrg_moscow",
                                  number=next(e.number for e in entries
                                              if e.number != entries[0].number),
                                  is_default=False, owner_masked="И****",
                                  address_masked="г. М*****", linked_at=datetime.now(UTC)))
        await session.commit()
    result = await w.enqueue(MOSCOW_READINGS)
    assert (len(result.due), result.new) == (4, 4)
    stats = await w.sender().drain()
    assert stats.sent == 4 and stats.throttled == 0
    assert w.sent() == {users[0]: 2, users[1]: 1, users[2]: 1}
    assert w.api.rejected_429 == 0
    first, second = [c for c in w.api.calls_of("sendMessage") if c.chat_id == users[0]]
    assert second.time - first.time >= 1.0  # one a second per chat, with no 429 needed
    text = first.params["text"]
    assert "Пора передать показания счётчика газа" in text
    assert "с 15 ноября по 26 ноября" in text or "с 15 по 26" in text or "15 ноября" in text
    assert "••••" in text and entries[0].number not in text
    buttons = [b["text"] for row in first.params["reply_markup"]["inline_keyboard"]
               for b in row]
    assert buttons == ["📟 Передать показания", "🔕 Больше не напоминать об этом"]
    rows = await w.rows()
    assert {r.status for r in rows} == {"sent"} and all(r.message_id for r in rows)
    metric = w.env.runtime.metrics.reminders_sent._value.get()
    assert metric == 4
    # Asking again for the same moment, or a minute later: nothing new, nothing sent.
    again = await w.enqueue(MOSCOW_READINGS + timedelta(minutes=1))
    assert again.new == 0 and set(again.statuses.values()) == {"sent"}
    calls = len(w.api.calls)
    assert (await w.sender().drain()).sent == 0
    assert len(w.api.calls) == calls


async def test_restart_in_the_middle_of_a_fan_out(world: World) -> None:
    w = world
    users = await moscow_users(w, 8)
    await w.enqueue(MOSCOW_READINGS)
    first = w.sender()
    task = asyncio.create_task(first.drain())
    await wait_for_sends(w, 3)
    task.cancel()  # killed after 3 of 8, in whatever state it was
    await asyncio.gather(task, return_exceptions=True)
    delivered = sum(w.sent().values())
    assert 3 <= delivered < 8
    second = w.sender()  # the restarted process
    await second.drain()
    assert w.sent() == dict.fromkeys(users, 1)  # every user exactly one
    statuses = Counter(r.status for r in await w.rows())
    # A row the kill caught between Telegram's answer and the database is left in doubt,
    # never sent twice; once its claim is stale it is recorded as interrupted.
    assert statuses["sent"] + statuses["sending"] == 8
    w.clock.jump(LEASE + timedelta(seconds=1))
    assert await w.sender().recover() == statuses["sending"]
    assert {r.reason for r in await w.rows() if r.status == "failed"} <= {"interrupted"}


async def test_two_senders_at_once_send_each_reminder_once(world: World) -> None:
    w = world
    users = await moscow_users(w, 10)
    await w.enqueue(MOSCOW_READINGS)
    a, b = w.sender(), w.sender()
    stats = await asyncio.gather(a.drain(), b.drain())
    assert w.sent() == dict.fromkeys(users, 1)
    assert stats[0].sent + stats[1].sent == 10


# --- Telegram's answers ----------------------------------------------------------------------


async def test_429_waits_retry_after_and_sends_once(world: World) -> None:
    w = world
    users = await moscow_users(w, 2)
    await w.enqueue(MOSCOW_READINGS)
    w.api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    started = time.monotonic()
    stats = await w.sender().drain(wait_for_retries=30)
    assert stats.throttled == 1 and stats.sent == 2
    assert w.sent() == dict.fromkeys(users, 1)
    assert time.monotonic() - started >= 1.0  # everybody waited retry_after
    rows = await w.rows()
    assert all(r.status == "sent" and r.attempts == 1 for r in rows)


async def test_blocked_user_is_paused_and_recorded(world: World) -> None:
    w = world
    entries = await demo_entries(w, "mrg_moscow")
    blocked, other = FIRST_USER, FIRST_USER + 1
    await add_user(w, blocked, entries[:2])  # two accounts: one 403 pauses both
    await add_user(w, other, entries[:1])
    await w.enqueue(MOSCOW_READINGS)
    w.api.block_chat(blocked)
    stats = await w.sender().drain()
    assert w.sent() == {other: 1}
    attempts = [c for c in w.api.calls_of("sendMessage") if c.chat_id == blocked]
    assert len(attempts) == 1 and attempts[0].status == 403
    rows = {(r.user_id, r.account_id): r for r in await w.rows()}
    assert {(r.status, r.reason) for (u, _), r in rows.items() if u == blocked} == {
        ("paused", "blocked")}
    assert stats.paused == 2
    assert w.env.runtime.metrics.reminders_failed.labels(reason="blocked")._value.get() == 2
    async with w.app.session_factory() as session:
        prefs = await session.get(ReminderPrefs, blocked)
        assert prefs is not None and prefs.paused_reason == "blocked"
        # Paused users are not planned at all.
        due = await ReminderService(session, w.app).due_at(MOSCOW_READINGS)
        assert {item.user_id for item in due} == {other}
        assert await ReminderService(session, w.app).resume(blocked)
        due = await ReminderService(session, w.app).due_at(MOSCOW_READINGS)
        assert {item.user_id for item in due} == {blocked, other}


async def test_server_errors_are_retried_then_given_up(world: World) -> None:
    w = world
    ok_user, bad_user = await moscow_users(w, 2)
    await w.enqueue(MOSCOW_READINGS)
    w.api.fail_next("sendMessage", 500, "Internal Server Error", chat_id=ok_user)
    w.api.fail_next("sendMessage", 502, "Bad Gateway", chat_id=bad_user, times=10)
    stats = await w.sender(max_attempts=3).drain(wait_for_retries=10)
    assert w.sent() == {ok_user: 1}
    rows = {r.user_id: r for r in await w.rows()}
    assert (rows[ok_user].status, rows[ok_user].attempts) == ("sent", 2)
    assert (rows[bad_user].status, rows[bad_user].reason, rows[bad_user].attempts) == (
        "failed", "server", 3)
    assert stats.retried == 3 and stats.failed == 1


async def test_bad_request_is_not_retried(world: World) -> None:
    w = world
    await moscow_users(w, 1)
    await w.enqueue(MOSCOW_READINGS)
    w.api.fail_next("sendMessage", 400, "Bad Request: chat not found")
    stats = await w.sender().drain(wait_for_retries=10)
    rows = await w.rows()
    assert [(r.status, r.reason, r.attempts) for r in rows] == [("failed", "bad_request", 1)]
    assert stats.retried == 0 and len(w.api.calls_of("sendMessage")) == 1


async def test_too_late_is_not_sent(world: World) -> None:
    w = world
    await moscow_users(w, 1)
    await w.enqueue(MOSCOW_READINGS)
    w.clock.jump(GRACE + timedelta(minutes=1))  # the sender only gets to it now
    stats = await w.sender().drain()
    assert [(r.status, r.reason) for r in await w.rows()] == [("failed", "expired")]
    assert stats.failed == 1 and w.api.calls_of("sendMessage") == []


async def test_turned_off_after_planning_is_skipped(world: World) -> None:
    w = world
    (user,) = await moscow_users(w, 1)
    await w.enqueue(MOSCOW_READINGS)
    rows = await w.rows()
    async with w.app.session_factory() as session:
        await ReminderService(session, w.app).turn_off(user, rows[0].account_id,
                                                       ReminderKind.READINGS)
    await w.sender().drain()
    assert [(r.status, r.reason) for r in await w.rows()] == [("skipped", "turned_off")]
    assert w.api.calls_of("sendMessage") == []


# --- what the billing system decides ----------------------------------------------------------


async def test_readings_reminder_only_while_a_meter_still_needs_its_reading(world: World
                                                                            ) -> None:
    """No reminder for an account without meters, nor once every meter has this period's
    reading (sent elsewhere, or through the bot and still on its way); a two-meter account
    with one meter done is still reminded."""
    w = world
    moscow = {e.kind: e for e in await demo_entries(w, "mrg_moscow")}
    house, two = moscow["house"], moscow["two_meters"]
    kaluga = {e.kind: e for e in await demo_entries(w, "mrg_kaluga")}
    flat_user, house_user, two_user = FIRST_USER, FIRST_USER + 1, FIRST_USER + 2
    await add_user(w, flat_user, [kaluga["no_meters"]])
    await add_user(w, house_user, [house])
    (two_id,) = await add_user(w, two_user, [two])
    moscow_billing = w.app.billing.for_supplier("mrg_moscow")

    async def submit(entry: DemoAccountEntry, meter: int) -> None:
        last = entry.meters[meter].last
        assert last is not None
        await moscow_billing.submit_reading(entry.ref, ReadingSubmission(
            meter_id=entry.meters[meter].id, values=(last.values[0] + 12,),
            idempotency_key=f"elsewhere-{entry.number}-{meter}-{w.clock():%Y%m}",
            submitted_at=w.clock()))

    # The house's reading came through the supplier's web cabinet; one of two meters too.
    await submit(house, 0)
    await submit(two, 0)
    kaluga_zone = w.app.catalog.get("mrg_kaluga").zone
    kaluga_start = w.app.catalog.get("mrg_kaluga").readings.window.bounds(2026, 11)[0]
    kaluga_moment = datetime.combine(kaluga_start, time_of_day(10), kaluga_zone).astimezone(UTC)
    await w.enqueue(MOSCOW_READINGS)
    await w.enqueue(kaluga_moment)
    w.clock.jump(max(kaluga_moment - MOSCOW_READINGS, timedelta(0)))
    await w.sender().drain()
    rows = {r.user_id: (r.status, r.reason) for r in await w.rows()}
    assert rows == {flat_user: ("skipped", "no_meters"),
                    house_user: ("skipped", "submitted"), two_user: ("sent", None)}
    assert w.sent() == {two_user: 1}

    # Next month the second meter's reading is in the bot's outbox, waiting for the billing
    # system, and the first one went through the cabinet again: nothing to remind of.
    december = MOSCOW_READINGS.replace(month=12)
    w.clock.jump(december - w.clock())
    await submit(two, 0)
    async with w.app.session_factory() as session:
        session.add(QueuedReading(
            user_id=two_user, account_id=two_id, supplier_code=two.supplier_code,
            number=two.number, unit=two.unit_code, meter_id=two.meters[1].id,
            meter_serial=two.meters[1].serial, zones="total", values="100", period="2026-12",
            idempotency_key="queued-december", status="queued",
            next_attempt_at=december + timedelta(hours=1)))
        await session.commit()
    await w.enqueue(december)
    await w.sender().drain(wait_for_retries=5)  # the chat had a message a moment ago
    december = {r.user_id: (r.status, r.reason) for r in await w.rows()
                if r.period == "2026-12"}
    assert december == {flat_user: ("skipped", "no_meters"), house_user: ("sent", None),
                        two_user: ("skipped", "submitted")}
    assert w.sent() == {two_user: 1, house_user: 1}


async def test_payment_reminder_amount_skip_and_due_day(world: World) -> None:
    w = world
    w.clock.jump(PERM_PAYMENT - MOSCOW_READINGS)
    entries = await demo_entries(w, "mrg_perm")
    debt = next(e for e in entries if e.balance_due > 0)
    settled = next(e for e in entries if e.balance_due <= 0)
    debtor, payer = FIRST_USER, FIRST_USER + 1
    (debt_id,) = await add_user(w, debtor, [debt])
    await add_user(w, payer, [settled], language="en")
    result = await w.enqueue(PERM_PAYMENT)
    assert {(i.kind.value, i.user_id) for i in result.due} == {
        ("payment", debtor), ("payment", payer)}
    await w.sender().drain()
    assert w.sent() == {debtor: 1}
    text = w.api.calls_of("sendMessage")[0].params["text"]
    assert "Оплатить нужно до" in text and "К оплате" in text and "₽" in text
    buttons = [b["text"] for row in w.api.calls_of("sendMessage")[0].params["reply_markup"][
        "inline_keyboard"] for b in row]
    assert buttons == ["💳 Оплатить", "🧾 Квитанция", "🔕 Больше не напоминать об этом"]
    rows = {r.user_id: r for r in await w.rows()}
    assert (rows[payer].status, rows[payer].reason) == ("skipped", "nothing_due")
    connector = w.app.billing.for_supplier("mrg_perm")
    balance = await connector.get_balance(debt.ref)
    async with w.app.session_factory() as session:
        learned = await session.get(ReminderSettingsRow, debt_id)
    assert balance.due_date is not None
    assert learned is not None and learned.due_day == balance.due_date.day


async def test_payment_reminder_goes_out_without_the_amount_in_an_outage(world: World) -> None:
    w = world
    w.clock.jump(PERM_PAYMENT - MOSCOW_READINGS)
    entries = await demo_entries(w, "mrg_perm")
    await add_user(w, FIRST_USER, [entries[0]])
    await w.enqueue(PERM_PAYMENT)
    w.app.billing.for_supplier("mrg_perm").outage = True
    try:
        await w.sender().drain()
    finally:
        w.app.billing.for_supplier("mrg_perm").outage = False
    text = w.api.calls_of("sendMessage")[0].params["text"]
    assert "Оплатить нужно до 10 декабря" in text and "К оплате" not in text


async def test_receipt_notice_waits_until_the_receipt_is_out(world: World) -> None:
    w = world
    entries = await demo_entries(w, "sevgas")
    ready_user, waiting_user = FIRST_USER, FIRST_USER + 1
    await add_user(w, ready_user, [entries[0]])
    (waiting_account,) = await add_user(w, waiting_user, [entries[1]])
    # 1 December, 10:00 in Sevastopol: the demo billing system (on the same clock) has
    # closed November, so the notice for November's receipt goes out.
    moment = datetime(2026, 12, 1, 7, tzinfo=UTC)
    w.clock.jump(moment - MOSCOW_READINGS)
    connector = w.app.billing.for_supplier("sevgas")
    real_list = connector.list_receipt_periods

    async def not_for_waiting(ref: Any) -> list[Any]:
        periods = await real_list(ref)
        return [] if ref.number == entries[1].number else periods

    connector.list_receipt_periods = not_for_waiting  # type: ignore[method-assign]
    try:
        result = await w.enqueue(moment)
        assert {(i.kind.value, str(i.period)) for i in result.due} == {("receipt", "2026-11")}
        stats = await w.sender().drain()
    finally:
        connector.list_receipt_periods = real_list  # type: ignore[method-assign]
    assert w.sent() == {ready_user: 1}
    assert "Готова квитанция за ноябрь 2026" in w.api.calls_of("sendMessage")[0].params["text"]
    # The other account's receipt is not out yet: asked again tomorrow at the same time.
    assert stats.deferred == 1
    waiting = [r for r in await w.rows() if r.user_id == waiting_user]
    assert [(r.status, r.reason, r.account_id) for r in waiting] == [
        ("pending", "receipt_not_ready", waiting_account)]
    assert waiting[0].next_attempt_at - moment >= timedelta(hours=23)
    assert waiting[0].expires_at > waiting[0].next_attempt_at
    # The next day it is out: sent then, once.
    w.clock.jump(timedelta(days=1))
    await w.sender().drain()
    assert w.sent() == {ready_user: 1, waiting_user: 1}


async def test_receipt_notice_in_a_billing_outage_is_retried_later(world: World) -> None:
    w = world
    entries = await demo_entries(w, "sevgas")
    await add_user(w, FIRST_USER, [entries[0]])
    moment = datetime(2026, 12, 1, 7, tzinfo=UTC)
    w.clock.jump(moment - MOSCOW_READINGS)
    await w.enqueue(moment)
    w.app.billing.for_supplier("sevgas").outage = True
    try:
        stats = await w.sender().drain()
    finally:
        w.app.billing.for_supplier("sevgas").outage = False
    assert stats.deferred == 1 and w.sent() == {}
    (row,) = await w.rows()
    assert (row.status, row.reason) == ("pending", "billing_unavailable")
    assert timedelta(minutes=59) <= row.next_attempt_at - moment <= timedelta(minutes=61)


# --- unlinking -----------------------------------------------------------------------------------


async def test_unlinking_an_account_removes_its_reminders(world: World) -> None:
    w = world
    entries = await demo_entries(w, "mrg_moscow")
    keep_id, drop_id = await add_user(w, FIRST_USER, entries[:2])
    async with w.app.session_factory() as session:
        service = ReminderService(session, w.app)
        await service.set_payment_days(FIRST_USER, drop_id, 7)
        await service.set_payment_days(FIRST_USER, keep_id, 5)
    await w.enqueue(MOSCOW_READINGS)
    assert {r.account_id for r in await w.rows()} == {keep_id, drop_id}
    async with w.app.session_factory() as session:
        await Services(session, w.app).accounts.unlink(FIRST_USER, drop_id)
    async with w.app.session_factory() as session:
        counts = {
            table.__tablename__: await session.scalar(
                select(func.count()).select_from(table).where(table.account_id == drop_id))
            for table in (ReminderSettingsRow, ReminderDelivery)
        }
        assert counts == {"reminder_settings": 0, "reminder_deliveries": 0}
        due = await ReminderService(session, w.app).due_at(MOSCOW_READINGS)
        assert {item.account_id for item in due} == {keep_id}
        assert await session.get(ReminderSettingsRow, keep_id) is not None
        # Deleting the user takes their preferences and everything else with them.
        await ReminderService(session, w.app).set_timezone(FIRST_USER, "Asia/Omsk")
        await Services(session, w.app).users.delete_all_data(FIRST_USER)
    async with w.app.session_factory() as session:
        assert await session.get(ReminderPrefs, FIRST_USER) is None
        repo = ReminderRepository(session)
        assert await repo.for_user(FIRST_USER) == []


async def test_a_reminder_that_cannot_be_prepared_is_given_up(world: World,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    w = world
    await moscow_users(w, 1)
    await w.enqueue(MOSCOW_READINGS)

    async def broken(self: ReminderContent, row: Any, now: datetime) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(ReminderContent, "prepare", broken)
    stats = await w.sender(max_attempts=2).drain(wait_for_retries=5)
    assert [(r.status, r.reason, r.attempts) for r in await w.rows()] == [
        ("failed", "error", 1)]
    assert stats.failed == 1 and w.api.calls_of("sendMessage") == []
