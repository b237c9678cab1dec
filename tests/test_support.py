"""Support tickets through the real Dispatcher: the /support conversation, the support chat's
post, the staff's reply reaching the user, the user's answer, /close, «My tickets», /logs; and
what must never reach the support chat (phone, e-mail, full account number)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiogram.types import Message
from sqlalchemy import func, select

from bot.db.models_support import SupportTicket, TicketMessage
from bot.db.repositories.support import SupportRepository
from bot.services import Services
from bot.services.support import parse_logs_query, validate_description
from tests.support import leaks
from tests.support.fake_session import Request
from tests.test_event_log import scripted_session
from tests.test_groups import GroupMember, answers
from tests.test_linking import PHONE, entries, link_directly, register

SUPPORT_CHAT = -1005550001
EMAIL = "ticket.writer@example.org"
leaks.remember(EMAIL)


# --- helpers ------------------------------------------------------------------------------


def support_requests(env: Any) -> list[Request]:
    return [r for r in env.session.requests if r.chat_id == SUPPORT_CHAT]


def support_texts(env: Any) -> list[str]:
    return [r.text or "" for r in support_requests(env) if r.text]


def assert_no_leaks(env: Any) -> None:
    """Nothing the bot sent to the support chat holds the token, a phone, an e-mail or a
    full account number the tests typed (tests/support/leaks.py)."""
    from tests.conftest import TEST_TOKEN

    for request in support_requests(env):
        found = leaks.scan_text(str(request.params), secrets=(TEST_TOKEN,))
        document = getattr(request.obj, "document", None)
        if document is not None and hasattr(document, "data"):
            found += leaks.scan_text(document.data.decode("utf-8"), secrets=(TEST_TOKEN,))
        assert found == [], (request.method, found)


def last_post(env: Any) -> Message:
    """The bot's newest message in the support chat, as staff would reply to it."""
    key = max(k for k in env.session.sent if k[0] == SUPPORT_CHAT)
    return env.session.sent[key]  # type: ignore[no-any-return]


def post_of(env: Any, ticket_id: int) -> Message:
    for (chat, _), message in sorted(env.session.sent.items()):
        if chat == SUPPORT_CHAT and (message.text or "").startswith(
                f"🆘 <b>Обращение #{ticket_id}</b>"):
            return message  # type: ignore[no-any-return]
    raise AssertionError(f"no post of ticket #{ticket_id}")


async def tickets(env: Any, user_id: int) -> list[SupportTicket]:
    async with env.runtime.app.session_factory() as session:
        return await SupportRepository(session).for_user(user_id, 100)


async def thread(env: Any, ticket_id: int) -> list[TicketMessage]:
    async with env.runtime.app.session_factory() as session:
        return await SupportRepository(session).messages(ticket_id)


async def state_of(env: Any, user_id: int) -> str | None:
    context = env.dp.fsm.get_context(env.bot, user_id, user_id)
    return await context.get_state()  # type: ignore[no-any-return]


async def user_with_account(env: Any, user_id: int, language: str = "ru") -> tuple[Any, Any]:
    client = env.client(user_id=user_id, language_code=language)
    await register(client, language)
    entry = (await entries(env, "mrg_perm"))[0]
    await link_directly(env, user_id, entry)
    return client, entry


async def open_ticket(client: Any, text: str, topic: str = "💳 Оплата",
                      account: str | None = None) -> None:
    await client.send("/support")
    await client.click(topic)
    await client.send(text)
    if account is not None:
        await client.click(account)


# --- the whole round trip --------------------------------------------------------------------


