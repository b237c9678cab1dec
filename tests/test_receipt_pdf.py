import io
import re
import string
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

import pypdf
import pytest
import zxingcpp
from fpdf import FPDF
from fpdf.fonts import TTFFont

from bot.billing.models import Charge, Payment, PaymentChannel, ReceiptData, ReceiptMeterLine
from bot.billing.service_names import KnownService
from bot.documents.fonts import BOLD, REGULAR
from bot.documents.labels import RECEIPT_LABELS, receipt_labels, resolve_language
from bot.documents.receipt_pdf import (
    CONTENT_WIDTH_MM,
    FONT_FAMILY,
    MARGIN_MM,
    QR_COLUMN_MM,
    render_receipt_pdf,
)
from bot.payments.gost import parse_payload
from tests.test_payment_order import ACCOUNT, NOVEMBER, UNITS, make_receipt, make_supplier

PT_PER_MM = 72 / 25.4
LONG_ADDRESS = (
    "Российская Федерация, Владимирская область, Суздальский муниципальный район, "
    "сельское поселение Новоалександровское, деревня Большое Новоалександрово, "
    "улица Генерала Ивана Даниловича Черняховского, дом 123, корпус 4, строение 5, "
    "квартира 678"
)
LONG_NAME = "Константинопольская-Рождественская Александра-Виктория Владимировна"


def typical_receipt(**changes: object) -> ReceiptData:
    meters = (
        ReceiptMeterLine(
            "ВК-G4 № 12345678",
            "total",
            Decimal("4512"),
            Decimal("4757"),
            Decimal("245"),
            date(2031, 5, 1),
        ),
    )
    return replace(make_receipt(), **{"meters": meters, **changes})  # type: ignore[arg-type]


def plain(text: str) -> str:
    """Extracted text with every kind of space as a plain one, for substring checks.

    Line breaks become spaces too: a label wrapped in its table cell still matches.
    """
    return re.sub(r"[\xa0\u202f\u2009\s]+", " ", text)


def read(pdf: bytes) -> pypdf.PdfReader:
    return pypdf.PdfReader(io.BytesIO(pdf))


def text_of(pdf: bytes) -> str:
    reader = read(pdf)
    return plain("\n".join(page.extract_text() for page in reader.pages))


def qr_fields(pdf: bytes) -> dict[str, str]:
    images = read(pdf).pages[0].images
    assert len(images) == 1
    image = images[0].image
    assert image is not None
    results = zxingcpp.read_barcodes(
        image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    )
    assert len(results) == 1
    return parse_payload(results[0].bytes)


@dataclass(frozen=True)
class Run:
    """A line of text on the page: its left and right edges in points."""

    text: str
    left: float
    right: float


def text_runs(pdf: bytes) -> list[Run]:
    # Widths measured with the same fonts through fpdf, so they match what was laid out.
    meter = FPDF(unit="pt")
    meter.add_font(FONT_FAMILY, "", str(REGULAR))
    meter.add_font(FONT_FAMILY, "B", str(BOLD))
    runs: list[Run] = []

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        # pypdf prefixes a space when the text jumps right; it is not on the page.
        text = text.strip("\n").lstrip(" ")
        if not text.strip() or not isinstance(font, dict):
            return
        bold = "Bold" in str(font.get("/BaseFont", ""))
        meter.set_font(FONT_FAMILY, "B" if bold else "", size * tm[0])
        left = tm[4] * cm[0] + cm[4]
        runs.append(Run(text, left, left + meter.get_string_width(text)))

    try:
        read(pdf).pages[0].extract_text(visitor_text=visit)
    finally:
        for font in meter.fonts.values():
            if isinstance(font, TTFFont):
                font.close()  # fpdf closes its font files only in output()
    assert runs
    return runs


@pytest.fixture(scope="module")
def typical_pdf() -> bytes:
    return render_receipt_pdf(typical_receipt(), make_supplier())


