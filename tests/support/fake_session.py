"""A Bot API session that never touches the network: it records every request, serialized
exactly as aiogram's aiohttp session would send it, and answers with plausible results."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Chat, InlineKeyboardMarkup, Message, User

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)


@dataclass
class Request:
    method: str
    obj: TelegramMethod[Any]
    params: dict[str, str]
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def text(self) -> str | None:
        return getattr(self.obj, "text", None) or getattr(self.obj, "caption", None)

    @property
    def chat_id(self) -> int | None:
        chat_id = getattr(self.obj, "chat_id", None)
        return int(chat_id) if chat_id is not None else None


class RecordingSession(BaseSession):
    def __init__(self, bot_user: User) -> None:
        super().__init__()
        self.bot_user = bot_user
        self.requests: list[Request] = []
        self.sent: dict[tuple[int, int], Message] = {}
        self._ids = itertools.count(1000)
        self.checker: Any = None  # set to a SpecChecker to validate every request
        self.violations: list[str] = []

    async def close(self) -> None:
        return None

    async def stream_content(self, url: str, headers: dict[str, Any] | None = None,
                             timeout: int = 30, chunk_size: int = 65536,
                             raise_for_status: bool = True) -> AsyncGenerator[bytes, None]:
        raise AssertionError("the fake session has no files to stream")
        yield b""  # pragma: no cover

    async def _serialize(self, bot: Bot, method: TelegramMethod[Any]
                         ) -> tuple[dict[str, str], dict[str, bytes]]:
        files: dict[str, Any] = {}
        params: dict[str, str] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files)
            if prepared:
                params[key] = prepared
        contents: dict[str, bytes] = {}
        for attach_key, input_file in files.items():
            contents[attach_key] = b"".join([chunk async for chunk in input_file.read(bot)])
            # Also under the field name (photo, document), as the Bot API server sees it.
            for name, value in params.items():
                if value == f"attach://{attach_key}":
                    contents[name] = contents[attach_key]
        return params, contents

    async def make_request(self, bot: Bot, method: TelegramMethod[TelegramType],
                           timeout: int | None = None) -> TelegramType:
        params, files = await self._serialize(bot, method)
        name = method.__api_method__
        if self.checker is not None:
            # Recorded, not raised: the bot's error router would swallow an exception here.
            # The bot_env fixture fails the test at teardown when anything was recorded.
            self.violations += [f"{name}: {p}" for p in self.checker.check(name, params, files)]
        self.requests.append(Request(name, method, params, files))
        return self._answer(name, method)  # type: ignore[no-any-return]

    def _message(self, chat_id: int, **kwargs: Any) -> Message:
        chat_type = "private" if chat_id > 0 else "supergroup"
        message = Message(
            message_id=next(self._ids),
            date=int(time.time()),
            chat=Chat(id=chat_id, type=chat_type),
            from_user=self.bot_user,
            **kwargs,
        )
        self.sent[(chat_id, message.message_id)] = message
        return message

    def _answer(self, name: str, method: Any) -> Any:
        markup = getattr(method, "reply_markup", None)
        inline = markup if isinstance(markup, InlineKeyboardMarkup) else None
        if name == "getMe":
            return self.bot_user
        if name == "sendMessage":
            return self._message(int(method.chat_id), text=method.text, reply_markup=inline)
        if name in {"sendPhoto", "sendDocument"}:
            return self._message(int(method.chat_id), caption=method.caption, reply_markup=inline)
        if name in {"editMessageText", "editMessageReplyMarkup", "editMessageCaption"}:
            if method.chat_id is None:
                return True
            key = (int(method.chat_id), int(method.message_id))
            old = self.sent.get(key)
            if (name == "editMessageReplyMarkup" and inline is None and old is not None
                    and old.reply_markup is None):
                # Telegram's answer to taking buttons off a message that has none (a double tap).
                raise TelegramBadRequest(method=method, message=NOT_MODIFIED)
            text = getattr(method, "text", None) or (old.text if old else None)
            updated = Message(message_id=key[1], date=int(time.time()),
                              chat=Chat(id=key[0], type="private"), from_user=self.bot_user,
                              text=text, reply_markup=inline)
            self.sent[key] = updated
            return updated
        return True
