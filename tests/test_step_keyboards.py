"""A conversation step's buttons go when the step is over (bot/middlewares/step_keyboards.py):
answered by typing, asked again, left with a command or the menu. Buttons sent outside a
conversation, or as it ends, stay."""

from __future__ import annotations

from typing import Any

from aiogram.types import Message

from tests.test_linking import buttons, choose_supplier, entries, link_directly, state_of
from tests.test_readings import last_values, pick, start
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


async def test_notices_and_cards_sent_mid_conversation_keep_their_buttons(
        bot_env: Any) -> None:
    """A trial found the first version taking buttons off whatever was sent while a
    conversation went on: «▶️ Continue linking», a balance card, the meter's «📜 History»."""
    env, client, house, _clock = await start(bot_env, "mrg_krasnodar", "house", lang="en")
    other = await pick(env, "mrg_moscow", "two_meters")
    await link_directly(env, client.user.id, other)
    moscow = env.runtime.app.catalog.get("mrg_moscow")
    found = next(e for e in await entries(env, "mrg_moscow") if e.number != other.number)
    await client.send("/balance")
    await client.click(buttons(client.bot_messages()[-1])[0])
    card = client.bot_messages()[-1]
    card_buttons = live(env, card)
    assert card_buttons
    await client.send("/link")
    await choose_supplier(client, "Moscow", moscow.display_name("en"))
    await client.send(found.number)
    # leaving linking for /reading: the notice, then the account step
    await client.send("/reading")
    notice = next(m for m in reversed(client.bot_messages())
                  if "▶️ Continue linking" in buttons(m))
    picker = next(m for m in reversed(client.bot_messages())
                  if any(house.number[-4:] in b for b in buttons(m)))
    assert await state_of(env, client) == "ReadingStates:account"
    await client.click(next(b for b in live(env, picker) if house.number[-4:] in b),
                       in_message=picker)
    meter_screen = client.bot_messages()[-1]
    assert "📜 History" in live(env, meter_screen)
    (previous,) = last_values(house.meters[0])
    await client.send(str(int(previous) + 2))
    await client.click("✅ Submit")
    assert "accepted" in client.last_text()
    await client.send("/cancel")
    assert live(env, notice) == ["▶️ Continue linking"]
    assert live(env, card) == card_buttons
    assert "📜 History" in live(env, meter_screen)


async def test_a_press_that_raced_the_buttons_removal_still_finishes(bot_env: Any) -> None:
    env = await bot_env()
    client = env.client(language_code="de")
    await client.send("/start")
    first = client.bot_messages()[-1]
    await client.send("hello")  # asked again: the first question's buttons go
    assert live(env, first) == []
    # a press on the first question that was on its way meanwhile
    await client.click("🇬🇧 English", in_message=first)
    assert "Consent to personal data processing" in client.last_text()
    assert await state_of(env, client) == "RegistrationStates:consent"
