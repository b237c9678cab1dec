"""`/start <payload>` deep links: group replies, inline results and reminders open the bot at
a feature. A payload is `<feature>` or `<feature>_<argument>` (e.g. `reading_42`, the id of a
linked account); Telegram allows A-Z a-z 0-9 _ - and at most 64 characters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from bot.db.models import User
from bot.services import Services

DeepLinkHandler = Callable[[Message, FSMContext, Services, User, str | None], Awaitable[None]]


def _routes() -> dict[str, DeepLinkHandler]:
    # Imported here: the feature modules import this one to offer their own deep links.
    from handlers.common import show_help
    from handlers.linking import start_linking
    from handlers.settings import show_settings

    async def _settings(message: Message, state: FSMContext, services: Services,
                        user: User, arg: str | None) -> None:
        await show_settings(message, user)

    async def _help(message: Message, state: FSMContext, services: Services, user: User,
                    arg: str | None) -> None:
        await show_help(message)

    async def _link(message: Message, state: FSMContext, services: Services, user: User,
                    arg: str | None) -> None:
        await start_linking(message, state, services, user)

    # A feature registers its payload here.
    return {"settings": _settings, "help": _help, "link": _link}


async def follow_deep_link(payload: str, message: Message, state: FSMContext,
                           services: Services, user: User) -> bool:
    """Run the feature named by the payload; False when the payload is unknown."""
    feature, _, arg = payload.partition("_")
    handler = _routes().get(feature)
    if handler is None:
        return False
    await handler(message, state, services, user, arg or None)
    return True
