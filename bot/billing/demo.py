"""The demo billing system: a `BillingConnector` over tables in the bot's own database.

It behaves like a supplier's billing would, so the bot can be built, tested and shown without
one: each supplier of the catalog gets a few accounts with two years of history (see
`demo_data`), seeded the first time the supplier is asked about, and billed month by month
as the clock moves on. Readings are validated by the supplier's catalog rules in its time zone.

Test hooks: `outage = True` makes every billing call raise `SupplierUnavailable`; `delay`
slows every call down; `calls` counts them per method; `readings_inserted` and
`count_readings()` count readings really recorded (for exactly-once tests);
`demo_accounts()` lists the accounts with the proofs that link them.
"""

from __future__ import annotations

import asyncio
import hmac
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any, Final, cast

from sqlalchemy import CursorResult, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.billing.demo_data import (
    GENERATOR_VERSION,
    AccountParams,
    AccountSeed,
    Kind,
    MeterMonth,
    Profile,
    close_period,
    due_date,
    full_address,
    generate_supplier,
    mask_address,
    mask_owner,
    meter_consumption,
    normalize_surname,
)
from bot.billing.demo_models import (
    DemoAccount,
    DemoBalance,
    DemoCharge,
    DemoMeter,
    DemoPayment,
    DemoReading,
    DemoReadingRejection,
    DemoSupplierState,
)
from bot.billing.errors import (
    AccountNotFound,
    ProofRejected,
    ReadingRejected,
    ReceiptNotAvailable,
    SupplierUnavailable,
)
from bot.billing.models import (
    AccountDetails,
    AccountInfo,
    AccountRef,
    Balance,
    Charge,
    Equipment,
    LastReading,
    Meter,
    Payment,
    PaymentChannel,
    Period,
    Proof,
    ReadingAck,
    ReadingRecord,
    ReadingSource,
    ReadingState,
    ReadingSubmission,
    ReceiptData,
    ReceiptMeterLine,
)
from bot.db.engine import read_only_sessions
from bot.lru import LruCache
from bot.suppliers.models import (
    Catalog,
    ConnectorKind,
    OverMax,
    ProofKind,
    Resubmission,
    Supplier,
)

__all__ = ["DemoAccountEntry", "DemoBillingConnector"]

ZERO: Final = Decimal("0.00")
# Retries of a submission that lost a race on a unique key: the next attempt sees the winner.
_SUBMIT_ATTEMPTS: Final = 3
_CONFLICT: Final = "idempotency key already used for another reading"
_KEY_MAX: Final = 128  # as the billing API allows (docs/billing-api.yaml)
_CACHED: Final = 2_000  # accounts (and their meters) kept in memory


@dataclass(frozen=True, slots=True)
class DemoAccountEntry:
    """A demo account as testers and support see it: how to find it and prove ownership."""

    supplier_code: str
    supplier_name: str
    unit_code: str | None
    unit_name: str | None
    number: str
    kind: str  # what it demonstrates, see demo_data.Kind
    pin: str | None  # only where the supplier accepts a PIN
    surname: str | None  # only where the supplier accepts surname + last payment
    last_payment: Decimal | None  # ditto; 0 when nothing was paid this calendar year
    balance_due: Decimal  # the current period's closing balance; negative = overpayment
    meters: tuple[Meter, ...]

    @property
    def ref(self) -> AccountRef:
        return AccountRef(self.supplier_code, self.number, self.unit_code)

    @property
    def proofs(self) -> tuple[Proof, ...]:
        """Every proof that links this account, in the supplier's order of preference."""
        found: list[Proof] = []
        if self.pin is not None:
            found.append(Proof(ProofKind.PIN, pin=self.pin))
        if self.surname is not None and self.last_payment is not None:
            found.append(Proof(ProofKind.SURNAME_PAYMENT, surname=self.surname,
                               last_payment=self.last_payment))
        return tuple(found)


def _join(values: Iterable[Decimal]) -> str:
    return ";".join(format(value, "f") for value in values)


def _split(text: str) -> tuple[Decimal, ...]:
    return tuple(Decimal(part) for part in text.split(";")) if text else ()


def _canonical(values: Iterable[Decimal]) -> str:
    """The same text for equal numbers (12 and 12.000), for telling a retry from a conflict."""
    return ";".join(
        format(value.normalize(), "f") if value.is_finite() else str(value) for value in values
    )


