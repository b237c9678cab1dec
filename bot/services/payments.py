"""Paying for gas with a payment QR code (ГОСТ Р 56042-2014, DOMAIN.md §5).

The amount is either what the supplier says is due (the current closing balance, when it is
a debt) or an amount the subscriber types; `parse_amount` holds the rules for the latter.
The QR is built from the supplier catalog's requisites and the account number as printed,
and rendered off the event loop.

The payer's name and address are deliberately left out of the order: the banking app
knows its own client, the supplier matches the payment by the account number (and, where
it keeps accounts per management unit, the unit named in the purpose), and the owner's
full name would otherwise travel through the bot for nothing.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Final

from bot.billing.errors import AccountNotFound, SupplierUnavailable
from bot.billing.models import AccountRef, Period
from bot.context import AppContext
from bot.db.models_accounts import LinkedAccount
from bot.documents.payment import payment_order_for, payment_qr_png
from bot.payments.gost import PaymentOrder
from bot.services.balance import is_overdue
from bot.services.errors import DomainError
from bot.suppliers.models import Supplier

__all__ = [
    "MAX_AMOUNT",
    "AccountNotFound",
    "AmountDue",
    "AmountError",
    "InvalidAmount",
    "PaymentQr",
    "PaymentsService",
    "SupplierGone",
    "SupplierUnavailable",
    "parse_amount",
]

# One payment at most; far above any household gas bill, low enough to catch a slip of
# the finger (an account number typed into the amount field).
MAX_AMOUNT: Final = Decimal("1000000.00")
_KOPECK: Final = Decimal("0.01")

# «1 234,56 ₽», «1234.56 руб.», «₽ 500»: the currency is tolerated on either side.
_CURRENCY: Final = r"(?:₽|руб(?:лей|ля|ль)?\.?|р\.?|rub\.?|rur\.?|rubles?)"
_CURRENCY_BEFORE: Final = re.compile(rf"^{_CURRENCY}\s*", re.IGNORECASE)
_CURRENCY_AFTER: Final = re.compile(rf"\s*{_CURRENCY}$", re.IGNORECASE)
_MINUS: Final = re.compile(r"^[-\u2212\u2012\u2013\u2014]\s*")
# Spaces only between groups of three digits: «100 50» could mean 100 roubles 50 kopecks,
# and money is never guessed. `[0-9]`, not `\d`: other scripts' digits are not amounts.
_AMOUNT: Final = re.compile(r"([0-9]{1,3}(?:\s[0-9]{3})+|[0-9]+)(?:[.,]([0-9]+))?")
# English grouping, as the bot itself writes amounts in English («1,234.56 ₽»). Tried first
# for English users; for others only when _AMOUNT fails, so their «1,500» stays a decimal
# comma with too many digits.
_AMOUNT_EN: Final = re.compile(r"([0-9]{1,3}(?:,[0-9]{3})+)(?:\.([0-9]+))?")


class AmountError(StrEnum):
    EMPTY = "empty"
    NOT_A_NUMBER = "not_a_number"
    NOT_POSITIVE = "not_positive"
    TOO_MANY_DECIMALS = "too_many_decimals"  # also «1,500»: a thousands comma is ambiguous
    TOO_LARGE = "too_large"


class InvalidAmount(DomainError):
    def __init__(self, error: AmountError) -> None:
        super().__init__(error.value)
        self.error = error


class SupplierGone(DomainError):
    """The account's supplier is no longer in the catalog (the operator disabled it)."""


