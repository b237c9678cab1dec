"""Registration: language → consent → own phone → optional e-mail → main menu."""

from __future__ import annotations

from aiogram import F, Router, html
from aiogram.enums import ChatType
from aiogram.filters import CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, LinkPreviewOptions, Message, ReplyKeyboardRemove
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.callbacks import ConsentCB, LanguageCB, SkipEmailCB
from bot.config import Settings
from bot.db.models import User
from bot.i18n import guess_language
from bot.keyboards.common import (
    LANGUAGE_NAMES,
    consent_keyboard,
    language_keyboard,
    main_menu,
    share_phone_keyboard,
    skip_email_keyboard,
)
from bot.keyboards.linking import link_offer_keyboard
from bot.services import Services
from bot.services.errors import ForeignContact, InvalidEmail, InvalidPhone
from bot.services.users import RegistrationStep, mask_email, mask_phone, registration_step
from fsm.registration import RegistrationData, RegistrationStates
from handlers.deeplinks import follow_deep_link
from handlers.markup import take_buttons_off

STEP_STATES = {
    RegistrationStep.LANGUAGE: RegistrationStates.language,
    RegistrationStep.CONSENT: RegistrationStates.consent,
    RegistrationStep.PHONE: RegistrationStates.phone,
    RegistrationStep.EMAIL: RegistrationStates.email,
}


async def ask_language(message: Message, current: str) -> None:
    await message.answer(
        _("👋 Hello! I am the gas subscriber's assistant: balance, meter readings, receipts "
          "and payments in Telegram.\n\nChoose your language:"),
        reply_markup=language_keyboard(current, origin="reg"),
    )


async def ask_consent(message: Message, config: Settings) -> None:
    await message.answer(
        _(
            "🔒 <b>Consent to personal data processing</b>\n\n"
            "To link your gas accounts I need to store your phone number and, if you give it, "
            "your e-mail. They are processed under Federal Law No. 152-FZ only to serve your "
            "accounts, are stored in Russia, and are deleted on your request at any time "
            "(/settings → Delete my data).\n\n"
            'Privacy policy: <a href="{url}">read</a>\n\n'
            "Do you agree to the processing of your personal data?"
        ).format(url=config.privacy_policy_url),
        reply_markup=consent_keyboard(),
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )


async def ask_phone(message: Message) -> None:
    await message.answer(
        _("📱 Share your phone number with the button below.\n"
          "It must be the number of this Telegram account."),
        reply_markup=share_phone_keyboard(),
    )


def typed_phone_hint(text: str | None) -> str | None:
    """What to say to a phone number typed where a shared contact is asked for (Telegram
    confirms only a shared one is the user's); None when the text is no number."""
    if sum(char.isdigit() for char in text or "") >= 5:
        return _("Please don't type the number: press «📱 Share my phone number» below, "
                 "so Telegram confirms it is yours.")
    return None


async def ask_email(message: Message) -> None:
    await message.answer(
        _("✉️ Send your e-mail if you want receipts and notices there, or skip this step."),
        reply_markup=skip_email_keyboard(),
    )


async def resume_registration(message: Message, state: FSMContext, user: User | None,
                              config: Settings) -> None:
    """Re-ask the step the user is on: used by /start midway and by bad input."""
    current = await state.get_state()
    if current == RegistrationStates.consent.state:
        await ask_consent(message, config)
    elif current == RegistrationStates.phone.state:
        await ask_phone(message)
    elif current == RegistrationStates.email.state:
        await ask_email(message)
    else:
        lang = user.language if user else guess_language(message.from_user, config.default_locale)
        await ask_language(message, lang)


async def finish_registration(message: Message, state: FSMContext, user: User,
                              services: Services) -> None:
    await services.users.complete_registration(user)
    data = await RegistrationData.load(state)
    await state.clear()
    email = mask_email(user.email) if user.email else _("not given")
    await message.answer(
        _("🎉 Registration complete!\n\nPhone: {phone}\nE-mail: {email}\n\n"
          "Change them any time in /settings.").format(
            phone=mask_phone(user.phone or ""), email=email
        ),
        reply_markup=main_menu(),
    )
    if data.payload and await follow_deep_link(data.payload, message, state, services, user):
        return
    await message.answer(
        _("🔗 Now link your gas account to see its balance and submit meter readings right "
          "here."),
        reply_markup=link_offer_keyboard(),
    )


