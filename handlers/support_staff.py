"""The support chat's side of tickets (SUPPORT_CHAT_ID): ticket posts, staff replies, /close,
/logs.

The support chat is a staff group, so what the bot posts there carries no phone, e-mail or
full account number: the ticket's text is scrubbed when stored, accounts are masked to the
supplier and the last 4 digits, and event lines pass through the log scrubber once more.
Posts about a ticket are written in the operator's language (DEFAULT_LOCALE), whoever's update
produced them; what the bot tells the user is in the user's language.
"""

from __future__ import annotations

import contextlib
import logging
import re
from datetime import datetime, timedelta
from html import unescape
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router, html
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import (
    JOIN_TRANSITION,
    ChatMemberUpdatedFilter,
    Command,
    CommandObject,
    Filter,
)
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import BaseStorage, StorageKey
from aiogram.types import (
    BufferedInputFile,
    ChatMemberUpdated,
    Message,
    ReactionTypeEmoji,
    ReplyParameters,
    TelegramObject,
)
from aiogram.utils.i18n import I18n, ngettext
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.db.models import User
from bot.db.models_support import SupportTicket, TicketMessage
from bot.event_store import format_event
from bot.i18n import fmt_datetime
from bot.keyboards.support import own_words, reply_keyboard, topic_label
from bot.logs import scrub
from bot.reminders.models import zone_abbr
from bot.services import Services
from bot.services.accounts import masked_number
from bot.services.support import RECENT_EVENTS, TicketClosed, parse_logs_query
from fsm.support import SupportData, SupportStates

if TYPE_CHECKING:
    from bot.app import Runtime

logger = logging.getLogger(__name__)

# Telegram refuses longer texts and captions; room is left for the header of a /logs answer.
MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
LOGS_INLINE_LIMIT = 3500
_WARNED_KEY = "support_chat_missing_warned"
_TAG_RE = re.compile(r"<[^>]+>")


def visible_length(text: str) -> int:
    """What Telegram counts against its limits: the text without HTML tags and entities."""
    return len(unescape(_TAG_RE.sub("", text)))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def ticket_time(value: datetime, lang: str, zone: str) -> str:
    """A ticket's time as the user and the staff both see it: in the ticket's zone (its
    supplier's, else DEFAULT_TIMEZONE), with the zone named: «22.11.2026, 07:56 (МСК)»."""
    return "{when} ({zone})".format(when=fmt_datetime(value, lang, "short", tz=ZoneInfo(zone)),
                                    zone=zone_abbr(zone, value))


class SupportChat(Filter):
    """Passes for updates from the configured support chat only."""

    async def __call__(self, event: TelegramObject, config: Settings) -> bool:
        chat = getattr(event, "chat", None)
        return (config.support_chat_id is not None and chat is not None
                and chat.id == config.support_chat_id)


def support_chat_or_warn(config: Settings, runtime: Runtime) -> int | None:
    """The support chat id; without one, warn once per process that tickets stay unread."""
    if config.support_chat_id is None and not runtime.extra.get(_WARNED_KEY):
        runtime.extra[_WARNED_KEY] = True
        logger.warning("SUPPORT_CHAT_ID is not set: support tickets are stored but posted "
                       "nowhere")
    return config.support_chat_id


# --- posts in the support chat ------------------------------------------------------------


