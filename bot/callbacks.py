"""Callback data of every inline button. Prefixes are short: packed data must fit 64 bytes."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class LanguageCB(CallbackData, prefix="lng"):
    code: str
    origin: str  # "reg" during registration, "set" from /settings


class ConsentCB(CallbackData, prefix="cns"):
    accept: bool


class SkipEmailCB(CallbackData, prefix="skm"):
    pass


class SettingsCB(CallbackData, prefix="set"):
    action: str  # lang | phone | email | email_clear | delete | delete_yes | delete_no


ALL_CALLBACKS: tuple[type[CallbackData], ...] = (LanguageCB, ConsentCB, SkipEmailCB, SettingsCB)
