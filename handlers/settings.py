"""/settings: language, phone, e-mail, and deleting all personal data."""

from __future__ import annotations

from typing import Any

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.callbacks import LanguageCB, SettingsCB
from bot.db.models import User
from bot.filters import MenuEntry, RegisteredUser, is_step_input
from bot.keyboards.common import (
    LANGUAGE_NAMES,
    MENU_SETTINGS,
    language_keyboard,
    main_menu,
    share_phone_keyboard,
)
from bot.keyboards.settings import (
    delete_confirm_keyboard,
    email_settings_keyboard,
    settings_keyboard,
)
from bot.middlewares.leaving import LeavingWatch
from bot.services import Services
from bot.services.errors import ForeignContact, InvalidEmail, InvalidPhone
from bot.services.users import mask_email, mask_phone
from fsm.linking import drop_kept_link
from fsm.readings import drop_unsaved
from fsm.settings import SettingsStates
from handlers.markup import drop_markup
from handlers.registration import typed_phone_hint


def settings_text(user: User) -> str:
    return _("⚙️ <b>Settings</b>\n\nLanguage: {language}\nPhone: {phone}\nE-mail: {email}").format(
        language=LANGUAGE_NAMES.get(user.language, user.language),
        phone=mask_phone(user.phone) if user.phone else _("not given"),
        email=mask_email(user.email) if user.email else _("not given"),
    )


async def show_settings(message: Message, user: User) -> None:
    await message.answer(settings_text(user), reply_markup=settings_keyboard(bool(user.email)))


class PhoneStepWatch(LeavingWatch[bool]):
    """The phone step replaces the menu with its «Share my phone number» keyboard; a command
    that leaves the step would leave that keyboard up (and its button answered «I did not
    understand»). Whoever leaves it is told the number was not changed, with the menu back.
    /cancel says «Cancelled» with the menu itself."""

    steps = frozenset({SettingsStates.phone.state})
    own_buttons = (f"{SettingsCB.__prefix__}:",)

    async def before(self, state: FSMContext) -> bool | None:
        return True

    async def after(self, noted: bool, state_after: str | None, state: FSMContext,
                    user: User, data: dict[str, Any]) -> None:
        if state_after == SettingsStates.phone.state:
            return
        bot: Bot = data["bot"]
        await bot.send_message(state.key.chat_id, _("📱 The phone number was not changed."),
                               reply_markup=main_menu())


def watch_left(router: Router) -> None:
    """Set `PhoneStepWatch` on `router` (the root one)."""
    PhoneStepWatch().watch(router)


