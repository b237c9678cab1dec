"""Reminder settings for /reminders, and what is due when for the tick and the operators.

Other features use:
- `ReminderService.due_at(moment)` / `enqueue_due(moment)`: what the tick and
  `python -m bot reminders due|send-due --at` run;
- `ReminderService.turn_off(user_id, account_id, kind)`: the «turn off» button.
An account needs no call at linking: without a settings row it has the defaults (all on).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.context import AppContext
from bot.db.models_accounts import LinkedAccount
from bot.db.repositories.accounts import AccountRepository
from bot.db.repositories.reminders import DeliveryKey, PlanRow, ReminderRepository
from bot.reminders.models import (
    PAYMENT_DAYS_BEFORE_CHOICES,
    READINGS_DAYS_BEFORE_CHOICES,
    TIME_ZONES,
    DeliveryStatus,
    ReadingsAnchor,
    ReminderKind,
    ReminderSettings,
    settings_from_row,
    settings_values,
)
from bot.reminders.planner import AccountPlan, DueReminder, due_at, next_occurrence
from bot.services.accounts import AccountGone
from bot.services.errors import DomainError
from bot.suppliers.models import Catalog, ReadingWindow

__all__ = [
    "AccountReminders",
    "EnqueueResult",
    "InvalidChoice",
    "ReminderService",
    "account_plans",
]

# Accounts planned at once: the tick's memory and each of its database reads stay bounded
# (and other updates get the event loop between batches) whatever the number of accounts.
PLAN_BATCH = 2000


class InvalidChoice(DomainError):
    """A value no button offers: a forged or outdated callback."""


@dataclass(frozen=True, slots=True)
class AccountReminders:
    """One account's reminders as the /reminders screen shows them."""

    account: LinkedAccount
    settings: ReminderSettings
    zone: str  # the zone the reminders follow
    window: ReadingWindow | None  # None: the supplier is no longer in the catalog
    upcoming: dict[ReminderKind, datetime]  # the next moment of each kind that is on


@dataclass(frozen=True, slots=True)
class EnqueueResult:
    due: list[DueReminder]
    new: int  # rows written by this call; the others existed already
    statuses: dict[DeliveryKey, str]  # the outbox status of every due key afterwards

    @property
    def keys(self) -> list[DeliveryKey]:
        return [item.key for item in self.due]


def account_plans(rows: Iterable[PlanRow], catalog: Catalog) -> list[AccountPlan]:
    """What the planner needs of each account: the zone and the supplier's window."""
    plans = []
    zones: dict[str, ZoneInfo] = {}
    for row in rows:
        supplier = catalog.get(row.supplier_code)
        if supplier is None:
            continue  # the operator disabled the supplier: nothing to go by
        name = row.timezone or supplier.timezone
        zone = zones.get(name) or zones.setdefault(name, ZoneInfo(name))
        plans.append(AccountPlan(row.user_id, row.account_id, zone, supplier.readings.window,
                                 settings_from_row(row.settings)))
    return plans


