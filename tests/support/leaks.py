"""Scans text for what must never be logged: the bot token, phone numbers, e-mail addresses
and full account numbers given to the bot during the tests."""

from __future__ import annotations

import os
import re
from pathlib import Path

# Every phone, e-mail and account number the tests type in is registered here (by tests
# and fixtures) so the scan knows what to look for, besides the generic patterns.
KNOWN_SECRETS: set[str] = set()

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+")
PHONE_RE = re.compile(r"\+?7\d{10}\b")


def remember(*values: str) -> None:
    KNOWN_SECRETS.update(v for v in values if v)


def extra_files() -> list[Path]:
    raw = os.environ.get("TEST_EXTRA_LOGS", "")
    return [Path(p) for p in raw.split(os.pathsep) if p]


def scan_text(text: str, secrets: tuple[str, ...] = ()) -> list[str]:
    found = []
    for secret in (*secrets, *KNOWN_SECRETS):
        if secret and secret in text:
            found.append(f"secret {secret[:3]}… present")
    found += [f"e-mail {m!r}" for m in EMAIL_RE.findall(text)]
    found += [f"phone {m!r}" for m in PHONE_RE.findall(text)]
    return found


def scan_files(paths: list[Path], secrets: tuple[str, ...] = ()) -> list[str]:
    found = []
    for path in paths:
        if path.exists():
            for lineno, line in enumerate(path.read_text(encoding="utf-8",
                                                          errors="replace").splitlines(), 1):
                found += [f"{path}:{lineno}: {item}" for item in scan_text(line, secrets)]
    return found
