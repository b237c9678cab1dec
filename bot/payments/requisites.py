"""Checks of Russian bank details (реквизиты) of a payee.

The algorithms are the public ones summarised in DOMAIN.md §5: INN check digits,
the KPP pattern, and the Bank of Russia key of a 20-digit account computed together
with the BIC.  Everything here works on plain strings and never normalises its input:
callers that accept user input should strip it first, so that a check never passes
on something different from what will be printed or encoded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Final

__all__ = [
    "BANK_NAME_MAX_LEN",
    "PAYEE_NAME_MAX_LEN",
    "PayeeRequisites",
    "bic_is_valid",
    "correspondent_account_is_valid",
    "inn_is_valid",
    "inn_with_check_digits",
    "kpp_is_valid",
    "requisites_problems",
    "settlement_account_is_valid",
    "with_account_key",
]

# Limits of ГОСТ Р 56042-2014, table 1 (Name, BankName): the payment QR is the
# strictest consumer of these values, so the requisites are held to it.
PAYEE_NAME_MAX_LEN: Final = 160
BANK_NAME_MAX_LEN: Final = 45

# `[0-9]` rather than `\d`: `\d` also matches non-ASCII digits such as "٣".
_INN10_RE: Final = re.compile(r"[0-9]{10}")
_INN12_RE: Final = re.compile(r"[0-9]{12}")
_KPP_RE: Final = re.compile(r"[0-9]{4}[0-9A-Z]{2}[0-9]{3}")
# Every BIC of a Russian bank starts with the country code "04".
_BIC_RE: Final = re.compile(r"04[0-9]{7}")
_ACCOUNT_RE: Final = re.compile(r"[0-9]{20}")

_INN10_WEIGHTS: Final = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12_WEIGHTS_11: Final = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12_WEIGHTS_12: Final = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_ACCOUNT_WEIGHTS: Final = (7, 1, 3)
# The key digit of an account is its 9th digit.
_ACCOUNT_KEY_INDEX: Final = 8
_CORRESPONDENT_PREFIX: Final = "301"


def _inn_check_digit(digits: str, weights: tuple[int, ...]) -> str:
    total = sum(int(d) * w for d, w in zip(digits, weights, strict=True))
    return str(total % 11 % 10)


def inn_is_valid(inn: str) -> bool:
    """Tell whether `inn` is a 10-digit (organisation) or 12-digit (person) INN."""
    if _INN10_RE.fullmatch(inn):
        return inn[9] == _inn_check_digit(inn[:9], _INN10_WEIGHTS)
    if _INN12_RE.fullmatch(inn):
        return inn[10] == _inn_check_digit(inn[:10], _INN12_WEIGHTS_11) and inn[
            11
        ] == _inn_check_digit(inn[:11], _INN12_WEIGHTS_12)
    return False


def inn_with_check_digits(first_digits: str) -> str:
    """Complete an INN from its leading digits: 9 digits give a 10-digit INN, 10 give 12.

    Meant for demo and test data; raises ValueError on anything else.
    """
    if re.fullmatch(r"[0-9]{9}", first_digits):
        return first_digits + _inn_check_digit(first_digits, _INN10_WEIGHTS)
    if re.fullmatch(r"[0-9]{10}", first_digits):
        eleven = first_digits + _inn_check_digit(first_digits, _INN12_WEIGHTS_11)
        return eleven + _inn_check_digit(eleven, _INN12_WEIGHTS_12)
    raise ValueError("an INN is completed from exactly 9 or 10 leading digits")


def kpp_is_valid(kpp: str) -> bool:
    """Tell whether `kpp` has the KPP shape: 4 digits, 2 digits or capitals, 3 digits."""
    return _KPP_RE.fullmatch(kpp) is not None


def bic_is_valid(bic: str) -> bool:
    """Tell whether `bic` is a Russian BIC: 9 digits starting with 04."""
    return _BIC_RE.fullmatch(bic) is not None


def _account_key_ok(prefix: str, account: str) -> bool:
    digits = prefix + account
    total = sum(
        int(d) * _ACCOUNT_WEIGHTS[i % len(_ACCOUNT_WEIGHTS)] % 10 for i, d in enumerate(digits)
    )
    return total % 10 == 0


def _settlement_prefix(bic: str) -> str:
    return bic[-3:]


def _correspondent_prefix(bic: str) -> str:
    # Digits 5-6 of the BIC identify the Bank of Russia settlement centre.
    return "0" + bic[4:6]


def settlement_account_is_valid(account: str, bic: str) -> bool:
    """Tell whether `account` is a 20-digit settlement account whose key matches `bic`."""
    return (
        bic_is_valid(bic)
        and _ACCOUNT_RE.fullmatch(account) is not None
        and _account_key_ok(_settlement_prefix(bic), account)
    )


def correspondent_account_is_valid(account: str, bic: str) -> bool:
    """Tell whether `account` is a bank's correspondent account (301…) matching `bic`."""
    return (
        bic_is_valid(bic)
        and _ACCOUNT_RE.fullmatch(account) is not None
        and account.startswith(_CORRESPONDENT_PREFIX)
        and _account_key_ok(_correspondent_prefix(bic), account)
    )


