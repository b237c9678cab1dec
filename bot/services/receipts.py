"""Receipts (платёжные документы) as PDF: which periods an account has, and the document.

The supplier gives the data of a receipt; the PDF is rendered here, in a worker thread,
because laying out a page and compressing its fonts takes long enough to stall every
other chat if done on the event loop.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Final

from bot.billing.errors import AccountNotFound, ReceiptNotAvailable, SupplierUnavailable
from bot.billing.models import AccountRef, Period, ReceiptData
from bot.context import AppContext
from bot.db.models_accounts import LinkedAccount
from bot.services.payments import SupplierGone
from bot.suppliers.models import Supplier


def render_receipt_pdf(receipt: ReceiptData, supplier: Supplier, lang: str) -> bytes:
    """The PDF renderer, imported with the first receipt: fpdf and fontTools take ~20 MiB
    that a bot nobody asks for a receipt need not hold."""
    from bot.documents.receipt_pdf import render_receipt_pdf as render

    return render(receipt, supplier, lang)

__all__ = [
    "AccountNotFound",
    "ReceiptFile",
    "ReceiptNotAvailable",
    "ReceiptsService",
    "SupplierGone",
    "SupplierUnavailable",
    "parse_period",
    "receipt_filename",
]

# «10.2026», «10/2026», «10-2026», «2026-10», «2026.10»: how people write a billing month;
# «10.26», «2/26» as receipts print it (the year in this century).
_MONTH_YEAR: Final = re.compile(r"(0?[1-9]|1[0-2])\s*[./-]\s*([0-9]{4}|[0-9]{2})")
_YEAR_MONTH: Final = re.compile(r"([0-9]{4})\s*[./-]\s*(0?[1-9]|1[0-2])")
# «октябрь 2025», «за октябрь 2025 г.», «окт. 2025», «October 2025», «Oct 2025», «октябрь»,
# «фев 26», «февр. 2026» (the abbreviations the chart and Babel write).
_NAMED_MONTH: Final = re.compile(
    r"(?:за\s+|for\s+)?(?P<name>[^\W\d_]+)\.?"
    r"(?:\s+(?P<year>[0-9]{4}|[0-9]{2})(?:\s*(?:г\.?|года?))?)?",
    re.IGNORECASE)
_MONTH_NAMES: Final = {
    name: month
    for month, names in enumerate((
        "январь января янв january jan", "февраль февраля фев февр february feb",
        "март марта мар march mar", "апрель апреля апр april apr", "май мая may",
        "июнь июня июн june jun", "июль июля июл july jul", "август августа авг august aug",
        "сентябрь сентября сен сент september sep sept", "октябрь октября окт october oct",
        "ноябрь ноября ноя нояб november nov", "декабрь декабря дек december dec",
    ), start=1)
    for name in names.split()
}
_UNSAFE_IN_NAME: Final = re.compile(r"[^0-9A-Za-z_-]")


def parse_period(text: str, today: Period | None = None) -> Period | None:
    """A billing month typed as text, or None when it is not one. A month named without a
    year («октябрь») is its latest one up to `today` (None: a year is needed)."""
    text = text.strip()
    if match := _MONTH_YEAR.fullmatch(text):
        year = int(match.group(2))
        return Period(year + 2000 if len(match.group(2)) == 2 else year, int(match.group(1)))
    if match := _YEAR_MONTH.fullmatch(text):
        return Period(int(match.group(1)), int(match.group(2)))
    if match := _NAMED_MONTH.fullmatch(text):
        month = _MONTH_NAMES.get(match["name"].lower().replace("ё", "е"))
        if month is None:
            return None
        if match["year"] is not None:
            year = int(match["year"])
            return Period(year + 2000 if len(match["year"]) == 2 else year, month)
        if today is not None:
            return Period(today.year if month <= today.month else today.year - 1, month)
    return None


def receipt_filename(number: str, period: Period, unit: str | None = None) -> str:
    """`receipt_<account>_<YYYY-MM>.pdf`: what the subscriber finds in their downloads;
    `receipt_<account>_<unit>_<YYYY-MM>.pdf` where the same number exists in two units."""
    account = _UNSAFE_IN_NAME.sub("", number)
    if unit:
        account += "_" + _UNSAFE_IN_NAME.sub("", unit)
    return f"receipt_{account}_{period}.pdf"


@dataclass(frozen=True, slots=True)
class ReceiptFile:
    filename: str
    content: bytes
    receipt: ReceiptData
    supplier: Supplier


class ReceiptsService:
    def __init__(self, app: AppContext) -> None:
        self.app = app

    def supplier(self, account: LinkedAccount) -> Supplier:
        supplier = self.app.catalog.get(account.supplier_code)
        if supplier is None:
            raise SupplierGone(account.supplier_code)
        return supplier

    @staticmethod
    def _ref(account: LinkedAccount) -> AccountRef:
        return AccountRef(account.supplier_code, account.number, account.unit)

    async def periods(self, account: LinkedAccount) -> list[Period]:
        """The periods with a receipt, newest first. Raises SupplierGone, and the billing's
        SupplierUnavailable / AccountNotFound."""
        supplier = self.supplier(account)
        connector = self.app.billing.for_supplier(supplier.code)
        return sorted(await connector.list_receipt_periods(self._ref(account)), reverse=True)

    async def pdf(self, account: LinkedAccount, period: Period, lang: str) -> ReceiptFile:
        """The receipt of `period` as a PDF labelled in `lang`. Raises ReceiptNotAvailable
        for a period without one, besides what `periods` raises."""
        supplier = self.supplier(account)
        connector = self.app.billing.for_supplier(supplier.code)
        receipt = await connector.get_receipt(self._ref(account), period)
        content = await asyncio.to_thread(render_receipt_pdf, receipt, supplier, lang)
        return ReceiptFile(receipt_filename(account.number, period, account.unit), content,
                           receipt, supplier)
