"""Linking end to end: the bot as a process, the local spec-checking Bot API server, the demo
billing system, and one supplier switched to the http connector against a local billing
server that can go down. Every proof method and every failure the linking issue names."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.suppliers.loader import load_catalog
from tests.billing_api_server import TOKEN as BILLING_TOKEN
from tests.billing_api_server import FakeBillingServer
from tests.botapi import updates
from tests.botapi.server import FakeBotAPI
from tests.conftest import TEST_TOKEN
from tests.support import leaks
from tests.support.e2e import ROOT, BotProcess, E2EUser

pytestmark = pytest.mark.e2e

CATALOG = ROOT / "bot" / "suppliers" / "catalog.yaml"


async def demo_accounts(workdir: Path) -> list[dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DATABASE_"))}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{workdir / 'bot.sqlite3'}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "demo-accounts", "--json", cwd=workdir, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    accounts: list[dict[str, Any]] = json.loads(out)
    leaks.remember(*(a["account"] for a in accounts))
    return accounts


def sevgas_over_http(path: Path, billing_url: str) -> None:
    """SUPPLIERS_FILE: Севгаз served by the http connector, everything else unchanged."""
    raw = yaml.safe_load(CATALOG.read_text(encoding="utf-8"))
    entry = next(s for s in raw["suppliers"] if s["code"] == "sevgas")
    entry["connector"] = "http"
    entry["billing_url"] = billing_url
    path.write_text(yaml.safe_dump({"suppliers": [entry]}, allow_unicode=True), "utf-8")


def last_buttons(api: FakeBotAPI, chat_id: int) -> list[str]:
    for message in reversed(api.messages_in(chat_id)):
        rows = (message.get("reply_markup") or {}).get("inline_keyboard")
        if rows:
            return [b["text"] for row in rows for b in row]
    return []


async def register(user: E2EUser, lang: str) -> None:
    await user.send("/start")
    # the user's Telegram language is preselected
    await user.click("✓ " + ("🇷🇺 Русский" if lang == "ru" else "🇬🇧 English"))
    await user.click("✅ Согласен" if lang == "ru" else "✅ I agree")
    await user.share_contact(f"+7916{user.id:07d}")
    leaks.remember(f"7916{user.id:07d}")
    await user.click("Пропустить ➡️" if lang == "ru" else "Skip ➡️")


async def start_perm(user: E2EUser) -> None:
    await user.send("/link")
    await user.send("пермь")
    await user.click("Газпром межрегионгаз Пермь")


async def test_linking_end_to_end(tmp_path: Path) -> None:
    accounts = await demo_accounts(tmp_path)
    perm = [a for a in accounts if a["supplier_code"] == "mrg_perm"]
    crimea = next(a for a in accounts if a["supplier_code"] == "crimea" and a["surname"]
                  and a["last_payment"] not in (None, "0.00"))
    assert len(perm) >= 4
    catalog = load_catalog()
    unit_name = next(u.name.ru for u in catalog.get("crimea").units  # type: ignore[union-attr]
                     if u.name.ru == crimea["unit"] or u.code == crimea["unit"])

    async with FakeBillingServer() as billing, FakeBotAPI(TEST_TOKEN) as api:
        suppliers_file = tmp_path / "suppliers.yaml"
        sevgas_over_http(suppliers_file, billing.base_url)
        bot = BotProcess(api, tmp_path, SUPPLIERS_FILE=str(suppliers_file),
                         BILLING_TOKEN=BILLING_TOKEN, BILLING_TIMEOUT="1")
        await bot.start()
        try:
            ru = E2EUser(api, 9101, language_code="ru")
            await register(ru, "ru")

            # PIN (Perm): a sticker and a wrong PIN on the way, progress kept.
            await start_perm(ru)
            await ru.send_sticker()
            assert "цифрами" in ru.texts()[-1] or "номер" in ru.texts()[-1]
            await ru.send(perm[0]["account"])
            assert "найден" in ru.texts()[-1]
            await ru.send("0000" if perm[0]["pin"] != "0000" else "1111")
            assert "Осталось попыток: 4" in ru.texts()[-1]
            await ru.send(perm[0]["pin"])
            assert "Лицевой счёт привязан!" in ru.texts()[-1]

            # Not found: a well-formed number the supplier does not know.
            await start_perm(ru)
            unknown = "59000001" if perm[0]["account"] != "59000001" else "59000002"
            await ru.send(unknown)
            assert "не находит лицевой счёт" in ru.texts()[-1]

            # Duplicate.
            await ru.send(perm[0]["account"])
            assert "уже привязан к вам" in ru.texts()[-1]

            # The Perm limit of three.
            for account in perm[1:3]:
                await start_perm(ru)
                await ru.send(account["account"])
                await ru.send(account["pin"])
                assert "Лицевой счёт привязан!" in ru.texts()[-1]
            await ru.send("/link")
            await ru.send("пермь")
            await ru.click("Газпром межрегионгаз Пермь")
            assert "не более 3 лицевых счетов" in ru.texts()[-1]

            # Surname + last payment (Крымгазсети, with its management unit).
            await ru.send("/link")
            await ru.send("крым")
            await ru.click(next(b for b in last_buttons(api, ru.id) if "Крымгазсети" in b))
            for _ in range(5):
                if unit_name in last_buttons(api, ru.id):
                    break
                arrow = next(b for b in last_buttons(api, ru.id) if b.endswith("▶️"))
                await ru.click(arrow)
            stale_message, stale_data = ru.last_message_with_button(
                next(b for b in last_buttons(api, ru.id) if b != unit_name))
            stale_message = json.loads(json.dumps(stale_message))
            await ru.click(unit_name)
            await ru.send(crimea["account"])
            await ru.send(crimea["surname"])
            await ru.send(crimea["last_payment"].replace(".", ","))
            assert "Лицевой счёт привязан!" in ru.texts()[-1]
            # A stale button (the unit list of a finished conversation) is answered, harmlessly.
            before = len(api.calls_of("answerCallbackQuery"))
            api.push_update(updates.callback(ru.user, stale_data, stale_message))
            await api.wait_for(lambda c: c.method == "answerCallbackQuery", 15,
                               since=len(api.calls) - 1)
            assert len(api.calls_of("answerCallbackQuery")) == before + 1

            # Supplier unavailable (Севгаз over http, billing down), then back: progress kept.
            billing.down = True
            await ru.send("/link")
            await ru.send("Sevastopol")
            await ru.click(next(b for b in last_buttons(api, ru.id) if "Севгаз" in b))
            await ru.send("001234567")
            leaks.remember("001234567")
            assert "не отвечает" in ru.texts()[-1]
            billing.down = False
            await ru.click("🔄 Повторить")
            assert "найден" in ru.texts()[-1]
            await ru.send("4821")
            assert "Лицевой счёт привязан!" in ru.texts()[-1]

            # /cancel midway.
            await start_perm(ru)
            await ru.send("/cancel")
            assert "Отменено" in ru.texts()[-1]

            # Cooldown: five wrong PINs for one account, in English, for another user.
            en = E2EUser(api, 9102, first_name="Ann", language_code="en")
            await register(en, "en")
            await en.send("/link")
            await en.send("Perm")
            await en.click("Gazprom Mezhregiongaz Perm")
            await en.send(perm[3]["account"])
            wrong = "0000" if perm[3]["pin"] != "0000" else "1111"
            for left in (4, 3, 2, 1):
                await en.send(wrong)
                assert f"Attempts left: {left}." in en.texts()[-1]
            await en.send(wrong)
            assert "Too many wrong attempts" in en.texts()[-1]
            # ...and the right PIN does not help while the pause lasts, at the PIN step...
            await en.send(perm[3]["pin"])
            assert "paused until" in en.texts()[-1]
            # ...nor on starting over.
            await en.send("/link")
            assert "You are linking account" in en.texts()[-1]
            await en.click("🔄 Start over")
            await en.send("Perm")
            await en.click("Gazprom Mezhregiongaz Perm")
            await en.send(perm[3]["account"])
            assert "paused until" in en.texts()[-1]
        finally:
            code = await bot.stop()
        assert code == 0, bot.output[-2000:]
        assert api.violations == []
        # every button press was answered
        queries = [u for u in api.calls_of("answerCallbackQuery")]
        assert len(queries) >= 20

    found = leaks.scan_files([bot.log_file], secrets=(TEST_TOKEN, BILLING_TOKEN))
    assert found == [], found