def with_account_key(account_without_key: str, bic: str, *, correspondent: bool = False) -> str:
    """Return the 20-digit account with its key digit (the 9th) set so it matches `bic`.

    `account_without_key` is either the 19 other digits (the key is inserted at the
    9th position) or a full 20-digit account whose 9th digit is replaced.  Meant for
    demo and test data; raises ValueError on malformed input.
    """
    if not bic_is_valid(bic):
        raise ValueError("not a Russian BIC")
    if re.fullmatch(r"[0-9]{19}", account_without_key):
        head = account_without_key[:_ACCOUNT_KEY_INDEX]
        tail = account_without_key[_ACCOUNT_KEY_INDEX:]
    elif _ACCOUNT_RE.fullmatch(account_without_key):
        head = account_without_key[:_ACCOUNT_KEY_INDEX]
        tail = account_without_key[_ACCOUNT_KEY_INDEX + 1 :]
    else:
        raise ValueError("an account is 19 digits without its key or 20 digits")
    if correspondent and not head.startswith(_CORRESPONDENT_PREFIX):
        raise ValueError("a correspondent account starts with 301")
    prefix = _correspondent_prefix(bic) if correspondent else _settlement_prefix(bic)
    # The key's weight (3) is coprime to 10, so exactly one digit fits.
    for key in "0123456789":
        candidate = head + key + tail
        if _account_key_ok(prefix, candidate):
            return candidate
    raise AssertionError("unreachable: one key digit always balances the sum")


@dataclass(frozen=True, slots=True)
class PayeeRequisites:
    """Bank details of the organisation that receives a payment."""

    name: str
    inn: str
    kpp: str
    bic: str
    bank_name: str
    settlement_account: str
    correspondent_account: str


def _text_ok(value: str, max_len: int) -> bool:
    return bool(value.strip()) and len(value) <= max_len


def requisites_problems(req: PayeeRequisites) -> list[str]:
    """Names of the fields of `req` that fail their check, in field order; empty if all pass.

    Two deliberate leniencies:
    * an empty KPP is accepted with a 12-digit INN, because sole proprietors have none;
    * while the BIC itself is invalid, the accounts are only checked for their shape:
      their keys cannot be verified without a BIC, and reporting them too would point
      the user at the wrong field.
    """
    bic_ok = bic_is_valid(req.bic)
    checks: dict[str, bool] = {
        "name": _text_ok(req.name, PAYEE_NAME_MAX_LEN),
        "inn": inn_is_valid(req.inn),
        "kpp": kpp_is_valid(req.kpp) or (req.kpp == "" and len(req.inn) == 12),
        "bic": bic_ok,
        "bank_name": _text_ok(req.bank_name, BANK_NAME_MAX_LEN),
        "settlement_account": (
            settlement_account_is_valid(req.settlement_account, req.bic)
            if bic_ok
            else _ACCOUNT_RE.fullmatch(req.settlement_account) is not None
        ),
        "correspondent_account": (
            correspondent_account_is_valid(req.correspondent_account, req.bic)
            if bic_ok
            else (
                _ACCOUNT_RE.fullmatch(req.correspondent_account) is not None
                and req.correspondent_account.startswith(_CORRESPONDENT_PREFIX)
            )
        ),
    }
    # Iterate the dataclass so the order follows the declaration even if checks move.
    return [f.name for f in fields(req) if not checks[f.name]]
