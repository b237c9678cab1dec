"""The payment order (ГОСТ Р 56042-2014 QR payload) for a subscriber's account.

Banking apps fill their payment form from these fields, so everything the subscriber
would otherwise type goes in: the payee from the supplier catalog, the account number
(as printed, leading zeros kept), the period, the amount and the payer's name.

The purpose text is always Russian, whatever the user's language: it is read by the
bank and the supplier's payment processing, not by the user.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Final

from bot.billing.models import Period, ReceiptData
from bot.i18n import fmt_period
from bot.payments.gost import (
    FIELD_MAX_LEN,
    PayloadEncoding,
    PaymentOrder,
    encode_payload,
    kopecks_from_rubles,
    paym_period_of,
)
from bot.suppliers.models import QrEncoding, Supplier

__all__ = [
    "DEFAULT_CATEGORY",
    "DEMO_PURPOSE_PREFIX",
    "PayerName",
    "payment_order_for",
    "payment_order_for_receipt",
    "payment_qr_png",
    "purpose_text",
    "split_payer_name",
]

# «Вид платежа»: what real gas receipts put in Category.
DEFAULT_CATEGORY: Final = "Газоснабжение"
# Demo requisites pass every checksum, so a bank would accept them: the purpose is the
# one text the payer sees in the banking app before confirming, hence the warning there.
DEMO_PURPOSE_PREFIX: Final = "ДЕМО-РЕКВИЗИТЫ, НЕ ОПЛАЧИВАТЬ! "

_ENCODINGS: Final[dict[QrEncoding, PayloadEncoding]] = {
    QrEncoding.CP1251: "cp1251",
    QrEncoding.UTF8: "utf-8",
}
# «И.И.» glued together is two initials.
_INITIALS_RE: Final = re.compile(r"(?<=\.)(?=\w)")

PayerName = tuple[str | None, str | None, str | None]


def split_payer_name(full_name: str | None) -> PayerName:
    """Last, first and middle name of «Иванов Иван Иванович» (Russian order).

    Anything after the third word stays with the patronymic («Алиев Рашид Гусейн оглы»).
    A masked name («Ив**** И. И.») yields nothing: a bank would show the stars as the
    payer's name.
    """
    if not full_name or "*" in full_name:
        return None, None, None
    words = _INITIALS_RE.sub(" ", full_name).split()
    if not words:
        return None, None, None
    last = words[0]
    first = words[1] if len(words) > 1 else None
    middle = " ".join(words[2:]) or None
    return last, first, middle


def purpose_text(account: str, period: Period, *, demo: bool = False,
                 unit: str | None = None) -> str:
    """«Оплата за газ, л/с 001234567, ноябрь 2026».

    With the management unit (УЭГХ) where the supplier has them, «л/с 125878700
    (Евпаторийское УЭГХ)»: the same number exists in two units, and PersAcc alone would
    not tell the supplier which account to credit. A unit name too long for Purpose is
    shortened, never the period after it (the payload builder would cut the end off).
    """
    prefix = DEMO_PURPOSE_PREFIX if demo else ""
    period_text = fmt_period(period.year, period.month, "ru")
    where = f"л/с {account}"
    if unit:
        room = FIELD_MAX_LEN["Purpose"] - len(f"{prefix}Оплата за газ, {where} (), {period_text}")
        if room > 0:
            where += f" ({unit if len(unit) <= room else unit[:room - 1].rstrip() + '…'})"
    return f"{prefix}Оплата за газ, {where}, {period_text}"


def _unit_name(supplier: Supplier, code: str | None) -> str | None:
    # Russian, as the rest of the purpose; a unit the catalog no longer lists by its code.
    if not code:
        return None
    unit = supplier.unit(code)
    return unit.name.ru if unit is not None else code


def _sum_kopecks(amount: Decimal | None) -> int | None:
    # Nothing due (zero or an overpayment) leaves the sum to the payer, as on paper.
    if amount is None or amount <= 0:
        return None
    return kopecks_from_rubles(amount)


def payment_order_for(
    supplier: Supplier,
    account: str,
    period: Period,
    amount: Decimal | None,
    *,
    payer_name: str | None = None,
    address: str | None = None,
    counter_id: str | None = None,
    counter_val: Decimal | str | None = None,
    category: str | None = DEFAULT_CATEGORY,
    service_name: str | None = None,
    unit: str | None = None,
) -> PaymentOrder:
    """The payment order for `account` of `supplier` for `period`; `unit` is the code of
    the account's management unit (УЭГХ), named in the purpose.

    `amount` in roubles becomes Sum in kopecks when positive; zero, negative (an
    overpayment) or None leave Sum out so that the payer types it.  A fraction of a
    kopeck raises ValueError rather than being rounded: money is never changed silently.
    `counter_id`/`counter_val` pass a meter reading along with the payment, as the
    «Мой газ» platform allows.  `service_name` is the bank's service code, which the
    catalog does not know, so it is left out unless given.
    """
    last, first, middle = split_payer_name(payer_name)
    return PaymentOrder(
        payee=supplier.payment.requisites,
        purpose=purpose_text(account, period, demo=supplier.payment.demo,
                             unit=_unit_name(supplier, unit)),
        sum_kopecks=_sum_kopecks(amount),
        pers_acc=account,
        paym_period=paym_period_of(period.first_day()),
        last_name=last,
        first_name=first,
        middle_name=middle,
        payer_address=address or None,
        category=category,
        service_name=service_name,
        counter_id=counter_id,
        counter_val=None if counter_val is None else str(counter_val),
        encoding=_ENCODINGS[supplier.payment.qr_encoding],
    )


def payment_order_for_receipt(receipt: ReceiptData, supplier: Supplier) -> PaymentOrder:
    """The order printed on `receipt`: the amount due (closing balance) when it is a debt.

    No meter reading goes in: the receipt's readings are already billed, and a bank
    would forward them to the supplier again as a new submission.
    """
    return payment_order_for(
        supplier,
        receipt.ref.number,
        receipt.period,
        receipt.balance.closing,
        payer_name=receipt.payer_name,
        address=receipt.address,
        unit=receipt.ref.unit,
    )


def payment_qr_png(order: PaymentOrder) -> bytes:
    """The QR code of `order` as PNG bytes, encoded as the order says."""
    from bot.payments.qr import render_qr_png  # qrcode and Pillow load with the first QR

    return render_qr_png(encode_payload(order))
