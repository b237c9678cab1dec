"""The histories under a balance card: payments by year, charges of the last 12 months and the
account's details, against the demo billing system; long histories split into pages within
Telegram's limit; outages, retries and stale pages."""

from __future__ import annotations

import calendar
import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, select

from bot.billing.demo_models import DemoAccount, DemoCharge, DemoPayment
from bot.billing.models import Charge, Payment, Period
from bot.callbacks import ChargesCB, PaymentsCB
from bot.i18n import create_i18n, fmt_money, fmt_number, fmt_period
from bot.services import Services
from bot.views.balance import paginate
from tests.test_balance import LABELS, RU, pick
from tests.test_linking import buttons, demo, last_toast, link_directly, linked, register

# Telegram's own limit on a message text (UTF-16 code units), not the bot's constant.
TELEGRAM_LIMIT = 4096


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


CHANNELS = {
    "ru": {"bank": "банк", "online": "онлайн", "post": "почта", "cash": "касса",
           "terminal": "платёжный терминал"},
    "en": {"bank": "bank", "online": "online", "post": "post office", "cash": "cash desk",
           "terminal": "payment terminal"},
}
GENITIVE = ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
            "сентября", "октября", "ноября", "декабря"]
EQUIPMENT = {
    "ru": {"stove": "газовая плита", "boiler": "газовый котёл",
           "water_heater": "газовый водонагреватель (колонка)"},
    "en": {"stove": "gas stove", "boiler": "gas boiler", "water_heater": "gas water heater"},
}


def day(value: date, lang: str) -> str:
    if lang == "ru":
        return f"{value.day} {GENITIVE[value.month - 1]}"
    return f"{calendar.month_name[value.month]} {value.day}"


def payment_line(payment: Payment, lang: str) -> str:
    return (f"{day(payment.paid_on, lang)} — <b>{fmt_money(payment.amount, lang)}</b> · "
            f"{CHANNELS[lang][payment.channel.value]}")


def this_year(env: Any, code: str) -> int:
    supplier = env.runtime.app.catalog.get(code)
    return env.runtime.app.clock().astimezone(supplier.zone).year


def current_period(env: Any, code: str) -> Period:
    supplier = env.runtime.app.catalog.get(code)
    return Period.of(env.runtime.app.clock().astimezone(supplier.zone).date())


async def open_card(env: Any, client: Any, code: str = "mrg_perm", kind: str = "flat",
                    lang: str = "ru") -> Any:
    await register(client, lang)
    entry = await pick(env, code, kind)
    await link_directly(env, client.user.id, entry)
    await client.send("/balance")
    return entry


def all_texts_fit(client: Any) -> None:
    """Every text the bot sent or edited in this test fits one Telegram message."""
    for request in client.session.requests:
        text = getattr(request.obj, "text", None)
        if isinstance(text, str):
            assert utf16(text) <= TELEGRAM_LIMIT, (request.method, utf16(text))


# --- payments ---------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_payments_of_a_chosen_year(bot_env: Any, lang: str) -> None:
    env = await bot_env()
    client = env.client(language_code=lang)
    entry = await open_card(env, client, lang=lang)
    card = client.bot_messages()[-1]
    connector = demo(env)
    year = this_year(env, "mrg_perm")

    await client.click(LABELS[lang]["payments"])
    history = client.bot_messages()[-1]
    assert history.message_id != card.message_id  # under the card, which stays
    assert buttons(history) == [str(year - 3), str(year - 2), str(year - 1), f"✓ {year}"]
    current = await connector.get_payments(entry.ref, year)
    text = client.last_text()
    assert (f"<b>Платежи за {year} год</b>" if lang == "ru"
            else f"<b>Payments in {year}</b>") in text
    for payment in current:
        assert payment_line(payment, lang) in text

    # The previous year, a full one: every payment, newest first, and the total.
    await client.click(str(year - 1))
    assert client.bot_messages()[-1].message_id == history.message_id
    payments = await connector.get_payments(entry.ref, year - 1)
    assert len(payments) >= 6, "a regular payer pays most months"
    text = client.last_text()
    lines = [payment_line(p, lang) for p in payments]
    positions = [text.index(line) for line in lines]
    assert positions == sorted(positions, reverse=True)  # the connector's are oldest first
    total = fmt_money(sum((p.amount for p in payments), Decimal(0)), lang)
    assert (f"Итого за {year - 1} год: <b>{total}</b>" if lang == "ru"
            else f"Total for {year - 1}: <b>{total}</b>") in text
    assert buttons(client.bot_messages()[-1])[:4] == [
        str(year - 3), str(year - 2), f"✓ {year - 1}", str(year)]

    # A year before the demo history: said so, not an empty message.
    assert await connector.get_payments(entry.ref, year - 3) == []
    await client.click(str(year - 3))
    assert (f"Платежей за {year - 3} год нет." if lang == "ru"
            else f"No payments in {year - 3}.") in client.last_text()
    all_texts_fit(client)


