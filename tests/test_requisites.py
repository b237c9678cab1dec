from dataclasses import replace

import pytest

from bot.payments.requisites import (
    PayeeRequisites,
    bic_is_valid,
    correspondent_account_is_valid,
    inn_is_valid,
    inn_with_check_digits,
    kpp_is_valid,
    requisites_problems,
    settlement_account_is_valid,
    with_account_key,
)

# The two real triples of DOMAIN.md §5: settlement account, BIC, correspondent account.
TRIPLES = [
    ("40702810710020102692", "041708602", "30101810000000000602"),
    ("40702810138250123017", "044525225", "30101810400000000225"),
]

VLADIMIR = PayeeRequisites(
    name='ООО "Газпром межрегионгаз Владимир"',
    inn="3328415442",
    kpp="775050001",
    bic="041708602",
    bank_name="Владимирское отделение N8611 ПАО Сбербанк",
    settlement_account="40702810710020102692",
    correspondent_account="30101810000000000602",
)


@pytest.mark.parametrize("inn", ["7725088527", "3328415442", "773370857141"])
def test_valid_inn(inn: str) -> None:
    assert inn_is_valid(inn)


@pytest.mark.parametrize(
    "inn",
    [
        "7725088528",  # last digit off by one
        "6200098765",  # the ГОСТ's own example
        "773370857142",  # 12th digit wrong
        "773370857041",  # 11th digit wrong
        "",
        "772508852",
        "77250885271",
        " 7725088527",
        "7725O88527",
        "٧٧٢٥٠٨٨٥٢٧",  # Arabic-Indic digits satisfy str.isdigit() but are no INN
    ],
)
def test_invalid_inn(inn: str) -> None:
    assert not inn_is_valid(inn)


def test_only_one_check_digit_fits() -> None:
    for inn in ("7725088527", "773370857141"):
        for digit in "0123456789":
            if digit != inn[-1]:
                assert not inn_is_valid(inn[:-1] + digit)


@pytest.mark.parametrize("inn", ["7725088527", "3328415442", "773370857141", "7838016481"])
def test_inn_with_check_digits_reproduces_real_inns(inn: str) -> None:
    leading = inn[:9] if len(inn) == 10 else inn[:10]
    assert inn_with_check_digits(leading) == inn


def test_inn_with_check_digits_makes_valid_inns() -> None:
    for n in range(0, 10**9, 7_654_321):
        short = f"{n:09d}"
        assert inn_is_valid(inn_with_check_digits(short))
        assert inn_is_valid(inn_with_check_digits(short + "1"))


@pytest.mark.parametrize("leading", ["", "12345678", "12345678901", "12345678a"])
def test_inn_with_check_digits_rejects_other_lengths(leading: str) -> None:
    with pytest.raises(ValueError, match="9 or 10"):
        inn_with_check_digits(leading)


@pytest.mark.parametrize("kpp", ["775050001", "7750AB001", "770101001", "7701Z9001"])
def test_valid_kpp(kpp: str) -> None:
    assert kpp_is_valid(kpp)


@pytest.mark.parametrize(
    "kpp", ["", "77505000", "7750500011", "7750ab001", "A75050001", "7750500A1"]
)
def test_invalid_kpp(kpp: str) -> None:
    assert not kpp_is_valid(kpp)


@pytest.mark.parametrize("bic", ["041708602", "044525225"])
def test_valid_bic(bic: str) -> None:
    assert bic_is_valid(bic)


@pytest.mark.parametrize(
    "bic", ["", "04170860", "0417086021", "141708602", "04170860X", " 041708602"]
)
def test_invalid_bic(bic: str) -> None:
    assert not bic_is_valid(bic)


@pytest.mark.parametrize(("account", "bic", "correspondent"), TRIPLES)
def test_domain_triples_are_valid(account: str, bic: str, correspondent: str) -> None:
    assert settlement_account_is_valid(account, bic)
    assert correspondent_account_is_valid(correspondent, bic)


@pytest.mark.parametrize(("account", "bic", "correspondent"), TRIPLES)
def test_any_single_digit_change_breaks_the_account_key(
    account: str, bic: str, correspondent: str
) -> None:
    # Every weight (7, 1, 3) is coprime to 10, so each one-digit error is caught.
    for position in range(20):
        for digit in "0123456789":
            if digit == account[position]:
                continue
            changed = account[:position] + digit + account[position + 1 :]
            assert not settlement_account_is_valid(changed, bic)
        if correspondent[position] != "5":
            changed = correspondent[:position] + "5" + correspondent[position + 1 :]
            assert not correspondent_account_is_valid(changed, bic)


