from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from bot.payments.gost import (
    FIELD_MAX_LEN,
    MANDATORY_BLOCK_MAX_BYTES,
    MANDATORY_KEYS,
    OPTIONAL_KEYS,
    GostPayloadError,
    PaymentOrder,
    build_payload,
    encode_payload,
    kopecks_from_rubles,
    parse_payload,
    paym_period_of,
)
from bot.payments.requisites import PayeeRequisites

# DOMAIN.md §5, the standard's own example (its PayeeINN fails the INN checksum).
STANDARD_EXAMPLE = (
    'ST00012|Name=ООО «Три кита»|PersonalAcc=40702810138250123017|BankName=ОАО "БАНК"'
    "|BIC=044525225|CorrespAcc=30101810400000000225|PayeeINN=6200098765|LastName=Иванов"
    "|FirstName=Иван|MiddleName=Иванович|Purpose=Оплата членского взноса"
    "|PayerAddress=г.Рязань ул.Ленина д.10 кв.15|Sum=100000"
)

# DOMAIN.md §5, a real gas receipt with the payer's fields ("…") left out.
VLADIMIR_RECEIPT = (
    'ST00011|Name=ООО "Газпром межрегионгаз Владимир"|PersonalAcc=40702810710020102692'
    "|BankName=Владимирское отделение N8611 ПАО Сбербанк|BIC=041708602"
    "|CorrespAcc=30101810000000000602|PayeeINN=3328415442|KPP=775050001|PersAcc=04067759"
    "|PaymPeriod=0120|Sum=14212"
)

VLADIMIR = PayeeRequisites(
    name='ООО "Газпром межрегионгаз Владимир"',
    inn="3328415442",
    kpp="775050001",
    bic="041708602",
    bank_name="Владимирское отделение N8611 ПАО Сбербанк",
    settlement_account="40702810710020102692",
    correspondent_account="30101810000000000602",
)

THREE_WHALES = PayeeRequisites(
    name="ООО «Три кита»",
    inn="6200098765",
    kpp="",
    bic="044525225",
    bank_name='ОАО "БАНК"',
    settlement_account="40702810138250123017",
    correspondent_account="30101810400000000225",
)


def order(**changes: Any) -> PaymentOrder:
    base = PaymentOrder(payee=VLADIMIR, pers_acc="04067759", paym_period="0120")
    return replace(base, **changes)


def fields_of(payload: str) -> list[tuple[str, str]]:
    return list(parse_payload(payload).items())


# --- the standard's example -------------------------------------------------------------


def test_standard_example_round_trips_through_the_parser() -> None:
    fields = parse_payload(STANDARD_EXAMPLE.encode("utf-8"))
    assert fields == {
        "Name": "ООО «Три кита»",
        "PersonalAcc": "40702810138250123017",
        "BankName": 'ОАО "БАНК"',
        "BIC": "044525225",
        "CorrespAcc": "30101810400000000225",
        "PayeeINN": "6200098765",
        "LastName": "Иванов",
        "FirstName": "Иван",
        "MiddleName": "Иванович",
        "Purpose": "Оплата членского взноса",
        "PayerAddress": "г.Рязань ул.Ленина д.10 кв.15",
        "Sum": "100000",
    }
    rebuilt = "ST00012|" + "|".join(f"{k}={v}" for k, v in fields.items())
    assert rebuilt == STANDARD_EXAMPLE
    assert parse_payload(STANDARD_EXAMPLE) == fields


def standard_example_order() -> PaymentOrder:
    return PaymentOrder(
        payee=THREE_WHALES,
        last_name="Иванов",
        first_name="Иван",
        middle_name="Иванович",
        purpose="Оплата членского взноса",
        payer_address="г.Рязань ул.Ленина д.10 кв.15",
        sum_kopecks=100000,
        tech_code=None,
        encoding="utf-8",
    )


def test_builder_refuses_the_standard_examples_inn() -> None:
    with pytest.raises(GostPayloadError, match="inn") as caught:
        build_payload(standard_example_order())
    # The example also lacks the KPP that an organisation (10-digit INN) has.
    assert caught.value.fields == ("inn", "kpp")
    with pytest.raises(GostPayloadError) as caught:
        build_payload(
            replace(standard_example_order(), payee=replace(THREE_WHALES, kpp="620001001"))
        )
    assert caught.value.fields == ("inn",)


