import io
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import zxingcpp
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from bot.billing.models import (
    AccountRef,
    Balance,
    Charge,
    Payment,
    PaymentChannel,
    Period,
    ReceiptData,
)
from bot.documents.payment import (
    DEMO_PURPOSE_PREFIX,
    payment_order_for,
    payment_order_for_receipt,
    payment_qr_png,
    split_payer_name,
)
from bot.payments.gost import FIELD_MAX_LEN, MANDATORY_KEYS, encode_payload, parse_payload
from bot.suppliers.models import Supplier

# A real payee triple (DOMAIN.md §5): valid INN, and account keys that match the BIC.
VLADIMIR_PAYMENT: dict[str, Any] = {
    "name": 'ООО "Газпром межрегионгаз Владимир"',
    "inn": "3328415442",
    "kpp": "775050001",
    "bic": "041708602",
    "bank_name": "Владимирское отделение N8611 ПАО Сбербанк",
    "settlement_account": "40702810710020102692",
    "correspondent_account": "30101810000000000602",
}
NOVEMBER = Period(2026, 11)
ACCOUNT = "001234567"


# Management units (УЭГХ) as Крымгазсети has them, for a supplier made with `units=UNITS`.
UNITS: list[dict[str, Any]] = [
    {"code": "simferopol", "name": {"ru": "Симферопольское УЭГХ", "en": "Simferopol unit"}},
    {"code": "evpatoria", "name": {"ru": "Евпаторийское УЭГХ", "en": "Yevpatoriya unit"}},
]


def make_supplier(
    *,
    encoding: str = "cp1251",
    demo: bool = False,
    support: dict[str, str] | None = None,
    units: list[dict[str, Any]] | None = None,
) -> Supplier:
    """A supplier built here rather than taken from the catalog, whose blocks are all demo;
    with `units`, one that keeps accounts per management unit, as Крымгазсети."""
    return Supplier.model_validate(
        {
            "code": "test_vladimir",
            "name": {"ru": "Газпром межрегионгаз Владимир", "en": "Gazprom Mezhregiongaz Vladimir"},
            "region": {"ru": "Владимирская область", "en": "Vladimir Oblast"},
            "timezone": "Europe/Moscow",
            "platform": "crimea" if units else "sevgas",
            "units": units or [],
            "account": {
                "digits": 9,
                "example": "001234567",
                "hint": {"ru": "9 цифр", "en": "9 digits"},
            },
            "proofs": ["surname_payment"],
            "readings": {
                "window": {"start_day": 15, "end_day": 25},
                "decimals": 0,
                "max_consumption": 1000,
                "allow_zero": True,
                "allow_rollover": True,
                "resubmission": "replace",
                "over_max": "confirm",
            },
            "payment": {**VLADIMIR_PAYMENT, "qr_encoding": encoding, "demo": demo},
            "support": support
            if support is not None
            else {"phone": "+7 (4922) 00-00-00", "email": "help@example.org"},
        }
    )


def make_receipt(
    *,
    closing: Decimal = Decimal("1956.85"),
    payer_name: str = "Иванов Иван Иванович",
    address: str = "г. Владимир, ул. Ленина, д. 10, кв. 15",
    unit: str | None = None,
) -> ReceiptData:
    return ReceiptData(
        ref=AccountRef("test_vladimir", ACCOUNT, unit),
        period=NOVEMBER,
        payer_name=payer_name,
        address=address,
        residents=3,
        heated_area=Decimal("54.3"),
        balance=Balance(
            period=NOVEMBER,
            opening=Decimal("1200.00"),
            charged=Decimal("1956.85"),
            recalculation=Decimal("0"),
            paid=Decimal("1200.00"),
            closing=closing,
            due_date=date(2026, 12, 25),
        ),
        charges=(
            Charge(
                NOVEMBER,
                "Газоснабжение",
                Decimal("245"),
                "м³",
                Decimal("7.98714"),
                Decimal("1956.85"),
            ),
        ),
        payments=(Payment(date(2026, 11, 12), Decimal("1200.00"), PaymentChannel.ONLINE),),
    )


def fields_of(supplier: Supplier, **kwargs: Any) -> dict[str, str]:
    order = payment_order_for(supplier, ACCOUNT, NOVEMBER, kwargs.pop("amount", None), **kwargs)
    return parse_payload(encode_payload(order))


