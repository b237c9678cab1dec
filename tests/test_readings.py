"""/reading through the real Dispatcher: every rule of a reading, in Russian and English, on
the demo billing system's accounts, with a controlled clock.

The clock is set before the first billing call: the demo connector takes the registry's
clock when it is built, and seeds each supplier's history relative to it."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from bot.billing.demo import DemoAccountEntry
from bot.billing.models import Meter, Period, ReadingSource, ReadingState
from bot.db.models_readings import OutboxStatus, QueuedReading
from bot.documents.chart import CHART_SIZE
from bot.readings_outbox import ReadingsOutboxWorker, fmt_reading
from tests.test_linking import (
    Clock,
    buttons,
    demo,
    entries,
    last_toast,
    link_directly,
    linked,
    register,
    state_of,
)

# Friday 20 November 2026, noon in Moscow: the 20th is inside every bundled window.
NOON = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SUBMIT = {"ru": "✅ Отправить", "en": "✅ Submit"}


async def start(bot_env: Any, code: str, kind: str, lang: str = "ru",
                now: datetime = NOON) -> tuple[Any, Any, DemoAccountEntry, Clock]:
    """A registered user with one demo account of `kind` at supplier `code`."""
    env = await bot_env(throttle_rate=0)
    clock = Clock(now)
    env.runtime.app.clock = clock
    env.runtime.app.billing.clock = clock
    client = env.client(language_code=lang)
    await register(client, lang)
    entry = await pick(env, code, kind)
    await link_directly(env, client.user.id, entry)
    return env, client, entry, clock


async def pick(env: Any, code: str, kind: str) -> DemoAccountEntry:
    found = [e for e in await entries(env, code) if e.kind == kind]
    assert found, f"no {kind} account at {code}"
    return found[0]


def last_values(meter: Meter) -> tuple[Decimal, ...]:
    assert meter.last is not None
    return meter.last.values


def typed(value: Decimal, sep: str = ",") -> str:
    return format(value, "f").replace(".", sep)


def spaced(value: int) -> str:
    """12345 → «12 345» with a no-break space, as Babel groups Russian digits."""
    return f"{value:,}".replace(",", "\xa0")


async def outbox(env: Any) -> list[QueuedReading]:
    async with env.runtime.app.session_factory() as session:
        return list(await session.scalars(select(QueuedReading).order_by(QueuedReading.id)))


async def billing_meter(env: Any, entry: DemoAccountEntry, index: int = 0) -> Meter:
    meters = await demo(env).get_meters(entry.ref)
    return meters[index]


# --- the whole way through ------------------------------------------------------------------


async def test_reading_accepted_with_consumption_cost_and_reference(bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_krasnodar", "house")
    meter = entry.meters[0]
    (previous,) = last_values(meter)
    await client.send("/reading")
    screen = client.last_text()
    assert f"Счётчик № {meter.serial}" in screen
    assert meter.last is not None
    source = {ReadingSource.SUBSCRIBER: "переданы абонентом",
              ReadingSource.SUPPLIER: "сняты поставщиком",
              ReadingSource.ESTIMATE: "расчётные"}[meter.last.source]
    assert f"Последние принятые показания: <b>{spaced(int(previous))}</b> м³" in screen
    assert source in screen
    assert "принимает показания в любой день месяца" in screen
    assert "целые кубометры" in screen
    assert await state_of(env, client) == "ReadingStates:value"

    # «1 234» with a space, as printed on receipts
    value = int(previous) + 12
    await client.send(f"{value:,}".replace(",", " "))
    confirm = client.last_text()
    charges = await demo(env).get_charges(entry.ref, Period(2026, 5), Period(2026, 11))
    tariff = charges[-1].tariff
    cost = (Decimal(12) * tariff).quantize(Decimal("0.01"))
    assert "Проверьте показания перед отправкой" in confirm
    assert f"Показания: <b>{spaced(value)}</b> м³" in confirm
    assert "Расход: <b>12</b> м³" in confirm
    assert f"около <b>{typed(cost)}\xa0₽</b>" in confirm
    assert buttons(client.bot_messages()[-1]) == ["✅ Отправить", "✏️ Исправить", "✖️ Отмена"]
    assert demo(env).readings_inserted == 0  # nothing sent before the confirmation

    await client.click("✅ Отправить")
    done = client.last_text()
    [row] = await outbox(env)
    assert row.status == "accepted" and row.notified and row.attempts == 1
    assert row.reference and f"Регистрационный номер: <code>{row.reference}</code>" in done
    assert "Показания приняты" in done and "Дата: 20 ноября 2026" in done
    assert buttons(client.bot_messages()[-1]) == ["📜 История", "📊 График"]
    assert await demo(env).count_readings(idempotency_key=row.idempotency_key) == 1
    assert demo(env).readings_inserted == 1
    after = await billing_meter(env, entry)
    assert last_values(after) == (Decimal(value),)
    assert await state_of(env, client) is None
    # The number never appears in full in the chat.
    assert all(entry.number not in text for text in client.texts())


async def test_english_with_decimals(bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_ivanovo", "flat", lang="en")
    (previous,) = last_values(entry.meters[0])
    await client.send("/reading")
    assert "at most 3 digits after the decimal point" in client.last_text()
    value = previous + Decimal("1.5")
    await client.send(typed(value, "."))
    confirm = client.last_text()
    assert "Check the reading before sending it" in confirm
    assert "Consumption: <b>1.5</b> m³" in confirm
    assert "Estimated cost: about" in confirm
    await client.click("✅ Submit")
    assert "Reading accepted" in client.last_text()
    assert "Reference number: <code>R-mrg_ivanovo-" in client.last_text()
    assert last_values(await billing_meter(env, entry)) == (value,)


async def test_english_reads_its_own_number_format(bot_env: Any) -> None:
    """The card shows «18,843.086» in English; a trial typed «18,900» and the bot read 18.9,
    and «18,900.5» was refused as not a reading."""
    env, client, entry, _clock = await start(bot_env, "mrg_ivanovo", "flat", lang="en")
    (previous,) = last_values(entry.meters[0])
    whole = int(previous) + 2
    grouped = f"{whole:,}"
    assert "," in grouped  # the demo meter is past a thousand
    await client.send("/reading")
    if grouped.count(",") == 1:
        await client.send(grouped)
        text = client.last_text()
        assert f"Is it {grouped} or " in text and f"<code>{whole}</code>" in text, text
        assert await state_of(env, client) == "ReadingStates:value"
    await client.send(f"{grouped}.5")
    consumption = fmt_reading(Decimal(whole) + Decimal("0.5") - previous, "en")
    assert f"Consumption: <b>{consumption}</b> m³" in client.last_text()


# --- what may be typed ----------------------------------------------------------------------


@pytest.mark.parametrize(("code", "kind", "extra", "answer"), [
    # whole cubic metres only at Краснодар
    ("mrg_krasnodar", "house", ",5", "принимает только целые кубометры"),
    # three decimals at Иваново: a fourth one is refused, three pass
    ("mrg_ivanovo", "flat", ",1234", "не больше 3 знаков после запятой"),
    ("mrg_ivanovo", "flat", ",123", "Проверьте показания перед отправкой"),
    ("mrg_ivanovo", "flat", ".5", "Проверьте показания перед отправкой"),
])
async def test_decimals_follow_the_supplier(bot_env: Any, code: str, kind: str, extra: str,
                                            answer: str) -> None:
    _env, client, entry, _clock = await start(bot_env, code, kind)
    (previous,) = last_values(entry.meters[0])
    await client.send("/reading")
    await client.send(f"{int(previous) + 3}{extra}")
    assert answer in client.last_text()


async def test_bad_input_gets_a_hint_and_keeps_the_step(bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_krasnodar", "house")
    (previous,) = last_values(entry.meters[0])
    await client.send("/reading")
    hints = {
        "двенадцать": "не похоже на показания",
        "🔥": "не похоже на показания",
        "12 34": "не похоже на показания",
        "   ": "не похоже на показания",
        "-5": "не бывают отрицательными",
        "123456": "счётчик показывает 5 цифр до запятой",
        "100000": "не больше 99\xa0999",
        "1.234,5": "не похоже на показания",
    }
    for text, hint in hints.items():
        await client.send(text)
        assert hint in client.last_text(), text
        assert await state_of(env, client) == "ReadingStates:value"
    await client.send_photo()
    assert "не фото, не стикер" in client.last_text()
    await client.send_sticker()
    assert "не фото, не стикер" in client.last_text()
    assert await state_of(env, client) == "ReadingStates:value"
    # «м3» after the number is fine, and the step goes on as if nothing happened
    await client.send(f"{int(previous) + 7} м3")
    assert "Расход: <b>7</b> м³" in client.last_text()
    assert demo(env).readings_inserted == 0


async def test_garbage_at_a_whole_numbers_supplier_does_not_mention_decimals(
        bot_env: Any) -> None:
    """A trial at a Perm meter sent «abc» and was told to put a comma before the decimals,
    which Perm does not take."""
    env, client, _entry, _clock = await start(bot_env, "mrg_perm", "flat")
    await client.send("/reading")
    await client.send("abc")
    text = client.last_text()
    assert "Отправьте чёрные цифры со счётчика" in text and "целые кубометры" in text
    assert "запятая" not in text
    assert await state_of(env, client) == "ReadingStates:value"


async def test_less_than_previous_is_refused_and_retyped(bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_krasnodar", "house")
    (previous,) = last_values(entry.meters[0])
    await client.send("/reading")
    await client.send(str(int(previous) - 10))
    refusal = client.last_text()
    assert f"меньше предыдущих показаний, {spaced(int(previous))}" in refusal
    assert "Счётчик считает только вверх" in refusal
    assert await state_of(env, client) == "ReadingStates:value"
    await client.send(str(int(previous) + 1))
    assert "Расход: <b>1</b> м³" in client.last_text()


# --- the rules ------------------------------------------------------------------------------


async def test_rollover_asks_and_counts_across_the_wrap(bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_alania", "rollover")
    (previous,) = last_values(entry.meters[0])
    assert previous > 99_000  # the demo's near-rollover meter
    await client.send("/reading")
    await client.send("30")
    wrap = 100_000 - int(previous) + 30
    confirm = client.last_text()
    assert "похоже, счётчик перешёл через 99\xa0999 и начал с нуля" in confirm
    assert f"Расход посчитан с учётом перехода: {wrap} м³" in confirm
    assert f"Расход: <b>{wrap}</b> м³" in confirm
    await client.click("✅ Отправить")
    assert "Показания приняты" in client.last_text()
    records = await demo(env).get_readings(entry.ref, entry.meters[0].id, Period(2026, 11),
                                           Period(2026, 11))
    assert [(r.values, r.consumption) for r in records] == [((Decimal(30),), (Decimal(wrap),))]


async def test_rollover_refused_where_the_supplier_does_not_allow_it(bot_env: Any) -> None:
    env, client, _entry, _clock = await start(bot_env, "mrg_kemerovo", "rollover")
    await client.send("/reading")
    await client.send("30")
    text = client.last_text()
    assert "меньше предыдущих показаний" in text
    assert "перешёл через 99\xa0999 и начал с нуля" in text and "обратитесь к поставщику" in text
    assert await state_of(env, client) == "ReadingStates:value"


async def test_two_zones_day_then_night(bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_ivanovo", "two_zone")
    day, night = last_values(entry.meters[0])
    await client.send("/reading")
    assert "Тарифные зоны: день, ночь" in client.last_text()
    assert "Зона 1 из 2: <b>день</b>" in client.last_text()
    await client.send(typed(day + Decimal("10.5")))
    assert "Зона 2 из 2: <b>ночь</b>" in client.last_text()
    # a night value below the previous night: refused, the day value kept
    await client.send(typed(night - 1))
    assert "Показания зоны «ночь»" in client.last_text()
    assert "Сейчас: показания зоны <b>ночь</b>" in client.last_text()
    await client.send(typed(night + 4))
    confirm = client.last_text()
    assert "День: <b>" in confirm and "расход 10,5 м³" in confirm
    assert "Ночь: <b>" in confirm and "расход 4 м³" in confirm
    assert "Расход: <b>14,5</b> м³" in confirm
    await client.click("✅ Отправить")
    assert "Показания приняты" in client.last_text()
    assert last_values(await billing_meter(env, entry)) == (day + Decimal("10.5"), night + 4)


async def test_mixed_up_zones_are_pointed_out(bot_env: Any) -> None:
    """Complaint 7 (day/night mislabelled). A trial typed the day's value again for the night
    and was offered to submit «расход 3 865,88849 м³» with only the over-the-maximum note."""
    env, client, entry, _clock = await start(bot_env, "mrg_spb", "two_zone")
    day, night = last_values(entry.meters[0])
    await client.send("/reading")
    await client.send(typed(day + 4))
    await client.send(typed(day + 4))  # the day's value again, for the night
    confirm = client.last_text()
    assert "больше обычного максимума" in confirm
    # Five-decimal dials, consumption with three at most (it read «3 865,88849 м³»).
    import re

    shown = re.findall(r"расход ([\d\xa0]+(?:,\d+)?) м³|Расход: <b>([\d\xa0]+(?:,\d+)?)</b>",
                       confirm)
    assert len(shown) == 3, confirm
    assert all(len((a or b).partition(",")[2]) <= 3 for a, b in shown), shown
    from bot.readings_outbox import fmt_reading

    assert (f"🔀 {fmt_reading(day + 4, 'ru')} похоже на показание зоны <b>день</b> "
            f"(предыдущее — {fmt_reading(day, 'ru')}), а не зоны «ночь»: проверьте, не "
            f"перепутаны ли зоны.") in confirm
    # Swapped: the night's value typed for the day is below the day's dial — refused, and
    # the likely reason said.
    await client.send("/cancel")
    await client.send("/reading")
    await client.send(typed(night + 3))
    refused = client.last_text()
    assert "меньше предыдущих" in refused
    assert "похоже на показание зоны <b>ночь</b>" in refused
    assert await state_of(env, client) == "ReadingStates:value"
    # Right values: no such note.
    await client.send(typed(day + 4))
    await client.send(typed(night + 3))
    assert "🔀" not in client.last_text()
    await client.click("✅ Отправить")
    assert "Показания приняты" in client.last_text()


async def test_over_the_maximum_is_confirmed_where_the_supplier_asks(bot_env: Any) -> None:
    _env, client, entry, _clock = await start(bot_env, "mrg_krasnodar", "house")
    (previous,) = last_values(entry.meters[0])
    await client.send("/reading")
    await client.send(str(int(previous) + 1500))
    confirm = client.last_text()
    assert "больше обычного максимума за период — 1\xa0000 м³" in confirm
    await client.click("✅ Отправить")
    assert "Показания приняты" in client.last_text()


async def test_a_gross_excess_is_called_a_likely_typo(bot_env: Any) -> None:
    """A trial typed 99999 on a Perm dial at 8 322 and got the mild over-the-maximum note."""
    _env, client, entry, _clock = await start(bot_env, "mrg_perm", "debtor")
    (previous,) = last_values(entry.meters[0])
    await client.send("/reading")
    await client.send("99999")
    confirm = client.last_text()
    times = int((Decimal(99999) - previous) / 1500)
    assert f"в {times} раз больше обычного максимума" in confirm, confirm
    assert "лишняя цифра" in confirm and "больше обычного максимума за период — " in confirm
    await client.send("41500")  # 22 times: «раза»
    assert f"в {int((Decimal(41500) - previous) / 1500)} раза больше" in client.last_text()
    await client.send(str(int(previous) + 1600))  # a moderate excess: the mild note
    confirm = client.last_text()
    assert "Если показания верны, всё равно отправьте их" in confirm
    assert "лишняя цифра" not in confirm


async def test_over_the_maximum_and_zero_refused_where_the_supplier_refuses(
        bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_yoshkarola", "flat")
    (previous,) = last_values(entry.meters[0])
    await client.send("/reading")
    await client.send(str(int(previous) + 2000))
    assert "не более 1\xa0500 м³" in client.last_text()
    assert await state_of(env, client) == "ReadingStates:value"
    await client.send(str(int(previous)))
    assert "Расход нулевой" in client.last_text()
    assert "не принимает нулевой расход" in client.last_text()
    assert await state_of(env, client) == "ReadingStates:value"
    await client.send(str(int(previous) + 20))
    await client.click("✅ Отправить")
    assert "Показания приняты" in client.last_text()
    assert demo(env).readings_inserted == 1


async def test_lower_than_the_suppliers_estimate_is_confirmed(bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_krasnodar", "debtor")
    meter = entry.meters[0]
    assert meter.last is not None and meter.last.source is ReadingSource.ESTIMATE
    records = await demo(env).get_readings(entry.ref, meter.id, Period(2025, 11),
                                           Period(2026, 11))
    real = [r for r in records if r.source is not ReadingSource.ESTIMATE
            and r.state is ReadingState.ACCEPTED][-1]
    estimate = meter.last.values[0]
    value = real.values[0] + (estimate - real.values[0]) / 2  # below the guess, above the dial
    value = value.to_integral_value()
    await client.send("/reading")
    await client.send(str(value))
    confirm = client.last_text()
    assert "поставщик начислил расчётно" in confirm
    assert "Расход: его рассчитает поставщик." in confirm
    await client.click("✅ Отправить")
    assert "Показания приняты" in client.last_text()


# --- the window, in the supplier's time zone ------------------------------------------------


# Пермь: Asia/Yekaterinburg (UTC+5), readings from the 15th to the 25th.
@pytest.mark.parametrize(("moment", "is_open", "opens"), [
    (datetime(2026, 11, 14, 18, 59, tzinfo=UTC), False, "15 ноября"),  # 23:59 on the 14th
    (datetime(2026, 11, 14, 19, 0, tzinfo=UTC), True, None),  # 00:00 on the 15th
    (datetime(2026, 11, 25, 18, 59, tzinfo=UTC), True, None),  # 23:59 on the 25th
    # 00:00 on the 26th in Perm, still the 25th in Moscow: closed, next window in December
    (datetime(2026, 11, 25, 19, 0, tzinfo=UTC), False, "15 декабря"),
])
async def test_window_edges(bot_env: Any, moment: datetime, is_open: bool,
                            opens: str | None) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_perm", "house", now=moment)
    (previous,) = last_values(entry.meters[0])
    await client.send("/reading")
    screen = client.last_text()
    if not is_open:
        assert "Сегодня показания не принимаются" in screen
        assert f"возвращайтесь {opens}" in screen
        if opens == "15 декабря":
            assert "за декабрь 2026 с 15 декабря по 25 декабря" in screen
        assert await state_of(env, client) is None
        return
    assert "Показания за ноябрь 2026 принимаются с 15 ноября по 25 ноября" in screen
    await client.send(str(int(previous) + 5))
    await client.click("✅ Отправить")
    assert "Показания приняты" in client.last_text()  # the billing side agrees on the day


@pytest.mark.parametrize("with_reminders", [False, True])
async def test_closed_window_offers_a_reminder_once_reminders_exist(
        bot_env: Any, monkeypatch: pytest.MonkeyPatch, with_reminders: bool) -> None:
    import handlers.readings

    monkeypatch.setattr(handlers.readings, "has_route",
                        lambda feature: with_reminders and feature == "reminders")
    _env, client, _entry, _clock = await start(
        bot_env, "mrg_perm", "house", now=datetime(2026, 11, 10, 9, 0, tzinfo=UTC))
    await client.send("/reading")
    expected = ["📜 История", "📊 График"]
    if with_reminders:
        expected.append("⏰ Напомнить, когда откроется")
    assert buttons(client.bot_messages()[-1]) == expected


async def test_remind_button_follows_the_reminders_deep_link(
        bot_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import handlers.deeplinks

    followed: list[str | None] = []

    async def reminders(message: Any, state: Any, services: Any, user: Any,
                        arg: str | None) -> None:
        followed.append(arg)
        await message.answer("reminders")

    monkeypatch.setattr(handlers.deeplinks, "_routes", lambda: {"reminders": reminders})
    env, client, _entry, _clock = await start(
        bot_env, "mrg_perm", "house", now=datetime(2026, 11, 10, 9, 0, tzinfo=UTC))
    await client.send("/reading")
    await client.click("⏰ Напомнить, когда откроется")
    [account] = await linked(env, client.user.id)
    assert followed == [str(account.id)] and client.last_text() == "reminders"


# --- a second reading in the same period ----------------------------------------------------


async def test_resubmission_replaces_where_the_supplier_allows(bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_krasnodar", "house")
    (previous,) = last_values(entry.meters[0])
    await client.send("/reading")
    await client.send(str(int(previous) + 50))
    await client.click("✅ Отправить")
    await client.send("/reading")
    screen = client.last_text()
    assert f"уже переданы: <b>{spaced(int(previous) + 50)}</b> м³" in screen
    assert "новые показания заменят прежние" in screen
    # judged against the reading before the replaced one: +20 since then, not −30
    await client.send(str(int(previous) + 20))
    confirm = client.last_text()
    assert "Расход: <b>20</b> м³" in confirm
    assert "Они заменят ваши показания от 20 ноября 2026" in confirm
    await client.click("✅ Отправить")
    assert "Показания приняты" in client.last_text()
    november = await demo(env).get_readings(entry.ref, entry.meters[0].id, Period(2026, 11),
                                            Period(2026, 11))
    assert [r.values for r in november] == [(Decimal(int(previous) + 20),)]
    assert [r.status for r in await outbox(env)] == ["accepted", "accepted"]


async def test_resubmission_refused_where_the_supplier_refuses(bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_izhevsk", "house")
    (previous,) = last_values(entry.meters[0])
    await client.send("/reading")
    await client.send(str(int(previous) + 50))
    # Said before «Submit»: there is no second chance this month.
    assert ("ℹ️ <b>Газпром межрегионгаз Ижевск</b> принимает одни показания в месяц: после "
            "отправки их здесь не исправить.") in client.last_text()
    await client.click("✅ Отправить")
    await client.send("/reading")
    screen = client.last_text()
    assert "Показания за ноябрь 2026 уже переданы" in screen
    assert "передать можно сейчас" not in screen  # it said so right above, in a trial
    assert "не принимает повторные показания в том же периоде" in screen
    # «Обратитесь к поставщику» comes with the catalog's contacts (a trial had none).
    support = env.runtime.app.catalog.get("mrg_izhevsk").support
    assert support is not None and support.email
    assert (f"📞 Контакты <b>Газпром межрегионгаз Ижевск</b>: {support.email}") in screen
    assert ".." not in screen  # «… 2026 г.» then a full stop
    assert "(20 ноября 2026\u202fг.). " in screen
    assert await state_of(env, client) is None
    assert demo(env).readings_inserted == 1


# --- nothing lost, nothing twice ------------------------------------------------------------


async def test_outage_queues_and_the_worker_delivers(bot_env: Any) -> None:
    env, client, entry, clock = await start(bot_env, "mrg_krasnodar", "house")
    (previous,) = last_values(entry.meters[0])
    await client.send("/reading")
    await client.send(str(int(previous) + 9))
    demo(env).outage = True
    await client.click("✅ Отправить")
    queued = client.last_text()
    assert "сейчас не отвечает" in queued and "будут отправлены автоматически" in queued
    assert await state_of(env, client) is None
    [row] = await outbox(env)
    assert (row.status, row.attempts, row.notified) == ("queued", 1, False)
    assert row.next_attempt_at > NOON

    # asking again while it waits: no second reading, the user is told it is on its way
    demo(env).outage = False
    await client.send("/reading")
    assert "уже отправляются поставщику" in client.last_text()
    assert await state_of(env, client) is None

    worker = ReadingsOutboxWorker(env.runtime.app, env.runtime.i18n, bot=env.bot)
    before = len(client.texts())
    assert (await worker.run_once()).attempted == []  # not due yet: the backoff holds
    clock.now = NOON + timedelta(minutes=2)
    result = await worker.run_once()
    assert result.attempted == [OutboxStatus.ACCEPTED] and result.told == 1
    [row] = await outbox(env)
    assert row.status == "accepted" and row.notified and row.reference
    news = client.texts()[before:]
    assert len(news) == 1
    assert "дошли до <b>Газпром межрегионгаз Краснодар</b> и приняты" in news[0]
    assert f"<code>{row.reference}</code>" in news[0]
    assert await demo(env).count_readings(idempotency_key=row.idempotency_key) == 1
    # a further round has nothing to send and nothing to tell
    again = await worker.run_once()
    assert again.attempted == [] and again.told == 0
    assert demo(env).readings_inserted == 1


async def test_double_tap_and_old_confirmations_submit_nothing_twice(bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_krasnodar", "house")
    (previous,) = last_values(entry.meters[0])
    answered = len(client.answered_callbacks())
    await client.send("/reading")
    await client.send(str(int(previous) + 3))
    first = client.bot_messages()[-1]
    await client.click("✏️ Исправить")
    assert await state_of(env, client) == "ReadingStates:value"
    await client.send(str(int(previous) + 4))
    second = client.bot_messages()[-1]
    # the first confirmation's Submit does not send the second one's values
    await client.click("✅ Отправить", in_message=first)
    assert "Эта кнопка больше не действует" in last_toast(client)
    assert demo(env).readings_inserted == 0
    await client.click("✅ Отправить", in_message=second)
    await client.click("✅ Отправить", in_message=second)
    assert "Эта кнопка больше не действует" in last_toast(client)
    assert demo(env).readings_inserted == 1
    assert len(await outbox(env)) == 1
    # every callback query was answered
    assert len(client.answered_callbacks()) - answered == 4


async def test_cancel_at_the_confirmation(bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_krasnodar", "house", lang="en")
    (previous,) = last_values(entry.meters[0])
    await client.send("/reading")
    await client.send(str(int(previous) + 3))
    await client.send("what now?")
    assert "Press “✅ Submit” to send the reading" in client.last_text()
    await client.send_sticker()
    assert "Press “✅ Submit”" in client.last_text()
    await client.click("✖️ Cancel")
    assert client.last_text() == "Cancelled. The reading was not sent."
    assert await state_of(env, client) is None and await outbox(env) == []


async def test_a_value_typed_at_the_confirmation_corrects_it(bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_krasnodar", "house", lang="en")
    (previous,) = last_values(entry.meters[0])
    await client.send("/reading")
    await client.send(str(int(previous) + 30))
    first = client.bot_messages()[-1]
    # a typo noticed on the card: the right value typed there replaces it
    await client.send(str(int(previous) + 3))
    cleared = [r for r in client.session.requests if r.method == "editMessageReplyMarkup"
               and r.obj.message_id == first.message_id]
    assert cleared and cleared[-1].obj.reply_markup is None
    card = client.bot_messages()[-1]
    assert card.message_id != first.message_id
    assert "Consumption: <b>3</b> m³" in client.last_text()
    assert await state_of(env, client) == "ReadingStates:confirm"
    # the first card's Submit is stale; the new one sends the corrected value
    await client.click("✅ Submit", in_message=first)
    assert "no longer active" in last_toast(client)
    await client.click("✅ Submit", in_message=card)
    assert "accepted" in client.last_text()
    assert last_values(await billing_meter(env, entry)) == (previous + 3,)
    assert demo(env).readings_inserted == 1


async def test_a_wrong_value_typed_at_the_confirmation_is_refused_as_at_the_value_step(
        bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_krasnodar", "house")
    (previous,) = last_values(entry.meters[0])
    await client.send("/reading")
    await client.send(str(int(previous) + 3))
    await client.send(str(int(previous) - 5))
    assert "меньше" in client.last_text().lower() or "ниже" in client.last_text().lower()
    assert await state_of(env, client) == "ReadingStates:value"
    await client.send(str(int(previous) + 4))
    await client.click("✅ Отправить")
    assert last_values(await billing_meter(env, entry)) == (previous + 4,)


async def test_a_number_at_a_two_zone_confirmation_asks_for_change(bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_ivanovo", "two_zone")
    day, night = last_values(entry.meters[0])
    await client.send("/reading")
    await client.send(typed(day + 1))
    await client.send(typed(night + 1))
    await client.send(typed(day + 2))
    assert "«✏️ Исправить», чтобы ввести их заново" in client.last_text()
    assert await state_of(env, client) == "ReadingStates:confirm"


# --- choosing, entry points, leaving --------------------------------------------------------


async def test_account_and_meter_choice_with_wrong_input(bot_env: Any) -> None:
    env, client, _entry, _clock = await start(bot_env, "mrg_krasnodar", "house")
    two = await pick(env, "mrg_moscow", "two_meters")
    await link_directly(env, client.user.id, two)
    await client.send("📟 Передать показания")
    assert "Для какого лицевого счёта?" in client.last_text()
    await client.send("дом")
    assert "Выберите лицевой счёт кнопками" in client.last_text()
    await client.send_sticker()
    assert await state_of(env, client) == "ReadingStates:account"
    moscow = next(b for b in buttons(client.bot_messages()[-1]) if two.number[-4:] in b)
    await client.click(moscow)
    assert "Какой счётчик?" in client.last_text()
    labels = buttons(client.bot_messages()[-1])
    assert labels == [f"№ {m.serial}" for m in two.meters]
    await client.send_photo()
    assert "Выберите счётчик кнопками" in client.last_text()
    assert await state_of(env, client) == "ReadingStates:meter"
    await client.click(labels[1])
    assert f"Счётчик № {two.meters[1].serial}" in client.last_text()
    assert await state_of(env, client) == "ReadingStates:value"


async def test_deep_link_account_card_and_menu(bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_krasnodar", "house")
    other = await pick(env, "mrg_moscow", "house")
    await link_directly(env, client.user.id, other)
    rows = await linked(env, client.user.id)
    target = next(r for r in rows if r.number == other.number)
    await client.send(f"/start reading_{target.id}")
    assert f"Счётчик № {other.meters[0].serial}" in client.last_text()
    assert await state_of(env, client) == "ReadingStates:value"
    # an id that is not the user's: the choice of accounts instead
    await client.send("/start reading_999999")
    assert "Для какого лицевого счёта?" in client.last_text()
    # the account card's button
    await client.send("/accounts")
    await client.click(next(b for b in buttons(client.bot_messages()[-1])
                            if entry.number[-4:] in b))
    await client.click("📟 Передать показания")
    assert f"Счётчик № {entry.meters[0].serial}" in client.last_text()
    # the main menu has the entry next to the balance, and /help names the command
    keyboard = client.last_reply_keyboard()
    assert keyboard[:2] == ["💰 Баланс", "📟 Передать показания"]
    await client.send("/help")
    assert "/reading — передать показания счётчика" in client.last_text()


async def test_commands_and_menu_entries_leave_the_step(bot_env: Any) -> None:
    env, client, _entry, _clock = await start(bot_env, "mrg_krasnodar", "house")
    await client.send("/reading")
    await client.send("/link")
    assert await state_of(env, client) == "LinkStates:supplier"
    await client.send("/reading")
    await client.send("📋 Мои счета")
    assert "Ваши лицевые счета" in client.last_text()
    assert await state_of(env, client) is None


async def test_without_accounts_and_without_meters(bot_env: Any) -> None:
    env = await bot_env(throttle_rate=0)
    client = env.client(language_code="en")
    await register(client, "en")
    await client.send("/reading")
    assert "You have no linked accounts yet" in client.last_text()
    assert buttons(client.bot_messages()[-1]) == ["🔗 Link an account"]
    entry = await pick(env, "mrg_kaluga", "no_meters")
    await link_directly(env, client.user.id, entry)
    await client.send("/reading")
    assert "has no meters" in client.last_text() and "consumption norm" in client.last_text()
    assert await state_of(env, client) is None


async def test_outage_before_the_values_offers_retry(bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_krasnodar", "house")
    demo(env).outage = True
    await client.send("/reading")
    assert "сейчас не отвечает" in client.last_text()
    assert buttons(client.bot_messages()[-1]) == ["🔄 Повторить"]
    demo(env).outage = False
    await client.click("🔄 Повторить")
    assert f"Счётчик № {entry.meters[0].serial}" in client.last_text()


# --- history and chart ----------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_history_and_chart(bot_env: Any, lang: str) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_krasnodar", "debtor", lang=lang)
    meter = entry.meters[0]
    await client.send("/reading")
    await client.click("📜 История" if lang == "ru" else "📜 History")
    history = client.last_text()
    records = await demo(env).get_readings(entry.ref, meter.id, Period(2025, 12),
                                           Period(2026, 11))
    assert records
    lines = history.splitlines()
    assert sum(line.startswith(("• ", "❌ ")) for line in lines) == len(records)
    if lang == "ru":
        assert f"Показания счётчика № {meter.serial}" in history
        assert "<b>октябрь 2026</b>" in history and "<b>декабрь 2025</b>" in history
        assert "<b>ноябрь 2025</b>" not in history
        assert "расчётные, начислены поставщиком" in history  # a debtor's estimates
    else:
        assert f"Readings of meter № {meter.serial}" in history
        assert "<b>October 2026</b>" in history and "estimated by the supplier" in history
    # under the history: the chart, not the history again
    assert buttons(client.bot_messages()[-1]) == ["📊 График" if lang == "ru" else "📊 Chart"]

    await client.click("📊 График" if lang == "ru" else "📊 Chart")
    photo = client.requests()[-1]
    assert photo.method == "sendPhoto"
    assert photo.files, "the chart was not uploaded as a file"
    png = photo.obj.photo.data  # the BufferedInputFile's bytes, as uploaded
    assert isinstance(png, bytes)
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG" and image.size == CHART_SIZE
    total = sum((sum(r.consumption) for r in records if r.state is not ReadingState.REJECTED),
                Decimal(0))
    caption = photo.text or ""
    assert (f"Всего: {spaced(int(total))} м³" if lang == "ru"
            else f"Total: {int(total):,} m³") in caption
    assert all(answer.obj.text is None for answer in client.answered_callbacks()[-2:])


def test_consumption_is_shown_with_the_meters_decimals_at_most_three() -> None:
    """A trial saw «+316.1312 m³» beside «+155.60064 m³» in a Петербург meter's history (five
    decimals, trailing zeros dropped) and «Total: 1,750.58491 m³» under the chart."""
    from bot.readings_outbox import fmt_volume

    assert fmt_volume(Decimal("316.13120"), "en", 5) == "316.131"
    assert fmt_volume(Decimal("155.60064"), "en", 5) == "155.601"
    assert fmt_volume(Decimal("1750.58491"), "ru", 5) == "1\xa0750,585"
    assert fmt_volume(Decimal("155.6"), "ru", 3) == "155,6"  # as the confirmation writes it
    assert fmt_volume(Decimal("316"), "ru", 0) == "316"
    assert fmt_volume(Decimal("316.5"), "en", 0) == "317"