def test_builder_without_validation_reproduces_the_standard_example() -> None:
    payload = build_payload(standard_example_order(), validate=False)
    # Same fields; only the order of the optional ones is ours.
    assert parse_payload(payload) == parse_payload(STANDARD_EXAMPLE)
    assert payload.startswith(STANDARD_EXAMPLE[: STANDARD_EXAMPLE.index("|PayeeINN")])


# --- the real gas receipt ---------------------------------------------------------------


def test_real_receipt_parses_from_cp1251_bytes() -> None:
    data = VLADIMIR_RECEIPT.encode("cp1251")
    fields = parse_payload(data)
    assert list(fields) == [*MANDATORY_KEYS, "PayeeINN", "KPP", "PersAcc", "PaymPeriod", "Sum"]
    assert fields["Name"] == 'ООО "Газпром межрегионгаз Владимир"'
    assert fields["BankName"] == "Владимирское отделение N8611 ПАО Сбербанк"
    assert fields["PersAcc"] == "04067759"
    assert fields["PaymPeriod"] == "0120"
    assert fields["Sum"] == "14212"


def test_builder_reproduces_the_real_receipt() -> None:
    built = order(sum_kopecks=14212, tech_code=None)
    data = encode_payload(built)
    assert data.startswith(b"ST00011|Name=")
    assert parse_payload(data) == parse_payload(VLADIMIR_RECEIPT)
    assert build_payload(built) == (
        VLADIMIR_RECEIPT.replace("|PersAcc=04067759|PaymPeriod=0120|Sum=14212", "")
        + "|Sum=14212|PersAcc=04067759|PaymPeriod=0120"
    )


def test_encoding_digit_and_bytes() -> None:
    cp = encode_payload(order())
    utf = encode_payload(order(encoding="utf-8"))
    assert cp.startswith(b"ST00011|")
    assert utf.startswith(b"ST00012|")
    assert cp.decode("cp1251")[7:] == utf.decode("utf-8")[7:]
    assert "Владимир".encode("cp1251") in cp
    assert "Владимир".encode() in utf


# --- structure --------------------------------------------------------------------------


def full_order() -> PaymentOrder:
    return order(
        purpose="Оплата за газ",
        sum_kopecks=195685,
        last_name="Иванов",
        first_name="Иван",
        middle_name="Иванович",
        payer_address="г. Владимир, ул. Мира, д. 1, кв. 2",
        category="Газоснабжение",
        service_name="Газ",
        counter_id="12345678",
        counter_val="27927",
    )


def test_field_order_is_mandatory_then_optional_in_fixed_order() -> None:
    keys = [key for key, _ in fields_of(build_payload(full_order()))]
    assert keys == [*MANDATORY_KEYS, *OPTIONAL_KEYS]


def test_absent_optional_fields_are_left_out_and_order_kept() -> None:
    keys = [key for key, _ in fields_of(build_payload(order(purpose="x", tech_code=None)))]
    assert keys == [*MANDATORY_KEYS, "PayeeINN", "KPP", "Purpose", "PersAcc", "PaymPeriod"]


def test_no_trailing_separator_and_no_empty_field() -> None:
    payload = build_payload(order(purpose="   ", last_name="\n", counter_val=""))
    assert not payload.endswith("|")
    assert "||" not in payload
    assert "Purpose" not in payload
    assert "LastName" not in payload
    assert "CounterVal" not in payload


def test_no_key_is_repeated_even_if_a_value_tries() -> None:
    payload = build_payload(order(sum_kopecks=100, purpose="газ|Sum=999999|PersAcc=1"))
    keys = [segment.split("=", 1)[0] for segment in payload.split("|")[1:]]
    assert len(keys) == len(set(keys))
    fields = parse_payload(payload)
    assert fields["Sum"] == "100"
    assert fields["PersAcc"] == "04067759"
    assert fields["Purpose"] == "газ Sum=999999 PersAcc=1"


def test_tech_code_defaults_to_utilities() -> None:
    assert parse_payload(build_payload(order()))["TechCode"] == "02"
    assert "TechCode" not in build_payload(order(tech_code=None))
    assert parse_payload(build_payload(order(tech_code="15")))["TechCode"] == "15"
    for bad in ("99", "00", "2", "AB"):
        with pytest.raises(GostPayloadError) as caught:
            build_payload(order(tech_code=bad))
        assert caught.value.fields == ("tech_code",)