def test_fields_and_their_order() -> None:
    fields = fields_of(
        make_supplier(),
        amount=Decimal("1956.85"),
        payer_name="Иванов Иван Иванович",
        address="г. Владимир, ул. Ленина, д. 10, кв. 15",
        counter_id="12345678",
        counter_val=Decimal("4757"),
    )
    assert list(fields) == [
        *MANDATORY_KEYS,
        "PayeeINN",
        "KPP",
        "Purpose",
        "Sum",
        "PersAcc",
        "PaymPeriod",
        "LastName",
        "FirstName",
        "MiddleName",
        "PayerAddress",
        "Category",
        "TechCode",
        "CounterId",
        "CounterVal",
    ]
    assert fields["Name"] == VLADIMIR_PAYMENT["name"]
    assert fields["PersonalAcc"] == "40702810710020102692"
    assert fields["BIC"] == "041708602"
    assert fields["CorrespAcc"] == "30101810000000000602"
    assert fields["PayeeINN"] == "3328415442"
    assert fields["KPP"] == "775050001"
    assert fields["Purpose"] == "Оплата за газ, л/с 001234567, ноябрь 2026"
    assert fields["Sum"] == "195685"
    assert fields["PersAcc"] == "001234567"
    assert fields["PaymPeriod"] == "1126"
    assert (fields["LastName"], fields["FirstName"], fields["MiddleName"]) == (
        "Иванов",
        "Иван",
        "Иванович",
    )
    assert fields["PayerAddress"] == "г. Владимир, ул. Ленина, д. 10, кв. 15"
    assert fields["Category"] == "Газоснабжение"
    assert fields["TechCode"] == "02"
    assert (fields["CounterId"], fields["CounterVal"]) == ("12345678", "4757")


def test_optional_payer_fields_are_left_out_when_unknown() -> None:
    fields = fields_of(make_supplier(), amount=Decimal("10"))
    for key in (
        "LastName",
        "FirstName",
        "MiddleName",
        "PayerAddress",
        "CounterId",
        "CounterVal",
        "ServiceName",
    ):
        assert key not in fields
    assert fields["Sum"] == "1000"


@pytest.mark.parametrize(
    ("amount", "kopecks"),
    [
        (Decimal("1956.85"), "195685"),
        (Decimal("0.01"), "1"),
        (Decimal("0.1"), "10"),
        (Decimal("19.99"), "1999"),
        (Decimal("1956.850"), "195685"),
        (Decimal("123456789.07"), "12345678907"),
    ],
)
def test_sum_is_exact_kopecks(amount: Decimal, kopecks: str) -> None:
    assert fields_of(make_supplier(), amount=amount)["Sum"] == kopecks


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999999.99"), places=2))
def test_sum_round_trips_every_amount(amount: Decimal) -> None:
    assert Decimal(fields_of(make_supplier(), amount=amount)["Sum"]) / 100 == amount


@pytest.mark.parametrize("amount", [None, Decimal("0"), Decimal("0.00"), Decimal("-544.72")])
def test_nothing_due_leaves_the_sum_to_the_payer(amount: Decimal | None) -> None:
    assert "Sum" not in fields_of(make_supplier(), amount=amount)


def test_a_fraction_of_a_kopeck_is_refused_not_rounded() -> None:
    with pytest.raises(ValueError, match="kopecks"):
        payment_order_for(make_supplier(), ACCOUNT, NOVEMBER, Decimal("10.005"))


@pytest.mark.parametrize("account", ["001234567", "0000000001", "04067759", "5812345678"])
def test_pers_acc_is_the_account_as_printed(account: str) -> None:
    order = payment_order_for(make_supplier(), account, NOVEMBER, Decimal("1"))
    fields = parse_payload(encode_payload(order))
    assert fields["PersAcc"] == account
    assert f"л/с {account}," in fields["Purpose"]


@pytest.mark.parametrize(
    ("period", "mmyy", "month"),
    [(Period(2026, 1), "0126", "январь 2026"), (Period(2030, 12), "1230", "декабрь 2030")],
)
def test_paym_period_is_mmyy(period: Period, mmyy: str, month: str) -> None:
    fields = parse_payload(
        encode_payload(payment_order_for(make_supplier(), ACCOUNT, period, None))
    )
    assert fields["PaymPeriod"] == mmyy
    assert fields["Purpose"].endswith(month)


def test_encoding_follows_the_supplier() -> None:
    name = "Пётр Ёлкин"  # ё is in both repertoires; the header digit tells them apart
    cp1251 = encode_payload(
        payment_order_for(
            make_supplier(encoding="cp1251"), ACCOUNT, NOVEMBER, None, payer_name=name
        )
    )
    utf8 = encode_payload(
        payment_order_for(make_supplier(encoding="utf-8"), ACCOUNT, NOVEMBER, None, payer_name=name)
    )
    assert cp1251.startswith(b"ST00011|")
    assert utf8.startswith(b"ST00012|")
    assert "Пётр".encode("cp1251") in cp1251
    assert "Пётр".encode() in utf8
    assert parse_payload(cp1251)["LastName"] == parse_payload(utf8)["LastName"] == "Пётр"


def test_demo_requisites_are_flagged_in_the_purpose() -> None:
    purpose = fields_of(make_supplier(demo=True), amount=Decimal("1"))["Purpose"]
    assert purpose.startswith(DEMO_PURPOSE_PREFIX.strip())
    assert purpose.endswith("Оплата за газ, л/с 001234567, ноябрь 2026")


