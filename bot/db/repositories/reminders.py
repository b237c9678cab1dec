"""SQL of the reminders: settings, preferences and the delivery outbox."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import User
from bot.db.models_accounts import LinkedAccount
from bot.db.models_reminders import ReminderDelivery, ReminderPrefs, ReminderSettingsRow

# A delivery key: (kind, user id, account id, period "YYYY-MM").
DeliveryKey = tuple[str, int, int, str]


@dataclass(frozen=True, slots=True)
class PlanRow:
    """One linked account of a registered user whose reminders are not paused."""

    user_id: int
    account_id: int
    supplier_code: str
    number: str  # for masked display by the operator's tools; never logged in full
    settings: ReminderSettingsRow | None  # None: the defaults
    timezone: str | None  # the user's choice; None: the supplier's zone


@dataclass(frozen=True, slots=True)
class ReadyDelivery:
    id: int
    kind: str
    user_id: int
    account_id: int
    period: str
    scheduled_at: datetime
    expires_at: datetime
    attempts: int
    reason: str | None
    user_paused: bool


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount or 0)


class ReminderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _insert(self) -> Any:
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        return pg_insert if dialect == "postgresql" else sqlite_insert

    # --- settings and preferences -----------------------------------------------------------

    async def settings_for(self, account_ids: Iterable[int]) -> dict[int, ReminderSettingsRow]:
        ids = list(account_ids)
        if not ids:
            return {}
        rows = await self.session.scalars(
            select(ReminderSettingsRow).where(ReminderSettingsRow.account_id.in_(ids)))
        return {row.account_id: row for row in rows}

    async def save_settings(self, account_id: int, values: dict[str, Any]) -> None:
        """Insert or replace the account's row; the account must exist (its FK says so)."""
        stmt = self._insert()(ReminderSettingsRow).values(account_id=account_id, **values)
        stmt = stmt.on_conflict_do_update(index_elements=[ReminderSettingsRow.account_id],
                                          set_=values)
        await self.session.execute(stmt)
        await self.session.commit()

    async def learn_due_day(self, account_id: int, due_day: int,
                            defaults: dict[str, Any]) -> None:
        """Keep the billing system's due day; creates the row with `defaults` if needed."""
        stmt = self._insert()(ReminderSettingsRow).values(
            account_id=account_id, **{**defaults, "due_day": due_day})
        stmt = stmt.on_conflict_do_update(index_elements=[ReminderSettingsRow.account_id],
                                          set_={"due_day": due_day})
        await self.session.execute(stmt)
        await self.session.commit()

    async def prefs(self, user_id: int) -> ReminderPrefs | None:
        return await self.session.get(ReminderPrefs, user_id)

    async def _upsert_prefs(self, user_id: int, values: dict[str, Any]) -> None:
        stmt = self._insert()(ReminderPrefs).values(user_id=user_id, **values)
        stmt = stmt.on_conflict_do_update(index_elements=[ReminderPrefs.user_id], set_=values)
        await self.session.execute(stmt)

    async def set_timezone(self, user_id: int, zone: str | None, at: datetime) -> None:
        await self._upsert_prefs(user_id, {"timezone": zone, "updated_at": at})
        await self.session.commit()

    async def pause_user(self, user_id: int, reason: str, at: datetime) -> int:
        """The user blocked the bot: nothing more is sent until they are back. Their pending
        rows are marked paused at once rather than each failing on its own 403; returns how
        many."""
        await self._upsert_prefs(user_id, {"paused_at": at, "paused_reason": reason,
                                           "updated_at": at})
        result = await self.session.execute(
            update(ReminderDelivery)
            .where(ReminderDelivery.user_id == user_id, ReminderDelivery.status == "pending")
            .values(status="paused", reason=reason, updated_at=at))
        await self.session.commit()
        return _rowcount(result)

    async def resume_user(self, user_id: int, at: datetime) -> bool:
        """Lift a pause; True when there was one."""
        result = await self.session.execute(
            update(ReminderPrefs)
            .where(ReminderPrefs.user_id == user_id, ReminderPrefs.paused_at.is_not(None))
            .values(paused_at=None, paused_reason=None, updated_at=at))
        await self.session.commit()
        return _rowcount(result) > 0

    # --- planning ---------------------------------------------------------------------------

    async def plan_rows(self, *, after_id: int = 0, limit: int | None = None
                        ) -> list[PlanRow]:
        """Accounts whose reminders may fire, by account id: those after `after_id`, at
        most `limit` of them (the planner reads them in batches to bound its memory)."""
        query = (
            select(LinkedAccount.user_id, LinkedAccount.id, LinkedAccount.supplier_code,
                   LinkedAccount.number, ReminderSettingsRow, ReminderPrefs.timezone)
            .join(User, User.id == LinkedAccount.user_id)
            .outerjoin(ReminderSettingsRow,
                       ReminderSettingsRow.account_id == LinkedAccount.id)
            .outerjoin(ReminderPrefs, ReminderPrefs.user_id == LinkedAccount.user_id)
            .where(User.registered_at.is_not(None), User.consent_at.is_not(None),
                   ReminderPrefs.paused_at.is_(None), LinkedAccount.id > after_id)
            .order_by(LinkedAccount.id)
        )
        if limit is not None:
            query = query.limit(limit)
        result = await self.session.execute(query)
        return [PlanRow(user_id, account_id, code, number, settings, zone)
                for user_id, account_id, code, number, settings, zone in result]

    async def statuses(self, keys: Sequence[DeliveryKey]) -> dict[DeliveryKey, str]:
        """The outbox status of each key that has a row."""
        found: dict[DeliveryKey, str] = {}
        if not keys:
            return found
        periods = sorted({key[3] for key in keys})
        wanted = set(keys)
        # Only the accounts asked about: a batch of the planner reads its own rows.
        accounts = ReminderDelivery.account_id.between(min(key[2] for key in keys),
                                                       max(key[2] for key in keys))
        # By period, then filtered here: a row-value IN list of thousands of tuples is slower
        # on SQLite than reading one or two months of keys.
        for start in range(0, len(periods), 50):
            rows = await self.session.execute(
                select(ReminderDelivery.kind, ReminderDelivery.user_id,
                       ReminderDelivery.account_id, ReminderDelivery.period,
                       ReminderDelivery.status)
                .where(ReminderDelivery.period.in_(periods[start:start + 50]), accounts))
            for kind, user_id, account_id, period, status in rows:
                key = (kind, user_id, account_id, period)
                if key in wanted:
                    found[key] = status
        return found

    async def enqueue(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert outbox rows; a key that exists already is left as it is."""
        if not rows:
            return
        for start in range(0, len(rows), 1000):
            stmt = self._insert()(ReminderDelivery).on_conflict_do_nothing(
                index_elements=["kind", "user_id", "account_id", "period"])
            await self.session.execute(stmt, list(rows[start:start + 1000]))
        await self.session.commit()

    # --- sending ----------------------------------------------------------------------------

    async def ready(self, now: datetime, limit: int,
                    exclude: Iterable[int] = ()) -> list[ReadyDelivery]:
        query = (
            select(ReminderDelivery.id, ReminderDelivery.kind, ReminderDelivery.user_id,
                   ReminderDelivery.account_id, ReminderDelivery.period,
                   ReminderDelivery.scheduled_at, ReminderDelivery.expires_at,
                   ReminderDelivery.attempts, ReminderDelivery.reason,
                   ReminderPrefs.paused_at)
            .outerjoin(ReminderPrefs, ReminderPrefs.user_id == ReminderDelivery.user_id)
            .where(ReminderDelivery.status == "pending",
                   ReminderDelivery.next_attempt_at <= now)
            .order_by(ReminderDelivery.next_attempt_at, ReminderDelivery.id)
            .limit(limit)
        )
        skip = list(exclude)
        if skip:
            query = query.where(ReminderDelivery.id.not_in(skip))
        result = await self.session.execute(query)
        return [ReadyDelivery(id_, kind, user_id, account_id, period, scheduled, expires,
                              attempts, reason, paused is not None)
                for (id_, kind, user_id, account_id, period, scheduled, expires, attempts,
                     reason, paused) in result]

    async def next_attempt_at(self) -> datetime | None:
        """When the earliest pending row becomes ready."""
        return await self.session.scalar(
            select(func.min(ReminderDelivery.next_attempt_at))
            .where(ReminderDelivery.status == "pending"))

    async def claim(self, delivery_id: int, worker: str, now: datetime) -> bool:
        """pending → sending, for one worker only: the compare-and-set that makes a row go out
        once whatever else runs."""
        result = await self.session.execute(
            update(ReminderDelivery)
            .where(ReminderDelivery.id == delivery_id, ReminderDelivery.status == "pending")
            .values(status="sending", claimed_by=worker, claimed_at=now, updated_at=now))
        await self.session.commit()
        return _rowcount(result) == 1

    async def finish(self, delivery_id: int, worker: str, status: str, now: datetime, *,
                     reason: str | None = None, message_id: int | None = None,
                     attempts: int | None = None) -> None:
        values: dict[str, Any] = {"status": status, "reason": reason, "updated_at": now}
        if status == "sent":
            values |= {"sent_at": now, "message_id": message_id}
        if attempts is not None:
            values["attempts"] = attempts
        await self.session.execute(
            update(ReminderDelivery)
            .where(ReminderDelivery.id == delivery_id, ReminderDelivery.claimed_by == worker)
            .values(**values))
        await self.session.commit()

    async def settle(self, delivery_id: int, status: str, reason: str | None,
                     now: datetime) -> None:
        """A pending row decided without sending (paused, expired, skipped)."""
        await self.session.execute(
            update(ReminderDelivery)
            .where(ReminderDelivery.id == delivery_id, ReminderDelivery.status == "pending")
            .values(status=status, reason=reason, updated_at=now))
        await self.session.commit()

    async def reschedule(self, delivery_id: int, worker: str, at: datetime, reason: str,
                         attempts: int, now: datetime, expires_at: datetime | None = None
                         ) -> None:
        """sending → pending again, to be tried at `at` (a 429, an error, a receipt not out)."""
        values: dict[str, Any] = {"status": "pending", "next_attempt_at": at, "reason": reason,
                                  "attempts": attempts, "claimed_by": None, "claimed_at": None,
                                  "updated_at": now}
        if expires_at is not None:
            values["expires_at"] = expires_at
        await self.session.execute(
            update(ReminderDelivery)
            .where(ReminderDelivery.id == delivery_id, ReminderDelivery.claimed_by == worker,
                   ReminderDelivery.status == "sending")
            .values(**values))
        await self.session.commit()

    async def recover_interrupted(self, claimed_before: datetime, now: datetime) -> int:
        """Rows left in `sending` by a process that died mid-request. Whether Telegram got the
        message is unknowable, so they are not sent again (never twice) but recorded."""
        result = await self.session.execute(
            update(ReminderDelivery)
            .where(ReminderDelivery.status == "sending",
                   ReminderDelivery.claimed_at < claimed_before)
            .values(status="failed", reason="interrupted", updated_at=now))
        await self.session.commit()
        return _rowcount(result)

    async def defer(self, delivery_id: int, at: datetime, reason: str, now: datetime,
                    expires_at: datetime | None = None, attempts: int | None = None) -> None:
        """A pending row to look at again at `at` (the receipt is not out yet)."""
        values: dict[str, Any] = {"next_attempt_at": at, "reason": reason, "updated_at": now}
        if expires_at is not None:
            values["expires_at"] = expires_at
        if attempts is not None:
            values["attempts"] = attempts
        await self.session.execute(
            update(ReminderDelivery)
            .where(ReminderDelivery.id == delivery_id, ReminderDelivery.status == "pending")
            .values(**values))
        await self.session.commit()

    async def subject(self, user_id: int, account_id: int
                      ) -> tuple[User, LinkedAccount, ReminderSettingsRow | None] | None:
        """Who and what a reminder is about; None when the account was unlinked meanwhile."""
        row = (await self.session.execute(
            select(User, LinkedAccount, ReminderSettingsRow)
            .join(LinkedAccount, LinkedAccount.user_id == User.id)
            .outerjoin(ReminderSettingsRow,
                       ReminderSettingsRow.account_id == LinkedAccount.id)
            .where(User.id == user_id, LinkedAccount.id == account_id))).first()
        return None if row is None else (row[0], row[1], row[2])

    async def for_user(self, user_id: int) -> list[ReminderDelivery]:
        rows = await self.session.scalars(
            select(ReminderDelivery).where(ReminderDelivery.user_id == user_id)
            .order_by(ReminderDelivery.id))
        return list(rows)


class DemoSeedRepository:
    """Bulk inserts of `python -m bot demo-seed`: registered users with linked demo accounts,
    for load tests and benchmarks. Rows that exist already are left alone."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _insert(self) -> Any:
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        return pg_insert if dialect == "postgresql" else sqlite_insert

    async def insert(self, users: Sequence[dict[str, Any]],
                     accounts: Sequence[dict[str, Any]]) -> tuple[int, int]:
        """Returns how many users and accounts there are in the id range afterwards."""
        for start in range(0, len(users), 1000):
            await self.session.execute(
                self._insert()(User).on_conflict_do_nothing(index_elements=[User.id]),
                list(users[start:start + 1000]))
        for start in range(0, len(accounts), 1000):
            # No conflict target: the unique index on accounts is an expression index.
            await self.session.execute(self._insert()(LinkedAccount).on_conflict_do_nothing(),
                                       list(accounts[start:start + 1000]))
        await self.session.commit()
        ids = [row["id"] for row in users]
        if not ids:
            return 0, 0
        low, high = min(ids), max(ids)
        user_count = await self.session.scalar(
            select(func.count()).select_from(User).where(User.id.between(low, high)))
        account_count = await self.session.scalar(
            select(func.count()).select_from(LinkedAccount)
            .where(LinkedAccount.user_id.between(low, high)))
        return int(user_count or 0), int(account_count or 0)
