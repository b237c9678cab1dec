"""The readings outbox without the chat: claiming, retries with backoff, taking over a dead
process's claim with the same key, giving up, telling the user, and the schema."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import warnings
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiogram.exceptions import TelegramForbiddenError, TelegramNetworkError
from aiogram.methods import SendMessage
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, update

from bot.billing.demo import DemoAccountEntry
from bot.billing.models import AccountRef, Period, ReadingSubmission
from bot.db import migrate
from bot.db.engine import create_engine
from bot.db.models import Base
from bot.db.models_readings import OutboxStatus, QueuedReading
from bot.faults import CRASH_ENV, CRASH_EXIT_CODE, crash_point
from bot.readings_outbox import ReadingsOutboxWorker
from bot.services import Services
from bot.services.readings import Draft, OutboxPolicy, new_key, retry_delay
from tests.test_linking import Clock, demo, entries, link_directly, register
from tests.test_readings import NOON

# --- pure parts -----------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    policy = OutboxPolicy(base_delay=timedelta(seconds=30), max_delay=timedelta(minutes=30))
    full = [retry_delay(n, policy, rand=lambda: 1.0) for n in range(1, 10)]
    assert full[:4] == [timedelta(seconds=s) for s in (30, 60, 120, 240)]
    assert full[-1] == timedelta(minutes=30)  # capped
    # the jitter takes off at most half, so retries spread but never come sooner than that
    assert retry_delay(3, policy, rand=lambda: 0.0) == timedelta(seconds=60)
    spread = {retry_delay(3, policy) for _ in range(50)}
    assert len(spread) > 1
    assert all(timedelta(seconds=60) <= d <= timedelta(seconds=120) for d in spread)


def test_crash_point_is_off_unless_named() -> None:
    os.environ.pop(CRASH_ENV, None)
    crash_point("reading.before_submit")  # returns: nothing set
    script = ("from bot.faults import crash_point; crash_point('reading.before_submit'); "
              "print('alive')")
    for value, code, alive in (("reading.after_submit", 0, True),
                               ("reading.before_submit", CRASH_EXIT_CODE, False)):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              env={**os.environ, CRASH_ENV: value}, timeout=60, check=False)
        assert done.returncode == code
        assert ("alive" in done.stdout) is alive


async def test_migration_matches_the_models(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        await migrate.upgrade(engine)

        def diff(connection: Any) -> list[Any]:
            context = MigrationContext.configure(connection)
            with warnings.catch_warnings():
                # SQLite cannot reflect other tables' expression indexes; not ours to check.
                warnings.simplefilter("ignore")
                found = compare_metadata(context, Base.metadata)
            return [d for d in found if "readings_outbox" in repr(d)]

        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()


# --- with a bot, a database and the demo billing system -------------------------------------


class Setup:
    def __init__(self, env: Any, client: Any, entry: DemoAccountEntry, clock: Clock) -> None:
        self.mark = len(env.session.requests)  # what the bot said before is not news
        self.env = env
        self.client = client
        self.entry = entry
        self.clock = clock
        self.app = env.runtime.app

    async def draft(self, add: int = 10, key: str | None = None) -> Draft:
        async with self.app.session_factory() as session:
            services = Services(session, self.app)
            [account] = await services.accounts.list_for(self.client.user.id)
            [meter] = await services.readings.meters(account)
        assert meter.last is not None
        return Draft(user_id=self.client.user.id, account=account, meter=meter,
                     values=(meter.last.values[0] + add,), period=Period(2026, 11),
                     key=key or new_key())

    async def submit(self, draft: Draft) -> QueuedReading:
        async with self.app.session_factory() as session:
            return await Services(session, self.app).readings.submit(draft)

    async def rows(self) -> list[QueuedReading]:
        async with self.app.session_factory() as session:
            return list(await session.scalars(select(QueuedReading).order_by(QueuedReading.id)))

    async def set(self, item_id: int, **values: Any) -> None:
        async with self.app.session_factory() as session:
            await session.execute(update(QueuedReading).where(QueuedReading.id == item_id)
                                  .values(**values))
            await session.commit()

    def worker(self, bot: Any = None) -> ReadingsOutboxWorker:
        return ReadingsOutboxWorker(self.app, self.env.runtime.i18n,
                                    bot=bot or self.env.bot, rand=lambda: 1.0)

    def news(self) -> list[str]:
        return [r.text or "" for r in self.env.session.requests[self.mark:]
                if r.method == "sendMessage" and r.chat_id == self.client.user.id]


async def setup(bot_env: Any, code: str = "mrg_krasnodar", lang: str = "ru",
                kind: str = "house", now: datetime = NOON) -> Setup:
    env = await bot_env(throttle_rate=0)
    clock = Clock(now)
    env.runtime.app.clock = clock
    env.runtime.app.billing.clock = clock
    client = env.client(language_code=lang)
    await register(client, lang)
    entry = next(e for e in await entries(env, code) if e.kind == kind)
    await link_directly(env, client.user.id, entry)
    return Setup(env, client, entry, clock)


async def test_outage_backoff_then_delivery_and_one_piece_of_news(bot_env: Any) -> None:
    s = await setup(bot_env, lang="en")
    billing = demo(s.env)
    draft = await s.draft()
    billing.outage = True
    item = await s.submit(draft)
    assert (item.status, item.attempts, item.notified) == ("queued", 1, False)
    # the first retry in 15 to 30 seconds: 30 less a random part of its half
    assert NOON + timedelta(seconds=15) <= item.next_attempt_at <= NOON + timedelta(seconds=30)
    worker = s.worker()

    # still down at the retry: the next wait is twice as long
    s.clock.now = NOON + timedelta(seconds=31)
    assert (await worker.run_once()).attempted == [OutboxStatus.QUEUED]
    [row] = await s.rows()
    assert row.attempts == 2 and row.next_attempt_at == s.clock.now + timedelta(seconds=60)
    assert billing.readings_inserted == 0 and s.news() == []

    billing.outage = False
    s.clock.now += timedelta(seconds=61)
    result = await worker.run_once()
    assert result.attempted == [OutboxStatus.ACCEPTED] and result.told == 1
    [row] = await s.rows()
    assert row.status == "accepted" and row.notified and row.attempts == 3
    [news] = s.news()
    assert "Your reading has reached <b>Gazprom Mezhregiongaz Krasnodar</b>" in news
    assert f"Reference number: <code>{row.reference}</code>" in news
    assert await billing.count_readings(idempotency_key=draft.key) == 1
    # the same confirmation delivered again (a double tap): the stored row, no new reading
    again = await s.submit(draft)
    assert again.id == row.id and again.status == "accepted"
    assert len(await s.rows()) == 1 and billing.readings_inserted == 1


async def test_two_workers_never_send_the_same_reading(bot_env: Any) -> None:
    s = await setup(bot_env)
    billing = demo(s.env)
    drafts = [await s.draft(add=n) for n in (5, 6, 7)]
    billing.outage = True
    # three readings of three different meters would be the realistic case; one meter
    # with three readings is harder: each must still be sent exactly once
    for draft in drafts:
        await s.submit(draft)
    billing.outage = False
    billing.delay = 0.05  # long enough for the workers' rounds to overlap
    s.clock.now = NOON + timedelta(minutes=5)
    first, second = s.worker(), s.worker()
    one, two = await asyncio.gather(first.run_once(), second.run_once())
    assert len(one.attempted) + len(two.attempted) == 3
    assert one.told + two.told == 3
    for draft in drafts:
        assert await billing.count_readings(idempotency_key=draft.key) == 1
    assert len(s.news()) == 3


async def test_a_dead_processs_claim_is_taken_over_with_the_same_key(bot_env: Any) -> None:
    """What `kill -9` right after the billing system answered leaves behind: the billing
    side has the reading, the outbox row says «sending»."""
    s = await setup(bot_env)
    billing = demo(s.env)
    draft = await s.draft()
    billing.outage = True
    item = await s.submit(draft)
    billing.outage = False
    ack = await billing.submit_reading(
        AccountRef(item.supplier_code, item.number, item.unit),
        ReadingSubmission(item.meter_id, draft.values, item.idempotency_key, item.created_at))
    claimed = NOON + timedelta(minutes=1)
    await s.set(item.id, status="sending", claimed_at=claimed, claim_token="dead")
    worker = s.worker()

    # a claim younger than the lease may belong to a live process: left alone
    s.clock.now = claimed + timedelta(minutes=4)
    assert (await worker.run_once()).attempted == []
    # older: taken over, sent again with the same key, answered with the first ack
    s.clock.now = claimed + timedelta(minutes=6)
    assert (await worker.run_once()).attempted == [OutboxStatus.ACCEPTED]
    [row] = await s.rows()
    assert row.reference == ack.reference and row.notified
    assert await billing.count_readings(idempotency_key=draft.key) == 1
    assert billing.readings_inserted == 1


async def test_a_late_rejection_is_explained(bot_env: Any) -> None:
    """Queued late on the last day of the window, the billing system back after midnight."""
    # Ижевск: Europe/Samara (UTC+4), readings from the 15th to the 25th; 19:00 there
    evening = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    s = await setup(bot_env, code="mrg_izhevsk", now=evening)
    billing = demo(s.env)
    draft = await s.draft()
    billing.outage = True
    await s.submit(draft)
    billing.outage = False
    s.clock.now = datetime(2026, 11, 25, 21, 0, tzinfo=UTC)  # 01:00 on the 26th there
    assert (await s.worker().run_once()).attempted == [OutboxStatus.REJECTED]
    [row] = await s.rows()
    assert row.reject_code == "out_of_window" and row.notified
    [news] = s.news()
    assert "не принял показания" in news
    assert "показания принимаются с 15 по 25 число месяца" in news


async def test_given_up_after_the_maximum_age(bot_env: Any) -> None:
    s = await setup(bot_env)
    draft = await s.draft()
    demo(s.env).outage = True
    await s.submit(draft)
    s.clock.now = NOON + OutboxPolicy().max_age + timedelta(minutes=1)
    result = await s.worker().run_once()
    assert result.expired == 1 and result.attempted == [] and result.told == 1
    [row] = await s.rows()
    assert row.status == "failed"
    [news] = s.news()
    assert "Не удалось получить" in news and "передайте показания снова" in news
    assert demo(s.env).readings_inserted == 0


class FailingBot:
    """A Bot whose messages fail as Telegram may fail them."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    async def send_message(self, **kwargs: Any) -> None:
        self.calls += 1
        raise self.error