def test_typical_receipt_is_one_page_with_its_facts(typical_pdf: bytes) -> None:
    reader = read(typical_pdf)
    assert len(reader.pages) == 1
    text = text_of(typical_pdf)
    for expected in (
        "ПЛАТЁЖНЫЙ ДОКУМЕНТ (КВИТАНЦИЯ)",
        ACCOUNT,
        "ноябрь 2026",
        "1 956,85",
        "1 956,85 ₽",
        "1 200,00",
        "3328415442",
        "775050001",
        "041708602",
        "40702810710020102692",
        "30101810000000000602",
        "Иванов Иван Иванович",
        "г. Владимир, ул. Ленина, д. 10, кв. 15",
        "Газоснабжение",
        "7,98714",
        "54,3 м²",
        "12.11.2026",
        "ВК-G4 № 12345678",
        "4 512",
        "4 757",
        "01.05.2031",
        "ИТОГО К ОПЛАТЕ",
        "Оплатить до 25 декабря 2026 г.",
        "Оплата по QR-коду",
        "+7 (4922) 00-00-00",
    ):
        assert expected in text, expected
    assert "ДЕМО" not in text


def test_qr_in_the_pdf_carries_the_amount_due(typical_pdf: bytes) -> None:
    fields = qr_fields(typical_pdf)
    assert fields["PersAcc"] == ACCOUNT
    assert fields["Sum"] == "195685"
    assert fields["PaymPeriod"] == "1126"
    assert fields["PayeeINN"] == "3328415442"
    assert fields["Purpose"] == "Оплата за газ, л/с 001234567, ноябрь 2026"


def test_overpayment_is_worded_by_its_sign_and_has_no_sum() -> None:
    receipt = typical_receipt(
        balance=replace(
            make_receipt().balance, closing=Decimal("-544.72"), opening=Decimal("-142.39")
        )
    )
    pdf = render_receipt_pdf(receipt, make_supplier())
    text = text_of(pdf)
    assert "ПЕРЕПЛАТА" in text
    assert "544,72 ₽" in text
    assert "Переплата на начало периода" in text
    assert "142,39" in text
    assert "-544,72" not in text
    assert "ИТОГО К ОПЛАТЕ" not in text
    fields = qr_fields(pdf)
    assert "Sum" not in fields
    assert fields["PersAcc"] == ACCOUNT


def test_settled_account_says_nothing_is_due() -> None:
    receipt = typical_receipt(balance=replace(make_receipt().balance, closing=Decimal("0")))
    pdf = render_receipt_pdf(receipt, make_supplier())
    assert "ЗАДОЛЖЕННОСТИ НЕТ" in text_of(pdf)
    assert "Sum" not in qr_fields(pdf)


def test_english_labels() -> None:
    pdf = render_receipt_pdf(typical_receipt(), make_supplier(), lang="en")
    text = text_of(pdf)
    for expected in (
        "PAYMENT DOCUMENT (RECEIPT)",
        "November 2026",
        "AMOUNT DUE",
        "1,956.85 ₽",
        "Pay by December 25, 2026",
        "Payee",
        "Payer",
        "METER READINGS",
        "12 Nov 2026",
        "Gazprom Mezhregiongaz Vladimir",
        "Gas supply",
    ):
        assert expected in text, expected
    assert "Газоснабжение" not in text
    # Only the supplier's own data stays Russian: no Russian label may remain.
    for label in RECEIPT_LABELS["ru"].values():
        if re.search("[а-яё]{4,}", label, re.IGNORECASE) and label not in ("м³",):
            assert (
                label.format(period="", account="", date="", amount="", count="", area="")
                not in text
            ), label
    assert qr_fields(pdf)["Sum"] == "195685"


