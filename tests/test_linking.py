"""Linking an account end to end through the real Dispatcher, in Russian and English.

The supplier side is the demo billing system (`bot.billing.demo`), whose accounts are those
`python -m bot demo-accounts` lists; `FakeBilling` is a tiny stand-in the service tests use
where they need to steer the supplier's answers."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiogram.types import InlineKeyboardMarkup, Message
from sqlalchemy import select

from bot.billing.demo import DemoAccountEntry, DemoBillingConnector
from bot.billing.errors import AccountNotFound, ProofRejected, SupplierUnavailable
from bot.billing.models import AccountInfo, AccountRef, Proof, ProofKind
from bot.callbacks import ALL_CALLBACKS, LinkRegionCB, LinkSupplierCB, LinkUnitCB
from bot.db.models_accounts import LinkAttempt, LinkedAccount
from bot.services import Services
from bot.services.linking import find_units
from bot.suppliers.loader import load_catalog
from tests.support.leaks import remember

PHONE = "+79161234567"
remember(PHONE.lstrip("+"))


# --- a steerable billing system for the service tests ------------------------------------


@dataclass
class FakeAccount:
    owner: str = "Ив**** И. И."
    address: str = "г. П****, ул. Л*****, д. *"
    pin: str | None = None
    surname: str | None = None
    payment: Decimal | None = None


@dataclass
class FakeBilling:
    """A billing system with a few accounts; `outage` makes every call fail."""

    accounts: dict[tuple[str, str, str | None], FakeAccount] = field(default_factory=dict)
    outage: bool = False
    calls: list[str] = field(default_factory=list)

    def add(self, supplier: str, number: str, unit: str | None = None, **kw: Any) -> None:
        remember(number)
        self.accounts[(supplier, number, unit)] = FakeAccount(**kw)

    def _get(self, ref: AccountRef) -> FakeAccount:
        if self.outage:
            raise SupplierUnavailable("down")
        account = self.accounts.get((ref.supplier_code, ref.number, ref.unit))
        if account is None:
            raise AccountNotFound(ref.supplier_code)
        return account

    async def find_account(self, ref: AccountRef) -> AccountInfo:
        self.calls.append("find")
        account = self._get(ref)
        return AccountInfo(ref, account.owner, account.address, has_meters=True)

    async def verify_ownership(self, ref: AccountRef, proof: Proof) -> None:
        self.calls.append("verify")
        account = self._get(ref)
        if proof.kind is ProofKind.PIN:
            ok = proof.pin == account.pin
        else:
            ok = (proof.surname or "").casefold() == (account.surname or "").casefold() and (
                proof.last_payment == account.payment)
        if not ok:
            raise ProofRejected(None)

    async def close(self) -> None:
        return None


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# --- helpers -----------------------------------------------------------------------------


def demo(env: Any) -> DemoBillingConnector:
    connector = env.runtime.app.billing.for_supplier("mrg_perm")
    assert isinstance(connector, DemoBillingConnector)
    return connector


async def entries(env: Any, code: str) -> list[DemoAccountEntry]:
    found = await demo(env).demo_accounts([code])
    for entry in found:
        remember(entry.number)
    return found


async def register(client: Any, language: str = "ru") -> None:
    await client.send("/start")
    name = "🇷🇺 Русский" if language == "ru" else "🇬🇧 English"
    await client.click(("✓ " if client.user.language_code == language else "") + name)
    await client.click("✅ Согласен" if language == "ru" else "✅ I agree")
    await client.share_contact(PHONE)
    await client.click("Пропустить ➡️" if language == "ru" else "Skip ➡️")


async def state_of(env: Any, client: Any) -> str | None:
    context = env.dp.fsm.get_context(env.bot, client.user.id, client.user.id)
    return await context.get_state()  # type: ignore[no-any-return]


async def linked(env: Any, user_id: int) -> list[LinkedAccount]:
    async with env.runtime.app.session_factory() as session:
        result = await session.scalars(
            select(LinkedAccount).where(LinkedAccount.user_id == user_id)
            .order_by(LinkedAccount.id))
        return list(result)


async def link_directly(env: Any, user_id: int, entry: DemoAccountEntry) -> LinkedAccount:
    """Link through the service, for tests about what happens after."""
    async with env.runtime.app.session_factory() as session:
        services = Services(session, env.runtime.app)
        return await services.linking.link(user_id, entry.ref, entry.proofs[0])


def log_text() -> str:
    for handler in logging.getLogger().handlers:
        handler.flush()
    path = Path(os.environ["TEST_LOG_FILE"])
    return path.read_text(encoding="utf-8") if path.exists() else ""


def buttons(message: Message) -> list[str]:
    markup = message.reply_markup
    if not isinstance(markup, InlineKeyboardMarkup):
        return []
    return [b.text for row in markup.inline_keyboard for b in row]


def last_toast(client: Any) -> str:
    return str(client.answered_callbacks()[-1].obj.text)


def money(value: Decimal, sep: str = ",") -> str:
    return format(value, "f").replace(".", sep)


async def choose_supplier(client: Any, query: str, name: str) -> None:
    await client.send(query)
    await client.click(name)


async def choose_unit(client: Any, unit_name: str, next_label: str = "▶️") -> None:
    """Page through the units until the one wanted shows up."""
    for _ in range(5):
        message = client.bot_messages()[-1]
        if unit_name in buttons(message):
            await client.click(unit_name)
            return
        arrow = next(b for b in buttons(message) if b.endswith(next_label))
        await client.click(arrow)
    raise AssertionError(f"unit {unit_name} not found")


# --- every proof method ------------------------------------------------------------------


async def test_perm_pin_in_russian(bot_env: Any) -> None:
    env = await bot_env()
    account, *_ = await entries(env, "mrg_perm")
    client = env.client()
    await register(client)
    assert "Теперь привяжите лицевой счёт" in client.last_text()
    await client.send("/link")
    assert "Привязка лицевого счёта" in client.last_text()
    await choose_supplier(client, "пермь", "Газпром межрегионгаз Пермь")
    assert "Отправьте номер лицевого счёта" in client.last_text()
    assert "Пример: <code>59012345</code>" in client.last_text()
    spaced = f"{account.number[:4]} {account.number[4:]}"
    await client.send(spaced)
    found = client.last_text()
    assert f"Лицевой счёт <code>•••• {account.number[-4:]}</code> найден." in found
    assert "Владелец: " in found and "<b>ПИН-код</b>" in found
    assert await state_of(env, client) == "LinkStates:pin"
    # A word cannot be a «Мой газ» PIN: refused without spending one of the 5 attempts.
    await client.send("abc")
    assert ("Это не может быть ПИН-код: в нём от 4 до 8 цифр. Проверьте его по квитанции "
            "и отправьте снова — попытка не потрачена.") in client.last_text()
    assert await state_of(env, client) == "LinkStates:pin"
    await client.send("0000" if account.pin != "0000" else "1111")
    assert "Неверно указан ПИН-код. Осталось попыток: 4." in client.last_text()
    await client.send(account.pin)
    card = client.last_text()
    assert "Лицевой счёт привязан!" in card
    assert "<b>Газпром межрегионгаз Пермь</b>" in card
    assert f"•••• {account.number[-4:]}" in card and account.number not in card
    assert "⭐ Это ваш основной лицевой счёт." in card
    assert buttons(client.bot_messages()[-1])[-2:] == ["📋 Мои счета", "🔗 Привязать ещё"]
    # Both messages with a PIN were deleted from the chat.
    deleted = [r for r in client.requests() if r.method == "deleteMessage"]
    assert len(deleted) == 3
    assert await state_of(env, client) is None
    rows = await linked(env, client.user.id)
    assert [(r.number, r.unit, r.is_default) for r in rows] == [(account.number, None, True)]
    assert rows[0].owner_masked in card
    # The full number never reaches the log, not even in the event notes.
    text = log_text()
    assert account.number not in text
    assert f"•••• {account.number[-4:]}" in text


async def test_perm_pin_in_english_from_the_menu(bot_env: Any) -> None:
    env = await bot_env()
    account, *_ = await entries(env, "mrg_perm")
    client = env.client(language_code="en")
    await register(client, "en")
    assert {"🔗 Link account", "📋 My accounts"} <= set(client.last_reply_keyboard())
    await client.send("🔗 Link account")
    assert "Linking a gas account" in client.last_text()
    await client.send("Perm")
    assert "Found: <b>Gazprom Mezhregiongaz Perm (Perm Krai)</b>." in client.last_text()
    # A name that holds its region already does not get it twice.
    await client.send("Dagestan")
    assert ("Found: <b>Gazprom Mezhregiongaz Pyatigorsk (Republic of Dagestan)</b>.\n"
            in client.last_text())
    await client.send("Perm")
    await client.click("Gazprom Mezhregiongaz Perm")
    assert "Send the personal account number" in client.last_text()
    await client.send(account.number)
    assert "<b>PIN code</b>" in client.last_text()
    await client.send("12 34")
    assert ("Send the PIN code as one word, without spaces; no attempt was spent."
            in client.last_text())
    await client.send("PIN1234")
    assert ("This cannot be the PIN code: it is 4 to 8 digits. Check it on the receipt and "
            "send it again; no attempt was spent.") in client.last_text()
    await client.send(account.pin)
    assert "Account linked!" in client.last_text()
    assert "⭐ This is your default account." in client.last_text()
    assert buttons(client.bot_messages()[-1])[-2:] == ["📋 My accounts", "🔗 Link another"]


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_crimea_unit_found_by_typing(bot_env: Any, lang: str) -> None:
    """A trial typed «Kerch» at the unit step and was told to use the buttons (3 pages)."""
    env = await bot_env()
    supplier = env.runtime.app.catalog.get("crimea")
    kerch = supplier.unit("kerch")
    assert kerch is not None
    client = env.client(language_code=lang)
    await register(client, lang)
    await client.send("/link")
    await choose_supplier(client, "крым" if lang == "ru" else "Crimea",
                          supplier.display_name(lang))
    # The example town is in the user's language.
    example = "«Керчь»" if lang == "ru" else "“Kerch”"
    assert example in client.last_text()
    await client.send("абракадабра")
    assert ("Не нашёл УЭГХ" if lang == "ru" else "I found no unit") in client.last_text()
    assert example in client.last_text()
    assert await state_of(env, client) == "LinkStates:unit"
    await client.send("Керчь" if lang == "ru" else "Kerch")
    said = client.texts()[-2:]
    assert kerch.name.get(lang) in said[0]
    assert ("Отправьте номер лицевого счёта" if lang == "ru" else "Send the personal account "
            "number") in said[1]
    assert ("Сначала выберите" not in said[1]) and ("First choose" not in said[1])
    assert await state_of(env, client) == "LinkStates:number"
    context = env.dp.fsm.get_context(env.bot, client.user.id, client.user.id)
    assert (await context.get_data())["unit"] == "kerch"


async def test_one_supplier_found_is_named_with_one_place(bot_env: Any) -> None:
    """A trial read «Found: Krymgazseti (Crimea) (Republic of Crimea).»"""
    env = await bot_env()
    client = env.client(language_code="en")
    await register(client, "en")
    await client.send("/link")
    await client.send("Krymgazseti")
    assert client.last_text().startswith("Found: <b>Krymgazseti (Crimea)</b>.")


async def test_an_unknown_command_midway_is_not_taken_as_the_steps_input(
        bot_env: Any) -> None:
    """A trial's «/language» was searched for as a supplier, «/balanse» read as a number."""
    env = await bot_env()
    client = env.client(language_code="en")
    await register(client, "en")
    await client.send("/link")
    await client.send("/language")
    assert client.last_text() == ("I don't know the command /language: /help lists what I "
                                  "can do.\nNow: choose the supplier.")
    await choose_supplier(client, "Perm", "Gazprom Mezhregiongaz Perm")
    await client.send("/balanse")
    assert "I don't know the command /balanse" in client.last_text()
    assert "Now: send the account number." in client.last_text()
    assert await state_of(env, client) == "LinkStates:number"


