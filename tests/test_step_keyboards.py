"""A conversation step's buttons go when the step is over (bot/middlewares/step_keyboards.py):
answered by typing, asked again, left with a command or the menu. Buttons sent outside a
conversation, or as it ends, stay."""

from __future__ import annotations

from typing import Any

from aiogram.types import Message

from tests.test_linking import buttons, state_of
from tests.test_registration import PHONE, register


def live(env: Any, message: Message) -> list[str]:
    """The buttons `message` carries now, as the fake Bot API holds it."""
    current = env.session.sent[(message.chat.id, message.message_id)]
    return buttons(current)


def cleared(env: Any, message: Message) -> int:
    """How many times the bot took the buttons off `message`."""
    return sum(1 for r in env.session.requests if r.method == "editMessageReplyMarkup"
               and r.obj.message_id == message.message_id and r.obj.reply_markup is None)


async def test_the_email_steps_skip_buttons_go_once_the_email_is_typed(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client(language_code="de")
    await client.send("/start")
    await client.click("🇬🇧 English")
    await client.click("✅ I agree")
    await client.share_contact(PHONE)
    first = client.bot_messages()[-1]
    assert live(env, first) == ["Skip ➡️"]
    # asked again after a sticker: only the newest question keeps «Skip»
    await client.send_sticker()
    second = client.bot_messages()[-1]
    assert second.message_id != first.message_id and live(env, second) == ["Skip ➡️"]
    assert live(env, first) == []
    # typed instead of skipped: the step is over, its button goes
    await client.send("ivan@example.ru")
    assert await state_of(env, client) is None
    assert live(env, second) == []
    assert cleared(env, first) == 1 and cleared(env, second) == 1


async def test_cancel_takes_the_steps_buttons_off_and_result_cards_keep_theirs(
        bot_env: Any) -> None:
    env = await bot_env()
    client = env.client(language_code="de")
    await register(client, "en")
    await client.send("/link")
    picker = client.bot_messages()[-1]
    assert live(env, picker), "the supplier step asks with buttons"
    await client.send("/cancel")
    assert await state_of(env, client) is None
    assert live(env, picker) == []
    # a step pressed through to its end: the card the conversation ends with keeps its buttons
    await client.send("/settings")
    menu = client.bot_messages()[-1]
    before = len(env.session.requests)
    await client.send("/help")
    assert live(env, menu), "a menu sent outside a conversation stays"
    assert not [r for r in env.session.requests[before:]
                if r.method == "editMessageReplyMarkup"]


async def test_a_pressed_step_is_not_edited_twice(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client(language_code="ru")
    await client.send("/start")
    language = client.bot_messages()[-1]
    await client.click("✓ 🇷🇺 Русский")
    consent = client.bot_messages()[-1]
    await client.click("✅ Согласен")
    # each handler took its own buttons off: nothing more to do for the middleware
    assert cleared(env, consent) == 1
    assert cleared(env, language) <= 1
    assert buttons(client.bot_messages()[-1]) == []
