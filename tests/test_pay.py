"""/pay through the real Dispatcher: the amount due with one tap or an amount typed → a payment
QR photo whose decoded payload carries the supplier's requisites, the account, the period and
the exact sum; bad input at every step, outages, stale buttons, entry points, and the rules
for typed amounts."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
import zxingcpp
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from bot.billing.demo import DemoAccountEntry
from bot.billing.models import Period
from bot.callbacks import PayCB
from bot.i18n import fmt_date, fmt_money, fmt_period
from bot.payments.gost import MANDATORY_KEYS, parse_payload
from bot.services import Services
from bot.services.payments import MAX_AMOUNT, AmountError, InvalidAmount, parse_amount
from tests.botapi.spec import parse_entities
from tests.conftest import TEST_TOKEN
from tests.support.fake_session import Request
from tests.test_linking import (
    Clock,
    buttons,
    demo,
    entries,
    last_toast,
    link_directly,
    linked,
    log_text,
    register,
    state_of,
)

ROOT = Path(__file__).resolve().parent.parent


# --- helpers -----------------------------------------------------------------------------------


def bundled_entry(code: str) -> dict[str, Any]:
    text = resources.files("bot.suppliers").joinpath("catalog.yaml").read_text(encoding="utf-8")
    return next(e for e in yaml.safe_load(text)["suppliers"] if e["code"] == code)


def override(tmp_path: Path, code: str, **payment: Any) -> Path:
    """A SUPPLIERS_FILE replacing `code` with its bundled entry, payment fields changed."""
    entry = bundled_entry(code)
    entry["payment"].update(payment)
    path = tmp_path / "suppliers.yaml"
    path.write_text(yaml.safe_dump({"suppliers": [entry]}, allow_unicode=True), encoding="utf-8")
    return path


def uploaded(request: Request, field: str) -> bytes:
    """The bytes of the file a request uploaded in `field` (photo, document)."""
    value = getattr(request.obj, field)
    data = getattr(value, "data", None)
    assert isinstance(data, bytes), f"{field} was not uploaded as a file"
    assert request.files, "nothing was sent as multipart"
    return data


def decode_qr(png: bytes) -> tuple[bytes, dict[str, str], Image.Image]:
    image = Image.open(io.BytesIO(png))
    image.load()
    found = zxingcpp.read_barcodes(
        image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode))
    assert len(found) == 1, "exactly one QR code in the picture"
    raw = found[0].bytes
    return raw, parse_payload(raw), image


def last_photo(env: Any) -> Request:
    photos = [r for r in env.session.requests if r.method == "sendPhoto"]
    assert photos, "no photo was sent"
    return photos[-1]


def kopecks(amount: Decimal) -> str:
    return str(int(amount * 100))


# Early in a month: the latest receipt's due date (the 10th in Perm) has not come yet.
BEFORE_DUE = datetime(2026, 11, 3, 6, 0, tzinfo=UTC)


async def debtor(env: Any, code: str = "mrg_perm") -> DemoAccountEntry:
    entry = next(e for e in await entries(env, code) if e.balance_due > 0)
    return entry


async def latest_receipt_period(env: Any, entry: DemoAccountEntry) -> Period:
    periods = await demo(env).list_receipt_periods(entry.ref)
    return max(periods)


def plain_caption(request: Request) -> str:
    text, _entities = parse_entities(str(request.obj.caption), "HTML")
    return text


async def linked_user(env: Any, *codes_and_entries: DemoAccountEntry, lang: str = "ru",
                      user_id: int = 5001) -> Any:
    client = env.client(user_id=user_id, language_code=lang)
    await register(client, lang)
    for entry in codes_and_entries:
        await link_directly(env, client.user.id, entry)
    return client


def requisites_of(env: Any, code: str) -> dict[str, str]:
    payment = env.runtime.app.catalog.get(code).payment
    return {"Name": payment.name, "PersonalAcc": payment.settlement_account,
            "BankName": payment.bank_name, "BIC": payment.bic,
            "CorrespAcc": payment.correspondent_account, "PayeeINN": payment.inn,
            "KPP": payment.kpp}


# --- the amount due with one tap, and a typed amount -------------------------------------------


async def test_due_amount_in_one_tap_cp1251(bot_env: Any) -> None:
    env = await bot_env()
    env.runtime.app.clock = Clock(BEFORE_DUE)  # the latest receipt is not overdue yet
    entry = await debtor(env)
    period = await latest_receipt_period(env, entry)
    client = await linked_user(env, entry)
    await client.send("/pay")
    text = client.last_text()
    due = fmt_money(entry.balance_due, "ru")
    # One account: no account step; the amount due and its period are offered at once.
    assert f"К оплате за {fmt_period(period.year, period.month, 'ru')}: <b>{due}</b>" in text
    assert f"•••• {entry.number[-4:]}" in text and entry.number not in text
    assert buttons(client.bot_messages()[-1]) == [f"✅ Оплатить {due}", "✏️ Другая сумма"]
    assert await state_of(env, client) == "PayStates:amount"

    await client.click(f"✅ Оплатить {due}")
    photo = last_photo(env)
    actions = [r.obj.action for r in env.session.requests if r.method == "sendChatAction"]
    assert actions == ["upload_photo"]
    raw, fields, image = decode_qr(uploaded(photo, "photo"))
    assert raw.startswith(b"ST00011|")
    raw.decode("cp1251")  # the whole payload is windows-1251
    assert list(fields)[:5] == list(MANDATORY_KEYS)
    for key, value in requisites_of(env, "mrg_perm").items():
        assert fields[key] == value, key
    assert fields["PersAcc"] == entry.number
    assert fields["Sum"] == kopecks(entry.balance_due)
    assert fields["PaymPeriod"] == f"{period.month:02d}{period.year % 100:02d}"
    assert fields["Purpose"].startswith("ДЕМО-РЕКВИЗИТЫ, НЕ ОПЛАЧИВАТЬ!")
    assert entry.number in fields["Purpose"]
    # Large enough to scan from a phone screen, quiet zone included.
    assert min(image.size) >= 600

    caption = plain_caption(photo)
    assert len(caption) <= 1024
    assert "Демо-реквизиты" in caption and "Не оплачивайте по этому коду" in caption
    assert f"Получатель: {env.runtime.app.catalog.get('mrg_perm').payment.name}" in caption
    assert f"Лицевой счёт: {entry.number}" in caption
    assert f"Период: {fmt_period(period.year, period.month, 'ru')}" in caption
    assert f"Сумма: {due}" in caption
    assert "Оплата по QR-коду" in caption and "из галереи" in caption
    assert await state_of(env, client) is None
    assert buttons(client.bot_messages()[-1]) == ["💳 Другая сумма", "🧾 Квитанция"]
    # The account number is in the user's chat, never in the logs.
    assert entry.number not in log_text()


async def test_an_overdue_debt_is_not_called_one_months_bill(bot_env: Any) -> None:
    """A trial found a year's debt offered as «К оплате за октябрь … (оплатить до 10 ноября)»
    on 22 November."""
    env = await bot_env()
    clock = Clock(BEFORE_DUE)
    env.runtime.app.clock = clock
    entry = await debtor(env)
    client = await linked_user(env, entry)
    balance = await demo(env).get_balance(entry.ref)
    assert balance.due_date is not None and balance.closing > 0
    clock.now = datetime.combine(balance.due_date + timedelta(days=2), time(9), tzinfo=UTC)
    await client.send("/pay")
    text = client.last_text()
    due = fmt_money(balance.closing, "ru")
    assert f"⚠️ <b>Просроченная задолженность: {due}</b>" in text, text
    assert f"(срок оплаты был до {fmt_date(balance.due_date, 'ru')})" in text
    assert "К оплате за" not in text
    assert buttons(client.bot_messages()[-1]) == [f"✅ Оплатить {due}", "✏️ Другая сумма"]


async def test_custom_amount_utf8_supplier_without_demo_note(bot_env: Any, tmp_path: Path
                                                            ) -> None:
    # No supplier of the bundled catalog uses ST00012, so an operator's override makes one.
    env = await bot_env(suppliers_file=override(tmp_path, "mrg_perm", qr_encoding="utf-8",
                                                demo=False))
    entry = await debtor(env)
    period = await latest_receipt_period(env, entry)
    client = await linked_user(env, entry)
    await client.send("💳 Оплатить")
    await client.click("✏️ Другая сумма")
    assert "Отправьте сумму в рублях" in client.last_text()
    assert "Не больше 1 000 000,00 ₽" in client.last_text().replace("\xa0", " ")
    await client.send("1 234,56")
    photo = last_photo(env)
    raw, fields, _image = decode_qr(uploaded(photo, "photo"))
    assert raw.startswith(b"ST00012|")
    raw.decode("utf-8")
    assert fields["Sum"] == "123456"
    assert fields["PersAcc"] == entry.number
    assert fields["PaymPeriod"] == f"{period.month:02d}{period.year % 100:02d}"
    assert fields["Purpose"] == (
        f"Оплата за газ, л/с {entry.number}, {fmt_period(period.year, period.month, 'ru')}")
    for key, value in requisites_of(env, "mrg_perm").items():
        assert fields[key] == value, key
    caption = plain_caption(photo)
    assert "Сумма: 1 234,56 ₽" in caption.replace("\xa0", " ")
    assert "Демо" not in caption and "ДЕМО" not in fields["Purpose"]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("1500", "150000"), ("99.9 руб.", "9990"), ("₽ 0,01", "1"), ("1,234.56", "123456"),
     ("1 000 000", "100000000")],
)
async def test_typed_amounts_become_exact_kopecks(bot_env: Any, typed: str, expected: str
                                                  ) -> None:
    env = await bot_env()
    entry = await debtor(env)
    client = await linked_user(env, entry)
    await client.send("/pay")
    # Typing the amount right away works too: no need to press «Another amount» first.
    await client.send(typed)
    _raw, fields, _image = decode_qr(uploaded(last_photo(env), "photo"))
    assert fields["Sum"] == expected


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_overpayment_says_nothing_is_due_and_offers_an_amount(bot_env: Any, lang: str
                                                                    ) -> None:
    env = await bot_env()
    entry = next(e for e in await entries(env, "sevgas") if e.balance_due < 0)
    client = await linked_user(env, entry, lang=lang)
    await client.send("/pay")
    text = client.last_text()
    over = fmt_money(-entry.balance_due, lang)
    if lang == "ru":
        assert f"Платить ничего не нужно: у вас переплата <b>{over}</b>" in text
        assert buttons(client.bot_messages()[-1]) == ["✏️ Ввести сумму"]
    else:
        assert f"Nothing is due: you have an overpayment of <b>{over}</b>" in text
        assert buttons(client.bot_messages()[-1]) == ["✏️ Enter an amount"]
    await client.click(buttons(client.bot_messages()[-1])[0])
    await client.send("500")
    photo = last_photo(env)
    _raw, fields, _image = decode_qr(uploaded(photo, "photo"))
    assert fields["Sum"] == "50000" and fields["PersAcc"] == entry.number
    assert entry.number.startswith("00")  # Севгаз: leading zeros kept as printed
    caption = plain_caption(photo)
    if lang == "en":
        assert "Payment QR code" in caption and "Amount: 500.00 ₽" in caption.replace(
            "\xa0", " ")
        assert "Demo requisites" in caption and "Pay by QR code" in caption


async def test_settled_account_has_nothing_due(bot_env: Any) -> None:
    env = await bot_env()
    entry = next(e for e in await entries(env, "mrg_perm") if e.balance_due == 0)
    client = await linked_user(env, entry)
    await client.send("/pay")
    assert "Платить ничего не нужно: задолженности нет." in client.last_text()
    # The one-tap button would pay nothing: it is not offered, and a forged one is refused.
    await client.click_data(PayCB(action="due", id=(await linked(env, client.user.id))[0].id)
                            .pack(), client.bot_messages()[-1])
    assert "больше не действует" in last_toast(client)
    assert not [r for r in env.session.requests if r.method == "sendPhoto"]


# --- bad input at every step -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "hint"),
    [("сто рублей", "Не могу разобрать сумму"),
     ("0", "Сумма должна быть больше нуля"),
     ("-150", "Сумма должна быть больше нуля"),
     ("12,345", "не больше двух цифр"),
     ("1 000 000,01", "больше, чем можно оплатить одним платежом"),
     ("100 50", "Не могу разобрать сумму"),
     ("1e5", "Не могу разобрать сумму")],
)
async def test_each_amount_error_has_its_hint_and_keeps_the_step(bot_env: Any, typed: str,
                                                                 hint: str) -> None:
    env = await bot_env()
    entry = await debtor(env)
    client = await linked_user(env, entry)
    await client.send("/pay")
    await client.send(typed)
    assert hint in client.last_text()
    assert "Отправьте сумму ещё раз или /cancel." in client.last_text()
    assert await state_of(env, client) == "PayStates:amount"
    await client.send("700")
    _raw, fields, _image = decode_qr(uploaded(last_photo(env), "photo"))
    assert fields["Sum"] == "70000"


async def test_sticker_photo_and_commands_during_the_amount_step(bot_env: Any) -> None:
    env = await bot_env()
    entry = await debtor(env)
    client = await linked_user(env, entry)
    await client.send("/pay")
    due = fmt_money(entry.balance_due, "ru")
    for send in (client.send_sticker, client.send_photo):
        await send()
        assert "Отправьте сумму текстовым сообщением" in client.last_text()
        # The buttons come again with the hint, the amount due among them.
        assert buttons(client.bot_messages()[-1]) == [f"✅ Оплатить {due}", "✏️ Другая сумма"]
        assert await state_of(env, client) == "PayStates:amount"
    # A command or a menu entry is not an amount: it goes to its own feature.
    await client.send("📋 Мои счета")
    assert "Ваши лицевые счета" in client.last_text()
    await client.send("/pay")
    await client.send("/link")
    assert await state_of(env, client) == "LinkStates:supplier"
    # …and the main-menu entry wins over a linking step's text input.
    await client.send("💳 Оплатить")
    assert await state_of(env, client) == "PayStates:amount"


async def test_account_step_with_several_accounts(bot_env: Any) -> None:
    env = await bot_env()
    perm = await debtor(env)
    sevgas = next(e for e in await entries(env, "sevgas") if e.balance_due < 0)
    client = await linked_user(env, perm, sevgas)
    rows = await linked(env, client.user.id)
    await client.send("/pay")
    assert "За какой лицевой счёт платите?" in client.last_text()
    choice = buttons(client.bot_messages()[-1])
    assert choice == [f"⭐ Газпром межрегионгаз Пермь · •••• {perm.number[-4:]}",
                      f"Севгаз · •••• {sevgas.number[-4:]}"]
    await client.send_sticker()
    assert "выберите лицевой счёт кнопками" in client.last_text()
    await client.send("что-то")
    assert "выберите лицевой счёт кнопками" in client.last_text()
    assert buttons(client.bot_messages()[-1]) == choice
    assert await state_of(env, client) == "PayStates:account"
    await client.click(choice[1])
    assert "переплата" in client.last_text()
    await client.send("250,5")
    _raw, fields, _image = decode_qr(uploaded(last_photo(env), "photo"))
    assert fields["PersAcc"] == sevgas.number and fields["Sum"] == "25050"
    assert fields["Name"] == env.runtime.app.catalog.get("sevgas").payment.name
    assert rows[1].number == sevgas.number


async def crimean_twins(env: Any) -> tuple[DemoAccountEntry, DemoAccountEntry]:
    """The two Крымгазсети demo accounts with one number in two management units."""
    crimea = await entries(env, "crimea")
    numbers = [e.number for e in crimea]
    first, second = (e for e in crimea if numbers.count(e.number) == 2)
    assert first.unit_code != second.unit_code
    return first, second


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_same_number_in_two_units_is_told_apart_and_paid_apart(bot_env: Any,
                                                                     lang: str) -> None:
    env = await bot_env()
    twins = await crimean_twins(env)
    client = await linked_user(env, *twins, lang=lang)
    catalog = env.runtime.app.catalog
    supplier = catalog.get("crimea")
    units = [supplier.unit(e.unit_code) for e in twins]
    masked = f"•••• {twins[0].number[-4:]}"
    await client.send("/pay")
    choice = buttons(client.bot_messages()[-1])
    assert choice == [
        f"⭐ {supplier.display_name(lang)} · {units[0].name.get(lang)} · {masked}",
        f"{supplier.display_name(lang)} · {units[1].name.get(lang)} · {masked}",
    ]
    payloads: list[bytes] = []
    for button, entry, unit in zip(choice, twins, units, strict=True):
        await client.send("/pay")
        await client.click(button)
        assert unit.name.get(lang) in client.last_text()  # the amount step's header
        await client.send("100")
        photo = last_photo(env)
        raw, fields, _image = decode_qr(uploaded(photo, "photo"))
        payloads.append(raw)
        assert fields["PersAcc"] == entry.number and fields["Sum"] == "10000"
        # The purpose is for the supplier's processing, so Russian whatever the user's language.
        assert f"л/с {entry.number} ({unit.name.ru})," in fields["Purpose"]
        assert f"{'УЭГХ' if lang == 'ru' else 'Unit'}: {unit.name.get(lang)}" in (
            plain_caption(photo))
    assert payloads[0] != payloads[1]


# --- outage, stale buttons, every callback answered ---------------------------------------------


async def test_outage_keeps_the_account_and_retry_goes_on(bot_env: Any) -> None:
    env = await bot_env()
    env.runtime.app.clock = Clock(BEFORE_DUE)
    perm = await debtor(env)
    sevgas = next(e for e in await entries(env, "sevgas") if e.balance_due < 0)
    client = await linked_user(env, perm, sevgas)
    await client.send("/pay")
    demo(env).outage = True
    await client.click(f"⭐ Газпром межрегионгаз Пермь · •••• {perm.number[-4:]}")
    assert "сейчас не отвечает" in client.last_text()
    assert "Выбранный лицевой счёт сохранён" in client.last_text()
    assert buttons(client.bot_messages()[-1]) == ["🔄 Повторить"]
    assert await state_of(env, client) == "PayStates:amount"
    # An amount typed during the outage asks the supplier again, and fails kindly again.
    await client.send("100")
    assert "сейчас не отвечает" in client.last_text()
    demo(env).outage = False
    await client.click("🔄 Повторить")
    due = fmt_money(perm.balance_due, "ru")
    assert f"<b>{due}</b>" in client.last_text()
    await client.click(f"✅ Оплатить {due}")
    _raw, fields, _image = decode_qr(uploaded(last_photo(env), "photo"))
    assert fields["Sum"] == kopecks(perm.balance_due)


async def test_stale_buttons_are_answered_and_never_pay_an_old_amount(bot_env: Any) -> None:
    env = await bot_env()
    env.runtime.app.clock = Clock(BEFORE_DUE)
    perm = await debtor(env)
    client = await linked_user(env, perm)
    await client.send("/pay")
    amount_message = client.bot_messages()[-1]
    due = fmt_money(perm.balance_due, "ru")
    await client.click("✏️ Другая сумма")
    await client.send("300")
    photos = len([r for r in env.session.requests if r.method == "sendPhoto"])
    # After the QR, the old «pay the amount due» button must not produce another one.
    await client.click(f"✅ Оплатить {due}", in_message=amount_message)
    assert "больше не действует" in last_toast(client) and "/pay" in last_toast(client)
    await client.click("✏️ Другая сумма", in_message=amount_message)
    assert "больше не действует" in last_toast(client)
    assert len([r for r in env.session.requests if r.method == "sendPhoto"]) == photos
    # «Another amount» under the QR starts again at this account.
    await client.click("💳 Другая сумма")
    assert f"<b>{due}</b>" in client.last_text()
    # A button of an account unlinked since then.
    account = (await linked(env, client.user.id))[0]
    async with env.runtime.app.session_factory() as session:
        await Services(session, env.runtime.app).accounts.unlink(client.user.id, account.id)
    await client.click(f"✅ Оплатить {due}")
    assert "больше не действует" in last_toast(client)
    await client.click_data(PayCB(action="start", id=account.id).pack(), amount_message)
    assert "уже не привязан" in last_toast(client)
    await client.click_data(PayCB(action="bogus", id=account.id).pack(), amount_message)
    assert "больше не действует" in last_toast(client)
    # Another user's account id in a forged button.
    intruder = env.client(user_id=6020)
    await register(intruder)
    await intruder.click_data(PayCB(action="start", id=account.id).pack(), amount_message)
    assert "уже не привязан" in last_toast(intruder)
    queries = [r for r in env.session.requests if r.method == "answerCallbackQuery"]
    assert len(queries) == len({r.obj.callback_query_id for r in queries})


async def test_every_callback_is_answered(bot_env: Any) -> None:
    env = await bot_env()
    perm = await debtor(env)
    client = await linked_user(env, perm)
    before = len(client.answered_callbacks())
    await client.send("/pay")
    await client.click(f"✅ Оплатить {fmt_money(perm.balance_due, 'ru')}")
    await client.click("💳 Другая сумма")
    await client.click("✏️ Другая сумма")
    await client.click("🧾 Квитанция")
    assert len(client.answered_callbacks()) - before == 4


# --- entry points ---------------------------------------------------------------------------


async def test_account_card_button_and_deep_links(bot_env: Any) -> None:
    env = await bot_env()
    env.runtime.app.clock = Clock(BEFORE_DUE)
    perm = await debtor(env)
    sevgas = next(e for e in await entries(env, "sevgas") if e.balance_due < 0)
    client = await linked_user(env, perm, sevgas)
    perm_row, sevgas_row = await linked(env, client.user.id)
    await client.send("/accounts")
    await client.click(buttons(client.bot_messages()[-1])[1])
    card = buttons(client.bot_messages()[-1])
    assert "💳 Оплатить" in card and "🧾 Квитанция" in card
    await client.click("💳 Оплатить")
    assert "переплата" in client.last_text()  # straight to Севгаз's amount step
    await client.send(f"/start pay_{perm_row.id}")
    assert f"<b>{fmt_money(perm.balance_due, 'ru')}</b>" in client.last_text()
    await client.send("/start pay")
    assert "За какой лицевой счёт платите?" in client.last_text()
    # Somebody else's (or a garbled) id: the choice of the user's own accounts.
    await client.send("/start pay_999999")
    assert "За какой лицевой счёт платите?" in client.last_text()
    await client.send("/start pay_x1")
    assert "За какой лицевой счёт платите?" in client.last_text()
    assert sevgas_row.number == sevgas.number


async def test_no_accounts_yet(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await register(client)
    await client.send("/pay")
    assert "У вас пока нет привязанных лицевых счетов" in client.last_text()
    assert buttons(client.bot_messages()[-1]) == ["🔗 Привязать лицевой счёт"]
    assert await state_of(env, client) is None


async def test_unregistered_users_are_sent_to_start(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await client.send("/pay")
    assert "/start" in client.last_text()


async def test_caption_fits_with_the_longest_payee_name(bot_env: Any, tmp_path: Path) -> None:
    name = "ООО «" + ("Газпром межрегионгаз " * 8)[:154] + "»"
    assert len(name) == 160
    env = await bot_env(suppliers_file=override(tmp_path, "mrg_perm", name=name))
    first, second, *_ = await entries(env, "mrg_perm")
    for lang, user_id, entry in (("ru", 5001, first), ("en", 5002, second)):
        client = await linked_user(env, entry, lang=lang, user_id=user_id)
        await client.send("/pay")
        await client.send("999 999,99" if lang == "ru" else "999,999.99")
        caption = plain_caption(last_photo(env))
        assert name in caption and len(caption) <= 1024


# --- the amount rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "amount"),
    [("1500", "1500.00"), ("1 234,56", "1234.56"), ("1\u00a0234.56 ₽", "1234.56"),
     ("1\u202f234,5", "1234.50"), ("500 руб", "500.00"), ("500 руб.", "500.00"),
     ("500 рублей", "500.00"), ("500р", "500.00"), ("₽500", "500.00"), ("  7,5 ", "7.50"),
     ("0,01", "0.01"), ("1,234.56", "1234.56"), ("1 000 000", "1000000.00"),
     ("1 000 000,00", "1000000.00"), ("250 RUB", "250.00")],
)
def test_parse_amount_accepts(typed: str, amount: str) -> None:
    assert parse_amount(typed) == Decimal(amount)
    assert str(parse_amount(typed)) == amount  # always two decimals


@pytest.mark.parametrize(
    ("typed", "error"),
    [("", AmountError.EMPTY), ("   ", AmountError.EMPTY),
     ("abc", AmountError.NOT_A_NUMBER), ("руб", AmountError.NOT_A_NUMBER),
     ("100 50", AmountError.NOT_A_NUMBER), ("1e5", AmountError.NOT_A_NUMBER),
     ("1.234,56", AmountError.NOT_A_NUMBER), ("١٢٣", AmountError.NOT_A_NUMBER),
     ("12 3456", AmountError.NOT_A_NUMBER), ("NaN", AmountError.NOT_A_NUMBER),
     ("0", AmountError.NOT_POSITIVE), ("0,00", AmountError.NOT_POSITIVE),
     ("-5", AmountError.NOT_POSITIVE), ("−5", AmountError.NOT_POSITIVE),
     ("12,345", AmountError.TOO_MANY_DECIMALS), ("1,500", AmountError.TOO_MANY_DECIMALS),
     ("0,001", AmountError.TOO_MANY_DECIMALS),
     ("1 000 000,01", AmountError.TOO_LARGE), ("1,234,567", AmountError.TOO_LARGE),
     ("59012345", AmountError.TOO_LARGE)],
)
def test_parse_amount_refuses_with_the_reason(typed: str, error: AmountError) -> None:
    with pytest.raises(InvalidAmount) as caught:
        parse_amount(typed)
    assert caught.value.error is error


def test_an_english_user_groups_thousands_with_commas() -> None:
    """A trial's «1,500» in English was refused as too many kopecks."""
    assert parse_amount("1,500", comma_groups=True) == Decimal("1500.00")
    assert parse_amount("1,500.50", comma_groups=True) == Decimal("1500.50")
    assert parse_amount("7,5", comma_groups=True) == Decimal("7.50")
    with pytest.raises(InvalidAmount) as caught:
        parse_amount("1,500")
    assert caught.value.error is AmountError.TOO_MANY_DECIMALS


