"""/balance through the real Dispatcher, against the demo billing system: cards for a debt,
an overpayment and an account without meters (ru, en), the account choice, outages, stale
buttons, and the entry points (menu, account cards, deep links)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import pytest
from aiogram.types import CallbackQuery, Chat, Message

from bot.billing.demo import DemoAccountEntry
from bot.billing.models import Balance, Period
from bot.callbacks import BalanceCB, HistoryCB
from bot.db.models_accounts import LinkedAccount
from bot.i18n import create_i18n, fmt_date, fmt_money, fmt_period
from bot.keyboards.accounts import account_feature_buttons
from bot.keyboards.balance import balance_buttons
from bot.services.balance import is_overdue
from bot.views.balance import balance_card_text
from tests.test_linking import (
    Clock,
    buttons,
    demo,
    entries,
    last_toast,
    link_directly,
    linked,
    register,
    state_of,
)

# Telegram's own limit on a message text (UTF-16 code units), not the bot's constant.
TELEGRAM_LIMIT = 4096


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


RU = {
    "balance": "💰 Баланс", "payments": "💸 Платежи", "charges": "📊 Начисления",
    "details": "ℹ️ Сведения", "other": "🔀 Другой счёт", "all": "🗂 Все счета",
    "retry": "🔄 Повторить", "link": "🔗 Привязать лицевой счёт",
}
EN = {
    "balance": "💰 Balance", "payments": "💸 Payments", "charges": "📊 Charges",
    "details": "ℹ️ Account details", "other": "🔀 Another account", "all": "🗂 All accounts",
    "retry": "🔄 Retry", "link": "🔗 Link an account",
}
LABELS = {"ru": RU, "en": EN}


@dataclass
class Linked:
    entry: DemoAccountEntry
    account: LinkedAccount


async def pick(env: Any, code: str, kind: str) -> DemoAccountEntry:
    found = [e for e in await entries(env, code) if e.kind == kind]
    assert found, f"the demo data of {code} has no {kind} account"
    return found[0]


async def link_three(env: Any, client: Any) -> dict[str, Linked]:
    """A debtor (the default), an overpayer and an account billed without meters."""
    chosen = {
        "debt": await pick(env, "mrg_perm", "debtor"),
        "over": await pick(env, "mrg_kirov", "overpayer"),
        "nometer": await pick(env, "mrg_yoshkarola", "no_meters"),
    }
    for entry in chosen.values():
        await link_directly(env, client.user.id, entry)
    rows = {row.number: row for row in await linked(env, client.user.id)}
    return {key: Linked(entry, rows[entry.number]) for key, entry in chosen.items()}


def supplier_today(env: Any, code: str) -> date:
    supplier = env.runtime.app.catalog.get(code)
    return env.runtime.app.clock().astimezone(supplier.zone).date()  # type: ignore[no-any-return]


def overdue_line(due: date, lang: str) -> str:
    return ("⚠️ <b>Просрочено:</b> оплатить нужно было до " if lang == "ru"
            else "⚠️ <b>Overdue:</b> payment was due by ") + fmt_date(due, lang)


def expected_lines(balance: Balance, lang: str, today: date) -> list[str]:
    """The card's figures as the connector gives them, worded by sign; a debt past its due
    date (`today`: the supplier's) flagged instead of «Pay by»."""
    ru = lang == "ru"
    money = lambda value: fmt_money(value, lang)  # noqa: E731
    lines = [("Период: " if ru else "Period: ")
             + fmt_period(balance.period.year, balance.period.month, lang),
             ("Начислено: " if ru else "Charged: ") + money(balance.charged),
             ("Оплачено: " if ru else "Paid: ") + money(balance.paid)]
    sign = "+" if balance.recalculation > 0 else "−" if balance.recalculation < 0 else ""
    lines.append(("Перерасчёт: " if ru else "Recalculation: ") + sign
                 + money(abs(balance.recalculation)))
    if balance.opening > 0:
        lines.append(("Долг на начало периода: " if ru else "Debt at the start of the period: ")
                     + money(balance.opening))
    elif balance.opening < 0:
        lines.append(("Переплата на начало периода: " if ru
                      else "Overpayment at the start of the period: ") + money(-balance.opening))
    if balance.closing > 0:
        lines.append(("К оплате: " if ru else "Amount due: ") + money(balance.closing))
        if balance.due_date is not None and today > balance.due_date:
            lines.append(overdue_line(balance.due_date, lang))
        elif balance.due_date is not None:
            lines.append(("Оплатить до " if ru else "Pay by ") + fmt_date(balance.due_date, lang))
    elif balance.closing < 0:
        lines.append(("Переплата: " if ru else "Overpayment: ") + money(-balance.closing))
    else:
        lines.append("Задолженности нет" if ru else "No debt")
    return lines


# --- the card, from the demo data -------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_cards_match_the_demo_billing(bot_env: Any, lang: str) -> None:
    env = await bot_env()
    client = env.client(language_code=lang)
    await register(client, lang)
    three = await link_three(env, client)
    connector = demo(env)
    labels = LABELS[lang]

    # The default account (the first linked, a debtor) straight away.
    await client.send("/balance")
    debt = three["debt"]
    balance = await connector.get_balance(debt.entry.ref)
    assert balance.closing == debt.entry.balance_due > 0
    card = client.last_text()
    for line in expected_lines(balance, lang, supplier_today(env, "mrg_perm")):
        assert line in card, (line, card)
    assert f"<code>•••• {debt.entry.number[-4:]}</code>" in card
    assert debt.entry.number not in card
    # No personal data on the card: it may be reused where others see it.
    assert debt.account.owner_masked not in card and debt.account.address_masked not in card
    assert buttons(client.bot_messages()[-1])[:3] == [
        labels["payments"], labels["charges"], labels["details"]]
    assert buttons(client.bot_messages()[-1])[-2:] == [labels["other"], labels["all"]]
    assert labels["balance"] not in buttons(client.bot_messages()[-1])

    # All accounts: one card each, in /accounts order, each with its own figures.
    sent_before = len(client.bot_messages())
    await client.click(labels["all"])
    cards = client.bot_messages()[sent_before:]
    assert len(cards) == 3
    for message, key in zip(cards, ("debt", "over", "nometer"), strict=True):
        item = three[key]
        balance = await connector.get_balance(item.entry.ref)
        assert balance.closing == item.entry.balance_due
        assert message.text is not None
        assert f"•••• {item.entry.number[-4:]}" in message.text
        today = supplier_today(env, item.entry.ref.supplier_code)
        for line in expected_lines(balance, lang, today):
            assert line in message.text, (key, line, message.text)
        # Each card of «all» has its histories, and no switch row (every card is there).
        assert buttons(message)[:3] == [labels["payments"], labels["charges"], labels["details"]]
        assert labels["all"] not in buttons(message)
    over = await connector.get_balance(three["over"].entry.ref)
    assert over.closing < 0
    assert ("Переплата: " if lang == "ru" else "Overpayment: ") + fmt_money(
        -over.closing, lang) in (cards[1].text or "")
    # An account billed by the norm, without meters, still has its balance.
    assert three["nometer"].entry.meters == ()
    assert ("Период: " if lang == "ru" else "Period: ") in (cards[2].text or "")


@pytest.fixture
def i18n_context() -> Iterator[None]:
    with create_i18n("ru").context():
        yield


@pytest.mark.usefixtures("i18n_context")
async def test_the_wording_of_each_sign_and_babel_money() -> None:
    """The renderer alone, on the figures of the seeds (Sevgas, August 2019) and «1 956,85»;
    the language is its argument, whatever the context's locale."""
    account = LinkedAccount(id=1, user_id=1, supplier_code="sevgas", number="001234567",
                            unit=None, alias="Дача <мамы>", is_default=True, owner_masked="x",
                            address_masked="y")
    over = Balance(Period(2019, 8), Decimal("-142.39"), Decimal("97.67"), Decimal("0"),
                   Decimal("500.00"), Decimal("-544.72"), None)
    text = balance_card_text(account, None, over, "ru", overdue=False)
    assert "💰 <b>Дача &lt;мамы&gt;</b>" in text
    assert "Поставщик: sevgas" in text
    assert "<code>•••• 4567</code>" in text and "001234567" not in text
    assert "Период: август 2019" in text
    assert "Переплата на начало периода: 142,39\xa0₽" in text
    assert "Начислено: 97,67\xa0₽" in text
    assert "Перерасчёт: 0,00\xa0₽" in text
    assert "Оплачено: 500,00\xa0₽" in text
    assert "<b>Переплата: 544,72\xa0₽</b>" in text
    assert "Оплатить до" not in text
    debt = Balance(Period(2026, 11), Decimal("0"), Decimal("1956.85"), Decimal("-12.5"),
                   Decimal("0"), Decimal("1956.85"), date(2026, 12, 10))
    text = balance_card_text(account, None, debt, "ru", overdue=False)
    assert "<b>К оплате: 1\xa0956,85\xa0₽</b>" in text
    assert "Перерасчёт: −12,50\xa0₽" in text
    assert "На начало периода: 0,00\xa0₽" in text
    assert "Оплатить до 10 декабря 2026" in text
    assert "Просрочено" not in text
    text = balance_card_text(account, None, debt, "en", overdue=False)
    assert "<b>Amount due: 1,956.85\xa0₽</b>" in text and "Pay by December 10, 2026" in text
    assert "Overdue" not in text
    # Past the due date: flagged, the amount due still there, no «pay by» in the past.
    late = balance_card_text(account, None, debt, "ru", overdue=True)
    assert "<b>К оплате: 1\xa0956,85\xa0₽</b>" in late
    assert "⚠️ <b>Просрочено:</b> оплатить нужно было до 10 декабря 2026" in late
    assert "Оплатить до" not in late
    late = balance_card_text(account, None, debt, "en", overdue=True)
    assert "<b>Amount due: 1,956.85\xa0₽</b>" in late
    assert "⚠️ <b>Overdue:</b> payment was due by December 10, 2026" in late
    assert "Pay by" not in late
    settled = Balance(Period(2026, 11), Decimal("10"), Decimal("0"), Decimal("0"),
                      Decimal("10"), Decimal("0.00"), None)
    assert "<b>Задолженности нет</b>" in balance_card_text(account, None, settled, "ru",
                                                          overdue=False)
    assert "<b>No debt</b>" in balance_card_text(account, None, settled, "en", overdue=False)
    assert utf16(text) < TELEGRAM_LIMIT


def test_overdue_only_when_owed_and_past_the_due_date() -> None:
    def balance(closing: str, due: date | None) -> Balance:
        return Balance(Period(2026, 11), Decimal(0), Decimal(closing), Decimal(0), Decimal(0),
                       Decimal(closing), due)

    due = date(2026, 12, 10)
    assert not is_overdue(balance("100.00", due), date(2026, 12, 9))
    assert not is_overdue(balance("100.00", due), due)  # the due date itself is on time
    assert is_overdue(balance("100.00", due), date(2026, 12, 11))
    assert is_overdue(balance("0.01", due), date(2027, 3, 1))
    assert not is_overdue(balance("0.00", due), date(2026, 12, 11))
    assert not is_overdue(balance("-50.00", due), date(2026, 12, 11))
    assert not is_overdue(balance("100.00", None), date(2026, 12, 11))


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_overdue_debt_is_flagged_after_the_due_date(bot_env: Any, lang: str) -> None:
    """By the app clock, in the supplier's time zone (Perm, UTC+5): the debt turns overdue at
    the supplier's midnight after the due date, not at UTC's. An overpayment never is."""
    env = await bot_env()
    clock = Clock(datetime(2025, 3, 1, 9, 0, tzinfo=UTC))
    env.runtime.app.clock = clock
    client = env.client(language_code=lang)
    await register(client, lang)
    debt = await pick(env, "mrg_perm", "debtor")
    over = await pick(env, "mrg_kirov", "overpayer")
    for entry in (debt, over):
        await link_directly(env, client.user.id, entry)
    balance = await demo(env).get_balance(debt.ref)
    due = balance.due_date
    assert balance.closing > 0 and due is not None and due.month == 3
    amount = (("К оплате: " if lang == "ru" else "Amount due: ")
              + fmt_money(balance.closing, lang))
    pay_by = ("Оплатить до " if lang == "ru" else "Pay by ") + fmt_date(due, lang)
    flag = "Просрочено" if lang == "ru" else "Overdue"

    # 23:59 of the due date in Perm: still on time.
    clock.now = datetime.combine(due, time(18, 59), tzinfo=UTC)
    await client.send("/balance")
    card = client.last_text()
    assert amount in card and pay_by in card and flag not in card, card

    # 00:00 the next day in Perm, while still the due date in UTC: overdue.
    clock.now = datetime.combine(due, time(19, 0), tzinfo=UTC)
    await client.send("/balance")
    card = client.last_text()
    assert amount in card and overdue_line(due, lang) in card, card
    assert pay_by not in card

    # All cards: the debt flagged, the overpayment not.
    await client.click(LABELS[lang]["all"])
    debt_card, over_card = client.texts()[-2:]
    assert f"•••• {debt.number[-4:]}" in debt_card and overdue_line(due, lang) in debt_card
    assert f"•••• {over.number[-4:]}" in over_card and flag not in over_card


async def test_choosing_another_account(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await register(client)
    three = await link_three(env, client)
    await client.send("💰 Баланс")
    card = client.bot_messages()[-1]
    await client.click(RU["other"])
    assert client.last_text() == "💰 Баланс какого лицевого счёта показать?"
    choice = buttons(client.bot_messages()[-1])
    perm = env.runtime.app.catalog.get("mrg_perm").display_name("ru")
    kirov = env.runtime.app.catalog.get("mrg_kirov").display_name("ru")
    assert choice[0] == f"⭐ {perm} · •••• {three['debt'].entry.number[-4:]}"
    assert choice[1] == f"{kirov} · •••• {three['over'].entry.number[-4:]}"
    assert choice[-1] == RU["all"] and len(choice) == 4
    await client.click(choice[1])
    # The choice message itself turned into the chosen account's card.
    assert client.bot_messages()[-1].message_id == card.message_id
    over = await demo(env).get_balance(three["over"].entry.ref)
    assert "Переплата: " + fmt_money(-over.closing, "ru") in client.last_text()
    assert f"•••• {three['over'].entry.number[-4:]}" in client.last_text()


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_no_accounts_offers_linking(bot_env: Any, lang: str) -> None:
    env = await bot_env()
    client = env.client(language_code=lang)
    await register(client, lang)
    await client.send("/balance")
    assert ("У вас пока нет привязанных лицевых счетов" if lang == "ru"
            else "You have no linked accounts yet") in client.last_text()
    assert buttons(client.bot_messages()[-1]) == [LABELS[lang]["link"]]
    await client.click(LABELS[lang]["link"])
    assert await state_of(env, client) == "LinkStates:supplier"


async def test_single_account_has_no_switch_row(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await register(client)
    entry = await pick(env, "mrg_yoshkarola", "no_meters")
    await link_directly(env, client.user.id, entry)
    await client.send("/balance")
    assert buttons(client.bot_messages()[-1])[:3] == [
        RU["payments"], RU["charges"], RU["details"]]
    assert RU["all"] not in buttons(client.bot_messages()[-1])
    balance = await demo(env).get_balance(entry.ref)
    for line in expected_lines(balance, "ru", supplier_today(env, "mrg_yoshkarola")):
        assert line in client.last_text()


# --- outages and stale buttons ----------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_outage_then_retry(bot_env: Any, lang: str) -> None:
    env = await bot_env()
    client = env.client(language_code=lang)
    await register(client, lang)
    entry = await pick(env, "mrg_perm", "debtor")
    await link_directly(env, client.user.id, entry)
    connector = demo(env)
    connector.outage = True
    await client.send("/balance")
    supplier = env.runtime.app.catalog.get("mrg_perm").display_name(lang)
    notice = client.last_text()
    assert f"⚠️ <b>{supplier}</b>" in notice
    assert ("сейчас не отвечает" if lang == "ru" else "is not responding") in notice
    assert f"•••• {entry.number[-4:]}" in notice
    assert buttons(client.bot_messages()[-1]) == [LABELS[lang]["retry"]]
    # Still down: the same notice, and the button is answered.
    await client.click(LABELS[lang]["retry"])
    assert client.answered_callbacks()[-1].obj.text is None
    assert buttons(client.bot_messages()[-1]) == [LABELS[lang]["retry"]]
    connector.outage = False
    outage_message = client.bot_messages()[-1]
    await client.click(LABELS[lang]["retry"])
    balance = await connector.get_balance(entry.ref)
    for line in expected_lines(balance, lang, supplier_today(env, "mrg_perm")):
        assert line in client.last_text()
    # The notice itself became the card.
    assert client.bot_messages()[-1].message_id == outage_message.message_id


async def test_outage_of_one_supplier_among_all(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await register(client)
    three = await link_three(env, client)
    broken = DownFor("mrg_kirov", demo(env))
    env.runtime.app.billing.override("mrg_kirov", broken)
    await client.send("/balance")
    await client.click(RU["all"])
    texts = client.texts()[-3:]
    assert "К оплате: " in texts[0]
    assert "сейчас не отвечает" in texts[1]
    assert f"•••• {three['over'].entry.number[-4:]}" in texts[1]
    assert "Период: " in texts[2]


class DownFor:
    """One supplier's billing system down, the others served by the demo connector."""

    def __init__(self, code: str, inner: Any) -> None:
        self.code = code
        self.inner = inner

    async def get_balance(self, ref: Any, period: Any = None) -> Balance:
        from bot.billing.errors import SupplierUnavailable

        if ref.supplier_code == self.code:
            raise SupplierUnavailable("down")
        return await self.inner.get_balance(ref, period)  # type: ignore[no-any-return]

    async def close(self) -> None:
        return None


async def test_account_unknown_to_the_supplier(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await register(client)
    entry = await pick(env, "mrg_perm", "debtor")
    await link_directly(env, client.user.id, entry)
    account = (await linked(env, client.user.id))[0]

    class Gone(DownFor):
        async def get_balance(self, ref: Any, period: Any = None) -> Balance:
            from bot.billing.errors import AccountNotFound

            raise AccountNotFound("merged")

    env.runtime.app.billing.override("mrg_perm", Gone("mrg_perm", demo(env)))
    await client.send("/balance")
    assert "больше не находит лицевой счёт" in client.last_text()
    assert buttons(client.bot_messages()[-1]) == ["📋 Мои счета"]
    # The button opens the account's card in /accounts, where it can be unlinked.
    await client.click("📋 Мои счета")
    assert "🗑 Отключить" in buttons(client.bot_messages()[-1])
    assert f"•••• {account.number[-4:]}" in client.last_text()


async def test_another_account_with_one_left_shows_its_card(bot_env: Any) -> None:
    """A trial pressed «🔀 Another account» of an old card after unlinking the others: the
    choice had a single account in it."""
    env = await bot_env()
    client = env.client()
    await register(client)
    three = await link_three(env, client)
    await client.send("💰 Баланс")
    card = client.bot_messages()[-1]
    for _ in range(2):
        await client.send("/accounts")
        await client.click(buttons(client.bot_messages()[-1])[1])
        await client.click("🗑 Отключить")
        await client.click("🗑 Да, отключить")
    (left,) = await linked(env, client.user.id)
    await client.click(RU["other"], in_message=card)
    assert "какого лицевого счёта" not in client.last_text()
    assert f"•••• {left.number[-4:]}" in client.last_text()
    assert RU["other"] not in buttons(client.bot_messages()[-1])
    assert any(left.number == e.entry.number for e in three.values())


async def test_stale_buttons_are_answered(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await register(client)
    three = await link_three(env, client)
    await client.send("/balance")
    await client.click(RU["all"])
    old_card = client.bot_messages()[-2]  # the overpayer's
    assert f"•••• {three['over'].entry.number[-4:]}" in (old_card.text or "")
    await client.send("/accounts")
    await client.click(buttons(client.bot_messages()[-1])[1])
    account_card = client.bot_messages()[-1]
    await client.click("🗑 Отключить")
    await client.click("🗑 Да, отключить")
    sent = len(client.bot_messages())
    for label in (RU["payments"], RU["charges"], RU["details"]):
        await client.click(label, in_message=old_card)
        assert last_toast(client) == "Этот лицевой счёт уже не привязан."
    await client.click(RU["balance"], in_message=account_card)
    assert last_toast(client) == "Этот лицевой счёт уже не привязан."
    assert len(client.bot_messages()) == sent
    # A button of another version of the bot.
    await client.click_data(BalanceCB(action="zap").pack(), old_card)
    assert last_toast(client) == "Эта кнопка больше не действует."
    # «All accounts» of the first card: the accounts there are now.
    answered = len(client.answered_callbacks())
    await client.click(RU["all"])
    assert len(client.answered_callbacks()) == answered + 1
    assert len(client.bot_messages()) == sent + 2
    assert f"•••• {three['over'].entry.number[-4:]}" not in "".join(client.texts()[-2:])


async def test_details_never_in_a_group(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await register(client)
    entry = await pick(env, "mrg_perm", "debtor")
    await link_directly(env, client.user.id, entry)
    await client.send("/balance")
    card = client.bot_messages()[-1]
    in_group = Message(message_id=card.message_id, date=card.date,
                       chat=Chat(id=-100123, type="supergroup"), text=card.text,
                       reply_markup=card.reply_markup)
    sent = len(client.session.requests)
    await client.click(RU["details"], in_message=in_group)
    assert "только в личном чате" in last_toast(client)
    assert [r.method for r in client.session.requests[sent:]] == ["answerCallbackQuery"]
    # A button on an inline message (shared through inline mode) has no chat to answer in.
    account = (await linked(env, client.user.id))[0]
    for data in (HistoryCB(what="det", id=account.id).pack(),
                 BalanceCB(action="new", id=account.id).pack(), BalanceCB(action="all").pack()):
        await client._feed(callback_query=CallbackQuery(
            id=f"inline-{data}", from_user=client.user, chat_instance="ci",
            inline_message_id="AgAAAInline", data=data))
        assert last_toast(client) == "Эта кнопка больше не действует."
    assert [r.method for r in client.session.requests[sent:]] == ["answerCallbackQuery"] * 4


# --- entry points -----------------------------------------------------------------------------


async def test_menu_help_commands_and_account_cards(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await register(client)
    assert client.last_reply_keyboard()[0] == "💰 Баланс"
    await client.send("/help")
    assert "/balance — баланс, платежи и начисления" in client.last_text()
    from bot.app import bot_commands

    names = [c.command for c in bot_commands(env.runtime.i18n, "ru")]
    assert "balance" in names
    # The balance button leads the feature buttons of an account card.
    assert account_feature_buttons()[0] is balance_buttons
    entry = await pick(env, "mrg_perm", "debtor")
    await link_directly(env, client.user.id, entry)
    await client.send("/accounts")
    await client.click(buttons(client.bot_messages()[-1])[0])
    assert buttons(client.bot_messages()[-1])[0] == "💰 Баланс"
    account_card = client.bot_messages()[-1]
    await client.click("💰 Баланс")
    # A new message: the account card stays as it was.
    assert client.bot_messages()[-1].message_id != account_card.message_id
    balance = await demo(env).get_balance(entry.ref)
    assert "К оплате: " + fmt_money(balance.closing, "ru") in client.last_text()


async def test_menu_entry_leaves_the_rename_step(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await register(client)
    entry = await pick(env, "mrg_perm", "debtor")
    await link_directly(env, client.user.id, entry)
    await client.send("/accounts")
    await client.click(buttons(client.bot_messages()[-1])[0])
    await client.click("✏️ Переименовать")
    assert await state_of(env, client) == "AccountStates:alias"
    await client.send("💰 Баланс")
    assert "К оплате: " in client.last_text()
    assert await state_of(env, client) is None
    assert (await linked(env, client.user.id))[0].alias is None


async def test_deep_links(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await register(client)
    three = await link_three(env, client)
    await client.send("/start balance")
    assert f"•••• {three['debt'].entry.number[-4:]}" in client.last_text()
    await client.send(f"/start balance_{three['nometer'].account.id}")
    assert f"•••• {three['nometer'].entry.number[-4:]}" in client.last_text()
    await client.send("/start balance_999999")
    assert client.texts()[-2] == "Этого лицевого счёта нет среди ваших привязанных."
    assert f"•••• {three['debt'].entry.number[-4:]}" in client.last_text()
    await client.send("/start balance_x")
    assert client.texts()[-2] == "Этого лицевого счёта нет среди ваших привязанных."
    # A card shared into a group, opened by another member: their own balance, no claim
    # that something was unlinked.
    other = env.client(user_id=client.user.id + 1)
    await register(other)
    await other.send(f"/start balance_{three['debt'].account.id}")
    assert other.texts()[-2] == "Этого лицевого счёта нет среди ваших привязанных."
    assert three['debt'].entry.number[-4:] not in other.last_text()


async def test_deep_link_before_registration(bot_env: Any) -> None:
    """A new user following `balance` registers first, then lands on the balance."""
    env = await bot_env()
    client = env.client()
    await client.send("/start balance")
    await client.click("✓ 🇷🇺 Русский")
    await client.click("✅ Согласен")
    from tests.test_linking import PHONE

    await client.share_contact(PHONE)
    await client.click("Пропустить ➡️")
    assert "У вас пока нет привязанных лицевых счетов" in client.last_text()
    assert buttons(client.bot_messages()[-1]) == [RU["link"]]


async def test_all_cards_wait_out_a_short_flood_limit(bot_env: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Telegram answers 429 to the second card: the bot waits as told, and sends it."""
    from aiogram.exceptions import TelegramRetryAfter
    from aiogram.methods import SendMessage

    env = await bot_env()
    client = env.client()
    await register(client)
    await link_three(env, client)
    await client.send("/balance")
    session = env.session
    original = session.make_request
    refused: list[str] = []
    slept: list[float] = []
    cards = 0

    async def flaky(bot: Any, method: Any, timeout: Any = None) -> Any:
        nonlocal cards
        if isinstance(method, SendMessage) and "Период" in method.text:
            cards += 1
            if cards == 2:
                refused.append(method.text)
                raise TelegramRetryAfter(method=method, message="Too Many Requests",
                                         retry_after=1)
        return await original(bot, method, timeout)

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(session, "make_request", flaky)
    monkeypatch.setattr("handlers.balance.asyncio.sleep", fake_sleep)
    before = len(client.bot_messages())
    await client.click(RU["all"])
    assert len(refused) == 1 and slept == [1]
    sent = client.bot_messages()[before:]
    assert len(sent) == 3
    assert refused[0] == sent[1].text  # the refused card went out after the wait
