"""The support event log: persisted per update, readable with `python -m bot logs`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.db.repositories.events import EventLogRepository
from bot.event_store import format_event, parse_since, short_handler
from tests.support.leaks import remember

ROOT = Path(__file__).resolve().parent.parent
PHONE = "+79160001122"
remember(PHONE.lstrip("+"))


async def scripted_session(env: Any, user_id: int) -> None:
    client = env.client(user_id=user_id)
    await client.send("/start")
    await client.send_sticker()
    await client.click("✓ 🇷🇺 Русский")
    await client.click("✅ Согласен")
    await client.share_contact(PHONE)
    await client.send("bad-email")


async def test_events_are_stored_in_order_with_states(bot_env: Any) -> None:
    env = await bot_env()
    await scripted_session(env, 8101)
    await env.client(user_id=8102).send("/start")  # another user's events stay apart
    assert env.runtime.events is not None
    since = datetime.now(UTC) - timedelta(hours=1)
    events = await env.runtime.events.for_user(8101, since)
    assert [(short_handler(e.handler), e.state_before, e.state_after) for e in events] == [
        ("registration.start", None, "RegistrationStates:language"),
        ("registration.language_bad_input", "RegistrationStates:language",
         "RegistrationStates:language"),
        ("registration.language_chosen", "RegistrationStates:language",
         "RegistrationStates:consent"),
        ("registration.consent_answered", "RegistrationStates:consent",
         "RegistrationStates:phone"),
        ("registration.phone_shared", "RegistrationStates:phone", "RegistrationStates:email"),
        ("registration.email_sent", "RegistrationStates:email", "RegistrationStates:email"),
    ]
    assert [e.kind for e in events] == ["message", "message", "callback_query",
                                        "callback_query", "message", "message"]
    assert all(e.outcome == "handled" and e.chat_type == "private" for e in events)
    text = "\n".join(format_event(e) for e in events)
    assert "registration.phone_shared [RegistrationStates:phone → RegistrationStates:email]" in text
    assert "79160001122" not in text


async def test_retention_purges_old_events(bot_env: Any) -> None:
    env = await bot_env()
    await env.client(user_id=8201).send("/start")
    assert env.runtime.events is not None
    await env.runtime.events.flush()
    async with env.runtime.app.session_factory() as session:
        repo = EventLogRepository(session)
        assert await repo.purge_before(datetime.now(UTC) - timedelta(days=1)) == 0
        assert await repo.purge_before(datetime.now(UTC) + timedelta(seconds=1)) == 1
        assert await repo.for_user(8201, datetime.now(UTC) - timedelta(days=1)) == []


async def test_logs_command_prints_the_session(bot_env: Any, sqlite_url: str) -> None:
    env = await bot_env()
    await scripted_session(env, 8301)
    assert env.runtime.events is not None
    await env.runtime.events.flush()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    environment["DATABASE_URL"] = sqlite_url
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", "logs", "--user", "8301", "--since", "2h", "--json"],
        env=environment, capture_output=True, text=True, timeout=60, check=True, cwd=ROOT,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["state_after"] for line in lines] == [
        "RegistrationStates:language", "RegistrationStates:language",
        "RegistrationStates:consent", "RegistrationStates:phone", "RegistrationStates:email",
        "RegistrationStates:email"]
    assert all(line["user_id"] == 8301 for line in lines)
    text = (await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", "logs", "--user", "8301"],
        env=environment, capture_output=True, text=True, timeout=60, check=True, cwd=ROOT,
    )).stdout
    assert text.count("\n") == 6 and "registration.language_chosen" in text
    assert "79160001122" not in result.stdout + text


def test_parse_since() -> None:
    assert parse_since("90m") == timedelta(minutes=90)
    assert parse_since("2h") == timedelta(hours=2)
    assert parse_since("3d") == timedelta(days=3)
    assert parse_since("5") == timedelta(hours=5)
