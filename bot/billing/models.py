"""Typed values exchanged with billing systems. Money is Decimal, never float.

`ProofKind` is the catalog's: a supplier's accepted proofs and a connector's use one enum."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Self

from bot.suppliers.models import ProofKind


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """A billing month."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ValueError(f"month out of range: {self.month}")

    @classmethod
    def of(cls, day: date) -> Self:
        return cls(day.year, day.month)

    @classmethod
    def parse(cls, text: str) -> Self:
        year, month = text.split("-")
        return cls(int(year), int(month))

    def shift(self, months: int) -> Period:
        index = self.year * 12 + (self.month - 1) + months
        return Period(index // 12, index % 12 + 1)

    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True, slots=True)
class AccountRef:
    """Which account at which supplier; the number exactly as on the receipt (leading zeros)."""

    supplier_code: str
    number: str
    unit: str | None = None  # management unit (УЭГХ) where the supplier has them


@dataclass(frozen=True, slots=True)
class Proof:
    kind: ProofKind
    pin: str | None = None
    surname: str | None = None
    last_payment: Decimal | None = None


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """What a supplier tells about an account before ownership is proven: masked on purpose."""

    ref: AccountRef
    owner_masked: str  # «Иванов И. И.» → «Ив**** И. И.»
    address_masked: str
    has_meters: bool


@dataclass(frozen=True, slots=True)
class Balance:
    """Sign convention: positive closing = debt (amount due), negative = overpayment."""

    period: Period
    opening: Decimal
    charged: Decimal
    recalculation: Decimal
    paid: Decimal
    closing: Decimal
    due_date: date | None


class PaymentChannel(StrEnum):
    BANK = "bank"
    ONLINE = "online"
    POST = "post"
    CASH = "cash"
    TERMINAL = "terminal"


@dataclass(frozen=True, slots=True)
class Payment:
    paid_on: date
    amount: Decimal
    channel: PaymentChannel
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class Charge:
    period: Period
    service: str  # e.g. «Газоснабжение», as the supplier names it
    volume: Decimal
    unit: str  # «м³»
    tariff: Decimal  # per unit
    amount: Decimal
    recalculation: Decimal = Decimal("0")


class Equipment(StrEnum):
    STOVE = "stove"
    BOILER = "boiler"
    WATER_HEATER = "water_heater"


@dataclass(frozen=True, slots=True)
class AccountDetails:
    owner_name: str  # full name: shown only to the verified owner, in a private chat
    address: str
    residents: int
    heated_area: Decimal | None  # m²
    equipment: tuple[Equipment, ...]


class ReadingSource(StrEnum):
    SUBSCRIBER = "subscriber"
    SUPPLIER = "supplier"
    ESTIMATE = "estimate"


class ReadingState(StrEnum):
    ACCEPTED = "accepted"
    PENDING = "pending"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class LastReading:
    values: tuple[Decimal, ...]  # one per zone, in the meter's zone order
    taken_on: date
    source: ReadingSource
    state: ReadingState


@dataclass(frozen=True, slots=True)
class Meter:
    id: str
    serial: str
    zones: tuple[str, ...]  # ("total",) or ("day", "night")
    capacity: int  # integer digits: readings wrap at 10**capacity
    decimals: int
    check_date: date | None  # next verification
    last: LastReading | None
    service: str = "gas"


@dataclass(frozen=True, slots=True)
class ReadingSubmission:
    meter_id: str
    values: tuple[Decimal, ...]
    idempotency_key: str  # the same key twice must not create two readings
    submitted_at: datetime


@dataclass(frozen=True, slots=True)
class ReadingAck:
    reference: str
    accepted_at: datetime
    values: tuple[Decimal, ...]
    state: ReadingState


@dataclass(frozen=True, slots=True)
class ReadingRecord:
    meter_id: str
    period: Period
    values: tuple[Decimal, ...]
    consumption: tuple[Decimal, ...]
    taken_on: date
    source: ReadingSource
    state: ReadingState


@dataclass(frozen=True, slots=True)
class ReceiptMeterLine:
    serial: str
    zone: str
    previous: Decimal
    current: Decimal
    consumption: Decimal
    check_date: date | None


@dataclass(frozen=True, slots=True)
class ReceiptData:
    """Everything a payment document shows (DOMAIN.md §6), payee requisites come from the
    supplier catalog."""

    ref: AccountRef
    period: Period
    payer_name: str
    address: str
    residents: int
    heated_area: Decimal | None
    balance: Balance
    charges: tuple[Charge, ...]
    payments: tuple[Payment, ...]
    meters: tuple[ReceiptMeterLine, ...] = field(default_factory=tuple)


__all__ = ["ProofKind"]