def _order(reading: DemoReading) -> tuple[str, date, int]:
    return reading.period, reading.taken_on, reading.id


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class DemoBillingConnector:
    """`BillingConnector` of the embedded demo billing system (see the module docstring)."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], catalog: Catalog,
                 clock: Callable[[], datetime]) -> None:
        self.session_factory = session_factory
        # The protocol's lookups only read (writes: readings, and seeding in `_ensure`).
        self.read_sessions = read_only_sessions(session_factory)
        self.catalog = catalog
        self.clock = clock
        self.outage = False
        self.delay = 0.0
        self.calls: Counter[str] = Counter()
        self.readings_inserted = 0
        # Supplier code → the period it was last found billed up to, to skip the check.
        self._ready: dict[str, Period] = {}
        self._seeding = asyncio.Lock()
        # Accounts and meters never change once seeded (readings, charges, payments and
        # balances do, and are always read): most calls would otherwise spend a statement
        # or two finding them again. Detached rows, the most recently used kept.
        self._accounts: LruCache[tuple[str, str, str], DemoAccount] = LruCache(_CACHED)
        self._meters_of: LruCache[int, tuple[DemoMeter, ...]] = LruCache(_CACHED)

    # --- the BillingConnector protocol -----------------------------------------------

    async def find_account(self, ref: AccountRef) -> AccountInfo:
        supplier = await self._enter("find_account", ref)
        async with self.read_sessions() as session:
            account = await self._account(session, supplier, ref)
            has_meters = await session.scalar(
                select(func.count()).select_from(DemoMeter)
                .where(DemoMeter.account_id == account.id)
            )
        return AccountInfo(
            ref=self._ref(supplier, account),
            owner_masked=mask_owner(account.surname, account.first_name, account.patronymic),
            address_masked=mask_address(account.locality, account.street, account.house,
                                        account.flat),
            has_meters=bool(has_meters),
        )

    async def verify_ownership(self, ref: AccountRef, proof: Proof) -> None:
        supplier = await self._enter("verify_ownership", ref)
        async with self.read_sessions() as session:
            account = await self._account(session, supplier, ref)
            if not supplier.accepts(proof.kind):
                raise ProofRejected(attempts_left=None)
            if proof.kind is ProofKind.PIN:
                # Bytes: compare_digest refuses non-ASCII text, and a PIN typed with other
                # scripts' digits must simply not match.
                matches = (
                    account.pin is not None
                    and proof.pin is not None
                    and hmac.compare_digest(proof.pin.strip().encode(), account.pin.encode())
                )
            else:
                expected = await self._last_payment(session, account, self._today(supplier))
                matches = (
                    proof.surname is not None
                    and normalize_surname(proof.surname) == normalize_surname(account.surname)
                    and proof.last_payment is not None
                    and proof.last_payment.is_finite()
                    and proof.last_payment == expected
                )
        if not matches:
            # The bot counts attempts itself; this system sets no limit.
            raise ProofRejected(attempts_left=None)

    async def get_balance(self, ref: AccountRef, period: Period | None = None) -> Balance:
        supplier = await self._enter("get_balance", ref)
        wanted = period or Period.of(self._today(supplier))
        async with self.read_sessions() as session:
            account = await self._account(session, supplier, ref)
            return await self._balance(session, supplier, account, wanted)

    async def get_payments(self, ref: AccountRef, year: int) -> list[Payment]:
        """The payments of a calendar year, oldest first."""
        supplier = await self._enter("get_payments", ref)
        async with self.read_sessions() as session:
            account = await self._account(session, supplier, ref)
            rows = await session.scalars(
                select(DemoPayment)
                .where(DemoPayment.account_id == account.id,
                       DemoPayment.paid_on >= date(year, 1, 1),
                       DemoPayment.paid_on <= date(year, 12, 31))
                .order_by(DemoPayment.paid_on, DemoPayment.id)
            )
            return [_payment(row) for row in rows]

    async def get_charges(self, ref: AccountRef, start: Period, end: Period) -> list[Charge]:
        supplier = await self._enter("get_charges", ref)
        async with self.read_sessions() as session:
            account = await self._account(session, supplier, ref)
            return await self._charges(session, account, start, end)

    async def get_account_details(self, ref: AccountRef) -> AccountDetails:
        supplier = await self._enter("get_account_details", ref)
        async with self.read_sessions() as session:
            account = await self._account(session, supplier, ref)
        return AccountDetails(
            owner_name=f"{account.surname} {account.first_name} {account.patronymic}",
            address=full_address(account.locality, account.street, account.house, account.flat),
            residents=account.residents,
            heated_area=account.heated_area,
            equipment=tuple(Equipment(item) for item in account.equipment.split(",") if item),
        )

    async def get_meters(self, ref: AccountRef) -> list[Meter]:
        supplier = await self._enter("get_meters", ref)
        async with self.read_sessions() as session:
            account = await self._account(session, supplier, ref)
            return await self._meters(session, account)

    async def submit_reading(self, ref: AccountRef, submission: ReadingSubmission) -> ReadingAck:
        """Records a reading for the current period (the supplier's clock and time zone)."""
        supplier = await self._enter("submit_reading", ref)
        if not 1 <= len(submission.idempotency_key) <= _KEY_MAX:
            raise ReadingRejected("invalid", f"idempotency key of 1-{_KEY_MAX} characters")
        for _ in range(_SUBMIT_ATTEMPTS):
            try:
                return await self._submit(supplier, ref, submission)
            except IntegrityError:
                # A concurrent request took the same key or the period's slot: look again.
                continue
        raise SupplierUnavailable("demo billing: the reading could not be recorded")

    async def get_readings(self, ref: AccountRef, meter_id: str, start: Period,
                           end: Period) -> list[ReadingRecord]:
        """Oldest first, every source and state; replaced readings are left out. An unknown
        meter has no readings."""
        supplier = await self._enter("get_readings", ref)
        async with self.read_sessions() as session:
            account = await self._account(session, supplier, ref)
            meter = await self._meter(session, account, meter_id)
            if meter is None:
                return []
            rows = await session.scalars(
                select(DemoReading)
                .where(DemoReading.meter_id == meter.id, DemoReading.superseded.is_(False),
                       DemoReading.period >= str(start), DemoReading.period <= str(end))
                .order_by(DemoReading.period, DemoReading.taken_on, DemoReading.id)
            )
            return [_record(meter.code, row) for row in rows]

    async def get_receipt(self, ref: AccountRef, period: Period) -> ReceiptData:
        supplier = await self._enter("get_receipt", ref)
        async with self.read_sessions() as session:
            account = await self._account(session, supplier, ref)
            row = await session.scalar(
                select(DemoBalance).where(DemoBalance.account_id == account.id,
                                          DemoBalance.period == str(period))
            )
            if row is None:
                raise ReceiptNotAvailable(f"no receipt for {period}")
            charges = await self._charges(session, account, period, period)
            payments = await session.scalars(
                select(DemoPayment)
                .where(DemoPayment.account_id == account.id, DemoPayment.period == str(period))
                .order_by(DemoPayment.paid_on, DemoPayment.id)
            )
            lines: list[ReceiptMeterLine] = []
            for meter in await self._meter_rows(session, account):
                live = await self._live_readings(session, meter.id)
                previous = _last_accepted(live, before=str(period))
                current = _last_accepted(live, within=str(period))
                if previous is None and current is None:
                    continue
                before = _split((previous or current or live[0]).reading)
                after = _split(current.reading) if current is not None else before
                for zone, old, new in zip(meter.zones.split(","), before, after, strict=True):
                    lines.append(ReceiptMeterLine(
                        serial=meter.serial, zone=zone, previous=old, current=new,
                        consumption=meter_consumption(old, new, meter.capacity),
                        check_date=meter.check_date,
                    ))
            return ReceiptData(
                ref=self._ref(supplier, account),
                period=period,
                payer_name=f"{account.surname} {account.first_name} {account.patronymic}",
                address=full_address(account.locality, account.street, account.house,
                                     account.flat),
                residents=account.residents,
                heated_area=account.heated_area,
                balance=_balance(row),
                charges=tuple(charges),
                payments=tuple(_payment(payment) for payment in payments),
                meters=tuple(lines),
            )

    async def list_receipt_periods(self, ref: AccountRef) -> list[Period]:
        supplier = await self._enter("list_receipt_periods", ref)
        async with self.read_sessions() as session:
            account = await self._account(session, supplier, ref)
            periods = await session.scalars(
                select(DemoBalance.period).where(DemoBalance.account_id == account.id)
                .order_by(DemoBalance.period.desc())
            )
            return [Period.parse(text) for text in periods]

    async def close(self) -> None:
        # Sessions are opened per call; the engine belongs to the application.
        self._ready.clear()

    # --- tools and test hooks (not affected by `outage`) ---------------------------------

    async def prepare(self, codes: Iterable[str] | None = None) -> None:
        """Seed, or bill up to the current period, the given suppliers (default: every
        supplier of the catalog served by the demo connector)."""
        for supplier in self._suppliers(codes):
            await self._ensure(supplier)

    async def demo_accounts(self, codes: Iterable[str] | None = None) -> list[DemoAccountEntry]:
        """Every demo account, in catalog order, with what proves its ownership."""
        entries: list[DemoAccountEntry] = []
        for supplier in self._suppliers(codes):
            await self._ensure(supplier)
            today = self._today(supplier)
            surname_proof = supplier.accepts(ProofKind.SURNAME_PAYMENT)
            async with self.session_factory() as session:
                accounts = await session.scalars(
                    select(DemoAccount).where(DemoAccount.supplier_code == supplier.code)
                    .order_by(DemoAccount.id)
                )
                for account in accounts:
                    unit = supplier.unit(account.unit_code) if account.unit_code else None
                    balance = await self._balance(session, supplier, account, Period.of(today))
                    entries.append(DemoAccountEntry(
                        supplier_code=supplier.code,
                        supplier_name=supplier.name.ru,
                        unit_code=account.unit_code or None,
                        unit_name=unit.name.ru if unit is not None else None,
                        number=account.number,
                        kind=account.kind,
                        pin=account.pin if supplier.accepts(ProofKind.PIN) else None,
                        surname=account.surname if surname_proof else None,
                        last_payment=(await self._last_payment(session, account, today)
                                      if surname_proof else None),
                        balance_due=balance.closing,
                        meters=tuple(await self._meters(session, account)),
                    ))
        return entries

    async def count_readings(self, idempotency_key: str | None = None, *,
                             meter_id: str | None = None) -> int:
        """Readings stored (replaced ones included) with this key and/or on this meter."""
        query = select(func.count()).select_from(DemoReading)
        if idempotency_key is not None:
            query = query.where(DemoReading.idempotency_key == idempotency_key)
        if meter_id is not None:
            query = query.join(DemoMeter, DemoMeter.id == DemoReading.meter_id).where(
                DemoMeter.code == meter_id)
        async with self.session_factory() as session:
            return int(await session.scalar(query) or 0)

    # --- plumbing ------------------------------------------------------------------------

    async def _enter(self, method: str, ref: AccountRef) -> Supplier:
        self.calls[method] += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.outage:
            raise SupplierUnavailable("demo billing: simulated outage")
        supplier = self.catalog.get(ref.supplier_code)
        if supplier is None:
            raise AccountNotFound(f"unknown supplier {ref.supplier_code}")
        await self._ensure(supplier)
        return supplier

    def _suppliers(self, codes: Iterable[str] | None) -> list[Supplier]:
        if codes is None:
            return [s for s in self.catalog if s.connector is ConnectorKind.DEMO]
        found = []
        for code in codes:
            supplier = self.catalog.get(code)
            if supplier is None:
                raise KeyError(code)
            found.append(supplier)
        return found

    def _now(self) -> datetime:
        return _aware(self.clock())

    def _today(self, supplier: Supplier) -> date:
        return self._now().astimezone(supplier.zone).date()

    def _ref(self, supplier: Supplier, account: DemoAccount) -> AccountRef:
        return AccountRef(supplier.code, account.number, account.unit_code or None)

    async def _account(self, session: AsyncSession, supplier: Supplier,
                       ref: AccountRef) -> DemoAccount:
        unit_code = ""
        if supplier.units:
            # The unit is part of the number's identity there; its name is accepted too.
            unit = ref.unit and (supplier.unit(ref.unit) or next(
                (u for u in supplier.units if ref.unit in (u.name.ru, u.name.en)), None))
            if not unit:
                raise AccountNotFound("a management unit is required")
            unit_code = unit.code
        key = (supplier.code, unit_code, supplier.account.normalize(ref.number))
        account = self._accounts.get(key)
        if account is not None:
            return account
        account = await session.scalar(
            select(DemoAccount).where(
                DemoAccount.supplier_code == key[0],
                DemoAccount.unit_code == key[1],
                DemoAccount.number == key[2],
            )
        )
        if account is None:
            raise AccountNotFound(f"no account {supplier.mask_account(ref.number)}")
        session.expunge(account)
        self._accounts.put(key, account)
        return account

    async def _meter_rows(self, session: AsyncSession, account: DemoAccount
                          ) -> tuple[DemoMeter, ...]:
        cached = self._meters_of.get(account.id)
        if cached is not None:
            return cached
        rows = tuple(await session.scalars(
            select(DemoMeter).where(DemoMeter.account_id == account.id)
            .order_by(DemoMeter.position)
        ))
        for row in rows:
            session.expunge(row)
        self._meters_of.put(account.id, rows)
        return rows

    async def _meter(self, session: AsyncSession, account: DemoAccount,
                     code: str) -> DemoMeter | None:
        return next((m for m in await self._meter_rows(session, account) if m.code == code),
                    None)

    async def _live_readings(self, session: AsyncSession, meter_id: int) -> list[DemoReading]:
        rows = await session.scalars(
            select(DemoReading).where(DemoReading.meter_id == meter_id,
                                      DemoReading.superseded.is_(False))
        )
        return sorted(rows, key=_order)

    async def _last_accepted_reading(self, session: AsyncSession, meter_id: int
                                     ) -> DemoReading | None:
        """`_last_accepted` of the live readings, asked of the database: the meter list
        needs only the last one, not the whole history."""
        return await session.scalar(
            select(DemoReading).where(DemoReading.meter_id == meter_id,
                                      DemoReading.superseded.is_(False),
                                      DemoReading.state == ReadingState.ACCEPTED.value)
            .order_by(DemoReading.period.desc(), DemoReading.taken_on.desc(),
                      DemoReading.id.desc())
            .limit(1))

    async def _meters(self, session: AsyncSession, account: DemoAccount) -> list[Meter]:
        meters = []
        for row in await self._meter_rows(session, account):
            last = await self._last_accepted_reading(session, row.id)
            meters.append(Meter(
                id=row.code,
                serial=row.serial,
                zones=tuple(row.zones.split(",")),
                capacity=row.capacity,
                decimals=row.decimals,
                check_date=row.check_date,
                last=None if last is None else LastReading(
                    values=_split(last.reading), taken_on=last.taken_on,
                    source=ReadingSource(last.source), state=ReadingState(last.state),
                ),
            ))
        return meters

    async def _charges(self, session: AsyncSession, account: DemoAccount, start: Period,
                       end: Period) -> list[Charge]:
        rows = await session.scalars(
            select(DemoCharge)
            .where(DemoCharge.account_id == account.id, DemoCharge.period >= str(start),
                   DemoCharge.period <= str(end))
            .order_by(DemoCharge.period, DemoCharge.id)
        )
        return [
            Charge(period=Period.parse(row.period), service=row.service, volume=row.volume,
                   unit=row.unit, tariff=row.tariff, amount=row.amount,
                   recalculation=row.recalculation)
            for row in rows
        ]

    async def _last_payment(self, session: AsyncSession, account: DemoAccount,
                            today: date) -> Decimal:
        """The amount of the last payment this calendar year, 0 when there was none."""
        amount = await session.scalar(
            select(DemoPayment.amount)
            .where(DemoPayment.account_id == account.id,
                   DemoPayment.paid_on >= date(today.year, 1, 1), DemoPayment.paid_on <= today)
            .order_by(DemoPayment.paid_on.desc(), DemoPayment.id.desc())
            .limit(1)
        )
        return amount if amount is not None else ZERO

    async def _balance(self, session: AsyncSession, supplier: Supplier, account: DemoAccount,
                       period: Period) -> Balance:
        # Every billed period at once (a few dozen rows): the open period, the usual
        # question, has no row and needs them all anyway.
        billed = list(await session.scalars(
            select(DemoBalance).where(DemoBalance.account_id == account.id)
            .order_by(DemoBalance.period)
        ))
        row = next((b for b in billed if b.period == str(period)), None)
        if row is not None:
            return _balance(row)
        if billed and str(period) < billed[0].period:
            # Before the history: nothing happened, the first opening balance stood.
            opening = billed[0].opening
            return Balance(period, opening, ZERO, ZERO, ZERO, opening, None)
        # The open period (the one the next receipt is for), or one after it: what was
        # carried over, less what has been paid in the period.
        opening = billed[-1].closing if billed else ZERO
        paid = sum(
            await session.scalars(
                select(DemoPayment.amount).where(DemoPayment.account_id == account.id,
                                                 DemoPayment.period == str(period))
            ),
            ZERO,
        )
        closing = opening - paid
        due = due_date(supplier.code, Period.parse(billed[-1].period)) if billed else None
        return Balance(period, opening, ZERO, ZERO, paid, closing,
                       due if closing > 0 else None)

    # --- readings ------------------------------------------------------------------------

    async def _submit(self, supplier: Supplier, ref: AccountRef,
                      submission: ReadingSubmission) -> ReadingAck:
        now = self._now()
        today = self._today(supplier)
        period = str(Period.of(today))
        key = submission.idempotency_key
        values = tuple(submission.values)
        async with self.session_factory() as session:
            account = await self._account(session, supplier, ref)
            replayed = await self._replay(session, account, submission)
            if replayed is not None:
                return replayed
            try:
                meter, accepted, consumption, replaced = await self._check(
                    session, supplier, account, submission.meter_id, values, today)
            except ReadingRejected as exc:
                # A duplicate delivery racing the first one sees its reading only now (as
                # "already submitted"): the first answer is the one to give.
                replayed = await self._replay(session, account, submission)
                if replayed is not None:
                    return replayed
                # Kept so that a retry with the same key gets the same answer.
                session.add(DemoReadingRejection(
                    idempotency_key=key, account_id=account.id,
                    meter_code=submission.meter_id[:64], reading=_canonical(values)[:256],
                    code=exc.code, detail=exc.detail, at=now,
                ))
                await session.commit()
                raise
            if replaced is not None:
                await session.execute(
                    update(DemoReading)
                    .where(DemoReading.id == replaced.id, DemoReading.active_period == period)
                    .values(active_period=None, superseded=True)
                )
            row = DemoReading(
                meter_id=meter.id, period=period, taken_on=today, reading=_join(accepted),
                consumption=_join(consumption), source=ReadingSource.SUBSCRIBER.value,
                state=ReadingState.ACCEPTED.value, superseded=False, active_period=period,
                idempotency_key=key, submitted_at=_aware(submission.submitted_at),
                accepted_at=now,
            )
            session.add(row)
            await session.flush()
            row.reference = f"R-{supplier.code}-{row.id:06d}"
            await session.commit()
        self.readings_inserted += 1
        return _ack(row)

    async def _replay(self, session: AsyncSession, account: DemoAccount,
                      submission: ReadingSubmission) -> ReadingAck | None:
        """The answer already given to this idempotency key: an ack, or the same refusal
        raised again; None for a new key."""
        key = submission.idempotency_key
        canonical = _canonical(submission.values)
        recorded = await session.scalar(
            select(DemoReading).where(DemoReading.idempotency_key == key))
        if recorded is not None:
            meter = await session.get(DemoMeter, recorded.meter_id)
            if (meter is None or meter.account_id != account.id
                    or meter.code != submission.meter_id
                    or _canonical(_split(recorded.reading)) != canonical):
                raise ReadingRejected("invalid", _CONFLICT)
            return _ack(recorded)
        refused = await session.get(DemoReadingRejection, key)
        if refused is not None:
            if (refused.account_id != account.id or refused.meter_code != submission.meter_id
                    or refused.reading != canonical[:256]):
                raise ReadingRejected("invalid", _CONFLICT)
            raise ReadingRejected(refused.code, refused.detail)
        return None

    async def _check(
        self, session: AsyncSession, supplier: Supplier, account: DemoAccount, meter_code: str,
        values: tuple[Decimal, ...], today: date,
    ) -> tuple[DemoMeter, tuple[Decimal, ...], tuple[Decimal, ...], DemoReading | None]:
        """Validates like a billing system: returns the meter, the values as recorded, the
        consumption since the previous reading and the reading this one replaces."""
        rules = supplier.readings
        meter = await self._meter(session, account, meter_code)
        if meter is None:
            raise ReadingRejected("meter_not_found")
        zones = meter.zones.split(",")
        if len(values) != len(zones):
            raise ReadingRejected("invalid", f"{len(zones)} value(s) expected")
        if any(not value.is_finite() or value < 0 for value in values):
            raise ReadingRejected("invalid", "not a reading")
        if not rules.window.is_open(today):
            start, end = rules.window.bounds(today.year, today.month)
            raise ReadingRejected("out_of_window", f"{start.day}-{end.day}")
        span = Decimal(10) ** meter.capacity
        if any(value >= span for value in values):
            raise ReadingRejected("too_many_digits", f"{meter.capacity} integer digits")
        step = Decimal(1).scaleb(-min(rules.decimals, meter.decimals))
        if any(value.quantize(step, ROUND_DOWN) != value for value in values):
            raise ReadingRejected("decimals_not_allowed", f"{rules.decimals} decimals")
        accepted = tuple(value.quantize(Decimal(1).scaleb(-meter.decimals)) for value in values)

        period = str(Period.of(today))
        if session.get_bind().dialect.name == "postgresql":
            # One reading of a meter at a time, as a billing system records them: two
            # members of a household sending at the same moment are answered in turn, not
            # with a conflict (SQLite lets one writer in at a time anyway).
            await session.execute(select(DemoMeter.id).where(DemoMeter.id == meter.id)
                                  .with_for_update())
        live = await self._live_readings(session, meter.id)
        mine = next((r for r in live if r.active_period == period), None)
        if mine is not None and rules.resubmission is Resubmission.REFUSE:
            raise ReadingRejected("already_submitted", period)
        others = [r for r in live if r is not mine and r.state == ReadingState.ACCEPTED]
        # An estimate is the supplier's guess, not the dial: a real reading below it is fine.
        real = [r for r in others if r.source != ReadingSource.ESTIMATE] or others
        if real:
            moves = []
            for previous, value in zip(_split(real[-1].reading), accepted, strict=True):
                if value >= previous:
                    moves.append(value - previous)
                elif rules.allow_rollover and previous - value > span / 2:
                    moves.append(value + span - previous)
                else:
                    raise ReadingRejected("less_than_previous", format(previous, "f"))
            total = sum(moves, Decimal(0))
            if not rules.allow_zero and total == 0:
                raise ReadingRejected("zero_not_allowed")
            if rules.over_max is OverMax.REJECT and total > rules.max_consumption:
                raise ReadingRejected("too_high", f"max {rules.max_consumption}")
        if others:
            consumption = tuple(
                meter_consumption(previous, value, meter.capacity)
                for previous, value in zip(_split(others[-1].reading), accepted, strict=True)
            )
        else:
            consumption = tuple(Decimal(0) for _ in accepted)
        return meter, accepted, consumption, mine

    # --- seeding and the monthly billing run ------------------------------------------

    async def _ensure(self, supplier: Supplier) -> None:
        current = Period.of(self._today(supplier))
        if self._ready.get(supplier.code) == current:
            return
        async with self._seeding:
            if self._ready.get(supplier.code) == current:
                return
            # Twice: after losing a race to another process, its data may need billing.
            for _ in range(2):
                async with self.session_factory() as session:
                    state = await session.get(DemoSupplierState, supplier.code)
                    open_period = None if state is None else Period.parse(state.open_period)
                if open_period is None:
                    if await self._seed(supplier, current):
                        break
                elif open_period < current:
                    await self._bill(supplier, open_period, current)
                else:
                    break
            self._ready[supplier.code] = current

    async def _seed(self, supplier: Supplier, current: Period) -> bool:
        """False when another process seeded the supplier first."""
        seeds = generate_supplier(supplier, current, self._today(supplier))
        async with self.session_factory() as session:
            # The marker goes first: a second process seeding at the same moment waits for
            # this transaction and then fails on the key, keeping this data set.
            session.add(DemoSupplierState(
                code=supplier.code, anchor=str(current), open_period=str(current),
                generator=GENERATOR_VERSION, seeded_at=self._now(),
            ))
            try:
                await session.flush()
            except IntegrityError:
                await session.rollback()
                return False
            await _insert_seeds(session, supplier.code, seeds)
            await session.commit()
        return True

    async def _bill(self, supplier: Supplier, open_period: Period, current: Period) -> None:
        """Closes the months from `open_period` up to, not including, `current`."""
        async with self.session_factory() as session:
            # Compare-and-set on the marker: of two processes, one bills, the other skips.
            moved = await session.execute(
                update(DemoSupplierState)
                .where(DemoSupplierState.code == supplier.code,
                       DemoSupplierState.open_period == str(open_period))
                .values(open_period=str(current))
            )
            if cast(CursorResult[Any], moved).rowcount != 1:
                await session.rollback()
                return
            state = await session.get(DemoSupplierState, supplier.code)
            assert state is not None
            anchor = Period.parse(state.anchor)
            accounts = list(await session.scalars(
                select(DemoAccount).where(DemoAccount.supplier_code == supplier.code)
                .order_by(DemoAccount.id)
            ))
            period = open_period
            while period < current:
                for account in accounts:
                    await self._close(session, supplier, anchor, account, period)
                period = period.shift(1)
            await session.commit()

    async def _close(self, session: AsyncSession, supplier: Supplier, anchor: Period,
                     account: DemoAccount, period: Period) -> None:
        text = str(period)
        previous_text = str(period.shift(-1))
        last = await session.scalar(
            select(DemoBalance).where(DemoBalance.account_id == account.id,
                                      DemoBalance.period == previous_text))
        last_charge = await session.scalar(
            select(DemoCharge.amount).where(DemoCharge.account_id == account.id,
                                            DemoCharge.period == previous_text))
        meters = []
        rows = await self._meter_rows(session, account)
        for meter in rows:
            live = await self._live_readings(session, meter.id)
            before = _last_accepted(live, before=text)
            within = _last_accepted(live, within=text)
            meters.append(MeterMonth(
                code=meter.code, position=meter.position, zones=tuple(meter.zones.split(",")),
                capacity=meter.capacity, decimals=meter.decimals,
                previous=_split(before.reading) if before is not None else None,
                current=_split(within.reading) if within is not None else None,
            ))
        paid = await session.scalars(
            select(DemoPayment).where(DemoPayment.account_id == account.id,
                                      DemoPayment.period == text))
        closed = close_period(
            supplier.code, anchor, _params(account), period,
            opening=last.closing if last is not None else ZERO,
            last_charge=last_charge if last_charge is not None else ZERO,
            meters=meters, payments=[_payment(row) for row in paid],
        )
        by_code = {meter.code: meter.id for meter in rows}
        session.add_all(
            _reading_row(by_code[estimate.meter_id], estimate) for estimate in closed.estimates
        )
        session.add_all(_payment_row(account.id, payment) for payment in closed.payments)
        session.add(_charge_row(account.id, closed.charge))
        session.add(_balance_row(account.id, closed.balance))
        await session.flush()


# --- row conversions -------------------------------------------------------------------


def _last_accepted(readings: Sequence[DemoReading], *, before: str | None = None,
                   within: str | None = None) -> DemoReading | None:
    """The latest accepted reading (of `readings`, already in order), optionally only those
    before a period or within one."""
    found = None
    for reading in readings:
        if reading.state != ReadingState.ACCEPTED:
            continue
        if before is not None and reading.period >= before:
            continue
        if within is not None and reading.period != within:
            continue
        found = reading
    return found


def _params(account: DemoAccount) -> AccountParams:
    return AccountParams(
        key=f"{account.unit_code}/{account.number}",
        kind=Kind(account.kind),
        profile=Profile(account.profile),
        residents=account.residents,
        heated_area=account.heated_area,
        equipment=tuple(Equipment(item) for item in account.equipment.split(",") if item),
        pay_day=account.pay_day,
        norm_volume=account.norm_volume,
    )


def _ack(row: DemoReading) -> ReadingAck:
    assert row.reference is not None and row.accepted_at is not None
    return ReadingAck(reference=row.reference, accepted_at=row.accepted_at,
                      values=_split(row.reading), state=ReadingState(row.state))


def _record(meter_code: str, row: DemoReading) -> ReadingRecord:
    return ReadingRecord(
        meter_id=meter_code, period=Period.parse(row.period), values=_split(row.reading),
        consumption=_split(row.consumption), taken_on=row.taken_on,
        source=ReadingSource(row.source), state=ReadingState(row.state),
    )


def _payment(row: DemoPayment) -> Payment:
    return Payment(paid_on=row.paid_on, amount=row.amount, channel=PaymentChannel(row.channel),
                   reference=row.reference)


def _balance(row: DemoBalance) -> Balance:
    return Balance(period=Period.parse(row.period), opening=row.opening, charged=row.charged,
                   recalculation=row.recalculation, paid=row.paid, closing=row.closing,
                   due_date=row.due_date)


def _reading_row(meter_id: int, record: ReadingRecord) -> DemoReading:
    return DemoReading(
        meter_id=meter_id, period=str(record.period), taken_on=record.taken_on,
        reading=_join(record.values), consumption=_join(record.consumption),
        source=record.source.value, state=record.state.value, superseded=False,
    )


def _payment_row(account_id: int, payment: Payment) -> DemoPayment:
    return DemoPayment(account_id=account_id, period=str(Period.of(payment.paid_on)),
                       paid_on=payment.paid_on, amount=payment.amount,
                       channel=payment.channel.value, reference=payment.reference)


def _charge_row(account_id: int, charge: Charge) -> DemoCharge:
    return DemoCharge(account_id=account_id, period=str(charge.period), service=charge.service,
                      volume=charge.volume, unit=charge.unit, tariff=charge.tariff,
                      amount=charge.amount, recalculation=charge.recalculation)


def _balance_row(account_id: int, balance: Balance) -> DemoBalance:
    return DemoBalance(account_id=account_id, period=str(balance.period),
                       opening=balance.opening, charged=balance.charged,
                       recalculation=balance.recalculation, paid=balance.paid,
                       closing=balance.closing, due_date=balance.due_date)


async def _insert_seeds(session: AsyncSession, supplier_code: str,
                        seeds: Sequence[AccountSeed]) -> None:
    accounts = [
        DemoAccount(
            supplier_code=supplier_code, unit_code=seed.unit_code, number=seed.number,
            kind=seed.kind.value, profile=seed.profile.value, surname=seed.surname,
            first_name=seed.first_name, patronymic=seed.patronymic, locality=seed.locality,
            street=seed.street, house=seed.house, flat=seed.flat, residents=seed.residents,
            heated_area=seed.heated_area,
            equipment=",".join(item.value for item in seed.equipment), pin=seed.pin,
            pay_day=seed.pay_day, norm_volume=seed.norm_volume,
        )
        for seed in seeds
    ]
    session.add_all(accounts)
    await session.flush()
    meters = {
        meter.id: DemoMeter(
            code=meter.id, account_id=account.id, position=position, serial=meter.serial,
            zones=",".join(meter.zones), capacity=meter.capacity, decimals=meter.decimals,
            check_date=meter.check_date,
        )
        for account, seed in zip(accounts, seeds, strict=True)
        for position, meter in enumerate(seed.meters)
    }
    session.add_all(meters.values())
    await session.flush()
    readings = [
        {
            "meter_id": meters[record.meter_id].id, "period": str(record.period),
            "taken_on": record.taken_on, "reading": _join(record.values),
            "consumption": _join(record.consumption), "source": record.source.value,
            "state": record.state.value, "superseded": False,
        }
        for seed in seeds for record in seed.readings
    ]
    charges = [
        {
            "account_id": account.id, "period": str(charge.period), "service": charge.service,
            "volume": charge.volume, "unit": charge.unit, "tariff": charge.tariff,
            "amount": charge.amount, "recalculation": charge.recalculation,
        }
        for account, seed in zip(accounts, seeds, strict=True) for charge in seed.charges
    ]
    payments = [
        {
            "account_id": account.id, "period": str(Period.of(payment.paid_on)),
            "paid_on": payment.paid_on, "amount": payment.amount,
            "channel": payment.channel.value, "reference": payment.reference,
        }
        for account, seed in zip(accounts, seeds, strict=True) for payment in seed.payments
    ]
    balances = [
        {
            "account_id": account.id, "period": str(balance.period), "opening": balance.opening,
            "charged": balance.charged, "recalculation": balance.recalculation,
            "paid": balance.paid, "closing": balance.closing, "due_date": balance.due_date,
        }
        for account, seed in zip(accounts, seeds, strict=True) for balance in seed.balances
    ]
    for model, rows in ((DemoReading, readings), (DemoCharge, charges),
                        (DemoPayment, payments), (DemoBalance, balances)):
        if rows:
            await session.execute(insert(model), rows)