async def test_unit_step_goes_back_to_the_suppliers(bot_env: Any) -> None:
    """A trial chose Крымгазсети by mistake: the 3 pages of УЭГХ had no way back but /cancel."""
    env = await bot_env()
    supplier = env.runtime.app.catalog.get("crimea")
    client = env.client()
    await register(client)
    await client.send("/link")
    await choose_supplier(client, "крым", supplier.display_name("ru"))
    assert await state_of(env, client) == "LinkStates:unit"
    assert "⬅️ Другой поставщик" in buttons(client.bot_messages()[-1])
    await client.send("Керчь-нет")  # typed: found nothing, the same way back offered
    assert "⬅️ Другой поставщик" in buttons(client.bot_messages()[-1])
    await client.click("⬅️ Другой поставщик")
    assert await state_of(env, client) == "LinkStates:supplier"
    assert "Какая компания присылает вам квитанции" in client.last_text()
    await choose_supplier(client, "пермь", "Газпром межрегионгаз Пермь")
    assert await state_of(env, client) == "LinkStates:number"


def test_units_by_a_typed_name() -> None:
    crimea = load_catalog().get("crimea")
    assert crimea is not None
    codes = [u.code for u in crimea.units]

    def found(text: str) -> list[str]:
        return [codes[i] for i in find_units(crimea, text)]

    assert found("Керчь") == found("керченское УЭГХ") == found("Kerch") == ["kerch"]
    assert found("Ялта") == ["yalta"] and found("Евпатория") == ["evpatoria"]
    assert found("УЭГХ") == [] and found("") == [] and found("Москва") == []


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_crimea_unit_surname_and_last_payment(bot_env: Any, lang: str) -> None:
    env = await bot_env()
    account = next(e for e in await entries(env, "crimea") if e.last_payment)
    assert account.surname and account.last_payment is not None and account.unit_code
    supplier = env.runtime.app.catalog.get("crimea")
    unit = supplier.unit(account.unit_code)
    client = env.client(language_code=lang)
    await register(client, lang)
    await client.click("🔗 Привязать лицевой счёт" if lang == "ru" else "🔗 Link an account")
    await client.send("крым" if lang == "ru" else "Crimea")
    results = buttons(client.bot_messages()[-1])
    name = supplier.display_name(lang)
    assert results[:2] == [name, env.runtime.app.catalog.get("sevgas").display_name(lang)]
    await client.click(name)
    assert ("Страница 1 из 3" if lang == "ru" else "Page 1 of 3") in client.last_text()
    # alphabetical in the user's language (the catalog lists them by their Russian names)
    *first_page, pages, back = buttons(client.bot_messages()[-1])
    assert first_page == sorted(first_page, key=str.casefold)
    assert pages == "2/3 ▶️"
    assert back == ("⬅️ Другой поставщик" if lang == "ru" else "⬅️ Another supplier")
    await choose_unit(client, unit.name.get(lang))
    assert unit.name.get(lang) in client.last_text()
    await client.send(account.number)
    assert ("только фамилию" if lang == "ru" else "the surname only") in client.last_text()
    await client.send("Иванов Иван Иванович")
    assert ("Нужна только фамилия" if lang == "ru" else "Only the surname") in client.last_text()
    await client.send("Zhuravleva")  # spelt as an English speaker would: no attempt spent
    assert ("русскими буквами" if lang == "ru" else "in Russian letters") in client.last_text()
    await client.send(account.surname.upper())
    year = datetime.now(UTC).year
    prompt = client.last_text()
    assert ("<code>1250,50</code> или <code>1250.50</code>" if lang == "ru"
            else "<code>1250,50</code> or <code>1250.50</code>") in prompt
    assert str(year) in prompt and "<code>0</code>" in prompt
    await client.send("тысяча рублей")
    assert ("Не удалось прочитать сумму" if lang == "ru"
            else "I can't read this amount") in client.last_text()
    await client.send(money(account.last_payment, "," if lang == "ru" else "."))
    card = client.last_text()
    assert ("Лицевой счёт привязан!" if lang == "ru" else "Account linked!") in card
    assert unit.name.get(lang) in card
    rows = await linked(env, client.user.id)
    assert [(r.number, r.unit) for r in rows] == [(account.number, account.unit_code)]
    # Every button press got an answer: registration 3, offer 1, supplier 1, unit 1 or more.
    clicks = sum(1 for r in client.requests() if r.method == "answerCallbackQuery")
    assert clicks == len(client.answered_callbacks()) >= 6
    assert account.number not in log_text()


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_moscow_offers_a_choice_of_proofs(bot_env: Any, lang: str) -> None:
    env = await bot_env()
    first, second = await entries(env, "mrg_moscow")
    assert first.surname and first.last_payment is not None
    client = env.client(language_code=lang)
    await register(client, lang)
    supplier = env.runtime.app.catalog.get("mrg_moscow")
    await client.send("/link")
    await choose_supplier(client, "москва" if lang == "ru" else "Moscow",
                          supplier.display_name(lang))
    await client.send(first.number)
    choice = buttons(client.bot_messages()[-1])
    if lang == "ru":
        assert choice == ["🔢 ПИН-код", "👤 Фамилия и последний платёж"]
        assert "Как вы подтвердите" in client.last_text()
    else:
        assert choice == ["🔢 PIN code", "👤 Surname and last payment"]
    await client.send("5555")  # text where a button is expected
    assert ("Выберите способ подтверждения" if lang == "ru"
            else "choose how to prove ownership") in client.last_text()
    await client.click(choice[1])
    await client.send(first.surname)
    await client.send(money(first.last_payment))
    assert await state_of(env, client) is None
    # The second account through the PIN.
    await client.click("🔗 Привязать ещё" if lang == "ru" else "🔗 Link another")
    await choose_supplier(client, "москва" if lang == "ru" else "Moscow",
                          supplier.display_name(lang))
    await client.send(second.number)
    await client.click(choice[0])
    await client.send(second.pin)
    rows = await linked(env, client.user.id)
    assert [(r.number, r.is_default) for r in rows] == [(first.number, True),
                                                        (second.number, False)]
    assert "⭐" not in client.last_text()


