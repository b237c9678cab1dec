"""Reminders end to end: the bot as a process (`python -m bot`) polling the local,
spec-checking Bot API server (Telegram's limits on: 30 messages a second, one a second per
chat), and the operator's `python -m bot reminders send-due` as another process.

- A reminder sent by `send-due` arrives with its buttons; «turn off» and «submit readings»
  work in the running bot; `send-due` for the same moment again sends nothing.
- `send-due` killed (SIGKILL) after k of n sends and run again: every user gets exactly one.
- The running bot leads and runs the reminders scheduler, whose job is in the database.

The bot process runs on the real clock, which a test cannot move; so where the moment
matters the reminders are sent by `send-due --at` and the bot's own scheduler is off
(REMINDERS_ENABLED=false). The scheduler's timing is tested in-process with a controlled
clock (tests/test_reminders_scheduler.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from bot.app import open_runtime
from bot.billing.demo import DemoBillingConnector
from bot.cli_reminders import seed_demo_users
from bot.reminders.models import ReadingsAnchor
from bot.services import Services
from tests.botapi.server import FakeBotAPI, RateLimits
from tests.conftest import TEST_TOKEN, make_settings
from tests.support import leaks
from tests.support.e2e import ROOT, BotProcess, E2EUser

pytestmark = pytest.mark.e2e

PHONE = "+79165550188"
leaks.remember(PHONE.lstrip("+"))
USER_ID = 7801
# Краснодар accepts readings on any day; the user asked to be reminded on the window's last
# day: 31 December, 10:00 MSK, a day no other reminder falls on.
MOMENT = "2026-12-31T10:00+03:00"
LIMITS = RateLimits(global_per_second=30, per_chat_per_second=1)


def db_url(workdir: Path) -> str:
    return f"sqlite+aiosqlite:///{workdir / 'bot.sqlite3'}"


async def prepare_user(workdir: Path) -> str:
    """A registered user with a Krasnodar demo account, as after the chat; returns the
    account number."""
    settings = make_settings(db_url(workdir))
    async with AsyncExitStack() as stack:
        runtime = await open_runtime(settings, stack)
        app = runtime.app
        connector = app.billing.for_supplier("mrg_krasnodar")
        assert isinstance(connector, DemoBillingConnector)
        house = next(e for e in await connector.demo_accounts(["mrg_krasnodar"])
                     if e.kind == "house")
        leaks.remember(house.number)
        async with app.session_factory() as session:
            services = Services(session, app)
            user = await services.users.choose_language(USER_ID, "ru")
            await services.users.give_consent(user)
            await services.users.save_contact(user, PHONE, USER_ID)
            await services.users.complete_registration(user)
            account = await services.linking.link(USER_ID, house.ref, house.proofs[0])
            await services.reminders.set_readings_day(USER_ID, account.id,
                                                      ReadingsAnchor.END, 0)
        return house.number


async def prepare_many(workdir: Path, n: int, first_id: int) -> list[int]:
    settings = make_settings(db_url(workdir))
    async with AsyncExitStack() as stack:
        runtime = await open_runtime(settings, stack)
        await seed_demo_users(runtime.app.session_factory, runtime.app.catalog, n,
                              supplier="mrg_moscow", first_id=first_id)
    return [first_id + i for i in range(n)]


def cli_env(api: FakeBotAPI, workdir: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items()
           if not k.startswith(("BOT_", "DATABASE_", "REDIS_", "LOG_", "TELEGRAM_"))},
        "BOT_TOKEN": api.token, "TELEGRAM_API_URL": api.base_url,
        "DATABASE_URL": db_url(workdir), "LOG_FORMAT": "json",
    }


async def start_cli(api: FakeBotAPI, workdir: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "reminders", *args, cwd=workdir,
        env={**cli_env(api, workdir), "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def run_cli(api: FakeBotAPI, workdir: Path, *args: str) -> tuple[int, str]:
    proc = await start_cli(api, workdir, *args)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode() + err.decode()


def sent_reminders(api: FakeBotAPI) -> Counter[int]:
    return Counter(int(c.chat_id) for c in api.calls_of("sendMessage")
                   if c.ok and c.chat_id is not None
                   and "счётчика газа" in str(c.params.get("text", "")))


def query(workdir: Path, sql: str, file: str = "bot.sqlite3") -> list[tuple[object, ...]]:
    db = sqlite3.connect(workdir / file)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


async def test_reminder_with_buttons_and_send_due_twice(tmp_path: Path) -> None:
    number = await prepare_user(tmp_path)
    async with FakeBotAPI(TEST_TOKEN, limits=LIMITS) as api:
        # Listing first: what is due, masked; nothing sent.
        code, listing = await run_cli(api, tmp_path, "due", "--at", MOMENT)
        assert code == 0, listing
        assert "readings" in listing and f"•••• {number[-4:]}" in listing
        assert number not in listing and "1 due at" in listing and "1 new" in listing
        assert api.calls_of("sendMessage") == []
        bot = BotProcess(api, tmp_path, REMINDERS_ENABLED="false")
        await bot.start()
        try:
            code, summary = await run_cli(api, tmp_path, "send-due", "--at", MOMENT)
            assert code == 0, summary
            assert "sent 1" in summary
            assert sent_reminders(api) == {USER_ID: 1}
            text = api.calls_of("sendMessage")[-1].params["text"]
            assert "Сегодня последний день приёма показаний" in text
            assert "Краснодар" in text and f"•••• {number[-4:]}" in text and number not in text
            user = E2EUser(api, USER_ID)
            # «Turn off»: answered, the button becomes «remind me again», the setting is off.
            await user.click("🔕 Больше не напоминать об этом",
                             expect=lambda c: c.method == "editMessageReplyMarkup")
            assert user.last_message_with_button("🔔 Снова напоминать")
            assert query(tmp_path, "SELECT readings_on FROM reminder_settings") == [(0,)]
            # «Submit readings» opens the readings feature at this account.
            await user.click("📟 Передать показания")
            assert any("Показания" in t or "показания" in t for t in user.texts()[-2:])
            # The same moment again: nothing new, nothing sent.
            before = len(api.calls_of("sendMessage"))
            code, summary = await run_cli(api, tmp_path, "send-due", "--at", MOMENT)
            assert code == 0, summary
            assert "sent 0" in summary
            assert sent_reminders(api) == {USER_ID: 1}
            assert len([c for c in api.calls_of("sendMessage")[before:]
                        if c.chat_id == USER_ID]) == 0
        finally:
            assert await bot.stop() == 0, bot.output[-2000:]
        api.assert_no_violations()


async def wait_for(predicate, timeout: float) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.002)


async def test_send_due_killed_mid_fan_out_then_run_again(tmp_path: Path) -> None:
    users = await prepare_many(tmp_path, 14, 7_900_000_001)
    moment = "2026-11-15T10:00+03:00"  # Moscow's window opens
    async with FakeBotAPI(TEST_TOKEN, limits=LIMITS) as api:
        proc = await start_cli(api, tmp_path, "send-due", "--at", moment)
        await wait_for(lambda: sum(sent_reminders(api).values()) >= 5, 60)
        proc.send_signal(signal.SIGKILL)  # a crash: no shutdown, no cleanup
        await proc.wait()
        delivered = sum(sent_reminders(api).values())
        assert 5 <= delivered < len(users)
        code, summary = await run_cli(api, tmp_path, "send-due", "--at", moment)
        assert code == 0, summary
        # Every user exactly one: nothing lost, nothing twice.
        assert sent_reminders(api) == dict.fromkeys(users, 1)
        assert api.rejected_429 == 0
        statuses = Counter(row[0] for row in query(
            tmp_path, "SELECT status FROM reminder_deliveries"))
        # At most the one row the kill caught between Telegram's answer and the database.
        assert statuses["sent"] >= len(users) - 1
        assert statuses["sent"] + statuses["sending"] == len(users)
        api.assert_no_violations()


async def test_the_running_bot_runs_the_scheduler(tmp_path: Path) -> None:
    await prepare_user(tmp_path)
    async with FakeBotAPI(TEST_TOKEN, limits=LIMITS) as api:
        bot = BotProcess(api, tmp_path)
        await bot.start()
        try:
            await wait_for(lambda: any(e.get("message") == "reminders scheduler started: a "
                                       "tick every 60.0s" for e in bot.log_events()), 20)
            # With SQLite the job has a file of its own (see bot/reminders/scheduler.py).
            jobs = query(tmp_path, "SELECT id, next_run_time FROM apscheduler_jobs",
                         "bot.jobs.sqlite3")
            assert [row[0] for row in jobs] == ["reminders:tick"]
        finally:
            assert await bot.stop() == 0, bot.output[-2000:]
        events = [e.get("message") for e in bot.log_events()]
        assert "background service started: reminders" in events
        assert "reminders scheduler stopped" in events
        api.assert_no_violations()
