"""The scheduler: the tick job as documented (id, coalesce, max_instances, misfire grace) in
the database job store (SQLite and PostgreSQL) and in Redis; two bot runtimes on one database
and one Redis (DB 13) → only the leader fires; after downtime, a missed reminder within its
grace period is sent once, however many ticks follow."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from redis import Redis as SyncRedis
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import text

from bot.db import migrate
from bot.db.engine import create_engine
from bot.reminders.engine import ReminderEngine
from bot.reminders.scheduler import (
    REDIS_JOBS_KEY,
    REDIS_RUN_TIMES_KEY,
    TICK_JOB_ID,
    ReminderScheduler,
    build_job_store,
    sync_database_url,
)
from tests.support.services import require_redis
from tests.test_reminders_delivery import MOSCOW_READINGS, RunningClock

REDIS_13 = "redis://127.0.0.1:6379/13"


async def wait_until(predicate: Callable[[], bool], timeout: float) -> None:
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, "condition not reached in time"
        await asyncio.sleep(0.05)


def clear_redis_jobs() -> None:
    client = SyncRedis.from_url(REDIS_13)
    try:
        client.delete(REDIS_JOBS_KEY, REDIS_RUN_TIMES_KEY)
    finally:
        client.close()


async def test_tick_job_in_the_database_job_store(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await migrate.upgrade(engine)  # creates apscheduler_jobs
    finally:
        await engine.dispose()
    ticks: list[float] = []

    async def tick() -> None:
        ticks.append(time.monotonic())

    scheduler = ReminderScheduler(tick, interval=0.3, name=f"db-{uuid.uuid4().hex[:6]}",
                                  job_store=lambda: build_job_store(db_url, None))
    scheduler.start()
    try:
        await wait_until(lambda: len(ticks) >= 3, 5)
        job = scheduler.job()
        assert job.id == TICK_JOB_ID
        assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, None)
        assert job.trigger.interval == timedelta(seconds=0.3)
    finally:
        scheduler.stop()
    # Persisted in the table the migration made, by the synchronous driver of the backend.
    sync = create_sync_engine(sync_database_url(db_url))
    try:
        with sync.connect() as conn:
            ids = [row[0] for row in conn.execute(text("SELECT id FROM apscheduler_jobs"))]
    finally:
        sync.dispose()
    assert ids == [TICK_JOB_ID]


async def test_the_first_tick_is_immediate(sqlite_url: str) -> None:
    """The catch-up after a start: the first tick runs at once, not an interval later (with
    an hour's interval, a tick within the wait below can only be the immediate one)."""
    engine = create_engine(sqlite_url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()
    ticks: list[float] = []

    async def tick() -> None:
        ticks.append(time.monotonic())

    scheduler = ReminderScheduler(tick, interval=3600, name=f"now-{uuid.uuid4().hex[:6]}",
                                  job_store=lambda: build_job_store(sqlite_url, None))
    scheduler.start()
    try:
        await wait_until(lambda: len(ticks) == 1, 30)
    finally:
        scheduler.stop()


@pytest.mark.redis
async def test_tick_job_in_redis() -> None:
    require_redis()
    clear_redis_jobs()
    count = 0

    async def tick() -> None:
        nonlocal count
        count += 1

    scheduler = ReminderScheduler(tick, interval=60, name="redis-store",
                                  job_store=lambda: build_job_store("sqlite+aiosqlite://",
                                                                    REDIS_13))
    scheduler.start()
    try:
        await wait_until(lambda: count == 1, 3)
        client = SyncRedis.from_url(REDIS_13)
        try:
            assert client.hexists(REDIS_JOBS_KEY, TICK_JOB_ID)
        finally:
            client.close()
    finally:
        scheduler.stop()
        clear_redis_jobs()


async def test_the_sqlite_job_store_never_waits_for_the_bots_write_lock(tmp_path: Any) -> None:
    """Regression: the job store shared the bot's SQLite file. Its synchronous write waited
    for a lock held by the bot's own connection, on the event loop that connection needed:
    the whole bot stood still for the busy timeout (30 s), then the scheduler stopped."""
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    engine = create_engine(db_url)
    ticks: list[float] = []

    async def tick() -> None:
        ticks.append(time.monotonic())

    scheduler = ReminderScheduler(tick, interval=0.2, name=f"lock-{uuid.uuid4().hex[:6]}",
                                  job_store=lambda: build_job_store(db_url, None))
    try:
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            await conn.exec_driver_sql("BEGIN IMMEDIATE")  # an update's write transaction
            await conn.exec_driver_sql("UPDATE users SET language = language")
            started = time.monotonic()
            scheduler.start()
            await wait_until(lambda: len(ticks) >= 3, 10)
            # The loop stayed free: the ticks came on time while the lock was held.
            assert ticks[-1] - started < 5
            await conn.exec_driver_sql("ROLLBACK")
    finally:
        scheduler.stop()
        await engine.dispose()
    assert (tmp_path / "bot.jobs.sqlite3").exists()


def test_sync_urls() -> None:
    assert sync_database_url("sqlite+aiosqlite:///data/bot.sqlite3") == (
        "sqlite:///data/bot.jobs.sqlite3")
    assert sync_database_url("sqlite+aiosqlite://") == "sqlite://"
    assert sync_database_url("postgresql+asyncpg://bot:pw@db:5432/gasbot") == (
        "postgresql+psycopg://bot:pw@db:5432/gasbot")


async def seed(env: Any, n: int, first_id: int) -> list[int]:
    from bot.cli_reminders import seed_demo_users

    await seed_demo_users(env.runtime.app.session_factory, env.runtime.app.catalog, n,
                          supplier="mrg_moscow", first_id=first_id)
    return [first_id + i for i in range(n)]


def reminders_sent(env: Any) -> dict[int, int]:
    counts: dict[int, int] = {}
    for request in env.session.requests:
        if request.method == "sendMessage" and "показания" in (request.text or ""):
            counts[request.chat_id] = counts.get(request.chat_id, 0) + 1
    return counts


@pytest.mark.redis
async def test_two_processes_only_the_leader_fires(bot_env: Callable[..., Any],
                                                   sqlite_url: str) -> None:
    require_redis()
    clear_redis_jobs()
    overrides = {"redis_url": REDIS_13, "reminders_tick_seconds": 0.2,
                 "reminders_leader_ttl": 1.5, "reminders_leader_renew": 0.3,
                 "database_url": sqlite_url}
    one = await bot_env(**overrides)
    two = await bot_env(**overrides)
    clock = RunningClock(MOSCOW_READINGS)
    one.runtime.app.clock = clock
    two.runtime.app.clock = clock
    users = await seed(one, 4, 7_700_000_001)
    key = f"test:reminders:leader:{uuid.uuid4().hex}"
    a = ReminderEngine(one.runtime, scheduler_name="a", leader_key=key)
    b = ReminderEngine(two.runtime, scheduler_name="b", leader_key=key)
    await a.start(one.bot)
    await b.start(two.bot)
    try:
        await wait_until(lambda: sum(reminders_sent(one).values()) == 4, 10)
        await asyncio.sleep(1.0)  # several more ticks
        assert a.scheduler.ticks >= 3 and b.scheduler.ticks == 0
        assert a.scheduler.running and not b.scheduler.running
        assert reminders_sent(one) == dict.fromkeys(users, 1) and reminders_sent(two) == {}
        # The leader goes away: the other takes over and fires, and sends nothing again.
        await a.stop()
        await wait_until(lambda: b.scheduler.ticks >= 2, 5)
        assert b.leader.is_leader and not a.scheduler.running
        await asyncio.sleep(0.5)
        assert reminders_sent(two) == {}
        assert reminders_sent(one) == dict.fromkeys(users, 1)
    finally:
        await b.stop()
        await a.stop()
        clear_redis_jobs()


async def test_after_downtime_a_missed_reminder_is_sent_once(bot_env: Callable[..., Any]
                                                             ) -> None:
    env = await bot_env(reminders_tick_seconds=0.2)
    # The bot was down at 07:00 UTC; it starts three hours later, within the 6 h grace.
    env.runtime.app.clock = RunningClock(MOSCOW_READINGS + timedelta(hours=3))
    users = await seed(env, 3, 7_700_000_101)
    engine = ReminderEngine(env.runtime, scheduler_name="downtime")
    await engine.start(env.bot)
    try:
        await wait_until(lambda: sum(reminders_sent(env).values()) == 3, 10)
        await wait_until(lambda: engine.scheduler.ticks >= 8, 5)
    finally:
        await engine.stop()
    assert reminders_sent(env) == dict.fromkeys(users, 1)
    # Too late: seven hours after, nothing is planned.
    env2 = await bot_env(reminders_tick_seconds=0.2)
    env2.runtime.app.clock = RunningClock(MOSCOW_READINGS + timedelta(hours=7))
    await seed(env2, 2, 7_700_000_201)
    late = ReminderEngine(env2.runtime, scheduler_name="late")
    await late.start(env2.bot)
    try:
        await wait_until(lambda: late.scheduler.ticks >= 3, 5)
    finally:
        await late.stop()
    assert reminders_sent(env2) == {}
