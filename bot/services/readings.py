"""Meter readings: what a meter shows and accepts now, checking what the user typed, the
outbox that delivers a confirmed reading exactly once, the history and the chart's data.

The judging itself is `bot.services.readings_rules` (pure); this module feeds it with the
billing system's data and the clock, and owns the delivery:

* A confirmed reading is written to the outbox (with its idempotency key) and committed
  *before* the billing system is called. Then one attempt is made right away.
* An attempt claims the row (queued → sending, compare-and-set), calls the connector with
  the row's key and the row's own `created_at` as `submitted_at` (a retry must be the same
  request, byte for byte), and records the answer only if its claim still holds.
* Outages put the row back in the queue with exponential backoff and jitter; the worker
  (`bot.readings_outbox`) retries it. A claim older than `stale_after` belongs to a process
  that died: it is taken over with the same key, so the billing system answers with the
  reading it already has instead of recording a second one.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from bot.billing.base import BillingConnector
from bot.billing.errors import AccountNotFound, ReadingRejected, SupplierUnavailable
from bot.billing.models import (
    AccountRef,
    LastReading,
    Meter,
    Period,
    ReadingRecord,
    ReadingSource,
    ReadingState,
    ReadingSubmission,
)
from bot.context import AppContext
from bot.db.models_accounts import LinkedAccount
from bot.db.models_readings import OutboxStatus, QueuedReading
from bot.db.repositories.readings import OutboxRepository, claim_token
from bot.faults import crash_point
from bot.services.errors import DomainError
from bot.services.readings_rules import (
    Assessment,
    ReadingOutcome,
    WindowStatus,
    ZoneAssessment,
    assess,
    check_value,
    estimate_cost,
    parse_reading,
    resubmission_decision,
    window_status,
)
from bot.suppliers.accounts import mask_account
from bot.suppliers.models import ReadingsRules, Supplier

__all__ = [
    "DEFAULT_POLICY",
    "HISTORY_MONTHS",
    "Draft",
    "MeterOutlook",
    "OutboxPolicy",
    "OutboxSender",
    "ReadingsService",
    "SupplierGone",
    "join_values",
    "retry_delay",
    "split_values",
]

log = logging.getLogger(__name__)

HISTORY_MONTHS: Final = 12
# Months of charges searched for the latest tariff: a new account may lag a month or two.
_TARIFF_MONTHS: Final = 6


class SupplierGone(DomainError):
    """The account's supplier is no longer in the catalog (the operator disabled it)."""


def join_values(values: Sequence[Decimal]) -> str:
    return ";".join(format(value, "f") for value in values)


def split_values(text: str) -> tuple[Decimal, ...]:
    return tuple(Decimal(part) for part in text.split(";")) if text else ()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --- delivery policy ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutboxPolicy:
    """How patiently the outbox retries.

    `max_age` stays below the 24 hours the billing API promises to remember idempotency
    keys (docs/billing-api.yaml): a retry after that could be recorded as a new reading.
    `stale_after` is well above the longest attempt a connector makes (timeouts and its own
    retries), so a live process never has its claim taken over.
    """

    base_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(minutes=30)
    stale_after: timedelta = timedelta(minutes=5)
    max_age: timedelta = timedelta(hours=20)


DEFAULT_POLICY: Final = OutboxPolicy()


def retry_delay(attempts: int, policy: OutboxPolicy = DEFAULT_POLICY,
                rand: Callable[[], float] = random.random) -> timedelta:
    """The wait before the next attempt after `attempts` failed ones: doubling from
    `base_delay` up to `max_delay`, then a random half of it taken off ("equal jitter"),
    so that readings queued during one outage do not all hit the billing system at the
    same second when it comes back."""
    exponent = min(max(attempts, 1) - 1, 30)
    ceiling: timedelta = min(policy.base_delay * (2 ** exponent), policy.max_delay)
    return ceiling / 2 + ceiling / 2 * rand()


