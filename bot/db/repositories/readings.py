"""SQL of the readings outbox. Every state change is one conditional UPDATE, so that two
processes (or the chat and the background worker of one process) never both act on a row."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from bot.db.models import User
from bot.db.models_readings import OutboxStatus, QueuedReading

_QUEUED = OutboxStatus.QUEUED.value
_SENDING = OutboxStatus.SENDING.value
_FINAL = (OutboxStatus.ACCEPTED.value, OutboxStatus.REJECTED.value, OutboxStatus.FAILED.value)


def claim_token() -> str:
    """A new claim's token: the attempt's outcome is recorded only with it."""
    return uuid.uuid4().hex


def _changed(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- reading ------------------------------------------------------------------------

    async def get(self, item_id: int) -> QueuedReading | None:
        """Fresh from the database: other sessions change rows behind this one's back."""
        return await self.session.get(QueuedReading, item_id, populate_existing=True)

    async def by_key(self, key: str) -> QueuedReading | None:
        return await self.session.scalar(
            select(QueuedReading).where(QueuedReading.idempotency_key == key)
            .execution_options(populate_existing=True)
        )

    async def in_flight(self, user_id: int, account_id: int,
                        meter_id: str) -> QueuedReading | None:
        """A reading of this meter not answered yet by the billing system, if any."""
        return await self.session.scalar(
            select(QueuedReading)
            .where(QueuedReading.user_id == user_id, QueuedReading.account_id == account_id,
                   QueuedReading.meter_id == meter_id,
                   QueuedReading.status.in_((_QUEUED, _SENDING)))
            .order_by(QueuedReading.id.desc()).limit(1)
            .execution_options(populate_existing=True)
        )

    async def meters_submitted(self, account_id: int, period: str) -> set[str]:
        """Meters of the account with a reading for `period` sent or on its way (whoever of
        the account's users sent it): a readings reminder for them has nothing to ask."""
        rows = await self.session.scalars(
            select(QueuedReading.meter_id).distinct()
            .where(QueuedReading.account_id == account_id, QueuedReading.period == period,
                   QueuedReading.status.in_((_QUEUED, _SENDING, OutboxStatus.ACCEPTED.value))))
        return set(rows)

    async def due(self, now: datetime, stale_before: datetime, limit: int) -> list[int]:
        """Ids worth an attempt now: queued ones whose time has come, and claims abandoned
        by a process that died (or hung) before `stale_before`."""
        rows = await self.session.scalars(
            select(QueuedReading.id)
            .where(or_(
                and_(QueuedReading.status == _QUEUED, QueuedReading.next_attempt_at <= now),
                and_(QueuedReading.status == _SENDING, QueuedReading.claimed_at < stale_before),
            ))
            .order_by(QueuedReading.next_attempt_at, QueuedReading.id)
            .limit(limit)
        )
        return list(rows)

    async def untold(self, limit: int) -> list[tuple[QueuedReading, str]]:
        """Answered (or given up) readings whose user has not been told, with the user's
        language."""
        rows = await self.session.execute(
            select(QueuedReading, User.language)
            .join(User, User.id == QueuedReading.user_id)
            .where(QueuedReading.notified.is_(False), QueuedReading.status.in_(_FINAL))
            .order_by(QueuedReading.id).limit(limit)
            .execution_options(populate_existing=True)
        )
        return [(row[0], row[1]) for row in rows.all()]

    # --- writing ------------------------------------------------------------------------

    async def add_once(self, item: QueuedReading) -> tuple[QueuedReading, bool]:
        """Store `item` unless its idempotency key is stored already: then the stored row
        (a double tap, or a confirmation delivered twice). Returns (row, created)."""
        existing = await self.by_key(item.idempotency_key)
        if existing is not None:
            return existing, False
        self.session.add(item)
        try:
            await self.session.commit()
        except IntegrityError:
            # Lost a race on the unique key: the winner's row is the reading.
            await self.session.rollback()
            await self.session.get(User, item.user_id, populate_existing=True)
            existing = await self.by_key(item.idempotency_key)
            if existing is None:
                raise
            return existing, False
        return item, True

    async def claim(self, item_id: int, now: datetime, stale_before: datetime,
                    *, queued_only: bool = False) -> str | None:
        """Take the row for one attempt: queued → sending, or a stale claim taken over.

        Compare-and-set: of two processes, exactly one UPDATE matches. Returns the claim
        token that the attempt's outcome must present, or None when the row was not free.
        """
        token = claim_token()
        free = QueuedReading.status == _QUEUED
        if not queued_only:
            free = or_(free, and_(QueuedReading.status == _SENDING,
                                  QueuedReading.claimed_at < stale_before))
        result = await self.session.execute(
            update(QueuedReading)
            .where(QueuedReading.id == item_id, free)
            .values(status=_SENDING, claim_token=token, claimed_at=now,
                    attempts=QueuedReading.attempts + 1, updated_at=now)
        )
        await self.session.commit()
        return token if _changed(result) == 1 else None

    async def _finish(self, item_id: int, token: str, **values: Any) -> bool:
        """Apply an attempt's outcome if the claim is still ours; False if another process
        took the row over meanwhile (its own attempt will tell the same story).

        When it applies, the row's object in this session (if loaded) gets the same values,
        so the caller has the row as it now is without reading it back."""
        values["claim_token"] = None
        result = await self.session.execute(
            update(QueuedReading)
            .where(QueuedReading.id == item_id, QueuedReading.status == _SENDING,
                   QueuedReading.claim_token == token)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        await self.session.commit()
        if _changed(result) != 1:
            return False
        item = self.session.identity_map.get(self.session.identity_key(QueuedReading, item_id))
        if isinstance(item, QueuedReading):
            for name, value in values.items():
                set_committed_value(item, name, value)
        return True

    async def accept(self, item_id: int, token: str, *, reference: str, billing_state: str,
                     accepted_at: datetime, now: datetime, notified: bool) -> bool:
        return await self._finish(
            item_id, token, status=OutboxStatus.ACCEPTED.value, reference=reference[:64],
            billing_state=billing_state, accepted_at=accepted_at, updated_at=now,
            notified=notified)

    async def reject(self, item_id: int, token: str, *, code: str, detail: str | None,
                     now: datetime, notified: bool) -> bool:
        return await self._finish(
            item_id, token, status=OutboxStatus.REJECTED.value, reject_code=code[:32],
            reject_detail=detail[:255] if detail else None, updated_at=now, notified=notified)

    async def release(self, item_id: int, token: str, *, next_attempt_at: datetime,
                      now: datetime) -> bool:
        """Back to the queue after a failed attempt, for another one at `next_attempt_at`."""
        return await self._finish(item_id, token, status=_QUEUED,
                                  next_attempt_at=next_attempt_at, updated_at=now)

    async def expire(self, created_before: datetime, stale_before: datetime,
                     now: datetime) -> int:
        """Give up on readings older than the outbox keeps trying: queued ones, and claims
        abandoned that long. Their users are told by the next notification round."""
        result = await self.session.execute(
            update(QueuedReading)
            .where(QueuedReading.created_at < created_before,
                   or_(QueuedReading.status == _QUEUED,
                       and_(QueuedReading.status == _SENDING,
                            QueuedReading.claimed_at < stale_before)))
            .values(status=OutboxStatus.FAILED.value, claim_token=None, updated_at=now)
        )
        await self.session.commit()
        return _changed(result)

    async def claim_notification(self, item_id: int) -> bool:
        """Take the duty of telling the user about a final row; exactly one caller gets
        True, so two instances never send the same news twice."""
        result = await self.session.execute(
            update(QueuedReading)
            .where(QueuedReading.id == item_id, QueuedReading.notified.is_(False),
                   QueuedReading.status.in_(_FINAL))
            .values(notified=True)
        )
        await self.session.commit()
        return _changed(result) == 1

    async def unclaim_notification(self, item_id: int) -> None:
        """The message could not go out for now (network, flood limit): try next round."""
        await self.session.execute(
            update(QueuedReading).where(QueuedReading.id == item_id).values(notified=False)
        )
        await self.session.commit()
