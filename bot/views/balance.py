"""Texts of the balance card and of the payment, charge and account-details histories.

Pure functions of their arguments: the language is a parameter (it also selects the
translation when an aiogram i18n context is active), nothing is fetched. The balance card
carries no personal data beyond the account's alias, its supplier and the masked number, so
it may be shown wherever the user shares it; the details view holds the owner's name and
address and is for the owner's private chat only.
"""

from __future__ import annotations

import html as html_text
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import date
from decimal import Decimal
from typing import Final

from aiogram import html
from aiogram.utils.i18n import I18n, ngettext
from aiogram.utils.i18n import gettext as _
from babel.dates import format_skeleton
from babel.numbers import format_decimal

from bot.billing.models import (
    AccountDetails,
    Balance,
    Charge,
    Equipment,
    Payment,
    PaymentChannel,
    Period,
)
from bot.billing.service_names import KnownService, known_service
from bot.db.models_accounts import LinkedAccount
from bot.i18n import fmt_date, fmt_money, fmt_number, fmt_period
from bot.services.accounts import account_title, masked_number, unit_name
from bot.suppliers.models import Supplier

__all__ = [
    "TEXT_LIMIT",
    "account_not_found_text",
    "balance_card_text",
    "balance_outage_text",
    "channel_name",
    "charges_pages",
    "details_text",
    "equipment_name",
    "paginate",
    "payments_pages",
    "service_name",
    "supplier_name",
    "text_length",
]

# Telegram's limit on a message text, in UTF-16 code units. Counted on the HTML source,
# which is never shorter than the text Telegram counts after parsing the tags.
TEXT_LIMIT: Final = 4096
# Room kept on every page for the «page 2 of 3» line, whose length is known only at the end.
_MARKER_RESERVE: Final = 64
# Payments or billed months on one page at most, however short: a screenful stays readable.
_PAYMENTS_PER_PAGE: Final = 25
_MONTHS_PER_PAGE: Final = 12
# Supplier-provided words are cut to these lengths, so one odd record cannot fill a page.
_SERVICE_MAX: Final = 80
_UNIT_MAX: Final = 16
_TAG: Final = re.compile(r"<[^>]+>")


def text_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


@contextmanager
def _language(lang: str) -> Iterator[None]:
    i18n = I18n.get_current(no_error=True)
    with i18n.use_locale(lang) if i18n is not None else nullcontext():
        yield


def _q(text: str, limit: int | None = None) -> str:
    if limit is not None and len(text) > limit:
        text = text[:limit - 1] + "…"
    return html.quote(text)


def supplier_name(account: LinkedAccount, supplier: Supplier | None, lang: str) -> str:
    # A supplier the operator has since removed still deserves a readable line.
    return supplier.display_name(lang) if supplier is not None else account.supplier_code


def _heading(icon: str, account: LinkedAccount, supplier: Supplier | None, lang: str) -> str:
    """«💰 <b>Дом</b>» (with the management unit, if any), the supplier when the title is an
    alias, the masked number."""
    name = supplier_name(account, supplier, lang)
    title = account_title(account, name, unit_name(account, supplier, lang))
    lines = [f"{icon} <b>{_q(title)}</b>"]
    if account.alias:
        lines.append(_("Supplier: {supplier}").format(supplier=_q(name)))
    lines.append(_("Account: <code>{number}</code>").format(number=masked_number(account)))
    return "\n".join(lines)


def _history_heading(icon: str, title: str, account: LinkedAccount, supplier: Supplier | None,
                     lang: str) -> str:
    """«🧾 <b>Платежи за 2025 год</b>», then whose: «Дом · Газпром…» and the masked number.
    `title` is HTML already."""
    name = supplier_name(account, supplier, lang)
    whose = f"{_q(account.alias)} · {_q(name)}" if account.alias else _q(name)
    unit = unit_name(account, supplier, lang)
    if unit:
        whose += f" · {_q(unit)}"
    number = _("Account: <code>{number}</code>").format(number=masked_number(account))
    return f"{icon} {title}\n{whose}\n{number}"