class OutboxSender:
    """One attempt at delivering one outbox row, for the chat and for the worker alike."""

    def __init__(self, session: AsyncSession, app: AppContext,
                 policy: OutboxPolicy = DEFAULT_POLICY,
                 rand: Callable[[], float] = random.random) -> None:
        self.repo = OutboxRepository(session)
        self.app = app
        self.policy = policy
        self.rand = rand

    def _now(self) -> datetime:
        return _aware(self.app.clock())

    async def attempt(self, item_id: int, *, queued_only: bool = False,
                      tell_now: bool = False) -> QueuedReading | None:
        """Claim the row and send it once. Returns the row as it is afterwards, or None when
        it was not free (another process has it, or it is answered already).

        `tell_now`: the caller shows the answer to the user itself, so a final answer is
        recorded as told in the same UPDATE (and the worker does not tell it again).
        """
        now = self._now()
        token = await self.repo.claim(item_id, now, now - self.policy.stale_after,
                                      queued_only=queued_only)
        if token is None:
            return None
        item = await self.repo.get(item_id)
        assert item is not None
        return await self.deliver(item, token, tell_now=tell_now)

    async def deliver(self, item: QueuedReading, token: str, *,
                      tell_now: bool = False) -> QueuedReading:
        """Send a row claimed with `token` to the billing system once and record the answer.
        Returns the row as it is afterwards."""
        ref = AccountRef(item.supplier_code, item.number, item.unit)
        submission = ReadingSubmission(
            meter_id=item.meter_id, values=split_values(item.values),
            idempotency_key=item.idempotency_key, submitted_at=item.created_at,
        )
        context = {"reading": item.id, "supplier": item.supplier_code,
                   "account": mask_account(item.number), "attempt": item.attempts}
        try:
            connector = self.app.billing.for_supplier(item.supplier_code)
            crash_point("reading.before_submit")
            ack = await connector.submit_reading(ref, submission)
        except ReadingRejected as exc:
            log.info("reading rejected by the billing system: %s", exc.code, extra=context)
            recorded = await self.repo.reject(item.id, token, code=exc.code, detail=exc.detail,
                                              now=self._now(), notified=tell_now)
        except (AccountNotFound, KeyError):
            # KeyError: the operator removed the supplier, or its billing URL, meanwhile.
            log.warning("reading for an account the billing system does not know",
                        extra=context)
            recorded = await self.repo.reject(item.id, token, code="account_not_found",
                                              detail=None, now=self._now(), notified=tell_now)
        except SupplierUnavailable:
            delay = retry_delay(item.attempts, self.policy, self.rand)
            log.info("billing unavailable, reading queued for %ds", delay.total_seconds(),
                     extra=context)
            recorded = await self.repo.release(item.id, token,
                                               next_attempt_at=self._now() + delay,
                                               now=self._now())
        except Exception:
            # Unknown is not "rejected": the reading may still go through, so it is retried
            # like after an outage (and given up at max_age), never silently dropped.
            delay = retry_delay(item.attempts, self.policy, self.rand)
            log.exception("reading submission failed unexpectedly", extra=context)
            recorded = await self.repo.release(item.id, token,
                                               next_attempt_at=self._now() + delay,
                                               now=self._now())
        else:
            crash_point("reading.after_submit")
            log.info("reading accepted by the billing system", extra=context)
            recorded = await self.repo.accept(
                item.id, token, reference=ack.reference, billing_state=ack.state.value,
                accepted_at=_aware(ack.accepted_at), now=self._now(), notified=tell_now)
        if recorded:
            return item  # the repository applied the outcome to it
        # Our claim went stale and another process took the row over: as it is now.
        fresh = await self.repo.get(item.id)
        assert fresh is not None
        return fresh


# --- the conversation's data -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MeterOutlook:
    """What the user needs to know before typing a reading, and how it will be judged."""

    supplier: Supplier
    meter: Meter  # `last` is the baseline: the reading before the one a new one replaces
    window: WindowStatus
    decision: Literal["new", "replace", "refuse"]
    existing: ReadingRecord | None  # the user's own reading of this period, if any
    in_flight: QueuedReading | None  # a reading of this meter still on its way

    @property
    def shown_last(self) -> LastReading | None:
        """The latest reading the billing system accepted, as the meter screen shows it."""
        if self.existing is not None and self.existing.state is ReadingState.ACCEPTED:
            return _last_of(self.existing)
        return self.meter.last


@dataclass(frozen=True, slots=True)
class Draft:
    """A reading the user has confirmed."""

    user_id: int
    account: LinkedAccount
    meter: Meter
    values: tuple[Decimal, ...]
    period: Period
    key: str


def new_key() -> str:
    return str(uuid.uuid4())


def _last_of(record: ReadingRecord) -> LastReading:
    return LastReading(values=record.values, taken_on=record.taken_on, source=record.source,
                       state=record.state)


