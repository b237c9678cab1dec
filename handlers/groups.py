"""The bot in groups and supergroups (forum topics included): commands addressed to it are
answered with a short message and a button that opens the private chat at the feature, so a
group never sees anyone's personal data. Plain group chatter gets no answer: with privacy mode
on Telegram sends the bot only commands and replies to it, and with it off the bot keeps
quiet all the same."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.enums import ChatType, MessageEntityType
from aiogram.filters import (
    JOIN_TRANSITION,
    ChatMemberUpdatedFilter,
    Command,
    CommandObject,
    Filter,
)
from aiogram.types import ChatMemberUpdated, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __
from babel.support import LazyProxy

from bot.keyboards.groups import open_bot_keyboard, start_link

GROUP_CHATS = {ChatType.GROUP, ChatType.SUPERGROUP}

# Commands answered in groups: the `/start` payload that opens the feature in the private
# chat, and the button's label. /start and /help answer with the introduction instead, and
# /cancel with a pointer to the private chat. Every command of the private menu
# (handlers/commands.py) is answered here: tests/test_groups.py checks it.
FEATURES: dict[str, tuple[str, LazyProxy]] = {
    "balance": ("balance", __("💰 Balance in the bot")),
    "reading": ("reading", __("📟 Submit a reading in the bot")),
    "pay": ("pay", __("💳 Pay in the bot")),
    "receipt": ("receipt", __("🧾 Receipt in the bot")),
    "accounts": ("accounts", __("📋 My accounts in the bot")),
    "link": ("link", __("🔗 Link an account in the bot")),
    "support": ("support", __("🆘 Support in the bot")),
    "settings": ("settings", __("⚙️ Settings in the bot")),
    "reminders": ("reminders", __("🔔 Reminders in the bot")),
}


async def bot_username(bot: Bot) -> str:
    me = await bot.me()  # cached by aiogram after the first call
    return me.username or ""


def introduction(username: str) -> str:
    return _(
        "👋 Hello! I am the gas subscriber's assistant: balance, meter readings, receipts and "
        "payments.\n\n"
        "In this chat I never show anyone's personal data.\n"
        "• To share the balance of your account here, type <code>@{username}</code> in the "
        "message field and choose the account.\n"
        "• /balance, /reading, /pay, /receipt and /support open a private chat with me, where "
        "only you see your data."
    ).format(username=username)


def _addresses_bot(message: Message, bot: Bot, username: str) -> bool:
    """A reply to one of the bot's own messages, or a message that @mentions it."""
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot.id:
        return True
    text = message.text or message.caption or ""
    entities = message.entities or message.caption_entities or []
    mention = f"@{username}".casefold()
    return any(entity.type == MessageEntityType.MENTION
               and entity.extract_from(text).casefold() == mention for entity in entities)


class AddressedToBot(Filter):
    async def __call__(self, message: Message, bot: Bot) -> bool:
        return _addresses_bot(message, bot, await bot_username(bot))


def build_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type.in_(GROUP_CHATS))
    router.my_chat_member.filter(F.chat.type.in_(GROUP_CHATS))

    @router.my_chat_member(ChatMemberUpdatedFilter(JOIN_TRANSITION))
    async def added_to_group(event: ChatMemberUpdated, bot: Bot) -> None:
        username = await bot_username(bot)
        await bot.send_message(event.chat.id, introduction(username),
                               reply_markup=open_bot_keyboard(start_link(username)))

    @router.message(Command("start", "help"))
    async def start_in_group(message: Message, bot: Bot) -> None:
        username = await bot_username(bot)
        await message.reply(introduction(username),
                            reply_markup=open_bot_keyboard(start_link(username)))

    @router.message(Command(*FEATURES))
    async def feature_in_group(message: Message, command: CommandObject, bot: Bot) -> None:
        payload, label = FEATURES[command.command]
        username = await bot_username(bot)
        await message.reply(
            _("🔒 That is personal, so I answer it in a private chat: tap the button below."),
            reply_markup=open_bot_keyboard(start_link(username, payload), str(label)))

    @router.message(Command("cancel"))
    async def cancel_in_group(message: Message, bot: Bot) -> None:
        # Steps run only in the private chat (their state is kept per chat).
        username = await bot_username(bot)
        await message.reply(
            _("There is nothing to cancel here: I do everything personal in a private chat. "
              "Send /cancel there."),
            reply_markup=open_bot_keyboard(start_link(username)))

    # Anything else, group chatter included, stays unhandled: no answer.
    @router.message(AddressedToBot())
    async def addressed(message: Message, bot: Bot) -> None:
        username = await bot_username(bot)
        await message.reply(
            _("I answer personal questions only in a private chat. Here, type "
              "<code>@{username}</code> to share your balance, or send /help@{username}.")
            .format(username=username),
            reply_markup=open_bot_keyboard(start_link(username)))

    return router