async def test_ticket_round_trip_user_support_user_close(bot_env: Any) -> None:
    env = await bot_env(support_chat_id=SUPPORT_CHAT)
    client, entry = await user_with_account(env, 6201)
    staff = GroupMember(env, 9001, chat_id=SUPPORT_CHAT, first_name="Ольга")

    await client.send("/support")
    assert "О чём ваш вопрос" in client.last_text()
    # Bad input at the topic step: a hint, and the step stays.
    await client.send("у меня вопрос")
    assert "Выберите тему кнопками" in client.last_text()
    await client.click("💳 Оплата")
    assert "Тема: <b>💳 Оплата</b>" in client.texts()[-2]
    assert "Опишите проблему одним сообщением (10–2000 символов)" in client.last_text()
    await client.send_sticker()
    assert "Опишите проблему текстом" in client.last_text()
    await client.send("коротко")
    assert "хотя бы в 10 символах" in client.last_text()
    assert await state_of(env, 6201) == "SupportStates:description"
    # The description holds personal data the user should not have typed: it is scrubbed.
    await client.send(f"Оплатил 12 ноября, а долг не ушёл. Счёт {entry.number}, "
                      f"телефон {PHONE}, почта {EMAIL}")
    assert "О каком лицевом счёте речь?" in client.last_text()
    await client.send("первый")
    assert "Выберите счёт кнопками" in client.last_text()
    await client.click(f"Газпром межрегионгаз Пермь · •••• {entry.number[-4:]}")
    done = client.last_text()
    assert "✅ Обращение <b>#1</b> зарегистрировано" in done
    assert await state_of(env, 6201) is None

    [ticket] = await tickets(env, 6201)
    assert (ticket.topic, ticket.status, ticket.account_id) == ("payments", "open",
                                                                ticket.account_id)
    assert ticket.account_id is not None
    assert entry.number not in ticket.text and EMAIL not in ticket.text
    # The user's own account is masked as everywhere in the bot.
    assert f"•••• {entry.number[-4:]}" in ticket.text and "<email>" in ticket.text

    # The support chat's post: ticket number, user id, language, masked accounts, events.
    post = support_texts(env)[-1]
    assert post.startswith("🆘 <b>Обращение #1</b> · 💳 Оплата")
    assert "Пользователь: <code>6201</code> · язык: ru" in post
    assert f"По счёту: Газпром межрегионгаз Пермь •••• {entry.number[-4:]}" in post
    # In the ticket's zone, as its «Создано» time above (Пермь: МСК+2).
    assert "Последние события (МСК+2):" in post and "<pre>" in post
    # The user's last 10 steps from the event log, oldest first, ending with this ticket's.
    events = post.split("<pre>", 1)[1].split("</pre>", 1)[0].split("\n")
    assert len(events) == 10
    assert "support.description_sent" in events[-2] and "support.account_bad_input" in events[-1]
    assert ticket.support_chat_id == SUPPORT_CHAT and ticket.support_message_id is not None

    # A staff reply to the post reaches the user, with the header, in the user's language.
    sent = answers(await staff.send("Проверим платёж <сегодня>", reply_to=last_post(env)))
    to_user = [r for r in sent if r.chat_id == 6201]
    assert len(to_user) == 1
    assert to_user[0].text is not None
    assert to_user[0].text.startswith("💬 <b>Ответ поддержки по обращению #1</b>")
    assert "Проверим платёж &lt;сегодня&gt;" in to_user[0].text
    assert [r.method for r in sent if r.chat_id == SUPPORT_CHAT] == ["setMessageReaction"]
    assert [(m.author, m.text) for m in await thread(env, 1)] == [
        ("staff", "Проверим платёж <сегодня>")]
    # The user was idle: their next message answers the ticket.
    assert await state_of(env, 6201) == "SupportStates:reply"
    await client.send("Спасибо, жду")
    assert "📨 Отправлено в поддержку (обращение #1)" in client.last_text()
    answer = support_requests(env)[-1]
    assert answer.text is not None and "Спасибо, жду" in answer.text
    assert "#1" in answer.text and "<code>6201</code>" in answer.text
    assert answer.obj.reply_parameters.message_id == ticket.support_message_id
    # Staff answer the user's answer (a reply to the bot's post of it): it reaches the user.
    await staff.send("Деньги зачислены", reply_to=last_post(env))
    assert "Деньги зачислены" in client.last_text()
    assert [m.author for m in await thread(env, 1)] == ["staff", "user", "staff"]

    # /close as a reply to the ticket's post: closed, the user told, the reply state gone.
    sent = answers(await staff.send("/close", reply_to=post_of(env, 1)))
    assert "✅ Ваше обращение <b>#1</b> закрыто" in client.last_text()
    assert any(r.chat_id == SUPPORT_CHAT and "✅ Обращение #1 закрыто." in (r.text or "")
               for r in sent)
    [ticket] = await tickets(env, 6201)
    assert ticket.status == "closed" and ticket.closed_at is not None
    assert await state_of(env, 6201) is None
    await client.send("А ещё вопрос")
    assert "Не понял" in client.last_text() or "меню" in client.last_text()
    # A second /close and a late reply: the staff are told, the user is not messaged.
    before = len(client.texts())
    await staff.send("/close", reply_to=post_of(env, 1))
    assert "уже закрыто" in support_texts(env)[-1]
    await staff.send("Ещё одно", reply_to=post_of(env, 1))
    assert "пользователю ничего не отправлено" in support_texts(env)[-1]
    assert len(client.texts()) == before

    # «My tickets» shows it, with its status and thread.
    await client.send("🆘 Поддержка")
    await client.click("📂 Мои обращения (1)")
    assert "Ваши обращения" in client.last_text()
    message = client.bot_messages()[-1]
    [label] = [b.text for row in message.reply_markup.inline_keyboard for b in row
               if b.text.startswith("⚪️")]
    assert label.startswith("⚪️ #1 · 💳 Оплата")
    await client.click(label)
    card = client.last_text()
    assert "Статус: ⚪️ закрыто" in card and "<b>Поддержка:</b> Деньги зачислены" in card
    assert "<b>Вы:</b> Спасибо, жду" in card

    # Nothing the bot posted in the support chat holds a phone, an e-mail or a full number.
    leaks.remember(entry.number)
    assert_no_leaks(env)

    # /logs shows the same events at the same times as the post: by ticket and by user id
    # (a trial saw 00:42 МСК+2 on the post and 22:42 МСК from /logs).
    stamp = events[-1][:19]
    for asked in ("/logs #1", "/logs 6201"):
        await staff.send(asked)
        shown = support_texts(env)[-1]
        assert "(МСК+2):" in shown and stamp in shown, (asked, shown)