async def test_leaving_after_the_number_says_the_account_was_not_linked(bot_env: Any) -> None:
    """A trial left at the surname step for «📋 Мои счета» and was not told anything: the
    account could seem linked."""
    env = await bot_env()
    first, second = await entries(env, "mrg_moscow")
    assert first.surname
    client = env.client()
    await register(client)
    supplier = env.runtime.app.catalog.get("mrg_moscow")
    await client.send("/link")
    await choose_supplier(client, "москва", supplier.display_name("ru"))
    await client.send("📋 Мои счета")  # before the number: nothing to tell
    assert "не привязан" not in client.last_text()
    await client.send("/link")
    await choose_supplier(client, "москва", supplier.display_name("ru"))
    await client.send(first.number)
    await client.click("👤 Фамилия и последний платёж")
    await client.send(first.surname)
    await client.send("📋 Мои счета")
    notice = client.last_text()
    assert f"Лицевой счёт <code>•••• {first.number[-4:]}</code>" in notice, notice
    assert "не привязан" in notice and "/link" in notice and first.number not in notice
    assert buttons(client.bot_messages()[-1]) == ["▶️ Продолжить привязку"]
    assert await linked(env, client.user.id) == []
    # The notice's button goes on at the step that was left, with what was typed.
    await client.click("▶️ Продолжить привязку")
    assert await state_of(env, client) == "LinkStates:payment"
    assert "сумму последнего платежа" in client.last_text()
    assert client.bot_messages()[-2].reply_markup is None
    await client.send("📋 Мои счета")  # left again: /link offers to go on too
    await client.send("/link")
    assert (f"Привязка лицевого счёта <code>•••• {first.number[-4:]}</code> "
            "(Газпром межрегионгаз Москва) не завершена.") in client.last_text()
    await client.click("▶️ Продолжить")
    assert await state_of(env, client) == "LinkStates:payment"
    assert first.last_payment is not None
    await client.send(money(first.last_payment))
    assert [r.number for r in await linked(env, client.user.id)] == [first.number]
    # The draft was taken: an old notice's button now says so.
    notice_message = next(m for m in client.bot_messages()
                          if m.reply_markup is not None and "не привязан" in (m.text or ""))
    await client.click("▶️ Продолжить привязку", in_message=notice_message)
    answers = [r for r in client.requests() if r.method == "answerCallbackQuery"]
    assert answers[-1].text == "Эта кнопка больше не действует."
    assert await state_of(env, client) is None
    # /cancel leaves on purpose, and /link again asks first (next test): neither is told off.
    for leave in ("/cancel", "/link"):
        await client.send("/link")
        await choose_supplier(client, "москва", supplier.display_name("ru"))
        await client.send(second.number)
        await client.click("🔢 ПИН-код")
        await client.send(leave)
        assert all("не привязан" not in text for text in client.texts()[-2:])


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_an_entry_to_linking_midway_asks_before_dropping_the_account(
        bot_env: Any, lang: str) -> None:
    """A trial tapped the old «🔗 Привязать лицевой счёт» button of the registration message
    at the PIN step: linking started over without a word and the found account was gone."""
    env = await bot_env()
    first, _second = await entries(env, "mrg_moscow")
    assert first.surname and first.last_payment is not None and first.pin
    ru = lang == "ru"
    client = env.client(language_code=lang)
    await register(client, lang)
    supplier = env.runtime.app.catalog.get("mrg_moscow")
    await client.send("/link")
    await choose_supplier(client, "москва" if ru else "Moscow", supplier.display_name(lang))
    await client.send(first.number)
    await client.click("🔢 ПИН-код" if ru else "🔢 PIN code")
    question = (f"Вы сейчас привязываете лицевой счёт <code>•••• {first.number[-4:]}</code> "
                if ru else
                f"You are linking account <code>•••• {first.number[-4:]}</code> ")
    go_on, over = ("▶️ Продолжить", "🔄 Начать заново") if ru else ("▶️ Go on", "🔄 Start over")
    # The registration message's old button, the menu entry and /link all ask first.
    questions = []
    for entry in ("button", "/link", "menu"):
        if entry == "button":
            await client.click("🔗 Привязать лицевой счёт" if ru else "🔗 Link an account")
        elif entry == "menu":
            await client.send("🔗 Привязать счёт" if ru else "🔗 Link account")
        else:
            await client.send(entry)
        assert question in client.last_text(), (entry, client.last_text())
        assert first.number not in client.last_text()
        assert buttons(client.bot_messages()[-1]) == [go_on, over]
        questions.append(client.bot_messages()[-1])
        assert await state_of(env, client) == "LinkStates:resume"
    # Only the newest question keeps its buttons.
    assert [buttons(env.session.sent[(m.chat.id, m.message_id)]) for m in questions] == [
        [], [], [go_on, over]]
    # A trial typed another account's number here: it was taken as a wrong PIN, and an
    # attempt spent. Text now only asks the question again.
    await client.send(_second.number)
    assert ("Сначала ответьте на вопрос о лицевом счёте" if ru
            else "First answer the question about account") in client.last_text()
    assert buttons(client.bot_messages()[-1]) == [go_on, over]
    assert not [r for r in client.requests() if r.method == "deleteMessage"]
    assert await state_of(env, client) == "LinkStates:resume"
    await client.click(go_on)
    assert ("ПИН-код" if ru else "PIN code") in client.last_text()
    assert await state_of(env, client) == "LinkStates:pin"
    # Its buttons are gone; an older copy of the question is stale once linking moved on.
    assert client.bot_messages()[-2].reply_markup is None
    await client.send(first.pin)
    assert await state_of(env, client) is None
    assert [r.number for r in await linked(env, client.user.id)] == [first.number]
    # a press that was on its way when the buttons went
    await client.click(go_on, in_message=questions[0])
    answers = [r for r in client.requests() if r.method == "answerCallbackQuery"]
    assert answers[-1].text == ("Эта кнопка больше не действует." if ru
                                            else "This button is no longer active.")
    assert await state_of(env, client) is None
    # «Start over» drops the draft and asks for the supplier again.
    await client.send("/link")
    await choose_supplier(client, "москва" if ru else "Moscow", supplier.display_name(lang))
    await client.send(_second.number)
    await client.click("👤 Фамилия и последний платёж" if ru else "👤 Surname and last payment")
    await client.send("/link")
    await client.click(over)
    assert await state_of(env, client) == "LinkStates:supplier"
    assert ("Привязка лицевого счёта" if ru else "Linking a gas account") in client.last_text()


