"""/receipt through the real Dispatcher: the latest receipt in one tap, older ones from the pages
or typed, as a PDF that reads back with the account, the period and the amounts; rendering off
the event loop; outages, missing receipts, bad input and stale buttons."""

from __future__ import annotations

import io
import re
import threading
from decimal import Decimal
from typing import Any

import pypdf
import pytest
import zxingcpp

from bot.billing.errors import AccountNotFound
from bot.billing.models import AccountRef, Balance, Period, ReceiptData
from bot.callbacks import ReceiptCB, ReceiptPageCB
from bot.i18n import fmt_money, fmt_number, fmt_period
from bot.payments.gost import parse_payload
from bot.services import Services
from bot.services.receipts import parse_period, receipt_filename
from tests.support.fake_session import Request
from tests.test_linking import (
    buttons,
    demo,
    entries,
    last_toast,
    linked,
    register,
    state_of,
)
from tests.test_pay import crimean_twins, debtor, linked_user, uploaded

# --- helpers -----------------------------------------------------------------------------------


def plain(text: str) -> str:
    return re.sub(r"[\xa0\u202f\u2009\s]+", " ", text)


def pdf_text(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return plain("\n".join(page.extract_text() for page in reader.pages))


def pdf_qr(pdf: bytes) -> dict[str, str]:
    images = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].images
    assert len(images) == 1
    image = images[0].image
    assert image is not None
    found = zxingcpp.read_barcodes(
        image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode))
    assert len(found) == 1
    return parse_payload(found[0].bytes)


def documents(env: Any) -> list[Request]:
    return [r for r in env.session.requests if r.method == "sendDocument"]


def period_label(period: Period, lang: str = "ru") -> str:
    return fmt_period(period.year, period.month, lang)


async def periods_of(env: Any, ref: AccountRef) -> list[Period]:
    return sorted(await demo(env).list_receipt_periods(ref), reverse=True)


def check_pdf(request: Request, receipt: ReceiptData, lang: str = "ru") -> str:
    """The document is the receipt of `receipt`: its file name, and the facts on the page."""
    document = request.obj.document
    unit = f"_{receipt.ref.unit}" if receipt.ref.unit else ""
    assert document.filename == f"receipt_{receipt.ref.number}{unit}_{receipt.period}.pdf"
    pdf = uploaded(request, "document")
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    assert receipt.ref.number in text
    assert period_label(receipt.period, lang) in text
    balance = receipt.balance
    for amount in (balance.opening, balance.charged, balance.paid):
        assert plain(fmt_number(abs(amount), lang, 2)) in text, amount
    if balance.closing > 0:
        assert plain(fmt_money(balance.closing, lang)) in text
        fields = pdf_qr(pdf)
        assert fields["Sum"] == str(int(balance.closing * 100))
        assert fields["PersAcc"] == receipt.ref.number
        assert fields["PaymPeriod"] == f"{receipt.period.month:02d}{receipt.period.year % 100:02d}"
    return text


# --- the latest in one tap, an older one from the pages or typed --------------------------------


async def test_latest_receipt_in_one_tap(bot_env: Any) -> None:
    env = await bot_env()
    entry = await debtor(env)
    client = await linked_user(env, entry)
    periods = await periods_of(env, entry.ref)
    latest = periods[0]
    await client.send("/receipt")
    text = client.last_text()
    assert f"Последняя квитанция — за <b>{period_label(latest)}</b>" in text
    assert f"•••• {entry.number[-4:]}" in text and entry.number not in text
    keyboard = buttons(client.bot_messages()[-1])
    assert keyboard[0] == f"📄 Последняя: {period_label(latest)}"
    # The older periods follow, newest first, eight to a page, then the arrow.
    assert keyboard[1:9] == [period_label(p) for p in periods[1:9]]
    assert keyboard[9].endswith("▶️")
    assert await state_of(env, client) == "ReceiptStates:period"

    start = len(env.session.requests)
    await client.click(keyboard[0])
    methods = [r.method for r in env.session.requests[start:]]
    assert methods == ["answerCallbackQuery", "sendChatAction", "sendDocument"]
    assert env.session.requests[start + 1].obj.action == "upload_document"
    assert "Готовлю квитанцию" in last_toast(client)
    receipt = await demo(env).get_receipt(entry.ref, latest)
    assert receipt.balance.closing > 0
    document = documents(env)[-1]
    text = check_pdf(document, receipt)
    assert "ПЛАТЁЖНЫЙ ДОКУМЕНТ (КВИТАНЦИЯ)" in text and "ДЕМО" in text
    caption = str(document.obj.caption)
    assert f"Квитанция за {period_label(latest)}" in caption
    assert f"К оплате: <b>{fmt_money(receipt.balance.closing, 'ru')}</b>" in caption
    assert "Демо-реквизиты" in caption
    assert buttons(client.bot_messages()[-1]) == ["💳 Оплатить", "🧾 Другой период"]
    assert await state_of(env, client) is None