async def test_reply_button_and_user_closing_the_ticket(bot_env: Any) -> None:
    env = await bot_env(support_chat_id=SUPPORT_CHAT)
    client, _ = await user_with_account(env, 6202, "en")
    staff = GroupMember(env, 9002, chat_id=SUPPORT_CHAT, language_code="en")
    await client.send("/support")
    await client.click("📟 Meter readings")
    await client.send("The reading I sent yesterday is not in the history.")
    await client.click("No specific account")
    assert "Ticket <b>#1</b> is registered" in client.last_text()
    [ticket] = await tickets(env, 6202)
    assert ticket.account_id is None
    # The support chat speaks the operator's language (DEFAULT_LOCALE=ru), not the user's.
    assert support_texts(env)[-1].startswith("🆘 <b>Обращение #1</b> · 📟 Показания счётчика")
    assert "язык: en" in support_texts(env)[-1]

    # The user is busy elsewhere when the answer comes: the answer is not taken as input
    # for that step, and «Reply» starts the answer.
    await client.send("/support")
    await staff.send("Please send a photo of the meter", reply_to=post_of(env, 1))
    assert "<b>Support's answer to ticket #1</b>" in client.last_text()
    assert await state_of(env, 6202) == "SupportStates:topic"
    await client.click("↩️ Reply")
    assert "Write your answer to ticket <b>#1</b>" in client.last_text()
    await client.send_photo()
    photo = support_requests(env)[-1]
    assert photo.method == "sendPhoto"
    assert photo.obj.reply_parameters.message_id == ticket.support_message_id
    await client.send_sticker()
    assert "Support reads text and photos" in client.last_text()
    # Commands still work in the middle of an answer.
    await client.send("/help")
    assert "What I can do" in client.last_text()

    await client.send("/support")
    await client.click("📂 My tickets (1)")
    await client.click(next(b.text for row in client.bot_messages()[-1].reply_markup
                            .inline_keyboard for b in row if b.text.startswith("🟢 #1")))
    assert "Status: 🟢 open" in client.last_text()
    await client.click("✅ Close")
    assert client.answered_callbacks()[-1].obj.text == "✅ Ticket #1 closed."
    assert "Status: ⚪️ closed" in client.last_text()
    assert "✅ Пользователь закрыл обращение #1." in support_texts(env)[-1]
    # The old «Reply» button of the answer is stale now.
    answer_message = next(m for m in reversed(client.bot_messages())
                          if (m.text or "").startswith("💬"))
    await client.click("↩️ Reply", in_message=answer_message)
    assert client.answered_callbacks()[-1].obj.show_alert is True
    assert "closed" in str(client.answered_callbacks()[-1].obj.text)
    assert_no_leaks(env)