async def test_cancel_drops_a_paused_linking(bot_env: Any) -> None:
    """A trial could not stop the «linking is paused» answers: /cancel said there was
    nothing to cancel."""
    env = await bot_env()
    first, _second = await entries(env, "mrg_moscow")
    client = env.client(language_code="en")
    await register(client, "en")
    supplier = env.runtime.app.catalog.get("mrg_moscow")
    await client.send("/link")
    await choose_supplier(client, "Moscow", supplier.display_name("en"))
    await client.send(first.number)
    await client.send("💰 Balance")  # left: the draft is kept
    await client.send("hello")
    assert "is paused" in client.last_text() and "/cancel drops it" in client.last_text()
    await client.send("/cancel")
    assert client.last_text() == (f"Cancelled: linking account <code>•••• {first.number[-4:]}"
                                  "</code> will not be continued.")
    await client.send("hello")
    assert "is paused" not in client.last_text()
    await client.send("/cancel")
    assert client.last_text() == "There is nothing to cancel."
    # Left for a reading this time: /cancel names the reading's step first (a trial was told
    # only about the linking while it cancelled a reading).
    await link_directly(env, client.user.id, _second)
    await client.send("/link")
    await choose_supplier(client, "Moscow", supplier.display_name("en"))
    await client.send(first.number)
    await client.send("/reading")
    assert (await state_of(env, client) or "").startswith("ReadingStates:")
    await client.send("/cancel")
    assert client.last_text() == ("Cancelled. The paused linking of account <code>•••• "
                                  f"{first.number[-4:]}</code> will not be continued either.")
    assert await state_of(env, client) is None
    await client.send("/link")
    assert await state_of(env, client) == "LinkStates:supplier"