# --- sanitising -------------------------------------------------------------------------


def test_separator_and_line_breaks_are_removed_from_values() -> None:
    payload = build_payload(
        order(
            purpose="Оплата |газа\r\nза\tянварь\u2028 2020 |",
            payer_address="ул.\u00a0Мира,\u200b д.1\x00",
            last_name="Иванов\x1b[31m",
        )
    )
    assert "\n" not in payload
    assert "\r" not in payload
    fields = parse_payload(payload)
    # One separator after the header and one between each two fields: none in values.
    assert payload.count("|") == len(fields)
    assert fields["Purpose"] == "Оплата газа за январь 2020"
    assert fields["PayerAddress"] == "ул. Мира, д.1"
    assert fields["LastName"] == "Иванов[31m"


def test_fullwidth_bar_does_not_become_a_separator_in_cp1251() -> None:
    # NFKD turns "｜" into "|", which must not reach the payload.
    payload = build_payload(order(purpose="газ｜Sum=1"))
    assert parse_payload(payload)["Purpose"] == "газ Sum=1"
    assert "Sum" not in parse_payload(payload)


def test_requisites_are_normalised_before_checking() -> None:
    spaced = replace(VLADIMIR, inn=" 3328415442\n", bic="041708602 ", name="  ООО  \n Газ ")
    fields = parse_payload(build_payload(order(payee=spaced)))
    assert fields["PayeeINN"] == "3328415442"
    assert fields["BIC"] == "041708602"
    assert fields["Name"] == "ООО Газ"


# --- truncation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attribute", "key"),
    [
        ("purpose", "Purpose"),
        ("last_name", "LastName"),
        ("first_name", "FirstName"),
        ("middle_name", "MiddleName"),
        ("payer_address", "PayerAddress"),
        ("pers_acc", "PersAcc"),
        ("category", "Category"),
        ("service_name", "ServiceName"),
        ("counter_id", "CounterId"),
        ("counter_val", "CounterVal"),
    ],
)
def test_optional_values_are_truncated_to_their_limit(attribute: str, key: str) -> None:
    long_value = "Щ" * 500
    fields = parse_payload(build_payload(order(**{attribute: long_value})))
    assert fields[key] == "Щ" * FIELD_MAX_LEN[key]


def test_standard_limits() -> None:
    assert FIELD_MAX_LEN["Name"] == 160
    assert FIELD_MAX_LEN["BankName"] == 45
    assert FIELD_MAX_LEN["Purpose"] == 210
    assert FIELD_MAX_LEN["PayeeINN"] == 12
    assert FIELD_MAX_LEN["KPP"] == 9
    assert FIELD_MAX_LEN["Sum"] == 18


def test_truncation_does_not_leave_a_trailing_space() -> None:
    purpose = "а" * 209 + " " + "б" * 10
    assert parse_payload(build_payload(order(purpose=purpose)))["Purpose"] == "а" * 209


def test_long_payee_name_is_truncated_to_160() -> None:
    payee = replace(VLADIMIR, name="Н" * 170, bank_name="Сбербанк")
    assert parse_payload(build_payload(order(payee=payee)))["Name"] == "Н" * 160


# --- the 300-byte mandatory block -------------------------------------------------------


def mandatory_block(data: bytes) -> bytes:
    return data[: data.index(b"|PayeeINN=")]


def test_mandatory_block_of_exactly_300_bytes_passes() -> None:
    # 8 bytes of header, 94 of keys, separators and fixed-length values: 102 + name + bank.
    payee = replace(VLADIMIR, name="Н" * 153, bank_name="Б" * 45)
    data = encode_payload(order(payee=payee))
    assert len(mandatory_block(data)) == MANDATORY_BLOCK_MAX_BYTES


def test_mandatory_block_over_300_bytes_is_refused() -> None:
    payee = replace(VLADIMIR, name="Н" * 154, bank_name="Б" * 45)
    with pytest.raises(GostPayloadError, match="300") as caught:
        encode_payload(order(payee=payee))
    assert caught.value.fields == ("name", "bank_name")


def test_names_at_their_maximum_lengths_still_overflow() -> None:
    payee = replace(VLADIMIR, name="Н" * 200, bank_name="Б" * 60)
    with pytest.raises(GostPayloadError, match="300"):
        build_payload(order(payee=payee))


