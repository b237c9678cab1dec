"""/reading end to end: the bot as a process (`python -m bot`) polling the local, spec-checking
Bot API server, on the demo billing system, with the real clock (Краснодар accepts readings
on any day of the month, so the date the tests run on does not matter).

The kill tests end the process at the two worst moments of a submission — right before the
billing system is called, and right after it answered but before the outbox recorded the
answer — and show that after a restart the reading is delivered exactly once and the user is
told."""

from __future__ import annotations

import asyncio
import io
import sqlite3
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image

from bot.app import open_runtime
from bot.billing.demo import DemoAccountEntry, DemoBillingConnector
from bot.billing.models import Period, ReadingSource, ReadingState
from bot.documents.chart import CHART_SIZE
from bot.faults import CRASH_ENV, CRASH_EXIT_CODE
from bot.services import Services
from tests.botapi import updates
from tests.botapi.server import ApiCall, FakeBotAPI
from tests.conftest import TEST_TOKEN, make_settings
from tests.support import leaks
from tests.support.e2e import BotProcess, E2EUser

pytestmark = pytest.mark.e2e

PHONE = "+79165550177"
leaks.remember(PHONE.lstrip("+"))
USER_ID = 7701


@dataclass
class Prepared:
    house: DemoAccountEntry
    debtor: DemoAccountEntry
    below_real: Decimal  # under the debtor's last real reading, above nothing else


async def prepare(workdir: Path, *, with_debtor: bool = False) -> Prepared:
    """The bot's database as after a registration and linking in the chat: done in-process
    before the bot starts, to keep the tests about readings."""
    settings = make_settings(f"sqlite+aiosqlite:///{workdir / 'bot.sqlite3'}")
    async with AsyncExitStack() as stack:
        runtime = await open_runtime(settings, stack)
        app = runtime.app
        connector = app.billing.for_supplier("mrg_krasnodar")
        assert isinstance(connector, DemoBillingConnector)
        found = await connector.demo_accounts(["mrg_krasnodar"])
        house = next(e for e in found if e.kind == "house")
        debtor = next(e for e in found if e.kind == "debtor")
        leaks.remember(house.number, debtor.number)
        meter = debtor.meters[0]
        today = Period.of(app.clock().date())
        records = await connector.get_readings(debtor.ref, meter.id, today.shift(-24), today)
        real = [r for r in records if r.source is not ReadingSource.ESTIMATE
                and r.state is ReadingState.ACCEPTED][-1]
        async with app.session_factory() as session:
            services = Services(session, app)
            user = await services.users.choose_language(USER_ID, "ru")
            await services.users.give_consent(user)
            await services.users.save_contact(user, PHONE, USER_ID)
            await services.users.complete_registration(user)
            await services.linking.link(USER_ID, house.ref, house.proofs[0])
            if with_debtor:
                await services.linking.link(USER_ID, debtor.ref, debtor.proofs[0])
        return Prepared(house, debtor, real.values[0] - 10)