async def test_a_continue_button_goes_on_with_its_own_draft_once(bot_env: Any) -> None:
    """A trial tapped an old «▶️ Continue linking» of an account it had linked since, while
    linking another: the other one went on, under a notice naming the first. Double taps of
    «Go on» / «Start over» sent the next prompt twice."""
    env = await bot_env()
    first, second = await entries(env, "mrg_moscow")
    assert first.surname and first.last_payment is not None and second.pin
    client = env.client()
    await register(client)
    supplier = env.runtime.app.catalog.get("mrg_moscow")
    await client.send("/link")
    await choose_supplier(client, "москва", supplier.display_name("ru"))
    await client.send(first.number)
    await client.click("👤 Фамилия и последний платёж")
    await client.send("💰 Баланс")  # left: the notice keeps the draft
    notice = next(m for m in reversed(client.bot_messages()) if "не привязан" in (m.text or ""))
    # The surname typed after leaving is not lost on a «didn't get that»: linking is paused.
    await client.send(first.surname)
    assert (f"Привязка лицевого счёта <code>•••• {first.number[-4:]}</code> (Газпром "
            "межрегионгаз Москва) приостановлена") in client.last_text()
    assert buttons(client.bot_messages()[-1]) == ["▶️ Продолжить привязку"]
    await client.send("/link")
    question = client.bot_messages()[-1]
    await client.click("▶️ Продолжить", in_message=question)
    said = len(client.texts())
    await client.click("▶️ Продолжить", in_message=question)  # the double tap
    assert len(client.texts()) == said
    await client.send(first.surname)
    await client.send(money(first.last_payment))
    assert [r.number for r in await linked(env, client.user.id)] == [first.number]
    # Linking the second account, the first one's notice is stale: it does not go on.
    await client.send("/link")
    await choose_supplier(client, "москва", supplier.display_name("ru"))
    await client.send(second.number)
    await client.click("🔢 ПИН-код")
    said = len(client.texts())
    await client.click("▶️ Продолжить привязку", in_message=notice)
    answers = [r for r in client.requests() if r.method == "answerCallbackQuery"]
    assert answers[-1].text == "Эта кнопка больше не действует."
    assert len(client.texts()) == said + 1  # the toast only
    assert await state_of(env, client) == "LinkStates:pin"
    # A draft left and one under way: the old notice's button swaps them, and says so.
    await client.send("💰 Баланс")
    second_notice = next(m for m in reversed(client.bot_messages())
                         if "не привязан" in (m.text or ""))
    assert f"•••• {second.number[-4:]}" in (second_notice.text or "")
    await client.send("/link")
    question = client.bot_messages()[-1]
    await client.click("🔄 Начать заново", in_message=question)
    await client.click("🔄 Начать заново", in_message=question)  # the double tap
    assert sum(t.startswith("🔗 <b>Привязка") for t in client.texts()[-3:]) == 1
    assert await state_of(env, client) == "LinkStates:supplier"
    await client.click("▶️ Продолжить привязку", in_message=second_notice)
    answers = [r for r in client.requests() if r.method == "answerCallbackQuery"]
    assert answers[-1].text == "Эта кнопка больше не действует."  # «Start over» dropped it


async def test_sevgas_keeps_leading_zeros_and_names_its_password(bot_env: Any) -> None:
    env = await bot_env()
    account = (await entries(env, "sevgas"))[0]
    assert account.number.startswith("00")
    client = env.client()
    await register(client)
    await client.send("/link")
    await choose_supplier(client, "Севастополь", "Севгаз")
    await client.send(account.number.lstrip("0"))
    error = client.last_text()
    assert "Номер слишком короткий" in error and "ровно 9 цифр" in error
    assert "с нулями в начале" in error  # the supplier's hint
    await client.send(account.number)
    assert "<b>пароль из письма</b>" in client.last_text()
    await client.send("wrong")
    assert "Неверно указан пароль из письма" in client.last_text()
    await client.send(account.pin)
    assert [r.number for r in await linked(env, client.user.id)] == [account.number]


