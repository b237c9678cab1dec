"""Counts for the admins' /stats: read-only aggregate queries across the features' tables.

Features that land later (the readings outbox, reminder deliveries) are counted only when
their table is part of the ORM metadata; until then their counters answer None ("not
available"), so /stats works at every stage of the project.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Base, User
from bot.db.models_accounts import LinkedAccount
from bot.db.models_support import SupportTicket, TicketStatus

# The tables of other features, found by name: a build without the feature (or a table
# without the expected columns) reports "not recorded" instead of failing.
READINGS_TABLE = "readings_outbox"  # one row per submitted reading (bot/db/models_readings.py)
READINGS_ACCEPTED = ("accepted",)
DELIVERIES_TABLE = "reminder_deliveries"  # one row per reminder (bot/db/models_reminders.py)
DELIVERIES_SENT = ("sent",)
DELIVERIES_FAILED = ("failed", "paused")  # paused: not delivered, the user blocked the bot


def _table(name: str, *columns: str) -> Table | None:
    table = Base.metadata.tables.get(name)
    if table is None or not all(column in table.c for column in columns):
        return None
    return table


class StatsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def registered_users(self) -> int:
        return int(await self.session.scalar(
            select(func.count()).select_from(User).where(
                User.registered_at.is_not(None), User.consent_at.is_not(None))
        ) or 0)

    async def accounts_per_supplier(self) -> dict[str, int]:
        rows = await self.session.execute(
            select(LinkedAccount.supplier_code, func.count())
            .group_by(LinkedAccount.supplier_code)
            .order_by(func.count().desc(), LinkedAccount.supplier_code)
        )
        return {code: int(count) for code, count in rows}

    async def open_tickets(self) -> int:
        return int(await self.session.scalar(
            select(func.count()).select_from(SupportTicket)
            .where(SupportTicket.status == TicketStatus.OPEN.value)
        ) or 0)

    async def readings_between(self, start: datetime, end: datetime
                               ) -> tuple[int, int] | None:
        """(submitted, accepted by the supplier) readings queued in [start, end); None while
        the readings outbox is not part of the build."""
        table = _table(READINGS_TABLE, "created_at", "status")
        if table is None:
            return None
        at, status = table.c["created_at"], table.c["status"]
        rows = await self.session.execute(
            select(status, func.count()).select_from(table)
            .where(at >= start, at < end).group_by(status)
        )
        counts = {str(value): int(count) for value, count in rows}
        return (sum(counts.values()),
                sum(counts.get(value, 0) for value in READINGS_ACCEPTED))

    async def reminder_deliveries_between(self, start: datetime, end: datetime
                                          ) -> tuple[int, int] | None:
        """(sent, failed) reminders scheduled in [start, end); None while reminders do not
        record their deliveries in this build."""
        table = _table(DELIVERIES_TABLE, "scheduled_at", "status")
        if table is None:
            return None
        at, status = table.c["scheduled_at"], table.c["status"]
        rows = await self.session.execute(
            select(status, func.count()).select_from(table)
            .where(at >= start, at < end).group_by(status)
        )
        counts = {str(value): int(count) for value, count in rows}
        return (sum(counts.get(value, 0) for value in DELIVERIES_SENT),
                sum(counts.get(value, 0) for value in DELIVERIES_FAILED))
