"""Chaos: bot processes in webhook mode behind a (simulated) load balancer, sharing Redis and
PostgreSQL, killed with SIGKILL at bad moments and stopped with SIGTERM mid-update.

Updates travel as Telegram sends them: POSTed with the secret header to an instance's
webhook; an instance that does not take one is skipped for the next, as a load balancer does
(tests/support/instances.py). The bots' outgoing calls go to the local Bot API server, which
checks each against the Bot API spec.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, update

from bot.app import Runtime, open_runtime
from bot.billing.demo import DemoAccountEntry, DemoBillingConnector
from bot.db.models_accounts import LinkedAccount
from bot.db.models_readings import QueuedReading
from bot.faults import CRASH_ENV, CRASH_EXIT_CODE
from bot.readings_outbox import fmt_reading
from bot.services import Services
from tests.botapi import updates
from tests.botapi.server import ApiCall, FakeBotAPI
from tests.conftest import TEST_TOKEN, make_settings
from tests.support import leaks
from tests.support.instances import (
    SECRET,
    Telegram,
    WebhookInstance,
    WebhookUser,
    fresh_redis,
)

pytestmark = pytest.mark.e2e

PHONE = "+79165550101"
leaks.remember(PHONE.lstrip("+"))


class SlowBotAPI(FakeBotAPI):
    """Answers `sendMessage` to the chats in `slow` only after that many seconds, as a
    congested Telegram would; `started` holds the calls received, before they are answered."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.slow: dict[int, float] = {}
        self.started: list[ApiCall] = []

    async def _dispatch(self, call: ApiCall) -> Any:
        self.started.append(call)
        delay = self.slow.get(call.chat_id) if isinstance(call.chat_id, int) else None
        if delay and call.method == "sendMessage":
            await asyncio.sleep(delay)
        return await super()._dispatch(call)


@dataclass
class Stage:
    api: SlowBotAPI
    telegram: Telegram
    a: WebhookInstance
    b: WebhookInstance
    billing: Runtime  # the test's own view of the shared database (demo billing tables)

    def user(self, user_id: int, language_code: str = "ru", prefer: int | None = None
             ) -> WebhookUser:
        return WebhookUser(self.telegram, user_id, language_code=language_code, prefer=prefer)

    def demo(self, code: str = "mrg_perm") -> DemoBillingConnector:
        connector = self.billing.app.billing.for_supplier(code)
        assert isinstance(connector, DemoBillingConnector)
        return connector


@asynccontextmanager
async def stage(tmp_path: Path, postgres_url: str, a_env: dict[str, str] | None = None,
                **env: str) -> AsyncIterator[Stage]:
    await fresh_redis()
    async with AsyncExitStack() as stack:
        # Migrates the fresh database once, before any instance starts.
        billing = await open_runtime(make_settings(postgres_url), stack)
        api = SlowBotAPI(TEST_TOKEN)
        await stack.enter_async_context(api)
        a = WebhookInstance(api, tmp_path, "a", database_url=postgres_url,
                            env={**env, **(a_env or {})})
        b = WebhookInstance(api, tmp_path, "b", database_url=postgres_url, env=env)
        stack.push_async_callback(b.kill)
        stack.push_async_callback(a.kill)
        await a.start()
        await b.start()
        telegram = await stack.enter_async_context(Telegram(api, [a, b]))
        yield Stage(api, telegram, a, b, billing)
        assert api.violations == []
        for instance in (a, b):
            found = leaks.scan_files([instance.log_file], secrets=(TEST_TOKEN, SECRET))
            assert found == [], (instance.name, found)


async def entries(stage: Stage, code: str) -> list[DemoAccountEntry]:
    found = await stage.demo(code).demo_accounts([code])
    for entry in found:
        leaks.remember(entry.number)
    return found


async def linked(stage: Stage, user_id: int) -> list[LinkedAccount]:
    async with stage.billing.app.session_factory() as session:
        return list(await session.scalars(
            select(LinkedAccount).where(LinkedAccount.user_id == user_id)))


async def eventually(condition: Callable[[], bool], timeout: float = 15) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout}s")
        await asyncio.sleep(0.1)


def events_of(instance: WebhookInstance, user_id: int) -> list[dict[str, Any]]:
    return [e for e in instance.log_events()
            if e.get("logger") == "bot.events" and e.get("user_id") == user_id]