# --- failures ------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "typed", "expected"), [
    ("mrg_perm", "59O12345", "состоит только из цифр"),
    ("mrg_perm", "5901234", "ровно 8 цифр"),
    ("mrg_perm", "590123456", "Номер слишком длинный"),
    ("mrg_moscow", "12345", "от 6 до 10 цифр"),
    ("mrg_dagestan", "0012345678", "Номер не подходит под формат"),
])
async def test_number_errors_name_the_reason(bot_env: Any, code: str, typed: str,
                                             expected: str) -> None:
    env = await bot_env()
    supplier = env.runtime.app.catalog.get(code)
    client = env.client()
    await register(client)
    await client.send("/link")
    await choose_supplier(client, supplier.name.ru.split()[-1].strip("()"),
                          supplier.name.ru)
    await client.send(typed)
    text = client.last_text()
    assert expected in text, text
    assert f"Пример: <code>{supplier.account.example}</code>" in text
    if supplier.account.format is not None:
        assert supplier.account.format.ru in text
    assert await state_of(env, client) == "LinkStates:number"


async def test_not_found_stays_at_the_number(bot_env: Any) -> None:
    env = await bot_env()
    account, *_ = await entries(env, "mrg_perm")
    missing = "59999999" if account.number != "59999999" else "59999998"
    client = env.client(language_code="en")
    await register(client, "en")
    await client.send("/link")
    await choose_supplier(client, "Perm", "Gazprom Mezhregiongaz Perm")
    await client.send(missing)
    text = client.last_text()
    assert f"Account <code>{missing}</code> was not found" in text
    assert "in the «Лицевой счёт» line" in text  # where to find it on the receipt
    assert await state_of(env, client) == "LinkStates:number"
    await client.send(account.number)
    assert "PIN code" in client.last_text()


async def test_cooldown_after_five_wrong_pins_for_everybody(bot_env: Any) -> None:
    env = await bot_env()
    account, *_ = await entries(env, "mrg_perm")
    now = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    clock = Clock(now)
    env.runtime.app.clock = clock
    client = env.client()
    await register(client)
    await client.send("/link")
    await choose_supplier(client, "пермь", "Газпром межрегионгаз Пермь")
    await client.send(account.number)
    wrong = "0000" if account.pin != "0000" else "1111"
    for left in (4, 3, 2, 1):
        await client.send(wrong)
        assert f"Осталось попыток: {left}." in client.last_text()
    await client.send(wrong)
    text = client.last_text()
    # 10:00 UTC is 15:00 in Perm (Asia/Yekaterinburg, UTC+5).
    assert "Слишком много неверных попыток" in text
    assert "до 15:00 (МСК+2), через 60 мин" in text
    assert "Отправьте код после этого или выберите другое действие в меню." in text
    assert {"🔗 Привязать счёт", "📋 Мои счета"} <= set(client.last_reply_keyboard())
    # Still at the PIN step: the right PIN sent during the pause leaves the chat like the
    # others and spends nothing (a trial saw it stay in the chat under a «didn't get that»).
    assert await state_of(env, client) == "LinkStates:pin"
    clock.now = now + timedelta(minutes=1)
    deleted = sum(r.method == "deleteMessage" for r in client.requests())
    await client.send(account.pin)
    assert sum(r.method == "deleteMessage" for r in client.requests()) == deleted + 1
    assert "через 59 мин" in client.last_text()
    await client.send("/cancel")
    assert await state_of(env, client) is None

    # Another Telegram user, in English, hits the same account 18 minutes later.
    clock.now = now + timedelta(minutes=18)
    other = env.client(user_id=6002, language_code="en")
    await register(other, "en")
    await other.send("/link")
    await choose_supplier(other, "Perm", "Gazprom Mezhregiongaz Perm")
    await other.send(account.number)
    assert "paused until 3:00 PM (MSK+2), in 42 min" in other.last_text()
    assert await state_of(env, other) == "LinkStates:number"

    clock.now = now + timedelta(hours=1)
    await other.send(account.number)
    await other.send(account.pin)
    assert "Account linked!" in other.last_text()
    async with env.runtime.app.session_factory() as session:
        attempts = list(await session.scalars(select(LinkAttempt).order_by(LinkAttempt.id)))
    assert [a.success for a in attempts] == [False] * 5 + [True]


async def test_perm_allows_three_accounts(bot_env: Any) -> None:
    env = await bot_env()
    perm = await entries(env, "mrg_perm")
    assert len(perm) >= 4
    client = env.client()
    await register(client)
    for entry in perm[:2]:
        await link_directly(env, client.user.id, entry)
    # The third one is linked while the conversation for the fourth is under way.
    await client.send("/link")
    await choose_supplier(client, "пермь", "Газпром межрегионгаз Пермь")
    await client.send(perm[3].number)
    await link_directly(env, client.user.id, perm[2])
    await client.send(perm[3].pin)
    text = client.last_text()
    assert "позволяет привязать не более 3 лицевых счетов" in text
    assert await state_of(env, client) is None
    # Choosing Пермь again is refused right away, and another supplier may be chosen.
    await client.send("/link")
    await choose_supplier(client, "пермь", "Газпром межрегионгаз Пермь")
    assert "не более 3 лицевых счетов" in client.last_text()
    assert await state_of(env, client) == "LinkStates:supplier"
    await choose_supplier(client, "москва", "Газпром межрегионгаз Москва")
    assert "Отправьте номер лицевого счёта" in client.last_text()
    assert len(await linked(env, client.user.id)) == 3


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_global_limit(bot_env: Any, lang: str) -> None:
    env = await bot_env(max_accounts_per_user=2)
    moscow = await entries(env, "mrg_moscow")
    client = env.client(language_code=lang)
    await register(client, lang)
    for entry in moscow:
        await link_directly(env, client.user.id, entry)
    await client.send("/link")
    expected = ("У вас привязано 2 лицевых счёта — больше бот не позволяет" if lang == "ru"
                else "You have linked 2 accounts, the most the bot allows")
    assert expected in client.last_text()
    assert await state_of(env, client) is None