async def test_photo_first_then_text_and_limits(bot_env: Any) -> None:
    env = await bot_env(support_chat_id=SUPPORT_CHAT)
    client = env.client(user_id=6203)
    await register(client)
    await client.send("/support")
    await client.click("🧾 Квитанция")
    await client.send_photo()
    assert "Фото приложено" in client.last_text()
    # A second photo replaces the first, and says so (a trial's was dropped unsaid).
    await client.send_photo()
    assert "В обращении одно фото: это заменяет отправленное раньше." in client.texts()[-2]
    await client.send("x" * 2001)
    assert "Здесь 2001 символов, а помещается не больше 2000" in client.last_text()
    # A command in the middle of the description goes to its handler; the step and the
    # photo stay.
    await client.send("/help")
    assert "Что я умею" in client.last_text()
    assert await state_of(env, 6203) == "SupportStates:description"
    await client.send("Квитанция за октябрь не открывается")
    # No linked accounts: no account question.
    assert "Обращение <b>#1</b> зарегистрировано" in client.last_text()
    [ticket] = await tickets(env, 6203)
    assert ticket.photo_file_id == "AgAD" and ticket.topic == "receipt"
    post = post_of(env, 1)
    assert "Привязанных счетов нет." in (post.text or "")
    photo = support_requests(env)[-1]
    assert photo.method == "sendPhoto" and photo.obj.photo == "AgAD"
    assert photo.obj.reply_parameters.message_id == post.message_id
    assert "ответьте на сообщение с обращением выше" in (photo.text or "")
    # Staff answer the post, not the photo: a reply to the photo gets a hint.
    staff = GroupMember(env, 9003, chat_id=SUPPORT_CHAT)
    await staff.send("Ответ на фото", reply_to=last_post(env))
    assert "Это не сообщение с обращением" in support_texts(env)[-1]
    assert not [r for r in env.session.requests if r.chat_id == 6203
                and "Ответ на фото" in (r.text or "")]
    await staff.send_photo("Вот так выглядит квитанция", reply_to=post)
    delivered = [r for r in env.session.requests if r.chat_id == 6203][-1]
    assert delivered.method == "sendPhoto"
    assert delivered.text is not None and "Ответ поддержки по обращению #1" in delivered.text
    assert [m.photo_file_id is not None for m in await thread(env, 1)] == [True]
    assert_no_leaks(env)


async def test_without_a_support_chat_the_ticket_is_stored_and_a_warning_logged_once(
        bot_env: Any, caplog: pytest.LogCaptureFixture) -> None:
    env = await bot_env()
    client = env.client(user_id=6204)
    await register(client)
    with caplog.at_level(logging.WARNING, logger="handlers.support_staff"):
        await open_ticket(client, "Не могу привязать счёт, пишет ошибка", "🔗 Привязка счёта")
        assert "Обращение <b>#1</b> зарегистрировано" in client.last_text()
        await open_ticket(client, "И ещё один вопрос про привязку", "🔗 Привязка счёта")
        assert "Обращение <b>#2</b> зарегистрировано" in client.last_text()
    warnings = [r for r in caplog.records if "SUPPORT_CHAT_ID" in r.getMessage()]
    assert len(warnings) == 1
    stored = await tickets(env, 6204)
    assert [(t.id, t.support_message_id) for t in stored] == [(2, None), (1, None)]
    assert not [r for r in env.session.requests if r.chat_id is not None and r.chat_id < 0]


async def test_a_ticket_opened_without_support_chat_is_posted_with_the_first_answer(
        bot_env: Any, tmp_path: Any) -> None:
    env = await bot_env()
    client = env.client(user_id=6205)
    await register(client)
    await open_ticket(client, "Почему так много начислили за ноябрь?")
    # The operator configures the support chat; the next process posts what comes next.
    from contextlib import AsyncExitStack

    from tests.conftest import make_settings
    from tests.support.botenv import BotEnv

    async with AsyncExitStack() as stack:
        settings = make_settings(env.settings.database_url, support_chat_id=SUPPORT_CHAT)
        env2 = await BotEnv.open(settings, stack)
        client2 = env2.client(user_id=6205)
        await client2.send("/support")
        await client2.click("📂 Мои обращения (1)")
        await client2.click(next(b.text for row in client2.bot_messages()[-1].reply_markup
                                 .inline_keyboard for b in row if b.text.startswith("🟢")))
        await client2.click("↩️ Ответить")
        await client2.send("Дополнение: счётчик новый")
        texts = [r.text or "" for r in env2.session.requests if r.chat_id == SUPPORT_CHAT]
        assert texts[0].startswith("🆘 <b>Обращение #1</b>")
        assert "Дополнение: счётчик новый" in texts[1]
        assert not env2.session.violations


# --- stale and forged buttons -----------------------------------------------------------


async def test_another_users_ticket_cannot_be_opened(bot_env: Any) -> None:
    env = await bot_env(support_chat_id=SUPPORT_CHAT)
    owner = env.client(user_id=6206)
    await register(owner)
    await open_ticket(owner, "Мой личный вопрос про оплату")
    intruder = env.client(user_id=6207)
    await register(intruder)
    await intruder.send("/support")
    message = intruder.bot_messages()[-1]
    for action in ("open", "reply", "close"):
        await intruder.click_data(f"sup:{action}:1", message)
        assert intruder.answered_callbacks()[-1].obj.text in {
            "Эта кнопка больше не действует.", "Это обращение уже закрыто."}
    assert "личный вопрос" not in " ".join(intruder.texts())
    [ticket] = await tickets(env, 6206)
    assert ticket.status == "open"
    # A topic button pressed after the step: answered, nothing stored.
    await intruder.send("/cancel")
    await intruder.click("💳 Оплата", in_message=message)
    assert intruder.answered_callbacks()[-1].obj.text == "Эта кнопка больше не действует."
    assert await tickets(env, 6207) == []