async def register_and_link(stage: Stage, user_id: int, entry: DemoAccountEntry,
                            language: str = "en") -> None:
    """Through the service layer, as the chat would have done it earlier."""
    async with stage.billing.app.session_factory() as session:
        services = Services(session, stage.billing.app)
        user = await services.users.choose_language(user_id, language)
        await services.users.give_consent(user)
        await services.users.save_contact(user, PHONE, user_id)
        await services.users.complete_registration(user)
        await services.linking.link(user_id, entry.ref, entry.proofs[0])


# --- kill -9 between the steps of a conversation ---------------------------------------------


async def test_kill_one_instance_mid_registration_then_the_other_mid_linking(
        tmp_path: Path, postgres_url: str) -> None:
    async with stage(tmp_path, postgres_url) as s:
        account = (await entries(s, "mrg_perm"))[0]
        user = s.user(9101)
        await user.send("/start")
        await user.click("✓ 🇷🇺 Русский")
        await user.click("✅ Согласен")
        assert {d.instance for d in user.deliveries} == {"a", "b"}, "both took part"
        assert "Поделитесь номером" in user.texts()[-1]

        await s.a.kill()
        assert not s.a.running
        user.prefer = 0  # the balancer still sends to A first, and has to move on
        await user.share_contact(PHONE)
        assert user.deliveries[-1].refused == ["a"] and user.deliveries[-1].instance == "b"
        await user.click("Пропустить ➡️")
        assert any("Регистрация завершена" in t for t in user.texts()[-2:])

        await s.a.start()  # back in rotation; now B dies in the middle of linking
        user.prefer = None
        await user.send("/link")
        await user.send("пермь")
        await user.click("Газпром межрегионгаз Пермь")
        await user.send(account.number)
        assert "ПИН-код" in user.texts()[-1]
        await s.b.kill()
        user.prefer = 1
        assert account.pin is not None
        await user.send(account.pin)
        assert user.deliveries[-1].refused == ["b"] and user.deliveries[-1].instance == "a"
        assert "Лицевой счёт привязан!" in user.texts()[-1]

        rows = await linked(s, user.id)
        assert [(r.supplier_code, r.number) for r in rows] == [("mrg_perm", account.number)]
        # A's log has its part of both conversations, the part before its crash included.
        states = [(e["state_before"], e["state_after"]) for e in events_of(s.a, user.id)]
        assert ("RegistrationStates:language", "RegistrationStates:consent") in states or (
            "RegistrationStates:consent", "RegistrationStates:phone") in states
        assert ("LinkStates:pin", None) in states
        assert await s.a.stop() == 0


# --- SIGTERM while an update is in flight ------------------------------------------------------


async def test_sigterm_finishes_the_updates_taken_while_the_other_takes_new_ones(
        tmp_path: Path, postgres_url: str) -> None:
    async with stage(tmp_path, postgres_url) as s:
        slow = s.user(9201, "en", prefer=0)
        s.api.slow[slow.id] = 2.5
        since = s.api.mark()
        started = len(s.api.started)
        await slow.deliver(updates.command(slow.user, "/help"))
        # A is inside the handler, waiting for Telegram to take its answer ...
        for _ in range(100):
            if any(c.chat_id == slow.id for c in s.api.started[started:]):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the slow update never reached the Bot API")
        # ... and has taken (200) the user's next update, which waits for the user's lock.
        await slow.deliver(updates.command(slow.user, "/start"))
        assert [d.instance for d in slow.deliveries] == ["a", "a"]
        assert s.a.proc is not None
        s.a.proc.terminate()
        await asyncio.sleep(0.3)
        # New updates go to B, also over the connection A kept alive: A refuses them.
        quick = s.user(9202, "en", prefer=0)
        await quick.send("/help")
        assert quick.deliveries[-1].refused == ["a"] and quick.deliveries[-1].instance == "b"
        assert s.a.running, "A is still finishing what it took"

        assert await s.a.wait_exit() == 0
        answers = [c for c in s.api.calls[since:] if c.chat_id == slow.id]
        assert [c.ok for c in answers] == [True, True]
        assert "What I can do" in answers[0].params["text"]
        assert "Choose your language" in answers[1].params["text"]
        log = "\n".join(str(e.get("message")) for e in s.a.log_events())
        assert "waiting for 2 update(s) in flight" in log
        assert "shutdown timeout" not in log
        handled = events_of(s.a, slow.id)
        assert [e["outcome"] for e in handled] == ["handled", "handled"]
        assert min(e["duration_ms"] for e in handled) >= 2400


# --- one update, both webhooks ------------------------------------------------------------------


