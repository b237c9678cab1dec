"""One place that answers the user when a handler fails, and logs it with context."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent
from aiogram.utils.i18n import gettext as _

from bot.middlewares.events import EVENT_LOG_KEY, EventContext

logger = logging.getLogger(__name__)


async def _tell_user(event: ErrorEvent, text: str) -> None:
    update = event.update
    if update.callback_query is not None:
        await update.callback_query.answer(text, show_alert=True)
    elif update.message is not None and update.message.chat.type == "private":
        await update.message.answer(text)


def build_router() -> Router:
    router = Router(name=__name__)

    @router.error(ExceptionTypeFilter(TelegramBadRequest))
    async def telegram_bad_request(event: ErrorEvent, event_log: EventContext | None = None
                                   ) -> None:
        # "message is not modified" and friends: a double tap, nothing the user must hear about.
        if "message is not modified" in str(event.exception):
            if event.update.callback_query is not None:
                await event.update.callback_query.answer()
            return
        await unexpected(event)

    @router.error()
    async def unexpected(event: ErrorEvent) -> None:
        logger.error(
            "handler failed: %s",
            type(event.exception).__name__,
            exc_info=event.exception,
            extra={"update_id": event.update.update_id},
        )
        try:
            await _tell_user(
                event,
                _("😔 Something went wrong on our side. Please try again in a minute; "
                  "what you entered so far is kept."),
            )
        except Exception:
            logger.warning("could not tell the user about the error", exc_info=True)

    return router


__all__ = ["EVENT_LOG_KEY", "build_router"]
