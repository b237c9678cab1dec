"""The catch-all router. It must stay last: it answers whatever no feature router took."""

from __future__ import annotations

from aiogram import F, Router, html
from aiogram.enums import ChatType
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.db.models import User
from bot.keyboards.common import main_menu
from bot.services import Services
from handlers.linking import paused_linking


def build_router() -> Router:
    router = Router(name=__name__)

    @router.message(F.chat.type == ChatType.PRIVATE)
    async def unknown_message(message: Message, user: User | None, state: FSMContext,
                              services: Services) -> None:
        if user is None or not user.is_registered:
            await message.answer(_("To get started, send /start."))
            return
        command = (message.text or "").split(maxsplit=1)[0] if message.text else ""
        if command.startswith("/") and len(command) > 1:
            await message.answer(
                _("I don't know the command {command}: /help lists what I can do.").format(
                    command=html.quote(command[:64])),
                reply_markup=main_menu())
            return
        # Text typed for a step that was left (a surname after «💰 Balance»).
        paused = await paused_linking(state, services, user)
        if paused is not None:
            text, markup = paused
            await message.answer(_("I didn't get that.") + " " + text, reply_markup=markup)
            return
        await message.answer(
            _("I didn't get that. Choose an action in the menu below or see /help."),
            reply_markup=main_menu(),
        )

    @router.callback_query()
    async def stale_button(query: CallbackQuery) -> None:
        # Buttons of old messages, or of a step the user has already left.
        await query.answer(_("This button is no longer active."))

    return router