async def test_staff_chatter_and_other_chats(bot_env: Any) -> None:
    env = await bot_env(support_chat_id=SUPPORT_CHAT)
    client = env.client(user_id=6208)
    await register(client)
    await open_ticket(client, "Вопрос про квитанцию за месяц")
    staff = GroupMember(env, 9004, chat_id=SUPPORT_CHAT)
    before = len(env.session.requests)
    # Plain talk among the staff, and a reply to a staff colleague: nothing happens.
    assert answers(await staff.send("Кто возьмёт #1?")) == []
    colleague = Message(message_id=5, date=0, chat=staff.chat, from_user=staff.user, text="я")
    assert answers(await staff.send("ок", reply_to=colleague)) == []
    assert answers(await staff.send("/close")) != []  # not a reply: a hint
    assert "ответом на сообщение с обращением" in support_texts(env)[-1]
    # Staff sending a sticker as a reply: not delivered, and they are told.
    assert [r for r in answers(await staff.send_sticker(reply_to=post_of(env, 1)))
            if r.chat_id == 6208] == []
    assert support_texts(env)[-1] == "Пользователю доставляются только текст и фото."
    # A reply to a message of the bot that is no ticket's post (here: that hint).
    assert [r.chat_id for r in answers(await staff.send("это кому?",
                                                        reply_to=last_post(env)))] == [
        SUPPORT_CHAT]
    assert "Это не сообщение с обращением" in support_texts(env)[-1]
    # The same commands in another group: /close and /logs are unknown there.
    outsider = GroupMember(env, 9005, chat_id=-1007770001)
    assert answers(await outsider.send("/logs 6208")) == []
    assert answers(await outsider.send("/close")) == []
    # …and in a private chat /logs is an unknown command.
    await client.send("/logs 6208")
    assert "Я не знаю команды /logs" in client.last_text()
    assert all(r.chat_id != 6208 or r.method == "sendMessage"
               for r in env.session.requests[before:])


async def test_added_to_the_support_chat_explains_the_workflow(bot_env: Any) -> None:
    env = await bot_env(support_chat_id=SUPPORT_CHAT)
    staff = GroupMember(env, 9010, chat_id=SUPPORT_CHAT, language_code="en")
    [intro] = answers(await staff.bot_joins())
    assert intro.chat_id == SUPPORT_CHAT
    # The operator's language, and the staff's workflow rather than the group introduction.
    assert (intro.text or "").startswith("👋 Сюда будут приходить обращения в поддержку.")
    assert "/close" in (intro.text or "") and "/logs" in (intro.text or "")


# --- /logs ------------------------------------------------------------------------------


async def test_logs_shows_a_scripted_session_in_order(bot_env: Any) -> None:
    env = await bot_env(support_chat_id=SUPPORT_CHAT)
    await scripted_session(env, 6301)
    staff = GroupMember(env, 9006, chat_id=SUPPORT_CHAT)
    await staff.send("/logs 6301 2")
    reply = support_texts(env)[-1]
    assert reply.startswith("📜 События пользователя <code>6301</code> за 2 часа (МСК): 6")
    body = reply.split("<pre>", 1)[1].split("</pre>", 1)[0]
    lines = body.split("\n")
    # Moscow time, as the tickets' times (the deployment's DEFAULT_TIMEZONE), not UTC.
    first = datetime.strptime(lines[0][:19], "%Y-%m-%d %H:%M:%S")
    moscow_now = datetime.now(ZoneInfo("Europe/Moscow")).replace(tzinfo=None)
    assert abs(moscow_now - first) < timedelta(minutes=10), (first, moscow_now)
    assert [line.split()[3] for line in lines] == [
        "registration.start", "registration.language_bad_input",
        "registration.language_chosen", "registration.consent_answered",
        "registration.phone_shared", "registration.email_sent"]
    assert "[RegistrationStates:phone → RegistrationStates:email]" in body
    assert "79160001122" not in reply
    # By ticket number, and as a reply to the ticket's post.
    client = env.client(user_id=6302)
    await register(client)
    await open_ticket(client, "Не приходит квитанция на почту")
    await staff.send("/logs #1")
    assert "<code>6302</code>" in support_texts(env)[-1]
    assert "support.description_sent" in support_texts(env)[-1]
    await staff.send("/logs 1h", reply_to=post_of(env, 1))
    assert "<code>6302</code> за 1 час" in support_texts(env)[-1]
    await staff.send("/logs #99")
    assert "Обращения #99 нет." in support_texts(env)[-1]
    await staff.send("/logs")
    assert "Формат: <code>/logs" in support_texts(env)[-1]
    await staff.send("/logs 6301 abc")
    assert "Формат: <code>/logs" in support_texts(env)[-1]
    await staff.send("/logs 424242")
    assert "нет событий" in support_texts(env)[-1]
    assert_no_leaks(env)


