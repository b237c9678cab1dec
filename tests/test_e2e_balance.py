"""/balance end to end: the bot as a process polling the local, spec-checking Bot API server.

A tester's path: list the demo accounts with `python -m bot demo-accounts --json` on the
bot's database, register, link an account with its PIN, then /balance, the payments of this
and of last year, and the charges."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.i18n import fmt_money
from bot.suppliers.loader import load_catalog
from tests.botapi.server import FakeBotAPI
from tests.conftest import TEST_TOKEN
from tests.support import leaks
from tests.support.e2e import BotProcess, E2EUser

pytestmark = pytest.mark.e2e

PHONE = "+79165550142"
leaks.remember(PHONE.lstrip("+"))


async def demo_accounts(bot: BotProcess) -> list[dict[str, Any]]:
    """The listing testers use, run on the bot's own database before the bot starts."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "demo-accounts", "--json", cwd=bot.workdir,
        env={k: v for k, v in bot.env.items() if k != "BOT_TOKEN"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    items: list[dict[str, Any]] = json.loads(out)
    for item in items:
        leaks.remember(item["account"])
    return items


def edited(user: E2EUser) -> Any:
    return lambda c: c.method == "editMessageText" and c.chat_id == user.id


async def test_balance_and_histories_end_to_end(tmp_path: Path) -> None:
    async with FakeBotAPI(TEST_TOKEN) as api:
        bot = BotProcess(api, tmp_path, THROTTLE_RATE="0")
        accounts = await demo_accounts(bot)
        # A Perm account with a debt: Perm accepts the PIN printed on the receipt.
        entry = next(a for a in accounts if a["supplier_code"] == "mrg_perm"
                     and a["pin"] and Decimal(a["balance_due"]) > 0)
        zone = load_catalog().get("mrg_perm").zone  # type: ignore[union-attr]
        year = datetime.now(UTC).astimezone(zone).year
        await bot.start()
        try:
            user = E2EUser(api, 7301, language_code="ru")
            await user.send("/start")
            await user.click("✓ 🇷🇺 Русский")
            await user.click("✅ Согласен")
            await user.share_contact(PHONE)
            await user.click("Пропустить ➡️")
            assert any("Регистрация завершена" in t for t in user.texts()[-2:])

            await user.send("/link")
            await user.send("пермь")
            await user.click("Газпром межрегионгаз Пермь")
            await user.send(entry["account"])
            assert "ПИН-код" in user.texts()[-1]
            await user.send(entry["pin"])
            assert any("Лицевой счёт привязан!" in t for t in user.texts()[-2:])

            card = await user.send("/balance")
            text = card.params["text"]
            assert "К оплате: " + fmt_money(Decimal(entry["balance_due"]), "ru") in text
            assert f"•••• {entry['account'][-4:]}" in text and entry["account"] not in text

            payments = await user.click("💸 Платежи")
            assert f"Платежи за {year} год" in payments.params["text"]
            last_year = await user.click(str(year - 1), expect=edited(user))
            assert f"Платежи за {year - 1} год" in last_year.params["text"]
            assert f"Итого за {year - 1} год: " in last_year.params["text"]
            assert last_year.params["message_id"] == payments.result["message_id"]

            charges = await user.click("📊 Начисления")
            assert "Начисления, " in charges.params["text"]
            assert "Всего начислено: " in charges.params["text"]
        finally:
            code = await bot.stop()
        assert code == 0, bot.output[-2000:]

        assert api.violations == []
        # Every button press answered: language, consent, skip, supplier, and ours.
        assert len(api.calls_of("answerCallbackQuery")) >= 7
        for call in api.calls:
            if call.method in {"sendMessage", "editMessageText"}:
                assert len(str(call.params["text"]).encode("utf-16-le")) // 2 <= 4096

    found = leaks.scan_files([bot.log_file], secrets=(TEST_TOKEN,))
    assert found == [], found
