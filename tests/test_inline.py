"""Inline mode: `@bot <query>` lists the asker's own accounts as balance cards, and nobody
else's; unregistered askers get a button into the bot; a supplier outage is a card, not an
error; the card holds nothing a group must not see."""

from __future__ import annotations

import itertools
from typing import Any

from aiogram.types import InlineKeyboardMarkup, InlineQuery, Update, User
from sqlalchemy import insert

from bot.db.models_accounts import LinkedAccount
from bot.i18n import fmt_money
from bot.services import Services
from handlers.inline import MAX_RESULTS, matches
from tests.support.fake_session import Request
from tests.test_linking import PHONE, demo, entries, link_directly, register

_ids = itertools.count(700_000)


async def ask(env: Any, user_id: int, query: str = "", language_code: str = "ru"
              ) -> Request:
    """Send an inline query as `user_id`; returns the bot's answerInlineQuery."""
    start = len(env.session.requests)
    inline = InlineQuery(id=str(next(_ids)), query=query, offset="", chat_type="supergroup",
                         from_user=User(id=user_id, is_bot=False, first_name="Иван",
                                        language_code=language_code))
    await env.dp.feed_update(env.bot, Update(update_id=next(_ids), inline_query=inline))
    answers = [r for r in env.session.requests[start:] if r.method == "answerInlineQuery"]
    assert len(answers) == 1, [r.method for r in env.session.requests[start:]]
    return answers[0]


def cards(answer: Request) -> list[str]:
    return [r.input_message_content.message_text for r in answer.obj.results]


def urls(answer: Request) -> list[str]:
    found = []
    for result in answer.obj.results:
        assert isinstance(result.reply_markup, InlineKeyboardMarkup)
        found += [str(b.url) for row in result.reply_markup.inline_keyboard for b in row]
    return found


async def rename(env: Any, user_id: int, account_id: int, alias: str) -> None:
    async with env.runtime.app.session_factory() as session:
        await Services(session, env.runtime.app).accounts.rename(user_id, account_id, alias)


async def two_users(env: Any) -> tuple[Any, Any, Any, Any]:
    """User 6601 with a Perm and a Sevgas account, user 6602 with another Perm account."""
    perm = await entries(env, "mrg_perm")
    sevgas = await entries(env, "sevgas")
    await register(env.client(user_id=6601))
    await register(env.client(user_id=6602))
    a = await link_directly(env, 6601, perm[2])  # a debtor
    b = await link_directly(env, 6601, sevgas[0])  # an overpayer
    c = await link_directly(env, 6602, perm[1])
    await rename(env, 6601, a.id, "Дача")
    return a, b, c, (perm, sevgas)


async def test_each_user_sees_only_their_own_accounts(bot_env: Any) -> None:
    env = await bot_env()
    a, b, c, (perm, sevgas) = await two_users(env)
    mine = await ask(env, 6601)
    assert [r.id for r in mine.obj.results] == [f"acc{a.id}", f"acc{b.id}"]
    assert mine.obj.is_personal is True and mine.obj.cache_time == 10
    theirs = await ask(env, 6602)
    assert [r.id for r in theirs.obj.results] == [f"acc{c.id}"]
    # Not a trace of the other user's accounts in either answer.
    assert perm[1].number[-4:] not in str(mine.params)
    for entry in (perm[2], sevgas[0]):
        assert entry.number[-4:] not in str(theirs.params)
    assert "Дача" not in str(theirs.params)
    # The card: the balance, the supplier, the masked number, a button into the bot.
    dacha, sev = cards(mine)
    assert dacha.startswith("💰 <b>Дача</b>")
    assert "Поставщик: Газпром межрегионгаз Пермь" in dacha
    assert f"<code>•••• {perm[2].number[-4:]}</code>" in dacha
    assert f"<b>К оплате: {fmt_money(perm[2].balance_due, 'ru')}</b>" in dacha
    assert f"<b>Переплата: {fmt_money(-sevgas[0].balance_due, 'ru')}</b>" in sev
    assert urls(mine) == [f"https://t.me/gas_test_bot?start=balance_{a.id}",
                          f"https://t.me/gas_test_bot?start=balance_{b.id}"]
    descriptions = [r.description for r in mine.obj.results]
    assert descriptions[0].startswith("К оплате: ") and descriptions[0].endswith(
        f"•••• {perm[2].number[-4:]}")
    assert mine.obj.results[0].title == "Дача · Газпром межрегионгаз Пермь"
    # The card's button, pressed by somebody else in the group, shows them nothing of it.
    other = env.client(user_id=6602)
    await other.send(f"/start balance_{a.id}")
    assert perm[2].number[-4:] not in other.last_text() and "Дача" not in other.last_text()
    owner = env.client(user_id=6601)
    await owner.send(f"/start balance_{a.id}")
    assert f"•••• {perm[2].number[-4:]}" in owner.last_text()


