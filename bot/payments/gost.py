"""Payment payloads of ГОСТ Р 56042-2014, the text that Russian banking apps read from a QR.

A payload is a service block (``ST`` + format version ``0001`` + an encoding digit +
the separator character) followed by ``Key=Value`` fields joined by the separator.
The standard has no escaping, so the builder keeps the separator, and anything else
that would break a scanner, out of the values instead of failing on them.

Maximum field lengths (in characters):

* tables 1 and 2 of the standard: Name 160, PersonalAcc 20, BankName 45, BIC 9,
  CorrespAcc 20, PayeeINN 12, KPP 9, Purpose 210, Sum 18.  Cross-checked against
  two public implementations of the standard (QRCoder's ``RussiaPaymentOrder`` and
  avhimkov/PayQRgen), which agree with each other except for Purpose, where we follow
  the standard's 210.
* table 3 ("other additional requisites": PersAcc, LastName, PaymPeriod, …) sets no
  length at all, so the limits below for those keys are ours.  They leave room for
  any real value while keeping a full payload far below the capacity of a QR code:
  60 for name parts (the limit of Russian tax registry forms), 210 for the address
  (as Purpose), 30 for identifiers, 4 for the MMYY period, 2 for TechCode.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Final, Literal

from bot.payments.requisites import PayeeRequisites, requisites_problems

__all__ = [
    "FIELD_MAX_LEN",
    "MANDATORY_BLOCK_MAX_BYTES",
    "MANDATORY_KEYS",
    "OPTIONAL_KEYS",
    "SEPARATOR",
    "GostPayloadError",
    "PayloadEncoding",
    "PaymentOrder",
    "build_payload",
    "encode_payload",
    "kopecks_from_rubles",
    "parse_payload",
    "paym_period_of",
]

PayloadEncoding = Literal["cp1251", "utf-8"]

SEPARATOR: Final = "|"
MANDATORY_BLOCK_MAX_BYTES: Final = 300
MANDATORY_KEYS: Final = ("Name", "PersonalAcc", "BankName", "BIC", "CorrespAcc")
# The order in which the builder writes the optional keys that it supports.
OPTIONAL_KEYS: Final = (
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
    "ServiceName",
    "TechCode",
    "CounterId",
    "CounterVal",
)
# Sources of these numbers: see the module docstring.
FIELD_MAX_LEN: Final[dict[str, int]] = {
    "Name": 160,
    "PersonalAcc": 20,
    "BankName": 45,
    "BIC": 9,
    "CorrespAcc": 20,
    "PayeeINN": 12,
    "KPP": 9,
    "Purpose": 210,
    "Sum": 18,
    "PersAcc": 30,
    "PaymPeriod": 4,
    "LastName": 60,
    "FirstName": 60,
    "MiddleName": 60,
    "PayerAddress": 210,
    "Category": 30,
    "ServiceName": 30,
    "TechCode": 2,
    "CounterId": 30,
    "CounterVal": 30,
}

_FORMAT_ID: Final = "ST0001"
_ENCODING_DIGIT: Final[dict[PayloadEncoding, str]] = {"cp1251": "1", "utf-8": "2"}
_CODEC_OF_DIGIT: Final = {"1": "cp1251", "2": "utf-8", "3": "koi8_r"}
# Field names of PayeeRequisites, so that errors name the same fields as
# requisites_problems does whatever stage finds the problem.
_PAYEE_FIELD_OF_KEY: Final = {
    "Name": "name",
    "PersonalAcc": "settlement_account",
    "BankName": "bank_name",
    "BIC": "bic",
    "CorrespAcc": "correspondent_account",
    "PayeeINN": "inn",
    "KPP": "kpp",
}
_SUM_MAX: Final = 10 ** FIELD_MAX_LEN["Sum"] - 1
_PAYM_PERIOD_RE: Final = re.compile(r"(0[1-9]|1[0-2])[0-9]{2}")
# Technical codes 01-15 are listed in the standard (02 = housing and utilities).
_TECH_CODE_RE: Final = re.compile(r"0[1-9]|1[0-5]")
_KEY_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9]*")
# Format, control, surrogate, private-use and unassigned code points: invisible or
# meaningless on a receipt, and some of them upset scanners or encoders.
_DROPPED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
# Symbols windows-1251 lacks whose compatibility decomposition would not help.
_CP1251_SUBSTITUTES: Final = {"₽": "руб.", "\u2044": "/"}


class GostPayloadError(ValueError):
    """A payload cannot be built or parsed; `fields` names what is at fault.

    Building reports field names of PayeeRequisites / PaymentOrder (``inn``,
    ``sum_kopecks``…); parsing reports payload keys (``BIC``…).
    """

    def __init__(self, message: str, fields: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.fields = fields


@dataclass(frozen=True, slots=True)
class PaymentOrder:
    """Everything a payment QR carries: the payee, and what the payer fills in otherwise.

    `paym_period` is MMYY (``"0120"`` = January 2020), as on real gas receipts, or a
    date within the period.  `tech_code` defaults to ``"02"`` (utilities); set it to
    None to leave it out.
    """

    payee: PayeeRequisites
    purpose: str | None = None
    sum_kopecks: int | None = None
    pers_acc: str | None = None
    paym_period: str | date | None = None
    last_name: str | None = None
    first_name: str | None = None
    middle_name: str | None = None
    payer_address: str | None = None
    category: str | None = None
    service_name: str | None = None
    tech_code: str | None = "02"
    counter_id: str | None = None
    counter_val: str | None = None
    encoding: PayloadEncoding = "cp1251"


def paym_period_of(day: date) -> str:
    """The MMYY period that `day` falls in."""
    return f"{day.month:02d}{day.year % 100:02d}"


def kopecks_from_rubles(amount: Decimal) -> int:
    """Convert an amount in roubles to whole kopecks; raise ValueError on a fraction of one."""
    if not amount.is_finite():
        raise ValueError(f"{amount} is not an amount")
    kopecks = amount * 100
    if kopecks != kopecks.to_integral_value():
        raise ValueError(f"{amount} is not a whole number of kopecks")
    return int(kopecks)


def _clean(value: str) -> str:
    chars: list[str] = []
    for ch in value:
        # Line breaks become spaces rather than vanishing so words stay apart.
        if ch == SEPARATOR or ch.isspace():
            chars.append(" ")
        elif unicodedata.category(ch) not in _DROPPED_CATEGORIES:
            chars.append(ch)
    return " ".join("".join(chars).split())


def _cp1251_encodable(ch: str) -> bool:
    try:
        ch.encode("cp1251")
    except UnicodeEncodeError:
        return False
    return True


def _cp1251_substitute(ch: str) -> str | None:
    if _cp1251_encodable(ch):
        return ch
    return _CP1251_SUBSTITUTES.get(ch)


def _to_cp1251_repertoire(value: str) -> str:
    out: list[str] = []
    for ch in value:
        direct = _cp1251_substitute(ch)
        if direct is not None:
            out.append(direct)
            continue
        # NFKD splits "ş" into "s" + cedilla and "½" into "1⁄2": keep the base characters.
        kept = "".join(
            _cp1251_substitute(c) or "?"
            for c in unicodedata.normalize("NFKD", ch)
            if not unicodedata.combining(c)
        )
        out.append(kept or "?")
    return "".join(out)


def _normalise(value: str, key: str, encoding: PayloadEncoding) -> str:
    # NFC first, so that a decomposed "й" is one encodable character, not "и" + mark.
    text = _clean(unicodedata.normalize("NFC", value))
    if encoding == "cp1251":
        # Cleaned again: decompositions can produce a separator (fullwidth "｜" → "|").
        text = _clean(_to_cp1251_repertoire(text))
    return text[: FIELD_MAX_LEN[key]].rstrip()


def _sum_value(sum_kopecks: int) -> str:
    # bool is an int, but True kopecks is surely a bug in the caller.
    if isinstance(sum_kopecks, bool) or not isinstance(sum_kopecks, int):
        raise GostPayloadError("Sum must be an integer number of kopecks", ("sum_kopecks",))
    if not 0 < sum_kopecks <= _SUM_MAX:
        raise GostPayloadError(
            f"Sum must be positive and at most {FIELD_MAX_LEN['Sum']} digits", ("sum_kopecks",)
        )
    return str(sum_kopecks)


def _paym_period_value(period: str | date, encoding: PayloadEncoding) -> str:
    if isinstance(period, date):
        return paym_period_of(period)
    text = _normalise(period, "PaymPeriod", encoding)
    if not _PAYM_PERIOD_RE.fullmatch(text):
        raise GostPayloadError("PaymPeriod must be MMYY, e.g. 0120", ("paym_period",))
    return text


def _order_fields(order: PaymentOrder, *, validate: bool) -> list[tuple[str, str]]:
    enc = order.encoding
    payee = order.payee

    def norm(value: str | None, key: str) -> str:
        return "" if value is None else _normalise(value, key, enc)

    mandatory = [
        ("Name", norm(payee.name, "Name")),
        ("PersonalAcc", norm(payee.settlement_account, "PersonalAcc")),
        ("BankName", norm(payee.bank_name, "BankName")),
        ("BIC", norm(payee.bic, "BIC")),
        ("CorrespAcc", norm(payee.correspondent_account, "CorrespAcc")),
    ]
    inn = norm(payee.inn, "PayeeINN")
    kpp = norm(payee.kpp, "KPP")

    if validate:
        values = dict(mandatory)
        # Checked after normalising: that is what the scanner will see.
        problems = requisites_problems(
            PayeeRequisites(
                name=values["Name"],
                inn=inn,
                kpp=kpp,
                bic=values["BIC"],
                bank_name=values["BankName"],
                settlement_account=values["PersonalAcc"],
                correspondent_account=values["CorrespAcc"],
            )
        )
        if problems:
            raise GostPayloadError(
                "invalid payee requisites: " + ", ".join(problems), tuple(problems)
            )
    empty = tuple(_PAYEE_FIELD_OF_KEY[k] for k, v in mandatory if not v)
    if empty:
        raise GostPayloadError("mandatory payee fields are empty: " + ", ".join(empty), empty)

    optional: dict[str, str] = {
        "PayeeINN": inn,
        "KPP": kpp,
        "Purpose": norm(order.purpose, "Purpose"),
        "Sum": "" if order.sum_kopecks is None else _sum_value(order.sum_kopecks),
        "PersAcc": norm(order.pers_acc, "PersAcc"),
        "PaymPeriod": (
            "" if order.paym_period is None else _paym_period_value(order.paym_period, enc)
        ),
        "LastName": norm(order.last_name, "LastName"),
        "FirstName": norm(order.first_name, "FirstName"),
        "MiddleName": norm(order.middle_name, "MiddleName"),
        "PayerAddress": norm(order.payer_address, "PayerAddress"),
        "Category": norm(order.category, "Category"),
        "ServiceName": norm(order.service_name, "ServiceName"),
        "TechCode": norm(order.tech_code, "TechCode"),
        "CounterId": norm(order.counter_id, "CounterId"),
        "CounterVal": norm(order.counter_val, "CounterVal"),
    }
    tech_code = optional["TechCode"]
    if tech_code and not _TECH_CODE_RE.fullmatch(tech_code):
        raise GostPayloadError("TechCode must be 01-15", ("tech_code",))
    return mandatory + [(key, optional[key]) for key in OPTIONAL_KEYS if optional[key]]


def _join(encoding: PayloadEncoding, fields: list[tuple[str, str]]) -> str:
    header = _FORMAT_ID + _ENCODING_DIGIT[encoding] + SEPARATOR
    return header + SEPARATOR.join(f"{key}={value}" for key, value in fields)


def build_payload(order: PaymentOrder, *, validate: bool = True) -> str:
    """The payload text of `order`, with its values sanitised and truncated.

    Sanitising replaces the separator, line breaks and runs of white space with one
    space, drops invisible control and format characters and, for windows-1251,
    replaces what it cannot encode.  With `validate` (the default) the sanitised and
    truncated payee requisites must then pass `requisites_problems` (so an over-long
    name is shortened, not refused); switch it off only to reproduce third-party
    payloads.  Raises GostPayloadError when the payload cannot be made valid.
    """
    fields = _order_fields(order, validate=validate)
    mandatory_block = _join(order.encoding, fields[: len(MANDATORY_KEYS)])
    size = len(mandatory_block.encode(order.encoding))
    if size > MANDATORY_BLOCK_MAX_BYTES:
        raise GostPayloadError(
            f"the service block and mandatory fields take {size} bytes in {order.encoding},"
            f" more than {MANDATORY_BLOCK_MAX_BYTES}: shorten the payee or bank name",
            ("name", "bank_name"),
        )
    return _join(order.encoding, fields)


def encode_payload(order: PaymentOrder, *, validate: bool = True) -> bytes:
    """The payload of `order` as the bytes to put into a QR code (8-bit mode)."""
    # Strict: the builder has already replaced whatever the encoding cannot hold.
    return build_payload(order, validate=validate).encode(order.encoding)


def _decode(data: bytes) -> str:
    digit = data[6:7].decode("ascii", errors="replace")
    codec = _CODEC_OF_DIGIT.get(digit)
    if not data.startswith(_FORMAT_ID.encode("ascii")) or codec is None:
        raise GostPayloadError("not a ST0001 payload with a known encoding digit")
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        raise GostPayloadError(f"payload is not valid {codec}") from exc


def parse_payload(data: bytes | str) -> dict[str, str]:
    """Read a ГОСТ Р 56042-2014 payload into its fields, in payload order.

    Bytes are decoded by the encoding digit of the header (1 windows-1251,
    2 UTF-8, 3 KOI8-R); text is taken as already decoded.  The separator is
    whatever character follows the header.  Tolerated, because other generators
    produce them: empty segments (a trailing separator) and a trailing line break.
    Raises GostPayloadError on a bad header, a segment without ``=``, a repeated
    key or a missing mandatory field.
    """
    text = _decode(data) if isinstance(data, bytes) else data
    if not text.startswith(_FORMAT_ID) or text[6:7] not in _CODEC_OF_DIGIT:
        raise GostPayloadError("not a ST0001 payload with a known encoding digit")
    separator = text[7:8]
    if not separator or separator.isalnum() or separator.isspace() or separator == "=":
        raise GostPayloadError("no usable separator after the header")

    fields: dict[str, str] = {}
    for segment in text[8:].rstrip("\r\n").split(separator):
        if not segment:
            continue
        key, eq, value = segment.partition("=")
        if not eq or not _KEY_RE.fullmatch(key):
            raise GostPayloadError(f"malformed field {segment[:20]!r}")
        if key in fields:
            raise GostPayloadError(f"repeated key {key}", (key,))
        fields[key] = value

    missing = tuple(key for key in MANDATORY_KEYS if not fields.get(key))
    if missing:
        raise GostPayloadError("missing mandatory fields: " + ", ".join(missing), missing)
    return fields
