"""/reading through the real Dispatcher, between readings: values typed and then left behind
(a menu entry, a command, a button) are kept, the user is told the reading was not
submitted, and /reading continues from them; after an accepted reading, the account's next
meter without one this period is offered."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey

from bot.fsm_storage.keys import DestinyKeyBuilder
from bot.readings_outbox import fmt_reading
from bot.services import Services
from fsm.readings import KEPT_DESTINY
from tests.test_linking import buttons, demo, last_toast, link_directly, linked, state_of
from tests.test_readings import billing_meter, last_values, outbox, pick, start, typed

NOT_SENT = {"ru": "не переданы", "en": "was not submitted"}
CONTINUE = {"ru": "📟 Продолжить ввод показаний", "en": "📟 Continue the reading"}


async def kept_of(env: Any, client: Any) -> dict[str, Any]:
    context = env.dp.fsm.get_context(env.bot, client.user.id, client.user.id)
    key = replace(context.key, destiny=KEPT_DESTINY)
    return await env.dp.fsm.storage.get_data(key)  # type: ignore[no-any-return]


def texts(replies: list[Any]) -> list[str]:
    return [r.text for r in replies if r.text]


# --- values typed, then left ----------------------------------------------------------------


async def test_menu_entry_between_the_zones_keeps_the_day_and_tells_the_user(
        bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_ivanovo", "two_zone")
    day, night = last_values(entry.meters[0])
    await client.send("/reading")
    new_day = day + Decimal("10.5")
    await client.send(typed(new_day))
    assert "Зона 2 из 2: <b>ночь</b>" in client.last_text()

    # the balance button works mid-step, and the user learns the reading was not submitted
    replies = texts(await client.send("💰 Баланс"))
    assert len(replies) == 2 and entry.number[-4:] in replies[0]  # the balance card
    notice = replies[1]
    assert f"Показания счётчика № {entry.meters[0].serial} не переданы" in notice
    assert f"Введённое сохранено: день <b>{fmt_reading(new_day, 'ru')}</b> м³" in notice
    assert "/reading" in notice
    assert buttons(client.bot_messages()[-1]) == [CONTINUE["ru"]]
    assert await state_of(env, client) is None
    assert demo(env).readings_inserted == 0 and await outbox(env) == []

    # /reading for the same meter goes on from the night
    await client.send("/reading")
    screen = client.last_text()
    assert "Продолжаем ввод показаний" in screen and fmt_reading(new_day, "ru") in screen
    assert "Зона 2 из 2: <b>ночь</b>" in screen and "Зона 1 из 2" not in screen
    assert "✏️ Начать заново" in buttons(client.bot_messages()[-1])
    assert await kept_of(env, client) == {}
    await client.send(typed(night + 4))
    confirm = client.last_text()
    assert "День: <b>" in confirm and "расход 10,5 м³" in confirm
    await client.click("✅ Отправить")
    assert "Показания приняты" in client.last_text()
    assert last_values(await billing_meter(env, entry)) == (new_day, night + 4)


async def test_a_command_leaves_and_the_button_continues_in_english(bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_ivanovo", "two_zone", lang="en")
    day, night = last_values(entry.meters[0])
    await client.send("/reading")
    await client.send(typed(day + 1, "."))
    await client.send("/link")
    assert await state_of(env, client) == "LinkStates:supplier"  # the command did its job
    notice = client.last_text()
    assert f"The reading of meter № {entry.meters[0].serial} was not submitted" in notice
    assert f"What you typed is kept: day <b>{fmt_reading(day + 1, 'en')}</b> m³" in notice
    await client.click(CONTINUE["en"])
    assert "Continuing the reading you started" in client.last_text()
    assert "Zone 2 of 2: <b>night</b>" in client.last_text()
    assert await state_of(env, client) == "ReadingStates:value"
    await client.send(typed(night + 1, "."))
    await client.click("✅ Submit")
    assert "Reading accepted" in client.last_text()
    assert last_values(await billing_meter(env, entry)) == (day + 1, night + 1)


async def test_help_and_unknown_commands_do_not_leave_and_cancel_drops(bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_ivanovo", "two_zone")
    day, night = last_values(entry.meters[0])
    await client.send("/reading")
    await client.send(typed(day + 2))
    # /help answers and the step goes on: nothing to warn about, nothing kept aside
    replies = texts(await client.send("/help"))
    assert len(replies) == 1 and "/reading" in replies[0]
    assert all(NOT_SENT["ru"] not in text for text in replies)
    assert await state_of(env, client) == "ReadingStates:value"
    assert await kept_of(env, client) == {}
    await client.send(typed(night + 2))
    assert "Проверьте показания перед отправкой" in client.last_text()
    # /cancel drops the values on purpose: no warning, and /reading starts afresh
    replies = texts(await client.send("/cancel"))
    assert replies == ["Отменено."]
    await client.send("/reading")
    assert "Зона 1 из 2: <b>день</b>" in client.last_text()
    assert "Продолжаем" not in client.last_text()


async def test_left_at_the_confirmation_and_confirmed_later(bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_krasnodar", "house")
    (previous,) = last_values(entry.meters[0])
    await client.send("/reading")
    await client.send(str(int(previous) + 12))
    old_confirmation = client.bot_messages()[-1]
    await client.send("📋 Мои счета")
    assert "Ваши лицевые счета" in "".join(client.texts()[-2:])
    assert NOT_SENT["ru"] in client.last_text()
    # the menu entry again: the meter screen, then the confirmation of the same values
    replies = texts(await client.send("📟 Передать показания"))
    assert "Продолжаем ввод показаний" in replies[0]
    assert "Проверьте показания перед отправкой" in replies[-1]
    assert "Расход: <b>12</b> м³" in replies[-1]
    assert await state_of(env, client) == "ReadingStates:confirm"
    # the confirmation shown before leaving no longer submits anything
    await client.click("✅ Отправить", in_message=old_confirmation)
    assert "Эта кнопка больше не действует" in last_toast(client)
    await client.click("✅ Отправить")
    assert "Показания приняты" in client.last_text()
    assert [row.status for row in await outbox(env)] == ["accepted"]


async def test_start_over_drops_the_kept_values(bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_ivanovo", "two_zone")
    day, _night = last_values(entry.meters[0])
    await client.send("/reading")
    await client.send(typed(day + 3))
    await client.send("/balance")
    await client.send("/reading")
    assert "Зона 2 из 2" in client.last_text()
    await client.click("✏️ Начать заново")
    assert await kept_of(env, client) == {}
    screen = client.last_text()
    assert "Зона 1 из 2: <b>день</b>" in screen and "Продолжаем" not in screen
    assert "✏️ Начать заново" not in buttons(client.bot_messages()[-1])
    # nothing typed now: leaving is silent, and /reading starts from the day
    replies = texts(await client.send("/balance"))
    assert len(replies) == 1 and NOT_SENT["ru"] not in replies[0]
    await client.send("/reading")
    assert "Зона 1 из 2: <b>день</b>" in client.last_text()


async def test_history_button_mid_step_keeps_the_step(bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_ivanovo", "two_zone")
    day, night = last_values(entry.meters[0])
    await client.send("/reading")
    await client.send(typed(day + 5))
    await client.click("📜 История")
    assert "Показания счётчика №" in client.last_text()
    assert await state_of(env, client) == "ReadingStates:value"
    assert await kept_of(env, client) == {}
    await client.send(typed(night + 5))
    assert "Проверьте показания перед отправкой" in client.last_text()


async def test_kept_values_wait_for_their_own_meter(bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_moscow", "two_meters")
    first, second = entry.meters
    await client.send("/reading")
    await client.click(f"№ {first.serial}")
    (previous,) = last_values(first)
    await client.send(typed(previous + 7))
    await client.send("/balance")
    assert NOT_SENT["ru"] in client.last_text()
    # /reading again: choosing the meter; the other one starts afresh, this one goes on
    await client.send("/reading")
    await client.click(f"№ {second.serial}")
    assert "Продолжаем" not in client.last_text()
    assert (await kept_of(env, client))["meter_id"] == first.id
    await client.send("/reading")
    await client.click(f"№ {first.serial}")
    screen, confirm = client.texts()[-2:]
    assert "Продолжаем ввод показаний" in screen
    assert f"Показания: <b>{fmt_reading(previous + 7, 'ru')}</b> м³" in confirm


async def test_continue_button_of_an_unlinked_account_answers_gracefully(bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_ivanovo", "two_zone")
    day, _night = last_values(entry.meters[0])
    await client.send("/reading")
    await client.send(typed(day + 1))
    await client.send("/balance")
    [account] = await linked(env, client.user.id)
    await _unlink(env, account)
    await client.click(CONTINUE["ru"])
    assert "Этот лицевой счёт уже не привязан" in last_toast(client)


async def _unlink(env: Any, account: Any) -> None:
    async with env.runtime.app.session_factory() as session:
        await Services(session, env.runtime.app).accounts.unlink(account.user_id, account.id)


def test_redis_keeps_the_values_under_a_key_of_their_own() -> None:
    """aiogram's Redis keys refuse another destiny; ours give it a key and leave the
    conversations' keys as they were (a deploy ends no conversation under way)."""
    key = StorageKey(bot_id=1, chat_id=5, user_id=5)
    ours, aiograms = DestinyKeyBuilder(), DefaultKeyBuilder()
    for part in ("state", "data", "lock", None):
        assert ours.build(key, part) == aiograms.build(key, part)  # type: ignore[arg-type]
    kept = replace(key, destiny=KEPT_DESTINY)
    assert ours.build(kept, "data") == "fsm:5:5:reading_kept:data"
    assert ours.build(replace(key, thread_id=7), "data") == "fsm:5:7:5:data"


