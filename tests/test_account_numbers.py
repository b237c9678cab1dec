"""Account-number rules of every supplier: normalisation, refusals, masking."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.suppliers import load_catalog
from bot.suppliers.accounts import (
    AccountCheck,
    AccountError,
    check_account,
    mask_account,
    normalize_account,
)
from bot.suppliers.models import AccountRule, Catalog, LocalizedText, Supplier

CATALOG: Catalog = load_catalog()
PYATIGORSK = ("mrg_dagestan", "mrg_ingushetia", "mrg_kbr", "mrg_kchr", "mrg_alania")
HINT = LocalizedText(ru="Номер в квитанции", en="The number on the receipt")


def supplier(code: str) -> Supplier:
    found = CATALOG.get(code)
    assert found is not None, code
    return found


def accepted(code: str, raw: str) -> str:
    check = supplier(code).account.validate(raw)
    assert check.ok, (code, raw, check.error)
    assert check.number is not None
    return check.number


def refused(code: str, raw: str) -> AccountError:
    check = supplier(code).account.validate(raw)
    assert check.error is not None, (code, raw, check.number)
    return check.error


# --- Севгаз: 9 digits, leading zeros exactly as printed -------------------------------


def test_sevgas_keeps_leading_zeros() -> None:
    assert accepted("sevgas", "001234567") == "001234567"
    assert accepted("sevgas", "000000001") == "000000001"


def test_sevgas_number_without_its_zeros_is_too_short() -> None:
    assert refused("sevgas", "1234567") is AccountError.TOO_SHORT
    assert refused("sevgas", "01234567") is AccountError.TOO_SHORT


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("0012345678", AccountError.TOO_LONG),
        ("00123456a", AccountError.NOT_DIGITS),
        ("OO1234567", AccountError.NOT_DIGITS),  # letter O for zero
        ("000000000", AccountError.BAD_FORMAT),
        ("", AccountError.EMPTY),
        (" - ", AccountError.EMPTY),
    ],
)
def test_sevgas_refusals(raw: str, error: AccountError) -> None:
    assert refused("sevgas", raw) is error


@given(st.text(alphabet="0123456789", min_size=9, max_size=9).filter(lambda s: s.strip("0")))
def test_sevgas_any_nine_digits_survive_unchanged(number: str) -> None:
    assert accepted("sevgas", number) == number


# --- Пермь: exactly 8 digits -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("12345678", "12345678"),
        ("04012345", "04012345"),
        ("1234 5678", "12345678"),
        ("12-34-56-78", "12345678"),
        ("  12345678\n", "12345678"),
    ],
)
def test_perm_accepts_eight_digits(raw: str, number: str) -> None:
    assert accepted("mrg_perm", raw) == number


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("1234567", AccountError.TOO_SHORT),
        ("123456789", AccountError.TOO_LONG),
        ("1234567x", AccountError.NOT_DIGITS),
        ("1234.5678", AccountError.NOT_DIGITS),  # dots are not a Perm separator
    ],
)
def test_perm_refusals(raw: str, error: AccountError) -> None:
    assert refused("mrg_perm", raw) is error


# --- Москва: at most 10 digits ---------------------------------------------------------


@pytest.mark.parametrize("raw", ["1234567890", "0123456789", "123456", "5012 345 678"])
def test_moscow_accepts_up_to_ten_digits(raw: str) -> None:
    assert accepted("mrg_moscow", raw) == normalize_account(raw)


def test_moscow_refuses_eleven_digits_and_fragments() -> None:
    assert refused("mrg_moscow", "12345678901") is AccountError.TOO_LONG
    assert refused("mrg_moscow", "12345") is AccountError.TOO_SHORT
    assert supplier("mrg_moscow").account.max_digits == 10


# --- Пятигорск republics: 2-digit sector code + 8-digit account ------------------------


@pytest.mark.parametrize("code", PYATIGORSK)
@pytest.mark.parametrize(
    "raw", ["5812345678", "58-1234 5678", "58 12345678", "58,12345678", "58.1234.5678"]
)
def test_pyatigorsk_accepts_sector_and_account(code: str, raw: str) -> None:
    assert accepted(code, raw) == "5812345678"


@pytest.mark.parametrize("code", PYATIGORSK)
@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("12345678", AccountError.TOO_SHORT),  # the account without its sector code
        ("581234567", AccountError.TOO_SHORT),
        ("58123456789", AccountError.TOO_LONG),
        ("0012345678", AccountError.BAD_FORMAT),  # there is no sector 00
        ("58l2345678", AccountError.NOT_DIGITS),
    ],
)
def test_pyatigorsk_refusals(code: str, raw: str, error: AccountError) -> None:
    assert refused(code, raw) is error


@pytest.mark.parametrize("code", PYATIGORSK)
def test_pyatigorsk_number_splits_into_sector_and_account(code: str) -> None:
    rule = supplier(code).account
    assert rule.example == "5812345678"
    assert rule.format is not None
    assert rule.parts("5812345678") == {"sector": "58", "account": "12345678"}
    assert rule.parts("0012345678") == {}


# --- Санкт-Петербург and Крымгазсети ---------------------------------------------------


def test_spb_nine_digits_as_printed_with_spaces() -> None:
    assert accepted("mrg_spb", "7 0 1 2 3 4 5 6 7") == "701234567"
    assert refused("mrg_spb", "70123456") is AccountError.TOO_SHORT
    assert refused("mrg_spb", "7012345670") is AccountError.TOO_LONG


def test_crimea_variable_length() -> None:
    assert accepted("crimea", "012345") == "012345"
    assert refused("crimea", "1234") is AccountError.TOO_SHORT
    assert refused("crimea", "1234567890123") is AccountError.TOO_LONG


# --- Every supplier --------------------------------------------------------------------


@pytest.mark.parametrize("code", CATALOG.codes)
def test_every_example_is_valid_and_already_normalised(code: str) -> None:
    rule = supplier(code).account
    assert accepted(code, rule.example) == rule.example
    assert rule.normalize(rule.example) == rule.example


@pytest.mark.parametrize("code", CATALOG.codes)
def test_every_rule_refuses_the_basics(code: str) -> None:
    example = supplier(code).account.example
    assert refused(code, "") is AccountError.EMPTY
    assert refused(code, "  \t ") is AccountError.EMPTY
    assert refused(code, example[:-1] + "x") is AccountError.NOT_DIGITS
    assert refused(code, example + "0" * 40) is AccountError.TOO_LONG
    assert refused(code, example[:2]) is AccountError.TOO_SHORT
    assert refused(code, "0" * len(example)) is AccountError.BAD_FORMAT


@pytest.mark.parametrize("code", CATALOG.codes)
def test_every_rule_strips_typographic_separators(code: str) -> None:
    example = supplier(code).account.example
    # A no-break space and an en dash, as messengers and word processors insert them.
    decorated = f"{example[:3]}\u00a0{example[3:5]}\u2013{example[5:]}"
    assert accepted(code, decorated) == example


@pytest.mark.parametrize("code", CATALOG.codes)
def test_other_scripts_digits_are_not_digits(code: str) -> None:
    arabic_indic = "".join(chr(0x0660 + int(d)) for d in supplier(code).account.example)
    assert refused(code, arabic_indic) is AccountError.NOT_DIGITS


# --- The plain functions and the rule model --------------------------------------------


def test_normalize_keeps_zeros_and_letters() -> None:
    assert normalize_account(" 00-12 34 ") == "001234"
    assert normalize_account("00.12/34", strip="./") == "001234"
    assert normalize_account("12a4") == "12a4"
    assert isinstance(normalize_account("0007"), str)


def test_check_without_constraints_still_refuses_garbage() -> None:
    assert check_account("12 34").number == "1234"
    assert check_account("12+34").error is AccountError.NOT_DIGITS


def test_account_check_holds_exactly_one_outcome() -> None:
    with pytest.raises(ValueError, match="either"):
        AccountCheck()
    with pytest.raises(ValueError, match="either"):
        AccountCheck(number="1", error=AccountError.EMPTY)
    assert AccountCheck(number="1").ok
    assert not AccountCheck(error=AccountError.EMPTY).ok


def test_rule_normalize_only_strips() -> None:
    rule = supplier("mrg_dagestan").account
    assert rule.normalize(" 58,1234-5678 ") == "5812345678"
    assert rule.normalize("58 12x") == "5812x"
    assert supplier("sevgas").account.normalize("00 1234") == "001234"


def test_numeric_billing_gets_its_zeros_back() -> None:
    rule = AccountRule(digits=8, leading_zeros_significant=False, example="01234567", hint=HINT)
    assert rule.validate("1234567").number == "01234567"
    assert rule.validate("01234567").number == "01234567"
    assert rule.validate("123456789").error is AccountError.TOO_LONG


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"digits": 8, "example": "1234567"}, "fails its own rule: too_short"),
        ({"digits": 8, "example": "1234 5678"}, "write it normalised"),
        ({"digits": 8, "max_digits": 9, "example": "12345678"}, "not both"),
        ({"min_digits": 9, "max_digits": 8, "example": "12345678"}, "max_digits"),
        ({"example": "12345678"}, "give digits, max_digits or a pattern"),
        ({"pattern": "([0-9]", "example": "1"}, "not a valid regular expression"),
        ({"digits": 40, "example": "1"}, "less than or equal"),
        ({"digits": 8, "strip": " 0", "example": "12345678"}, "separators only"),
        (
            {"max_digits": 9, "leading_zeros_significant": False, "example": "1"},
            "fixed length",
        ),
    ],
)
def test_inconsistent_rules_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AccountRule.model_validate({**fields, "hint": HINT})


# --- Masking ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("5812345678", "•••• 5678"),
        ("001234567", "•••• 4567"),
        ("58 1234-5678", "•••• 5678"),
        ("12345", "•••• 2345"),
        ("1234", "••••"),
        ("", "••••"),
    ],
)
def test_mask_shows_only_the_last_four(number: str, masked: str) -> None:
    assert mask_account(number) == masked


@pytest.mark.parametrize("code", CATALOG.codes)
def test_supplier_mask_hides_all_but_the_tail(code: str) -> None:
    example = supplier(code).account.example
    masked = supplier(code).mask_account(example)
    assert masked.endswith(example[-4:])
    assert example not in masked
    assert example[:-4] not in masked.replace("•", "")