def build_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == ChatType.PRIVATE)

    @router.message(CommandStart())
    async def start(message: Message, command: CommandObject, state: FSMContext,
                    user: User | None, services: Services, config: Settings) -> None:
        payload = command.args
        if user is not None and user.is_registered:
            await state.clear()
            if payload and await follow_deep_link(payload, message, state, services, user):
                return
            name = message.from_user.first_name if message.from_user else ""
            await message.answer(
                _("Hello, {name}! What would you like to do?").format(name=name),
                reply_markup=main_menu(),
            )
            return
        current = await state.get_state()
        if current in RegistrationStates.__all_states_names__:
            if payload:
                data = await RegistrationData.load(state)
                data.payload = payload
                await data.save(state)
            await message.answer(_("Let's continue where we left off."))
            await resume_registration(message, state, user, config)
            return
        step = registration_step(user)
        if step is not RegistrationStep.LANGUAGE:
            # Cancelled midway (or consent refused) earlier: what was given is kept. After
            # a refusal there is nothing to "continue": the consent question itself is asked.
            await state.set_state(STEP_STATES[step])
            await RegistrationData(payload=payload).save(state)
            if step is not RegistrationStep.CONSENT:
                await message.answer(_("Let's continue where we left off."))
            await resume_registration(message, state, user, config)
            return
        await state.set_state(RegistrationStates.language)
        await RegistrationData(payload=payload).save(state)
        lang = user.language if user else guess_language(message.from_user, config.default_locale)
        await ask_language(message, lang)

    @router.message(StateFilter(RegistrationStates), F.text.startswith("/"))
    async def command_midway(message: Message, state: FSMContext, user: User | None,
                             config: Settings) -> None:
        """Another feature's command before registration is done: said why it waits, and
        the step asked again (/start, /cancel and /help are answered before this)."""
        command = (message.text or "/").split(maxsplit=1)[0].split("@", 1)[0]
        await message.answer(_("{command} will work once registration is finished: it takes "
                               "a minute.").format(command=html.quote(command)))
        await resume_registration(message, state, user, config)

    @router.callback_query(RegistrationStates.language, LanguageCB.filter(F.origin == "reg"))
    async def language_chosen(query: CallbackQuery, callback_data: LanguageCB, state: FSMContext,
                              services: Services, i18n: I18n, config: Settings) -> None:
        await services.users.choose_language(query.from_user.id, callback_data.code)
        with i18n.use_locale(callback_data.code):
            await query.answer(LANGUAGE_NAMES.get(callback_data.code, callback_data.code))
            await state.set_state(RegistrationStates.consent)
            if isinstance(query.message, Message):
                await take_buttons_off(query.message)
                await ask_consent(query.message, config)

    @router.callback_query(RegistrationStates.consent, ConsentCB.filter())
    async def consent_answered(query: CallbackQuery, callback_data: ConsentCB, state: FSMContext,
                               services: Services, user: User | None) -> None:
        await query.answer()
        message = query.message if isinstance(query.message, Message) else None
        if message:
            await take_buttons_off(message)
        if not callback_data.accept:
            await state.clear()
            if message:
                await message.answer(
                    _("Understood: nothing personal has been stored. Without consent I cannot "
                      "link gas accounts.\n\nIf you change your mind, send /start."),
                    reply_markup=ReplyKeyboardRemove(),
                )
            return
        if user is None:  # the language step always creates the user row
            user = await services.users.choose_language(query.from_user.id, "ru")
        await services.users.give_consent(user)
        await state.set_state(RegistrationStates.phone)
        if message:
            await ask_phone(message)

    @router.message(RegistrationStates.phone, F.contact)
    async def phone_shared(message: Message, state: FSMContext, services: Services,
                           user: User | None, config: Settings) -> None:
        assert message.contact is not None
        if user is None:
            await state.set_state(RegistrationStates.language)
            await resume_registration(message, state, user, config)
            return
        try:
            await services.users.save_contact(
                user, message.contact.phone_number, message.contact.user_id
            )
        except ForeignContact:
            await message.answer(
                _("This is someone else's contact. I can only accept your own number: "
                  "press the button below."),
                reply_markup=share_phone_keyboard(),
            )
            return
        except InvalidPhone:
            await message.answer(
                _("This phone number looks wrong. Press the button below to share yours."),
                reply_markup=share_phone_keyboard(),
            )
            return
        await state.set_state(RegistrationStates.email)
        await message.answer(_("✅ Phone saved."), reply_markup=ReplyKeyboardRemove())
        await ask_email(message)

    @router.message(RegistrationStates.phone, F.text)
    async def phone_typed(message: Message) -> None:
        text = typed_phone_hint(message.text) or _(
            "I need your phone number: press «📱 Share my phone number» below.")
        await message.answer(text, reply_markup=share_phone_keyboard())

    @router.message(RegistrationStates.email, F.text)
    async def email_sent(message: Message, state: FSMContext, services: Services,
                         user: User | None, config: Settings) -> None:
        if user is None:
            await state.set_state(RegistrationStates.language)
            await resume_registration(message, state, user, config)
            return
        try:
            await services.users.save_email(user, message.text or "")
        except InvalidEmail:
            await message.answer(
                _("This doesn't look like an e-mail address (example: name@example.ru). "
                  "Send it again or press «Skip»."),
                reply_markup=skip_email_keyboard(),
            )
            return
        await finish_registration(message, state, user, services)

    @router.callback_query(RegistrationStates.email, SkipEmailCB.filter())
    async def email_skipped(query: CallbackQuery, state: FSMContext, services: Services,
                            user: User | None) -> None:
        await query.answer()
        if not isinstance(query.message, Message) or user is None:
            return
        await take_buttons_off(query.message)
        await finish_registration(query.message, state, user, services)

    @router.message(RegistrationStates.language)
    async def language_bad_input(message: Message, user: User | None, config: Settings) -> None:
        lang = user.language if user else guess_language(message.from_user, config.default_locale)
        await message.answer(
            _("Please choose a language with the buttons."),
            reply_markup=language_keyboard(lang, origin="reg"),
        )

    @router.message(RegistrationStates.consent)
    async def consent_bad_input(message: Message) -> None:
        await message.answer(
            _("Please answer with the buttons: «I agree» or «Decline»."),
            reply_markup=consent_keyboard(),
        )

    @router.message(RegistrationStates.phone)
    async def phone_bad_input(message: Message) -> None:
        await message.answer(
            _("I need your phone number: press «📱 Share my phone number» below."),
            reply_markup=share_phone_keyboard(),
        )

    @router.message(RegistrationStates.email)
    async def email_bad_input(message: Message) -> None:
        await message.answer(
            _("Send your e-mail as text, or press «Skip»."),
            reply_markup=skip_email_keyboard(),
        )

    return router
