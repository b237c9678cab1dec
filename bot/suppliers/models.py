"""The supplier catalog as validated, immutable data.

The catalog is what every other part of the bot reads to know how a supplier works:
how its account numbers look, which proofs of ownership it accepts, when and how meter
readings may be submitted, and whom a payment goes to. Everything is checked once, at
start-up, so that a mistake in the YAML stops the bot with a precise message instead
of surfacing as a rejected reading or a broken payment QR weeks later.

Validators that check one field against another raise :func:`rule_error`, whose
context carries the field the mistake is in; :mod:`bot.suppliers.loader` uses it to
point the operator at that field rather than at the enclosing object.
"""

from __future__ import annotations

import calendar
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Annotated, Final, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bot.payments.requisites import (
    BANK_NAME_MAX_LEN,
    PAYEE_NAME_MAX_LEN,
    PayeeRequisites,
    requisites_problems,
)
from bot.suppliers.accounts import AccountCheck, check_account, mask_account, normalize_account

__all__ = [
    "RULE_ERROR",
    "AccountRule",
    "Catalog",
    "ConnectorKind",
    "LocalizedText",
    "ManagementUnit",
    "OverMax",
    "PaymentInfo",
    "PinInfo",
    "Platform",
    "ProofKind",
    "QrEncoding",
    "ReadingWindow",
    "ReadingsRules",
    "RegionGroup",
    "Resubmission",
    "Supplier",
    "SupportContacts",
    "rule_error",
]

RULE_ERROR: Final = "catalog_rule"

NonEmptyStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
# Codes end up in callback data (64 bytes in all) and in log lines, hence short ASCII.
SupplierCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,15}$")]
UnitCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,23}$")]
# Account numbers longer than this exist nowhere in Russian utility billing.
_MAX_ACCOUNT_DIGITS: Final = 32


def rule_error(field: str, message: str) -> PydanticCustomError:
    """An error about `field` (a dotted path below the validated model), for validators."""
    return PydanticCustomError(RULE_ERROR, "{message}", {"message": message, "field": field})


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalizedText(_Frozen):
    """A text the bot shows in Russian or English; both are required."""

    ru: NonEmptyStr
    en: NonEmptyStr

    def get(self, lang: str | None) -> str:
        """The text in `lang` ("en", "en-US", "en_GB"…); Russian for anything else."""
        if lang and re.split(r"[-_]", lang, maxsplit=1)[0].lower() == "en":
            return self.en
        return self.ru


class ProofKind(StrEnum):
    """How a subscriber proves that an account is theirs when linking it."""

    PIN = "pin"
    # Owner's surname plus the amount of the last payment (0 if none this calendar year).
    SURNAME_PAYMENT = "surname_payment"


class Platform(StrEnum):
    """The web platform behind a supplier; it decides the linking flow."""

    MOIGAZ = "moigaz"
    SEVGAS = "sevgas"
    CRIMEA = "crimea"

    @property
    def needs_units(self) -> bool:
        # Крымгазсети keeps accounts per management unit (УЭГХ): the same number may
        # exist in two units, so the unit is part of the account's identity.
        return self is Platform.CRIMEA


class ConnectorKind(StrEnum):
    DEMO = "demo"
    HTTP = "http"


class Resubmission(StrEnum):
    """What happens to a second reading for the same meter in the same period."""

    REPLACE = "replace"
    REFUSE = "refuse"


class OverMax(StrEnum):
    """What happens to a reading whose consumption exceeds the supplier's maximum."""

    CONFIRM = "confirm"
    REJECT = "reject"


class QrEncoding(StrEnum):
    CP1251 = "cp1251"
    UTF8 = "utf-8"