async def test_long_logs_come_as_a_text_document(bot_env: Any) -> None:
    env = await bot_env(support_chat_id=SUPPORT_CHAT)
    client = env.client(user_id=6303)
    await client.send("/start")
    for _ in range(60):
        await client.send_sticker()
    staff = GroupMember(env, 9007, chat_id=SUPPORT_CHAT)
    await staff.send("/logs 6303")
    request = support_requests(env)[-1]
    assert request.method == "sendDocument"
    assert request.text is not None and "<code>6303</code>" in request.text
    document = request.obj.document
    assert document.filename == "events-6303.txt"
    lines = document.data.decode("utf-8").splitlines()
    assert len(lines) == 61
    assert "registration.start" in lines[0]
    assert all("registration.language_bad_input" in line for line in lines[1:])
    stamps = [line[:19] for line in lines]
    assert stamps == sorted(stamps)
    assert_no_leaks(env)


def test_logs_window_in_words() -> None:
    from aiogram.utils.i18n import I18n

    from bot.i18n import create_i18n
    from handlers.support_staff import window_text

    i18n: I18n = create_i18n()
    with i18n.context(), i18n.use_locale("ru"):
        assert [window_text(timedelta(hours=h)) for h in (1, 2, 5, 21, 24)] == [
            "1 час", "2 часа", "5 часов", "21 час", "24 часа"]
        assert window_text(timedelta(minutes=90)) == "90 минут"
    with i18n.context(), i18n.use_locale("en"):
        assert window_text(timedelta(hours=1)) == "1 hour"
        assert window_text(timedelta(days=3)) == "72 hours"


def test_logs_arguments() -> None:
    week = timedelta(days=7)
    query = parse_logs_query("5001 6", week)
    assert query is not None and (query.user_id, query.ticket_id, query.window) == (
        5001, None, timedelta(hours=6))
    query = parse_logs_query("#12 3d", week)
    assert query is not None and (query.ticket_id, query.window) == (12, timedelta(days=3))
    query = parse_logs_query("30d", week)
    assert query is not None and query.user_id is None and query.window == week
    assert parse_logs_query("#x", week) is None
    assert parse_logs_query("1 2 3", week) is None
    assert parse_logs_query("5001 -1", week) is None


def test_description_is_cleaned_and_scrubbed() -> None:
    text = validate_description("  Счёт 5812345678,\u200b тел. +7 916 123-45-67  \n\n ок  ")
    assert text == "Счёт ••••5678, тел. <phone>\n\nок"


# --- data lifetime ----------------------------------------------------------------------------


async def test_deleting_the_user_deletes_tickets_and_unlinking_keeps_them(bot_env: Any) -> None:
    env = await bot_env(support_chat_id=SUPPORT_CHAT)
    client, entry = await user_with_account(env, 6401)
    await open_ticket(client, "Вопрос по оплате этого счёта", account=(
        f"Газпром межрегионгаз Пермь · •••• {entry.number[-4:]}"))
    staff = GroupMember(env, 9008, chat_id=SUPPORT_CHAT)
    await staff.send("Смотрим", reply_to=post_of(env, 1))
    [ticket] = await tickets(env, 6401)
    assert ticket.account_id is not None
    async with env.runtime.app.session_factory() as session:
        await Services(session, env.runtime.app).accounts.unlink(6401, ticket.account_id)
    [ticket] = await tickets(env, 6401)
    assert ticket.account_id is None  # ON DELETE SET NULL: the question stands
    await client.send("/settings")
    await client.click("🗑 Удалить мои данные")
    await client.click(next(b.text for row in client.bot_messages()[-1].reply_markup
                            .inline_keyboard for b in row if b.text.startswith("🗑")))
    async with env.runtime.app.session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(SupportTicket)) == 0
        assert await session.scalar(select(func.count()).select_from(TicketMessage)) == 0


async def delete_my_data(client: Any) -> None:
    await client.send("/settings")
    await client.click("🗑 Удалить мои данные")
    await client.click(next(b.text for row in client.bot_messages()[-1].reply_markup
                            .inline_keyboard for b in row if b.text.startswith("🗑")))


