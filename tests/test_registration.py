"""Registration end to end through the real Dispatcher, in both languages."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import pytest
from sqlalchemy import select

from bot.db.models import ConsentEvent, User
from tests.support.leaks import remember
from tests.test_linking import buttons, state_of

PHONE = "+79161234567"
EMAIL = "Ivan.Petrov@Example.RU"
remember(PHONE.lstrip("+"), EMAIL, EMAIL.lower())


async def get_user(env: Any, user_id: int) -> User | None:
    async with env.runtime.app.session_factory() as session:
        return await session.get(User, user_id)


async def register(client: Any, language: str = "ru", email: str | None = EMAIL) -> None:
    await client.send("/start")
    await client.click("✓ 🇷🇺 Русский" if language == "ru" else "🇬🇧 English")
    await client.click("✅ Согласен" if language == "ru" else "✅ I agree")
    await client.share_contact(PHONE)
    if email:
        await client.send(email)
    else:
        await client.click("Пропустить ➡️" if language == "ru" else "Skip ➡️")


async def test_full_registration_in_russian(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client(language_code="ru")
    await client.send("/start")
    assert "Выберите язык" in client.last_text()
    await client.click("✓ 🇷🇺 Русский")
    assert "Согласие на обработку персональных данных" in client.last_text()
    assert "https://example.org/privacy" in client.last_text()
    await client.click("✅ Согласен")
    assert "Поделитесь номером телефона" in client.last_text()
    assert client.last_reply_keyboard() == ["📱 Поделиться номером"]
    await client.share_contact(PHONE)
    assert "e-mail" in client.last_text()
    await client.send(EMAIL)
    done = client.texts()[-2]
    assert "Регистрация завершена" in done
    assert "привяжите лицевой счёт" in client.last_text()  # the next step is offered
    assert "+7 ••• ••• 45 67" in done
    assert "i•••@example.ru" in done
    assert {"🔗 Привязать счёт", "📋 Мои счета", "⚙️ Настройки", "❓ Помощь"} <= set(
        client.last_reply_keyboard())

    user = await get_user(env, client.user.id)
    assert user is not None and user.is_registered
    assert user.phone == PHONE
    assert user.email == EMAIL.lower()
    assert user.language == "ru"
    assert user.consent_version == env.settings.privacy_policy_version
    # every callback query was answered
    assert len(client.answered_callbacks()) == 2


async def test_full_registration_in_english_with_skipped_email(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client(language_code="de")  # neither ru nor en: the default (ru) is guessed
    await client.send("/start")
    assert "Выберите язык" in client.last_text()
    await client.click("🇬🇧 English")
    assert "Consent to personal data processing" in client.last_text()
    await client.click("✅ I agree")
    await client.share_contact(PHONE)
    await client.click("Skip ➡️")
    assert "Registration complete" in client.texts()[-2]
    assert "E-mail: not given" in client.texts()[-2]
    user = await get_user(env, client.user.id)
    assert user is not None and user.email is None and user.language == "en"


async def test_decline_consent_stores_nothing_personal(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await client.send("/start")
    await client.click("✓ 🇷🇺 Русский")
    await client.click("✖️ Отказаться")
    assert "никаких персональных данных не сохранено" in client.last_text()
    assert "/start" in client.last_text()
    user = await get_user(env, client.user.id)
    assert user is not None and user.phone is None and user.consent_at is None
    # a contact sent now is not stored either
    await client.share_contact(PHONE)
    user = await get_user(env, client.user.id)
    assert user is not None and user.phone is None
    assert "/start" in client.last_text()
    # /start asks for the consent again, without «let's continue» (nothing was under way).
    said = len(client.texts())
    await client.send("/start")
    assert len(client.texts()) == said + 1
    assert "Продолжим" not in client.last_text()
    assert buttons(client.bot_messages()[-1])[0] == "✅ Согласен"


async def test_foreign_contact_text_and_sticker_at_phone_step(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await client.send("/start")
    await client.click("✓ 🇷🇺 Русский")
    await client.click("✅ Согласен")
    await client.share_contact("+79990000000", contact_user_id=777)
    assert "Это чужой контакт" in client.last_text()
    await client.send("+7 916 123-45-67")
    assert "Не вводите номер вручную" in client.last_text()
    await client.send("qwerty")  # no number typed: nothing to tell off
    assert "Нужен ваш номер телефона" in client.last_text()
    await client.send_sticker()
    assert "Нужен ваш номер телефона" in client.last_text()
    user = await get_user(env, client.user.id)
    assert user is not None and user.phone is None
    await client.share_contact(PHONE)
    user = await get_user(env, client.user.id)
    assert user is not None and user.phone == PHONE


async def test_another_features_command_midway_says_it_waits_for_registration(
        bot_env: Any) -> None:
    """A trial sent /balance and /link at the e-mail step and got the question again with no
    word on the command."""
    env = await bot_env()
    client = env.client()
    await client.send("/start")
    await client.click("✓ 🇷🇺 Русский")
    await client.click("✅ Согласен")
    await client.send("/balance")
    said, asked = client.texts()[-2:]
    assert said == "/balance заработает, когда закончим регистрацию: это займёт минуту."
    assert "Поделитесь номером телефона" in asked
    await client.share_contact(PHONE)
    await client.send("/link@gas_test_bot")
    said, asked = client.texts()[-2:]
    assert said.startswith("/link заработает")
    assert "e-mail" in asked.lower()
    user = await get_user(env, client.user.id)
    assert user is not None and user.phone == PHONE and not user.is_registered
    await client.click("Пропустить ➡️")
    user = await get_user(env, client.user.id)
    assert user is not None and user.is_registered


async def test_invalid_email_then_valid(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await client.send("/start")
    await client.click("✓ 🇷🇺 Русский")
    await client.click("✅ Согласен")
    await client.share_contact(PHONE)
    for bad in ("not-an-email", "a@b", "ivan@@example.ru", "иван@пример", "ivan@почта.р",
                "ivan@xn--zzzz.рф", "ivan@-почта.рф", "ivan@почта.рф1", "ivan@xn--80a1acny.xn--",
                "иван петров@почта.рф"):
        await client.send(bad)
        assert "не похоже на адрес e-mail" in client.last_text(), bad
    await client.send_photo()
    assert "Отправьте e-mail текстом" in client.last_text()
    # A command is not an address: the step is asked again (a trial got «not an e-mail»).
    for command in ("/settings", "/balance", "/foo"):
        await client.send(command)
        assert "✉️ Отправьте e-mail" in client.last_text(), command
        assert await state_of(env, client) == "RegistrationStates:email"
    await client.send(EMAIL)
    assert "Регистрация завершена" in client.texts()[-2]


IDN_EMAIL = "ivan@xn--80a1acny.xn--p1ai"  # ivan@почта.рф, as stored
remember("ivan@почта.рф", IDN_EMAIL, "Ivan@Почта.РФ")


@pytest.mark.parametrize("typed", ["ivan@почта.рф", IDN_EMAIL, "Ivan@Почта.РФ"])
async def test_email_on_an_idn_domain_is_accepted_stored_as_punycode_shown_readably(
        bot_env: Any, typed: str) -> None:
    env = await bot_env()
    client = env.client()
    await register(client, email=typed)
    done = client.texts()[-2]
    assert "Регистрация завершена" in done and "i•••@почта.рф" in done
    user = await get_user(env, client.user.id)
    # One canonical spelling whatever was typed: the domain as the idna codec converts it.
    assert user is not None and user.email == IDN_EMAIL
    await client.send("⚙️ Настройки")
    assert "i•••@почта.рф" in client.last_text()
    await client.click("✉️ E-mail")
    await client.send("иван@сайт.москва")
    remember("иван@сайт.москва")
    user = await get_user(env, client.user.id)
    assert user is not None and user.email == "иван@xn--80aswg.xn--80adxhks"
    assert "и•••@сайт.москва" in client.last_text()


@pytest.mark.parametrize("step", ["language", "consent", "phone", "email"])
async def test_sticker_at_each_step_keeps_the_step(bot_env: Any, step: str) -> None:
    env = await bot_env()
    client = env.client()
    await client.send("/start")
    expected_state = "RegistrationStates:language"
    if step != "language":
        await client.click("✓ 🇷🇺 Русский")
        expected_state = "RegistrationStates:consent"
    if step in ("phone", "email"):
        await client.click("✅ Согласен")
        expected_state = "RegistrationStates:phone"
    if step == "email":
        await client.share_contact(PHONE)
        expected_state = "RegistrationStates:email"
    before = len(client.texts())
    await client.send_sticker()
    assert len(client.texts()) == before + 1, "a sticker gets exactly one hint"
    state = await env.dp.fsm.get_context(env.bot, client.user.id, client.user.id).get_state()
    assert state == expected_state


async def test_cancel_midway_then_start_again(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await client.send("/start")
    await client.click("✓ 🇷🇺 Русский")
    await client.click("✅ Согласен")
    await client.send("/cancel")
    assert "Отменено" in client.last_text()
    state = await env.dp.fsm.get_context(env.bot, client.user.id, client.user.id).get_state()
    assert state is None
    await client.send("/start")
    # What was given is kept: the language and the consent; the phone is asked next.
    assert "Продолжим с того места" in client.texts()[-2]
    assert "Поделитесь номером телефона" in client.last_text()
    await client.share_contact(PHONE)
    await client.send("/cancel")  # at the optional e-mail step, this time
    await client.send("/start")
    assert "Продолжим с того места" in client.texts()[-2]
    assert "e-mail" in client.last_text()
    await client.click("Пропустить ➡️")
    assert "Регистрация завершена" in client.texts()[-2]
    user = await get_user(env, client.user.id)
    assert user is not None and user.is_registered and user.phone == PHONE


async def test_start_after_refusing_consent_asks_for_consent_again(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client(language_code="ru")
    await client.send("/start")
    await client.click("🇬🇧 English")
    await client.click("✖️ Decline")
    await client.send("/start")  # changed their mind: the language is remembered
    assert "Consent to personal data processing" in client.last_text()
    await client.click("✅ I agree")
    assert "phone" in client.last_text()


async def test_start_when_registered_asks_nothing(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await register(client)
    await client.send("/start")
    assert "Здравствуйте, Иван!" in client.last_text()
    assert {"🔗 Привязать счёт", "📋 Мои счета", "⚙️ Настройки", "❓ Помощь"} <= set(
        client.last_reply_keyboard())


async def test_start_midway_resumes_the_step(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await client.send("/start")
    await client.click("✓ 🇷🇺 Русский")
    await client.click("✅ Согласен")
    await client.send("/start")
    assert client.texts()[-2] == "Продолжим с того места, где остановились."
    assert "Поделитесь номером телефона" in client.last_text()


async def test_stale_button_is_answered_and_harmless(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await client.send("/start")
    language_message = client.bot_messages()[-1]
    await client.click("✓ 🇷🇺 Русский")
    consent_message = client.bot_messages()[-1]
    await client.click("✅ Согласен")
    # Old buttons pressed again, out of their step.
    await client.click("🇬🇧 English", in_message=language_message)
    await client.click("✖️ Отказаться", in_message=consent_message)
    answers = client.answered_callbacks()
    assert [a.obj.text for a in answers[-2:]] == ["Эта кнопка больше не действует."] * 2
    user = await get_user(env, client.user.id)
    assert user is not None and user.language == "ru" and user.consent_at is not None
    state = await env.dp.fsm.get_context(env.bot, client.user.id, client.user.id).get_state()
    assert state == "RegistrationStates:phone"


async def test_restart_midway_resumes_same_step_sqlite(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await client.send("/start")
    await client.click("✓ 🇷🇺 Русский")
    await client.click("✅ Согласен")
    async with AsyncExitStack() as stack:
        env2 = await env.restart(stack)
        client2 = env2.client()
        await client2.share_contact(PHONE)
        assert "e-mail" in client2.last_text()
        await client2.send(EMAIL)
        assert "Регистрация завершена" in client2.texts()[-2]


async def test_delete_my_data(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await register(client)
    await client.send("/settings")
    assert "Настройки" in client.last_text()
    await client.click("🗑 Удалить мои данные")
    assert "Удалить все ваши данные?" in client.last_text()
    question = client.bot_messages()[-1]
    await client.click("Оставить данные")
    assert await get_user(env, client.user.id) is not None
    # A «Yes» pressed on the question after «Keep» (a second device, a double tap) deleted
    # everything in a trial: it is stale now, and nothing happens.
    await client.click("🗑 Да, удалить всё", in_message=question)
    answers = [r for r in client.requests() if r.method == "answerCallbackQuery"]
    assert answers[-1].text == "Эта кнопка больше не действует."
    assert await get_user(env, client.user.id) is not None
    await client.click("Оставить данные", in_message=question)  # and a second «Keep»
    assert [r for r in client.requests() if r.method == "answerCallbackQuery"][-1].text == (
        "Эта кнопка больше не действует.")
    await client.click("🗑 Удалить мои данные")
    # «да» typed points to the buttons (it went to «Не понял вас» in a trial); nothing goes.
    await client.send("да")
    assert "нажмите «🗑 Да, удалить всё»" in client.last_text()
    assert await get_user(env, client.user.id) is not None
    question = client.bot_messages()[-1]
    await client.click("🗑 Да, удалить всё")
    said = len(client.texts())
    await client.click("🗑 Да, удалить всё", in_message=question)  # the double tap
    assert len(client.texts()) == said + 1  # one answer, not a second deletion notice
    assert "Все ваши данные удалены" in client.texts()[-2]
    assert await get_user(env, client.user.id) is None
    async with env.runtime.app.session_factory() as session:
        actions = list(await session.scalars(
            select(ConsentEvent.action).where(ConsentEvent.user_id == client.user.id)
            .order_by(ConsentEvent.id)))
    assert actions == ["given", "withdrawn"]
    await client.send("/start")
    assert "Выберите язык" in client.last_text()


async def test_the_old_languages_menu_still_works_after_a_switch(bot_env: Any) -> None:
    """Telegram keeps the reply keyboard sent before until the user looks at a new one: a
    trial pressed «💰 Баланс» after switching to English and got «I did not understand»."""
    env = await bot_env()
    client = env.client()
    await register(client)
    await client.send("⚙️ Настройки")
    await client.click("🌐 Язык")
    await client.click("🇬🇧 English")
    await client.send("❓ Помощь")
    assert "What I can do" in client.last_text()
    await client.send("📋 Мои счета")
    assert "You have no linked accounts yet" in client.last_text()


async def test_settings_change_language_email_and_phone(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await register(client)
    await client.send("⚙️ Настройки")
    await client.click("🌐 Язык")
    choice = client.bot_messages()[-1]
    await client.click("🇬🇧 English", in_message=choice)
    assert {"🔗 Link account", "📋 My accounts", "⚙️ Settings", "❓ Help"} <= set(
        client.last_reply_keyboard())
    assert "Language: 🇬🇧 English" in client.last_text()
    said = len(client.texts())
    await client.click("🇬🇧 English", in_message=choice)  # a double tap: said once
    assert len(client.texts()) == said + 1  # the toast only, no error
    await client.click("✉️ E-mail")
    await client.send("broken@")
    assert "doesn't look like an e-mail" in client.last_text()
    await client.send("new.mail@example.org")
    remember("new.mail@example.org")
    user = await get_user(env, client.user.id)
    assert user is not None and user.email == "new.mail@example.org"
    await client.click("📱 Phone")
    await client.send_sticker()
    assert "I need your phone number" in client.last_text()
    await client.send("+7 903 555 00 11")  # typed: the same hint as at registration
    assert "Please don't type the number" in client.last_text()
    await client.share_contact("+79035550011")
    remember("79035550011")
    user = await get_user(env, client.user.id)
    assert user is not None and user.phone == "+79035550011"
    await client.send("/help")
    assert "What I can do" in client.last_text()


async def test_remove_email_button_acts_only_at_the_email_step(bot_env: Any) -> None:
    """A QA trial left the e-mail step with /balance, then tapped the step's old «Удалить мой
    e-mail»: the e-mail was deleted. Like any stale button it must only say so now."""
    env = await bot_env()
    client = env.client()
    await register(client)
    await client.send("/settings")
    await client.click("✉️ E-mail")
    step = client.bot_messages()[-1]  # «Send your new e-mail…» with «Удалить мой e-mail»
    await client.send("/balance")
    await client.click("Удалить мой e-mail", in_message=step)
    assert client.answered_callbacks()[-1].obj.text == "Эта кнопка больше не действует."
    user = await get_user(env, client.user.id)
    assert user is not None and user.email == EMAIL.lower()
    # Back at the step, the button does its job.
    await client.send("/settings")
    await client.click("✉️ E-mail")
    await client.click("Удалить мой e-mail")
    assert client.answered_callbacks()[-1].obj.text == "E-mail удалён."
    user = await get_user(env, client.user.id)
    assert user is not None and user.email is None
    assert "E-mail: не указан" in client.last_text()


async def test_unregistered_user_cannot_open_settings(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await client.send("/settings")
    assert client.last_text() == "Чтобы начать, отправьте /start."


async def test_commands_and_menu_entries_leave_the_settings_steps(bot_env: Any) -> None:
    """The phone and e-mail steps of /settings answer bad input with a hint, but a command
    or a main-menu entry is not their input: it does what it says."""
    env = await bot_env()
    client = env.client()
    await register(client)
    for button in ("📱 Телефон", "✉️ E-mail"):
        await client.send("⚙️ Настройки")
        await client.click(button)
        await client.send_sticker()
        assert "/cancel" in client.last_text()  # the step's hint
        await client.send("/balance")
        answer = client.texts()[-2] if button == "📱 Телефон" else client.last_text()
        assert "нет привязанных" in answer.lower() or "лицев" in answer
        if button == "📱 Телефон":
            # The step's «Share my phone number» keyboard gives way to the menu again.
            assert "Номер телефона не изменён" in client.last_text()
            assert "💰 Баланс" in client.last_reply_keyboard()
        await client.send("hello")  # the step is left: no longer taken as a phone/e-mail
        assert "e-mail" not in client.last_text().lower()
        assert "номер телефона" not in client.last_text()
        await client.send("⚙️ Настройки")
        await client.click(button)
        await client.send("💰 Баланс")
        assert "/cancel" not in client.last_text()


@pytest.mark.parametrize(("raw", "stored"), [
    ("79035550011", "+79035550011"),
    ("+7 (903) 555-00-11", "+79035550011"),
    ("89035550011", "+79035550011"),  # the domestic form of a Russian mobile number
    ("819012345678", "+819012345678"),  # Japan: an 8 that is a country code stays
    ("8123456789", "+8123456789"),
    ("380501234567", "+380501234567"),
])
def test_phone_numbers_are_stored_in_international_form(raw: str, stored: str) -> None:
    from bot.services.users import normalize_phone

    assert normalize_phone(raw) == stored


@pytest.mark.parametrize("raw", ["12345", "8903555", "+1234567890123456"])
def test_phone_numbers_of_impossible_length_are_refused(raw: str) -> None:
    from bot.services.users import InvalidPhone, normalize_phone

    with pytest.raises(InvalidPhone):
        normalize_phone(raw)
