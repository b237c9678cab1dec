"""One live step keyboard per private chat: a conversation step's buttons go when the step
is over.

A step asks with inline buttons (the language, «Skip» the e-mail, the supplier, the meter,
«✅ Submit»…). When the user answers by typing instead, leaves with a command or the menu,
or the step is asked again after a wrong input, the old buttons would stay in the chat, each
press answered «no longer active». The keyboards that answer a step are built as
`StepKeyboard` (bot/keyboards/step.py); cards, notices and results keep their buttons,
which work from any message. Then:

- `KeyboardNotes`, a middleware of the bot's session, notes the messages of the update's
  chat that the bot sends or edits with a step keyboard while it handles an update, and
  those whose step buttons it takes off or replaces;
- `StepKeyboards`, an outer middleware on the root router's messages and button presses in
  private chats, decides once the handler is done: when the user is left in a conversation
  step and the update sent step buttons, those are the live ones, and the earlier live ones
  lose theirs; when the update left the conversation, or moved to another step without
  step buttons, the live ones lose theirs — except the message whose button was pressed,
  which its handler has dealt with (a list of periods left for the next receipt).

The live messages' ids wait in their own FSM slot (destiny `step_keyboards`), next to the
conversation's data, which conversations replace freely. An update that neither changes the
step nor sends step buttons costs nothing; nor does one outside conversations, or one that
enters a conversation (none is live then, but for one whose state expired: its buttons are
left, answered «no longer active» as before).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Final

from aiogram import BaseMiddleware, Bot, Router
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.context import FSMContext
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import CallbackQuery, Chat, Message, TelegramObject

from bot.fsm_storage.keys import side_slot
from bot.fsm_storage.tracked import TrackedState
from bot.keyboards.step import StepKeyboard

logger = logging.getLogger(__name__)

DESTINY: Final = "step_keyboards"
_EDITS: Final = frozenset({"editMessageText", "editMessageReplyMarkup", "editMessageCaption",
                           "editMessageMedia"})


@dataclass
class _Noted:
    """What the bot did to one chat's buttons while handling one update."""

    chat_id: int
    sent: list[int] = field(default_factory=list)  # messages now carrying step buttons
    cleared: set[int] = field(default_factory=set)  # messages it took step buttons off


_noted: ContextVar[_Noted | None] = ContextVar("step_keyboards", default=None)


class KeyboardNotes(BaseRequestMiddleware):
    """The session's side: notes buttons sent to, or taken off, the update's own chat."""

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        result = await make_request(bot, method)
        noted = _noted.get()
        if noted is None or not isinstance(result, Message) or result.chat.id != noted.chat_id:
            return result
        markup = getattr(method, "reply_markup", None)
        if isinstance(markup, StepKeyboard) and markup.inline_keyboard:
            if result.message_id not in noted.sent:
                noted.sent.append(result.message_id)
            noted.cleared.discard(result.message_id)
        elif method.__api_method__ in _EDITS:  # no step buttons on it any more
            noted.cleared.add(result.message_id)
            if result.message_id in noted.sent:
                noted.sent.remove(result.message_id)
        return result


def note_keyboards(bot: Bot) -> None:
    """Put `KeyboardNotes` in `bot`'s session (see bot/app.py create_bot)."""
    bot.session.middleware(KeyboardNotes())


def _slot(state: FSMContext) -> FSMContext:
    return side_slot(state, DESTINY)


class StepKeyboards(BaseMiddleware):
    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        state = data.get("state")
        chat: Chat | None = data.get("event_chat")
        if not isinstance(state, TrackedState) or chat is None or chat.type != "private":
            return await handler(event, data)
        before = data.get("raw_state")
        noted = _Noted(chat.id)
        token = _noted.set(noted)
        try:
            result = await handler(event, data)
        finally:
            _noted.reset(token)
        after = state.current
        if before is None and after is None:
            return result  # outside conversations: no step buttons, none live
        if after is not None and noted.sent:
            live = noted.sent
        elif after != before or after is None:
            live = []
        else:
            return result  # the same step, no new buttons: the live ones stay
        bot = data.get("bot")
        if bot is not None:
            await self._settle(bot, state, chat.id, live, noted, _pressed(event),
                               entering=before is None)
        return result

    @staticmethod
    async def _settle(bot: Bot, state: FSMContext, chat_id: int, live: list[int],
                      noted: _Noted, pressed: int | None, *, entering: bool) -> None:
        slot = _slot(state)
        earlier: list[int] = []
        if not entering:
            stored = await slot.get_data()
            earlier = [i for i in stored.get("ids", ()) if isinstance(i, int)]
        for message_id in earlier:
            if message_id in live or message_id in noted.cleared or message_id == pressed:
                # Still live, or the handler took its buttons off itself, or it left the
                # buttons of the message pressed on its purpose (a list of periods to take
                # the next receipt from).
                continue
            with contextlib.suppress(TelegramAPIError):
                await bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id,
                                                    reply_markup=None)
        if live or earlier:
            await slot.set_data({"ids": live} if live else {})


def _pressed(event: TelegramObject) -> int | None:
    """The message whose button the update is a press of."""
    if isinstance(event, CallbackQuery) and isinstance(event.message, Message):
        return event.message.message_id
    return None


def watch_step_keyboards(router: Router) -> None:
    """On the root router: it sees every message and button press."""
    middleware = StepKeyboards()
    router.message.outer_middleware(middleware)
    router.callback_query.outer_middleware(middleware)