async def test_ticket_numbers_are_never_given_twice(bot_env: Any) -> None:
    """A trial: after «Delete my data» removed ticket #3, the next ticket was #3 again (SQLite
    gives the highest id out again), beside the old #3 post in the support chat."""
    env = await bot_env(support_chat_id=SUPPORT_CHAT)
    first, leaving, later = (env.client(user_id=user_id) for user_id in (6901, 6902, 6903))
    for client in (first, leaving, later):
        await register(client)
    await open_ticket(first, "Первый вопрос о начислениях")
    await open_ticket(leaving, "Второй вопрос о начислениях")
    gone_post = post_of(env, 2)
    await delete_my_data(leaving)
    await open_ticket(later, "Третий вопрос о начислениях")
    assert [t.id for t in await tickets(env, 6903)] == [3]
    assert "Третий вопрос" in post_of(env, 3).text
    # The staff answering the deleted user's post learn why it cannot go out.
    staff = GroupMember(env, 9009, chat_id=SUPPORT_CHAT)
    for text in ("Здравствуйте, смотрим", "/close"):
        await staff.send(text, reply_to=gone_post)
        assert "пользователь удалил свои данные" in support_texts(env)[-1]


async def test_leaving_a_tickets_thread_says_messages_no_longer_go_to_it(bot_env: Any
                                                                          ) -> None:
    """A trial: told «whatever else you write goes to this ticket until /cancel», the user
    tapped «💰 Баланс», then wrote more, which reached nobody, with no word about it."""
    env = await bot_env(support_chat_id=SUPPORT_CHAT)
    client = env.client(user_id=6904)
    await register(client)
    await open_ticket(client, "Почему начислено больше обычного?")
    await open_own_ticket(client, 1)
    await client.click("↩️ Ответить")
    await client.send("И ещё: почему начислено 0?")
    assert "пока вы не отправите /cancel" in client.last_text()
    await client.send("💰 Баланс")
    notice = client.last_text()
    assert "больше не попадает в обращение #1" in notice, notice
    assert buttons_of(client.bot_messages()[-1]) == ["↩️ Ответить"]
    await client.click("↩️ Ответить")
    assert await state_of(env, 6904) == "SupportStates:reply"
    await client.send("/cancel")  # on purpose: nothing more to say
    assert "обращение #1" not in client.last_text()


async def open_own_ticket(client: Any, ticket_id: int) -> None:
    await client.send("/support")
    await client.click(next(b for b in buttons_of(client.bot_messages()[-1])
                            if b.startswith("📂")))
    await client.click(next(b for b in buttons_of(client.bot_messages()[-1])
                            if f"#{ticket_id}" in b))


def buttons_of(message: Message) -> list[str]:
    markup = message.reply_markup
    assert markup is not None
    return [b.text for row in markup.inline_keyboard for b in row]


async def test_ticket_ids_and_counts(bot_env: Any) -> None:
    env = await bot_env()
    async with env.runtime.app.session_factory() as session:
        services = Services(session, env.runtime.app)
        await services.users.choose_language(6501, "ru")
        first = await services.support.open_ticket(6501, "nonsense", "текст обращения", None,
                                                   12345)
        assert (first.topic, first.account_id) == ("other", None)
        assert await services.support.open_count() == 1
        assert await services.support.close(first) is True
        assert await services.support.close(first) is False
        assert await services.support.open_count() == 0
    assert datetime.now(UTC) - first.created_at < timedelta(minutes=1)


# --- personal data in the user's own words; the time zone of a ticket's times -----------------

# The reported ticket, word for word: an account number with a space, a phone without +7/8
# and an e-mail on a Cyrillic domain; the phone and the e-mail are the user's own.
REPORTED_TEXT = ("Не проходит оплата по л/с 5909 3873 (Белова), перезвоните на 916-123-45-67 "
                 "или пишите на иван@почта.рф")
IDN_EMAIL = "иван@почта.рф"
leaks.remember(IDN_EMAIL, "иван@xn--80a1acny.xn--p1ai", "5909 3873", "59093873",
               "916-123-45-67", "9161234567")


async def user_with_own_account(env: Any, user_id: int, number: str = "59093873",
                                email: str | None = IDN_EMAIL) -> Any:
    """A user registered with PHONE (and `email`) who owns the Perm account `number`."""
    from bot.db.repositories.accounts import AccountRepository
    from tests.test_registration import register as register_with_email

    client = env.client(user_id=user_id, language_code="ru")
    await register_with_email(client, "ru", email=email)
    async with env.runtime.app.session_factory() as session:
        await AccountRepository(session).add_within_limits(
            user_id=user_id, supplier_code="mrg_perm", number=number, unit=None,
            owner_masked="Б•••••а", address_masked="г. П•••••", at=datetime.now(UTC),
            supplier_limit=None, total_limit=10)
    return client


