"""The whole bot as a process, polling a local Bot API server that checks every request."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.botapi.server import FakeBotAPI
from tests.conftest import TEST_TOKEN
from tests.support import leaks
from tests.support.e2e import BotProcess, E2EUser

pytestmark = pytest.mark.e2e

PHONE = "+79167654321"
EMAIL = "e2e.user@example.org"
leaks.remember(PHONE.lstrip("+"), EMAIL)


async def test_registration_end_to_end_with_restart(tmp_path: Path) -> None:
    async with FakeBotAPI(TEST_TOKEN) as api:
        bot = BotProcess(api, tmp_path)
        await bot.start()
        try:
            # start-up: webhook removed without dropping updates, commands for ru and en
            delete = api.calls_of("deleteWebhook")
            assert delete and str(delete[-1].params.get("drop_pending_updates", "false")) in (
                "false", "False")
            for lang in ("ru", "en"):
                commands = api.commands_for({"type": "all_private_chats"}, lang)
                assert commands and {c["command"] for c in commands} >= {"start", "help"}

            ru = E2EUser(api, 7001, language_code="ru")
            reply = await ru.send("/start")
            assert "Выберите язык" in reply.params["text"]
            await ru.send_sticker()
            assert "выберите язык кнопками" in ru.texts()[-1]
            await ru.click("✓ 🇷🇺 Русский")
            assert "Согласие на обработку" in ru.texts()[-1]
            await ru.click("✅ Согласен")
            await ru.share_contact("+79990000000", owner_id=1)
            assert "чужой контакт" in ru.texts()[-1]
            await ru.send("89167654321")
            assert "Не вводите номер" in ru.texts()[-1]

            # restart in the middle of registration: the step is kept (SQLite storage)
            assert await bot.stop() == 0
            await bot.start()
            await ru.share_contact(PHONE)
            await ru.send("not an email")
            assert "не похоже на адрес e-mail" in ru.texts()[-1]
            await ru.send(EMAIL)
            assert any("Регистрация завершена" in t for t in ru.texts()[-2:])
            await ru.send("/start")
            assert "Здравствуйте" in ru.texts()[-1]

            en = E2EUser(api, 7002, first_name="John", language_code="en")
            await en.send("/start")
            await en.click("✓ 🇬🇧 English")
            await en.click("✖️ Decline")
            assert "nothing personal has been stored" in en.texts()[-1]
            await en.send("/start")  # the language chosen before is kept: consent again
            assert "Consent to personal data processing" in en.texts()[-1]
            await en.click("✅ I agree")
            await en.share_contact("+79161112233")
            leaks.remember("79161112233")
            await en.click("Skip ➡️")
            assert any("Registration complete" in t for t in en.texts()[-2:])
            await en.send("/cancel")
            assert "nothing to cancel" in en.texts()[-1]
            await en.send("/settings")
            await en.click("🗑 Delete my data")
            await en.click("🗑 Yes, delete everything")
            assert "All your data has been deleted" in en.texts()[-1]
        finally:
            code = await bot.stop()
        assert code == 0, bot.output[-2000:]

        # every callback query was answered, and no request broke the spec
        assert api.violations == []
        pressed = [c for c in api.calls_of("answerCallbackQuery")]
        assert len(pressed) >= 7

    # the database holds what registration stored, and no more
    db = sqlite3.connect(tmp_path / "bot.sqlite3")
    try:
        rows = db.execute("SELECT id, phone, email, language FROM users ORDER BY id").fetchall()
    finally:
        db.close()
    assert rows == [(7001, PHONE, EMAIL, "ru")]

    # one structured event per update, with handler and states; no personal data in the logs
    events = [e for e in bot.log_events() if e.get("logger") == "bot.events"]
    assert len(events) >= 20
    assert {"update_id", "user_id", "chat_id", "kind", "handler", "state_before",
            "state_after", "duration_ms", "outcome"} <= set(events[0])
    assert any(e["state_before"] == "RegistrationStates:phone"
               and e["state_after"] == "RegistrationStates:email" for e in events)
    found = leaks.scan_files([bot.log_file], secrets=(TEST_TOKEN,))
    assert found == [], found
    output = bot.output
    assert TEST_TOKEN not in output and PHONE.lstrip("+") not in output


async def test_the_checker_fails_on_an_invalid_request(tmp_path: Path) -> None:
    """The harness is only worth something if a bad request fails the test."""
    import aiohttp

    async with FakeBotAPI(TEST_TOKEN) as api:
        async with aiohttp.ClientSession() as http:
            url = f"{api.base_url}/bot{TEST_TOKEN}/sendMessage"
            # Telegram ignores an unknown field, so the server answers 200 but records it.
            async with http.post(url, data={"chat_id": "1", "text": "x",
                                            "disable_web_page_preview": "true"}) as resp:
                assert resp.status == 200
            assert len(api.violations) == 1
            # A missing required field is refused as Telegram refuses it.
            async with http.post(url, data={"text": "x"}) as resp:
                assert resp.status == 400
        assert len(api.violations) == 2
        with pytest.raises(AssertionError):
            api.assert_no_violations()


async def test_polling_start_without_token_fails_fast(tmp_path: Path) -> None:
    async with FakeBotAPI(TEST_TOKEN) as api:
        bot = BotProcess(api, tmp_path, BOT_TOKEN="")
        await bot.start(wait_polling=False)
        assert bot.proc is not None
        code = await bot.proc.wait()
        out = bot.output
        assert code == 2
        assert out.strip() == "Configuration error: BOT_TOKEN: is required but not set"