def test_utf8_counts_bytes_not_characters() -> None:
    payee = replace(VLADIMIR, name="Н" * 100)
    assert encode_payload(order(payee=payee, encoding="cp1251"))
    with pytest.raises(GostPayloadError, match="utf-8"):
        encode_payload(order(payee=payee, encoding="utf-8"))


# --- windows-1251 repertoire ------------------------------------------------------------


def test_cp1251_keeps_what_it_can_encode() -> None:
    kept = "Ёжик ёлка № 5 «кавычки» “curly” „low“ — – … € ¶"
    data = encode_payload(order(purpose=kept))
    assert parse_payload(data)["Purpose"] == kept


def test_cp1251_replaces_what_it_cannot_encode() -> None:
    data = encode_payload(order(purpose="Kadıköy şehir 🔥 100 ₽ ½ ﬁle 中"))
    # "ı" (dotless i) has no decomposition either, so it falls back like the emoji.
    assert parse_payload(data)["Purpose"] == "Kad?koy sehir ? 100 руб. 1/2 file ?"


def test_cp1251_does_not_decompose_encodable_cyrillic() -> None:
    decomposed = "и\u0306од"  # "йод" typed with a combining breve
    assert parse_payload(encode_payload(order(purpose=decomposed)))["Purpose"] == "йод"


def test_utf8_keeps_everything_printable() -> None:
    text = "Kadıköy şehir 🔥 100 ₽ 中"
    data = encode_payload(order(purpose=text, encoding="utf-8"))
    assert parse_payload(data)["Purpose"] == text


def test_lone_surrogates_are_dropped() -> None:
    data = encode_payload(order(purpose="газ\ud800", encoding="utf-8"))
    assert parse_payload(data)["Purpose"] == "газ"


# --- Sum --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rubles", "kopecks"),
    [
        (Decimal("1956.85"), 195685),
        (Decimal("142.39"), 14239),
        (Decimal("0.01"), 1),
        (Decimal("500"), 50000),
        (Decimal("97.670"), 9767),
        (Decimal("9999999999999999.99"), 999999999999999999),
    ],
)
def test_sum_is_exact_kopecks(rubles: Decimal, kopecks: int) -> None:
    assert kopecks_from_rubles(rubles) == kopecks
    fields = parse_payload(encode_payload(order(sum_kopecks=kopecks_from_rubles(rubles))))
    assert fields["Sum"] == str(kopecks)
    assert Decimal(fields["Sum"]) / 100 == rubles


@pytest.mark.parametrize("rubles", [Decimal("1.005"), Decimal("NaN"), Decimal("Infinity")])
def test_fractions_of_a_kopeck_are_refused(rubles: Decimal) -> None:
    with pytest.raises(ValueError, match=r"kopeck|amount"):
        kopecks_from_rubles(rubles)


@pytest.mark.parametrize("bad", [0, -1, 10**18, True, 1.5, "100"])
def test_invalid_sums_are_refused(bad: object) -> None:
    with pytest.raises(GostPayloadError) as caught:
        build_payload(order(sum_kopecks=bad))
    assert caught.value.fields == ("sum_kopecks",)


def test_largest_sum_has_18_digits() -> None:
    fields = parse_payload(build_payload(order(sum_kopecks=10**18 - 1)))
    assert fields["Sum"] == "9" * 18


# --- PaymPeriod -------------------------------------------------------------------------


def test_paym_period_from_a_date() -> None:
    assert paym_period_of(date(2020, 1, 31)) == "0120"
    assert paym_period_of(date(2009, 12, 1)) == "1209"
    payload = build_payload(order(paym_period=date(2025, 3, 15)))
    assert parse_payload(payload)["PaymPeriod"] == "0325"


@pytest.mark.parametrize("bad", ["1320", "0020", "120", "01.2020", "январь"])
def test_paym_period_must_be_mmyy(bad: str) -> None:
    with pytest.raises(GostPayloadError) as caught:
        build_payload(order(paym_period=bad))
    assert caught.value.fields == ("paym_period",)


# --- validation of the payee ------------------------------------------------------------


def test_invalid_requisites_are_named() -> None:
    payee = replace(VLADIMIR, bic="044525225", kpp="77505000")
    with pytest.raises(GostPayloadError) as caught:
        build_payload(order(payee=payee))
    assert caught.value.fields == ("kpp", "settlement_account", "correspondent_account")


