"""/pay and /receipt end to end: the bot as a process, polling the local spec-checking Bot API
server. A user registers, links a demo account through the chat, gets payment QR codes for the
amount due and for a typed amount, and the receipts of the latest and an older period; what
arrives over HTTP is decoded (QR) and read back (PDF)."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pypdf
import pytest
import zxingcpp
from PIL import Image

from bot.billing.demo import DemoBillingConnector
from bot.billing.models import AccountRef, Period, ReceiptData
from bot.db.engine import create_engine, create_session_factory
from bot.i18n import fmt_money, fmt_period
from bot.payments.gost import parse_payload
from bot.suppliers import load_catalog
from tests.botapi.server import ApiCall, FakeBotAPI
from tests.conftest import TEST_TOKEN
from tests.support import leaks
from tests.support.e2e import ROOT, BotProcess, E2EUser

pytestmark = pytest.mark.e2e

PHONE = "+79167650011"
leaks.remember(PHONE.lstrip("+"))


def demo_listing(database_url: str) -> list[dict[str, Any]]:
    """`python -m bot demo-accounts --json` on the database the bot will use."""
    env = {**os.environ, "DATABASE_URL": database_url, "BOT_TOKEN": ""}
    result = subprocess.run([sys.executable, "-m", "bot", "demo-accounts", "--json"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    listing: list[dict[str, Any]] = json.loads(result.stdout)
    for entry in listing:
        leaks.remember(entry["account"])
    return listing


async def receipt_of(database_url: str, number: str, period: Period) -> ReceiptData:
    """What the demo billing system holds for the receipt, read in this process."""
    engine = create_engine(database_url)
    try:
        catalog = load_catalog()
        connector = DemoBillingConnector(create_session_factory(engine), catalog,
                                         lambda: datetime.now(UTC))
        return await connector.get_receipt(AccountRef("mrg_perm", number), period)
    finally:
        await engine.dispose()


def qr_fields(call: ApiCall) -> tuple[bytes, dict[str, str]]:
    image = Image.open(io.BytesIO(call.files["photo"]))
    found = zxingcpp.read_barcodes(
        image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode))
    assert len(found) == 1
    return found[0].bytes, parse_payload(found[0].bytes)


def pdf_text(call: ApiCall) -> str:
    reader = pypdf.PdfReader(io.BytesIO(call.files["document"]))
    return re.sub(r"[\xa0\u202f\u2009\s]+", " ",
                  "\n".join(page.extract_text() for page in reader.pages))


def money(amount: Decimal) -> str:
    return fmt_money(amount, "ru").replace("\xa0", " ")


async def test_pay_and_receipt_end_to_end(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    entry = next(e for e in demo_listing(database_url)
                 if e["supplier_code"] == "mrg_perm" and Decimal(e["balance_due"]) > 0)
    number, due = entry["account"], Decimal(entry["balance_due"])
    catalog = load_catalog()
    payee = catalog.get("mrg_perm")
    assert payee is not None

    async with FakeBotAPI(TEST_TOKEN) as api:
        bot = BotProcess(api, tmp_path, DATABASE_URL=database_url, THROTTLE_RATE="0")
        await bot.start()
        try:
            user = E2EUser(api, 7301)
            await user.send("/start")
            await user.click("✓ 🇷🇺 Русский")
            await user.click("✅ Согласен")
            await user.share_contact(PHONE)
            await user.click("Пропустить ➡️")
            commands = api.commands_for({"type": "all_private_chats"}, "ru") or []
            assert {"pay", "receipt"} <= {c["command"] for c in commands}

            await user.send("/link")
            await user.send("пермь")
            await user.click("Газпром межрегионгаз Пермь")
            await user.send(number)
            await user.send(entry["pin"])
            assert any("Лицевой счёт привязан" in t for t in user.texts()[-2:])

            # /pay: the amount due with one tap.
            await user.send("/pay")
            label = fmt_money(due, "ru")
            assert label in user.texts()[-1]  # «К оплате за …» or, past the 10th, «Просроченная …»
            photo = await user.click(f"✅ Оплатить {label}",
                                     expect=lambda c: c.method == "sendPhoto")
            raw, fields = qr_fields(photo)
            assert raw.startswith(b"ST00011|")
            assert fields["Name"] == payee.payment.name
            assert fields["PersonalAcc"] == payee.payment.settlement_account
            assert fields["BIC"] == payee.payment.bic
            assert fields["PayeeINN"] == payee.payment.inn
            assert fields["PersAcc"] == number
            assert fields["Sum"] == str(int(due * 100))
            due_period = fields["PaymPeriod"]
            caption = str(photo.params["caption"])
            assert f"Лицевой счёт: <code>{number}</code>" in caption
            assert "Демо-реквизиты" in caption
            assert api.calls_of("sendChatAction")[-1].params["action"] == "upload_photo"

            # /pay: an amount typed, after a typo.
            await user.send("💳 Оплатить")
            await user.click("✏️ Другая сумма")
            await user.send("1 234,567")
            assert "не больше двух цифр" in user.texts()[-1]
            photo = await user.send("1 234,56", expect=lambda c: c.method == "sendPhoto")
            _raw, fields = qr_fields(photo)
            assert fields["Sum"] == "123456" and fields["PersAcc"] == number
            assert len(api.calls_of("sendPhoto")) == 2

            # /receipt: the latest period with one tap.
            await user.send("/receipt")
            latest_text = user.texts()[-1]
            found = re.search(r"Последняя квитанция — за <b>([^<]+)</b>", latest_text)
            assert found is not None
            latest_label = found.group(1)
            document = await user.click(f"📄 Последняя: {latest_label}",
                                        expect=lambda c: c.method == "sendDocument")
            assert api.calls_of("sendChatAction")[-1].params["action"] == "upload_document"
            filename = document.filenames["document"]
            match = re.fullmatch(rf"receipt_{number}_(\d{{4}})-(\d{{2}})\.pdf", filename)
            assert match is not None, filename
            latest = Period(int(match.group(1)), int(match.group(2)))
            assert fmt_period(latest.year, latest.month, "ru") == latest_label
            # The QR of /pay was for the period of this receipt.
            assert due_period == f"{latest.month:02d}{latest.year % 100:02d}"
            text = pdf_text(document)
            assert number in text and latest_label in text and money(due) in text

            # /receipt: an older period from the second page.
            await user.send("🧾 Квитанция")
            await user.click("2/3 ▶️", expect=lambda c: c.method == "editMessageText")
            older = latest.shift(-12)
            older_label = fmt_period(older.year, older.month, "ru")
            document = await user.click(older_label,
                                        expect=lambda c: c.method == "sendDocument")
            assert document.filenames["document"] == f"receipt_{number}_{older}.pdf"
            older_text = pdf_text(document)
            assert number in older_text and older_label in older_text
        finally:
            code = await bot.stop()
        assert code == 0, bot.output[-2000:]
        assert api.violations == []
        # Every tap answered: 3 in registration, 1 supplier, 1 + 1 pay, 1 + 2 receipt.
        assert len(api.calls_of("answerCallbackQuery")) == 9

    receipt = await receipt_of(database_url, number, older)
    assert money(receipt.balance.closing) in older_text
    assert money(receipt.balance.opening) in older_text
    # Nothing personal in the bot's own log.
    assert leaks.scan_files([bot.log_file], secrets=(TEST_TOKEN,)) == []
