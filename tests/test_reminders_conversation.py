"""/reminders through the real Dispatcher, and the buttons under a reminder: defaults on
linking, toggles, the readings day, the time (buttons and typed, with bad input), the time
zone, several accounts, stale and forged buttons, blocked/unblocked, ru and en."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiogram.types import Chat, ChatMemberBanned, ChatMemberMember, ChatMemberUpdated, Update
from aiogram.types import User as TgUser

from bot.callbacks import ReminderActionCB, ReminderCB
from bot.db.models_reminders import ReminderPrefs, ReminderSettingsRow
from bot.reminders.content import ReminderContent
from bot.reminders.delivery import Sender
from bot.reminders.ratelimit import RateLimiter
from bot.services.reminders import ReminderService
from tests.test_linking import (
    Clock,
    buttons,
    entries,
    last_toast,
    link_directly,
    register,
    state_of,
)

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


async def setup(bot_env: Any, lang: str = "ru", codes: tuple[str, ...] = ("mrg_perm",)
                ) -> tuple[Any, Any, list[int]]:
    env = await bot_env()
    env.runtime.app.clock = Clock(NOW)
    client = env.client(language_code=lang)
    await register(client, lang)
    ids = []
    for code in codes:
        entry = (await entries(env, code))[0]
        ids.append((await link_directly(env, client.user.id, entry)).id)
    return env, client, ids


async def settings_row(env: Any, account_id: int) -> ReminderSettingsRow | None:
    async with env.runtime.app.session_factory() as session:
        return await session.get(ReminderSettingsRow, account_id)


async def due_kinds(env: Any, moment: datetime) -> set[tuple[str, int]]:
    async with env.runtime.app.session_factory() as session:
        due = await ReminderService(session, env.runtime.app).due_at(moment)
    return {(item.kind.value, item.account_id) for item in due}


async def test_defaults_after_linking_in_russian(bot_env: Any) -> None:
    env, client, (account_id,) = await setup(bot_env)
    await client.send("/reminders")
    text = client.last_text()
    assert "🔔 <b>Напоминания: Газпром межрегионгаз Пермь</b>" in text
    assert "📟 Показания: в первый день приёма показаний, в 10:00" in text
    assert "следующее: 15 декабря" in text  # the 15th of next month: this one's window passed
    assert "💳 Оплата: за 3 дня до срока оплаты, в 10:00" in text
    assert "🧾 Новая квитанция: когда выйдет, с 1 числа месяца, в 10:00" in text
    assert "🌍 Часовой пояс: Екатеринбург, Пермь (UTC+5), как у поставщика" in text
    assert "принимает показания с 15 по 25 число месяца" in text
    assert buttons(client.bot_messages()[-1]) == [
        "✅ Показания", "📅 В какой день", "✅ Оплата", "📆 За сколько дней",
        "✅ Новая квитанция", "🕒 10:00", "🌍 Часовой пояс"]
    # Nothing stored until the user changes something: the defaults are the absence of a row.
    assert await settings_row(env, account_id) is None
    assert ("readings", account_id) in await due_kinds(env, datetime(2026, 12, 15, 5, tzinfo=UTC))


async def test_english_and_no_accounts(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client(language_code="en")
    await register(client, "en")
    await client.send("/reminders")
    assert "Reminders come for linked accounts" in client.last_text()
    assert buttons(client.bot_messages()[-1]) == ["🔗 Link an account"]
    entry = (await entries(env, "mrg_moscow"))[0]
    await link_directly(env, client.user.id, entry)
    await client.send("/reminders")
    text = client.last_text()
    assert "📟 Meter readings: on the first day of the window, at 10:00" in text
    assert "🌍 Time zone: Moscow (UTC+3), your supplier's" in text
    assert "Gazprom Mezhregiongaz Moscow accepts readings from day 15 to day 26" in text or \
        "accepts readings from day 15 to day 26 of the month" in text


async def test_toggles_and_days(bot_env: Any) -> None:
    env, client, (account_id,) = await setup(bot_env)
    await client.send("/reminders")
    await client.click("✅ Оплата")
    assert last_toast(client) == "🔕 Выключены напоминания об оплате"
    assert "💳 Оплата: выключено" in client.last_text()
    assert "▫️ Оплата" in buttons(client.bot_messages()[-1])
    row = await settings_row(env, account_id)
    assert row is not None and row.payment_on is False and row.readings_on is True
    # Perm's payment reminder (the 7th, 10:00 Perm time) is no longer due.
    assert ("payment", account_id) not in await due_kinds(
        env, datetime(2026, 12, 7, 5, tzinfo=UTC))
    await client.click("▫️ Оплата")
    assert last_toast(client) == "🔔 Включены напоминания об оплате"
    await client.click("📅 В какой день")
    assert "В какой день приёма показаний напоминать" in client.last_text()
    assert buttons(client.bot_messages()[-1])[0] == "✓ в первый день приёма показаний"
    await client.click("за 2 дня до конца приёма показаний")
    assert "📟 Показания: за 2 дня до конца приёма показаний, в 10:00" in client.last_text()
    assert "следующее: 23 ноября" in client.last_text()  # this month's window is still open
    # Due on the 23rd (Perm closes on the 25th), no longer on the 15th.
    assert ("readings", account_id) in await due_kinds(env, datetime(2026, 12, 23, 5, tzinfo=UTC))
    assert ("readings", account_id) not in await due_kinds(
        env, datetime(2026, 12, 15, 5, tzinfo=UTC))
    await client.click("📆 За сколько дней")
    await client.click("за 7 дней до срока оплаты")
    assert "💳 Оплата: за 7 дней до срока оплаты" in client.last_text()
    assert last_toast(client) == "Сохранено."
    # Choosing the days of a reminder that is off turns it on, and says so (a trial was
    # not told).
    await client.click("✅ Оплата")
    await client.click("📆 За сколько дней")
    await client.click("за 3 дня до срока оплаты")
    assert last_toast(client) == "Сохранено, напоминание снова включено."
    row = await settings_row(env, account_id)
    assert row is not None and row.payment_on is True and row.payment_days_before == 3


async def test_time_by_button_and_typed_with_bad_input(bot_env: Any) -> None:
    env, client, (account_id,) = await setup(bot_env)
    await client.send("/reminders")
    await client.click("🕒 10:00")
    assert "В какое время присылать напоминания" in client.last_text()
    assert await state_of(env, client) == "ReminderStates:time"
    await client.send_sticker()
    assert "Отправьте время текстом" in client.last_text()
    for garbage in ("25:00", "в обед", "9:75"):
        await client.send(garbage)
        assert "Нужно время суток, например 9:30" in client.last_text()
    assert await state_of(env, client) == "ReminderStates:time"
    await client.send("7.45")
    assert "✅ Напоминания по этому счёту будут приходить в 07:45." in client.texts()[-2]
    assert "🕒 07:45" in buttons(client.bot_messages()[-1])
    assert await state_of(env, client) is None
    # 07:45 in Perm (UTC+5) on the 15th is 02:45 UTC.
    assert ("readings", account_id) in await due_kinds(
        env, datetime(2026, 12, 15, 2, 45, tzinfo=UTC))
    await client.click("🕒 07:45")
    await client.click("21:00")
    assert "в 21:00" in client.last_text()
    assert await state_of(env, client) is None
    # A command typed while a time is expected is a command, not a bad time.
    await client.click("🕒 21:00")
    await client.send("/accounts")
    assert "Нужно время суток" not in client.last_text()


async def test_time_zone(bot_env: Any) -> None:
    env, client, (account_id,) = await setup(bot_env)
    await client.send("/reminders")
    await client.click("🌍 Часовой пояс")
    assert "Сейчас: как в регионе поставщика." in client.last_text()
    names = buttons(client.bot_messages()[-1])
    assert names[0] == "✓ Как в регионе поставщика" and "Москва (UTC+3)" in names
    assert "Камчатка (UTC+12)" in names and "Калининград (UTC+2)" in names
    await client.click("Москва (UTC+3)")
    assert last_toast(client) == "🌍 Часовой пояс для всех ваших счетов: Москва (UTC+3)"
    assert "🌍 Часовой пояс: Москва (UTC+3)" in client.last_text()
    assert "как у поставщика" not in client.last_text()
    # The Perm account now reminds at 10:00 Moscow time: 07:00 UTC, not 05:00.
    assert ("readings", account_id) in await due_kinds(env, datetime(2026, 12, 15, 7, tzinfo=UTC))
    assert ("readings", account_id) not in await due_kinds(
        env, datetime(2026, 12, 15, 5, tzinfo=UTC))
    await client.click("🌍 Часовой пояс")
    await client.click("Как в регионе поставщика")
    assert "Екатеринбург, Пермь (UTC+5), как у поставщика" in client.last_text()


async def test_time_zone_from_an_account_screen_says_it_is_for_all_accounts(
        bot_env: Any) -> None:
    """A QA trial chose Samara on one account's screen: every account got it (by design),
    but nothing on that screen said so."""
    env, client, (perm_id, moscow_id) = await setup(bot_env, codes=("mrg_perm", "mrg_moscow"))
    await client.send("/reminders")
    perm_button, moscow_button, _zone = buttons(client.bot_messages()[-1])
    await client.click(perm_button)
    await client.click("🌍 Часовой пояс")
    assert "Выбранный часовой пояс действует для всех ваших счетов." in client.last_text()
    await client.click("Самара (UTC+4)")
    assert last_toast(client) == "🌍 Часовой пояс для всех ваших счетов: Самара (UTC+4)"
    assert "Напоминания: Газпром межрегионгаз Пермь" in client.last_text()
    assert "🌍 Часовой пояс: Самара (UTC+4), для всех ваших счетов" in client.last_text()
    # The other account has it too, and its screen says so as well.
    await client.click("⬅️ Все лицевые счета")
    assert "🌍 Часовой пояс: Самара (UTC+4)" in client.last_text()
    await client.click(moscow_button)
    assert "🌍 Часовой пояс: Самара (UTC+4), для всех ваших счетов" in client.last_text()
    # 10:00 in Samara (UTC+4) is 06:00 UTC, for both accounts.
    due = await due_kinds(env, datetime(2026, 12, 15, 6, tzinfo=UTC))
    assert {("readings", perm_id), ("readings", moscow_id)} <= due
    # Back to each supplier's own zone: the toast says it is per account again.
    await client.click("🌍 Часовой пояс")
    await client.click("Как в регионе поставщика")
    assert last_toast(client) == "🌍 Часовой пояс: у каждого счёта — как у его поставщика"
    assert "Москва (UTC+3), как у поставщика" in client.last_text()
    assert "для всех ваших счетов" not in client.last_text()


async def test_time_zone_for_all_accounts_in_english(bot_env: Any) -> None:
    _env, client, _ids = await setup(bot_env, "en")
    await client.send("/reminders")
    await client.click("🌍 Time zone")
    assert "The time zone you choose applies to all your accounts." in client.last_text()
    await client.click("Samara (UTC+4)")
    assert last_toast(client) == "🌍 Time zone for all your accounts: Samara (UTC+4)"
    assert "🌍 Time zone: Samara (UTC+4), for all your accounts" in client.last_text()


async def test_several_accounts_and_stale_buttons(bot_env: Any) -> None:
    env, client, (perm_id, moscow_id) = await setup(bot_env, codes=("mrg_perm", "mrg_moscow"))
    await client.send("/reminders")
    overview = client.bot_messages()[-1]
    assert "🔔 <b>Напоминания</b>" in client.last_text()
    assert "📟✅ 💳✅ 🧾✅" in client.last_text()
    assert "у каждого счёта — как у его поставщика" in client.last_text()
    _perm_button, moscow_button, zone_button = buttons(overview)
    assert zone_button == "🌍 Часовой пояс"
    await client.click(moscow_button)
    assert "Напоминания: Газпром межрегионгаз Москва" in client.last_text()
    assert "⬅️ Все лицевые счета" in buttons(client.bot_messages()[-1])
    await client.click("⬅️ Все лицевые счета")
    assert "🔔 <b>Напоминания</b>" in client.last_text()
    # Moscow is unlinked elsewhere: its old buttons say so instead of acting.
    card = client.bot_messages()[-1]
    await client.click(moscow_button, in_message=card)
    screen = client.bot_messages()[-1]
    async with env.runtime.app.session_factory() as session:
        from bot.services import Services

        await Services(session, env.runtime.app).accounts.unlink(client.user.id, moscow_id)
    await client.click("✅ Оплата", in_message=screen)
    assert last_toast(client) == "Этот лицевой счёт уже не привязан."
    assert await settings_row(env, moscow_id) is None
    # Forged values are refused, and the screen redrawn as it is.
    message = client.bot_messages()[-1]
    for forged in (ReminderCB(action="setpay", id=perm_id, value="4"),
                   ReminderCB(action="setday", id=perm_id, value="e9"),
                   ReminderCB(action="settime", id=perm_id, value="2561"),
                   ReminderCB(action="toggle", id=perm_id, value="sms"),
                   ReminderCB(action="settz", id=0, value="99"),
                   ReminderCB(action="nonsense", id=perm_id)):
        await client.click_data(forged.pack(), message)
        assert last_toast(client) == "Эта кнопка больше не действует."
    # Someone else's account id is not this user's to change.
    for other in (perm_id + 1000, 2**40):  # not theirs; not even a possible id
        await client.click_data(ReminderCB(action="toggle", id=other,
                                           value="payment").pack(), message)
        assert last_toast(client) == "Этот лицевой счёт уже не привязан."
        await client.click_data(ReminderActionCB(action="off", kind="readings",
                                                 id=other).pack(), message)
        assert last_toast(client) == "Этот лицевой счёт уже не привязан."
    assert len(client.answered_callbacks()) == sum(
        1 for r in client.session.requests if r.method == "answerCallbackQuery")


async def send_reminder(env: Any, user_id: int, moment: datetime) -> None:
    """Plan and send through the real sender, into the recording session."""
    app = env.runtime.app
    app.clock = Clock(moment)
    async with app.session_factory() as session:
        await ReminderService(session, app).enqueue_due(moment)
    sender = Sender(env.bot, app, ReminderContent(app, env.runtime.i18n,
                                                   grace=timedelta(hours=6)),
                    RateLimiter(25), metrics=env.runtime.metrics)
    stats = await sender.drain()
    assert stats.sent >= 1


async def test_buttons_under_a_reminder(bot_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    env, client, (account_id,) = await setup(bot_env)
    await send_reminder(env, client.user.id, datetime(2026, 12, 15, 5, tzinfo=UTC))
    reminder = client.bot_messages()[-1]
    assert "Пора передать показания счётчика газа" in (reminder.text or "")
    assert buttons(reminder) == ["📟 Передать показания", "🔕 Больше не напоминать об этом"]
    await client.click("🔕 Больше не напоминать об этом")
    toast = client.answered_callbacks()[-1].obj
    assert toast.show_alert and "Больше не буду напоминать о показаниях" in toast.text
    edited = client.bot_messages()[-1]
    assert buttons(edited) == ["📟 Передать показания", "🔔 Снова напоминать"]
    row = await settings_row(env, account_id)
    assert row is not None and row.readings_on is False
    await client.click("🔔 Снова напоминать")
    assert "Снова буду напоминать о показаниях" in last_toast(client)
    assert (await settings_row(env, account_id)).readings_on is True  # type: ignore[union-attr]
    # «Submit readings» opens the readings feature at this account.
    before = len(client.texts())
    await client.click("📟 Передать показания", in_message=reminder)
    assert len(client.texts()) > before
    assert "В боте этого пока нет" not in client.last_text()
    # A feature whose route is missing: a friendly message, not silence.
    import handlers.reminders as module

    async def no_route(*args: Any) -> bool:
        return False

    monkeypatch.setattr(module, "follow_deep_link", no_route)
    await client.click_data(ReminderActionCB(action="pay", kind="readings",
                                             id=account_id).pack(), reminder)
    assert "В боте этого пока нет" in client.last_text()
    # Stale: the account is gone.
    await client.click_data(ReminderActionCB(action="off", kind="readings",
                                             id=account_id + 500).pack(), reminder)
    assert last_toast(client) == "Этот лицевой счёт уже не привязан."


async def test_blocking_pauses_and_unblocking_resumes(bot_env: Any) -> None:
    env, client, (account_id,) = await setup(bot_env)
    tg_user = TgUser(id=client.user.id, is_bot=False, first_name="Иван")
    bot_user = TgUser(id=env.bot.id, is_bot=True, first_name="Gas")
    chat = Chat(id=client.user.id, type="private")

    async def member_update(update_id: int, new: Any, old: Any) -> None:
        update = Update(update_id=update_id, my_chat_member=ChatMemberUpdated(
            chat=chat, from_user=tg_user, date=datetime.now(UTC),
            old_chat_member=old, new_chat_member=new))
        await env.dp.feed_update(env.bot, update)

    async def prefs() -> ReminderPrefs | None:
        async with env.runtime.app.session_factory() as session:
            return await session.get(ReminderPrefs, client.user.id)

    banned = ChatMemberBanned(user=bot_user, until_date=0)
    member = ChatMemberMember(user=bot_user)
    moment = datetime(2026, 12, 15, 5, tzinfo=UTC)
    await member_update(900_001, banned, member)
    paused = await prefs()
    assert paused is not None and paused.paused_reason == "blocked"
    assert await due_kinds(env, moment) == set()
    await member_update(900_002, member, banned)
    assert (await prefs()).paused_at is None  # type: ignore[union-attr]
    assert ("readings", account_id) in await due_kinds(env, moment)
    # Paused by a 403 and then talking to the bot again: /reminders resumes and says so.
    async with env.runtime.app.session_factory() as session:
        await ReminderService(session, env.runtime.app).pause(client.user.id, "blocked")
    await client.send("/reminders")
    assert "Напоминания были приостановлены" in client.texts()[-2]
    assert (await prefs()).paused_at is None  # type: ignore[union-attr]


async def test_deep_link_to_one_account(bot_env: Any) -> None:
    _env, client, (_perm_id, moscow_id) = await setup(bot_env,
                                                      codes=("mrg_perm", "mrg_moscow"))
    await client.send(f"/start reminders_{moscow_id}")
    assert "Напоминания: Газпром межрегионгаз Москва" in client.last_text()
    for unknown in ("999999", "99999999999999999999", "x"):
        await client.send(f"/start reminders_{unknown}")
        assert "🔔 <b>Напоминания</b>" in client.last_text()  # unknown id: the overview
