"""The demo billing system: its data set, the connector's rules, and its test hooks.

Most tests read a copy of one database seeded for the whole catalog at a fixed clock; those
that write (readings, billing runs) seed only the suppliers they need in a fresh database.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.billing.base import BillingConnector
from bot.billing.demo import DemoAccountEntry, DemoBillingConnector
from bot.billing.demo_models import (
    DemoAccount,
    DemoBalance,
    DemoCharge,
    DemoMeter,
    DemoPayment,
    DemoReading,
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
    AccountRef,
    PaymentChannel,
    Period,
    Proof,
    ReadingSource,
    ReadingState,
    ReadingSubmission,
)
from bot.cli_demo import entries_json
from bot.db import migrate
from bot.db.engine import create_engine, create_session_factory
from bot.suppliers import load_catalog
from bot.suppliers.models import Catalog, ProofKind

# Inside most suppliers' reading windows; the anchor of the data set is November 2026.
CLOCK = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
ANCHOR = Period(2026, 11)
PYATIGORSK = ("mrg_dagestan", "mrg_ingushetia", "mrg_kbr", "mrg_kchr", "mrg_alania")
DEMO_TABLES = (DemoSupplierState, DemoAccount, DemoMeter, DemoReading, DemoCharge,
               DemoPayment, DemoBalance)


class Clock:
    """A clock a test can move."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@asynccontextmanager