def build_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == ChatType.PRIVATE)
    router.message.filter(RegisteredUser())
    router.callback_query.filter(RegisteredUser())

    @router.message(Command("settings"))
    @router.message(MenuEntry(MENU_SETTINGS))
    async def settings_command(message: Message, state: FSMContext, user: User) -> None:
        await state.clear()
        await show_settings(message, user)

    @router.callback_query(SettingsCB.filter(F.action == "lang"))
    async def choose_language(query: CallbackQuery, user: User) -> None:
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(
                _("Choose your language:"), reply_markup=language_keyboard(user.language, "set")
            )

    @router.callback_query(LanguageCB.filter(F.origin == "set"))
    async def language_changed(query: CallbackQuery, callback_data: LanguageCB,
                               services: Services, user: User, i18n: I18n) -> None:
        user = await services.users.choose_language(user.id, callback_data.code)
        with i18n.use_locale(user.language):
            await query.answer(LANGUAGE_NAMES.get(user.language, user.language))
            if isinstance(query.message, Message):
                if not await drop_markup(query.message):
                    return  # a double tap: the language and the menu are changed already
                # A new message carries the main menu, re-labelled in the new language.
                await query.message.answer(_("Language changed."), reply_markup=main_menu())
                await show_settings(query.message, user)

    @router.callback_query(SettingsCB.filter(F.action == "phone"))
    async def change_phone(query: CallbackQuery, state: FSMContext) -> None:
        await query.answer()
        await state.set_state(SettingsStates.phone)
        if isinstance(query.message, Message):
            await query.message.answer(
                _("Share your new phone number with the button below, or send /cancel."),
                reply_markup=share_phone_keyboard(),
            )

    @router.message(SettingsStates.phone, F.contact)
    async def phone_shared(message: Message, state: FSMContext, services: Services,
                           user: User) -> None:
        assert message.contact is not None
        try:
            await services.users.save_contact(
                user, message.contact.phone_number, message.contact.user_id
            )
        except (ForeignContact, InvalidPhone):
            await message.answer(
                _("This is someone else's contact. I can only accept your own number: "
                  "press the button below."),
                reply_markup=share_phone_keyboard(),
            )
            return
        await state.clear()
        await message.answer(_("✅ Phone saved."), reply_markup=main_menu())
        await show_settings(message, user)

    @router.message(SettingsStates.phone, F.func(is_step_input))
    async def phone_bad_input(message: Message) -> None:
        text = typed_phone_hint(message.text) or _(
            "I need your phone number: press «📱 Share my phone number» below, or send /cancel.")
        await message.answer(text, reply_markup=share_phone_keyboard())

    @router.callback_query(SettingsCB.filter(F.action == "email"))
    async def change_email(query: CallbackQuery, state: FSMContext, user: User) -> None:
        await query.answer()
        await state.set_state(SettingsStates.email)
        if isinstance(query.message, Message):
            await query.message.answer(
                _("Send your new e-mail address, or /cancel."),
                reply_markup=email_settings_keyboard(bool(user.email)),
            )

    # Only at the e-mail step: once the user has left it, the button is stale (fallback).
    @router.callback_query(SettingsCB.filter(F.action == "email_clear"), SettingsStates.email)
    async def clear_email(query: CallbackQuery, state: FSMContext, services: Services,
                          user: User) -> None:
        await services.users.clear_email(user)
        await state.clear()
        await query.answer(_("E-mail removed."))
        if isinstance(query.message, Message) and await drop_markup(query.message):
            await show_settings(query.message, user)

    @router.message(SettingsStates.email, F.text, F.func(is_step_input))
    async def email_sent(message: Message, state: FSMContext, services: Services,
                         user: User) -> None:
        try:
            await services.users.save_email(user, message.text or "")
        except InvalidEmail:
            await message.answer(
                _("This doesn't look like an e-mail address (example: name@example.ru). "
                  "Send it again or /cancel.")
            )
            return
        await state.clear()
        await message.answer(_("✅ E-mail saved."))
        await show_settings(message, user)

    @router.message(SettingsStates.email, F.func(is_step_input))
    async def email_bad_input(message: Message) -> None:
        await message.answer(_("Send your e-mail as text, or /cancel."))

    @router.callback_query(SettingsCB.filter(F.action == "delete"))
    async def delete_asked(query: CallbackQuery, state: FSMContext) -> None:
        await query.answer()
        # The answer counts only while this question is open: «Keep my data», /cancel or
        # a feature with a state of its own closes it, and a «Yes» pressed after that (a
        # double tap, a second device) deleted everything the user had just chosen to keep.
        await state.set_state(SettingsStates.delete)
        if isinstance(query.message, Message):
            await query.message.answer(
                _("🗑 Delete all your data? Your phone, e-mail, linked accounts, queued "
                  "readings, reminders and tickets will be removed and your consent withdrawn. "
                  "This cannot be undone."),
                reply_markup=delete_confirm_keyboard(),
            )

    @router.message(SettingsStates.delete, F.func(is_step_input))
    async def delete_typed(message: Message) -> None:
        # «да» typed is not the confirmation: deleting everything takes the button.
        await message.answer(
            _("To delete your data press «🗑 Yes, delete everything» below; to keep it, "
              "«Keep my data» or /cancel."),
            reply_markup=delete_confirm_keyboard())

    @router.callback_query(SettingsCB.filter(F.action == "delete_no"), SettingsStates.delete)
    async def delete_cancelled(query: CallbackQuery, state: FSMContext) -> None:
        await state.clear()
        await query.answer(_("Nothing was deleted."))
        if isinstance(query.message, Message):
            await drop_markup(query.message)

    @router.callback_query(SettingsCB.filter(F.action == "delete_yes"), SettingsStates.delete)
    async def delete_confirmed(query: CallbackQuery, state: FSMContext, services: Services,
                               user: User) -> None:
        await services.users.delete_all_data(user.id)
        await state.clear()
        await drop_unsaved(state)  # a reading's values kept aside (fsm/readings.py)
        await drop_kept_link(state)  # a linking left midway (fsm/linking.py)
        await query.answer()
        if isinstance(query.message, Message):
            await drop_markup(query.message)
            await query.message.answer(
                _("All your data has been deleted and your consent withdrawn. "
                  "Send /start if you want to come back."),
                reply_markup=ReplyKeyboardRemove(),
            )

    return router
