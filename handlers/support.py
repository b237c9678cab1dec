"""/support: topic → description (text, or a photo with a caption) → which account → a
numbered ticket, posted to the support chat. Then the thread: the staff's answers come here,
the user answers with «Reply» (or just writes while the ticket waits for them), and «My
tickets» lists the tickets with their status."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router, html
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.callbacks import SupportAccountCB, SupportCB, SupportTopicCB
from bot.config import Settings
from bot.db.models import User
from bot.db.models_support import (
    TICKET_TEXT_MAX,
    TICKET_TEXT_MIN,
    SupportTicket,
    TicketAuthor,
    TicketTopic,
)
from bot.filters import MenuEntry, RegisteredUser, is_step_input
from bot.i18n import fmt_datetime
from bot.keyboards.common import MENU_SUPPORT, main_menu
from bot.keyboards.support import (
    accounts_keyboard,
    own_words,
    reply_keyboard,
    ticket_keyboard,
    tickets_keyboard,
    topic_label,
    topics_keyboard,
)
from bot.middlewares.leaving import LeavingWatch
from bot.services import Services
from bot.services.accounts import masked_number
from bot.services.support import (
    DescriptionTooLong,
    DescriptionTooShort,
    TicketClosed,
    TicketGone,
    validate_description,
)
from fsm.support import SupportData, SupportStates
from handlers.markup import take_buttons_off
from handlers.support_staff import (
    notify_closed_by_user,
    publish_ticket,
    publish_user_message,
    ticket_time,
)

if TYPE_CHECKING:
    from bot.app import Runtime

# How much of a ticket's thread its card shows, and of each message in it.
THREAD_SHOWN = 5
THREAD_CLIP = 300


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


async def _edit(message: Message, text: str, markup: InlineKeyboardMarkup | None) -> None:
    try:
        await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as exc:
        if "message is not modified" not in str(exc):
            raise


# --- what the user sees ---------------------------------------------------------------------


def _status(ticket: SupportTicket) -> str:
    return _("🟢 open") if ticket.is_open else _("⚪️ closed")


def _ticket_entry(ticket: SupportTicket, lang: str, zone: str) -> str:
    return "{mark} #{id} · {topic} · {date}".format(
        mark="🟢" if ticket.is_open else "⚪️", id=ticket.id, topic=topic_label(ticket.topic),
        date=fmt_datetime(ticket.created_at, lang, "d MMM", tz=ZoneInfo(zone)))


async def ask_topic(message: Message, state: FSMContext, services: Services, user: User,
                    *, edit: bool = False) -> None:
    await state.clear()
    await state.set_state(SupportStates.topic)
    count = await services.support.count_for(user.id)
    text = _("🆘 <b>Support</b>\n\nWhat is your question about? Choose a topic; then describe "
             "the problem and support will answer you here, in this chat.")
    markup = topics_keyboard(count)
    if edit:
        await _edit(message, text, markup)
    else:
        await message.answer(text, reply_markup=markup)


async def ask_description(message: Message) -> None:
    await message.answer(_(
        "✍️ Describe the problem in one message ({min}–{max} characters). You can send a "
        "photo (a screenshot, the receipt) with the description as its caption.\n\n"
        "Support already sees your linked accounts (masked): there is no need to write your "
        "phone, e-mail or full account number.").format(min=TICKET_TEXT_MIN,
                                                        max=TICKET_TEXT_MAX))


async def show_tickets(message: Message, services: Services, user: User, *,
                       edit: bool = False) -> None:
    tickets = await services.support.tickets_for(user.id)
    if not tickets:
        text = _("📂 You have no tickets yet.")
    else:
        text = _("📂 <b>Your tickets</b> (newest first). Tap one to see its answers.")
    zones = await services.support.ticket_zones(user.id, tickets)
    markup = tickets_keyboard([(t.id, _ticket_entry(t, user.language, zones[t.id]))
                               for t in tickets])
    if edit:
        await _edit(message, text, markup)
    else:
        await message.answer(text, reply_markup=markup)


async def ticket_card(ticket: SupportTicket, services: Services, lang: str) -> str:
    lines = [_("<b>Ticket #{id}</b> · {topic}").format(
        id=ticket.id, topic=html.quote(topic_label(ticket.topic)))]
    lines.append(_("Status: {status}").format(status=_status(ticket)))
    zone = await services.support.ticket_zone(ticket)
    lines.append(_("Created: {when}").format(when=ticket_time(ticket.created_at, lang, zone)))
    if ticket.closed_at is not None:
        lines.append(_("Closed: {when}").format(
            when=ticket_time(ticket.closed_at, lang, zone)))
    lines += ["", f"<blockquote>{html.quote(_clip(own_words(ticket.text), 1000))}</blockquote>"]
    thread = await services.support.thread(ticket.id)
    if thread:
        lines += ["", _("Last messages:")]
        for item in thread[-THREAD_SHOWN:]:
            who = _("Support") if item.author == TicketAuthor.STAFF else _("You")
            body = html.quote(_clip(own_words(item.text), THREAD_CLIP)) or "📷"
            lines.append(f"<b>{who}:</b> {body}")
    elif ticket.is_open:
        lines += ["", _("No answer yet: support will write to you here.")]
    return "\n".join(lines)


async def take_description(message: Message, raw: str, state: FSMContext,
                            services: Services, user: User, bot: Bot, config: Settings,
                            runtime: Runtime, i18n: I18n) -> None:
    try:
        text = validate_description(raw, await services.support.personal_data(user))
    except DescriptionTooShort:
        await message.answer(_("That is too short for support to help: describe the "
                               "problem in at least {min} characters.").format(
            min=TICKET_TEXT_MIN))
        return
    except DescriptionTooLong as exc:
        await message.answer(_("That is {length} characters; at most {max} fit. Shorten "
                               "it and send it again.").format(length=exc.length,
                                                               max=TICKET_TEXT_MAX))
        return
    data = await SupportData.load(state)
    data.text = text
    await data.save(state)
    accounts = await services.accounts.list_for(user.id)
    if not accounts:
        await create_ticket(message, state, services, user, None, bot, config, runtime, i18n)
        return
    await state.set_state(SupportStates.account)
    entries = [(account.id,
                f"{services.accounts.title(account, user.language)} · {masked_number(account)}")
               for account in accounts]
    await message.answer(_("Which account is it about?"),
                         reply_markup=accounts_keyboard(entries))


async def create_ticket(message: Message, state: FSMContext, services: Services, user: User,
                        account_id: int | None, bot: Bot, config: Settings, runtime: Runtime,
                        i18n: I18n) -> None:
    data = await SupportData.load(state)
    if data.text is None:  # a stale step (the data was lost): start over
        await ask_topic(message, state, services, user)
        return
    ticket = await services.support.open_ticket(
        user.id, data.topic or TicketTopic.OTHER.value, data.text, data.photo_file_id,
        account_id)
    await state.clear()
    await publish_ticket(bot, services, config, runtime, i18n, ticket, user)
    await message.answer(
        _("✅ Ticket <b>#{id}</b> is registered. Support will answer you here, in this "
          "chat. Its status is in /support → «My tickets».").format(id=ticket.id),
        reply_markup=main_menu())


async def start_support(message: Message, state: FSMContext, services: Services, user: User,
                        arg: str | None = None) -> None:
    """The entry point of /support, the menu entry and the `support[_<ticket>]` deep link."""
    if arg and arg.isdigit():
        try:
            ticket = await services.support.ticket_for(user.id, int(arg))
        except TicketGone:
            pass
        else:
            await state.clear()
            await message.answer(await ticket_card(ticket, services, user.language),
                                 reply_markup=ticket_keyboard(ticket.id, ticket.is_open))
            return
    await ask_topic(message, state, services, user)


# --- the router -----------------------------------------------------------------------------


class SupportReplyWatch(LeavingWatch[int]):
    """After a ticket, what the user writes goes to it «until /cancel»: a user whom a menu
    entry, a command or another feature's button takes elsewhere is told it no longer does,
    with the ticket's «Reply» button to go back (/cancel leaves on purpose)."""

    steps = frozenset({SupportStates.reply.state})
    own_buttons = tuple(f"{cb.__prefix__}:" for cb in (SupportCB, SupportTopicCB,
                                                       SupportAccountCB))

    async def before(self, state: FSMContext) -> int | None:
        return (await SupportData.load(state)).ticket_id

    async def after(self, ticket_id: int, state_after: str | None, state: FSMContext,
                    user: User, data: dict[str, Any]) -> None:
        if state_after in SupportStates.__all_states_names__:
            return  # still in /support: another ticket, or a new one
        bot: Bot = data["bot"]
        await bot.send_message(state.key.chat_id, _(
            "ℹ️ What you write now no longer goes to ticket #{id}. To add to it, press "
            "«↩️ Reply».").format(id=ticket_id), reply_markup=reply_keyboard(ticket_id))