class ReminderService:
    def __init__(self, session: AsyncSession, app: AppContext) -> None:
        self.repo = ReminderRepository(session)
        self.accounts = AccountRepository(session)
        self.app = app

    @property
    def grace(self) -> timedelta:
        return timedelta(hours=self.app.settings.reminders_grace_hours)

    # --- the user's settings ----------------------------------------------------------------

    async def timezone_choice(self, user_id: int) -> str | None:
        """The zone the user chose; None: each account follows its supplier's."""
        prefs = await self.repo.prefs(user_id)
        return prefs.timezone if prefs is not None else None

    async def paused(self, user_id: int) -> bool:
        prefs = await self.repo.prefs(user_id)
        return prefs is not None and prefs.paused_at is not None

    def _zone(self, account: LinkedAccount, chosen: str | None) -> tuple[str, ReadingWindow | None]:
        supplier = self.app.catalog.get(account.supplier_code)
        if supplier is None:
            return chosen or "Europe/Moscow", None
        return chosen or supplier.timezone, supplier.readings.window

    async def overview(self, user_id: int) -> list[AccountReminders]:
        accounts = await self.accounts.for_user(user_id)
        rows = await self.repo.settings_for(a.id for a in accounts)
        chosen = await self.timezone_choice(user_id)
        now = self.app.clock()
        result = []
        for account in accounts:
            settings = settings_from_row(rows.get(account.id))
            zone, window = self._zone(account, chosen)
            upcoming: dict[ReminderKind, datetime] = {}
            if window is not None:
                plan = AccountPlan(user_id, account.id, ZoneInfo(zone), window, settings)
                upcoming = {kind: next_occurrence(plan, kind, now).scheduled_at
                            for kind in ReminderKind if settings.enabled(kind)}
            result.append(AccountReminders(account, settings, zone, window, upcoming))
        return result

    async def for_account(self, user_id: int, account_id: int) -> AccountReminders:
        for entry in await self.overview(user_id):
            if entry.account.id == account_id:
                return entry
        raise AccountGone

    async def _update(self, user_id: int, account_id: int,
                      change: ReminderSettings) -> AccountReminders:
        await self.repo.save_settings(account_id, settings_values(change, self.app.clock()))
        return await self.for_account(user_id, account_id)

    async def _current(self, user_id: int, account_id: int) -> ReminderSettings:
        account = await self.accounts.get(user_id, account_id)
        if account is None:
            raise AccountGone
        return settings_from_row((await self.repo.settings_for([account_id])).get(account_id))

    async def set_enabled(self, user_id: int, account_id: int, kind: ReminderKind,
                          on: bool) -> AccountReminders:
        current = await self._current(user_id, account_id)
        return await self._update(user_id, account_id, current.switched(kind, on))

    async def toggle(self, user_id: int, account_id: int,
                     kind: ReminderKind) -> AccountReminders:
        current = await self._current(user_id, account_id)
        return await self._update(user_id, account_id,
                                  current.switched(kind, not current.enabled(kind)))

    async def turn_off(self, user_id: int, account_id: int, kind: ReminderKind) -> None:
        await self.set_enabled(user_id, account_id, kind, False)

    async def set_readings_day(self, user_id: int, account_id: int, anchor: ReadingsAnchor,
                               days_before: int) -> AccountReminders:
        if anchor is ReadingsAnchor.END and days_before not in READINGS_DAYS_BEFORE_CHOICES:
            raise InvalidChoice(str(days_before))
        current = await self._current(user_id, account_id)
        change = replace(current, readings_anchor=anchor, readings_on=True,
                         readings_days_before=(days_before if anchor is ReadingsAnchor.END
                                               else current.readings_days_before))
        return await self._update(user_id, account_id, change)

    async def set_payment_days(self, user_id: int, account_id: int,
                               days: int) -> AccountReminders:
        if days not in PAYMENT_DAYS_BEFORE_CHOICES:
            raise InvalidChoice(str(days))
        current = await self._current(user_id, account_id)
        return await self._update(user_id, account_id,
                                  replace(current, payment_days_before=days, payment_on=True))

    async def set_time(self, user_id: int, account_id: int, at: time) -> AccountReminders:
        current = await self._current(user_id, account_id)
        return await self._update(user_id, account_id,
                                  replace(current, time_of_day=at.replace(second=0,
                                                                          microsecond=0)))

    async def set_timezone(self, user_id: int, zone: str | None) -> None:
        if zone is not None and zone not in dict(TIME_ZONES):
            raise InvalidChoice(zone)
        await self.repo.set_timezone(user_id, zone, self.app.clock())

    async def pause(self, user_id: int, reason: str) -> None:
        await self.repo.pause_user(user_id, reason, self.app.clock())

    async def resume(self, user_id: int) -> bool:
        return await self.repo.resume_user(user_id, self.app.clock())

    # --- planning ---------------------------------------------------------------------------

    async def plan_batches(self, batch: int | None = None
                           ) -> AsyncIterator[tuple[list[PlanRow], list[AccountPlan]]]:
        """Every account whose reminders may fire, `batch` (PLAN_BATCH) at a time, by id."""
        batch = batch or PLAN_BATCH
        after = 0
        while True:
            rows = await self.repo.plan_rows(after_id=after, limit=batch)
            if not rows:
                return
            yield rows, account_plans(rows, self.app.catalog)
            if len(rows) < batch:
                return
            after = rows[-1].account_id

    async def due_at(self, moment: datetime) -> list[DueReminder]:
        """What is due at `moment` (see bot.reminders.planner)."""
        found: list[DueReminder] = []
        async for _rows, plans in self.plan_batches():
            found.extend(due_at(plans, moment, self.grace))
        found.sort(key=_planner_order)
        return found

    async def statuses(self, keys: list[DeliveryKey]) -> dict[DeliveryKey, str]:
        return await self.repo.statuses(keys)

    async def enqueue_due(self, moment: datetime, now: datetime | None = None
                          ) -> EnqueueResult:
        """Write an outbox row for everything due at `moment` that has none yet.

        `now` (the clock by default) starts the grace period of rows written late: an
        operator catching up after an outage gets them sent, not expired on arrival.
        Accounts are planned and written in batches (PLAN_BATCH)."""
        now = now if now is not None else self.app.clock()
        due: list[DueReminder] = []
        statuses: dict[DeliveryKey, str] = {}
        new = 0
        async for _rows, plans in self.plan_batches():
            batch = due_at(plans, moment, self.grace)
            if not batch:
                continue
            keys = [item.key for item in batch]
            existing = await self.repo.statuses(keys)
            fresh = [item for item in batch if item.key not in existing]
            await self.repo.enqueue([
                {
                    "kind": item.kind.value, "user_id": item.user_id,
                    "account_id": item.account_id, "period": str(item.period),
                    "scheduled_at": item.scheduled_at,
                    "expires_at": max(item.scheduled_at, now) + self.grace,
                    "status": DeliveryStatus.PENDING.value, "attempts": 0,
                    "next_attempt_at": now, "created_at": now, "updated_at": now,
                }
                for item in fresh
            ])
            written = await self.repo.statuses(keys) if fresh else existing
            new += sum(1 for item in fresh if item.key in written)
            statuses.update(written)
            due.extend(batch)
        due.sort(key=_planner_order)
        return EnqueueResult(due, new, statuses)


def _planner_order(item: DueReminder) -> tuple[datetime, int, int, str]:
    return item.scheduled_at, item.user_id, item.account_id, item.kind.value