async def test_the_same_account_twice_is_refused_politely(bot_env: Any) -> None:
    env = await bot_env()
    account, *_ = await entries(env, "mrg_perm")
    client = env.client()
    await register(client)
    await link_directly(env, client.user.id, account)
    await client.send("/link")
    await choose_supplier(client, "пермь", "Газпром межрегионгаз Пермь")
    await client.send(account.number)
    assert "Этот лицевой счёт уже привязан к вам" in client.last_text()
    assert await state_of(env, client) == "LinkStates:number"
    # A family member links the same account: fine.
    relative = env.client(user_id=6003)
    await register(relative)
    await relative.send("/link")
    await choose_supplier(relative, "пермь", "Газпром межрегионгаз Пермь")
    await relative.send(account.number)
    await relative.send(account.pin)
    assert "Лицевой счёт привязан!" in relative.last_text()


async def test_supplier_outage_keeps_progress(bot_env: Any) -> None:
    env = await bot_env()
    perm, *_ = await entries(env, "mrg_perm")
    crimea = next(e for e in await entries(env, "crimea") if e.last_payment)
    unit = env.runtime.app.catalog.get("crimea").unit(crimea.unit_code or "")
    client = env.client()
    await register(client)
    billing = demo(env)

    # At the number step: Retry repeats the lookup.
    await client.send("/link")
    await choose_supplier(client, "пермь", "Газпром межрегионгаз Пермь")
    billing.outage = True
    await client.send(perm.number)
    assert "сейчас не отвечает" in client.last_text()
    assert buttons(client.bot_messages()[-1]) == ["🔄 Повторить"]
    assert await state_of(env, client) == "LinkStates:number"
    await client.click("🔄 Повторить")
    assert "сейчас не отвечает" in client.last_text()
    billing.outage = False
    await client.click("🔄 Повторить")
    assert "найден" in client.last_text()

    # At the PIN step: the PIN is not kept, sending it again is the retry.
    billing.outage = True
    await client.send(perm.pin)
    assert "Я его не сохраняю" in client.last_text()
    assert await state_of(env, client) == "LinkStates:pin"
    billing.outage = False
    await client.send(perm.pin)
    assert "Лицевой счёт привязан!" in client.last_text()

    # At the payment step: Retry sends the surname and amount kept.
    await client.send("/link")
    await choose_supplier(client, "крым", "ГУП РК «Крымгазсети»")
    await choose_unit(client, unit.name.ru)
    await client.send(crimea.number)
    await client.send(crimea.surname or "")
    billing.outage = True
    await client.send(money(crimea.last_payment or Decimal(0)))
    assert "Введённые данные сохранены" in client.last_text()
    assert await state_of(env, client) == "LinkStates:payment"
    billing.outage = False
    await client.click("🔄 Повторить")
    assert "Лицевой счёт привязан!" in client.last_text()
    assert len(await linked(env, client.user.id)) == 2


# --- bad input, stale buttons, /cancel ----------------------------------------------------


async def _to_step(env: Any, client: Any, step: str, lang: str = "ru") -> None:
    """Walk a Moscow (choice of proofs) or Crimea (unit) linking up to `step`."""
    catalog = env.runtime.app.catalog
    await client.send("/link")
    if step == "supplier":
        return
    if step == "unit":
        await choose_supplier(client, "крым", catalog.get("crimea").display_name(lang))
        return
    moscow = (await entries(env, "mrg_moscow"))[0]
    await choose_supplier(client, "москва", catalog.get("mrg_moscow").display_name(lang))
    if step == "number":
        return
    await client.send(moscow.number)
    if step == "proof":
        return
    if step == "pin":
        await client.click("🔢 ПИН-код" if lang == "ru" else "🔢 PIN code")
        return
    await client.click("👤 Фамилия и последний платёж" if lang == "ru"
                       else "👤 Surname and last payment")
    if step == "payment":
        await client.send(moscow.surname)


STEPS = ["supplier", "unit", "number", "proof", "pin", "surname", "payment"]
HINTS = {
    "supplier": "Напишите текстом часть названия поставщика",
    "unit": "Выберите УЭГХ кнопкой ниже",
    "number": "Отправьте номер лицевого счёта текстом",
    "proof": "Выберите способ подтверждения кнопкой ниже",
    "pin": "Отправьте ПИН-код текстом",
    "surname": "Отправьте фамилию владельца текстом",
    "payment": "Отправьте сумму текстом",
}


@pytest.mark.parametrize("step", STEPS)
async def test_sticker_photo_and_stale_button_at_each_step(bot_env: Any, step: str) -> None:
    env = await bot_env()
    client = env.client()
    await register(client)
    offer = client.bot_messages()[-1]
    await _to_step(env, client, step)
    state = await state_of(env, client)
    assert state == f"LinkStates:{step}"
    before = len(client.texts())
    await client.send_sticker()
    assert len(client.texts()) == before + 1, "a sticker gets exactly one hint"
    assert HINTS[step] in client.last_text()
    await client.send_photo()
    assert HINTS[step] in client.last_text()
    assert await state_of(env, client) == state
    # The step's keyboard is shown again with the hint where the step has one.
    if step in ("unit", "proof", "supplier"):
        assert buttons(client.bot_messages()[-1])
    # A button of this conversation from an old message: answered, step kept.
    stale = LinkSupplierCB(code="mrg_perm") if step != "supplier" else LinkUnitCB(index=3)
    answered = len(client.answered_callbacks())
    await client.click_data(stale.pack(), offer)
    assert len(client.answered_callbacks()) == answered + 1
    assert last_toast(client).startswith("Эта кнопка больше не действует.")
    assert "Сейчас нужно" in last_toast(client)
    assert await state_of(env, client) == state


