"""Linked gas accounts and the ledger of ownership-proof attempts (migration 0003)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models import Base, UtcDateTime, utcnow

# The longest alias a user may give an account; the column is sized for it.
ALIAS_MAX_LEN = 32


class LinkedAccount(Base):
    """A supplier account a user has proven to own. The same account may be linked by several
    users (a family), each with their own row, alias and default.

    Tables of features that hang on an account (reminders, queued readings…) reference
    `linked_accounts.id` with ON DELETE CASCADE: unlinking, or deleting the user, removes them.
    """

    __tablename__ = "linked_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    supplier_code: Mapped[str] = mapped_column(String(16))
    # A string, never a number: Севгаз prints leading zeros that are part of the account.
    number: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str | None] = mapped_column(String(24))
    alias: Mapped[str | None] = mapped_column(String(ALIAS_MAX_LEN))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_masked: Mapped[str] = mapped_column(String(128))
    address_masked: Mapped[str] = mapped_column(String(255))
    linked_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    __table_args__ = (
        # NULL units are distinct from each other in a plain unique constraint, so two rows of
        # a supplier without units would never collide; coalesce makes them collide.
        Index(
            "uq_linked_accounts_account",
            "user_id",
            "supplier_code",
            "number",
            text("coalesce(unit, '')"),
            unique=True,
        ),
        # At most one default account per user, whatever the code above does concurrently.
        Index(
            "uq_linked_accounts_default",
            "user_id",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )


class LinkAttempt(Base):
    """One ownership-proof attempt on an account, by anybody: the cooldown after repeated
    failures is per account, so a second Telegram user cannot start the count afresh.

    `account_key` is a keyed hash of supplier, unit and number; the number itself is never
    stored here. The user is kept only while they exist (deleting a user nulls it) so the
    count survives a delete-and-re-register attempt to reset it.
    """

    __tablename__ = "link_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_key: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    success: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (Index("ix_link_attempts_account_key_at", "account_key", "at"),)
