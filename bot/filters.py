"""Shared filters, set on routers rather than repeated on handlers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram.utils.i18n import I18n

from bot.db.models import User
from bot.i18n import LANGUAGES
from bot.keyboards.common import main_menu


class RegisteredUser(Filter):
    """Passes for a registered user; the fallback router tells everybody else to /start."""

    async def __call__(
        self, event: TelegramObject, user: User | None = None
    ) -> bool | dict[str, Any]:
        return user is not None and user.is_registered


def feature_router(name: str) -> Router:
    """The router of a feature for registered users in their private chat: its messages come
    only from the private chat of a registered user, its button presses only from a
    registered user (the registration router answers everybody else)."""
    router = Router(name=name)
    router.message.filter(F.chat.type == ChatType.PRIVATE)
    router.message.filter(RegisteredUser())
    router.callback_query.filter(RegisteredUser())
    return router


def _in_every_language(texts: Callable[[], Iterable[str]]) -> frozenset[str] | None:
    """`texts()` in each of the bot's languages; None outside a handler's I18n context."""
    i18n = I18n.get_current(no_error=True)
    if i18n is None:
        return None
    found: set[str] = set()
    for lang in LANGUAGES:
        with i18n.use_locale(lang):
            found.update(texts())
    return frozenset(found)


def _main_menu_texts() -> Iterable[str]:
    return (button.text for row in main_menu().keyboard for button in row)


_menu_texts: frozenset[str] | None = None


def menu_texts() -> frozenset[str]:
    """The main menu's entries in every language: a user who switched the language may still
    press a button of the keyboard sent before (Telegram keeps it until a new one comes).
    Kept once known: the catalogs do not change while the bot runs."""
    global _menu_texts  # noqa: PLW0603
    if _menu_texts is None:
        found = _in_every_language(_main_menu_texts)
        if found is None:
            return frozenset(_main_menu_texts())
        _menu_texts = found
    return _menu_texts


class MenuEntry(Filter):
    """A main-menu entry, in whichever of the bot's languages it was pressed."""

    def __init__(self, entry: Any) -> None:
        self.entry = entry  # a lazy gettext string, MENU_* of bot/keyboards/common.py
        self._texts: frozenset[str] | None = None

    async def __call__(self, message: Message) -> bool:
        if self._texts is None:
            found = _in_every_language(lambda: (str(self.entry),))
            if found is None:
                return message.text == str(self.entry)
            self._texts = found
        return message.text in self._texts


def may_leave(event: TelegramObject, own_prefixes: tuple[str, ...]) -> bool:
    """Whether an update at a conversation step may take the user elsewhere: a command or a
    main-menu entry (not /cancel, which leaves on purpose), or a button other than the
    conversation's own (callback data prefixes `own_prefixes`, each with its ':')."""
    if isinstance(event, Message):
        command = (event.text or "").split("@", 1)[0].split(maxsplit=1)[:1]
        return not is_step_input(event) and command != ["/cancel"]
    if isinstance(event, CallbackQuery):
        return not (event.data or "").startswith(own_prefixes)
    return False


def is_step_input(message: Message) -> bool:
    """Commands and main-menu entries sent during a conversation step are not its input:
    they go on to their own handlers and the step is left. Anything else (a sticker, a
    photo included) is the step's to answer. For a step's catch-all handlers:
    `@router.message(SomeStates.step, F.func(is_step_input))`."""
    text = message.text
    if text is None:
        return True
    if text.startswith("/"):
        return False
    return text not in menu_texts()