def query(workdir: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    db = sqlite3.connect(workdir / "bot.sqlite3")
    try:
        rows = db.execute(sql, args).fetchall()
        db.commit()
        return rows
    finally:
        db.close()


def to_user(user: E2EUser, text: str) -> Callable[[ApiCall], bool]:
    return lambda c: (c.method == "sendMessage" and c.chat_id == user.id
                      and text in str(c.params.get("text", "")))


async def test_readings_end_to_end(tmp_path: Path) -> None:
    prepared = await prepare(tmp_path, with_debtor=True)
    house = prepared.house.meters[0]
    assert house.last is not None
    value = int(house.last.values[0]) + 17
    async with FakeBotAPI(TEST_TOKEN) as api:
        bot = BotProcess(api, tmp_path, THROTTLE_RATE="0")
        await bot.start()
        try:
            user = E2EUser(api, USER_ID, language_code="ru")
            await user.send("/reading")
            assert "Для какого лицевого счёта?" in user.texts()[-1]
            await user.click(next(
                text for text in _buttons(user) if prepared.house.number[-4:] in text))
            assert f"Счётчик № {house.serial}" in user.texts()[-1]
            await user.send("двадцать")
            assert "не похоже на показания" in user.texts()[-1]
            await user.send(str(value))
            assert "Расход: <b>17</b> м³" in user.texts()[-1]
            await user.click("✅ Отправить")
            accepted = user.texts()[-1]
            assert "Показания приняты" in accepted and "Регистрационный номер" in accepted

            # the debtor's reading, below the supplier's estimate and below the last real one:
            # the bot asks, the billing system refuses, the bot explains
            await user.send("/reading")
            await user.click(next(
                text for text in _buttons(user) if prepared.debtor.number[-4:] in text))
            await user.send(str(int(prepared.below_real)))
            assert "поставщик начислил расчётно" in user.texts()[-1]
            await user.click("✅ Отправить")
            refused = user.texts()[-1]
            assert "не принял показания" in refused
            assert "они меньше предыдущих принятых показаний" in refused

            await user.click("📜 История")
            history = user.texts()[-1]
            assert f"Показания счётчика № {prepared.debtor.meters[0].serial}" in history
            assert "расчётные, начислены поставщиком" in history
            await user.click("📊 График", expect=lambda c: c.method == "sendPhoto")
            photo = api.calls_of("sendPhoto")[-1]
            image = Image.open(io.BytesIO(photo.files["photo"]))
            image.load()
            assert image.format == "PNG" and image.size == CHART_SIZE
            assert "Расход газа по месяцам" in str(photo.params.get("caption"))
        finally:
            code = await bot.stop()
        assert code == 0, bot.output[-3000:]
        assert api.violations == []

    rows = query(tmp_path, "SELECT idempotency_key, status, reject_code, notified "
                           "FROM readings_outbox ORDER BY id")
    assert [(status, code, notified) for _key, status, code, notified in rows] == [
        ("accepted", None, 1), ("rejected", "less_than_previous", 1)]
    (ok_key, *_), (refused_key, *_) = rows
    assert query(tmp_path, "SELECT count(*) FROM demo_readings WHERE idempotency_key = ?",
                 ok_key) == [(1,)]
    assert query(tmp_path, "SELECT count(*) FROM demo_readings WHERE idempotency_key = ?",
                 refused_key) == [(0,)]
    found = leaks.scan_files([bot.log_file], secrets=(TEST_TOKEN,))
    assert found == [], found


def _buttons(user: E2EUser) -> list[str]:
    for message in reversed(user.api.messages_in(user.id)):
        markup = message.get("reply_markup") or {}
        rows = markup.get("inline_keyboard", [])
        if rows:
            return [str(button.get("text")) for row in rows for button in row]
    return []


@pytest.mark.parametrize("point", ["reading.before_submit", "reading.after_submit"])
async def test_killed_while_submitting_delivers_exactly_once(tmp_path: Path,
                                                            point: str) -> None:
    prepared = await prepare(tmp_path)
    meter = prepared.house.meters[0]
    assert meter.last is not None
    value = int(meter.last.values[0]) + 5
    async with FakeBotAPI(TEST_TOKEN) as api:
        crashing = BotProcess(api, tmp_path, THROTTLE_RATE="0", **{CRASH_ENV: point})
        await crashing.start()
        user = E2EUser(api, USER_ID, language_code="ru")
        try:
            await user.send("/reading")
            await user.send(str(value))
            assert "Проверьте показания перед отправкой" in user.texts()[-1]
            message, data = user.last_message_with_button("✅ Отправить")
            api.push_update(updates.callback(user.user, data, message))
            assert crashing.proc is not None
            assert await asyncio.wait_for(crashing.proc.wait(), 30) == CRASH_EXIT_CODE
        finally:
            await crashing.kill()
        assert f"crash point reached: {point}" in crashing.output

        [(item_id, key, status, claimed_at)] = query(
            tmp_path, "SELECT id, idempotency_key, status, claimed_at FROM readings_outbox")
        assert status == "sending"  # claimed, then the process died
        billed = query(tmp_path, "SELECT count(*) FROM demo_readings WHERE idempotency_key = ?",
                       key)
        assert billed == [(0,)] if point == "reading.before_submit" else [(1,)]
        # The claim is a lease: only after it runs out may another process take the reading
        # over. Waiting STALE_AFTER here is the clock moving on; the row is aged instead.
        aged = datetime.fromisoformat(str(claimed_at)) - timedelta(minutes=10)
        query(tmp_path, "UPDATE readings_outbox SET claimed_at = ? WHERE id = ?",
              aged.strftime("%Y-%m-%d %H:%M:%S.%f"), item_id)

        since = api.mark()
        restarted = BotProcess(api, tmp_path, THROTTLE_RATE="0")
        await restarted.start()
        try:
            news = await api.wait_for(
                to_user(user, "дошли до <b>Газпром межрегионгаз Краснодар</b> и приняты"),
                timeout=30, since=since)
            await user.settle()
        finally:
            code = await restarted.stop()
        assert code == 0, restarted.output[-3000:]
        assert api.violations == []
        told = [c for c in api.calls[since:] if to_user(user, "дошли до")(c)]
        assert told == [news]  # told once, whatever else the restart redelivered

    [(status, notified, reference)] = query(
        tmp_path, "SELECT status, notified, reference FROM readings_outbox")
    assert (status, notified) == ("accepted", 1)
    assert reference and f"<code>{reference}</code>" in str(news.params["text"])
    # exactly one reading on the billing side, read with the billing system's own tools
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}")
    async with AsyncExitStack() as stack:
        runtime = await open_runtime(settings, stack)
        connector = runtime.app.billing.for_supplier("mrg_krasnodar")
        assert isinstance(connector, DemoBillingConnector)
        assert await connector.count_readings(idempotency_key=str(key)) == 1
        [now] = await connector.get_meters(prepared.house.ref)
        assert now.last is not None and now.last.values == (Decimal(value),)
        this_month = Period.of(now.last.taken_on)
        mine = [r for r in await connector.get_readings(prepared.house.ref, meter.id,
                                                        this_month, this_month)
                if r.source is ReadingSource.SUBSCRIBER]
        assert [r.values for r in mine] == [(Decimal(value),)]