async def test_a_receipt_with_nothing_due_offers_no_payment(bot_env: Any) -> None:
    env = await bot_env()
    entry = next(e for e in await entries(env, "sevgas") if e.balance_due < 0)
    client = await linked_user(env, entry, lang="en")
    await client.send("/receipt")
    await client.click(buttons(client.bot_messages()[-1])[0])
    receipt = await demo(env).get_receipt(entry.ref, (await periods_of(env, entry.ref))[0])
    assert receipt.balance.closing < 0
    caption = str(documents(env)[-1].obj.caption)
    assert "Overpayment: <b>" in caption and "Amount due" not in caption
    assert buttons(client.bot_messages()[-1]) == ["🧾 Another period"]


async def test_same_number_in_two_units_gets_two_distinct_receipts(bot_env: Any) -> None:
    env = await bot_env()
    twins = await crimean_twins(env)
    client = await linked_user(env, *twins)
    supplier = env.runtime.app.catalog.get("crimea")
    units = [supplier.unit(e.unit_code).name.ru for e in twins]
    await client.send("/receipt")
    choice = buttons(client.bot_messages()[-1])
    assert [unit in button for button, unit in zip(choice, units, strict=True)] == [True, True]
    purposes = []
    for button, entry, unit in zip(choice, twins, units, strict=True):
        await client.send("/receipt")
        await client.click(button)
        assert unit in client.last_text()
        await client.click(buttons(client.bot_messages()[-1])[0])
        receipt = await demo(env).get_receipt(entry.ref, (await periods_of(env, entry.ref))[0])
        document = documents(env)[-1]
        text = check_pdf(document, receipt)
        assert unit in text and unit in str(document.obj.caption)
        purposes.append(pdf_qr(uploaded(document, "document"))["Purpose"])
        assert f"л/с {entry.number} ({unit})," in purposes[-1]
    assert purposes[0] != purposes[1]


async def test_an_older_period_from_the_pages_in_english(bot_env: Any) -> None:
    env = await bot_env()
    entry = next(e for e in await entries(env, "sevgas") if e.balance_due < 0)
    client = await linked_user(env, entry, lang="en")
    periods = await periods_of(env, entry.ref)
    await client.send("🧾 Receipt")
    assert "Page 1 of 3." in client.last_text()
    await client.click("2/3 ▶️")
    assert [r.method for r in env.session.requests[-2:]] == [
        "answerCallbackQuery", "editMessageText"]
    assert "Page 2 of 3." in client.last_text()
    page = buttons(client.bot_messages()[-1])
    assert page[1:9] == [period_label(p, "en") for p in periods[9:17]]
    assert page[-2:] == ["◀️ 1/3", "3/3 ▶️"]
    older = periods[12]
    await client.click(period_label(older, "en"))
    receipt = await demo(env).get_receipt(entry.ref, older)
    text = check_pdf(documents(env)[-1], receipt, "en")
    assert "PAYMENT DOCUMENT (RECEIPT)" in text
    assert f"Receipt for {period_label(older, 'en')}" in str(documents(env)[-1].obj.caption)
    # The period buttons keep working after a receipt was sent: a receipt never changes.
    await client.click(period_label(periods[10], "en"))
    check_pdf(documents(env)[-1], await demo(env).get_receipt(entry.ref, periods[10]), "en")
    await client.click("◀️ 1/3")
    assert "Page 1 of 3." in client.last_text()


async def test_a_typed_period_and_a_period_without_receipt(bot_env: Any) -> None:
    env = await bot_env()
    entry = await debtor(env)
    client = await linked_user(env, entry)
    periods = await periods_of(env, entry.ref)
    await client.send("/receipt")
    await client.send("в прошлом году")
    assert "Выберите период кнопками выше" in client.last_text()
    assert await state_of(env, client) == "ReceiptStates:period"
    await client.send("13.2026")
    assert "например <code>" in client.last_text()
    named = periods[2]
    await client.send(f"{fmt_period(named.year, named.month, 'ru')}")  # «август 2026»
    assert documents(env)[-1].obj.document.filename.endswith(f"_{named}.pdf")
    await client.send("/receipt")
    await client.send("01.2001")
    assert "Квитанции за январь 2001 по этому лицевому счёту нет" in client.last_text()
    assert await state_of(env, client) == "ReceiptStates:period"
    older = periods[5]
    await client.send(f"{older.month:02d}.{older.year}")
    check_pdf(documents(env)[-1], await demo(env).get_receipt(entry.ref, older))
    await client.send("/receipt")
    await client.send(f"{older.year}-{older.month}")
    assert documents(env)[-1].obj.document.filename.endswith(f"_{older}.pdf")


