"""Support tickets: opening one, the thread between the user and the support chat, closing.

What reaches the support chat is a staff group, not the user's private chat: the user's own
words are scrubbed before they are stored or posted. First the user's own phone, e-mail and
linked account numbers are masked wherever they appear, however spaced or dashed
(`PersonalData`); then the log scrubber takes whatever else looks like a phone, an e-mail or
an account number (these keep their last 4 digits). Linked accounts appear only masked.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from bot.context import AppContext
from bot.db.models import User
from bot.db.models_accounts import LinkedAccount
from bot.db.models_support import (
    TICKET_TEXT_MAX,
    TICKET_TEXT_MIN,
    SupportTicket,
    TicketAuthor,
    TicketMessage,
    TicketTopic,
)
from bot.db.repositories.accounts import AccountRepository
from bot.db.repositories.support import SupportRepository
from bot.logs import scrub
from bot.services.errors import DomainError
from bot.services.users import email_forms
from bot.suppliers.accounts import mask_account

__all__ = [
    "RECENT_EVENTS",
    "TICKETS_LISTED",
    "DescriptionTooLong",
    "DescriptionTooShort",
    "LogsQuery",
    "PersonalData",
    "SupportService",
    "TicketClosed",
    "TicketGone",
    "clean_text",
    "parse_logs_query",
    "validate_description",
]

# How many of the user's recent events a new ticket's post shows.
RECENT_EVENTS: Final = 10
# How many tickets «My tickets» lists (newest first).
TICKETS_LISTED: Final = 10
# /logs: the default window and the longest one (the event log keeps no more anyway).
LOGS_DEFAULT_WINDOW: Final = timedelta(hours=24)


class DescriptionTooShort(DomainError):
    pass


class DescriptionTooLong(DomainError):
    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length


class TicketGone(DomainError):
    """Not the user's ticket, or no longer there: a stale or forged button."""


class TicketClosed(DomainError):
    pass


def clean_text(raw: str) -> str:
    """Control and format characters dropped (newlines kept), spacing of lines tidied."""
    kept = "".join(ch for ch in raw
                   if ch == "\n" or unicodedata.category(ch)[0] != "C")
    lines = [" ".join(line.split()) for line in kept.split("\n")]
    return "\n".join(lines).strip()


# What people put between the digits of a number they type: spaces, dashes, dots, brackets.
_INSIDE_NUMBER: Final = r"[\s\u00ad\u2010-\u2015\u2212\ufe58\ufe63\uff0d.()-]*"
# Shorter own numbers are not looked for: they would match readings and amounts.
_OWN_DIGITS_MIN: Final = 5
# A phone is found by its last 9 digits, after at most this many of country code and
# trunk prefix (+7, 8, +380, 0), in whatever form the user writes them.
_PHONE_TAIL: Final = 9
_PHONE_PREFIX_DIGITS: Final = 4


def _spread(digits: str) -> str:
    return _INSIDE_NUMBER.join(digits)


@dataclass(frozen=True, slots=True)
class PersonalData:
    """What the bot knows to be the user's: their phone, their e-mail (in each spelling) and
    the numbers of their linked accounts. `mask` hides them in the user's own words, in any
    spacing, so that even a form the generic scrubber misses never reaches the staff."""

    phone: str | None = None
    emails: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()

    @classmethod
    def of(cls, user: User, accounts: Iterable[LinkedAccount]) -> PersonalData:
        return cls(phone=user.phone, emails=email_forms(user.email) if user.email else (),
                   accounts=tuple(account.number for account in accounts))

    def mask(self, text: str) -> str:
        for email in self.emails:
            local, _, domain = email.rpartition("@")
            text = re.sub(rf"(?<![\w.%+-]){re.escape(local)}\s*@\s*{re.escape(domain)}"
                          r"(?![\w-])", "<email>", text, flags=re.IGNORECASE)
        digits = re.sub(r"\D", "", self.phone or "")
        if len(digits) >= _PHONE_TAIL + 1:
            prefix = rf"(?:[+(]{_INSIDE_NUMBER})?(?:\d{_INSIDE_NUMBER}){{0,{_PHONE_PREFIX_DIGITS}}}"
            text = re.sub(rf"(?<![\d+]){prefix}{_spread(digits[-_PHONE_TAIL:])}(?!\d)",
                          "<phone>", text)
        # Longest first: one account's number may end another's.
        for number in sorted(set(self.accounts), key=len, reverse=True):
            core = number.lstrip("0")
            if len(core) < _OWN_DIGITS_MIN or not core.isdigit():
                continue
            zeros = len(number) - len(core)
            # Leading zeros may be left out: some suppliers accept the number without them.
            pattern = rf"(?<!\d)(?:0{_INSIDE_NUMBER}){{0,{zeros}}}{_spread(core)}(?!\d)"
            text = re.sub(pattern, mask_account(number), text)
        return text