async def test_the_same_update_posted_to_both_instances_is_answered_once(
        tmp_path: Path, postgres_url: str) -> None:
    async with stage(tmp_path, postgres_url) as s:
        user = s.user(9301, "en")
        for _ in range(3):
            update = s.telegram.enqueue(updates.command(user.user, "/help"))
            statuses = await asyncio.gather(*(s.telegram.post(update, instance)
                                              for instance in (s.a, s.b, s.a, s.b)))
            assert statuses == [200] * 4

        def duplicates() -> int:
            return sum(1 for instance in (s.a, s.b) for e in instance.log_events()
                       if e.get("outcome") == "duplicate")

        # Handled in the background after the 200s: wait for all twelve to be done with.
        await eventually(lambda: duplicates() == 9 and len(s.api.sent_to(user.id)) >= 3)
        await user.settle(0.5)
        assert len(s.api.sent_to(user.id)) == 3
        async with aiohttp.ClientSession() as http:
            for instance in (s.a, s.b):
                async with http.get(instance.base_url + "/metrics") as resp:
                    assert resp.status == 200
                    assert "bot_updates_total" in await resp.text()


# --- kill -9 in the middle of submitting a reading ----------------------------------------------


async def outbox_row(stage: Stage, user_id: int) -> QueuedReading:
    async with stage.billing.app.session_factory() as session:
        rows = list(await session.scalars(
            select(QueuedReading).where(QueuedReading.user_id == user_id)))
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.parametrize("point", ["reading.before_submit", "reading.after_submit"])
async def test_crash_mid_reading_the_survivor_delivers_it_exactly_once(
        tmp_path: Path, postgres_url: str, point: str) -> None:
    async with stage(tmp_path, postgres_url, a_env={CRASH_ENV: point}) as s:
        # Krasnodar takes readings all month: the test does not depend on the date.
        entry = next(e for e in await entries(s, "mrg_krasnodar") if e.kind == "house")
        user = s.user(9401, "en", prefer=1)
        await register_and_link(s, user.id, entry)
        last = entry.meters[0].last
        assert last is not None
        value = last.values[0] + 12
        await user.send("/reading")
        await user.send(str(value))
        assert "Submit" in str(user.last_message_with_button("✅ Submit")[0])

        # «Submit» reaches A, which dies inside the attempt (as kill -9: no cleanup at all).
        user.prefer = 0
        message, data = user.last_message_with_button("✅ Submit")
        since = s.api.mark()
        await user.deliver(updates.callback(user.user, data, message))
        assert await s.a.wait_exit() == CRASH_EXIT_CODE
        assert f"crash point reached: {point}" in s.a.output
        row = await outbox_row(s, user.id)
        assert row.status == "sending" and row.notified is False
        recorded = await s.demo("mrg_krasnodar").count_readings(
            idempotency_key=row.idempotency_key)
        assert recorded == (0 if point == "reading.before_submit" else 1)

        # A's claim is abandoned; after `stale_after` (5 min, moved back here rather than
        # waited for) B's outbox worker takes it over with the same idempotency key.
        async with s.billing.app.session_factory() as session:
            assert row.claimed_at is not None
            await session.execute(update(QueuedReading).where(QueuedReading.id == row.id)
                                  .values(claimed_at=row.claimed_at - timedelta(minutes=6)))
            await session.commit()
        news = await s.api.wait_for(
            lambda c: c.chat_id == user.id and "Your reading has reached" in str(
                c.params.get("text")), timeout=40, since=since)
        assert news.ok
        row = await outbox_row(s, user.id)
        assert (row.status, row.notified) == ("accepted", True)
        assert await s.demo("mrg_krasnodar").count_readings(
            idempotency_key=row.idempotency_key) == 1
        assert s.demo("mrg_krasnodar").readings_inserted == 0, "the test process sent none"
        delivered = [e for e in s.b.log_events()
                     if e.get("message") == "reading accepted by the billing system"]
        assert len(delivered) == 1

        # A comes back (its worker makes a round at start): still one reading, one message.
        s.a.env.pop(CRASH_ENV)
        await s.a.start()
        await user.settle(1.0)
        told = [c for c in s.api.calls[since:] if c.chat_id == user.id
                and c.method == "sendMessage"]
        assert len(told) == 1, [c.params.get("text") for c in told]
        assert f"Reading: <b>{fmt_reading(value, 'en')}</b>" in told[0].params["text"]
        assert await s.demo("mrg_krasnodar").count_readings(
            idempotency_key=row.idempotency_key) == 1