async def test_cards_hold_no_personal_data(bot_env: Any) -> None:
    env = await bot_env()
    a, b, _, (perm, sevgas) = await two_users(env)
    answer = await ask(env, 6601)
    everything = str(answer.params)
    async with env.runtime.app.session_factory() as session:
        rows = [await session.get(LinkedAccount, a.id), await session.get(LinkedAccount, b.id)]
    for row in rows:
        assert row is not None
        assert row.number not in everything
        assert row.owner_masked not in everything and row.address_masked not in everything
    assert PHONE not in everything and PHONE.lstrip("+") not in everything
    for entry in (perm[2], sevgas[0]):
        if entry.surname:
            assert entry.surname not in everything


async def test_query_filters_by_alias_and_supplier_name(bot_env: Any) -> None:
    env = await bot_env()
    a, b, _, (_, sevgas) = await two_users(env)
    assert [r.id for r in (await ask(env, 6601, "дАча")).obj.results] == [f"acc{a.id}"]
    assert [r.id for r in (await ask(env, 6601, "севгаз")).obj.results] == [f"acc{b.id}"]
    assert [r.id for r in (await ask(env, 6601, "Sevgas", "en")).obj.results] == [f"acc{b.id}"]
    assert [r.id for r in (await ask(env, 6601, "пермь")).obj.results] == [f"acc{a.id}"]
    tail = sevgas[0].number[-4:]
    assert [r.id for r in (await ask(env, 6601, tail)).obj.results] == [f"acc{b.id}"]
    nothing = await ask(env, 6601, "москва")
    assert nothing.obj.results == []
    # Not a bare «no results»: a button to the user's accounts (a trial saw nothing at all).
    assert nothing.obj.button.text == "Такого счёта нет: открыть мои счета"
    assert nothing.obj.button.start_parameter == "accounts"
    owner = env.client(user_id=6601)
    await owner.send("/start accounts")
    assert "Дача" in owner.last_text()
    # Another user's alias finds nothing for this one.
    assert (await ask(env, 6602, "дача")).obj.results == []


async def test_unregistered_and_accountless_askers_get_a_button(bot_env: Any) -> None:
    env = await bot_env()
    stranger = await ask(env, 6603)
    assert stranger.obj.results == []
    assert stranger.obj.is_personal is True
    assert stranger.obj.button.start_parameter == "link"
    assert stranger.obj.button.text == "Зарегистрируйтесь в боте, чтобы делиться балансом"
    # Halfway through registration is still unregistered.
    half = env.client(user_id=6604)
    await half.send("/start")
    assert (await ask(env, 6604)).obj.button.start_parameter == "link"
    # Registered, nothing linked.
    await register(env.client(user_id=6605, language_code="en"), "en")
    empty = await ask(env, 6605, language_code="en")
    assert empty.obj.results == [] and empty.obj.button.text == "Link an account in the bot"
    # The button's payload leads through registration into linking.
    newcomer = env.client(user_id=6606)
    await newcomer.send("/start link")
    await register(newcomer)
    assert any("Привязка лицевого счёта" in text for text in newcomer.texts()[-2:])


async def test_supplier_outage_is_a_card_not_an_error(bot_env: Any) -> None:
    env = await bot_env()
    a, b, _, _ = await two_users(env)
    demo(env).outage = True
    try:
        answer = await ask(env, 6601)
    finally:
        demo(env).outage = False
    assert [r.id for r in answer.obj.results] == [f"acc{a.id}", f"acc{b.id}"]
    for card in cards(answer):
        assert "Баланс временно недоступен" in card
    assert {r.description for r in answer.obj.results} == {"Баланс временно недоступен"}


async def test_at_most_fifty_results(bot_env: Any) -> None:
    env = await bot_env(max_accounts_per_user=100)
    await register(env.client(user_id=6607))
    # 60 accounts the demo billing does not know: each is a «not found» card.
    async with env.runtime.app.session_factory() as session:
        await session.execute(insert(LinkedAccount), [
            {"user_id": 6607, "supplier_code": "mrg_perm", "number": f"9900{i:04d}",
             "is_default": i == 0, "owner_masked": "И****", "address_masked": "г. П****"}
            for i in range(60)])
        await session.commit()
    answer = await ask(env, 6607)
    assert len(answer.obj.results) == MAX_RESULTS == 50
    assert "больше не находит" in cards(answer)[0]


def test_matching_rules() -> None:
    account = LinkedAccount(alias="Дом мамы", number="59093873", supplier_code="mrg_perm")
    names = ["Газпром межрегионгаз Пермь", "Gazprom Mezhregiongaz Perm"]
    assert matches(account, "", names)
    assert matches(account, "мамы пермь", names)
    assert matches(account, "PERM", names)
    assert matches(account, "3873", names)
    assert not matches(account, "59093873", names)  # only the tail, as on the card
    assert not matches(account, "дача", names)
