"""The bot's command menu (setMyCommands), in menu order. A feature adds its command here."""

from __future__ import annotations

from aiogram.utils.i18n import lazy_gettext as __
from babel.support import LazyProxy

PRIVATE_COMMANDS: tuple[tuple[str, LazyProxy], ...] = (
    ("start", __("Main menu")),
    ("balance", __("Balance, payments and charges")),
    ("pay", __("Pay with a QR code")),
    ("receipt", __("Receipt as PDF")),
    ("link", __("Link a gas account")),
    ("accounts", __("My accounts")),
    ("settings", __("Language, phone, e-mail, my data")),
    ("help", __("What the bot can do")),
    ("cancel", __("Stop the current step")),
)