def watch_left(router: Router) -> None:
    """Set `SupportReplyWatch` on `router` (the root one)."""
    SupportReplyWatch().watch(router)


def build_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == ChatType.PRIVATE)
    router.message.filter(RegisteredUser())
    router.callback_query.filter(RegisteredUser())

    @router.message(Command("support"))
    @router.message(MenuEntry(MENU_SUPPORT))
    async def support_command(message: Message, state: FSMContext, services: Services,
                              user: User) -> None:
        await start_support(message, state, services, user)

    # --- a new ticket ---------------------------------------------------------------------

    @router.callback_query(SupportCB.filter(F.action == "new"))
    async def new_ticket(query: CallbackQuery, state: FSMContext, services: Services,
                         user: User) -> None:
        await query.answer()
        if isinstance(query.message, Message):
            await ask_topic(query.message, state, services, user, edit=True)

    @router.callback_query(SupportStates.topic, SupportTopicCB.filter())
    async def topic_chosen(query: CallbackQuery, callback_data: SupportTopicCB,
                           state: FSMContext) -> None:
        topic = callback_data.topic
        if topic not in TicketTopic.__members__.values():
            await query.answer(_("This button is no longer active."))
            return
        await query.answer()
        data = await SupportData.load(state)
        data.topic = topic
        await data.save(state)
        await state.set_state(SupportStates.description)
        if isinstance(query.message, Message):
            await _edit(query.message, _("🆘 Topic: <b>{topic}</b>").format(
                topic=html.quote(topic_label(topic))), None)
            await ask_description(query.message)

    @router.message(SupportStates.topic, F.func(is_step_input))
    async def topic_bad_input(message: Message) -> None:
        await message.answer(_("Choose the topic with the buttons above, or send /cancel."))

    @router.message(SupportStates.description, F.text, F.func(is_step_input))
    async def description_sent(message: Message, state: FSMContext, services: Services,
                               user: User, bot: Bot, config: Settings, runtime: Runtime,
                               i18n: I18n) -> None:
        await take_description(message, message.text or "", state, services, user, bot,
                                config, runtime, i18n)

    @router.message(SupportStates.description, F.photo)
    async def description_photo(message: Message, state: FSMContext, services: Services,
                                user: User, bot: Bot, config: Settings, runtime: Runtime,
                                i18n: I18n) -> None:
        assert message.photo
        data = await SupportData.load(state)
        replaced = data.photo_file_id is not None
        data.photo_file_id = message.photo[-1].file_id
        await data.save(state)
        if replaced:
            # A ticket carries one photo: a trial's second one replaced the first unsaid.
            await message.answer(_("📷 A ticket takes one photo: this one replaces the one "
                                   "sent before."))
        if not message.caption:
            await message.answer(_("📷 Photo attached. Now describe the problem in a message "
                                   "({min}–{max} characters).").format(
                min=TICKET_TEXT_MIN, max=TICKET_TEXT_MAX))
            return
        await take_description(message, message.caption, state, services, user, bot,
                                config, runtime, i18n)

    @router.message(SupportStates.description, F.func(is_step_input))
    async def description_bad_input(message: Message) -> None:
        await message.answer(_("Describe the problem in text (you may add one photo with a "
                               "caption), or send /cancel."))

    @router.callback_query(SupportStates.account, SupportAccountCB.filter())
    async def account_chosen(query: CallbackQuery, callback_data: SupportAccountCB,
                             state: FSMContext, services: Services, user: User, bot: Bot,
                             config: Settings, runtime: Runtime, i18n: I18n) -> None:
        account_id = callback_data.id or None
        if account_id is not None and await services.accounts.get(user.id, account_id) is None:
            await query.answer(_("This account is no longer linked."))
            return
        await query.answer()
        if not isinstance(query.message, Message):
            return
        await take_buttons_off(query.message)
        await create_ticket(query.message, state, services, user, account_id, bot, config, runtime,
                      i18n)

    @router.message(SupportStates.account, F.func(is_step_input))
    async def account_bad_input(message: Message) -> None:
        await message.answer(_("Choose the account with the buttons above (or «No specific "
                               "account»), or send /cancel."))

    # --- the user's tickets ---------------------------------------------------------------

    @router.callback_query(SupportCB.filter(F.action == "list"))
    async def tickets_list(query: CallbackQuery, state: FSMContext, services: Services,
                           user: User) -> None:
        await query.answer()
        if await state.get_state() in (SupportStates.topic.state,):
            await state.clear()
        if isinstance(query.message, Message):
            await show_tickets(query.message, services, user, edit=True)

    @router.callback_query(SupportCB.filter(F.action == "open"))
    async def ticket_open(query: CallbackQuery, callback_data: SupportCB, services: Services,
                          user: User) -> None:
        try:
            ticket = await services.support.ticket_for(user.id, callback_data.id)
        except TicketGone:
            await query.answer(_("This button is no longer active."))
            return
        await query.answer()
        if isinstance(query.message, Message):
            await _edit(query.message, await ticket_card(ticket, services, user.language),
                        ticket_keyboard(ticket.id, ticket.is_open))

    @router.callback_query(SupportCB.filter(F.action == "reply"))
    async def reply_pressed(query: CallbackQuery, callback_data: SupportCB, state: FSMContext,
                            services: Services, user: User) -> None:
        try:
            ticket = await services.support.ticket_for(user.id, callback_data.id)
        except TicketGone:
            await query.answer(_("This button is no longer active."))
            return
        if not ticket.is_open:
            await query.answer(_("Ticket #{id} is closed. Send /support to open a new one.")
                               .format(id=ticket.id), show_alert=True)
            return
        await query.answer()
        await state.set_state(SupportStates.reply)
        await SupportData(ticket_id=ticket.id).save(state)
        if isinstance(query.message, Message):
            await query.message.answer(_(
                "✍️ Write your answer to ticket <b>#{id}</b>: text, or a photo with a caption. "
                "Send /cancel when you are done.").format(id=ticket.id))

    @router.callback_query(SupportCB.filter(F.action == "close"))
    async def close_pressed(query: CallbackQuery, callback_data: SupportCB, state: FSMContext,
                            services: Services, user: User, bot: Bot, config: Settings,
                            i18n: I18n) -> None:
        try:
            ticket = await services.support.close_by_user(user.id, callback_data.id)
        except (TicketGone, TicketClosed):
            await query.answer(_("This ticket is already closed."))
            return
        await query.answer(_("✅ Ticket #{id} closed.").format(id=ticket.id))
        data = await SupportData.load(state)
        if await state.get_state() == SupportStates.reply.state and data.ticket_id == ticket.id:
            await state.clear()
        await notify_closed_by_user(bot, config, i18n, ticket)
        if isinstance(query.message, Message):
            await _edit(query.message, await ticket_card(ticket, services, user.language),
                        ticket_keyboard(ticket.id, ticket.is_open))

    # --- answering in a ticket's thread ---------------------------------------------------

    @router.message(SupportStates.reply, F.func(is_step_input), F.text | F.photo)
    async def user_answer(message: Message, state: FSMContext, services: Services, user: User,
                          bot: Bot, config: Settings, runtime: Runtime, i18n: I18n) -> None:
        data = await SupportData.load(state)
        if data.ticket_id is None:
            await state.clear()
            await ask_topic(message, state, services, user)
            return
        photo = message.photo[-1].file_id if message.photo else None
        try:
            ticket, item = await services.support.add_user_message(
                user.id, data.ticket_id, message.text or message.caption or "", photo,
                await services.support.personal_data(user))
        except (TicketClosed, TicketGone):
            await state.clear()
            await message.answer(_("Ticket #{id} is closed. Send /support to open a new "
                                   "one.").format(id=data.ticket_id), reply_markup=main_menu())
            return
        except DescriptionTooLong as exc:
            await message.answer(_("That is {length} characters; at most {max} fit. Shorten "
                                   "it and send it again.").format(length=exc.length,
                                                                   max=TICKET_TEXT_MAX))
            return
        except DescriptionTooShort:
            await message.answer(_("Write your answer in text, or send /cancel."))
            return
        await publish_user_message(bot, services, config, runtime, i18n, ticket, item, user)
        await message.answer(
            _("📨 Sent to support (ticket #{id}). Whatever else you write here goes to this "
              "ticket too, until you send /cancel.").format(id=ticket.id))

    @router.message(SupportStates.reply, F.func(is_step_input))
    async def answer_bad_input(message: Message) -> None:
        await message.answer(_("Support reads text and photos: write your answer in text or "
                               "send a photo with a caption, or send /cancel."))

    return router