def ticket_post_text(ticket: SupportTicket, user: User | None, account_lines: list[str],
                     about: str | None, event_lines: list[str], created: str | None = None,
                     events_zone: str = "UTC") -> str:
    """The ticket as the support chat sees it; in the current (operator's) locale."""
    lines = [_("🆘 <b>Ticket #{id}</b> · {topic}").format(
        id=ticket.id, topic=html.quote(topic_label(ticket.topic)))]
    lines.append(_("User: <code>{user_id}</code> · language: {lang}").format(
        user_id=ticket.user_id, lang=html.quote(user.language if user else "?")))
    if created:
        lines.append(_("Created: {when}").format(when=created))
    if about:
        lines.append(_("About: {account}").format(account=html.quote(about)))
    if account_lines:
        lines.append(_("Linked accounts:"))
        lines += [f"• {html.quote(line)}" for line in account_lines]
    else:
        lines.append(_("No linked accounts."))
    if ticket.photo_file_id:
        lines.append(_("📷 A photo is attached (next message)."))
    lines += ["", f"<blockquote>{html.quote(own_words(ticket.text))}</blockquote>"]
    footer = ["", _("↩️ Reply to this message to answer the user; reply /close to close the "
                    "ticket, /logs for the user's events.")]
    # As many of the newest events as fit: the ticket's own text always goes first.
    kept: list[str] = []
    for line in reversed(event_lines):
        candidate = [html.quote(scrub(line)), *kept]
        if visible_length("\n".join([*lines, *_events_block(candidate, events_zone),
                                      *footer])) \
                > MESSAGE_LIMIT:
            break
        kept = candidate
    return "\n".join([*lines, *(_events_block(kept, events_zone) if kept else []), *footer])


def _events_block(lines: list[str], zone_label: str) -> list[str]:
    return ["", _("Recent events ({zone}):").format(zone=zone_label),
            "<pre>" + "\n".join(lines) + "</pre>"]


async def publish_ticket(bot: Bot, services: Services, config: Settings, runtime: Runtime,
                         i18n: I18n, ticket: SupportTicket, user: User | None) -> bool:
    """Post the ticket to the support chat (and its photo under it); False when there is no
    support chat or Telegram refused: the ticket stays stored either way."""
    chat_id = support_chat_or_warn(config, runtime)
    if chat_id is None:
        return False
    lang = config.default_locale
    accounts = await services.accounts.list_for(ticket.user_id)
    account_lines = [f"{services.accounts.where(a, lang)} {masked_number(a)}" for a in accounts]
    about = next((f"{services.accounts.where(a, lang)} {masked_number(a)}"
                  for a in accounts if a.id == ticket.account_id), None)
    zone = services.support.zone_of(next((a for a in accounts if a.id == ticket.account_id),
                                         None))
    event_lines: list[str] = []
    if runtime.events is not None:
        since = services.app.clock() - timedelta(days=config.event_retention_days)
        events = await runtime.events.for_user(ticket.user_id, since, limit=RECENT_EVENTS)
        # In the ticket's zone, as its time above: the staff compare them.
        event_lines = [format_event(event, ZoneInfo(zone)) for event in events]
    with i18n.use_locale(lang):
        text = ticket_post_text(ticket, user, account_lines, about, event_lines,
                                ticket_time(ticket.created_at, lang, zone),
                                zone_abbr(zone, ticket.created_at))
        photo_caption = _("📷 Ticket #{id}: the user's photo. To answer, reply to the "
                          "ticket's post above.").format(id=ticket.id)
    try:
        post = await bot.send_message(chat_id, text)
        await services.support.mark_posted(ticket, chat_id, post.message_id)
        if ticket.photo_file_id:
            await bot.send_photo(chat_id, ticket.photo_file_id, caption=photo_caption,
                                 reply_parameters=ReplyParameters(
                                     message_id=post.message_id,
                                     allow_sending_without_reply=True))
    except TelegramAPIError as exc:
        logger.warning("could not post ticket to the support chat: %s", type(exc).__name__,
                       extra={"ticket": ticket.id})
        return ticket.support_message_id is not None
    return True


