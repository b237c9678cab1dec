"""Commands that work in every state: /cancel and /help, plus the main-menu Help entry."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Message, ReplyKeyboardRemove
from aiogram.utils.i18n import gettext as _

from bot.db.models import User
from bot.filters import MenuEntry
from bot.keyboards.common import MENU_HELP, main_menu
from bot.suppliers.accounts import mask_account
from fsm.linking import drop_kept_link, kept_link
from fsm.readings import drop_unsaved, has_unsaved


async def show_help(message: Message) -> None:
    await message.answer(
        _(
            "<b>What I can do</b>\n"
            "I bring your gas supplier's personal cabinet into Telegram.\n\n"
            "/start — registration and the main menu\n"
            "/balance — balance, payments and charges\n"
            "/reading — submit a meter reading, see its history and chart\n"
            "/pay — a QR code to pay in your banking app\n"
            "/receipt — the receipt of a month as PDF\n"
            "/link — link a gas account\n"
            "/accounts — my accounts: names, the default one, unlinking\n"
            "/reminders — reminders: readings, payment, new receipts\n"
            "/settings — language, phone, e-mail, delete my data\n"
            "/support — write to support, see my tickets\n"
            "/cancel — stop the current step\n"
            "/help — this help"
        )
    )


def build_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == ChatType.PRIVATE)

    @router.message(Command("cancel"))
    async def cancel(message: Message, state: FSMContext, user: User | None) -> None:
        had_state = await state.get_state() is not None
        await state.clear()
        # What a conversation left aside to go on with later goes too: a paused linking
        # (which text typed later would be reminded of), a reading's typed values.
        kept = await kept_link(state)
        if kept is not None:
            await drop_kept_link(state)
        if await has_unsaved(state):
            await drop_unsaved(state)
            had_state = True
        if kept is not None and kept.number is not None and had_state:
            # Another conversation was the current one (a reading typed after leaving
            # linking): it is what the user cancels; the paused linking goes with it.
            text = _("Cancelled. The paused linking of account <code>{number}</code> will not "
                     "be continued either.").format(number=mask_account(kept.number))
        elif kept is not None and kept.number is not None:
            text = _("Cancelled: linking account <code>{number}</code> will not be continued."
                     ).format(number=mask_account(kept.number))
        else:
            text = _("Cancelled.") if had_state else _("There is nothing to cancel.")
        if user is not None and user.is_registered:
            await message.answer(text, reply_markup=main_menu())
        else:
            await message.answer(
                text + "\n" + _("Send /start whenever you are ready."),
                reply_markup=ReplyKeyboardRemove(),
            )

    @router.message(Command("help"))
    @router.message(MenuEntry(MENU_HELP))
    async def help_command(message: Message) -> None:
        await show_help(message)

    return router
