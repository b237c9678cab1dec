"""Logging set-up: JSON lines or a readable console line, with personal data scrubbed.

The scrubber is the last line of defence: code logs ids and masked numbers on purpose, and the
filter replaces anything that still looks like a bot token, phone number, e-mail address, a
PIN or password named as such, or a long digit run (account numbers) in the message and in
string fields. The same scrubber
cleans what users write to support, so it knows the shapes people type: e-mails on Cyrillic
domains, phones with or without +7/8 and foreign ones, account numbers split by spaces or
dashes. Dates, times, amounts and meter readings are left alone.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

TOKEN_RE = re.compile(r"\b\d{5,20}:[A-Za-z0-9_-]{30,}\b")
# Any script in the local part and the domain (иван@почта.рф), or a punycode TLD
# (xn--p1ai). It starts only where a run of address characters starts: linear on long words.
EMAIL_RE = re.compile(
    r"(?<![\w.%+-])[\w.%+-]+@(?:[^\W_](?:[\w-]*[^\W_])?\.)+"
    r"(?:xn--[a-z0-9-]*[a-z0-9]|[^\W\d_]{2,63})",
    re.IGNORECASE)
# One separator between groups of digits: spaces of every width and dashes of every kind.
_SEP = r"[ \u00a0\u2009\u202f\u00ad\u2010-\u2015\u2212\ufe58\ufe63\uff0d-]"
# A + and 8-15 digits (E.164) in groups: foreign numbers (+380 44 123 4567) and +7 ones.
INTL_PHONE_RE = re.compile(rf"(?<![\w+])\+\d(?:(?:{_SEP}|[()]){{0,2}}\d){{7,14}}(?!\d)")
# Russian mobile numbers in the shapes people and Telegram write them.
PHONE_RE = re.compile(r"(?<![\w])\+?[78][\s(-]*\d{3}[\s)-]*\d{3}[\s-]*\d{2}[\s-]*\d{2}(?!\d)")
# Without +7/8: «916-123-45-67», «(916) 123 45 67», «916 123 4567».
NATIONAL_PHONE_RE = re.compile(
    rf"(?<![\w+])(?:\(\d{{3}}\){_SEP}*\d{{3}}|\d{{3}}{_SEP}\d{{3}}){_SEP}?\d{{2}}{_SEP}?\d{{2}}"
    rf"(?!\w|{_SEP}\d)")
# Digits in groups (an account number copied as «5909 3873» or «59-30-19-12»). Atomic, so
# that a run is judged whole (by `_grouped`), never cut short to make a match.
GROUPED_DIGITS_RE = re.compile(rf"(?<![\w.,:/+])(?>\d+(?:{_SEP}\d+)+)")
# What keeps a run of grouped digits as it is: a decimal part, a time or a date going on
# («1 234,56», «2026-11-22 04:56»), a unit or a currency after it («123 456 ₽»).
_NUMBER_GOES_ON = re.compile(r"\w|[.,:/]\d|\s?(?:₽|руб|р\.|rub|коп|%|\$|€)", re.IGNORECASE)
# Dates and year ranges written with dashes or spaces («2026-11-22», «22-11-2026», «2025–2026»).
_DATE_LIKE = re.compile(
    r"(?:19|20)\d\d-(?:0?[1-9]|1[0-2])-(?:0?[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|[12]\d|3[01])-(?:0?[1-9]|1[0-2])-(?:19|20)\d\d"
    r"|(?:19|20)\d\d-(?:19|20)\d\d")
_SEP_RE = re.compile(_SEP)
# Not the fraction of a time («14:09:27.123456»): a timestamp is not an account number.
LONG_DIGITS_RE = re.compile(r"(?<![\w])(?<!:\d\d[.,])\d{6,}(?![\w])")
# A PIN or a password named as such («pin 8875», «ПИН-код: 1234», «пароль Xy7-p@ss»): the
# proof of an account's ownership, whatever its shape.
# After a colon or «=», any word; after a space or a dash, a word with a digit in it («пароль
# от кабинета» is a sentence, not a password).
SECRET_RE = re.compile(
    r"(?<!\w)(pin(?:[\s-]?code)?|пин(?:[\s-]?код)?|пинкод|password|пароль)"
    r"(\s*[:=]\s*|[\s\-—–]+(?=\S*\d))(?!<)\S{1,64}",
    re.IGNORECASE)
# Fewer digits than this in a run are readings, amounts, days: not an account or a phone.
MIN_MASKED_DIGITS = 6

# Keys of structured fields that hold identifiers we want to keep as they are.
ID_FIELDS = frozenset({"update_id", "user_id", "chat_id", "duration_ms", "message_id", "ticket"})

STD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<secret>")
    text = TOKEN_RE.sub("<token>", text)
    text = SECRET_RE.sub(r"\1\2<secret>", text)
    text = EMAIL_RE.sub("<email>", text)
    text = INTL_PHONE_RE.sub("<phone>", text)
    text = PHONE_RE.sub("<phone>", text)
    text = NATIONAL_PHONE_RE.sub("<phone>", text)
    text = GROUPED_DIGITS_RE.sub(_grouped, text)
    return LONG_DIGITS_RE.sub(lambda m: "•" * 4 + m.group(0)[-4:], text)


def _grouped(match: re.Match[str]) -> str:
    run = match.group(0)
    digits = "".join(ch for ch in run if ch.isdigit())
    if len(digits) < MIN_MASKED_DIGITS \
            or _NUMBER_GOES_ON.match(match.string, match.end()) \
            or _DATE_LIKE.fullmatch(_SEP_RE.sub("-", run)):
        return run
    return "•" * 4 + digits[-4:]


def _scrub_value(key: str, value: Any, secrets: tuple[str, ...]) -> Any:
    if key in ID_FIELDS:
        return value
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, dict):
        return {k: _scrub_value(str(k), v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_value(key, v, secrets) for v in value]
    return value


class ScrubFilter(logging.Filter):
    """Rewrites every record in place so that no handler ever sees personal data."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, self.secrets)
        record.msg = scrub(message, self.secrets)
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in STD_ATTRS:
                setattr(record, key, _scrub_value(key, value, self.secrets))
        return True


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in STD_ATTRS and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(_extra_fields(record))
        if record.exc_text:
            payload["exception"] = record.exc_text
        return json.dumps(payload, ensure_ascii=False, default=str)


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        extras = " ".join(f"{k}={v}" for k, v in _extra_fields(record).items())
        line = f"{ts} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            line = f"{line} | {extras}"
        if record.exc_text:
            line = f"{line}\n{record.exc_text}"
        return line


QUIET_LOGGERS: Final = ("sqlalchemy.engine", "sqlalchemy.pool", "sqlalchemy.orm", "aiosqlite",
                        "asyncpg")


def setup_logging(
    *,
    fmt: str = "console",
    level: str = "INFO",
    log_file: Path | None = None,
    secrets: tuple[str, ...] = (),
    stream: bool = True,
) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else ConsoleFormatter()
    scrubber = ScrubFilter(secrets)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)] if stream else []
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                log_file, maxBytes=10 * 1024 * 1024, backupCount=5, encoding="utf-8"
            )
        )
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(scrubber)
        root.addHandler(handler)
    root.setLevel(level)
    # aiogram logs every handled update itself; our event log replaces that line.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    # fpdf's font subsetting logs ~100 DEBUG lines per PDF; nobody reads those.
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    # SQL and its parameters (surnames typed as proof, the demo billing's names, addresses
    # and PINs) never reach the log, whatever LOG_LEVEL says: the scrubber knows phones and
    # numbers, not names.
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