async def demo_account_id(env: Any, number: str) -> int:
    async with env.runtime.app.session_factory() as session:
        found = await session.scalar(select(DemoAccount.id).where(DemoAccount.number == number))
    assert found is not None
    return int(found)


async def test_a_long_payment_history_is_paged(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    entry = await open_card(env, client)
    year = this_year(env, "mrg_perm") - 1
    account_id = await demo_account_id(env, entry.number)
    channels = ["bank", "online", "post", "cash", "terminal"]
    async with env.runtime.app.session_factory() as session:
        for i in range(400):
            paid_on = date(year, 1, 1) + timedelta(days=i % 365)
            session.add(DemoPayment(
                account_id=account_id, period=str(Period.of(paid_on)), paid_on=paid_on,
                amount=Decimal(1000 + i) + Decimal("0.25"), channel=channels[i % 5],
                reference=f"P{i}"))
        await session.commit()
    payments = await demo(env).get_payments(entry.ref, year)
    assert len(payments) > 400

    await client.click(RU["payments"])
    await client.click(str(year))
    pages = [client.last_text()]
    assert "Страница 1 из " in pages[0]
    count = int(pages[0].split("Страница 1 из ", 1)[1].split("\n", 1)[0])
    assert count > 1
    while "Ранее ▶️" in buttons(client.bot_messages()[-1]):
        await client.click("Ранее ▶️")
        pages.append(client.last_text())
    assert len(pages) == count
    for number, page in enumerate(pages, start=1):
        assert utf16(page) <= TELEGRAM_LIMIT
        assert f"Страница {number} из {count}" in page
        # The total of the whole year on every page.
        total = fmt_money(sum((p.amount for p in payments), Decimal(0)), "ru")
        assert f"Итого за {year} год: <b>{total}</b>" in page
    shown = [line for page in pages for line in page.split("\n") if " — <b>" in line]
    assert len(shown) == len(payments)
    assert sorted(shown) == sorted(payment_line(p, "ru") for p in payments)
    all_texts_fit(client)

    # Back a page, then the history shrinks: the last page's button is stale now.
    await client.click("◀️ Новее")
    old_page = client.bot_messages()[-1]
    async with env.runtime.app.session_factory() as session:
        await session.execute(delete(DemoPayment).where(DemoPayment.reference.like("P%")))
        await session.commit()
    await client.click("Ранее ▶️", in_message=old_page)
    assert last_toast(client) == "Эта страница устарела — вот актуальная."
    assert "Страница" not in client.last_text()
    assert f"<b>Платежи за {year} год</b>" in client.last_text()


# --- charges ----------------------------------------------------------------------------------


def expected_charges(charges: list[Charge]) -> list[Charge]:
    kept = sorted({c.period for c in charges})[-12:]
    return [c for c in charges if c.period in kept]


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_charges_of_the_last_12_months(bot_env: Any, lang: str) -> None:
    env = await bot_env()
    client = env.client(language_code=lang)
    entry = await open_card(env, client, kind="house", lang=lang)
    current = current_period(env, "mrg_perm")
    got = await demo(env).get_charges(entry.ref, current.shift(-12), current)
    charges = expected_charges(got)
    periods = sorted({c.period for c in charges})
    assert len(periods) == 12

    await client.click(LABELS[lang]["charges"])
    text = client.last_text()
    first, last = periods[0], periods[-1]
    span = (f"{fmt_period(first.year, first.month, lang)} — "
            f"{fmt_period(last.year, last.month, lang)}")
    assert (f"<b>Начисления, {span}</b>" if lang == "ru" else f"<b>Charges, {span}</b>") in text
    positions = []
    for charge in charges:
        label = f"<b>{fmt_period(charge.period.year, charge.period.month, lang)}</b>"
        positions.append(text.index(label))
        unit = "м³" if lang == "ru" else "m³"  # the billing system writes «м³»
        assert charge.unit == "м³"
        # The demo bills «Газоснабжение»: English users read its English name.
        assert charge.service == "Газоснабжение"
        service = charge.service if lang == "ru" else "Gas supply"
        line = (f"{service}: {fmt_number(charge.volume, lang)} {unit} × ")
        assert line in text
        assert f"= <b>{fmt_money(charge.amount, lang)}</b>" in text
    assert positions == sorted(positions, reverse=True)  # newest month first
    # The month before the 12 is not there.
    before = periods[0].shift(-1)
    assert f"<b>{fmt_period(before.year, before.month, lang)}</b>" not in text
    total = fmt_money(sum((c.amount for c in charges), Decimal(0)), lang)
    assert (f"Всего начислено: <b>{total}</b>" if lang == "ru"
            else f"Total charged: <b>{total}</b>") in text
    volume = fmt_number(sum((c.volume for c in charges), Decimal(0)), lang)
    assert (f"Общий объём: {volume} м³" if lang == "ru" else f"Total volume: {volume} m³") in text
    assert client.bot_messages()[-1].reply_markup is None  # one page, nothing to turn
    if lang == "en":
        assert "Газоснабжение" not in text


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_service_names_in_the_users_language(bot_env: Any, lang: str) -> None:
    """Known services, however the billing system spells them, in the user's language; an
    unknown one as the supplier wrote it."""
    env = await bot_env()
    client = env.client(language_code=lang)
    await register(client, lang)
    entry = await pick(env, "mrg_perm", "flat")
    await link_directly(env, client.user.id, entry)
    current = current_period(env, "mrg_perm")
    services = ("Газоснабжение (по нормативу)", "  ТЕХНИЧЕСКОЕ обслуживание  ВДГО",
                "Пени", "Вывоз мусора <ТКО>")

    class Billed:
        async def get_charges(self, ref: Any, start: Period, end: Period) -> list[Charge]:
            return [Charge(current.shift(-1), name, Decimal(1), "м³", Decimal("7.5"),
                           Decimal("7.50")) for name in services]

        async def close(self) -> None:
            return None

    await client.send("/balance")
    env.runtime.app.billing.override("mrg_perm", Billed())
    await client.click(LABELS[lang]["charges"])
    text = client.last_text()
    expected = {
        "ru": ["Газоснабжение (по нормативу): ", "Техническое обслуживание ВДГО: ", "Пени: "],
        "en": ["Gas supply (by the consumption norm): ",
               "Maintenance of in-house gas equipment: ", "Late payment penalty: "],
    }[lang]
    for line in expected:
        assert f"\n{line}1 " in text, (line, text)
    assert "\nВывоз мусора &lt;ТКО&gt;: 1 " in text
    if lang == "en":
        assert not any(name in text for name in ("Газоснабжение", "обслуживание", "Пени"))


async def test_the_12_newest_billed_months(bot_env: Any) -> None:
    """When the current month is billed already, the oldest of the window drops out."""
    env = await bot_env()
    client = env.client()
    await register(client)
    entry = await pick(env, "mrg_perm", "flat")
    account = await link_directly(env, client.user.id, entry)
    current = current_period(env, "mrg_perm")

    class Billed:
        async def get_charges(self, ref: Any, start: Period, end: Period) -> list[Charge]:
            assert (start, end) == (current.shift(-12), current)
            return [Charge(start.shift(i), "Газоснабжение", Decimal(10), "м³", Decimal("7.5"),
                           Decimal(75)) for i in range(13)]

        async def close(self) -> None:
            return None

    env.runtime.app.billing.override("mrg_perm", Billed())
    async with env.runtime.app.session_factory() as session:
        fetched = await Services(session, env.runtime.app).balance.charges(account)
    assert fetched.value is not None
    assert [c.period for c in fetched.value.charges] == [current.shift(-i)
                                                         for i in range(11, -1, -1)]


async def test_many_services_split_charges_into_pages(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    entry = await open_card(env, client)
    account_id = await demo_account_id(env, entry.number)
    current = current_period(env, "mrg_perm")
    async with env.runtime.app.session_factory() as session:
        for months in range(1, 13):
            for n in range(12):
                session.add(DemoCharge(
                    account_id=account_id, period=str(current.shift(-months)),
                    service=f"Техническое обслуживание ВДГО & <прочее> № {n:02d}".ljust(64, "."),
                    volume=Decimal("1.5"), unit="шт.", tariff=Decimal("123.4567"),
                    amount=Decimal("185.19"), recalculation=Decimal("-1.01")))
        await session.commit()
    await client.click(RU["charges"])
    pages = [client.last_text()]
    while "Ранее ▶️" in buttons(client.bot_messages()[-1]):
        await client.click("Ранее ▶️")
        pages.append(client.last_text())
    assert len(pages) > 1
    assert "&lt;прочее&gt; № 00" in pages[0] and "123,4567\xa0₽" in pages[0]
    assert "Перерасчёт: −1,01\xa0₽" in pages[0]
    for page in pages:
        assert utf16(page) <= TELEGRAM_LIMIT
    # Every month once, never split between pages, newest first.
    shown = [line for page in pages for line in page.split("\n")
             if line.startswith("<b>") and line.endswith("</b>") and "—" not in line]
    expected = [f"<b>{fmt_period(p.year, p.month, 'ru')}</b>"
                for p in (current.shift(-m) for m in range(1, 13))]
    assert shown == expected
    months = [block for page in pages for block in page.split("\n\n")
              if block.startswith("<b>") and "Газоснабжение" in block]
    assert len(months) == 12
    assert all(block.count("Техническое обслуживание") == 12 for block in months)
    all_texts_fit(client)
    # Back to the first page.
    await client.click("◀️ Новее")
    assert client.last_text() == pages[-2]


# --- details ----------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_details(bot_env: Any, lang: str) -> None:
    env = await bot_env()
    client = env.client(language_code=lang)
    entry = await open_card(env, client, kind="house", lang=lang)
    details = await demo(env).get_account_details(entry.ref)
    await client.click(LABELS[lang]["details"])
    text = client.last_text()
    ru = lang == "ru"
    assert ("<b>Сведения о лицевом счёте</b>" if ru else "<b>Account details</b>") in text
    assert (("Владелец: " if ru else "Owner: ") + details.owner_name) in text
    assert (("Адрес: " if ru else "Address: ") + details.address) in text
    assert (("Проживающих: " if ru else "Residents: ") + str(details.residents)) in text
    assert details.heated_area is not None
    area = str(details.heated_area.normalize()).replace(".", "," if ru else ".")
    assert (("Отапливаемая площадь: " if ru else "Heated area: ") + area) in text
    assert details.equipment
    names = ", ".join(EQUIPMENT[lang][item.value] for item in details.equipment)
    assert (("Газовое оборудование: " if ru else "Gas equipment: ") + names) in text
    assert f"•••• {entry.number[-4:]}" in text and entry.number not in text


# --- outages and stale buttons ----------------------------------------------------------------


@pytest.mark.parametrize("label", ["payments", "charges", "details"])
async def test_outage_then_retry(bot_env: Any, label: str) -> None:
    env = await bot_env()
    client = env.client()
    entry = await open_card(env, client)
    connector = demo(env)
    connector.outage = True
    await client.click(RU[label])
    notice = client.bot_messages()[-1]
    assert "сейчас не отвечает" in (notice.text or "")
    assert buttons(notice) == [RU["retry"]]
    connector.outage = False
    await client.click(RU["retry"])
    assert client.bot_messages()[-1].message_id == notice.message_id
    text = client.last_text()
    expected = {"payments": "<b>Платежи за ", "charges": "<b>Начисления, ",
                "details": "<b>Сведения о лицевом счёте</b>"}[label]
    assert expected in text and f"•••• {entry.number[-4:]}" in text


async def test_stale_year_and_page_buttons(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await open_card(env, client)
    account = (await linked(env, client.user.id))[0]
    pressed = len(client.answered_callbacks())
    await client.click(RU["payments"])
    history = client.bot_messages()[-1]
    year = this_year(env, "mrg_perm")
    # A year button of a message from years ago.
    await client.click_data(PaymentsCB(id=account.id, year=year - 9).pack(), history)
    assert last_toast(client) == "Эта страница устарела — вот актуальная."
    assert f"<b>Платежи за {year} год</b>" in client.last_text()
    await client.click_data(ChargesCB(id=account.id, page=7).pack(), history)
    assert last_toast(client) == "Эта страница устарела — вот актуальная."
    assert "<b>Начисления, " in client.last_text()
    # Every button press was answered.
    assert len(client.answered_callbacks()) == pressed + 3


# --- pagination itself ------------------------------------------------------------------------


def test_pages_never_exceed_the_limit() -> None:
    rng = random.Random(7)
    with create_i18n("ru").context():
        for _ in range(50):
            items = ["<b>x</b> " + "ё&amp;" * rng.randint(0, 400)
                     for _ in range(rng.randint(0, 80))]
            header = "🧾 <b>Заголовок</b>\n" + "з" * rng.randint(0, 300)
            pages = paginate(header, items, "Итого", per_page=rng.randint(1, 30))
            assert pages and all(utf16(p) <= TELEGRAM_LIMIT for p in pages)
            if len(pages) > 1:
                assert all(f"Страница {i} из {len(pages)}" in p
                           for i, p in enumerate(pages, start=1))
            body = [p.split("\n\n")[1] for p in pages if p.count("\n\n") >= 2]
            assert "\n".join(body).split("\n") == items or not items
        # One item longer than a page is cut, as plain text, to fit.
        huge = "<b>" + "я&lt;" * 5000 + "</b>"
        pages = paginate("h", ["a", huge, "b"], "f")
        assert len(pages) == 3 and all(utf16(p) <= TELEGRAM_LIMIT for p in pages)
        assert "…" in pages[1] and "<b>" not in pages[1] and "я&lt;я" in pages[1]
        with pytest.raises(ValueError):
            paginate("h" * TELEGRAM_LIMIT, ["a"])