def test_the_management_unit_is_named_on_the_receipt_and_in_its_qr() -> None:
    supplier = make_supplier(units=UNITS)
    ru = render_receipt_pdf(typical_receipt(ref=make_receipt(unit="evpatoria").ref), supplier)
    assert len(read(ru).pages) == 1
    assert "УЭГХ Евпаторийское УЭГХ" in text_of(ru)  # the payer's row: label, then the unit
    assert "(Евпаторийское УЭГХ)" in qr_fields(ru)["Purpose"]
    en = render_receipt_pdf(
        typical_receipt(ref=make_receipt(unit="evpatoria").ref), supplier, lang="en"
    )
    assert "Gas facilities unit Yevpatoriya unit" in text_of(en)
    assert "(Евпаторийское УЭГХ)" in qr_fields(en)["Purpose"]  # the bank's text stays Russian
    # Without a unit nothing is added.
    assert "УЭГХ" not in text_of(render_receipt_pdf(typical_receipt(), make_supplier()))
    for run in text_runs(ru):
        assert run.right <= (MARGIN_MM + CONTENT_WIDTH_MM) * PT_PER_MM + 0.5, run


def test_unknown_language_falls_back_to_russian() -> None:
    pdf = render_receipt_pdf(typical_receipt(), make_supplier(), lang="de")
    assert "ПЛАТЁЖНЫЙ ДОКУМЕНТ" in text_of(pdf)
    assert resolve_language("en-US") == "en"
    assert resolve_language(None) == "ru"


def test_demo_requisites_are_marked() -> None:
    ru = text_of(render_receipt_pdf(typical_receipt(), make_supplier(demo=True)))
    en = text_of(render_receipt_pdf(typical_receipt(), make_supplier(demo=True), "en"))
    assert "ДЕМО-реквизиты, не для оплаты".upper() in ru
    assert "DEMO requisites — do not pay".upper() in en


def test_long_address_and_name_wrap_inside_their_column() -> None:
    receipt = typical_receipt(address=LONG_ADDRESS, payer_name=LONG_NAME)
    pdf = render_receipt_pdf(receipt, make_supplier())
    assert len(read(pdf).pages) == 1
    text = text_of(pdf)
    for word in LONG_ADDRESS.split():
        assert word in text, word
    assert "Константинопольская-Рождественская" in text

    runs = text_runs(pdf)
    page_right = (MARGIN_MM + CONTENT_WIDTH_MM) * PT_PER_MM
    for run in runs:
        assert run.left >= MARGIN_MM * PT_PER_MM - 0.5, run
        assert run.right <= page_right + 0.5, run
    # The payer block ends where the QR column begins: nothing may run under the code.
    qr_left = (MARGIN_MM + CONTENT_WIDTH_MM - QR_COLUMN_MM) * PT_PER_MM
    address_runs = [
        run
        for run in runs
        if any(w in run.text for w in ("Суздальский", "Черняховского", "квартира 678"))
    ]
    assert len({run.left for run in address_runs}) == 1
    lines_with_address = [
        run for run in runs if run.left == address_runs[0].left and run.text[:1].islower()
    ]
    assert lines_with_address, "the address should continue on further lines"
    for run in address_runs + lines_with_address:
        assert run.right <= qr_left, run


def test_unbroken_text_is_cut_into_lines_not_overflowing() -> None:
    receipt = typical_receipt(address="Ул." + "Длинноеназваниеулицы" * 8)
    pdf = render_receipt_pdf(receipt, make_supplier())
    page_right = (MARGIN_MM + CONTENT_WIDTH_MM - QR_COLUMN_MM) * PT_PER_MM
    pieces = [run for run in text_runs(pdf) if "Длинноеназвание" in run.text]
    assert len(pieces) >= 2
    for run in pieces:
        assert run.right <= page_right, run


def test_account_without_meters_payments_or_charges() -> None:
    receipt = replace(typical_receipt(), meters=(), payments=(), charges=(), heated_area=None)
    pdf = render_receipt_pdf(receipt, make_supplier())
    text = text_of(pdf)
    assert len(read(pdf).pages) == 1
    assert "Оплат в периоде не поступало." in text
    assert "Начислений за период нет." in text
    assert "ПОКАЗАНИЯ ПРИБОРОВ УЧЁТА" not in text