def test_account_does_not_match_another_bank() -> None:
    (acc1, bic1, corr1), (acc2, bic2, corr2) = TRIPLES
    assert not settlement_account_is_valid(acc1, bic2)
    assert not settlement_account_is_valid(acc2, bic1)
    assert not correspondent_account_is_valid(corr1, bic2)
    assert not correspondent_account_is_valid(corr2, bic1)


def test_settlement_and_correspondent_checks_are_not_interchangeable() -> None:
    account, bic, correspondent = TRIPLES[0]
    assert not correspondent_account_is_valid(account, bic)  # does not start with 301
    assert not settlement_account_is_valid(correspondent, bic)


@pytest.mark.parametrize(
    ("account", "bic"),
    [
        ("4070281071002010269", "041708602"),
        ("407028107100201026920", "041708602"),
        ("4070281071002010269X", "041708602"),
        ("40702810710020102692", "04170860"),
        ("40702810710020102692", ""),
    ],
)
def test_malformed_account_or_bic(account: str, bic: str) -> None:
    assert not settlement_account_is_valid(account, bic)
    assert not correspondent_account_is_valid(account, bic)


@pytest.mark.parametrize(("account", "bic", "correspondent"), TRIPLES)
def test_with_account_key_restores_real_keys(account: str, bic: str, correspondent: str) -> None:
    without_key = account[:8] + account[9:]
    assert with_account_key(without_key, bic) == account
    wrong_key = account[:8] + str((int(account[8]) + 1) % 10) + account[9:]
    assert with_account_key(wrong_key, bic) == account
    assert with_account_key(correspondent, bic, correspondent=True) == correspondent


def test_with_account_key_makes_valid_demo_accounts() -> None:
    for bic in ("041708602", "044525225", "040000001"):
        for n in range(0, 10**11, 3_333_333_331):
            settlement = with_account_key(f"40702810{n:011d}", bic)
            assert len(settlement) == 20
            assert settlement.startswith("40702810")
            assert settlement_account_is_valid(settlement, bic)
            corr = with_account_key(f"30101810{n:011d}", bic, correspondent=True)
            assert correspondent_account_is_valid(corr, bic)


@pytest.mark.parametrize(
    ("account", "bic", "correspondent", "message"),
    [
        ("407028101002010269", "041708602", False, "19 digits"),
        ("407028101002010269211", "041708602", False, "19 digits"),
        ("4070281010020102692", "04170860", False, "BIC"),
        ("4070281010020102692", "041708602", True, "301"),
    ],
)
def test_with_account_key_rejects_bad_input(
    account: str, bic: str, correspondent: bool, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        with_account_key(account, bic, correspondent=correspondent)


def test_requisites_without_problems() -> None:
    assert requisites_problems(VLADIMIR) == []


def test_requisites_problems_names_fields_in_declaration_order() -> None:
    bad = replace(VLADIMIR, settlement_account="40702810710020102693", inn="6200098765")
    assert requisites_problems(bad) == ["inn", "settlement_account"]


def test_every_field_can_fail() -> None:
    bad = PayeeRequisites(
        name="",
        inn="1",
        kpp="1",
        bic="041708602",
        bank_name=" ",
        settlement_account="1",
        correspondent_account="40702810710020102692",
    )
    assert requisites_problems(bad) == [
        "name",
        "inn",
        "kpp",
        "bank_name",
        "settlement_account",
        "correspondent_account",
    ]
    assert requisites_problems(replace(VLADIMIR, bic="")) == ["bic"]


def test_name_length_limits() -> None:
    assert requisites_problems(replace(VLADIMIR, name="Я" * 160)) == []
    assert requisites_problems(replace(VLADIMIR, name="Я" * 161)) == ["name"]
    assert requisites_problems(replace(VLADIMIR, bank_name="Б" * 45)) == []
    assert requisites_problems(replace(VLADIMIR, bank_name="Б" * 46)) == ["bank_name"]


def test_sole_proprietor_has_no_kpp() -> None:
    proprietor = replace(VLADIMIR, inn="773370857141", kpp="")
    assert requisites_problems(proprietor) == []
    assert requisites_problems(replace(VLADIMIR, kpp="")) == ["kpp"]


def test_invalid_bic_does_not_also_blame_well_formed_accounts() -> None:
    assert requisites_problems(replace(VLADIMIR, bic="044525225")) == [
        "settlement_account",
        "correspondent_account",
    ]
    assert requisites_problems(replace(VLADIMIR, bic="14170860")) == ["bic"]
    assert requisites_problems(
        replace(VLADIMIR, bic="14170860", correspondent_account="40702810710020102692")
    ) == ["bic", "correspondent_account"]


def test_requisites_are_immutable() -> None:
    with pytest.raises(AttributeError):
        VLADIMIR.inn = "7725088527"  # type: ignore[misc]
