"""Numbers for the bot's admins (`/stats`, ADMIN_IDS): users, accounts, readings, reminders,
open tickets. Counters of features that are not there yet come back as None."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.billing.models import Period
from bot.context import AppContext
from bot.db.repositories.stats import StatsRepository


@dataclass(frozen=True, slots=True)
class SupplierCount:
    code: str
    name: str
    accounts: int


@dataclass(frozen=True, slots=True)
class Stats:
    period: Period  # the calendar month (UTC) the period counters cover
    registered_users: int
    accounts: tuple[SupplierCount, ...]  # most linked first
    readings: int | None  # submitted; None: the readings outbox is not part of this build
    readings_accepted: int | None
    reminders_sent: int | None  # None: reminder deliveries are not recorded in this build
    reminders_failed: int | None
    open_tickets: int

    @property
    def accounts_total(self) -> int:
        return sum(item.accounts for item in self.accounts)


class StatsService:
    def __init__(self, session: AsyncSession, app: AppContext) -> None:
        self.repo = StatsRepository(session)
        self.app = app

    def is_admin(self, user_id: int) -> bool:
        return user_id in self.app.settings.admin_ids

    async def collect(self, lang: str) -> Stats:
        now = self.app.clock().astimezone(UTC)
        period = Period(now.year, now.month)
        start = datetime(period.year, period.month, 1, tzinfo=UTC)
        following = period.shift(1)
        end = datetime(following.year, following.month, 1, tzinfo=UTC)
        accounts = []
        for code, count in (await self.repo.accounts_per_supplier()).items():
            supplier = self.app.catalog.get(code)
            accounts.append(SupplierCount(code, supplier.display_name(lang) if supplier else code,
                                          count))
        deliveries = await self.repo.reminder_deliveries_between(start, end)
        readings = await self.repo.readings_between(start, end)
        return Stats(
            period=period,
            registered_users=await self.repo.registered_users(),
            accounts=tuple(accounts),
            readings=readings[0] if readings else None,
            readings_accepted=readings[1] if readings else None,
            reminders_sent=deliveries[0] if deliveries else None,
            reminders_failed=deliveries[1] if deliveries else None,
            open_tickets=await self.repo.open_tickets(),
        )