async def database(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> Path:
    """A database seeded for the whole catalog at CLOCK, copied by each test that reads it."""
    path = tmp_path_factory.mktemp("demo") / "seeded.sqlite3"

    async def build() -> None:
        async with database(f"sqlite+aiosqlite:///{path}") as factory:
            await DemoBillingConnector(factory, catalog, Clock(CLOCK)).prepare()

    asyncio.run(build())
    return path


@dataclass
class Seeded:
    connector: DemoBillingConnector
    factory: async_sessionmaker[AsyncSession]
    entries: list[DemoAccountEntry]
    clock: Clock

    def pick(self, supplier_code: str, kind: str | None = None) -> DemoAccountEntry:
        return next(e for e in self.entries
                    if e.supplier_code == supplier_code and (kind is None or e.kind == kind))


@pytest.fixture
async def seeded(template: Path, tmp_path: Path, catalog: Catalog) -> AsyncIterator[Seeded]:
    copy = tmp_path / "bot.sqlite3"
    shutil.copyfile(template, copy)
    async with database(f"sqlite+aiosqlite:///{copy}") as factory:
        clock = Clock(CLOCK)
        connector = DemoBillingConnector(factory, catalog, clock)
        yield Seeded(connector, factory, await connector.demo_accounts(), clock)


@asynccontextmanager
async def fresh(url: str, catalog: Catalog, clock: Clock,
                *codes: str) -> AsyncIterator[Seeded]:
    """A new database where only `codes` are seeded (on first use, by the connector)."""
    async with database(url) as factory:
        connector = DemoBillingConnector(factory, catalog, clock)
        yield Seeded(connector, factory, await connector.demo_accounts(codes), clock)


async def dump(factory: async_sessionmaker[AsyncSession]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every demo table, in id order."""
    result: dict[str, list[tuple[Any, ...]]] = {}
    async with factory() as session:
        for model in DEMO_TABLES:
            columns = list(model.__table__.columns)
            rows = await session.execute(select(*columns).order_by(*model.__table__.primary_key))
            result[model.__tablename__] = [tuple(row) for row in rows]
    return result


def submission(meter_id: str, *values: str | Decimal, key: str,
               at: datetime = CLOCK) -> ReadingSubmission:
    return ReadingSubmission(meter_id=meter_id, values=tuple(Decimal(v) for v in values),
                             idempotency_key=key, submitted_at=at)


def last_value(entry: DemoAccountEntry, meter: int = 0) -> Decimal:
    last = entry.meters[meter].last
    assert last is not None
    return last.values[0]


# --- the data set ----------------------------------------------------------------------


def test_the_connector_implements_the_protocol(catalog: Catalog) -> None:
    connector = DemoBillingConnector(async_sessionmaker(), catalog, Clock(CLOCK))
    assert isinstance(connector, BillingConnector)


async def test_every_account_number_passes_its_suppliers_rule(seeded: Seeded,
                                                              catalog: Catalog) -> None:
    by_supplier: dict[str, list[DemoAccountEntry]] = {}
    for entry in seeded.entries:
        by_supplier.setdefault(entry.supplier_code, []).append(entry)
        supplier = catalog.get(entry.supplier_code)
        assert supplier is not None
        check = supplier.account.validate(entry.number)
        assert check.number == entry.number, (entry.supplier_code, entry.number, check.error)
        if supplier.units:
            assert supplier.unit(entry.unit_code or "") is not None
        else:
            assert entry.unit_code is None
    assert set(by_supplier) == set(catalog.codes)
    assert all(len(entries) >= 2 for entries in by_supplier.values())
    assert all(e.number.startswith("00") and len(e.number) == 9 for e in by_supplier["sevgas"])
    assert all(re.fullmatch(r"[0-9]{8}", e.number) for e in by_supplier["mrg_perm"])
    for code in PYATIGORSK:
        for entry in by_supplier[code]:
            assert re.fullmatch(r"[0-9]{10}", entry.number) and entry.number[:2] != "00"
    assert any(e.number.startswith("0") for code in PYATIGORSK for e in by_supplier[code])
    assert all(e.unit_name and e.unit_name.endswith("УЭГХ") for e in by_supplier["crimea"])
    numbers = [e.number for e in by_supplier["crimea"]]
    assert len(set(numbers)) < len(numbers), "one number exists in two units"


async def test_the_catalog_covers_every_case_the_bot_must_handle(seeded: Seeded) -> None:
    connector = seeded.connector
    debts, overpaid, no_meters, two_zone, near_rollover = [], [], [], [], []
    for entry in seeded.entries:
        if entry.balance_due < 0:
            overpaid.append(entry)
        if entry.balance_due > 0:
            paid_on = [p.paid_on for year in (2024, 2025, 2026)
                       for p in await connector.get_payments(entry.ref, year)]
            if not paid_on or max(paid_on) < CLOCK.date() - timedelta(days=180):
                debts.append(entry)
        if not entry.meters:
            no_meters.append(entry)
            info = await connector.find_account(entry.ref)
            assert info.has_meters is False
            assert (await connector.get_balance(entry.ref)).period == ANCHOR
        for meter in entry.meters:
            if meter.zones == ("day", "night"):
                two_zone.append(entry)
            span = Decimal(10) ** meter.capacity
            if meter.last is not None and span - 100 <= meter.last.values[0] < span:
                near_rollover.append(entry)
    assert debts and overpaid and no_meters and two_zone and near_rollover
    assert any(e.balance_due > 5000 for e in debts)
    assert any(e.balance_due < -1000 for e in overpaid)
    assert sum(e.supplier_code == "mrg_perm" for e in seeded.entries) >= 4


async def test_every_account_has_24_billed_months(seeded: Seeded) -> None:
    connector = seeded.connector
    sources: set[ReadingSource] = set()
    states: set[ReadingState] = set()
    channels: set[PaymentChannel] = set()
    for entry in seeded.entries:
        periods = await connector.list_receipt_periods(entry.ref)
        assert periods == [ANCHOR.shift(-n) for n in range(1, 25)]
        charges = await connector.get_charges(entry.ref, ANCHOR.shift(-24), ANCHOR)
        assert [c.period for c in charges] == sorted(periods)
        for charge in charges:
            assert charge.unit == "м³" and charge.service == "Газоснабжение"
            assert Decimal("6.5") <= charge.tariff <= Decimal("9.5")
            assert charge.volume >= 0
            assert charge.amount == (charge.volume * charge.tariff).quantize(
                Decimal("0.01"), ROUND_HALF_UP)
        assert sum(c.volume for c in charges) > 0
        for year in (2024, 2025, 2026):
            channels.update(p.channel for p in await connector.get_payments(entry.ref, year))
        for meter in entry.meters:
            readings = await connector.get_readings(entry.ref, meter.id, ANCHOR.shift(-30),
                                                    ANCHOR)
            assert {r.period for r in readings} >= set(periods)
            sources.update(r.source for r in readings)
            states.update(r.state for r in readings)
    assert sources == set(ReadingSource)
    assert states >= {ReadingState.ACCEPTED, ReadingState.REJECTED}
    assert len(channels) >= 4


async def test_owners_addresses_and_details_look_real(seeded: Seeded) -> None:
    for entry in seeded.entries:
        info = await seeded.connector.find_account(entry.ref)
        details = await seeded.connector.get_account_details(entry.ref)
        surname = details.owner_name.split()[0]
        assert re.fullmatch(r"[А-ЯЁ][а-яё]\*+ [А-ЯЁ]\. [А-ЯЁ]\.", info.owner_masked)
        assert info.owner_masked.startswith(surname[:2]) and surname not in info.owner_masked
        assert not re.search(r"д\. \d|кв\. \d", info.address_masked)
        assert re.search(r"д\. \d+", details.address)
        assert details.residents >= 1 and details.equipment
        assert info.ref == entry.ref
    crimea = [e for e in seeded.entries if e.supplier_code == "crimea"]
    twins = [e for e in crimea if [x.number for x in crimea].count(e.number) == 2]
    owners = {(await seeded.connector.get_account_details(e.ref)).owner_name for e in twins}
    assert len(twins) == 2 and len(owners) == 2


async def test_two_fresh_databases_hold_the_same_data(tmp_path: Path, catalog: Catalog,
                                                      template: Path) -> None:
    async with database(f"sqlite+aiosqlite:///{tmp_path / 'a.sqlite3'}") as first:
        connector = DemoBillingConnector(first, catalog, Clock(CLOCK))
        listing = entries_json(await connector.demo_accounts())
        rows = await dump(first)
    async with database(f"sqlite+aiosqlite:///{template}") as second:
        connector = DemoBillingConnector(second, catalog, Clock(CLOCK))
        assert entries_json(await connector.demo_accounts()) == listing
        assert await dump(second) == rows
    assert '"balance_due"' in listing


async def test_seeding_twice_or_at_once_changes_nothing(tmp_path: Path, catalog: Catalog,
                                                        seeded: Seeded) -> None:
    before = await dump(seeded.factory)
    again = DemoBillingConnector(seeded.factory, catalog, Clock(CLOCK))  # a new process
    await again.prepare()
    assert await dump(seeded.factory) == before

    # Two processes seeding one new database at the same moment.
    url = f"sqlite+aiosqlite:///{tmp_path / 'race.sqlite3'}"
    async with database(url) as one, database(url) as two:
        await asyncio.gather(
            DemoBillingConnector(one, catalog, Clock(CLOCK)).prepare(),
            DemoBillingConnector(two, catalog, Clock(CLOCK)).prepare(),
        )
        assert await dump(one) == before


# --- ownership --------------------------------------------------------------------------


async def test_each_account_verifies_with_its_listed_proof_only(seeded: Seeded,
                                                                catalog: Catalog) -> None:
    connector = seeded.connector
    for entry in seeded.entries:
        supplier = catalog.get(entry.supplier_code)
        assert supplier is not None
        assert entry.proofs and {p.kind for p in entry.proofs} == set(supplier.proofs)
        for proof in entry.proofs:
            await connector.verify_ownership(entry.ref, proof)
        wrong: list[Proof] = []
        if entry.pin is not None:
            assert re.fullmatch(r"[0-9]{4,6}", entry.pin)
            wrong.append(Proof(ProofKind.PIN, pin=str((int(entry.pin) + 1) % 10000).zfill(4)))
        else:
            wrong.append(Proof(ProofKind.PIN, pin="0000"))  # a proof the supplier refuses
        if entry.surname is not None and entry.last_payment is not None:
            wrong.append(Proof(ProofKind.SURNAME_PAYMENT, surname=entry.surname,
                               last_payment=entry.last_payment + Decimal("0.01")))
            wrong.append(Proof(ProofKind.SURNAME_PAYMENT, surname=entry.surname + "а",
                               last_payment=entry.last_payment))
        for proof in wrong:
            with pytest.raises(ProofRejected) as caught:
                await connector.verify_ownership(entry.ref, proof)
            assert caught.value.attempts_left is None


async def test_surname_and_payment_compare_like_people_type_them(seeded: Seeded) -> None:
    entry = seeded.pick("crimea", "flat")
    assert entry.surname == "Королёва" and entry.last_payment is not None
    typed = Decimal(format(entry.last_payment.normalize(), "f"))  # «381.6» for 381.60
    for surname in ("  королева ", "КОРОЛЁВА", "Королева"):
        await seeded.connector.verify_ownership(
            entry.ref, Proof(ProofKind.SURNAME_PAYMENT, surname=surname, last_payment=typed))
    debtor = seeded.pick("crimea", "debtor")
    assert debtor.last_payment == 0, "no payment this calendar year"
    await seeded.connector.verify_ownership(
        debtor.ref, Proof(ProofKind.SURNAME_PAYMENT, surname=debtor.surname,
                          last_payment=Decimal("0")))
    with pytest.raises(ProofRejected):
        await seeded.connector.verify_ownership(
            debtor.ref, Proof(ProofKind.SURNAME_PAYMENT, surname=debtor.surname,
                              last_payment=None))


async def test_unknown_accounts_and_units_are_not_found(seeded: Seeded) -> None:
    connector = seeded.connector
    crimea = seeded.pick("crimea")
    for ref in (
        AccountRef("mrg_perm", "00000001"),
        AccountRef("nowhere", "12345678"),
        AccountRef("crimea", crimea.number),  # the unit is part of the identity
        AccountRef("crimea", crimea.number, "kerch"),
        AccountRef("sevgas", seeded.pick("sevgas").number.lstrip("0")),  # zeros matter
    ):
        with pytest.raises(AccountNotFound):
            await connector.find_account(ref)
    assert crimea.unit_name is not None
    by_name = await connector.find_account(AccountRef("crimea", crimea.number, crimea.unit_name))
    assert by_name.ref == crimea.ref


# --- money --------------------------------------------------------------------------------


async def test_balances_add_up_and_carry_over(seeded: Seeded) -> None:
    connector = seeded.connector
    for entry in seeded.entries:
        payments = [p for year in (2024, 2025, 2026)
                    for p in await connector.get_payments(entry.ref, year)]
        charges = {c.period: c for c in
                   await connector.get_charges(entry.ref, ANCHOR.shift(-24), ANCHOR)}
        previous = None
        for period in reversed(await connector.list_receipt_periods(entry.ref)):
            balance = await connector.get_balance(entry.ref, period)
            assert (balance.opening + balance.charged + balance.recalculation - balance.paid
                    == balance.closing)
            assert balance.charged == charges[period].amount
            assert balance.recalculation == charges[period].recalculation
            assert balance.paid == sum((p.amount for p in payments
                                        if Period.of(p.paid_on) == period), Decimal(0))
            assert balance.due_date is not None and balance.due_date.day in (10, 25)
            assert Period.of(balance.due_date) == period.shift(1)
            if previous is not None:
                assert balance.opening == previous.closing
            previous = balance
        current = await connector.get_balance(entry.ref)
        assert previous is not None and current.period == ANCHOR
        assert current.opening == previous.closing and current.charged == 0
        paid_now = sum((p.amount for p in payments if Period.of(p.paid_on) == ANCHOR),
                       Decimal(0))
        assert current.paid == paid_now and current.closing == current.opening - paid_now
        assert current.closing == entry.balance_due
        assert all(p.paid_on <= CLOCK.date() for p in payments)


async def test_receipts_of_the_latest_and_an_older_period(seeded: Seeded) -> None:
    connector = seeded.connector
    for entry in (seeded.pick("mrg_perm", "two_zone"), seeded.pick("mrg_moscow", "two_meters"),
                  seeded.pick("mrg_kbr", "no_meters"), seeded.pick("sevgas", "overpayer")):
        latest, *_, oldest = await connector.list_receipt_periods(entry.ref)
        assert latest == ANCHOR.shift(-1) and oldest == ANCHOR.shift(-24)
        for period in (latest, ANCHOR.shift(-13)):
            receipt = await connector.get_receipt(entry.ref, period)
            details = await connector.get_account_details(entry.ref)
            assert receipt.ref == entry.ref and receipt.period == period
            assert receipt.payer_name == details.owner_name
            assert receipt.address == details.address
            assert receipt.balance == await connector.get_balance(entry.ref, period)
            assert [c.period for c in receipt.charges] == [period]
            assert all(Period.of(p.paid_on) == period for p in receipt.payments)
            assert sum((p.amount for p in receipt.payments), Decimal(0)) == receipt.balance.paid
            zones = [zone for meter in entry.meters for zone in meter.zones]
            assert [line.zone for line in receipt.meters] == zones
            for line in receipt.meters:
                assert line.consumption == line.current - line.previous or line.current < (
                    line.previous)
            if entry.meters:
                assert sum((line.consumption for line in receipt.meters), Decimal(0)) == (
                    receipt.charges[0].volume)
        if entry.meters:
            latest_receipt = await connector.get_receipt(entry.ref, latest)
            assert [line.current for line in latest_receipt.meters] == [
                v for meter in entry.meters if meter.last for v in meter.last.values]
        for period in (ANCHOR, ANCHOR.shift(-30)):
            with pytest.raises(ReceiptNotAvailable):
                await connector.get_receipt(entry.ref, period)


# --- readings -------------------------------------------------------------------------


async def test_a_reading_is_accepted_and_becomes_the_last_one(sqlite_url: str,
                                                              catalog: Catalog) -> None:
    async with fresh(sqlite_url, catalog, Clock(CLOCK), "mrg_perm") as env:
        entry = env.pick("mrg_perm", "house")
        meter = entry.meters[0]
        value = last_value(entry) + 123
        ack = await env.connector.submit_reading(entry.ref, submission(meter.id, value, key="k1"))
        assert re.fullmatch(r"R-mrg_perm-\d+", ack.reference)
        assert ack.values == (value,) and ack.state is ReadingState.ACCEPTED
        assert ack.accepted_at == CLOCK
        [after] = await env.connector.get_meters(entry.ref)
        assert after.last is not None and after.last.values == (value,)
        assert after.last.source is ReadingSource.SUBSCRIBER
        assert after.last.taken_on == date(2026, 11, 20)
        history = await env.connector.get_readings(entry.ref, meter.id, ANCHOR, ANCHOR)
        assert [(r.values, r.consumption) for r in history] == [((value,), (Decimal(123),))]
        assert await env.connector.count_readings("k1") == 1


async def test_a_repeated_key_returns_the_first_ack_and_stores_once(sqlite_url: str,
                                                                    catalog: Catalog) -> None:
    async with fresh(sqlite_url, catalog, Clock(CLOCK), "mrg_voronezh") as env:
        entry = env.pick("mrg_voronezh", "house")
        meter_id = entry.meters[0].id
        reading = submission(meter_id, last_value(entry) + 40, key="same-key")
        first = await env.connector.submit_reading(entry.ref, reading)
        env.clock.now = CLOCK + timedelta(minutes=5)
        assert await env.connector.submit_reading(entry.ref, reading) == first
        # Two deliveries of one request racing each other still make one reading.
        racing = submission(meter_id, last_value(entry) + 45, key="racing-key")
        acks = await asyncio.gather(*(env.connector.submit_reading(entry.ref, racing)
                                      for _ in range(3)))
        assert len(set(acks)) == 1
        assert await env.connector.count_readings("same-key") == 1
        assert await env.connector.count_readings("racing-key") == 1
        assert env.connector.readings_inserted == 2
        with pytest.raises(ReadingRejected) as caught:  # the key, reused for other values
            await env.connector.submit_reading(
                entry.ref, submission(meter_id, last_value(entry) + 41, key="same-key"))
        assert caught.value.code == "invalid"


async def test_readings_are_validated_like_a_billing_system(sqlite_url: str,
                                                            catalog: Catalog) -> None:
    async with fresh(sqlite_url, catalog, Clock(CLOCK), "mrg_perm", "mrg_yoshkarola",
                     "mrg_spb") as env:
        perm = env.pick("mrg_perm", "house")
        meter_id = perm.meters[0].id
        last = last_value(perm)

        async def rejected(entry: DemoAccountEntry, reading: ReadingSubmission) -> str:
            with pytest.raises(ReadingRejected) as caught:
                await env.connector.submit_reading(entry.ref, reading)
            return caught.value.code

        assert await rejected(perm, submission(meter_id, last - 1, key="a")) == (
            "less_than_previous")
        # The refusal is remembered: a retry of the same request gets the same answer.
        assert await rejected(perm, submission(meter_id, last - 1, key="a")) == (
            "less_than_previous")
        assert await rejected(perm, submission(meter_id, last + Decimal("0.5"), key="b")) == (
            "decimals_not_allowed")
        assert await rejected(perm, submission(meter_id, "100000", key="c")) == "too_many_digits"
        assert await rejected(perm, submission("m-none", last + 1, key="d")) == "meter_not_found"
        assert await rejected(perm, submission(meter_id, last, last, key="e")) == "invalid"
        assert await rejected(perm, submission(meter_id, "-5", key="f")) == "invalid"
        assert await rejected(perm, submission(meter_id, last + 1, key="k" * 129)) == "invalid"
        # A whole number typed with zero decimals is still a whole number.
        await env.connector.submit_reading(
            perm.ref, submission(meter_id, f"{last + 7}.000", key="g"))

        yola = env.pick("mrg_yoshkarola", "flat")  # no zero consumption, over max refused
        y_meter = yola.meters[0].id
        assert await rejected(yola, submission(y_meter, last_value(yola), key="h")) == (
            "zero_not_allowed")
        assert await rejected(yola, submission(y_meter, last_value(yola) + 1501, key="i")) == (
            "too_high")

        spb = env.pick("mrg_spb", "two_zone")  # five decimals, two zones
        day, night = spb.meters[0].last.values if spb.meters[0].last else (0, 0)
        ack = await env.connector.submit_reading(spb.ref, submission(
            spb.meters[0].id, day + Decimal("12.34567"), night + Decimal("5.5"), key="j"))
        assert ack.values == (day + Decimal("12.34567"), night + Decimal("5.50000"))
        assert await env.connector.count_readings(meter_id=meter_id) == 1 + len(
            await env.connector.get_readings(perm.ref, meter_id, ANCHOR.shift(-30),
                                             ANCHOR.shift(-1)))


async def test_a_meter_wrapping_past_zero(sqlite_url: str, catalog: Catalog) -> None:
    async with fresh(sqlite_url, catalog, Clock(CLOCK), "mrg_voronezh", "mrg_kemerovo") as env:
        entry = env.pick("mrg_voronezh", "rollover")
        meter = entry.meters[0]
        assert last_value(entry) == Decimal("99950")
        ack = await env.connector.submit_reading(entry.ref, submission(meter.id, "30", key="w"))
        assert ack.values == (Decimal(30),)
        [record] = await env.connector.get_readings(entry.ref, meter.id, ANCHOR, ANCHOR)
        assert record.consumption == (Decimal(80),)
        # Кемерово does not accept rollovers: the same reading is "less than previous".
        kemerovo = env.pick("mrg_kemerovo", "rollover")
        with pytest.raises(ReadingRejected) as caught:
            await env.connector.submit_reading(
                kemerovo.ref, submission(kemerovo.meters[0].id, "30", key="x"))
        assert caught.value.code == "less_than_previous"


async def test_the_window_is_the_suppliers_in_its_time_zone(sqlite_url: str,
                                                            catalog: Catalog) -> None:
    # Пермь: 15th to 25th, Asia/Yekaterinburg (UTC+5).
    clock = Clock(datetime(2026, 11, 14, 18, 30, tzinfo=UTC))  # 14th, 23:30 in Perm
    async with fresh(sqlite_url, catalog, clock, "mrg_perm") as env:
        entry = env.pick("mrg_perm", "flat")
        meter_id = entry.meters[0].id
        with pytest.raises(ReadingRejected) as caught:
            await env.connector.submit_reading(
                entry.ref, submission(meter_id, last_value(entry) + 10, key="early"))
        assert caught.value.code == "out_of_window"
        clock.now = datetime(2026, 11, 14, 19, 30, tzinfo=UTC)  # the 15th in Perm already
        await env.connector.submit_reading(
            entry.ref, submission(meter_id, last_value(entry) + 10, key="in-time"))
        other = env.pick("mrg_perm", "house")
        clock.now = datetime(2026, 11, 25, 19, 30, tzinfo=UTC)  # still the 25th in UTC
        with pytest.raises(ReadingRejected) as caught:
            await env.connector.submit_reading(
                other.ref, submission(other.meters[0].id, last_value(other) + 10, key="late"))
        assert caught.value.code == "out_of_window"


async def test_resubmission_follows_the_suppliers_rule(sqlite_url: str,
                                                       catalog: Catalog) -> None:
    async with fresh(sqlite_url, catalog, Clock(CLOCK), "mrg_voronezh", "mrg_izhevsk") as env:
        # Воронеж replaces the period's reading, even with a lower (corrected) one.
        entry = env.pick("mrg_voronezh", "house")
        meter_id = entry.meters[0].id
        await env.connector.submit_reading(
            entry.ref, submission(meter_id, last_value(entry) + 90, key="first"))
        second = await env.connector.submit_reading(
            entry.ref, submission(meter_id, last_value(entry) + 60, key="second"))
        history = await env.connector.get_readings(entry.ref, meter_id, ANCHOR, ANCHOR)
        assert [r.values for r in history] == [second.values]
        assert history[0].consumption == (Decimal(60),)
        [meter] = await env.connector.get_meters(entry.ref)
        assert meter.last is not None and meter.last.values == second.values
        assert await env.connector.count_readings(meter_id=meter_id) == 2 + len(
            await env.connector.get_readings(entry.ref, meter_id, ANCHOR.shift(-30),
                                             ANCHOR.shift(-1)))
        # Ижевск refuses a second reading in the period.
        izhevsk = env.pick("mrg_izhevsk", "house")
        i_meter = izhevsk.meters[0].id
        await env.connector.submit_reading(
            izhevsk.ref, submission(i_meter, last_value(izhevsk) + 90, key="once"))
        with pytest.raises(ReadingRejected) as caught:
            await env.connector.submit_reading(
                izhevsk.ref, submission(i_meter, last_value(izhevsk) + 95, key="twice"))
        assert caught.value.code == "already_submitted"
        assert await env.connector.count_readings("twice") == 0


# --- time passing -------------------------------------------------------------------------


async def test_months_get_billed_as_the_clock_moves_on(sqlite_url: str,
                                                       catalog: Catalog) -> None:
    clock = Clock(CLOCK)
    async with fresh(sqlite_url, catalog, clock, "mrg_voronezh") as env:
        entry = env.pick("mrg_voronezh", "house")
        meter_id = entry.meters[0].id
        await env.connector.submit_reading(
            entry.ref, submission(meter_id, last_value(entry) + 210, key="nov"))
        clock.now = datetime(2027, 1, 16, 8, 0, tzinfo=UTC)
        # Two processes notice the new month at once: one bills it, the other waits and skips.
        async with database(sqlite_url) as other:
            await asyncio.gather(
                env.connector.prepare(["mrg_voronezh"]),
                DemoBillingConnector(other, catalog, clock).prepare(["mrg_voronezh"]),
            )
        periods = await env.connector.list_receipt_periods(entry.ref)
        assert periods[:3] == [Period(2026, 12), Period(2026, 11), Period(2026, 10)]
        november = await env.connector.get_receipt(entry.ref, Period(2026, 11))
        assert november.charges[0].volume == 210
        assert [line.consumption for line in november.meters] == [Decimal(210)]
        december = await env.connector.get_readings(entry.ref, meter_id, Period(2026, 12),
                                                    Period(2026, 12))
        assert [r.source for r in december] == [ReadingSource.ESTIMATE]
        previous = await env.connector.get_balance(entry.ref, Period(2026, 10))
        for period in (Period(2026, 11), Period(2026, 12)):
            balance = await env.connector.get_balance(entry.ref, period)
            assert balance.opening == previous.closing
            assert (balance.opening + balance.charged + balance.recalculation - balance.paid
                    == balance.closing)
            previous = balance
        current = await env.connector.get_balance(entry.ref)
        assert current.period == Period(2027, 1) and current.opening == previous.closing
        # Another process (a fresh connector) finds it billed and bills nothing twice.
        before = await dump(env.factory)
        await DemoBillingConnector(env.factory, catalog, clock).prepare(["mrg_voronezh"])
        assert await dump(env.factory) == before
        # The period follows each supplier's clock: it is already February in Kemerovo.
        clock.now = datetime(2027, 1, 31, 20, 0, tzinfo=UTC)
        [kem, *_] = await env.connector.demo_accounts(["mrg_kemerovo"])
        assert (await env.connector.get_balance(kem.ref)).period == Period(2027, 2)
        assert (await env.connector.get_balance(entry.ref)).period == Period(2027, 1)


# --- test hooks -------------------------------------------------------------------------


async def test_the_outage_switch_fails_every_call(seeded: Seeded) -> None:
    connector = seeded.connector
    entry = seeded.pick("mrg_perm", "house")
    ref, meter_id = entry.ref, entry.meters[0].id
    calls: list[Callable[[], Any]] = [
        lambda: connector.find_account(ref),
        lambda: connector.verify_ownership(ref, entry.proofs[0]),
        lambda: connector.get_balance(ref),
        lambda: connector.get_payments(ref, 2026),
        lambda: connector.get_charges(ref, ANCHOR.shift(-3), ANCHOR),
        lambda: connector.get_account_details(ref),
        lambda: connector.get_meters(ref),
        lambda: connector.submit_reading(ref, submission(meter_id, last_value(entry) + 1,
                                                         key="outage")),
        lambda: connector.get_readings(ref, meter_id, ANCHOR, ANCHOR),
        lambda: connector.get_receipt(ref, ANCHOR.shift(-1)),
        lambda: connector.list_receipt_periods(ref),
    ]
    connector.outage = True
    for call in calls:
        with pytest.raises(SupplierUnavailable):
            await call()
    assert await connector.count_readings("outage") == 0
    connector.outage = False
    for call in calls:
        await call()
    assert await connector.count_readings("outage") == 1
    assert connector.calls["submit_reading"] == 2
    await connector.close()


# --- PostgreSQL -------------------------------------------------------------------------


@pytest.mark.postgres
async def test_postgres_holds_the_same_data_and_rules(postgres_url: str, catalog: Catalog,
                                                      template: Path) -> None:
    async with database(f"sqlite+aiosqlite:///{template}") as sqlite:
        expected = entries_json(
            await DemoBillingConnector(sqlite, catalog, Clock(CLOCK)).demo_accounts())
    async with database(postgres_url) as one, database(postgres_url) as two:
        first = DemoBillingConnector(one, catalog, Clock(CLOCK))
        await asyncio.gather(first.prepare(),
                             DemoBillingConnector(two, catalog, Clock(CLOCK)).prepare())
        entries = await first.demo_accounts()
        assert entries_json(entries) == expected
        entry = next(e for e in entries if e.supplier_code == "mrg_izhevsk" and e.kind == "house")
        reading = submission(entry.meters[0].id, last_value(entry) + 77, key="pg-key")
        acks = await asyncio.gather(first.submit_reading(entry.ref, reading),
                                    first.submit_reading(entry.ref, reading))
        assert acks[0] == acks[1]
        assert await first.count_readings("pg-key") == 1
        with pytest.raises(ReadingRejected) as caught:
            await first.submit_reading(
                entry.ref, submission(entry.meters[0].id, last_value(entry) + 80, key="pg-2"))
        assert caught.value.code == "already_submitted"
        await first.verify_ownership(entry.ref, entry.proofs[-1])


@pytest.mark.postgres
async def test_postgres_takes_a_households_simultaneous_readings_in_turn(
        postgres_url: str, catalog: Catalog) -> None:
    """Members of a household sending readings of one meter at the same moment, through two
    processes: each is answered (the supplier takes a corrected reading in place of the
    earlier one), none with «not responding», and one reading of the period stays live."""
    async with database(postgres_url) as one, database(postgres_url) as two:
        first = DemoBillingConnector(one, catalog, Clock(CLOCK))
        second = DemoBillingConnector(two, catalog, Clock(CLOCK))
        await first.prepare(["mrg_krasnodar"])
        entry = next(e for e in await first.demo_accounts(["mrg_krasnodar"])
                     if len(e.meters) == 1 and e.meters[0].last is not None
                     and len(e.meters[0].last.values) == 1)
        meter_id = entry.meters[0].id
        readings = [submission(meter_id, last_value(entry) + 10 + n, key=f"family-{n}")
                    for n in range(12)]
        acks = await asyncio.gather(*((first if n % 2 else second).submit_reading(
            entry.ref, reading) for n, reading in enumerate(readings)))
        assert len({ack.reference for ack in acks}) == len(readings)
        live = await first.get_readings(entry.ref, meter_id, Period(2026, 11), Period(2026, 11))
        assert len([r for r in live if r.source is ReadingSource.SUBSCRIBER]) == 1


async def test_accounts_and_meters_are_found_once_then_kept(seeded: Seeded) -> None:
    """Accounts and meters never change once seeded: after the first call, the meter list
    costs one statement per meter (its last reading) and the readings one statement, and
    the answers stay the same. A reading submitted meanwhile is seen (readings are always
    read)."""
    from sqlalchemy import event

    entry = next(e for e in seeded.entries
                 if e.supplier_code == "mrg_krasnodar" and len(e.meters) == 1
                 and e.meters[0].last is not None and len(e.meters[0].last.values) == 1)
    connector = DemoBillingConnector(seeded.factory, seeded.connector.catalog, seeded.clock)
    statements: list[str] = []
    engine = seeded.factory.kw["bind"].sync_engine

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split()[:6]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        first = await connector.get_meters(entry.ref)
        cold = len(statements)
        statements.clear()
        again = await connector.get_meters(entry.ref)
        assert again == first
        # Cold: the billing-run check, the account, its meters, the last reading.
        assert cold == 4 and len(statements) == 1, statements
        period = Period.of(CLOCK.date())
        statements.clear()
        before = await connector.get_readings(entry.ref, first[0].id, period.shift(-3), period)
        assert len(statements) == 1, statements
        value = first[0].last.values[0] + 5  # type: ignore[union-attr]
        await connector.submit_reading(entry.ref, submission(first[0].id, value, key="lru-1"))
        after = await connector.get_readings(entry.ref, first[0].id, period.shift(-3), period)
        assert len(after) == len(before) + 1 and after[-1].values == (value,)
        assert (await connector.get_meters(entry.ref))[0].last.values == (value,)  # type: ignore[union-attr]
    finally:
        event.remove(engine, "before_cursor_execute", count)
    unknown = AccountRef(entry.supplier_code, "0" * len(entry.number))
    with pytest.raises(AccountNotFound):
        await connector.get_meters(unknown)  # a miss is not remembered as anything


def test_lru_cache_forgets_the_least_recently_used() -> None:
    from bot.lru import LruCache

    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the oldest
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    assert len(cache) == 2 and cache.pop("a") == 1 and len(cache) == 1
    with pytest.raises(ValueError, match="positive"):
        LruCache(0)
