"""`/start <payload>` deep links: group replies and inline results open the bot at a feature."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from bot.db.models import User
from bot.services import Services

DeepLinkHandler = Callable[[Message, FSMContext, Services, User], Awaitable[None]]


def _routes() -> dict[str, DeepLinkHandler]:
    # Imported here: the feature modules import this one to offer their own deep links.
    from handlers.common import show_help
    from handlers.linking import start_linking
    from handlers.settings import show_settings

    async def _settings(message: Message, state: FSMContext, services: Services,
                        user: User) -> None:
        await show_settings(message, user)

    async def _help(message: Message, state: FSMContext, services: Services, user: User) -> None:
        await show_help(message)

    return {"settings": _settings, "help": _help, "link": start_linking}


async def follow_deep_link(payload: str, message: Message, state: FSMContext,
                           services: Services, user: User) -> bool:
    """Run the feature named by the payload; False when the payload is unknown."""
    handler = _routes().get(payload.split("_", 1)[0])
    if handler is None:
        return False
    await handler(message, state, services, user)
    return True