@pytest.mark.parametrize(("error", "retried"), [
    (TelegramForbiddenError(SendMessage(chat_id=1, text="x"), "Forbidden: bot was blocked"),
     False),
    (TelegramNetworkError(SendMessage(chat_id=1, text="x"), "timeout"), True),
])
async def test_news_that_cannot_be_delivered(bot_env: Any, error: Exception,
                                             retried: bool) -> None:
    s = await setup(bot_env)
    draft = await s.draft()
    demo(s.env).outage = True
    await s.submit(draft)
    demo(s.env).outage = False
    s.clock.now = NOON + timedelta(minutes=5)
    failing = FailingBot(error)
    await s.worker(bot=failing).run_once()
    [row] = await s.rows()
    assert row.status == "accepted"
    # blocked: nothing more to do; a network error: told on a later round
    assert row.notified is not retried
    told = await s.worker().tell_users()
    assert told == (1 if retried else 0)


async def test_unlinking_or_deleting_the_user_removes_queued_readings(bot_env: Any) -> None:
    s = await setup(bot_env)
    draft = await s.draft()
    demo(s.env).outage = True
    await s.submit(draft)
    async with s.app.session_factory() as session:
        services = Services(session, s.app)
        [account] = await services.accounts.list_for(s.client.user.id)
        await services.accounts.unlink(s.client.user.id, account.id)
    assert await s.rows() == []

    demo(s.env).outage = False
    await link_directly(s.env, s.client.user.id, s.entry)
    draft = await s.draft()
    demo(s.env).outage = True
    await s.submit(draft)
    assert len(await s.rows()) == 1
    async with s.app.session_factory() as session:
        await Services(session, s.app).users.delete_all_data(s.client.user.id)
    assert await s.rows() == []


