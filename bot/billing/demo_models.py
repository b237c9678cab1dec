"""Tables of the embedded demo billing system (prefix `demo_`), on the bot's own `Base`.

They stand for a supplier's database, not the bot's: the bot reaches them only through
`bot.billing.demo.DemoBillingConnector`. Money and meter values are kept as decimal text,
because SQLite has no exact decimal type and SQLAlchemy's `Numeric` would go through floats
there; nothing sums them in SQL.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from bot.db.models import Base, UtcDateTime

__all__ = [
    "DecimalText",
    "DemoAccount",
    "DemoBalance",
    "DemoCharge",
    "DemoMeter",
    "DemoPayment",
    "DemoReading",
    "DemoReadingRejection",
    "DemoSupplierState",
]

PERIOD_LEN = 7  # "YYYY-MM": sorts chronologically as text


class DecimalText(TypeDecorator[Decimal]):
    """An exact Decimal on every backend, stored as plain text without exponent."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        return None if value is None else format(value, "f")

    def process_result_value(self, value: str | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class DemoSupplierState(Base):
    """One row per seeded supplier: the marker that makes seeding happen once.

    It is inserted first, in the same transaction as the data, so a second process seeding
    at the same time fails on the primary key and keeps the first one's data.
    """

    __tablename__ = "demo_suppliers"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    anchor: Mapped[str] = mapped_column(String(PERIOD_LEN))  # the period the seed was made in
    open_period: Mapped[str] = mapped_column(String(PERIOD_LEN))  # first period not billed
    generator: Mapped[int] = mapped_column(Integer)
    seeded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class DemoAccount(Base):
    __tablename__ = "demo_accounts"
    __table_args__ = (UniqueConstraint("supplier_code", "unit_code", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    supplier_code: Mapped[str] = mapped_column(String(16), index=True)
    # "" rather than NULL for suppliers without units: NULLs never collide in a unique key.
    unit_code: Mapped[str] = mapped_column(String(24))
    number: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    profile: Mapped[str] = mapped_column(String(16))
    surname: Mapped[str] = mapped_column(String(64))
    first_name: Mapped[str] = mapped_column(String(64))
    patronymic: Mapped[str] = mapped_column(String(64))
    locality: Mapped[str] = mapped_column(String(160))
    street: Mapped[str] = mapped_column(String(80))
    house: Mapped[str] = mapped_column(String(16))
    flat: Mapped[str | None] = mapped_column(String(16))
    residents: Mapped[int] = mapped_column(Integer)
    heated_area: Mapped[Decimal | None] = mapped_column(DecimalText())
    equipment: Mapped[str] = mapped_column(String(64))  # comma-separated Equipment values
    pin: Mapped[str | None] = mapped_column(String(8))
    pay_day: Mapped[int] = mapped_column(Integer)
    norm_volume: Mapped[Decimal | None] = mapped_column(DecimalText())  # m³/month, no meters


class DemoMeter(Base):
    __tablename__ = "demo_meters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)  # the public Meter.id
    account_id: Mapped[int] = mapped_column(
        ForeignKey("demo_accounts.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    serial: Mapped[str] = mapped_column(String(32))
    zones: Mapped[str] = mapped_column(String(32))  # comma-separated, in display order
    capacity: Mapped[int] = mapped_column(Integer)
    decimals: Mapped[int] = mapped_column(Integer)
    check_date: Mapped[date | None] = mapped_column(Date)


class DemoReading(Base):
    __tablename__ = "demo_readings"
    __table_args__ = (
        # At most one live subscriber reading per meter and period: `active_period` is set on
        # it only, NULL elsewhere, so concurrent submissions cannot both win.
        UniqueConstraint("meter_id", "active_period"),
        Index("ix_demo_readings_meter_id_period", "meter_id", "period"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("demo_meters.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(PERIOD_LEN))
    taken_on: Mapped[date] = mapped_column(Date)
    reading: Mapped[str] = mapped_column(String(128))  # ";"-joined values, one per zone
    consumption: Mapped[str] = mapped_column(String(128))  # since the previous reading
    source: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)
    active_period: Mapped[str | None] = mapped_column(String(PERIOD_LEN))
    reference: Mapped[str | None] = mapped_column(String(48), unique=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class DemoReadingRejection(Base):
    """A refused submission, so that a retry with the same key gets the same answer."""

    __tablename__ = "demo_reading_rejections"

    idempotency_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("demo_accounts.id", ondelete="CASCADE"), index=True
    )
    meter_code: Mapped[str] = mapped_column(String(64))
    reading: Mapped[str] = mapped_column(String(256))
    code: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class DemoCharge(Base):
    __tablename__ = "demo_charges"
    __table_args__ = (UniqueConstraint("account_id", "period", "service"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("demo_accounts.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(PERIOD_LEN))
    service: Mapped[str] = mapped_column(String(64))
    volume: Mapped[Decimal] = mapped_column(DecimalText())
    unit: Mapped[str] = mapped_column(String(8))
    tariff: Mapped[Decimal] = mapped_column(DecimalText())
    amount: Mapped[Decimal] = mapped_column(DecimalText())
    recalculation: Mapped[Decimal] = mapped_column(DecimalText())


class DemoPayment(Base):
    __tablename__ = "demo_payments"
    __table_args__ = (Index("ix_demo_payments_account_id_period", "account_id", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("demo_accounts.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(PERIOD_LEN))  # the month of paid_on
    paid_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(DecimalText())
    channel: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(32))


class DemoBalance(Base):
    """The settlement of a billed (closed) period; one row per receipt issued."""

    __tablename__ = "demo_balances"
    __table_args__ = (UniqueConstraint("account_id", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("demo_accounts.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(PERIOD_LEN))
    opening: Mapped[Decimal] = mapped_column(DecimalText())
    charged: Mapped[Decimal] = mapped_column(DecimalText())
    recalculation: Mapped[Decimal] = mapped_column(DecimalText())
    paid: Mapped[Decimal] = mapped_column(DecimalText())
    closing: Mapped[Decimal] = mapped_column(DecimalText())
    due_date: Mapped[date | None] = mapped_column(Date)