async def publish_user_message(bot: Bot, services: Services, config: Settings,
                               runtime: Runtime, i18n: I18n, ticket: SupportTicket,
                               message: TicketMessage, user: User | None) -> bool:
    """The user's answer, as a reply to the ticket's post in the support chat."""
    chat_id = support_chat_or_warn(config, runtime)
    if chat_id is None:
        return False
    # Opened while no support chat was configured (or another one): post it now.
    unposted = ticket.support_chat_id != chat_id or ticket.support_message_id is None
    if unposted and not await publish_ticket(bot, services, config, runtime, i18n, ticket,
                                             user):
        return False
    assert ticket.support_message_id is not None
    with i18n.use_locale(config.default_locale):
        header = _("💬 <b>#{id}</b> · the user <code>{user_id}</code> writes:").format(
            id=ticket.id, user_id=ticket.user_id)
        words = own_words(message.text or "")
    body = f"<blockquote>{html.quote(words)}</blockquote>" if words else ""
    reply = ReplyParameters(message_id=ticket.support_message_id,
                            allow_sending_without_reply=True)
    try:
        if message.photo_file_id:
            caption = header + ("\n" + body if body else "")
            if visible_length(caption) > CAPTION_LIMIT:
                caption = header + "\n" + html.quote(_clip(words, CAPTION_LIMIT - 120))
            post = await bot.send_photo(chat_id, message.photo_file_id, caption=caption,
                                        reply_parameters=reply)
        else:
            post = await bot.send_message(chat_id, header + "\n" + body, reply_parameters=reply)
    except TelegramAPIError as exc:
        logger.warning("could not post the user's answer to the support chat: %s",
                       type(exc).__name__, extra={"ticket": ticket.id})
        return False
    await services.support.mark_message_posted(message, chat_id, post.message_id)
    return True


async def notify_closed_by_user(bot: Bot, config: Settings, i18n: I18n,
                                ticket: SupportTicket) -> None:
    if config.support_chat_id is None or ticket.support_chat_id != config.support_chat_id \
            or ticket.support_message_id is None:
        return
    with i18n.use_locale(config.default_locale):
        text = _("✅ The user closed ticket #{id}.").format(id=ticket.id)
    try:
        await bot.send_message(config.support_chat_id, text, reply_parameters=ReplyParameters(
            message_id=ticket.support_message_id, allow_sending_without_reply=True))
    except TelegramAPIError as exc:
        logger.warning("could not tell the support chat about a closed ticket: %s",
                       type(exc).__name__, extra={"ticket": ticket.id})


# --- the staff's commands -------------------------------------------------------------------


