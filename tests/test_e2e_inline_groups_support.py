"""Inline mode, a forum group and a support ticket end to end: the bot as a process, polling
the local Bot API server that checks every request against the spec."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.botapi import updates
from tests.botapi.server import ApiCall, FakeBotAPI
from tests.conftest import TEST_TOKEN
from tests.support import leaks
from tests.support.e2e import BotProcess, E2EUser

pytestmark = pytest.mark.e2e

PHONE = "+79165556677"
leaks.remember(PHONE.lstrip("+"))
SUPPORT = -1005550002
GROUP = updates.group_chat(-1002220004440, "Дом на Ленина, 5", is_forum=True)
SUPPORT_CHAT = updates.group_chat(SUPPORT, "Поддержка")


async def demo_account(workdir: Path) -> dict[str, Any]:
    """A Perm demo account with its PIN, as testers get them (`python -m bot demo-accounts`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DATABASE_"))}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{workdir / 'bot.sqlite3'}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "demo-accounts", "--json", cwd=workdir, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    account = next(item for item in json.loads(out) if item["supplier_code"] == "mrg_perm")
    leaks.remember(account["account"])
    return account  # type: ignore[no-any-return]


async def register(user: E2EUser) -> None:
    await user.send("/start")
    await user.click("✓ 🇷🇺 Русский")
    await user.click("✅ Согласен")
    await user.share_contact(PHONE)
    await user.click("Пропустить ➡️")
    assert any("Регистрация завершена" in text for text in user.texts()[-2:])


async def push(api: FakeBotAPI, update: dict[str, Any], predicate: Any,
               timeout: float = 15) -> ApiCall:
    since = api.mark()
    api.push_update(update)
    return await api.wait_for(predicate, timeout, since=since)


def sent_to(chat_id: int) -> Any:
    return lambda c: c.method in {"sendMessage", "sendDocument", "sendPhoto"} \
        and c.chat_id == chat_id


async def test_inline_group_support_end_to_end(tmp_path: Path) -> None:
    async with FakeBotAPI(TEST_TOKEN) as api:
        bot = BotProcess(api, tmp_path, SUPPORT_CHAT_ID=str(SUPPORT), ADMIN_IDS="7103",
                         THROTTLE_RATE="0")
        await bot.start()
        try:
            for update_type in ("inline_query", "my_chat_member"):
                assert update_type in (api.allowed_updates or [])
            commands = api.commands_for({"type": "all_group_chats"}, "ru")
            assert commands and {c["command"] for c in commands} >= {"balance", "support"}

            # A registered user links a demo account through the conversation.
            ivan = E2EUser(api, 7101)
            await register(ivan)
            account = await demo_account(tmp_path)
            await ivan.send("/link")
            await ivan.send("пермь")
            await ivan.click("Газпром межрегионгаз Пермь")
            await ivan.send(account["account"])
            await ivan.send(account["pin"])
            assert any("Лицевой счёт привязан" in text for text in ivan.texts()[-3:])
            tail = account["account"][-4:]

            # Inline: his own card; a registered neighbour without accounts gets a button;
            # a stranger gets the register button.
            call = await push(api, updates.inline_query(ivan.user, "пермь"),
                              lambda c: c.method == "answerInlineQuery")
            results = call.params["results"]
            assert len(results) == 1 and call.params["is_personal"] is True
            card = results[0]["input_message_content"]["message_text"]
            assert f"•••• {tail}" in card and account["account"] not in card
            button = results[0]["reply_markup"]["inline_keyboard"][0][0]
            assert button["url"].startswith("https://t.me/gas_test_bot?start=balance_")
            anna = E2EUser(api, 7102, first_name="Анна")
            call = await push(api, updates.inline_query(anna.user, ""),
                              lambda c: c.method == "answerInlineQuery")
            assert call.params["results"] == []
            assert call.params["button"]["start_parameter"] == "link"
            assert tail not in json.dumps(call.params)

            # The bot is added to a forum group: an introduction.
            intro = await push(api, updates.my_chat_member(ivan.user, GROUP, api.bot_user),
                               sent_to(GROUP["id"]))
            assert "@gas_test_bot" in intro.params["text"]
            # Chatter first, then a command in topic 5: only the command is answered, in the
            # topic, with a deep link and nothing personal.
            since = api.mark()
            api.push_update(updates.message(ivan.user, "Соседи, когда придут квитанции?",
                                            GROUP, message_thread_id=5))
            reply = await push(api, updates.command(ivan.user, "/balance", chat=GROUP,
                                                    bot_username="gas_test_bot",
                                                    message_thread_id=5),
                               sent_to(GROUP["id"]))
            await ivan.settle()
            assert [c for c in api.calls[since:] if c.chat_id == GROUP["id"]
                    and c.method.startswith("send")] == [reply]
            assert reply.params["message_thread_id"] == 5
            url = reply.params["reply_markup"]["inline_keyboard"][0][0]["url"]
            assert url == "https://t.me/gas_test_bot?start=balance"
            assert tail not in json.dumps(reply.params) and PHONE not in json.dumps(reply.params)

            # A ticket: user → support chat.
            await ivan.send("/support")
            await ivan.click("💳 Оплата")
            await ivan.send(f"Оплатил, а долг остался. Мой телефон {PHONE}")
            await ivan.click(f"Газпром межрегионгаз Пермь · •••• {tail}")
            assert "Обращение <b>#1</b> зарегистрировано" in ivan.texts()[-1]
            posts = api.sent_to(SUPPORT)
            assert len(posts) == 1
            post = posts[0].result
            assert post["text"].startswith("🆘 Обращение #1")
            # Staff reply → the user; the user answers → the support chat; /close.
            olga = updates.tg_user(7109, "Ольга")
            answer = await push(api, updates.message(olga, "Проверяем, ответим сегодня",
                                                     SUPPORT_CHAT, reply_to=post),
                                sent_to(7101))
            assert "Ответ поддержки по обращению #1" in answer.params["text"]
            assert "Проверяем, ответим сегодня" in answer.params["text"]
            back = await push(api, updates.message(ivan.user, "Спасибо!"), sent_to(SUPPORT))
            assert "Спасибо!" in back.params["text"]
            assert back.params["reply_parameters"]["message_id"] == post["message_id"]
            await ivan.settle()
            close = updates.message(olga, "/close", SUPPORT_CHAT, reply_to=post,
                                    entities=[{"type": "bot_command", "offset": 0,
                                               "length": 6}])
            told = await push(api, close, sent_to(7101))
            assert "закрыто" in told.params["text"]
            await ivan.settle()

            # /logs in the support chat: the user's events, in order.
            logs = updates.message(olga, "/logs 7101 1", SUPPORT_CHAT,
                                   entities=[{"type": "bot_command", "offset": 0,
                                              "length": 5}])
            shown = await push(api, logs, sent_to(SUPPORT))
            assert shown.method == "sendMessage"
            text = shown.params["text"]
            assert "<code>7101</code>" in text and "<pre>" in text
            assert text.index("registration.start") < text.index("linking.") \
                < text.index("support.account_chosen") < text.index("support.user_answer")

            # /stats for the admin.
            admin = E2EUser(api, 7103)
            stats = await admin.send("/stats")
            assert "Открытых обращений в поддержку: 0" in stats.params["text"]
        finally:
            code = await bot.stop()
        assert code == 0, bot.output[-2000:]
        api.assert_no_violations()
        # Every button press (language, consent, skip, supplier, topic, account) answered.
        assert len(api.calls_of("answerCallbackQuery")) == 6

        # Nothing personal in the support chat or in the logs.
        for call in api.calls:
            if call.chat_id == SUPPORT:
                assert leaks.scan_text(json.dumps(call.params, ensure_ascii=False)) == []
    found = leaks.scan_files([bot.log_file], secrets=(TEST_TOKEN,))
    assert found == [], found
    assert TEST_TOKEN not in bot.output
