from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import User
from bot.db.models_accounts import LinkAttempt, LinkedAccount


class LinkOutcome(StrEnum):
    LINKED = "linked"
    DUPLICATE = "duplicate"
    SUPPLIER_FULL = "supplier_full"
    TOTAL_FULL = "total_full"


class AccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _lock_user(self, user_id: int) -> None:
        """Serialise writes to one user's accounts until the commit.

        A no-op UPDATE takes the user's row lock on PostgreSQL and the write lock on SQLite,
        so two concurrent links cannot both count the same free slot: the second one waits
        and counts again after the first has committed. Naming updated_at keeps its onupdate
        from firing, so the row really stays as it was.
        """
        await self.session.execute(
            update(User).where(User.id == user_id).values(updated_at=User.updated_at)
        )

    async def _rollback_keeping_user(self, user_id: int) -> None:
        """Roll back, then reload the user the middleware handed to the handler: a rollback
        expires it, and an expired attribute cannot lazy-load in async code."""
        await self.session.rollback()
        await self.session.get(User, user_id, populate_existing=True)

    # --- reading ------------------------------------------------------------------------

    async def for_user(self, user_id: int) -> list[LinkedAccount]:
        result = await self.session.scalars(
            select(LinkedAccount)
            .where(LinkedAccount.user_id == user_id)
            .order_by(LinkedAccount.linked_at, LinkedAccount.id)
        )
        return list(result)

    async def get(self, user_id: int, account_id: int) -> LinkedAccount | None:
        """The account if it belongs to the user: ids come from callback data anyone can forge."""
        return await self.session.scalar(
            select(LinkedAccount).where(
                LinkedAccount.id == account_id, LinkedAccount.user_id == user_id
            )
        )

    async def find(self, user_id: int, supplier_code: str, number: str,
                   unit: str | None) -> LinkedAccount | None:
        return await self.session.scalar(
            select(LinkedAccount).where(
                LinkedAccount.user_id == user_id,
                LinkedAccount.supplier_code == supplier_code,
                LinkedAccount.number == number,
                func.coalesce(LinkedAccount.unit, "") == (unit or ""),
            )
        )

    async def count(self, user_id: int, supplier_code: str | None = None) -> int:
        query = select(func.count()).select_from(LinkedAccount).where(
            LinkedAccount.user_id == user_id
        )
        if supplier_code is not None:
            query = query.where(LinkedAccount.supplier_code == supplier_code)
        return int(await self.session.scalar(query) or 0)

    # --- writing ------------------------------------------------------------------------

    async def add_within_limits(
        self,
        *,
        user_id: int,
        supplier_code: str,
        number: str,
        unit: str | None,
        owner_masked: str,
        address_masked: str,
        at: datetime,
        supplier_limit: int | None,
        total_limit: int,
    ) -> tuple[LinkOutcome, LinkedAccount | None]:
        """Insert the account unless it is a duplicate or a limit is reached, atomically."""
        await self._lock_user(user_id)
        # Refusals commit (nothing but the no-op lock was written) rather than roll back: a
        # rollback would expire every object of the update's session, the user included.
        if await self.find(user_id, supplier_code, number, unit) is not None:
            await self.session.commit()
            return LinkOutcome.DUPLICATE, None
        total = await self.count(user_id)
        if total >= total_limit:
            await self.session.commit()
            return LinkOutcome.TOTAL_FULL, None
        if (supplier_limit is not None
                and await self.count(user_id, supplier_code) >= supplier_limit):
            await self.session.commit()
            return LinkOutcome.SUPPLIER_FULL, None
        account = LinkedAccount(
            user_id=user_id,
            supplier_code=supplier_code,
            number=number,
            unit=unit,
            is_default=total == 0,  # the first account becomes the default by itself
            owner_masked=owner_masked,
            address_masked=address_masked,
            linked_at=at,
        )
        self.session.add(account)
        try:
            await self.session.commit()
        except IntegrityError:
            # Only reachable if the lock above was bypassed (e.g. a manual insert): the unique
            # index is the last word.
            await self._rollback_keeping_user(user_id)
            return LinkOutcome.DUPLICATE, None
        return LinkOutcome.LINKED, account

    async def rename(self, account: LinkedAccount, alias: str | None) -> None:
        account.alias = alias
        await self.session.commit()

    async def set_default(self, user_id: int, account_id: int) -> None:
        await self._lock_user(user_id)
        # Two statements in this order: the partial unique index allows one default per user.
        await self.session.execute(
            update(LinkedAccount)
            .where(LinkedAccount.user_id == user_id, LinkedAccount.id != account_id)
            .values(is_default=False)
        )
        await self.session.execute(
            update(LinkedAccount)
            .where(LinkedAccount.user_id == user_id, LinkedAccount.id == account_id)
            .values(is_default=True)
        )
        await self.session.commit()

    async def remove(self, user_id: int, account_id: int) -> tuple[bool, LinkedAccount | None]:
        """Delete the account (rows of other features go by ON DELETE CASCADE); when it was the
        default, the oldest remaining account becomes the default. Returns (removed, default)."""
        await self._lock_user(user_id)
        account = await self.get(user_id, account_id)
        if account is None:
            await self.session.commit()
            return False, None
        was_default = account.is_default
        await self.session.delete(account)
        await self.session.flush()
        successor: LinkedAccount | None = None
        if was_default:
            successor = await self.session.scalar(
                select(LinkedAccount)
                .where(LinkedAccount.user_id == user_id)
                .order_by(LinkedAccount.linked_at, LinkedAccount.id)
                .limit(1)
            )
            if successor is not None:
                successor.is_default = True
        await self.session.commit()
        return True, successor


class AttemptRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def recent(self, account_key: str, since: datetime) -> list[LinkAttempt]:
        """Attempts on the account since `since`, oldest first."""
        result = await self.session.scalars(
            select(LinkAttempt)
            .where(LinkAttempt.account_key == account_key, LinkAttempt.at > since)
            .order_by(LinkAttempt.at, LinkAttempt.id)
        )
        return list(result)

    async def record(self, account_key: str, user_id: int, at: datetime, success: bool,
                     forget_before: datetime) -> None:
        """Record an attempt and drop this account's attempts older than `forget_before`: they
        no longer count, and keeping who-tried-what longer than needed is personal data."""
        await self.session.execute(
            delete(LinkAttempt).where(
                LinkAttempt.account_key == account_key, LinkAttempt.at < forget_before
            )
        )
        self.session.add(
            LinkAttempt(account_key=account_key, user_id=user_id, at=at, success=success)
        )
        await self.session.commit()
