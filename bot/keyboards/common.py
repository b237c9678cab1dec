from __future__ import annotations

from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __

from bot.callbacks import ConsentCB, LanguageCB, SkipEmailCB
from bot.keyboards.step import StepKeyboard

# Language names are endonyms: each is written in its own language, whatever the UI language.
LANGUAGE_NAMES = {"ru": "🇷🇺 Русский", "en": "🇬🇧 English"}

# Main menu entries, as lazy strings so the menu filters match in the user's language.
MENU_SETTINGS = __("⚙️ Settings")
MENU_HELP = __("❓ Help")
MENU_LINK = __("🔗 Link account")
MENU_ACCOUNTS = __("📋 My accounts")
MENU_SUPPORT = __("🆘 Support")
MENU_BALANCE = __("💰 Balance")
MENU_PAY = __("💳 Pay")
MENU_RECEIPT = __("🧾 Receipt")
MENU_READING = __("📟 Submit reading")


def language_keyboard(current: str | None, origin: str) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(
            text=("✓ " if code == current else "") + name,
            callback_data=LanguageCB(code=code, origin=origin).pack(),
        )
        for code, name in LANGUAGE_NAMES.items()
    ]
    # Registration's first step; in /settings it is a menu's, which stays.
    kind = StepKeyboard if origin == "reg" else InlineKeyboardMarkup
    return kind(inline_keyboard=[buttons])


def consent_keyboard() -> InlineKeyboardMarkup:
    return StepKeyboard(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("✅ I agree"), callback_data=ConsentCB(accept=True).pack()
                )
            ],
            [
                InlineKeyboardButton(
                    text=_("✖️ Decline"), callback_data=ConsentCB(accept=False).pack()
                )
            ],
        ]
    )


def share_phone_keyboard() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=_("📱 Share my phone number"), request_contact=True)]],
        resize_keyboard=True,
        is_persistent=True,
        input_field_placeholder=_("Press the button below"),
    )


def skip_email_keyboard() -> InlineKeyboardMarkup:
    return StepKeyboard(
        inline_keyboard=[
            [InlineKeyboardButton(text=_("Skip ➡️"), callback_data=SkipEmailCB().pack())]
        ]
    )


def main_menu() -> ReplyKeyboardMarkup:
    """The main menu of a registered user. Features add their entry here as they land."""
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=str(MENU_BALANCE)), KeyboardButton(text=str(MENU_READING))],
            [KeyboardButton(text=str(MENU_PAY)), KeyboardButton(text=str(MENU_RECEIPT))],
            [KeyboardButton(text=str(MENU_LINK)), KeyboardButton(text=str(MENU_ACCOUNTS))],
            [KeyboardButton(text=str(MENU_SETTINGS)), KeyboardButton(text=str(MENU_HELP))],
            [KeyboardButton(text=str(MENU_SUPPORT))],
        ],
        resize_keyboard=True,
        is_persistent=True,
    )