class ReadingsService:
    def __init__(self, session: AsyncSession, app: AppContext) -> None:
        self.session = session
        self.app = app
        self.repo = OutboxRepository(session)

    # --- plumbing -----------------------------------------------------------------------

    def now(self) -> datetime:
        return _aware(self.app.clock())

    def supplier(self, account: LinkedAccount) -> Supplier:
        supplier = self.app.catalog.get(account.supplier_code)
        if supplier is None:
            raise SupplierGone(account.supplier_code)
        return supplier

    def _connector(self, account: LinkedAccount) -> BillingConnector:
        try:
            return self.app.billing.for_supplier(account.supplier_code)
        except KeyError as exc:
            raise SupplierGone(account.supplier_code) from exc

    @staticmethod
    def ref(account: LinkedAccount) -> AccountRef:
        return AccountRef(account.supplier_code, account.number, account.unit)

    def current_period(self, supplier: Supplier) -> Period:
        return Period.of(self.now().astimezone(supplier.zone).date())

    # --- before typing ------------------------------------------------------------------

    async def meters(self, account: LinkedAccount) -> list[Meter]:
        """Raises SupplierUnavailable, AccountNotFound, SupplierGone."""
        self.supplier(account)
        return await self._connector(account).get_meters(self.ref(account))

    async def outlook(self, user_id: int, account: LinkedAccount, meter: Meter) -> MeterOutlook:
        """The window, this period's reading and the baseline for `meter`.
        Raises SupplierUnavailable, AccountNotFound, SupplierGone."""
        supplier = self.supplier(account)
        window = window_status(self.now(), supplier)
        records = await self._connector(account).get_readings(
            self.ref(account), meter.id, window.period.shift(-HISTORY_MONTHS), window.period)
        existing = next(
            (r for r in reversed(records)
             if r.period == window.period and r.source is ReadingSource.SUBSCRIBER
             and r.state is not ReadingState.REJECTED),
            None,
        )
        decision = resubmission_decision(existing is not None, supplier.readings)
        baseline = meter.last
        if existing is not None:
            # A replacement is judged against the reading before the one it replaces.
            before = [r for r in records
                      if r is not existing and r.state is ReadingState.ACCEPTED
                      and r.period <= window.period]
            baseline = _last_of(before[-1]) if before else None
        in_flight = await self.repo.in_flight(user_id, account.id, meter.id)
        return MeterOutlook(supplier=supplier, meter=replace(meter, last=baseline),
                            window=window, decision=decision, existing=existing,
                            in_flight=in_flight)

    async def submitted(self, user_id: int, account: LinkedAccount,
                        meters: Sequence[Meter]) -> set[str]:
        """The ids of `meters` whose reading for this period the user has submitted or has on
        its way: the meter picker marks them. Empty when the billing system cannot tell now
        (a mark is a nicety, not worth failing over)."""
        done: set[str] = set()
        try:
            for meter in meters:
                outlook = await self.outlook(user_id, account, meter)
                if outlook.existing is not None or outlook.in_flight is not None:
                    done.add(meter.id)
        except (SupplierUnavailable, AccountNotFound, SupplierGone):
            return set()
        return done

    async def next_due(self, user_id: int, account: LinkedAccount,
                       done_meter_id: str) -> tuple[int, Meter] | None:
        """The account's next meter after `done_meter_id` (in the account's order, wrapping
        around) that still takes a reading this period: the window is open, and the user has
        neither submitted one nor has one on its way. With its position in the account's
        meter list. None when there is none, or the billing system cannot tell now: the
        offer is a nicety, not worth failing over."""
        try:
            meters = await self.meters(account)
            done = next((i for i, m in enumerate(meters) if m.id == done_meter_id), -1)
            for step in range(1, len(meters) + 1):
                index = (done + step) % len(meters)
                meter = meters[index]
                if meter.id == done_meter_id:
                    continue
                outlook = await self.outlook(user_id, account, meter)
                if (outlook.window.open and outlook.existing is None
                        and outlook.in_flight is None):
                    return index, meter
        except (SupplierUnavailable, AccountNotFound, SupplierGone):
            return None
        return None

    # --- typing -------------------------------------------------------------------------

    @staticmethod
    def read_value(text: str, meter: Meter, zone_index: int, rules: ReadingsRules,
                   lang: str = "ru") -> Decimal:
        """The value typed for one zone, by a user of `lang`. Raises ReadingInputError."""
        value = parse_reading(text, comma_groups=lang == "en")
        check_value(value, meter, zone_index, rules)
        return value

    @staticmethod
    def zone_rejection(value: Decimal, meter: Meter, zone_index: int,
                       rules: ReadingsRules) -> ZoneAssessment | None:
        """A zone's value that can be refused before the other zones are typed (lower than
        the previous reading, or zero where that is not allowed), so the user fixes it at
        once instead of after typing every zone."""
        last = meter.last
        single = replace(
            meter, zones=(meter.zones[zone_index],),
            last=None if last is None else replace(last, values=(last.values[zone_index],)),
        )
        # The consumption limit is about the whole reading: judged once all zones are in.
        lenient = rules.model_copy(update={"max_consumption": 10 ** (meter.capacity + 1)})
        verdict = assess((value,), single, lenient)
        if verdict.rejection in (ReadingOutcome.LESS_THAN_PREVIOUS, ReadingOutcome.ZERO):
            return verdict.zones[0]
        return None

    @staticmethod
    def assess(values: tuple[Decimal, ...], meter: Meter, rules: ReadingsRules,
               period: Period) -> Assessment:
        return assess(values, meter, rules, period=period)

    async def tariff(self, account: LinkedAccount) -> Decimal | None:
        """The price per m³ of the latest charge; None when unknown (no charges yet, or the
        billing system is down: the estimate is a nicety, not worth failing over)."""
        supplier = self.supplier(account)
        current = self.current_period(supplier)
        try:
            charges = await self._connector(account).get_charges(
                self.ref(account), current.shift(-_TARIFF_MONTHS), current)
        except (SupplierUnavailable, AccountNotFound):
            return None
        priced = [charge for charge in charges if charge.tariff > 0]
        return priced[-1].tariff if priced else None

    @staticmethod
    def cost(total: Decimal | None, tariff: Decimal | None) -> Decimal | None:
        if total is None or tariff is None:
            return None
        return estimate_cost(total, tariff)

    # --- submitting ---------------------------------------------------------------------

    async def submit(self, draft: Draft) -> QueuedReading:
        """Store the reading in the outbox, then try to deliver it at once.

        The same key twice (a double tap, a confirmation delivered again after a restart)
        finds the stored row instead of making a second one. The returned row's status says
        what happened: accepted or rejected (the caller tells the user; it is recorded as
        told), queued (the worker will retry and tell), sending (being sent by another
        process, which will tell), failed.
        """
        now = self.now()
        account = draft.account
        # Stored already claimed for the attempt that follows at once: one transaction
        # instead of an INSERT and then a claiming UPDATE. Should this process die before
        # the answer is recorded, the claim goes stale and the worker takes it over.
        token = claim_token()
        item = QueuedReading(
            user_id=draft.user_id, account_id=account.id, supplier_code=account.supplier_code,
            number=account.number, unit=account.unit, meter_id=draft.meter.id,
            meter_serial=draft.meter.serial[:64], zones=",".join(draft.meter.zones)[:128],
            values=join_values(draft.values), period=str(draft.period),
            idempotency_key=draft.key, status=OutboxStatus.SENDING.value, attempts=1,
            claim_token=token, claimed_at=now,
            next_attempt_at=now, notified=False, created_at=now, updated_at=now,
        )
        row, created = await self.repo.add_once(item)
        sender = OutboxSender(self.session, self.app)
        if created:
            return await sender.deliver(row, token, tell_now=True)
        if row.outbox_status is OutboxStatus.QUEUED:
            attempted = await sender.attempt(row.id, queued_only=True, tell_now=True)
            if attempted is not None:
                return attempted
        fresh = await self.repo.get(row.id)
        assert fresh is not None
        # The answer came in between (the worker had it): this reply tells it.
        if (fresh.outbox_status.final and not fresh.notified
                and await self.repo.claim_notification(fresh.id)):
            fresh.notified = True
        return fresh

    # --- afterwards ---------------------------------------------------------------------

    async def history(self, account: LinkedAccount, meter_id: str) -> list[ReadingRecord]:
        """The readings of the last HISTORY_MONTHS periods, newest first.
        Raises SupplierUnavailable, AccountNotFound, SupplierGone."""
        supplier = self.supplier(account)
        current = self.current_period(supplier)
        records = await self._connector(account).get_readings(
            self.ref(account), meter_id, current.shift(1 - HISTORY_MONTHS), current)
        return sorted(records, key=lambda r: (r.period, r.taken_on), reverse=True)

    @staticmethod
    def consumption_points(records: Sequence[ReadingRecord]) -> list[tuple[Period, Decimal]]:
        """Consumption per period for the chart: accepted readings only (a rejected one was
        never billed), all zones added up."""
        return [
            (record.period, sum(record.consumption, Decimal(0)))
            for record in records
            if record.state is not ReadingState.REJECTED and record.consumption
        ]