def _signed_money(amount: Decimal, lang: str) -> str:
    """A correction shows its direction: «+12,00 ₽», «−12,00 ₽», «0,00 ₽»."""
    if amount > 0:
        return "+" + fmt_money(amount, lang)
    if amount < 0:
        return "−" + fmt_money(-amount, lang)
    return fmt_money(amount, lang)


# --- the balance card ------------------------------------------------------------------------


def balance_card_text(account: LinkedAccount, supplier: Supplier | None, balance: Balance,
                      lang: str, *, overdue: bool) -> str:
    """The current period's balance of one account (sign: positive closing = amount due);
    `overdue`: the due date has passed (`BalanceService.overdue`)."""
    with _language(lang):
        lines = [_heading("💰", account, supplier, lang),
                 _("Period: {period}").format(
                     period=fmt_period(balance.period.year, balance.period.month, lang)),
                 ""]
        if balance.opening > 0:
            lines.append(_("Debt at the start of the period: {amount}").format(
                amount=fmt_money(balance.opening, lang)))
        elif balance.opening < 0:
            lines.append(_("Overpayment at the start of the period: {amount}").format(
                amount=fmt_money(-balance.opening, lang)))
        else:
            lines.append(_("At the start of the period: {amount}").format(
                amount=fmt_money(balance.opening, lang)))
        lines.append(_("Charged: {amount}").format(amount=fmt_money(balance.charged, lang)))
        lines.append(_("Recalculation: {amount}").format(
            amount=_signed_money(balance.recalculation, lang)))
        lines.append(_("Paid: {amount}").format(amount=fmt_money(balance.paid, lang)))
        lines.append("")
        if balance.closing > 0:
            lines.append(_("<b>Amount due: {amount}</b>").format(
                amount=fmt_money(balance.closing, lang)))
            if overdue and balance.due_date is not None:
                lines.append(_("⚠️ <b>Overdue:</b> payment was due by {date}").format(
                    date=fmt_date(balance.due_date, lang)))
            elif balance.due_date is not None:
                lines.append(_("Pay by {date}").format(date=fmt_date(balance.due_date, lang)))
        elif balance.closing < 0:
            lines.append(_("<b>Overpayment: {amount}</b>").format(
                amount=fmt_money(-balance.closing, lang)))
        else:
            lines.append(_("<b>No debt</b>"))
        return "\n".join(lines)


def balance_outage_text(account: LinkedAccount, supplier: Supplier | None, lang: str) -> str:
    with _language(lang):
        return _("⚠️ <b>{supplier}</b> is not responding right now, so the data of account "
                 "<code>{number}</code> cannot be shown. Please press «🔄 Retry» in a "
                 "minute.").format(supplier=_q(supplier_name(account, supplier, lang)),
                                   number=masked_number(account))


def account_not_found_text(account: LinkedAccount, supplier: Supplier | None,
                           lang: str) -> str:
    with _language(lang):
        return _("❓ <b>{supplier}</b> no longer finds account <code>{number}</code>: it may "
                 "have been merged with another one or closed. Check the number on a recent "
                 "receipt; if it has changed, unlink this account and link the new "
                 "number.").format(supplier=_q(supplier_name(account, supplier, lang)),
                                   number=masked_number(account))


# --- pagination ------------------------------------------------------------------------------


def _fit(item: str, budget: int) -> str:
    """An item longer than a whole page, as plain text cut to fit (tags cannot be cut)."""
    if text_length(item) <= budget:
        return item
    plain = html_text.unescape(_TAG.sub("", item))
    low, high = 0, len(plain)  # the longest prefix that fits, found by bisection
    while low < high:
        middle = (low + high + 1) // 2
        if text_length(html.quote(plain[:middle]) + "…") <= budget:
            low = middle
        else:
            high = middle - 1
    return html.quote(plain[:low]) + "…"


