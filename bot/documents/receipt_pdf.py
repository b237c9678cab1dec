"""The payment document («Платёжный документ (квитанция)») of one account as a PDF.

The layout follows the model form of a utility payment document (Правила № 354 п.69,
Минстрой order 43/пр) with what gas receipts add (DOMAIN.md §6): the payee and its bank
details, the payer, the settlement of the period, the charges, the payments received,
the meters and the amount due, with the payment QR code of ГОСТ Р 56042-2014.

Output is reproducible: the same receipt gives the same bytes, because the only
time-dependent field of a PDF, its creation date, is derived from the billing period.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Final

from fpdf import FPDF
from fpdf.enums import Align, MethodReturnValue, TableBordersLayout, XPos, YPos
from fpdf.fonts import FontFace, TTFFont

from bot.billing.models import Balance, Period, ReceiptData
from bot.documents.fonts import BOLD, REGULAR
from bot.documents.labels import receipt_labels, resolve_language, service_label
from bot.documents.payment import payment_order_for_receipt
from bot.i18n import fmt_date, fmt_money, fmt_number, fmt_period
from bot.payments.gost import encode_payload
from bot.payments.qr import render_qr_image
from bot.suppliers.models import Supplier

__all__ = [
    "CONTENT_WIDTH_MM",
    "FONT_FAMILY",
    "MARGIN_MM",
    "QR_COLUMN_MM",
    "render_receipt_pdf",
]

FONT_FAMILY: Final = "PTSans"
MARGIN_MM: Final = 10.0
PAGE_WIDTH_MM: Final = 210.0
CONTENT_WIDTH_MM: Final = PAGE_WIDTH_MM - 2 * MARGIN_MM
# The QR column on the right of the payee and payer blocks.
QR_COLUMN_MM: Final = 48.0
# 40 mm holds a version-14 code (the largest a long cp1251 payload needs) at about
# 0.5 mm per module: comfortably above what a phone camera resolves from a printout.
QR_SIDE_MM: Final = 40.0
_COLUMN_GAP_MM: Final = 4.0
_INFO_WIDTH_MM: Final = CONTENT_WIDTH_MM - QR_COLUMN_MM - _COLUMN_GAP_MM
_KEY_WIDTH_MM: Final = 38.0
_SECTION_GAP_MM: Final = 3.0
_BOTTOM_MARGIN_MM: Final = 10.0

_TEXT_PT: Final = 8.5
_TABLE_PT: Final = 8.0
_HEADING_PT: Final = 9.5
_LINE_MM: Final = 4.0
_TABLE_LINE_MM: Final = 3.7
_CELL_PADDING: Final = (0.8, 1.2)

_BLACK: Final = (0, 0, 0)
_GREY_TEXT: Final = (90, 90, 90)
_RULE: Final = (120, 120, 120)
_HEAD_FILL: Final = (232, 232, 232)
_DUE_FILL: Final = (242, 242, 242)
_DEMO_RED: Final = (190, 20, 20)
_DEMO_FILL: Final = (253, 236, 236)

# Tariffs and readings show the places they have (4,37507 stays exact), up to this many,
# which still fits their columns.
_MAX_DECIMALS: Final = 6
# Babel puts a narrow no-break space before «г.»; PT Sans has no glyph for it, and a
# missing glyph prints as nothing.
_TEXT_REPLACEMENTS: Final = {"\u202f": "\xa0"}
_M3_SPELLINGS: Final = frozenset({"м³", "м3", "куб.м", "куб. м", "m³", "m3"})


def _text(value: str) -> str:
    for old, new in _TEXT_REPLACEMENTS.items():
        value = value.replace(old, new)
    return value


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


@dataclass(frozen=True, slots=True)
class _Formats:
    lang: str
    labels: Mapping[str, str]

    def money(self, amount: Decimal) -> str:
        return _text(fmt_money(amount, self.lang))

    def amount(self, amount: Decimal) -> str:
        """Money in a column whose heading carries the «₽»."""
        return _text(fmt_number(amount, self.lang, 2))

    def number(self, value: Decimal, min_decimals: int = 0) -> str:
        places = min(max(_decimals(value), min_decimals), _MAX_DECIMALS)
        return _text(fmt_number(value, self.lang, places))

    def short_date(self, value: date | None) -> str:
        if value is None:
            return self.labels["not_known"]
        return _text(fmt_date(value, self.lang, self.labels["date_format"]))

    def long_date(self, value: date) -> str:
        return _text(fmt_date(value, self.lang, "long"))

    def period(self, period: Period) -> str:
        return fmt_period(period.year, period.month, self.lang)

    def unit(self, unit: str) -> str:
        return self.labels["unit_m3"] if unit.strip() in _M3_SPELLINGS else unit

    def service(self, name: str) -> str:
        return service_label(name, self.labels)

    def label(self, key: str, **values: str) -> str:
        return self.labels[key].format(**values) if values else self.labels[key]


def _creation_date(period: Period, supplier: Supplier) -> datetime:
    # A receipt is issued once its month is over: the first day of the next month.
    issued = period.shift(1).first_day()
    return datetime(issued.year, issued.month, issued.day, tzinfo=supplier.zone)


def _new_pdf(receipt: ReceiptData, supplier: Supplier, fmt: _Formats) -> FPDF:
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_margins(MARGIN_MM, MARGIN_MM, MARGIN_MM)
    pdf.set_auto_page_break(auto=True, margin=_BOTTOM_MARGIN_MM)
    pdf.add_font(FONT_FAMILY, "", str(REGULAR))
    pdf.add_font(FONT_FAMILY, "B", str(BOLD))
    pdf.set_title(
        fmt.label("pdf_title", period=fmt.period(receipt.period), account=receipt.ref.number)
    )
    pdf.set_subject(fmt.label("pdf_subject"))
    pdf.set_author(supplier.display_name(fmt.lang))
    pdf.set_creator("gasbot")
    pdf.set_lang(fmt.lang)
    pdf.set_creation_date(_creation_date(receipt.period, supplier))
    pdf.set_text_color(*_BLACK)
    pdf.set_draw_color(*_RULE)
    pdf.set_line_width(0.2)
    return pdf


def _font(pdf: FPDF, size: float, *, bold: bool = False) -> None:
    pdf.set_font(FONT_FAMILY, "B" if bold else "", size)


def _header(pdf: FPDF, receipt: ReceiptData, supplier: Supplier, fmt: _Formats) -> None:
    top = pdf.get_y()
    right_w = 60.0
    left_w = CONTENT_WIDTH_MM - right_w
    _font(pdf, _TEXT_PT)
    pdf.set_text_color(*_GREY_TEXT)
    pdf.multi_cell(left_w, _LINE_MM, supplier.display_name(fmt.lang), new_x=XPos.LMARGIN)
    pdf.set_text_color(*_BLACK)
    _font(pdf, 13, bold=True)
    pdf.multi_cell(left_w, 6, fmt.label("title"), new_x=XPos.LMARGIN)
    _font(pdf, 10)
    for_period = fmt.label("for_period", period=fmt.period(receipt.period))
    subtitle = f"{fmt.label('subtitle')} {for_period}"
    pdf.multi_cell(left_w, 5, subtitle, new_x=XPos.LMARGIN)
    left_bottom = pdf.get_y()

    pdf.set_xy(MARGIN_MM + left_w, top)
    _font(pdf, _TEXT_PT)
    pdf.set_text_color(*_GREY_TEXT)
    pdf.multi_cell(right_w, _LINE_MM, fmt.label("account_number"), align=Align.R)
    pdf.set_text_color(*_BLACK)
    pdf.set_x(MARGIN_MM + left_w)
    _font(pdf, 15, bold=True)
    pdf.multi_cell(right_w, 7, receipt.ref.number, align=Align.R)
    unit = _unit_name(receipt, supplier, fmt)
    if unit is not None:
        pdf.set_x(MARGIN_MM + left_w)
        _font(pdf, _TEXT_PT)
        pdf.multi_cell(right_w, _LINE_MM, unit, align=Align.R)
    pdf.set_x(MARGIN_MM + left_w)
    _font(pdf, 10)
    pdf.multi_cell(right_w, 5, fmt.period(receipt.period), align=Align.R)
    pdf.set_y(max(left_bottom, pdf.get_y()) + 1.5)
    _rule(pdf, width=0.5)


def _rule(pdf: FPDF, *, width: float = 0.2) -> None:
    pdf.set_line_width(width)
    pdf.set_draw_color(*_BLACK)
    y = pdf.get_y()
    pdf.line(MARGIN_MM, y, MARGIN_MM + CONTENT_WIDTH_MM, y)
    pdf.set_draw_color(*_RULE)
    pdf.set_line_width(0.2)
    pdf.set_y(y + _SECTION_GAP_MM)


def _height(pdf: FPDF, width: float, line_height: float, text: str) -> float:
    """The height `text` takes in a multi_cell of `width` in the current font."""
    lines = pdf.multi_cell(width, line_height, text, dry_run=True, output=MethodReturnValue.LINES)
    if not isinstance(lines, list):
        raise TypeError(f"fpdf returned {type(lines).__name__} for the lines of a cell")
    return len(lines) * line_height


def _demo_banner(pdf: FPDF, fmt: _Formats) -> None:
    title = fmt.label("demo_banner").upper()
    note = fmt.label("demo_note")
    inner = CONTENT_WIDTH_MM - 6
    # Measured first: the box is drawn before its text, which would otherwise hide under it.
    _font(pdf, 12, bold=True)
    title_h = _height(pdf, inner, 5.5, title)
    _font(pdf, _TEXT_PT)
    note_h = _height(pdf, inner, _LINE_MM, note)
    top = pdf.get_y()
    height = title_h + note_h + 3
    with pdf.local_context(draw_color=_DEMO_RED, fill_color=_DEMO_FILL, line_width=0.6):
        pdf.rect(MARGIN_MM, top, CONTENT_WIDTH_MM, height, style="DF")
    with pdf.local_context(text_color=_DEMO_RED):
        pdf.set_xy(MARGIN_MM + 3, top + 1.5)
        _font(pdf, 12, bold=True)
        pdf.multi_cell(inner, 5.5, title, align=Align.C, new_x=XPos.LEFT, new_y=YPos.NEXT)
        _font(pdf, _TEXT_PT)
        pdf.multi_cell(inner, _LINE_MM, note, align=Align.C, new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_xy(MARGIN_MM, top + height + _SECTION_GAP_MM)


def _section_title(pdf: FPDF, text: str, width: float = CONTENT_WIDTH_MM) -> None:
    _font(pdf, _HEADING_PT, bold=True)
    pdf.multi_cell(width, 5, text.upper(), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_y(pdf.get_y() + 0.5)


def _key_values(
    pdf: FPDF, rows: Sequence[tuple[str, str]], *, width: float, bold_first: bool = False
) -> None:
    """Label–value lines; long values wrap inside their column."""
    _font(pdf, _TEXT_PT)
    value_width = width - _KEY_WIDTH_MM
    with pdf.table(
        width=width,
        align=Align.L,
        col_widths=(_KEY_WIDTH_MM, value_width),
        borders_layout=TableBordersLayout.NONE,
        first_row_as_headings=False,
        line_height=_LINE_MM,
        text_align=(Align.L, Align.L),
        v_align="TOP",
        padding=(0.3, 0.0),
    ) as table:
        for index, (key, value) in enumerate(rows):
            row = table.row()
            row.cell(key, style=FontFace(color=_GREY_TEXT))
            bold = bold_first and index == 0
            row.cell(_text(value), style=FontFace(emphasis="BOLD") if bold else None)
    pdf.set_x(MARGIN_MM)


def _payee_rows(supplier: Supplier, fmt: _Formats) -> list[tuple[str, str]]:
    payment = supplier.payment
    rows = [
        (fmt.label("payee"), payment.name),
        (fmt.label("inn_kpp"), f"{payment.inn} / {payment.kpp}"),
        (fmt.label("bank"), payment.bank_name),
        (fmt.label("bic"), payment.bic),
        (fmt.label("settlement_account"), payment.settlement_account),
        (fmt.label("correspondent_account"), payment.correspondent_account),
    ]
    support = supplier.support
    if support is not None and support.phone:
        rows.append((fmt.label("phone"), support.phone))
    if support is not None and support.email:
        rows.append((fmt.label("email"), support.email))
    return rows


def _unit_name(receipt: ReceiptData, supplier: Supplier, fmt: _Formats) -> str | None:
    """The account's management unit (УЭГХ), None for a supplier without units: the same
    number exists in two units, so the number alone does not say whose receipt it is."""
    code = receipt.ref.unit
    if not code:
        return None
    unit = supplier.unit(code)
    return unit.name.get(fmt.lang) if unit is not None else code


def _payer_rows(receipt: ReceiptData, supplier: Supplier, fmt: _Formats
                ) -> list[tuple[str, str]]:
    area = (
        fmt.label("area_value", area=fmt.number(receipt.heated_area))
        if receipt.heated_area is not None
        else fmt.label("not_known")
    )
    rows = [
        (fmt.label("payer"), receipt.payer_name),
        (fmt.label("address"), receipt.address),
        (fmt.label("account_number"), receipt.ref.number),
    ]
    unit = _unit_name(receipt, supplier, fmt)
    if unit is not None:
        rows.append((fmt.label("management_unit"), unit))
    return [
        *rows,
        (fmt.label("period"), fmt.period(receipt.period)),
        (fmt.label("residents"), fmt.label("residents_value", count=str(receipt.residents))),
        (fmt.label("heated_area"), area),
    ]


def _qr_column(
    pdf: FPDF, receipt: ReceiptData, supplier: Supplier, fmt: _Formats, top: float
) -> float:
    """Draw the QR code with its caption in the right column; returns the bottom y."""
    order = payment_order_for_receipt(receipt, supplier)
    image = render_qr_image(encode_payload(order))
    left = MARGIN_MM + CONTENT_WIDTH_MM - QR_COLUMN_MM
    pdf.image(image, x=left + (QR_COLUMN_MM - QR_SIDE_MM) / 2, y=top, w=QR_SIDE_MM)
    pdf.set_xy(left, top + QR_SIDE_MM + 0.5)
    _font(pdf, _HEADING_PT, bold=True)
    pdf.multi_cell(QR_COLUMN_MM, 4.5, fmt.label("qr_caption"), align=Align.C)
    _font(pdf, _TEXT_PT)
    if order.sum_kopecks is not None:
        caption = fmt.label("qr_sum", amount=fmt.money(receipt.balance.closing))
    else:
        caption = fmt.label("qr_no_sum")
    for text in (caption, fmt.label("qr_hint")):
        pdf.set_x(left)
        pdf.multi_cell(QR_COLUMN_MM, _LINE_MM, text, align=Align.C)
    if supplier.payment.demo:
        pdf.set_x(left)
        _font(pdf, _TEXT_PT, bold=True)
        with pdf.local_context(text_color=_DEMO_RED):
            pdf.multi_cell(QR_COLUMN_MM, _LINE_MM, fmt.label("demo_banner"), align=Align.C)
    bottom = pdf.get_y()
    pdf.set_xy(MARGIN_MM, top)
    return bottom


def _signed_label(amount: Decimal, debt_key: str, overpayment_key: str) -> str:
    return overpayment_key if amount < 0 else debt_key


def _summary(pdf: FPDF, balance: Balance, fmt: _Formats) -> None:
    _section_title(pdf, fmt.label("summary"))
    columns = [
        (
            fmt.label(_signed_label(balance.opening, "opening_debt", "opening_overpayment")),
            fmt.money(abs(balance.opening)),
        ),
        (fmt.label("charged"), fmt.money(balance.charged)),
        (fmt.label("recalculation"), fmt.money(balance.recalculation)),
        (fmt.label("paid"), fmt.money(balance.paid)),
        (
            fmt.label(_signed_label(balance.closing, "closing_debt", "closing_overpayment")),
            fmt.money(abs(balance.closing)),
        ),
    ]
    _font(pdf, _TABLE_PT)
    with pdf.table(
        width=CONTENT_WIDTH_MM,
        align=Align.L,
        line_height=_TABLE_LINE_MM,
        text_align=Align.C,
        headings_style=FontFace(emphasis=None, fill_color=_HEAD_FILL, size_pt=7.5),
        padding=_CELL_PADDING,
    ) as table:
        heading = table.row()
        for title, _ in columns:
            heading.cell(title)
        values = table.row()
        for index, (_, value) in enumerate(columns):
            last = index == len(columns) - 1
            values.cell(value, style=FontFace(emphasis="BOLD") if last else None)
    pdf.set_y(pdf.get_y() + _SECTION_GAP_MM)


@dataclass(frozen=True, slots=True)
class _Column:
    title: str
    width: float
    align: Align


def _table(
    pdf: FPDF,
    columns: Sequence[_Column],
    rows: Sequence[Sequence[str]],
    *,
    total: Sequence[str] | None = None,
) -> None:
    _font(pdf, _TABLE_PT)
    with pdf.table(
        width=sum(column.width for column in columns),
        align=Align.L,
        col_widths=tuple(column.width for column in columns),
        line_height=_TABLE_LINE_MM,
        text_align=tuple(column.align for column in columns),
        headings_style=FontFace(emphasis="BOLD", fill_color=_HEAD_FILL, size_pt=7.5),
        padding=_CELL_PADDING,
    ) as table:
        heading = table.row()
        for column in columns:
            heading.cell(column.title, align=Align.C)
        for values in rows:
            table.row([_text(value) for value in values])
        if total is not None:
            table.row(total, style=FontFace(emphasis="BOLD"))
    pdf.set_y(pdf.get_y() + _SECTION_GAP_MM)


def _note(pdf: FPDF, text: str) -> None:
    _font(pdf, _TEXT_PT)
    with pdf.local_context(text_color=_GREY_TEXT):
        pdf.multi_cell(CONTENT_WIDTH_MM, _LINE_MM, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_y(pdf.get_y() + _SECTION_GAP_MM)


def _charges(pdf: FPDF, receipt: ReceiptData, fmt: _Formats) -> None:
    _section_title(pdf, fmt.label("charges"))
    if not receipt.charges:
        _note(pdf, fmt.label("no_charges"))
        return
    columns = (
        _Column(fmt.label("col_service"), 52, Align.L),
        _Column(fmt.label("col_volume"), 21, Align.R),
        _Column(fmt.label("col_unit"), 14, Align.C),
        _Column(fmt.label("col_tariff"), 22, Align.R),
        _Column(fmt.label("col_charged"), 27, Align.R),
        _Column(fmt.label("col_recalculation"), 26, Align.R),
        _Column(fmt.label("col_total"), 28, Align.R),
    )
    rows = [
        (
            fmt.service(charge.service),
            fmt.number(charge.volume),
            fmt.unit(charge.unit),
            fmt.number(charge.tariff, min_decimals=2),
            fmt.amount(charge.amount),
            fmt.amount(charge.recalculation),
            fmt.amount(charge.amount + charge.recalculation),
        )
        for charge in receipt.charges
    ]
    charged = sum((charge.amount for charge in receipt.charges), Decimal(0))
    recalculated = sum((charge.recalculation for charge in receipt.charges), Decimal(0))
    total = (
        fmt.label("total"),
        "",
        "",
        "",
        fmt.amount(charged),
        fmt.amount(recalculated),
        fmt.amount(charged + recalculated),
    )
    _table(pdf, columns, rows, total=total)


def _payments(pdf: FPDF, receipt: ReceiptData, fmt: _Formats) -> None:
    _section_title(pdf, fmt.label("payments"))
    if not receipt.payments:
        _note(pdf, fmt.label("no_payments"))
        return
    columns = (
        _Column(fmt.label("col_date"), 30, Align.C),
        _Column(fmt.label("col_amount"), 35, Align.R),
        _Column(fmt.label("col_channel"), 50, Align.L),
        _Column(fmt.label("col_reference"), 75, Align.L),
    )
    payments = sorted(receipt.payments, key=lambda payment: payment.paid_on)
    rows = [
        (
            fmt.short_date(payment.paid_on),
            fmt.amount(payment.amount),
            fmt.label(f"channel_{payment.channel.value}"),
            payment.reference or "",
        )
        for payment in payments
    ]
    paid = sum((payment.amount for payment in payments), Decimal(0))
    total = (fmt.label("total"), fmt.amount(paid), "", "")
    _table(pdf, columns, rows, total=total if len(rows) > 1 else None)


def _zone(zone: str, fmt: _Formats) -> str:
    key = f"zone_{zone}"
    return fmt.labels.get(key, zone)


def _meters(pdf: FPDF, receipt: ReceiptData, fmt: _Formats) -> None:
    if not receipt.meters:
        # An account billed by the norm has no meters: no empty table for it.
        return
    _section_title(pdf, fmt.label("meters"))
    columns = (
        _Column(fmt.label("col_serial"), 42, Align.L),
        _Column(fmt.label("col_zone"), 22, Align.C),
        _Column(fmt.label("col_previous"), 30, Align.R),
        _Column(fmt.label("col_current"), 30, Align.R),
        _Column(fmt.label("col_consumption"), 32, Align.R),
        _Column(fmt.label("col_check_date"), 34, Align.C),
    )
    rows = []
    for line in receipt.meters:
        # One number of places per line, so that previous and current align digit by digit.
        places = min(
            max(_decimals(line.previous), _decimals(line.current), _decimals(line.consumption)),
            _MAX_DECIMALS,
        )
        rows.append(
            (
                line.serial,
                _zone(line.zone, fmt),
                _text(fmt_number(line.previous, fmt.lang, places)),
                _text(fmt_number(line.current, fmt.lang, places)),
                _text(fmt_number(line.consumption, fmt.lang, places)),
                fmt.short_date(line.check_date),
            )
        )
    _table(pdf, columns, rows)


def _amount_due(pdf: FPDF, balance: Balance, fmt: _Formats) -> None:
    closing = balance.closing
    if closing > 0:
        title, amount = fmt.label("amount_due"), fmt.money(closing)
        note = fmt.label("pay_by", date=fmt.long_date(balance.due_date)) if balance.due_date else ""
    elif closing < 0:
        title, amount = fmt.label("overpayment"), fmt.money(-closing)
        note = fmt.label("overpayment_note")
    else:
        title, amount = fmt.label("nothing_due"), fmt.money(closing)
        note = fmt.label("nothing_due_note")
    top = pdf.get_y()
    amount_w = 70.0
    pdf.set_fill_color(*_DUE_FILL)
    pdf.set_draw_color(*_BLACK)
    pdf.set_line_width(0.4)
    height = 9.0 + (_LINE_MM + 1 if note else 0)
    pdf.rect(MARGIN_MM, top, CONTENT_WIDTH_MM, height, style="DF")
    pdf.set_line_width(0.2)
    pdf.set_draw_color(*_RULE)
    pdf.set_xy(MARGIN_MM + 3, top + 1.5)
    _font(pdf, 13, bold=True)
    pdf.cell(CONTENT_WIDTH_MM - amount_w - 6, 6, title)
    pdf.set_xy(MARGIN_MM + CONTENT_WIDTH_MM - amount_w - 3, top + 1.5)
    pdf.cell(amount_w, 6, amount, align=Align.R)
    if note:
        pdf.set_xy(MARGIN_MM + 3, top + 7.5)
        _font(pdf, _TEXT_PT)
        pdf.cell(CONTENT_WIDTH_MM - 6, _LINE_MM, note)
    pdf.set_xy(MARGIN_MM, top + height + _SECTION_GAP_MM)


def render_receipt_pdf(receipt: ReceiptData, supplier: Supplier, lang: str = "ru") -> bytes:
    """The payment document of `receipt` as PDF bytes, labelled in `lang` (ru or en).

    The payee's bank details come from `supplier`; demo details are marked as such on
    the page.  The QR code carries the amount due when there is a debt, and no amount
    when the balance is settled or overpaid.
    """
    lang = resolve_language(lang)
    fmt = _Formats(lang, receipt_labels(lang))
    pdf = _new_pdf(receipt, supplier, fmt)
    try:
        _layout(pdf, receipt, supplier, fmt)
        return bytes(pdf.output())
    finally:
        # fpdf closes its font files in output(); a failure before it would leak them.
        _close_fonts(pdf)


def _close_fonts(pdf: FPDF) -> None:
    for font in pdf.fonts.values():
        if isinstance(font, TTFFont):
            font.close()


def _layout(pdf: FPDF, receipt: ReceiptData, supplier: Supplier, fmt: _Formats) -> None:
    pdf.add_page()
    _header(pdf, receipt, supplier, fmt)
    if supplier.payment.demo:
        _demo_banner(pdf, fmt)

    top = pdf.get_y()
    qr_bottom = _qr_column(pdf, receipt, supplier, fmt, top)
    _key_values(pdf, _payee_rows(supplier, fmt), width=_INFO_WIDTH_MM, bold_first=True)
    pdf.set_y(pdf.get_y() + 2)
    _key_values(pdf, _payer_rows(receipt, supplier, fmt), width=_INFO_WIDTH_MM, bold_first=True)
    pdf.set_y(max(pdf.get_y(), qr_bottom) + _SECTION_GAP_MM)

    _summary(pdf, receipt.balance, fmt)
    _charges(pdf, receipt, fmt)
    _payments(pdf, receipt, fmt)
    _meters(pdf, receipt, fmt)
    _amount_due(pdf, receipt.balance, fmt)