# --- the next meter -------------------------------------------------------------------------


async def test_the_next_meter_is_offered_after_an_accepted_reading(bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_moscow", "two_meters")
    first, second = entry.meters
    await client.send("/reading")
    await client.click(f"№ {second.serial}")  # the second first: the offer wraps around
    (previous,) = last_values(second)
    await client.send(str(int(previous) + 4))
    await client.click("✅ Отправить")
    done, offer = client.texts()[-2:]
    assert "Показания приняты" in done
    assert ("есть ещё счётчик без показаний за ноябрь 2026: "
            f"№ {first.serial}") in offer
    assert buttons(client.bot_messages()[-1]) == [f"📟 Передать показания: № {first.serial}"]
    offer_message = client.bot_messages()[-1]

    await client.click(f"📟 Передать показания: № {first.serial}")
    assert f"Счётчик № {first.serial}" in client.last_text()
    assert await state_of(env, client) == "ReadingStates:value"
    (previous,) = last_values(first)
    await client.send(str(int(previous) + 6))
    await client.click("✅ Отправить")
    # both meters have this period's reading now: nothing more to offer
    assert "Показания приняты" in client.last_text()
    assert buttons(client.bot_messages()[-1]) == ["📜 История", "📊 График"]
    assert demo(env).readings_inserted == 2

    # the old offer still answers: the meter screen says its reading is in
    await client.click(f"📟 Передать показания: № {first.serial}", in_message=offer_message)
    assert "уже переданы" in client.last_text()


async def test_the_next_meter_offer_in_english_and_none_for_one_meter(bot_env: Any) -> None:
    env, client, entry, _clock = await start(bot_env, "mrg_moscow", "two_meters", lang="en")
    first, second = entry.meters
    await client.send("/reading")
    await client.click(f"№ {first.serial}")
    (previous,) = last_values(first)
    await client.send(str(int(previous) + 2))
    await client.click("✅ Submit")
    assert ("has one more meter without a reading for November 2026: "
            f"№ {second.serial}") in client.last_text()
    assert buttons(client.bot_messages()[-1]) == [f"📟 Submit reading: № {second.serial}"]
    # the meter picker marks the meter already read this month
    await client.send("/reading")
    assert "✅ — this month's reading is already sent." in client.last_text()
    assert buttons(client.bot_messages()[-1]) == [f"✅ № {first.serial}", f"№ {second.serial}"]
    await client.click(f"№ {second.serial}")
    assert f"Meter № {second.serial}" in client.last_text()
    await client.send("/cancel")
    # an account with one meter: the accepted reading is the last word
    house = await pick(env, "mrg_krasnodar", "house")
    await link_directly(env, client.user.id, house)
    rows = await linked(env, client.user.id)
    target = next(r for r in rows if r.number == house.number)
    await client.send(f"/start reading_{target.id}")
    (previous,) = last_values(house.meters[0])
    await client.send(str(int(previous) + 2))
    await client.click("✅ Submit")
    assert "Reading accepted" in client.last_text()
    assert buttons(client.bot_messages()[-1]) == ["📜 History", "📊 Chart"]
