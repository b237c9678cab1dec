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
    from handlers.accounts import show_accounts
    from handlers.balance import balance_deep_link
    from handlers.common import show_help
    from handlers.linking import enter_linking
    from handlers.payments import pay_deep_link
    from handlers.readings import reading_deep_link
    from handlers.receipts import receipt_deep_link
    from handlers.reminders import reminders_deep_link
    from handlers.settings import show_settings
    from handlers.support import start_support

    async def _settings(message: Message, state: FSMContext, services: Services,
                        user: User, arg: str | None) -> None:
        await show_settings(message, user)

    async def _help(message: Message, state: FSMContext, services: Services, user: User,
                    arg: str | None) -> None:
        await show_help(message)

    async def _link(message: Message, state: FSMContext, services: Services, user: User,
                    arg: str | None) -> None:
        await enter_linking(message, state, services, user)

    async def _accounts(message: Message, state: FSMContext, services: Services, user: User,
                        arg: str | None) -> None:
        await show_accounts(message, services, user)

    # A feature registers its payload here.
    return {"settings": _settings, "help": _help, "link": _link,
            "balance": balance_deep_link, "pay": pay_deep_link,
            "receipt": receipt_deep_link, "support": start_support, "accounts": _accounts,
            "reading": reading_deep_link, "reminders": reminders_deep_link}


def has_route(feature: str) -> bool:
    """Whether a feature has registered its deep link: lets one feature offer another's
    entry (e.g. a reminder button) only once that feature exists."""
    return feature in _routes()


def account_id_of(arg: str | None) -> int | None:
    """The linked account's id in a deep link's argument (`pay_42`); None for anything else."""
    return int(arg) if arg is not None and arg.isascii() and arg.isdigit() else None


async def follow_deep_link(payload: str, message: Message, state: FSMContext,
                           services: Services, user: User) -> bool:
    """Run the feature named by the payload; False when the payload is unknown."""
    feature, _, arg = payload.partition("_")
    handler = _routes().get(feature)
    if handler is None:
        return False
    await handler(message, state, services, user, arg or None)
    return True
