"""Reminder settings, per-user reminder preferences and the delivery outbox (migration 0006)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Unicode,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models import Base, UtcDateTime, utcnow


class ReminderSettingsRow(Base):
    """One account's settings, written the first time the user changes one; until then the
    account has the defaults (`bot.reminders.models.DEFAULTS`). Unlinking removes it."""

    __tablename__ = "reminder_settings"

    account_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("linked_accounts.id", ondelete="CASCADE"), primary_key=True,
        autoincrement=False,
    )
    readings_on: Mapped[bool] = mapped_column(Boolean)
    readings_anchor: Mapped[str] = mapped_column(String(8))
    readings_days_before: Mapped[int] = mapped_column(SmallInteger)
    payment_on: Mapped[bool] = mapped_column(Boolean)
    payment_days_before: Mapped[int] = mapped_column(SmallInteger)
    receipt_on: Mapped[bool] = mapped_column(Boolean)
    minute_of_day: Mapped[int] = mapped_column(SmallInteger)  # 0-1439, in the user's zone
    due_day: Mapped[int | None] = mapped_column(SmallInteger)  # learnt from the billing system
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class ReminderPrefs(Base):
    """What applies to all of a user's reminders: their time zone, and a pause after they
    blocked the bot (lifted when they unblock it or open /reminders)."""

    __tablename__ = "reminder_prefs"

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True,
        autoincrement=False,
    )
    timezone: Mapped[str | None] = mapped_column(String(64))  # None: each supplier's zone
    paused_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    paused_reason: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class ReminderDelivery(Base):
    """The outbox: one row per reminder, written before it is sent.

    The unique key (kind, user, account, period) is what makes a reminder go out once: every
    tick, process and operator run inserts with "on conflict do nothing", and only the one
    that moves a row from pending to sending (a compare-and-set) sends it.
    """

    __tablename__ = "reminder_deliveries"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("linked_accounts.id", ondelete="CASCADE"), index=True
    )
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    scheduled_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Not sent after this: a reminder arriving later than the grace period is noise.
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(40))
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("kind", "user_id", "account_id", "period",
                         name="uq_reminder_deliveries_key"),
        # The sender's question: what is pending and ready to go?
        Index("ix_reminder_deliveries_status_next", "status", "next_attempt_at"),
    )


class SchedulerJob(Base):
    """APScheduler's SQLAlchemyJobStore table, created by the migration so that Alembic owns
    the schema; the job store only finds it there (see bot.reminders.scheduler)."""

    __tablename__ = "apscheduler_jobs"

    id: Mapped[str] = mapped_column(Unicode(191), primary_key=True)
    next_run_time: Mapped[float | None] = mapped_column(Float(25), index=True)
    job_state: Mapped[bytes] = mapped_column(LargeBinary)
