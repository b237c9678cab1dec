from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from bot.callbacks import SettingsCB
from bot.keyboards.step import StepKeyboard


def settings_keyboard(has_email: bool) -> InlineKeyboardMarkup:
    rows = [
        [
            InlineKeyboardButton(
                text=_("🌐 Language"), callback_data=SettingsCB(action="lang").pack()
            )
        ],
        [InlineKeyboardButton(text=_("📱 Phone"), callback_data=SettingsCB(action="phone").pack())],
        [InlineKeyboardButton(text=_("✉️ E-mail"), callback_data=SettingsCB(action="email").pack())],
        [
            InlineKeyboardButton(
                text=_("🗑 Delete my data"), callback_data=SettingsCB(action="delete").pack()
            )
        ],
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def email_settings_keyboard(has_email: bool) -> InlineKeyboardMarkup | None:
    if not has_email:
        return None
    return StepKeyboard(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("Remove my e-mail"),
                    callback_data=SettingsCB(action="email_clear").pack(),
                )
            ]
        ]
    )


def delete_confirm_keyboard() -> InlineKeyboardMarkup:
    return StepKeyboard(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("🗑 Yes, delete everything"),
                    callback_data=SettingsCB(action="delete_yes").pack(),
                )
            ],
            [
                InlineKeyboardButton(
                    text=_("Keep my data"), callback_data=SettingsCB(action="delete_no").pack()
                )
            ],
        ]
    )