def test_empty_mandatory_fields_are_refused_even_without_validation() -> None:
    payee = replace(VLADIMIR, name=" \n ", bank_name="")
    with pytest.raises(GostPayloadError) as caught:
        build_payload(order(payee=payee), validate=False)
    assert caught.value.fields == ("name", "bank_name")


def test_without_validation_empty_inn_and_kpp_are_left_out() -> None:
    payee = replace(VLADIMIR, inn="", kpp="")
    keys = parse_payload(build_payload(order(payee=payee), validate=False))
    assert "PayeeINN" not in keys
    assert "KPP" not in keys


# --- the parser -------------------------------------------------------------------------

MINIMAL = (
    "Name=ООО Газ|PersonalAcc=40702810710020102692|BankName=Банк|BIC=041708602"
    "|CorrespAcc=30101810000000000602"
)


def test_parser_reads_koi8_r() -> None:
    data = ("ST00013|" + MINIMAL + "|Purpose=газ").encode("koi8_r")
    assert parse_payload(data)["Purpose"] == "газ"
    assert parse_payload(data)["Name"] == "ООО Газ"


def test_parser_uses_the_separator_given_after_the_header() -> None:
    text = "ST00012#" + MINIMAL.replace("|", "#") + "#Purpose=a|b"
    fields = parse_payload(text.encode())
    assert fields["Purpose"] == "a|b"
    assert fields["BIC"] == "041708602"


def test_parser_tolerates_trailing_separator_and_newline() -> None:
    fields = parse_payload(("ST00012|" + MINIMAL + "|Sum=100|\r\n").encode())
    assert list(fields) == [*MANDATORY_KEYS, "Sum"]
    assert fields["Sum"] == "100"


def test_parser_keeps_equals_signs_in_values() -> None:
    fields = parse_payload("ST00012|" + MINIMAL + "|Purpose=a=b")
    assert fields["Purpose"] == "a=b"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"ST0001",
        b"ST00011",
        ("ST00021|" + MINIMAL).encode(),
        ("ST00014|" + MINIMAL).encode(),
        ("XX00011|" + MINIMAL).encode(),
        ("ST00011N" + MINIMAL).encode(),
        ("ST00011=" + MINIMAL).encode(),
        ("ST00011 " + MINIMAL).encode(),
        ("st00011|" + MINIMAL).encode(),
    ],
)
def test_parser_rejects_bad_headers(data: bytes) -> None:
    with pytest.raises(GostPayloadError):
        parse_payload(data)
    with pytest.raises(GostPayloadError):
        parse_payload(data.decode("ascii", errors="replace"))


def test_parser_rejects_repeated_keys() -> None:
    with pytest.raises(GostPayloadError, match="Sum") as caught:
        parse_payload("ST00012|" + MINIMAL + "|Sum=1|Sum=2")
    assert caught.value.fields == ("Sum",)


@pytest.mark.parametrize("key", MANDATORY_KEYS)
def test_parser_rejects_missing_mandatory_fields(key: str) -> None:
    fields = dict(segment.split("=", 1) for segment in MINIMAL.split("|"))
    del fields[key]
    text = "ST00012|" + "|".join(f"{k}={v}" for k, v in fields.items())
    with pytest.raises(GostPayloadError) as caught:
        parse_payload(text)
    assert caught.value.fields == (key,)


@pytest.mark.parametrize("segment", ["Purpose", "=value", "Пурпосе=1", "Sum Total=1"])
def test_parser_rejects_malformed_fields(segment: str) -> None:
    with pytest.raises(GostPayloadError, match="malformed"):
        parse_payload("ST00012|" + MINIMAL + "|" + segment)


def test_parser_rejects_bytes_that_do_not_match_the_encoding_digit() -> None:
    with pytest.raises(GostPayloadError, match="utf-8"):
        parse_payload(("ST00012|" + MINIMAL).encode("cp1251"))
    with pytest.raises(GostPayloadError, match="cp1251"):
        parse_payload(("ST00011|" + MINIMAL).encode("cp1251") + b"|Purpose=\x98")


def test_build_and_parse_round_trip() -> None:
    built = full_order()
    for encoding in ("cp1251", "utf-8"):
        payload = build_payload(replace(built, encoding=encoding))
        assert parse_payload(payload.encode(encoding)) == parse_payload(payload)
