"""Logging set-up: JSON lines or a readable console line, with personal data scrubbed.

The scrubber is the last line of defence: code logs ids and masked numbers on purpose, and the
filter replaces anything that still looks like a bot token, phone number, e-mail address or a
long digit run (account numbers) in the message and in string fields.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TOKEN_RE = re.compile(r"\b\d{5,20}:[A-Za-z0-9_-]{30,}\b")
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Russian mobile numbers in the shapes people and Telegram write them.
PHONE_RE = re.compile(r"(?<![\w])\+?[78][\s(-]*\d{3}[\s)-]*\d{3}[\s-]*\d{2}[\s-]*\d{2}(?!\d)")
LONG_DIGITS_RE = re.compile(r"(?<![\w])\d{6,}(?![\w])")

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
    text = EMAIL_RE.sub("<email>", text)
    text = PHONE_RE.sub("<phone>", text)
    return LONG_DIGITS_RE.sub(lambda m: "•" * 4 + m.group(0)[-4:], text)


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