def parse_amount(raw: str, *, comma_groups: bool = False) -> Decimal:
    """An amount in roubles, as typed: «1500», «1 234,56», «1234.56 ₽», «500 руб».

    `comma_groups`: the user's language groups thousands with commas (English), so «1,500»
    is 1500 (otherwise a decimal comma with too many digits). Positive, whole kopecks, at
    most MAX_AMOUNT; anything else raises InvalidAmount with the reason, so that the hint
    can say what to fix.
    """
    text = raw.strip()
    if not text:
        raise InvalidAmount(AmountError.EMPTY)
    text = _CURRENCY_AFTER.sub("", _CURRENCY_BEFORE.sub("", text))
    negative = _MINUS.match(text) is not None
    text = _MINUS.sub("", text)
    match = ((_AMOUNT_EN.fullmatch(text) if comma_groups else None)
             or _AMOUNT.fullmatch(text) or _AMOUNT_EN.fullmatch(text))
    if match is None:
        raise InvalidAmount(AmountError.NOT_A_NUMBER)
    whole, fraction = match.group(1), match.group(2) or ""
    digits = "".join(ch for ch in whole if ch.isdigit())
    value = Decimal(digits + ("." + fraction if fraction else ""))
    if negative or value <= 0:
        raise InvalidAmount(AmountError.NOT_POSITIVE)
    if len(fraction) > 2:
        raise InvalidAmount(AmountError.TOO_MANY_DECIMALS)
    if value > MAX_AMOUNT:
        raise InvalidAmount(AmountError.TOO_LARGE)
    return value.quantize(_KOPECK)


@dataclass(frozen=True, slots=True)
class AmountDue:
    """What the supplier says about paying for an account right now."""

    # The period the payment is for: with a debt, that of the latest receipt, whose amount
    # due the closing balance carries (the open period has no receipt yet); the current
    # period when nothing is due (an advance) or for an account without receipts.
    period: Period
    closing: Decimal  # positive = debt, negative = overpayment
    due_date: date | None
    overdue: bool = False  # the due date has passed, the supplier's today


    @property
    def amount(self) -> Decimal | None:
        """The amount to pay, None when nothing is due."""
        return self.closing if self.closing > 0 else None

    @property
    def overpayment(self) -> Decimal | None:
        return -self.closing if self.closing < 0 else None


@dataclass(frozen=True, slots=True)
class PaymentQr:
    """A rendered payment QR and what its caption tells the payer."""

    png: bytes
    order: PaymentOrder
    supplier: Supplier
    number: str  # the account number as printed: shown to its owner, never logged
    period: Period
    amount: Decimal
    unit: str | None = None  # the account's management unit (УЭГХ) code, if any

    @property
    def recipient(self) -> str:
        return self.supplier.payment.name

    @property
    def demo(self) -> bool:
        return self.supplier.payment.demo

    def unit_name(self, lang: str) -> str | None:
        found = self.supplier.unit(self.unit) if self.unit else None
        return found.name.get(lang) if found is not None else self.unit


class PaymentsService:
    def __init__(self, app: AppContext) -> None:
        self.app = app

    def supplier(self, account: LinkedAccount) -> Supplier:
        supplier = self.app.catalog.get(account.supplier_code)
        if supplier is None:
            raise SupplierGone(account.supplier_code)
        return supplier

    async def amount_due(self, account: LinkedAccount) -> AmountDue:
        """Raises SupplierGone, and the billing's SupplierUnavailable / AccountNotFound."""
        supplier = self.supplier(account)
        connector = self.app.billing.for_supplier(supplier.code)
        ref = AccountRef(account.supplier_code, account.number, account.unit)
        balance = await connector.get_balance(ref)
        if balance.closing > 0:
            billed = [p for p in await connector.list_receipt_periods(ref)
                      if p <= balance.period]
            period = max(billed) if billed else balance.period
        else:
            # Nothing due: a payment now is an advance, for the open period — naming the
            # last receipt's period, already paid, confused a trial user.
            period = balance.period
        today = self.app.clock().astimezone(supplier.zone).date()
        return AmountDue(period, balance.closing, balance.due_date,
                         overdue=is_overdue(balance, today))

    def order(self, account: LinkedAccount, period: Period, amount: Decimal) -> PaymentOrder:
        return payment_order_for(self.supplier(account), account.number, period, amount,
                                 unit=account.unit)

    async def qr(self, account: LinkedAccount, period: Period, amount: Decimal) -> PaymentQr:
        """The payment QR for `amount` (positive, whole kopecks) to the account's supplier."""
        if amount <= 0:
            raise InvalidAmount(AmountError.NOT_POSITIVE)
        supplier = self.supplier(account)
        order = self.order(account, period, amount)
        # Rendering a version-14 code and compressing the PNG takes tens of milliseconds:
        # long enough to hold up every other chat if done on the event loop.
        png = await asyncio.to_thread(payment_qr_png, order)
        return PaymentQr(png, order, supplier, account.number, period, amount, account.unit)