async def test_bad_input_at_each_step(bot_env: Any) -> None:
    env = await bot_env()
    perm = await debtor(env)
    sevgas = next(e for e in await entries(env, "sevgas") if e.balance_due < 0)
    client = await linked_user(env, perm, sevgas)
    await client.send("/receipt")
    assert "По какому лицевому счёту нужна квитанция?" in client.last_text()
    choice = buttons(client.bot_messages()[-1])
    for send in (client.send_sticker, client.send_photo, lambda: client.send("Севгаз")):
        await send()
        assert "выберите лицевой счёт кнопками" in client.last_text()
        assert buttons(client.bot_messages()[-1]) == choice
        assert await state_of(env, client) == "ReceiptStates:account"
    await client.click(choice[1])
    assert await state_of(env, client) == "ReceiptStates:period"
    for send in (client.send_sticker, client.send_photo):
        await send()
        assert "Выберите период кнопками выше" in client.last_text()
        assert await state_of(env, client) == "ReceiptStates:period"
    # Commands and menu entries leave the step for their own feature.
    await client.send("💳 Оплатить")
    assert await state_of(env, client) == "PayStates:account"
    await client.send("/cancel")
    assert await state_of(env, client) is None


# --- off the event loop ---------------------------------------------------------------------------


async def test_the_pdf_is_rendered_in_a_worker_thread(bot_env: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.services.receipts as receipts

    threads: list[threading.Thread] = []
    real = receipts.render_receipt_pdf

    def spy(receipt: ReceiptData, supplier: Any, lang: str) -> bytes:
        threads.append(threading.current_thread())
        return real(receipt, supplier, lang)

    monkeypatch.setattr(receipts, "render_receipt_pdf", spy)
    env = await bot_env()
    entry = await debtor(env)
    client = await linked_user(env, entry)
    await client.send("/receipt")
    await client.click(buttons(client.bot_messages()[-1])[0])
    assert len(threads) == 1 and threads[0] is not threading.main_thread()
    assert documents(env)


# --- outages, missing receipts, stale buttons -----------------------------------------------------


async def test_outage_when_listing_and_when_fetching_keeps_the_choice(bot_env: Any) -> None:
    env = await bot_env()
    entry = await debtor(env)
    client = await linked_user(env, entry)
    periods = await periods_of(env, entry.ref)
    demo(env).outage = True
    await client.send("/receipt")
    assert "сейчас не отвечает" in client.last_text() and "Ваш выбор сохранён" in client.last_text()
    assert buttons(client.bot_messages()[-1]) == ["🔄 Повторить"]
    assert await state_of(env, client) == "ReceiptStates:period"
    demo(env).outage = False
    await client.click("🔄 Повторить")
    assert "Последняя квитанция" in client.last_text()
    demo(env).outage = True
    await client.click(period_label(periods[3]))
    assert "сейчас не отвечает" in client.last_text()
    assert not documents(env)
    demo(env).outage = False
    # «Retry» fetches the very period that failed.
    await client.click("🔄 Повторить")
    check_pdf(documents(env)[-1], await demo(env).get_receipt(entry.ref, periods[3]))


class NoReceipts:
    """A billing system of an account just opened (no receipts), or one that lost it."""

    def __init__(self, lost: bool = False) -> None:
        self.lost = lost

    async def list_receipt_periods(self, ref: AccountRef) -> list[Period]:
        if self.lost:
            raise AccountNotFound(ref.supplier_code)
        return []

    async def get_balance(self, ref: AccountRef, period: Period | None = None) -> Balance:
        zero = Decimal("0.00")
        return Balance(Period(2026, 11), zero, zero, zero, zero, zero, None)

    async def close(self) -> None:
        return None


async def test_no_receipts_yet_and_an_account_the_supplier_lost(bot_env: Any) -> None:
    env = await bot_env()
    entry = await debtor(env)
    client = await linked_user(env, entry)
    env.runtime.app.billing.override("mrg_perm", NoReceipts())
    await client.send("/receipt")
    assert "квитанций пока нет" in client.last_text()
    assert await state_of(env, client) is None
    # /pay of an account without receipts: the current period.
    await client.send("/pay")
    await client.send("100")
    from tests.test_pay import decode_qr, last_photo

    _raw, fields, _image = decode_qr(uploaded(last_photo(env), "photo"))
    assert fields["PaymPeriod"] == "1126" and fields["Sum"] == "10000"
    env.runtime.app.billing.override("mrg_perm", NoReceipts(lost=True))
    await client.send("/receipt")
    assert "больше не находит этот лицевой счёт" in client.last_text()
    assert await state_of(env, client) is None


async def test_stale_and_forged_buttons(bot_env: Any) -> None:
    env = await bot_env()
    entry = await debtor(env)
    client = await linked_user(env, entry)
    before = len(client.answered_callbacks())
    await client.send("/receipt")
    message = client.bot_messages()[-1]
    account = (await linked(env, client.user.id))[0]
    await client.click_data(ReceiptCB(action="get", id=account.id, period="garbage").pack(),
                            message)
    assert "больше не действует" in last_toast(client)
    await client.click_data(ReceiptCB(action="bogus", id=account.id).pack(), message)
    assert "больше не действует" in last_toast(client)
    # A period button tapped in the middle of another conversation leaves it as it was.
    await client.send("/link")
    await client.click(buttons(message)[0], in_message=message)
    assert documents(env)
    assert await state_of(env, client) == "LinkStates:supplier"
    async with env.runtime.app.session_factory() as session:
        await Services(session, env.runtime.app).accounts.unlink(client.user.id, account.id)
    await client.click(buttons(message)[1], in_message=message)
    assert "уже не привязан" in last_toast(client)
    await client.click_data(ReceiptPageCB(id=account.id, page=1).pack(), message)
    assert "уже не привязан" in last_toast(client)
    await client.click_data(ReceiptCB(action="start", id=account.id).pack(), message)
    assert "уже не привязан" in last_toast(client)
    assert len(documents(env)) == 1
    assert len(client.answered_callbacks()) - before == 6  # every tap answered exactly once


async def test_card_button_and_deep_links(bot_env: Any) -> None:
    env = await bot_env()
    perm = await debtor(env)
    sevgas = next(e for e in await entries(env, "sevgas") if e.balance_due < 0)
    client = await linked_user(env, perm, sevgas)
    _perm_row, sevgas_row = await linked(env, client.user.id)
    await client.send("/accounts")
    await client.click(buttons(client.bot_messages()[-1])[1])
    await client.click("🧾 Квитанция")
    assert f"•••• {sevgas.number[-4:]}" in client.last_text()
    assert "Последняя квитанция" in client.last_text()
    await client.send(f"/start receipt_{sevgas_row.id}")
    assert f"•••• {sevgas.number[-4:]}" in client.last_text()
    await client.send("/start receipt")
    assert "По какому лицевому счёту нужна квитанция?" in client.last_text()
    # The «Receipt» button under a payment QR.
    await client.send(f"/start pay_{sevgas_row.id}")
    await client.send("10")
    await client.click("🧾 Квитанция")
    assert f"•••• {sevgas.number[-4:]}" in client.last_text()
    await client.click(buttons(client.bot_messages()[-1])[0])
    await client.click("🧾 Другой период")
    assert "Последняя квитанция" in client.last_text()
    await client.click("💳 Оплатить")
    assert "переплата" in client.last_text()


async def test_no_accounts(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client(language_code="en")
    await register(client, "en")
    await client.send("/receipt")
    assert "You have no linked accounts yet" in client.last_text()


# --- small rules -------------------------------------------------------------------------------


def test_filename_and_typed_periods() -> None:
    assert receipt_filename("001234567", Period(2026, 1)) == "receipt_001234567_2026-01.pdf"
    assert receipt_filename("12/34 5", Period(2026, 11)) == "receipt_12345_2026-11.pdf"
    for typed, period in [("10.2026", Period(2026, 10)), ("1/2025", Period(2025, 1)),
                          ("2026-03", Period(2026, 3)), (" 2026.12 ", Period(2026, 12)),
                          ("09 - 2026", Period(2026, 9)), ("10.26", Period(2026, 10)),
                          ("2.26", Period(2026, 2)), ("02/25", Period(2025, 2))]:
        assert parse_period(typed) == period, typed
    assert parse_period("10.0026") != Period(2026, 10)  # four digits: the year as typed
    for typed in ("13.2026", "00.2026", "2026", "октябрь", "10.202", "", "10.2026.1", "26.10",
                  "марка 2025", "в прошлом году"):
        assert parse_period(typed) is None, typed
    # Months by name (a trial typed «октябрь 2025» and was told to use the buttons); without
    # a year, the latest such month.
    today = Period(2026, 11)
    for typed, period in [("октябрь 2025", Period(2025, 10)), ("за Октябрь 2025 г.",
                                                                 Period(2025, 10)),
                          ("окт. 2025", Period(2025, 10)), ("мая 2026", Period(2026, 5)),
                          ("October 2025", Period(2025, 10)), ("sept 2026", Period(2026, 9)),
                          ("октябрь", Period(2026, 10)), ("декабрь", Period(2025, 12)),
                          ("ноябрь", Period(2026, 11)), ("Сентябрь", Period(2026, 9)),
                          ("фев 26", Period(2026, 2)), ("Февраль 26", Period(2026, 2)),
                          ("feb 26", Period(2026, 2)), ("февр. 2026", Period(2026, 2)),
                          ("нояб. 2025", Period(2025, 11))]:
        assert parse_period(typed, today) == period, typed