def _compiles(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise PydanticCustomError(
            RULE_ERROR, "not a valid regular expression: {reason}", {"reason": str(exc)}
        ) from exc
    return value


# A regular expression, refused when it does not compile.
RegexText = Annotated[str, AfterValidator(_compiles)]


class AccountRule(_Frozen):
    """How a supplier's account numbers look and how to tell the user where to find one.

    Length is given either as `digits` (exact) or as `min_digits`/`max_digits`; a
    `pattern` (a regular expression matched against the whole normalised number)
    adds structure, e.g. the sector code of the Пятигорск republics.
    """

    digits: int | None = Field(default=None, ge=1, le=_MAX_ACCOUNT_DIGITS)
    min_digits: int | None = Field(default=None, ge=1, le=_MAX_ACCOUNT_DIGITS)
    max_digits: int | None = Field(default=None, ge=1, le=_MAX_ACCOUNT_DIGITS)
    pattern: RegexText | None = None
    # True: the zeros printed at the start are part of the number and must be typed.
    # False: the billing treats the number numerically, so missing zeros are added back.
    leading_zeros_significant: bool = True
    # Separators of this supplier stripped on top of whitespace and dashes.
    strip: str = ""
    example: NonEmptyStr
    hint: LocalizedText
    # Describes a structured number (sector code + account) for the help text.
    format: LocalizedText | None = None

    @field_validator("strip")
    @classmethod
    def _separators_only(cls, value: str) -> str:
        # A digit here would silently delete part of every number.
        if any(ch.isalnum() for ch in value):
            raise PydanticCustomError(RULE_ERROR, "must list separators only, no letters or digits")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.digits is not None and (self.min_digits or self.max_digits):
            raise rule_error("digits", "give either digits or min_digits/max_digits, not both")
        if self.digits is None and self.max_digits is None and self.pattern is None:
            raise rule_error("digits", "give digits, max_digits or a pattern")
        if (
            self.min_digits is not None
            and self.max_digits is not None
            and self.min_digits > self.max_digits
        ):
            raise rule_error("min_digits", f"must be ≤ max_digits ({self.max_digits})")
        if not self.leading_zeros_significant and self.digits is None:
            raise rule_error(
                "leading_zeros_significant", "false needs a fixed length (digits) to pad to"
            )
        check = self.validate(self.example)
        if check.error is not None:
            raise rule_error("example", f"'{self.example}' fails its own rule: {check.error}")
        if check.number != self.example:
            raise rule_error("example", f"write it normalised, as '{check.number}'")
        return self

    @property
    def compiled_pattern(self) -> re.Pattern[str] | None:
        return _compile(self.pattern) if self.pattern is not None else None

    def normalize(self, raw: str) -> str:
        """`raw` without whitespace, dashes and this supplier's separators; zeros kept."""
        return normalize_account(raw, self.strip)

    # BaseModel.validate is pydantic v1's deprecated classmethod; this rule object has
    # no use for it, and "validate" is the name the rest of the bot calls.
    def validate(self, raw: str) -> AccountCheck:  # type: ignore[override]
        """Normalise `raw` and check it: the number to store, or why it was refused."""
        return check_account(
            raw,
            digits=self.digits,
            min_digits=self.min_digits,
            max_digits=self.max_digits,
            pattern=self.compiled_pattern,
            strip=self.strip,
            pad_to_digits=not self.leading_zeros_significant,
        )

    def parts(self, number: str) -> dict[str, str]:
        """Named groups of `pattern` in a valid number (e.g. ``sector``, ``account``)."""
        pattern = self.compiled_pattern
        match = pattern.fullmatch(number) if pattern is not None else None
        return {k: v for k, v in match.groupdict().items() if v is not None} if match else {}


@functools.cache
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


class ReadingWindow(_Frozen):
    """Days of the month on which readings are accepted; 1–31 means any day."""

    start_day: int = Field(ge=1, le=31)
    end_day: int = Field(ge=1, le=31)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.start_day > self.end_day:
            raise rule_error("start_day", f"must be ≤ end_day ({self.end_day})")
        return self

    @property
    def always_open(self) -> bool:
        return self.start_day == 1 and self.end_day == 31

    def bounds(self, year: int, month: int) -> tuple[date, date]:
        """First and last day of the window in a month.

        A window running to the 30th or 31st ends on the last day of shorter months,
        so "20–31" still means "from the 20th to the end of the month" in February.
        """
        last = calendar.monthrange(year, month)[1]
        start = date(year, month, min(self.start_day, last))
        return start, date(year, month, min(self.end_day, last))

    def is_open(self, day: date) -> bool:
        start, end = self.bounds(day.year, day.month)
        return start <= day <= end


class ReadingsRules(_Frozen):
    """How a supplier accepts meter readings (the flags of the real platforms)."""

    window: ReadingWindow
    # Digits allowed after the decimal point; 0 means whole cubic metres only.
    decimals: int = Field(ge=0, le=6)
    # Cubic metres per period above which a reading is suspicious (see over_max).
    max_consumption: int = Field(gt=0)
    allow_zero: bool
    # A reading lower than the previous one may be the counter wrapping past zero.
    allow_rollover: bool
    resubmission: Resubmission
    over_max: OverMax


def _no_separator(value: str) -> str:
    # The payment QR has no escaping: a "|" inside a value would split the field.
    if "|" in value:
        raise PydanticCustomError(RULE_ERROR, "must not contain '|' (the QR field separator)")
    return value


_REQUISITE_MESSAGES: Final = {
    "name": f"must be 1–{PAYEE_NAME_MAX_LEN} characters",
    "kpp": "must be 4 digits, 2 digits or capital letters, 3 digits",
    "bic": "must be 9 digits starting with 04",
    "bank_name": f"must be 1–{BANK_NAME_MAX_LEN} characters",
    "settlement_account": "must be 20 digits whose key matches the BIC",
    "correspondent_account": "must be 20 digits starting with 301 whose key matches the BIC",
}


class PaymentInfo(_Frozen):
    """Whom a payment for this supplier goes to, and how the payment QR is encoded."""

    name: str
    inn: str
    kpp: str
    bic: str
    bank_name: str
    settlement_account: str
    correspondent_account: str
    qr_encoding: QrEncoding = QrEncoding.CP1251
    # Demo requisites are generated to pass the checksums; they are not the supplier's
    # own, so nothing built from them may take real money.
    demo: bool = False

    @field_validator(
        "name", "inn", "kpp", "bic", "bank_name", "settlement_account", "correspondent_account"
    )
    @classmethod
    def _qr_safe(cls, value: str) -> str:
        return _no_separator(value)

    @model_validator(mode="after")
    def _checksums(self) -> Self:
        problems = requisites_problems(self.requisites)
        if problems:
            field = problems[0]
            if field == "inn":
                message = (
                    "INN check digits are wrong"
                    if re.fullmatch(r"[0-9]{10}|[0-9]{12}", self.inn)
                    else "INN must be 10 or 12 digits"
                )
            else:
                message = _REQUISITE_MESSAGES.get(field, "is not valid")
            raise rule_error(field, message)
        return self

    @property
    def requisites(self) -> PayeeRequisites:
        return PayeeRequisites(
            name=self.name,
            inn=self.inn,
            kpp=self.kpp,
            bic=self.bic,
            bank_name=self.bank_name,
            settlement_account=self.settlement_account,
            correspondent_account=self.correspondent_account,
        )


class ManagementUnit(_Frozen):
    """A management unit (УЭГХ) of Крымгазсети; accounts are kept per unit."""

    code: UnitCode
    name: LocalizedText


class PinInfo(_Frozen):
    """What the supplier calls the secret used as a PIN proof, and where to get it.

    `pattern` (a regular expression matched against the whole secret) says what such a
    secret can look like, so text that cannot be one («abc» for a 4-digit PIN) is refused
    before it spends one of the account's attempts; `format` tells the user in words.
    A mailed password has no pattern: anything without spaces may be one.
    """

    name: LocalizedText
    hint: LocalizedText
    pattern: RegexText | None = None
    format: LocalizedText | None = None

    @model_validator(mode="after")
    def _described(self) -> Self:
        if (self.pattern is None) != (self.format is None):
            raise rule_error("format", "'pattern' and 'format' go together")
        return self

    def could_be(self, secret: str) -> bool:
        """Whether `secret` has the shape of this supplier's PIN (always, without a pattern)."""
        return self.pattern is None or re.fullmatch(self.pattern, secret) is not None


class SupportContacts(_Frozen):
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s|]+@[^@\s|]+\.[^@\s|]+$")] | None = None
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9][0-9 ()-]{4,22}$")] | None = None


