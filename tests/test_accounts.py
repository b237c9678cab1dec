"""/accounts through the real Dispatcher: list, rename, default, unlink with confirmation."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.callbacks import AccountCB
from bot.db.models_accounts import LinkAttempt, LinkedAccount
from tests.test_linking import (
    buttons,
    entries,
    last_toast,
    link_directly,
    linked,
    register,
    state_of,
)


async def two_accounts(env: Any, client: Any) -> list[LinkedAccount]:
    moscow = await entries(env, "mrg_moscow")
    perm = (await entries(env, "mrg_perm"))[0]
    await link_directly(env, client.user.id, perm)
    await link_directly(env, client.user.id, moscow[0])
    return await linked(env, client.user.id)


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_no_accounts_yet(bot_env: Any, lang: str) -> None:
    env = await bot_env()
    client = env.client(language_code=lang)
    await register(client, lang)
    await client.send("/accounts")
    assert ("У вас пока нет привязанных лицевых счетов" if lang == "ru"
            else "You have no linked accounts yet") in client.last_text()
    assert buttons(client.bot_messages()[-1]) == [
        "🔗 Привязать лицевой счёт" if lang == "ru" else "🔗 Link an account"]
    await client.click(buttons(client.bot_messages()[-1])[0])
    assert await state_of(env, client) == "LinkStates:supplier"


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_list_marks_the_default(bot_env: Any, lang: str) -> None:
    env = await bot_env()
    client = env.client(language_code=lang)
    await register(client, lang)
    perm, moscow = await two_accounts(env, client)
    await client.send("📋 Мои счета" if lang == "ru" else "📋 My accounts")
    text = client.last_text()
    assert ("Ваши лицевые счета</b> (2 из 10)" if lang == "ru"
            else "Your accounts</b> (2 of 10)") in text
    perm_name = env.runtime.app.catalog.get("mrg_perm").display_name(lang)
    moscow_name = env.runtime.app.catalog.get("mrg_moscow").display_name(lang)
    assert f"⭐ <b>{perm_name}</b>" in text and f"▫️ <b>{moscow_name}</b>" in text
    assert perm.number not in text and f"•••• {perm.number[-4:]}" in text
    assert buttons(client.bot_messages()[-1]) == [
        f"⭐ {perm_name} · •••• {perm.number[-4:]}",
        f"▫️ {moscow_name} · •••• {moscow.number[-4:]}",
        "🔗 Привязать лицевой счёт" if lang == "ru" else "🔗 Link an account",
    ]


async def test_same_number_in_two_units_is_listed_with_the_units(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await register(client)
    crimea = await entries(env, "crimea")
    numbers = [e.number for e in crimea]
    twins = [e for e in crimea if numbers.count(e.number) == 2]
    for entry in twins:
        await link_directly(env, client.user.id, entry)
    supplier = env.runtime.app.catalog.get("crimea")
    name = supplier.display_name("ru")
    units = [supplier.unit(e.unit_code).name.ru for e in twins]
    masked = f"•••• {twins[0].number[-4:]}"
    await client.send("/accounts")
    text = client.last_text()
    assert f"⭐ <b>{name}</b> · {units[0]}" in text and f"▫️ <b>{name}</b> · {units[1]}" in text
    assert buttons(client.bot_messages()[-1])[:2] == [
        f"⭐ {name} · {units[0]} · {masked}", f"▫️ {name} · {units[1]} · {masked}"]
    # A name of the user's own keeps the unit: two accounts may well get the same one.
    await client.click(f"▫️ {name} · {units[1]} · {masked}")
    assert f"<b>{name} · {units[1]}</b>" in client.last_text()
    await client.click("✏️ Переименовать")
    await client.send("Дача")
    await client.click("⬅️ Все лицевые счета")
    assert f"▫️ <b>Дача</b> · {name} · {units[1]}" in client.last_text()
    assert f"▫️ Дача · {units[1]} · {masked}" in buttons(client.bot_messages()[-1])


async def test_rename_validates_and_escapes(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await register(client)
    perm, moscow = await two_accounts(env, client)
    await client.send("/accounts")
    await client.click(buttons(client.bot_messages()[-1])[1])
    card = client.last_text()
    # unnamed, the title is the supplier: it is not repeated
    assert card.startswith("<b>Газпром межрегионгаз Москва</b>") and "Поставщик:" not in card
    assert f"Лицевой счёт: <code>•••• {moscow.number[-4:]}</code>" in card
    assert "Привязан " in card
    # the account's own actions come last, after the features' buttons (balance, pay, ...)
    card_buttons = buttons(client.bot_messages()[-1])
    assert card_buttons[-4:] == [
        "✏️ Переименовать", "⭐ Сделать основным", "🗑 Отключить", "⬅️ Все лицевые счета"]
    assert "💰 Баланс" in card_buttons
    await client.click("✏️ Переименовать")
    assert "до 32 символов" in client.last_text()
    assert await state_of(env, client) == "AccountStates:alias"
    await client.send_sticker()
    assert "Отправьте новое название текстом" in client.last_text()
    await client.send("д" * 33)
    assert "Слишком длинное название: не более 32 символов" in client.last_text()
    await client.send("<b>Дача</b> & Co")
    assert client.texts()[-2] == "✅ Название сохранено."
    card = client.last_text()
    assert "<b>&lt;b&gt;Дача&lt;/b&gt; &amp; Co</b>" in card
    assert "Поставщик: Газпром межрегионгаз Москва" in card
    assert await state_of(env, client) is None
    rows = await linked(env, client.user.id)
    assert rows[1].alias == "<b>Дача</b> & Co"
    await client.click("⬅️ Все лицевые счета")
    listing = client.last_text()
    assert "▫️ <b>&lt;b&gt;Дача&lt;/b&gt; &amp; Co</b> · Газпром межрегионгаз Москва" in listing
    assert f"▫️ <b>Дача</b> & Co · •••• {moscow.number[-4:]}" in buttons(
        client.bot_messages()[-1])
    # Removing the name brings the supplier's name back.
    await client.click(f"▫️ <b>Дача</b> & Co · •••• {moscow.number[-4:]}")
    await client.click("✏️ Переименовать")
    await client.click("Убрать название")
    assert last_toast(client) == "Название удалено."
    assert (await linked(env, client.user.id))[1].alias is None
    assert await state_of(env, client) is None
    assert perm.alias is None


async def test_commands_and_menu_are_not_names(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await register(client)
    await two_accounts(env, client)
    await client.send("/accounts")
    await client.click(buttons(client.bot_messages()[-1])[0])
    await client.click("✏️ Переименовать")
    await client.send("/accounts")
    assert "Ваши лицевые счета" in client.last_text()
    await client.click(buttons(client.bot_messages()[-1])[0])
    await client.click("✏️ Переименовать")
    await client.send("🔗 Привязать счёт")
    assert await state_of(env, client) == "LinkStates:supplier"
    assert all(a.alias is None for a in await linked(env, client.user.id))


async def test_make_default(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client(language_code="en")
    await register(client, "en")
    _perm, moscow = await two_accounts(env, client)
    await client.send("/accounts")
    await client.click(buttons(client.bot_messages()[-1])[1])
    await client.click("⭐ Make default")
    assert last_toast(client) == "⭐ It's now your default account."
    assert "⭐ This is your default account." in client.last_text()
    assert "⭐ Make default" not in buttons(client.bot_messages()[-1])
    rows = await linked(env, client.user.id)
    assert [(r.id, r.is_default) for r in rows] == [(rows[0].id, False), (moscow.id, True)]


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_unlink_asks_first_and_reassigns_the_default(bot_env: Any, lang: str) -> None:
    env = await bot_env()
    client = env.client(language_code=lang)
    await register(client, lang)
    perm, moscow = await two_accounts(env, client)
    ru = lang == "ru"
    await client.send("/accounts")
    await client.click(buttons(client.bot_messages()[-1])[0])
    await client.click("🗑 Отключить" if ru else "🗑 Unlink")
    assert ("Отключить <b>" if ru else "Unlink <b>") in client.last_text()
    assert len(await linked(env, client.user.id)) == 2, "nothing is removed before confirming"
    await client.click("⬅️ Нет, оставить" if ru else "⬅️ No, keep it")
    assert len(await linked(env, client.user.id)) == 2
    await client.click("🗑 Отключить" if ru else "🗑 Unlink")
    confirmation = client.bot_messages()[-1]
    await client.click("🗑 Да, отключить" if ru else "🗑 Yes, unlink")
    text = client.last_text()
    moscow_name = env.runtime.app.catalog.get("mrg_moscow").display_name(lang)
    assert ("отключён" if ru else "unlinked") in text
    assert (f"Теперь основной лицевой счёт — <b>{moscow_name}</b>" if ru
            else f"Your default account is now <b>{moscow_name}</b>") in text
    rows = await linked(env, client.user.id)
    assert [(r.id, r.is_default) for r in rows] == [(moscow.id, True)]
    # The confirmation pressed again: answered, nothing else happens.
    await client.click("🗑 Да, отключить" if ru else "🗑 Yes, unlink", in_message=confirmation)
    assert last_toast(client) == ("Этот лицевой счёт уже не привязан." if ru
                                  else "This account is no longer linked.")
    assert perm.id not in [r.id for r in rows]


async def test_someone_elses_account_id_is_refused(bot_env: Any) -> None:
    env = await bot_env()
    owner = env.client()
    await register(owner)
    perm, _moscow = await two_accounts(env, owner)
    intruder = env.client(user_id=6010)
    await register(intruder)
    await intruder.send("/accounts")
    message = intruder.bot_messages()[-1]
    for action in ("open", "rename", "default", "unlink", "unlink_yes"):
        await intruder.click_data(AccountCB(action=action, id=perm.id).pack(), message)
        assert last_toast(intruder) == "Этот лицевой счёт уже не привязан."
    assert len(await linked(env, owner.user.id)) == 2
    assert await state_of(env, intruder) is None


async def test_deleting_my_data_removes_linked_accounts(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await register(client)
    await two_accounts(env, client)
    await client.send("/settings")
    await client.click("🗑 Удалить мои данные")
    await client.click("🗑 Да, удалить всё")
    assert await linked(env, client.user.id) == []
    async with env.runtime.app.session_factory() as session:
        attempts = list(await session.scalars(select(LinkAttempt)))
    assert attempts and all(a.user_id is None for a in attempts)


async def test_the_last_account_unlinked(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await register(client)
    await link_directly(env, client.user.id, (await entries(env, "mrg_perm"))[0])
    await client.send("/accounts")
    await client.click(buttons(client.bot_messages()[-1])[0])
    await client.click("🗑 Отключить")
    await client.click("🗑 Да, отключить")
    assert "Теперь основной" not in client.last_text()
    assert buttons(client.bot_messages()[-1]) == ["🔗 Привязать лицевой счёт"]
    assert await linked(env, client.user.id) == []


async def test_main_menu_and_help_mention_the_features(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client()
    await register(client)
    assert {"🔗 Привязать счёт", "📋 Мои счета", "⚙️ Настройки", "❓ Помощь"} <= set(
        client.last_reply_keyboard())
    await client.send("/help")
    assert "/link — привязать лицевой счёт" in client.last_text()
    assert "/accounts — мои лицевые счета" in client.last_text()


async def test_the_linking_day_is_the_suppliers(bot_env: Any) -> None:
    """A Perm account linked at 00:08 local time (19:08 UTC) said «Привязан 22 ноября» on its
    card beside readings dated the 23rd."""
    from datetime import UTC, datetime

    from tests.test_linking import Clock

    env = await bot_env()
    env.runtime.app.clock = Clock(datetime(2026, 11, 22, 19, 8, tzinfo=UTC))
    client = env.client()
    await register(client)
    await link_directly(env, client.user.id, (await entries(env, "mrg_perm"))[0])
    await client.send("/accounts")
    await client.click(buttons(client.bot_messages()[-1])[0])
    assert "Привязан 23 ноября 2026" in client.last_text()