def test_the_management_unit_is_named_in_the_purpose() -> None:
    supplier = make_supplier(units=UNITS)
    purposes = [fields_of(supplier, amount=Decimal("100"), unit=unit)["Purpose"]
                for unit in ("simferopol", "evpatoria")]
    assert purposes == [
        "Оплата за газ, л/с 001234567 (Симферопольское УЭГХ), ноябрь 2026",
        "Оплата за газ, л/с 001234567 (Евпаторийское УЭГХ), ноябрь 2026",
    ]
    # A unit the catalog no longer lists is still told apart, by its code.
    assert "(kerch)" in fields_of(supplier, unit="kerch")["Purpose"]
    # A supplier without units: the purpose as it always was.
    assert fields_of(make_supplier(), unit=None)["Purpose"] == (
        "Оплата за газ, л/с 001234567, ноябрь 2026")


def test_a_long_unit_name_is_shortened_never_the_period() -> None:
    long_name = "Управление по эксплуатации газового хозяйства " * 5
    supplier = make_supplier(demo=True, units=[{"code": "long", "name": {
        "ru": long_name, "en": "Long unit"}}])
    order = payment_order_for(supplier, "9" * 32, Period(2026, 9), Decimal("1"), unit="long")
    purpose = parse_payload(encode_payload(order))["Purpose"]
    assert len(purpose) <= FIELD_MAX_LEN["Purpose"]
    assert purpose.startswith(DEMO_PURPOSE_PREFIX.strip())
    assert purpose.endswith("…), сентябрь 2026")
    assert purpose == order.purpose  # nothing left for the payload builder to cut


def test_the_same_number_in_two_units_makes_two_different_qr_codes() -> None:
    supplier = make_supplier(demo=True, units=UNITS)
    decoded = []
    for unit in ("simferopol", "evpatoria"):
        order = payment_order_for(supplier, ACCOUNT, NOVEMBER, Decimal("100"), unit=unit)
        image = Image.open(io.BytesIO(payment_qr_png(order)))
        results = zxingcpp.read_barcodes(
            image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
        )
        assert len(results) == 1
        decoded.append(results[0].bytes)
    assert decoded[0] != decoded[1]
    first, second = (parse_payload(raw) for raw in decoded)
    assert first["PersAcc"] == second["PersAcc"] == ACCOUNT
    assert "Симферопольское УЭГХ" in first["Purpose"]
    assert "Евпаторийское УЭГХ" in second["Purpose"]


def test_order_for_receipt_names_the_unit() -> None:
    receipt = make_receipt(unit="evpatoria")
    order = payment_order_for_receipt(receipt, make_supplier(units=UNITS))
    assert "л/с 001234567 (Евпаторийское УЭГХ)," in parse_payload(encode_payload(order))[
        "Purpose"]


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("Иванов Иван Иванович", ("Иванов", "Иван", "Иванович")),
        ("  Петрова   Анна ", ("Петрова", "Анна", None)),
        ("Сидоров", ("Сидоров", None, None)),
        ("Алиев Рашид Гусейн оглы", ("Алиев", "Рашид", "Гусейн оглы")),
        ("Иванов И.И.", ("Иванов", "И.", "И.")),
        ("Ив**** И. И.", (None, None, None)),
        ("", (None, None, None)),
        (None, (None, None, None)),
    ],
)
def test_split_payer_name(name: str | None, parts: tuple[str | None, ...]) -> None:
    assert split_payer_name(name) == parts


def test_order_for_receipt_uses_the_amount_due() -> None:
    supplier = make_supplier()
    debt = parse_payload(encode_payload(payment_order_for_receipt(make_receipt(), supplier)))
    assert debt["Sum"] == "195685"
    assert debt["PersAcc"] == ACCOUNT
    assert debt["LastName"] == "Иванов"
    assert debt["PayerAddress"] == "г. Владимир, ул. Ленина, д. 10, кв. 15"
    assert "CounterVal" not in debt
    overpaid = payment_order_for_receipt(make_receipt(closing=Decimal("-544.72")), supplier)
    assert "Sum" not in parse_payload(encode_payload(overpaid))


def test_qr_png_decodes_to_the_order() -> None:
    order = payment_order_for(
        make_supplier(), ACCOUNT, NOVEMBER, Decimal("1956.85"), payer_name="Иванов Иван Иванович"
    )
    image = Image.open(io.BytesIO(payment_qr_png(order)))
    results = zxingcpp.read_barcodes(
        image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    )
    assert len(results) == 1
    assert results[0].bytes == encode_payload(order)
    fields = parse_payload(results[0].bytes)
    assert (fields["PersAcc"], fields["Sum"], fields["PaymPeriod"]) == (ACCOUNT, "195685", "1126")
