"""The readings outbox (migration 0005): every reading a user confirmed, kept until the
billing system has answered it and the user has been told.

A row is written, with its idempotency key, before the billing system is called; the key
goes with every attempt, so a retry after a crash or an outage can never record a reading
twice (the billing system answers a repeated key with its first answer).

Status moves queued → sending → accepted | rejected, or → failed when the billing system
could not be reached for too long. `sending` is a claim: only the process whose conditional
UPDATE moved the row there (and wrote `claim_token`) sends it; a claim older than the
worker's lease is taken over with the same key.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models import Base, UtcDateTime, utcnow

__all__ = ["OutboxStatus", "QueuedReading"]


class OutboxStatus(StrEnum):
    QUEUED = "queued"  # waiting for (another) attempt at next_attempt_at
    SENDING = "sending"  # claimed by one process, which is calling the billing system
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    FAILED = "failed"  # never got an answer within the outbox's maximum age

    @property
    def final(self) -> bool:
        return self in (OutboxStatus.ACCEPTED, OutboxStatus.REJECTED, OutboxStatus.FAILED)


class QueuedReading(Base):
    __tablename__ = "readings_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("linked_accounts.id", ondelete="CASCADE"), index=True
    )
    # The account as the billing system knows it, copied so a send needs no other table.
    supplier_code: Mapped[str] = mapped_column(String(16))
    number: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str | None] = mapped_column(String(24))
    meter_id: Mapped[str] = mapped_column(String(64))
    meter_serial: Mapped[str] = mapped_column(String(64))
    zones: Mapped[str] = mapped_column(String(128))  # "total" or "day,night"
    # Decimal strings, one per zone in the meter's zone order, joined by ";": the exact
    # digits the user confirmed, never a float.
    values: Mapped[str] = mapped_column(String(255))
    period: Mapped[str] = mapped_column(String(7))  # the billing month it is for, "2026-11"
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.QUEUED.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    reference: Mapped[str | None] = mapped_column(String(64))
    billing_state: Mapped[str | None] = mapped_column(String(16))  # accepted | pending
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    reject_code: Mapped[str | None] = mapped_column(String(32))
    reject_detail: Mapped[str | None] = mapped_column(String(255))
    notified: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    __table_args__ = (
        # The worker's two questions: what is due, and what is final but untold.
        Index("ix_readings_outbox_due", "status", "next_attempt_at"),
        Index("ix_readings_outbox_untold", "notified", "status"),
    )

    @property
    def outbox_status(self) -> OutboxStatus:
        return OutboxStatus(self.status)