async def test_the_reported_ticket_reaches_the_support_chat_without_personal_data(
        bot_env: Any) -> None:
    env = await bot_env(support_chat_id=SUPPORT_CHAT)
    client = await user_with_own_account(env, 6801)
    await open_ticket(client, REPORTED_TEXT, account="Газпром межрегионгаз Пермь · •••• 3873")
    assert "✅ Обращение <b>#1</b> зарегистрировано" in client.last_text()

    post = support_texts(env)[-1]
    quoted = post.split("<blockquote>", 1)[1].split("</blockquote>", 1)[0]
    assert quoted == ("Не проходит оплата по л/с •••• 3873 (Белова), перезвоните на "
                      "[телефон] или пишите на [эл. почта]")
    # What the staff need is all there: the ticket, the topic, the account (masked).
    assert post.startswith("🆘 <b>Обращение #1</b> · 💳 Оплата")
    assert "По счёту: Газпром межрегионгаз Пермь •••• 3873" in post
    [ticket] = await tickets(env, 6801)
    assert ticket.text == ("Не проходит оплата по л/с •••• 3873 (Белова), перезвоните на "
                           "<phone> или пишите на <email>")

    # In the thread, the user's own data in forms no generic pattern knows is masked too.
    staff = GroupMember(env, 9011, chat_id=SUPPORT_CHAT)
    await staff.send("Уточните, пожалуйста, контакты", reply_to=post_of(env, 1))
    await client.send("Счёт 59.09.38.73, тел. 9 1 6 1 2 3 4 5 6 7, почта ИВАН @ ПОЧТА.РФ "
                      "или иван@xn--80a1acny.xn--p1ai; оплатил 22.11.2026 в 10:30 1 234,56 ₽")
    answer = support_texts(env)[-1]
    assert ("Счёт •••• 3873, тел. [телефон], почта [эл. почта] или [эл. почта]; "
            "оплатил 22.11.2026 в 10:30 1 234,56 ₽") in answer
    for text in support_texts(env):
        assert "916" not in text and "5909" not in text and "почта.рф" not in text
        assert "иван" not in text.lower() and "xn--" not in text
    assert_no_leaks(env)
    # The user's own view of the ticket names what was masked in their language.
    await client.send("/cancel")
    await open_own_ticket(client, 1)
    card = client.last_text()
    assert "перезвоните на [телефон] или пишите на [эл. почта]" in card, card
    assert "&lt;phone&gt;" not in card


async def test_personal_data_of_a_user_without_accounts_is_scrubbed_too(bot_env: Any) -> None:
    env = await bot_env(support_chat_id=SUPPORT_CHAT)
    client = env.client(user_id=6802)
    await register(client)
    await open_ticket(client, "Звоню с +380 44 123 4567 и (916) 123 45 67, счёт 59-30-19-12")
    post = support_texts(env)[-1]
    assert "звоню с [телефон] и [телефон], счёт ••••1912".lower() in post.lower()
    assert_no_leaks(env)


@pytest.mark.parametrize(("overrides", "about_account", "created_at", "closed_at"), [
    # No account: the bot's DEFAULT_TIMEZONE (Moscow unless configured).
    ({}, False, "22.11.2026, 07:56 (МСК)", "22.11.2026, 08:56 (МСК)"),
    ({"default_timezone": "Asia/Vladivostok"}, False,
     "22.11.2026, 14:56 (МСК+7)", "22.11.2026, 15:56 (МСК+7)"),
    # About an account: its supplier's zone (Perm: Asia/Yekaterinburg).
    ({}, True, "22.11.2026, 09:56 (МСК+2)", "22.11.2026, 10:56 (МСК+2)"),
])
async def test_ticket_times_are_shown_in_the_tickets_zone(
        bot_env: Any, overrides: dict[str, Any], about_account: bool, created_at: str,
        closed_at: str) -> None:
    from tests.test_linking import Clock

    env = await bot_env(support_chat_id=SUPPORT_CHAT, **overrides)
    created = datetime(2026, 11, 22, 4, 56, tzinfo=UTC)
    env.runtime.app.clock = Clock(created)
    client = await user_with_own_account(env, 6803, email=None)
    await open_ticket(client, "Вопрос по оплате за ноябрь", account=(
        "Газпром межрегионгаз Пермь · •••• 3873" if about_account else "Без конкретного счёта"))
    # The support chat's post and the user's card say the same time, and in which zone.
    assert f"Создано: {created_at}" in support_texts(env)[-1]
    await client.send("/support")
    await client.click("📂 Мои обращения (1)")
    await client.click(next(b.text for row in client.bot_messages()[-1].reply_markup
                            .inline_keyboard for b in row if b.text.startswith("🟢 #1")))
    assert f"Создано: {created_at}" in client.last_text()
    env.runtime.app.clock = Clock(created + timedelta(hours=1))
    await client.click("✅ Закрыть")
    assert f"Закрыто: {closed_at}" in client.last_text()