def validate_description(raw: str, personal: PersonalData | None = None) -> str:
    """The ticket's text as stored: cleaned, length-checked, and free of personal data."""
    text = clean_text(raw)
    if len(text) < TICKET_TEXT_MIN:
        raise DescriptionTooShort
    if len(text) > TICKET_TEXT_MAX:
        raise DescriptionTooLong(len(text))
    return scrub(personal.mask(text) if personal is not None else text)


@dataclass(frozen=True, slots=True)
class LogsQuery:
    """`/logs <user id | #ticket> [window]`: who and how far back."""

    user_id: int | None
    ticket_id: int | None
    window: timedelta


def parse_logs_query(args: str | None, max_window: timedelta) -> LogsQuery | None:
    """None when the arguments cannot be read. The window is hours (`6`) or `90m`/`2h`/`3d`,
    at most `max_window`; the target may be left out when /logs replies to a ticket's post."""
    from bot.event_store import parse_since

    parts = (args or "").split()
    if len(parts) > 2:
        return None
    user_id = ticket_id = None
    window = LOGS_DEFAULT_WINDOW
    if parts and (parts[0].startswith("#") or parts[0].isdigit()):
        target = parts.pop(0)
        if target.startswith("#"):
            if not target[1:].isdigit():
                return None
            ticket_id = int(target[1:])
        else:
            user_id = int(target)
    if parts:
        try:
            window = parse_since(parts[0])
        except ValueError:
            return None
        if window <= timedelta(0):
            return None
    return LogsQuery(user_id, ticket_id, min(window, max_window))