async def test_old_buttons_of_earlier_steps_are_harmless(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await register(client)
    await client.send("/link")
    await client.send("москва")
    results = client.bot_messages()[-1]
    await client.click("Газпром межрегионгаз Москва")
    await client.click("Газпром межрегионгаз Москва", in_message=results)
    assert last_toast(client) == ("Эта кнопка больше не действует. Сейчас нужно отправить "
                                  "номер лицевого счёта.")
    assert await state_of(env, client) == "LinkStates:number"
    # The registration offer's button restarts linking, on purpose.
    await client.click("🔗 Привязать лицевой счёт")
    assert await state_of(env, client) == "LinkStates:supplier"


async def test_cancel_midway(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client(language_code="en")
    await register(client, "en")
    await _to_step(env, client, "payment", "en")
    await client.send("/cancel")
    assert client.last_text() == "Cancelled."
    assert await state_of(env, client) is None
    assert await linked(env, client.user.id) == []
    await client.send("1250")
    assert "I didn't get that" in client.last_text()
    # An unknown command is named as such (a trial's «/foo» got «didn't get that»).
    await client.send("/foo <b>")
    assert client.last_text() == "I don't know the command /foo: /help lists what I can do."


async def test_other_features_win_over_a_step(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await register(client)
    await _to_step(env, client, "number")
    await client.send("📋 Мои счета")
    assert "У вас пока нет привязанных лицевых счетов" in client.last_text()
    assert await state_of(env, client) is None
    await _to_step(env, client, "number")
    await client.send("🔗 Привязать счёт")
    assert await state_of(env, client) == "LinkStates:supplier"


# --- finding the supplier -----------------------------------------------------------------


@pytest.mark.parametrize(("lang", "query", "first"), [
    ("ru", "пермь", "mrg_perm"),
    ("ru", "ДАГЕСТАН", "mrg_dagestan"),
    ("ru", "крым", "crimea"),
    ("en", "Sevastopol", "sevgas"),
    ("ru", "йошкар", "mrg_yoshkarola"),
    ("ru", "ёшкар", "mrg_yoshkarola"),
    ("ru", "Ёшкар-Ола", "mrg_yoshkarola"),
])
async def test_search_variants(bot_env: Any, lang: str, query: str, first: str) -> None:
    env = await bot_env()
    client = env.client(language_code=lang)
    await register(client, lang)
    await client.send("/link")
    await client.send(query)
    supplier = env.runtime.app.catalog.get(first)
    assert buttons(client.bot_messages()[-1])[0] == supplier.display_name(lang)
    await client.click(supplier.display_name(lang))
    assert await state_of(env, client) in ("LinkStates:number", "LinkStates:unit")


async def test_nothing_found_offers_browsing(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await register(client)
    await client.send("/link")
    await client.send("<b>Урюпинск</b>")
    assert ("По запросу «&lt;b&gt;Урюпинск&lt;/b&gt;» ничего не нашлось"
            in client.last_text())
    assert buttons(client.bot_messages()[-1]) == ["📖 Все поставщики списком"]
    await client.send("газпром")
    assert "Показаны первые 10" in client.last_text()
    assert len(buttons(client.bot_messages()[-1])) == 11


async def test_browse_pages_regions_and_back(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await register(client)
    await client.send("/link")
    await client.click("📖 Все поставщики списком")
    assert "Выберите регион</b> (страница 1 из 3)" in client.last_text()
    page = buttons(client.bot_messages()[-1])
    assert page[0] == "Воронежская область" and "2/3 ▶️" in page
    await client.click("2/3 ▶️")
    page = buttons(client.bot_messages()[-1])
    assert "(страница 2 из 3)" in client.last_text()
    assert "Пермский край" in page and "◀️ 1/3" in page and "3/3 ▶️" in page
    await client.click("3/3 ▶️")
    await client.click("Самарская область")
    assert "Поставщики в регионе <b>Самарская область</b>" in client.last_text()
    assert buttons(client.bot_messages()[-1]) == [
        "Газпром межрегионгаз Жигулевск", "Газпром межрегионгаз Самара",
        "⬅️ К списку регионов"]
    await client.click("⬅️ К списку регионов")
    assert "(страница 3 из 3)" in client.last_text()
    await client.click("◀️ 2/3")
    await client.click("🔍 Поиск по названию")
    assert "Привязка лицевого счёта" in client.last_text()
    await client.click("📖 Все поставщики списком")
    await client.click("2/3 ▶️")
    await client.click("3/3 ▶️")
    await client.click("Севастополь")
    await client.click("Севгаз")
    assert await state_of(env, client) == "LinkStates:number"
    # Browsing edits one message in place instead of sending new ones.
    assert sum(1 for r in client.requests() if r.method == "editMessageText") >= 6


def test_linking_callbacks_fit_64_bytes() -> None:
    catalog_codes = [c for c in __import__("bot.suppliers.loader", fromlist=["x"])
                     .load_catalog().codes]
    longest = max(catalog_codes, key=len).ljust(16, "x")
    for sample in (LinkSupplierCB(code=longest), LinkRegionCB(index=10**6, page=10**6),
                   LinkUnitCB(index=10**6)):
        assert len(sample.pack().encode()) <= 64
    assert LinkSupplierCB in ALL_CALLBACKS and LinkUnitCB in ALL_CALLBACKS


# --- the other ways in ----------------------------------------------------------------------


async def test_deep_link_for_a_registered_and_a_new_user(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await register(client)
    await client.send("/start link")
    assert "Привязка лицевого счёта" in client.last_text()
    assert await state_of(env, client) == "LinkStates:supplier"

    newcomer = env.client(user_id=6004, language_code="en")
    await newcomer.send("/start link")
    await newcomer.click("✓ 🇬🇧 English")
    await newcomer.click("✅ I agree")
    await newcomer.share_contact(PHONE)
    await newcomer.click("Skip ➡️")
    assert "Linking a gas account" in newcomer.last_text()
    assert not any("Now link your gas account" in t for t in newcomer.texts())
    assert await state_of(env, newcomer) == "LinkStates:supplier"


async def test_unregistered_users_are_sent_to_start(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await client.send("/link")
    assert "/start" in client.last_text()
    assert await state_of(env, client) is None
