"""A chat client for conversation tests: it "sends" messages and "clicks" buttons by their
text, feeding updates through the real Dispatcher, and reads what the bot answered."""

from __future__ import annotations

import itertools
import time
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import (
    CallbackQuery,
    Chat,
    Contact,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    PhotoSize,
    ReplyKeyboardMarkup,
    Sticker,
    Update,
    User,
)

from tests.support.fake_session import RecordingSession, Request

_update_ids = itertools.count(1)
_message_ids = itertools.count(1)


class ChatClient:
    def __init__(self, dp: Dispatcher, bot: Bot, session: RecordingSession, user_id: int,
                 language_code: str | None = "ru", first_name: str = "Иван") -> None:
        self.dp = dp
        self.bot = bot
        self.session = session
        self.user = User(id=user_id, is_bot=False, first_name=first_name,
                         language_code=language_code)
        self.chat = Chat(id=user_id, type="private", first_name=first_name)
        self._seen = 0

    # --- sending ------------------------------------------------------------------------

    async def _feed(self, **update: Any) -> list[Request]:
        start = len(self.session.requests)
        await self.dp.feed_update(self.bot, Update(update_id=next(_update_ids), **update))
        return self.session.requests[start:]

    def _message(self, **kwargs: Any) -> Message:
        return Message(message_id=next(_message_ids), date=int(time.time()), chat=self.chat,
                       from_user=self.user, **kwargs)

    async def send(self, text: str) -> list[Request]:
        entities = None
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            entities = [MessageEntity(type="bot_command", offset=0, length=len(command))]
        return await self._feed(message=self._message(text=text, entities=entities))

    async def share_contact(self, phone: str, contact_user_id: int | None = None) -> list[Request]:
        owner = self.user.id if contact_user_id is None else contact_user_id
        contact = Contact(phone_number=phone, first_name=self.user.first_name, user_id=owner)
        return await self._feed(message=self._message(contact=contact))

    async def send_sticker(self) -> list[Request]:
        sticker = Sticker(file_id="CAAC", file_unique_id="u1", type="regular", width=512,
                          height=512, is_animated=False, is_video=False)
        return await self._feed(message=self._message(sticker=sticker))

    async def send_photo(self) -> list[Request]:
        photo = [PhotoSize(file_id="AgAD", file_unique_id="p1", width=90, height=90)]
        return await self._feed(message=self._message(photo=photo))

    async def click(self, button_text: str, *, in_message: Message | None = None
                    ) -> list[Request]:
        message = in_message or self._find_message_with_button(button_text)
        data = _button_data(message, button_text)
        query = CallbackQuery(id=str(next(_update_ids)), from_user=self.user,
                              chat_instance="ci", message=message, data=data)
        return await self._feed(callback_query=query)

    async def click_data(self, data: str, message: Message) -> list[Request]:
        query = CallbackQuery(id=str(next(_update_ids)), from_user=self.user,
                              chat_instance="ci", message=message, data=data)
        return await self._feed(callback_query=query)

    # --- reading ------------------------------------------------------------------------

    def requests(self) -> list[Request]:
        return [r for r in self.session.requests if r.chat_id in (None, self.user.id)]

    def texts(self) -> list[str]:
        return [r.text for r in self.requests() if r.text]

    def last_text(self) -> str:
        texts = self.texts()
        assert texts, "the bot has not said anything"
        return texts[-1]

    def bot_messages(self) -> list[Message]:
        return [m for (chat, _), m in sorted(self.session.sent.items()) if chat == self.user.id]

    def _find_message_with_button(self, text: str) -> Message:
        for message in reversed(self.bot_messages()):
            markup = message.reply_markup
            if isinstance(markup, InlineKeyboardMarkup) and any(
                b.text == text for row in markup.inline_keyboard for b in row
            ):
                return message
        raise AssertionError(f"no message with an inline button {text!r}")

    def last_reply_keyboard(self) -> list[str]:
        for request in reversed(self.requests()):
            markup = getattr(request.obj, "reply_markup", None)
            if isinstance(markup, ReplyKeyboardMarkup):
                return [b.text for row in markup.keyboard for b in row]
        return []

    def answered_callbacks(self) -> list[Request]:
        return [r for r in self.session.requests if r.method == "answerCallbackQuery"]


def _button_data(message: Message, text: str) -> str:
    markup = message.reply_markup
    assert isinstance(markup, InlineKeyboardMarkup)
    for row in markup.inline_keyboard:
        for button in row:
            if button.text == text:
                assert button.callback_data is not None
                return button.callback_data
    raise AssertionError(f"no button {text!r}")
