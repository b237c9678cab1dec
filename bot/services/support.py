"""Support tickets: opening one, the thread between the user and the support chat, closing.

What reaches the support chat is a staff group, not the user's private chat: the user's own
words are scrubbed of phone numbers, e-mails and long digit runs (account numbers keep their
last 4 digits) before they are stored or posted, and linked accounts appear only masked.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from bot.context import AppContext
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

__all__ = [
    "RECENT_EVENTS",
    "TICKETS_LISTED",
    "DescriptionTooLong",
    "DescriptionTooShort",
    "LogsQuery",
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


def validate_description(raw: str) -> str:
    """The ticket's text as stored: cleaned, length-checked, and free of personal data."""
    text = clean_text(raw)
    if len(text) < TICKET_TEXT_MIN:
        raise DescriptionTooShort
    if len(text) > TICKET_TEXT_MAX:
        raise DescriptionTooLong(len(text))
    return scrub(text)


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
                               photo_file_id: str | None) -> tuple[SupportTicket, TicketMessage]:
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
            ticket_id=ticket.id, author=TicketAuthor.USER.value, text=scrub(text),
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