def paginate(header: str, items: Sequence[str], footer: str = "", *,
             limit: int = TEXT_LIMIT, per_page: int = 25, separator: str = "\n") -> list[str]:
    """Pages of `header`, a run of `items` and `footer`, each at most `limit` long; an item is
    never split between pages. A «page 2 of 3» line follows the header when there are
    several. Always at least one page."""
    fixed = text_length(header) + text_length(footer) + _MARKER_RESERVE + 4
    budget = limit - fixed
    if budget <= 0:
        raise ValueError("header and footer leave no room for the items")
    step = text_length(separator)
    chunks: list[list[str]] = []
    current: list[str] = []
    used = 0
    for raw in items:
        item = _fit(raw, budget)
        cost = text_length(item) + (step if current else 0)
        if current and (used + cost > budget or len(current) >= per_page):
            chunks.append(current)
            current, used, cost = [], 0, text_length(item)
        current.append(item)
        used += cost
    if current or not chunks:
        chunks.append(current)
    pages = []
    for number, chunk in enumerate(chunks, start=1):
        parts = [header]
        if len(chunks) > 1:
            parts.append(_("Page {page} of {pages}").format(page=number, pages=len(chunks)))
        text = "\n".join(parts)
        if chunk:
            text += "\n\n" + separator.join(chunk)
        if footer:
            text += "\n\n" + footer
        pages.append(text)
    return pages


# --- payments --------------------------------------------------------------------------------


def channel_name(channel: PaymentChannel | str) -> str:
    names = {
        PaymentChannel.BANK: _("bank"),
        PaymentChannel.ONLINE: _("online"),
        PaymentChannel.POST: _("post office"),
        PaymentChannel.CASH: _("cash desk"),
        PaymentChannel.TERMINAL: _("payment terminal"),
    }
    for key, name in names.items():
        if channel == key:
            return name
    return _q(str(channel))  # a channel a newer billing system added


def _day(value: date, lang: str) -> str:
    """«12 марта» / «March 12»: the year is in the page's title."""
    return format_skeleton("MMMMd", value, locale=lang)


def payments_pages(account: LinkedAccount, supplier: Supplier | None, year: int,
                   payments: Sequence[Payment], lang: str) -> list[str]:
    """The payments of one calendar year, newest first."""
    with _language(lang):
        header = _history_heading("🧾", _("<b>Payments in {year}</b>").format(year=year),
                                  account, supplier, lang)
        newest_first = sorted(payments, key=lambda p: p.paid_on, reverse=True)
        # Punctuation only, the same in every language: nothing to translate.
        items = [
            f"{_day(payment.paid_on, lang)} — <b>{fmt_money(payment.amount, lang)}</b> · "
            f"{channel_name(payment.channel)}"
            for payment in newest_first
        ]
        if items:
            total = sum((payment.amount for payment in payments), Decimal(0))
            count = ngettext("{count} payment", "{count} payments", len(items)).format(
                count=len(items))
            footer = _("Total for {year}: <b>{amount}</b> ({count})").format(
                year=year, amount=fmt_money(total, lang), count=count)
        else:
            footer = _("No payments in {year}.").format(year=year)
        return paginate(header, items, footer, per_page=_PAYMENTS_PER_PAGE)


# --- charges ---------------------------------------------------------------------------------


def _tariff(value: Decimal, lang: str) -> str:
    # Tariffs have up to 4 decimals (e.g. 7,2541 ₽ per m³): fmt_money would round them.
    return format_decimal(value, format="#,##0.00##", locale=lang) + "\xa0₽"


# How billing systems write cubic metres; shown in the user's language.
_CUBIC_METRES = frozenset({"м³", "м3", "куб.м", "куб. м", "m³", "m3"})


def _volume(value: Decimal, unit: str, lang: str) -> str:
    shown = _("m³") if unit.strip().lower() in _CUBIC_METRES else unit
    return f"{fmt_number(value, lang)} {_q(shown, _UNIT_MAX)}"


def service_name(name: str) -> str:
    """A service as the supplier names it («Газоснабжение»), in the current language when
    it is a known one; otherwise as written."""
    known = known_service(name)
    if known is None:
        return name
    names = {
        KnownService.GAS: _("Gas supply"),
        KnownService.GAS_NORM: _("Gas supply (by the consumption norm)"),
        KnownService.GAS_METERED: _("Gas supply (by the meter)"),
        KnownService.GAS_HEATING: _("Gas supply (heating)"),
        KnownService.GAS_COOKING: _("Gas supply (cooking)"),
        KnownService.GAS_HEATING_COOKING: _("Gas supply (heating and cooking)"),
        KnownService.GAS_WATER_HEATING: _("Gas supply (water heating)"),
        KnownService.MAINTENANCE_HOUSE: _("Maintenance of in-house gas equipment"),
        KnownService.MAINTENANCE_FLAT: _("Maintenance of in-flat gas equipment"),
        KnownService.PENALTY: _("Late payment penalty"),
    }
    return names[known]