def test_several_charges_payments_and_zones_still_fit_one_page() -> None:
    receipt = typical_receipt(
        charges=(
            Charge(
                NOVEMBER,
                "Газоснабжение (отопление и пищеприготовление)",
                Decimal("245.37"),
                "м³",
                Decimal("7.98714"),
                Decimal("1959.80"),
                Decimal("-2.95"),
            ),
            Charge(
                NOVEMBER,
                "Техническое обслуживание ВДГО",
                Decimal("1"),
                "усл.",
                Decimal("95"),
                Decimal("95.00"),
            ),
        ),
        payments=tuple(
            Payment(date(2026, 11, day), Decimal("400.00"), channel, f"REF-{day}")
            for day, channel in (
                (3, PaymentChannel.BANK),
                (12, PaymentChannel.POST),
                (20, PaymentChannel.TERMINAL),
            )
        ),
        meters=(
            ReceiptMeterLine(
                "СГМН-1 G6 № 0099887766",
                "day",
                Decimal("4.37507"),
                Decimal("104.5"),
                Decimal("100.12493"),
                None,
            ),
            ReceiptMeterLine(
                "СГМН-1 G6 № 0099887766",
                "night",
                Decimal("12"),
                Decimal("57"),
                Decimal("45"),
                date(2030, 1, 15),
            ),
        ),
    )
    pdf = render_receipt_pdf(receipt, make_supplier())
    assert len(read(pdf).pages) == 1
    text = text_of(pdf)
    for expected in (
        "усл.",
        "-2,95",
        "4,37507",
        "104,50000",
        "день",
        "ночь",
        "Почта",
        "Терминал",
        "REF-20",
        "1 200,00",
    ):
        assert expected in text, expected
    for run in text_runs(pdf):
        assert run.right <= (MARGIN_MM + CONTENT_WIDTH_MM) * PT_PER_MM + 0.5, run


def test_service_names_in_the_document_language() -> None:
    def charge(service: str) -> Charge:
        return Charge(NOVEMBER, service, Decimal("1"), "усл.", Decimal("95"), Decimal("95.00"))

    receipt = typical_receipt(charges=(
        charge("Газоснабжение (отопление и пищеприготовление)"),
        charge("ТО ВДГО"),
        charge("Техническое обслуживание ВКГО"),
        charge("Вывоз мусора"),
    ))
    english = text_of(render_receipt_pdf(receipt, make_supplier(), lang="en"))
    for expected in ("Gas supply (heating and cooking)", "Maintenance of in-house gas",
                     "Maintenance of in-flat gas", "Вывоз мусора"):
        assert expected in english, expected
    assert "Газоснабжение" not in english and "ВДГО" not in english
    russian = text_of(render_receipt_pdf(receipt, make_supplier()))
    for expected in ("Газоснабжение (отопление и пищеприготовление)",
                     "Техническое обслуживание ВДГО", "Техническое обслуживание ВКГО",
                     "Вывоз мусора"):
        assert expected in russian, expected


def test_output_is_reproducible_with_metadata() -> None:
    first = render_receipt_pdf(typical_receipt(), make_supplier())
    second = render_receipt_pdf(typical_receipt(), make_supplier())
    assert first == second
    metadata = read(first).metadata
    assert metadata is not None
    assert metadata.title == "Платёжный документ за ноябрь 2026, л/с 001234567"
    assert metadata.author == "Газпром межрегионгаз Владимир"
    assert metadata.creation_date is not None
    assert metadata.creation_date.date() == date(2026, 12, 1)
    english = read(render_receipt_pdf(typical_receipt(), make_supplier(), "en")).metadata
    assert english is not None
    assert english.author == "Gazprom Mezhregiongaz Vladimir"


def test_labels_are_complete_in_every_language() -> None:
    keys = {lang: set(labels) for lang, labels in RECEIPT_LABELS.items()}
    assert set(keys) == {"ru", "en"}
    assert keys["ru"] == keys["en"]

    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    for key in keys["ru"]:
        ru, en = RECEIPT_LABELS["ru"][key], RECEIPT_LABELS["en"][key]
        assert ru.strip() and en.strip(), key
        assert fields(ru) == fields(en), key
    assert receipt_labels("en-GB") is RECEIPT_LABELS["en"]
    # Every service the bot recognises has its name in every language.
    assert {f"service_{service}" for service in KnownService} <= keys["ru"]
