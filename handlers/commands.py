"""The bot's command menu (setMyCommands), in menu order. A feature adds its command here."""

from __future__ import annotations

from aiogram.utils.i18n import lazy_gettext as __
from babel.support import LazyProxy

PRIVATE_COMMANDS: tuple[tuple[str, LazyProxy], ...] = (
    ("start", __("Main menu")),
    ("balance", __("Balance, payments and charges")),
    ("reading", __("Submit a meter reading")),
    ("pay", __("Pay with a QR code")),
    ("receipt", __("Receipt as PDF")),
    ("link", __("Link a gas account")),
    ("accounts", __("My accounts")),
    ("reminders", __("Reminders: readings, payment, receipts")),
    ("settings", __("Language, phone, e-mail, my data")),
    ("support", __("Write to support")),
    ("help", __("What the bot can do")),
    ("cancel", __("Stop the current step")),
)

# The menu in groups (BotCommandScopeAllGroupChats): each command answers there with a button
# into the private chat (handlers/groups.py), so only features worth starting from a group.
GROUP_COMMANDS: tuple[tuple[str, LazyProxy], ...] = (
    ("balance", __("Balance (opens the private chat)")),
    ("reading", __("Submit a meter reading (private chat)")),
    ("pay", __("Pay (private chat)")),
    ("receipt", __("Receipt (private chat)")),
    ("support", __("Write to support (private chat)")),
    ("help", __("What the bot can do here")),
)