def _charge_line(charge: Charge, lang: str) -> str:
    service = _q(service_name(charge.service), _SERVICE_MAX)
    volume = _volume(charge.volume, charge.unit, lang)
    line = (f"{service}: {volume} × {_tariff(charge.tariff, lang)} = "
            f"<b>{fmt_money(charge.amount, lang)}</b>")
    if charge.recalculation:
        line += "\n" + _("Recalculation: {amount}").format(
            amount=_signed_money(charge.recalculation, lang))
    return line


def charges_pages(account: LinkedAccount, supplier: Supplier | None, charges: Sequence[Charge],
                  start: Period, end: Period, lang: str) -> list[str]:
    """The charges of the billed months from `start` to `end`, newest month first, with
    totals (volume per unit, charged, recalculation) on every page."""
    with _language(lang):
        periods = sorted({charge.period for charge in charges}, reverse=True)
        first, last = (periods[-1], periods[0]) if periods else (start, end)
        title = _("<b>Charges, {start} — {end}</b>").format(
            start=fmt_period(first.year, first.month, lang),
            end=fmt_period(last.year, last.month, lang))
        header = _history_heading("📊", title, account, supplier, lang)
        items = []
        for period in periods:
            lines = [f"<b>{fmt_period(period.year, period.month, lang)}</b>"]
            lines += [_charge_line(c, lang) for c in charges if c.period == period]
            items.append("\n".join(lines))
        if not charges:
            return paginate(header, [], _("No charges in these months."))
        volumes: dict[str, Decimal] = {}
        for charge in charges:
            volumes[charge.unit] = volumes.get(charge.unit, Decimal(0)) + charge.volume
        footer_lines = [
            _("Total charged: <b>{amount}</b>").format(
                amount=fmt_money(sum((c.amount for c in charges), Decimal(0)), lang)),
            _("Total volume: {volume}").format(volume=", ".join(
                _volume(volume, unit, lang) for unit, volume in volumes.items())),
        ]
        recalculated = sum((c.recalculation for c in charges), Decimal(0))
        if recalculated:
            footer_lines.append(_("Total recalculation: {amount}").format(
                amount=_signed_money(recalculated, lang)))
        return paginate(header, items, "\n".join(footer_lines), per_page=_MONTHS_PER_PAGE,
                        separator="\n\n")


# --- account details -------------------------------------------------------------------------


def equipment_name(item: Equipment | str) -> str:
    names = {
        Equipment.STOVE: _("gas stove"),
        Equipment.BOILER: _("gas boiler"),
        Equipment.WATER_HEATER: _("gas water heater"),
    }
    for key, name in names.items():
        if item == key:
            return name
    return _q(str(item))


def details_text(account: LinkedAccount, supplier: Supplier | None, details: AccountDetails,
                 lang: str) -> str:
    """The account's characteristics as the supplier's cabinet shows them. Holds the owner's
    full name and address: for the verified owner's private chat only."""
    with _language(lang):
        lines = [_history_heading("ℹ️", _("<b>Account details</b>"), account, supplier, lang),
                 ""]
        lines.append(_("Owner: {owner}").format(owner=_q(details.owner_name, 200)))
        lines.append(_("Address: {address}").format(address=_q(details.address, 400)))
        lines.append(_("Residents: {count}").format(count=details.residents))
        if details.heated_area is not None:
            lines.append(_("Heated area: {area} m²").format(
                area=fmt_number(details.heated_area, lang)))
        else:
            lines.append(_("Heated area: not specified"))
        if details.equipment:
            lines.append(_("Gas equipment: {items}").format(
                items=", ".join(equipment_name(item) for item in details.equipment)))
        else:
            lines.append(_("Gas equipment: none listed"))
        return "\n".join(lines)
