"""Support tickets and their threads (migration 0007).

A ticket belongs to a user (deleting the user deletes their tickets) and may name one of their
linked accounts (unlinking the account keeps the ticket, without the account). The support
chat's message ids are kept so a staff member's Telegram reply finds its ticket.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models import Base, UtcDateTime, utcnow

# Telegram's limit for a message is 4096 characters; a ticket's text must fit in the support
# chat's post next to the ticket's header.
TICKET_TEXT_MIN = 10
TICKET_TEXT_MAX = 2000


class TicketTopic(StrEnum):
    LINKING = "linking"
    READINGS = "readings"
    PAYMENTS = "payments"
    RECEIPT = "receipt"
    OTHER = "other"


class TicketStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class TicketAuthor(StrEnum):
    USER = "user"
    STAFF = "staff"


class SupportTicket(Base):
    __tablename__ = "support_tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    topic: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    photo_file_id: Mapped[str | None] = mapped_column(String(255))
    account_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("linked_accounts.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(8), default=TicketStatus.OPEN.value)
    # Where the ticket was posted; None while no support chat is configured.
    support_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    support_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("ix_support_tickets_post", "support_chat_id", "support_message_id"),
        Index("ix_support_tickets_status", "status"),
    )

    @property
    def is_open(self) -> bool:
        return self.status == TicketStatus.OPEN


class TicketNumbers(Base):
    """The last ticket number given (one row): numbers are never given twice, though
    «Delete my data» removes tickets (SQLite would give the highest id out again)."""

    __tablename__ = "support_ticket_numbers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class TicketMessage(Base):
    """One message of a ticket's thread after the ticket itself: a staff reply or the user's
    answer. `support_message_id` is the message in the support chat (the staff member's reply,
    or the bot's post of the user's answer), so a reply to any of them finds the ticket."""

    __tablename__ = "support_ticket_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("support_tickets.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    photo_file_id: Mapped[str | None] = mapped_column(String(255))
    support_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    support_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    __table_args__ = (
        Index("ix_support_ticket_messages_post", "support_chat_id", "support_message_id"),
    )