@given(st.integers(min_value=1, max_value=int(MAX_AMOUNT * 100)), st.sampled_from(["ru", "en"]))
def test_amounts_as_the_bot_writes_them_read_back_exactly(kop: int, lang: str) -> None:
    amount = Decimal(kop) / 100
    assert parse_amount(fmt_money(amount, lang)) == amount


# --- the catalog's requisites are checked at start ---------------------------------------------


def test_a_bad_inn_in_suppliers_file_stops_the_bot(tmp_path: Path) -> None:
    entry = bundled_entry("mrg_kirov")
    inn = entry["payment"]["inn"]
    entry["payment"]["inn"] = inn[:-1] + str((int(inn[-1]) + 1) % 10)
    path = tmp_path / "suppliers.yaml"
    path.write_text(yaml.safe_dump({"suppliers": [entry]}, allow_unicode=True), encoding="utf-8")
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("BOT_", "MODE", "WEBHOOK", "DATABASE_", "SUPPLIERS_", "LOG_"))}
    env = {**clean, "BOT_TOKEN": TEST_TOKEN, "SUPPLIERS_FILE": str(path),
           "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}",
           "TELEGRAM_API_URL": "http://127.0.0.1:9"}
    result = subprocess.run([sys.executable, "-m", "bot"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last == ("Supplier catalog error: suppliers: supplier 'mrg_kirov': payment.inn: INN "
                    f"check digits are wrong (in {path})")
    assert "Traceback" not in result.stderr + result.stdout
    assert TEST_TOKEN not in result.stderr + result.stdout
