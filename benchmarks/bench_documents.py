"""How fast the bot makes its documents: receipt PDFs, payment QR codes, consumption charts.

Run from the repository root, either way:

    .venv/bin/python -m benchmarks.bench_documents --n 200
    .venv/bin/python benchmarks/bench_documents.py --n 200

The accounts are synthetic but shaped like real ones (DOMAIN.md §2, §6): suppliers from
the bundled catalog, 8–10 digit account numbers with leading zeros, debts, overpayments
and settled balances, one or two charges, zero to three payments, single and day/night
meters, and some long names and addresses that wrap.  Each measurement cycles over all
accounts, after a warm-up that loads fonts and fills caches, and reports the median and
the 95th percentile of the time per item.  Numbers only inform: nothing here asserts a
speed, since the machine and its load decide them.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: make the repository root importable, as `-m` would.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.billing.models import (
    AccountRef,
    Balance,
    Charge,
    Payment,
    PaymentChannel,
    Period,
    ReceiptData,
    ReceiptMeterLine,
)
from bot.documents.chart import render_consumption_chart
from bot.documents.payment import payment_order_for_receipt, payment_qr_png
from bot.documents.receipt_pdf import render_receipt_pdf
from bot.payments.gost import encode_payload
from bot.suppliers.loader import load_catalog
from bot.suppliers.models import Supplier

PERIOD = Period(2026, 11)
SEED = 56042
LAST_NAMES = ("Иванов", "Петрова", "Смирнов", "Кузнецова", "Попов", "Васильева", "Соколов")
FIRST_NAMES = ("Иван", "Анна", "Пётр", "Мария", "Алексей", "Ольга", "Сергей")
MIDDLE_NAMES = ("Иванович", "Петровна", "Сергеевич", "Алексеевна", "Николаевич")
STREETS = ("ул. Ленина", "пр-т Мира", "ул. Садовая", "ул. Гагарина", "пер. Школьный")
LONG_ADDRESS = (
    "Российская Федерация, {region}, муниципальный район Новоусманский, сельское поселение "
    "Отрадненское, посёлок Отрадное, улица Генерала Ивана Даниловича Черняховского, "
    "дом {house}, корпус 2, квартира {flat}"
)
TARIFF = Decimal("7.98714")


@dataclass(frozen=True, slots=True)
class Account:
    receipt: ReceiptData
    supplier: Supplier
    history: list[tuple[Period, Decimal]]


def _money(value: float) -> Decimal:
    return Decimal(str(round(value, 2))).quantize(Decimal("0.01"))


def synthetic_accounts(count: int, seed: int = SEED) -> list[Account]:
    rng = random.Random(seed)
    suppliers = list(load_catalog())
    accounts = []
    for index in range(count):
        supplier = suppliers[index % len(suppliers)]
        digits = supplier.account.digits or supplier.account.max_digits or 10
        number = f"{rng.randrange(10 ** (digits - 2)):0{digits}d}"  # leading zeros on purpose
        winter = rng.uniform(150, 320)
        volume = Decimal(rng.randrange(40, 320))
        gas = (volume * TARIFF).quantize(Decimal("0.01"))
        charges = [Charge(PERIOD, "Газоснабжение", volume, "м³", TARIFF, gas)]
        if index % 4 == 0:
            charges.append(
                Charge(
                    PERIOD,
                    "Техническое обслуживание ВДГО",
                    Decimal(1),
                    "усл.",
                    Decimal("95.00"),
                    Decimal("95.00"),
                    Decimal("-12.40"),
                )
            )
        charged = sum((c.amount for c in charges), Decimal(0))
        recalculation = sum((c.recalculation for c in charges), Decimal(0))
        opening = _money(rng.choice((0, rng.uniform(-600, 2500))))
        payments = tuple(
            Payment(
                date(2026, 11, 3 + 7 * n),
                _money(rng.uniform(300, 1500)),
                rng.choice(list(PaymentChannel)),
                f"OP-{rng.randrange(10**8):08d}",
            )
            for n in range(index % 4)
        )
        paid = sum((p.amount for p in payments), Decimal(0))
        closing = opening + charged + recalculation - paid
        if index % 7 == 3:  # a settled account: paid exactly what was due
            payments = (*payments, Payment(date(2026, 11, 28), closing, PaymentChannel.ONLINE))
            paid, closing = paid + closing, Decimal("0.00")
        serial = f"СГБ-G4 № {rng.randrange(10**8):08d}"
        check_date = date(2030, rng.randrange(1, 13), 1)
        # A two-zone meter splits the month's volume between day and night.
        day = (volume * Decimal("0.6")).to_integral_value()
        zones = (("day", day), ("night", volume - day)) if index % 5 == 0 else (("total", volume),)
        meters: tuple[ReceiptMeterLine, ...] = ()
        if index % 6 != 5:  # some accounts are billed by the norm, without a meter
            lines = []
            for zone, used in zones:
                previous = Decimal(rng.randrange(1000, 90000))
                lines.append(
                    ReceiptMeterLine(serial, zone, previous, previous + used, used, check_date)
                )
            meters = tuple(lines)
        name = " ".join((rng.choice(LAST_NAMES), rng.choice(FIRST_NAMES), rng.choice(MIDDLE_NAMES)))
        house, flat = rng.randrange(1, 200), rng.randrange(1, 300)
        address = (
            LONG_ADDRESS.format(region=supplier.region.ru, house=house, flat=flat)
            if index % 3 == 0
            else f"г. {supplier.region.ru}, {rng.choice(STREETS)}, д. {house}, кв. {flat}"
        )
        receipt = ReceiptData(
            ref=AccountRef(supplier.code, number),
            period=PERIOD,
            payer_name=name,
            address=address,
            residents=rng.randrange(1, 6),
            heated_area=Decimal(rng.randrange(300, 1500)) / 10 if index % 8 else None,
            balance=Balance(
                PERIOD, opening, charged, recalculation, paid, closing, date(2026, 12, 25)
            ),
            charges=tuple(charges),
            payments=payments,
            meters=meters,
        )
        history = [
            (
                PERIOD.shift(-offset),
                Decimal(round(winter * abs(6 - (PERIOD.month - offset) % 12) / 6)),
            )
            for offset in range(12)
            if rng.random() > 0.05
        ] or [(PERIOD, volume)]
        accounts.append(Account(receipt, supplier, history))
    return accounts


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    times: list[float]

    @property
    def total(self) -> float:
        return sum(self.times)

    @property
    def per_second(self) -> float:
        return len(self.times) / self.total

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times) * 1000

    @property
    def p95_ms(self) -> float:
        if len(self.times) < 2:
            return self.times[0] * 1000
        return statistics.quantiles(self.times, n=20, method="inclusive")[18] * 1000


def measure(
    name: str, items: Sequence[Account], work: Callable[[Account], bytes], n: int, warmup: int
) -> Result:
    for index in range(warmup):
        work(items[index % len(items)])
    times = []
    for index in range(n):
        item = items[index % len(items)]
        start = time.perf_counter()
        work(item)
        times.append(time.perf_counter() - start)
    return Result(name, times)


def _receipt(lang: str) -> Callable[[Account], bytes]:
    return lambda account: render_receipt_pdf(account.receipt, account.supplier, lang)


def _qr_png(account: Account) -> bytes:
    return payment_qr_png(payment_order_for_receipt(account.receipt, account.supplier))


def _payload(account: Account) -> bytes:
    return encode_payload(payment_order_for_receipt(account.receipt, account.supplier))


def _chart(account: Account) -> bytes:
    return render_consumption_chart(
        account.history,
        title="Расход газа",
        unit_label="м³",
        month_label=lambda period: f"{period.month:02d}.{period.year % 100:02d}",
    )


def print_table(results: Sequence[Result]) -> None:
    header = (
        f"{'item':<24} {'n':>6} {'total, s':>9} {'items/s':>9} {'median, ms':>11} {'p95, ms':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.name:<24} {len(r.times):>6} {r.total:>9.2f} {r.per_second:>9.1f}"
            f" {r.median_ms:>11.2f} {r.p95_ms:>9.2f}"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=100, help="measured items per kind (100)")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured items first (5)")
    parser.add_argument("--accounts", type=int, default=20, help="synthetic accounts (20)")
    parser.add_argument("--lang", default="ru", help="receipt language (ru)")
    args = parser.parse_args(argv)
    if args.n < 1 or args.accounts < 1 or args.warmup < 0:
        parser.error("--n and --accounts must be positive, --warmup not negative")

    accounts = synthetic_accounts(args.accounts)
    sizes = [len(_receipt(args.lang)(account)) for account in accounts]
    print(
        f"{len(accounts)} accounts of {len({a.supplier.code for a in accounts})} suppliers;"
        f" receipt PDF {min(sizes) // 1024}–{max(sizes) // 1024} KiB;"
        f" Python {sys.version.split()[0]}"
    )
    results = [
        measure(f"receipt PDF ({args.lang})", accounts, _receipt(args.lang), args.n, args.warmup),
        measure("payment QR PNG", accounts, _qr_png, args.n, args.warmup),
        measure("QR payload only", accounts, _payload, args.n, args.warmup),
        measure("consumption chart PNG", accounts, _chart, args.n, args.warmup),
    ]
    print_table(results)


if __name__ == "__main__":
    main()