class SupportService:
    def __init__(self, session: AsyncSession, app: AppContext) -> None:
        self.repo = SupportRepository(session)
        self.accounts = AccountRepository(session)
        self.app = app

    @property
    def chat_id(self) -> int | None:
        return self.app.settings.support_chat_id

    # --- the user's side ----------------------------------------------------------------

    async def personal_data(self, user: User) -> PersonalData:
        return PersonalData.of(user, await self.accounts.for_user(user.id))

    def zone_of(self, account: LinkedAccount | None) -> str:
        """The time zone a ticket's times are shown in: its account's supplier's, else the
        bot's DEFAULT_TIMEZONE (the same for the user and for the support chat)."""
        supplier = self.app.catalog.get(account.supplier_code) if account is not None else None
        return supplier.timezone if supplier is not None else self.app.settings.default_timezone

    async def user_zone(self, user_id: int) -> str:
        """The zone a user's events are shown in when no ticket is named: their default
        account's supplier's (their tickets' usually are), else DEFAULT_TIMEZONE."""
        accounts = await self.accounts.for_user(user_id)
        default = next((a for a in accounts if a.is_default), accounts[0] if accounts else None)
        return self.zone_of(default)

    async def ticket_zone(self, ticket: SupportTicket) -> str:
        account = (await self.accounts.get(ticket.user_id, ticket.account_id)
                   if ticket.account_id is not None else None)
        return self.zone_of(account)

    async def ticket_zones(self, user_id: int, tickets: Iterable[SupportTicket]
                           ) -> dict[int, str]:
        """`ticket_zone` of each of the user's tickets, with one query."""
        accounts = {a.id: a for a in await self.accounts.for_user(user_id)}
        return {t.id: self.zone_of(accounts.get(t.account_id) if t.account_id else None)
                for t in tickets}

    async def open_ticket(self, user_id: int, topic: str, text: str,
                          photo_file_id: str | None, account_id: int | None) -> SupportTicket:
        """Store a ticket; `text` as returned by `validate_description`. An account that is
        not (or no longer) the user's is dropped rather than refused: the question stands."""
        if topic not in TicketTopic.__members__.values():
            topic = TicketTopic.OTHER.value
        if account_id is not None and await self.accounts.get(user_id, account_id) is None:
            account_id = None
        return await self.repo.create(user_id=user_id, topic=topic, text=text,
                                      photo_file_id=photo_file_id, account_id=account_id,
                                      at=self.app.clock())

    async def tickets_for(self, user_id: int) -> list[SupportTicket]:
        return await self.repo.for_user(user_id, TICKETS_LISTED)

    async def count_for(self, user_id: int) -> int:
        return await self.repo.count_for_user(user_id)

    async def ticket_for(self, user_id: int, ticket_id: int) -> SupportTicket:
        ticket = await self.repo.get_for_user(user_id, ticket_id)
        if ticket is None:
            raise TicketGone
        return ticket

    async def add_user_message(self, user_id: int, ticket_id: int, raw: str,
                               photo_file_id: str | None,
                               personal: PersonalData | None = None
                               ) -> tuple[SupportTicket, TicketMessage]:
        """The user's answer in an open ticket's thread (text may be empty with a photo)."""
        ticket = await self.ticket_for(user_id, ticket_id)
        if not ticket.is_open:
            raise TicketClosed
        text = clean_text(raw)
        if len(text) > TICKET_TEXT_MAX:
            raise DescriptionTooLong(len(text))
        if not text and photo_file_id is None:
            raise DescriptionTooShort
        message = await self.repo.add_message(
            ticket_id=ticket.id, author=TicketAuthor.USER.value,
            text=scrub(personal.mask(text) if personal is not None else text),
            photo_file_id=photo_file_id, support_chat_id=None, support_message_id=None,
            at=self.app.clock())
        return ticket, message

    async def close_by_user(self, user_id: int, ticket_id: int) -> SupportTicket:
        ticket = await self.ticket_for(user_id, ticket_id)
        if not await self.repo.close(ticket, self.app.clock()):
            raise TicketClosed
        return ticket

    # --- the support chat's side --------------------------------------------------------

    async def mark_posted(self, ticket: SupportTicket, chat_id: int, message_id: int) -> None:
        await self.repo.set_post(ticket, chat_id, message_id)

    async def mark_message_posted(self, message: TicketMessage, chat_id: int,
                                  message_id: int) -> None:
        await self.repo.set_message_post(message, chat_id, message_id)

    async def get(self, ticket_id: int) -> SupportTicket | None:
        return await self.repo.get(ticket_id)

    async def by_post(self, chat_id: int, message_id: int) -> SupportTicket | None:
        return await self.repo.by_support_message(chat_id, message_id)

    async def thread(self, ticket_id: int) -> list[TicketMessage]:
        return await self.repo.messages(ticket_id)

    async def add_staff_reply(self, ticket: SupportTicket, text: str, photo_file_id: str | None,
                              chat_id: int, message_id: int) -> TicketMessage:
        if not ticket.is_open:
            raise TicketClosed
        return await self.repo.add_message(
            ticket_id=ticket.id, author=TicketAuthor.STAFF.value, text=text,
            photo_file_id=photo_file_id, support_chat_id=chat_id,
            support_message_id=message_id, at=self.app.clock())

    async def close(self, ticket: SupportTicket) -> bool:
        """False when it was closed already."""
        return await self.repo.close(ticket, self.app.clock())

    async def open_count(self) -> int:
        return await self.repo.count_open()