def window_text(window: timedelta) -> str:
    """«6 hours», «90 minutes»: how far back /logs looked."""
    minutes = int(window.total_seconds() // 60)
    if minutes % 60 == 0:
        hours = minutes // 60
        return ngettext("{n} hour", "{n} hours", hours).format(n=hours)
    return ngettext("{n} minute", "{n} minutes", minutes).format(n=minutes)



def _user_state(storage: BaseStorage, bot: Bot, user_id: int) -> FSMContext:
    """The FSM context of the user's private chat (the staff's update is in another chat)."""
    return FSMContext(storage=storage,
                      key=StorageKey(bot_id=bot.id, chat_id=user_id, user_id=user_id))


async def _replied_ticket(message: Message, services: Services, bot: Bot
                          ) -> SupportTicket | None:
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or replied.from_user.id != bot.id:
        return None
    return await services.support.by_post(message.chat.id, replied.message_id)


def _post_of_a_gone_ticket(message: Message) -> bool:
    """A reply to a ticket's post (or to a user's message in its thread) whose ticket is no
    longer stored: the user deleted their data. The posts begin with these marks."""
    replied = message.reply_to_message
    shown = (replied.text or replied.caption or "") if replied is not None else ""
    return shown.startswith(("🆘", "💬"))


def gone_text() -> str:
    return _("This ticket no longer exists: the user deleted their data, so they cannot be "
             "answered here.")


def _is_reply_to_bot(message: Message, bot: Bot) -> bool:
    replied = message.reply_to_message
    return replied is not None and replied.from_user is not None \
        and replied.from_user.id == bot.id


async def _tell_user(bot: Bot, user_id: int, text: str, **kwargs: Any) -> bool:
    try:
        await bot.send_message(user_id, text, **kwargs)
    except (TelegramForbiddenError, TelegramBadRequest):
        return False
    return True


def build_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(SupportChat())
    router.my_chat_member.filter(SupportChat())

    @router.message(Command("logs"))
    async def logs(message: Message, command: CommandObject, bot: Bot, services: Services,
                   config: Settings, runtime: Runtime) -> None:
        query = parse_logs_query(command.args, timedelta(days=config.event_retention_days))
        user_id: int | None = None
        ticket: SupportTicket | None = None
        if query is not None and query.ticket_id is not None:
            ticket = await services.support.get(query.ticket_id)
            if ticket is None:
                await message.reply(_("There is no ticket #{id}.").format(id=query.ticket_id))
                return
            user_id = ticket.user_id
        elif query is not None and query.user_id is not None:
            user_id = query.user_id
        elif query is not None:
            ticket = await _replied_ticket(message, services, bot)
            user_id = ticket.user_id if ticket else None
        if query is None or user_id is None:
            await message.reply(_(
                "Usage: <code>/logs &lt;user id | #ticket&gt; [hours]</code>, e.g. "
                "<code>/logs #12 6</code> or <code>/logs 5001 3d</code>; or reply "
                "<code>/logs</code> to a ticket's post."))
            return
        span = window_text(query.window)
        events = []
        if runtime.events is not None:
            events = await runtime.events.for_user(user_id, services.app.clock() - query.window)
        if not events:
            await message.reply(_("No events of user <code>{user_id}</code> in the last "
                                  "{span}.").format(user_id=user_id, span=span))
            return
        # As the ticket's post shows them: in its zone; for a user, their account's.
        zone = (await services.support.ticket_zone(ticket) if ticket is not None
                else await services.support.user_zone(user_id))
        lines = [scrub(format_event(event, ZoneInfo(zone))) for event in events]
        header = _("📜 Events of user <code>{user_id}</code> in the last {span} ({zone}): "
                   "{count}").format(user_id=user_id, span=span, count=len(events),
                                     zone=zone_abbr(zone, services.app.clock()))
        body = "\n".join(lines)
        if len(body) <= LOGS_INLINE_LIMIT:
            await message.reply(f"{header}\n<pre>{html.quote(body)}</pre>")
            return
        document = BufferedInputFile((body + "\n").encode("utf-8"),
                                     filename=f"events-{user_id}.txt")
        await message.reply_document(document, caption=header)

    @router.message(Command("close"))
    async def close(message: Message, bot: Bot, services: Services, i18n: I18n,
                    fsm_storage: BaseStorage) -> None:
        ticket = await _replied_ticket(message, services, bot)
        if ticket is None:
            await message.reply(gone_text() if _post_of_a_gone_ticket(message)
                                else _("Send /close as a reply to the ticket's post."))
            return
        if not await services.support.close(ticket):
            await message.reply(_("Ticket #{id} is already closed.").format(id=ticket.id))
            return
        owner = await services.users.get(ticket.user_id)
        user_state = _user_state(fsm_storage, bot, ticket.user_id)
        if await user_state.get_state() == SupportStates.reply.state \
                and (await SupportData.load(user_state)).ticket_id == ticket.id:
            await user_state.clear()
        with i18n.use_locale(owner.language if owner else i18n.default_locale):
            told = await _tell_user(bot, ticket.user_id, _(
                "✅ Your ticket <b>#{id}</b> is closed. If the question remains, write to "
                "/support again.").format(id=ticket.id))
        text = _("✅ Ticket #{id} closed.").format(id=ticket.id)
        if not told:
            text += "\n" + _("The user could not be told: they have blocked the bot.")
        await message.reply(text)

    @router.message(F.reply_to_message, F.text | F.photo)
    async def staff_reply(message: Message, bot: Bot, services: Services, i18n: I18n,
                          fsm_storage: BaseStorage) -> None:
        if not _is_reply_to_bot(message, bot) or (message.text or "").startswith("/"):
            return
        ticket = await _replied_ticket(message, services, bot)
        if ticket is None and _post_of_a_gone_ticket(message):
            await message.reply(gone_text())
            return
        if ticket is None:
            # A reply to another message of the bot (a ticket's photo, /logs, the
            # introduction): say so rather than let the staff think it went out.
            await message.reply(_("This is not a ticket's post: reply to the message "
                                  "«🆘 Ticket #…» to answer a user."))
            return
        if not ticket.is_open:
            await message.reply(_("Ticket #{id} is closed; the user was not messaged.").format(
                id=ticket.id))
            return
        owner = await services.users.get(ticket.user_id)
        text = message.text or message.caption or ""
        photo = message.photo[-1].file_id if message.photo else None
        # The user's next message answers the ticket, unless they are in the middle of
        # something else (then the «Reply» button does it). Set before the answer goes out,
        # so a quick answer of the user's already finds it.
        user_state = _user_state(fsm_storage, bot, ticket.user_id)
        waiting = await user_state.get_state() is None
        if waiting:
            await user_state.set_state(SupportStates.reply)
            await SupportData(ticket_id=ticket.id).save(user_state)
        with i18n.use_locale(owner.language if owner else i18n.default_locale):
            header = _("💬 <b>Support's answer to ticket #{id}</b>").format(id=ticket.id)
            hint = (_("Just write here to answer, or press «Reply».") if waiting
                    else _("Press «Reply» to answer."))
            markup = reply_keyboard(ticket.id)
        body = html.quote(text)
        try:
            if photo is not None:
                caption = "\n\n".join(p for p in (header, body) if p)
                if visible_length(caption) > CAPTION_LIMIT:
                    caption = header + "\n\n" + html.quote(_clip(text, CAPTION_LIMIT - 100))
                await bot.send_photo(ticket.user_id, photo, caption=caption,
                                     reply_markup=markup)
            else:
                full = f"{header}\n\n{body}\n\n<i>{hint}</i>"
                if visible_length(full) > MESSAGE_LIMIT:
                    full = f"{header}\n\n{html.quote(_clip(text, MESSAGE_LIMIT - 200))}"
                await bot.send_message(ticket.user_id, full, reply_markup=markup)
        except (TelegramForbiddenError, TelegramBadRequest) as exc:
            if waiting:
                await user_state.clear()
            logger.info("staff answer not delivered: %s", type(exc).__name__,
                        extra={"ticket": ticket.id})
            await message.reply(_("❗️ Not delivered: the user has blocked the bot or deleted "
                                  "the chat."))
            return
        # TicketClosed: the user closed it meanwhile; the answer went out all the same.
        with contextlib.suppress(TicketClosed):
            await services.support.add_staff_reply(ticket, text, photo, message.chat.id,
                                                   message.message_id)
        # The 👍 tells the staff it was delivered; a chat without reactions refuses it.
        with contextlib.suppress(TelegramBadRequest):
            await bot.set_message_reaction(message.chat.id, message.message_id,
                                           reaction=[ReactionTypeEmoji(emoji="👍")])

    @router.message(F.reply_to_message)
    async def staff_reply_other(message: Message, bot: Bot, services: Services) -> None:
        if await _replied_ticket(message, services, bot) is not None:
            await message.reply(_("Only text and photos reach the user."))

    @router.my_chat_member(ChatMemberUpdatedFilter(JOIN_TRANSITION))
    async def added_to_support_chat(event: ChatMemberUpdated, bot: Bot, config: Settings,
                                    i18n: I18n) -> None:
        with i18n.use_locale(config.default_locale):
            text = _("👋 Support tickets will be posted here.\n\n"
                     "• Reply to a ticket's post to answer the user (text or a photo).\n"
                     "• Reply /close to it to close the ticket.\n"
                     "• /logs &lt;user id | #ticket&gt; [hours] shows a user's recent events.")
        await bot.send_message(event.chat.id, text)

    return router
