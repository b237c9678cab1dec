"""Personal account numbers (лицевой счёт): normalisation, checks and masking.

An account number is an identifier, not a quantity: it is kept as a string all the way
through, so the leading zeros that some suppliers print (Севгаз: ``00XXXXXXX``) survive.
These functions take plain values so that they work without a loaded catalog; the
per-supplier rule object (:class:`bot.suppliers.models.AccountRule`) delegates to them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

__all__ = [
    "MASK",
    "AccountCheck",
    "AccountError",
    "check_account",
    "mask_account",
    "normalize_account",
]

# People copy numbers from receipts printed with spaced digits ("7 0 2 0 6 2 0 1 2") and
# from messengers that swap hyphens for typographic dashes or insert no-break spaces,
# so every kind of whitespace and dash is a separator for every supplier.
_ALWAYS_STRIPPED: Final = re.compile(r"[\s\u00ad\u2010-\u2015\u2212\ufe58\ufe63\uff0d-]+")
# `[0-9]` rather than `\d`: `\d` accepts other scripts' digits that billing systems reject.
_DIGITS_RE: Final = re.compile(r"[0-9]+")

MASK: Final = "••••"
_VISIBLE_TAIL: Final = 4


class AccountError(StrEnum):
    """Why an entered account number was refused; the UI picks its message by this."""

    EMPTY = "empty"
    NOT_DIGITS = "not_digits"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    BAD_FORMAT = "bad_format"


@dataclass(frozen=True, slots=True)
class AccountCheck:
    """Result of checking an entered account number: the normalised number or an error."""

    number: str | None = None
    error: AccountError | None = None

    def __post_init__(self) -> None:
        if (self.number is None) == (self.error is None):
            raise ValueError("an AccountCheck holds either a number or an error")

    @property
    def ok(self) -> bool:
        return self.error is None


def normalize_account(raw: str, strip: str = "") -> str:
    """Remove whitespace, dashes and the supplier's own separators (`strip`) from `raw`.

    Nothing else changes: leading zeros stay, letters stay (so that the check can
    report them instead of silently dropping them).
    """
    text = _ALWAYS_STRIPPED.sub("", raw)
    if strip:
        text = text.translate({ord(ch): None for ch in strip})
    return text


def check_account(
    raw: str,
    *,
    digits: int | None = None,
    min_digits: int | None = None,
    max_digits: int | None = None,
    pattern: re.Pattern[str] | None = None,
    strip: str = "",
    pad_to_digits: bool = False,
) -> AccountCheck:
    """Normalise `raw` and check it against a supplier's rule.

    The checks run from the most basic to the most specific, so the user is told
    about the first thing to fix: empty, then non-digits, then length, then format.
    `pad_to_digits` completes a number typed without its leading zeros to `digits`
    characters; it is only for suppliers whose billing treats numbers numerically.
    """
    number = normalize_account(raw, strip)
    if not number:
        return AccountCheck(error=AccountError.EMPTY)
    if _DIGITS_RE.fullmatch(number) is None:
        return AccountCheck(error=AccountError.NOT_DIGITS)
    if digits is not None:
        if len(number) < digits and pad_to_digits:
            number = number.zfill(digits)
        if len(number) < digits:
            return AccountCheck(error=AccountError.TOO_SHORT)
        if len(number) > digits:
            return AccountCheck(error=AccountError.TOO_LONG)
    if min_digits is not None and len(number) < min_digits:
        return AccountCheck(error=AccountError.TOO_SHORT)
    if max_digits is not None and len(number) > max_digits:
        return AccountCheck(error=AccountError.TOO_LONG)
    if pattern is not None and pattern.fullmatch(number) is None:
        return AccountCheck(error=AccountError.BAD_FORMAT)
    # No supplier issues an all-zero number; it is what a placeholder on a form looks like.
    if number.strip("0") == "":
        return AccountCheck(error=AccountError.BAD_FORMAT)
    return AccountCheck(number=number)


def mask_account(number: str) -> str:
    """Show only the last 4 characters of an account number: ``•••• 5678``.

    Meant for logs and for the UI wherever the full number is not needed. Numbers of
    4 characters or fewer are masked entirely, since their tail is the whole number.
    """
    compact = normalize_account(number)
    if len(compact) <= _VISIBLE_TAIL:
        return MASK
    return f"{MASK} {compact[-_VISIBLE_TAIL:]}"