@dataclass(frozen=True, slots=True)
class RegionGroup:
    """Suppliers of one region, for browsing the catalog region by region."""

    region: LocalizedText
    suppliers: tuple[Supplier, ...]


class Supplier(_Frozen):
    code: SupplierCode
    name: LocalizedText
    region: LocalizedText
    timezone: str
    platform: Platform
    account: AccountRule
    proofs: tuple[ProofKind, ...] = Field(min_length=1)
    pin: PinInfo | None = None
    # Accounts of this supplier one user may link; None means the bot's global limit.
    max_accounts: int | None = Field(default=None, ge=1)
    readings: ReadingsRules
    payment: PaymentInfo
    connector: ConnectorKind = ConnectorKind.DEMO
    billing_url: str | None = None
    units: tuple[ManagementUnit, ...] = ()
    support: SupportContacts | None = None
    # Extra search terms: other names of the region or the city people know it by.
    keywords: tuple[NonEmptyStr, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _real_zone(cls, value: str) -> str:
        if value not in _known_zones():
            raise PydanticCustomError(
                RULE_ERROR, "'{zone}' is not an IANA time zone", {"zone": value}
            )
        return value

    @field_validator("proofs")
    @classmethod
    def _unique_proofs(cls, value: tuple[ProofKind, ...]) -> tuple[ProofKind, ...]:
        if len(set(value)) != len(value):
            raise PydanticCustomError(RULE_ERROR, "a proof is listed twice")
        return value

    @field_validator("billing_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise PydanticCustomError(RULE_ERROR, "must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if ProofKind.PIN in self.proofs and self.pin is None:
            raise rule_error("pin", "required when proofs include 'pin'")
        if ProofKind.PIN not in self.proofs and self.pin is not None:
            raise rule_error("pin", "given but proofs do not include 'pin'")
        if self.platform.needs_units and not self.units:
            raise rule_error("units", f"platform '{self.platform}' needs management units")
        if not self.platform.needs_units and self.units:
            raise rule_error("units", f"platform '{self.platform}' has no management units")
        seen: set[str] = set()
        for index, unit in enumerate(self.units):
            if unit.code in seen:
                raise rule_error(f"units.{index}.code", f"duplicate unit code '{unit.code}'")
            seen.add(unit.code)
        if self.connector is ConnectorKind.HTTP and self.billing_url is None:
            raise rule_error("billing_url", "required for the http connector")
        return self

    def display_name(self, lang: str | None) -> str:
        return self.name.get(lang)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def accepts(self, proof: ProofKind) -> bool:
        return proof in self.proofs

    def unit(self, code: str) -> ManagementUnit | None:
        return next((unit for unit in self.units if unit.code == code), None)

    def mask_account(self, number: str) -> str:
        """The number as logs and the UI show it: only the last 4 digits."""
        return mask_account(number)


def _sort_key(text: str) -> str:
    # ё sorts after я by code point; readers expect it next to е.
    return text.casefold().replace("ё", "е")


class Catalog(_Frozen):
    """All suppliers the bot serves, in the order the catalog file lists them."""

    suppliers: tuple[Supplier, ...] = Field(min_length=1)
    _by_code: dict[str, Supplier] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        regions: dict[str, str] = {}
        seen: set[str] = set()
        for index, supplier in enumerate(self.suppliers):
            if supplier.code in seen:
                raise rule_error(
                    f"suppliers.{index}.code", f"duplicate supplier code '{supplier.code}'"
                )
            seen.add(supplier.code)
            # Grouping by region keys on the Russian name; a differing English name
            # would make one group show under two labels depending on the user.
            known = regions.setdefault(supplier.region.ru, supplier.region.en)
            if known != supplier.region.en:
                raise rule_error(
                    f"suppliers.{index}.region.en",
                    f"'{supplier.region.ru}' is called '{known}' elsewhere in the catalog",
                )
        return self

    def model_post_init(self, context: object, /) -> None:
        self._by_code.update((supplier.code, supplier) for supplier in self.suppliers)

    def get(self, code: str) -> Supplier | None:
        return self._by_code.get(code)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(self._by_code)

    def by_region(self, lang: str | None = "ru") -> list[RegionGroup]:
        """Suppliers grouped by region, regions sorted by name in `lang`.

        Within a region the catalog order is kept (Жигулевск before Самара, as listed),
        so an operator controls it by ordering the file.
        """
        groups: dict[str, list[Supplier]] = {}
        for supplier in self.suppliers:
            groups.setdefault(supplier.region.ru, []).append(supplier)
        result = [RegionGroup(members[0].region, tuple(members)) for members in groups.values()]
        result.sort(key=lambda group: _sort_key(group.region.get(lang)))
        return result

    # BaseModel iterates over (field, value) pairs; a catalog is read as its suppliers.
    def __iter__(self) -> Iterator[Supplier]:  # type: ignore[override]
        return iter(self.suppliers)

    def __len__(self) -> int:
        return len(self.suppliers)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code