async def test_values_are_stored_as_exact_decimal_strings(bot_env: Any) -> None:
    s = await setup(bot_env, code="mrg_spb", kind="flat")
    draft = await s.draft(add=0)
    demo(s.env).outage = True
    draft = Draft(user_id=draft.user_id, account=draft.account, meter=draft.meter,
                  values=(draft.values[0] + Decimal("0.00001"),), period=draft.period,
                  key=draft.key)
    await s.submit(draft)
    [row] = await s.rows()
    assert row.values == format(draft.values[0], "f")
    assert Decimal(row.values) == draft.values[0]


# --- the repository's compare-and-set, on SQLite and PostgreSQL -----------------------------


async def test_claims_and_outcomes_are_compare_and_set(db_url: str) -> None:
    from bot.db.engine import create_session_factory
    from bot.db.models import User
    from bot.db.models_accounts import LinkedAccount
    from bot.db.repositories.readings import OutboxRepository

    engine = create_engine(db_url)
    try:
        await migrate.upgrade(engine)
        factory = create_session_factory(engine)
        now = NOON
        async with factory() as session:
            session.add(User(id=77, language="ru"))
            await session.flush()
            account = LinkedAccount(user_id=77, supplier_code="mrg_perm", number="59012345",
                                    owner_masked="И*", address_masked="г. П*")
            session.add(account)
            await session.commit()
            item, created = await OutboxRepository(session).add_once(QueuedReading(
                user_id=77, account_id=account.id, supplier_code="mrg_perm",
                number="59012345", meter_id="m1", meter_serial="1", zones="total",
                values="123.45", period="2026-11", idempotency_key="k1",
                status="queued", attempts=0, next_attempt_at=now, notified=False,
                created_at=now, updated_at=now))
            assert created
            again, created = await OutboxRepository(session).add_once(QueuedReading(
                user_id=77, account_id=account.id, supplier_code="mrg_perm",
                number="59012345", meter_id="m1", meter_serial="1", zones="total",
                values="123.45", period="2026-11", idempotency_key="k1",
                status="queued", attempts=0, next_attempt_at=now, notified=False,
                created_at=now, updated_at=now))
            assert not created and again.id == item.id

        stale_before = now - timedelta(minutes=5)

        async def claim() -> str | None:
            async with factory() as session:
                return await OutboxRepository(session).claim(item.id, now, stale_before)

        tokens = await asyncio.gather(*(claim() for _ in range(5)))
        [token] = [t for t in tokens if t is not None]  # exactly one winner
        async with factory() as session:
            repo = OutboxRepository(session)
            # a claim that is not stale cannot be taken over, an outcome needs the token
            assert await repo.claim(item.id, now, stale_before) is None
            assert not await repo.accept(item.id, "someone-else", reference="R", now=now,
                                         billing_state="accepted", accepted_at=now,
                                         notified=False)
            # once stale, it is taken over; the old token is then worthless
            later = now + timedelta(minutes=6)
            new_token = await repo.claim(item.id, later, later - timedelta(minutes=5))
            assert new_token is not None and new_token != token
            assert not await repo.release(item.id, token, next_attempt_at=later, now=later)
            assert await repo.accept(item.id, new_token, reference="R-1", now=later,
                                     billing_state="accepted", accepted_at=later,
                                     notified=False)
            row = await repo.get(item.id)
            assert row is not None and (row.status, row.attempts) == ("accepted", 2)
            assert await repo.due(later + timedelta(days=1), later, 10) == []
            [(untold, language)] = await repo.untold(10)
            assert untold.id == item.id and language == "ru"
            assert await repo.claim_notification(item.id)
            assert not await repo.claim_notification(item.id)
            assert await repo.untold(10) == []
    finally:
        await engine.dispose()
