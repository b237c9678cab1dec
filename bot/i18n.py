"""Translations (gettext catalogs in locales/) and Babel formatting for the user's locale.

Catalogs are compiled from the `.po` sources whenever a `.mo` is missing or older than its
`.po`, at every start and in the tests, so a stale `.mo` can never be served.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiogram.types import TelegramObject, User
from aiogram.utils.i18n import I18n, I18nMiddleware
from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime as babel_format_datetime
from babel.dates import format_skeleton as babel_format_skeleton
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LANGUAGES: tuple[str, ...] = ("ru", "en")
DOMAIN = "messages"
LOCALES_DIR = Path(
    os.environ.get("LOCALES_DIR", Path(__file__).resolve().parent.parent / "locales")
)


def compile_catalogs(locales_dir: Path = LOCALES_DIR) -> Path:
    """Compile every `.po` whose content changed since its `.mo` was made; returns the
    directory to load from.

    Freshness is decided by a hash of the `.po` content kept beside the `.mo` (file times are
    too coarse when a catalog is edited and the bot started within the same moment). When the
    source tree is read-only the catalogs are compiled into a temporary directory.
    """
    target_root = locales_dir
    if not os.access(locales_dir, os.W_OK):
        target_root = Path(tempfile.mkdtemp(prefix="gasbot-locales-"))
    for po_path in sorted(locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        lang = po_path.parent.parent.name
        mo_path = target_root / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
        hash_path = mo_path.with_suffix(".mo.sha256")
        source = po_path.read_bytes()
        digest = hashlib.sha256(source).hexdigest()
        if mo_path.exists() and hash_path.exists() and hash_path.read_text() == digest:
            continue
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        catalog = read_po(io.BytesIO(source), locale=lang)
        # A per-process temporary name: several processes may compile at once.
        fd, tmp_name = tempfile.mkstemp(dir=mo_path.parent, suffix=".mo.tmp")
        with os.fdopen(fd, "wb") as dst:
            write_mo(dst, catalog, use_fuzzy=False)
        Path(tmp_name).replace(mo_path)
        hash_path.write_text(digest)
    return target_root


def create_i18n(default_locale: str = "ru", locales_dir: Path = LOCALES_DIR) -> I18n:
    return I18n(path=compile_catalogs(locales_dir), default_locale=default_locale, domain=DOMAIN)


def guess_language(tg_user: User | None, default: str) -> str:
    code = (tg_user.language_code or "").split("-")[0].lower() if tg_user else ""
    return code if code in LANGUAGES else default


class UserLocaleMiddleware(I18nMiddleware):
    """The stored language of a known user wins; otherwise Telegram's language_code if we speak
    it; otherwise the operator's default."""

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        user = data.get("user")
        if user is not None and user.language in LANGUAGES:
            return str(user.language)
        return guess_language(data.get("event_from_user"), self.i18n.default_locale)


# --- Babel formatting -----------------------------------------------------------------------


def fmt_money(amount: Decimal | int | float, locale: str) -> str:
    """`1 956,85 ₽` in ru, `1,956.85 ₽` in en: Babel's digits and separators, and the rouble
    sign in both (Babel's English data would write `RUB1,956.85`)."""
    number = format_decimal(Decimal(str(amount)), format="#,##0.00", locale=locale)
    return f"{number}\xa0₽"


def fmt_number(value: Decimal | int | float, locale: str, decimals: int | None = None) -> str:
    if decimals is not None:
        pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
        return format_decimal(Decimal(str(value)), format=pattern, locale=locale)
    return format_decimal(Decimal(str(value)), locale=locale)


def fmt_date(value: date, locale: str, fmt: str = "long") -> str:
    return babel_format_date(value, format=fmt, locale=locale)


def fmt_day_month(value: date, locale: str) -> str:
    """A day of a month without the year, in the locale's order: «15 ноября», "November 15"
    (a fixed "d MMMM" gave English "15 November" beside Babel's "November 22, 2026")."""
    return babel_format_skeleton("MMMMd", value, locale=locale)


def fmt_datetime(value: datetime, locale: str, fmt: str = "medium", tz: Any = None) -> str:
    return babel_format_datetime(value, format=fmt, tzinfo=tz, locale=locale)


def fmt_period(year: int, month: int, locale: str) -> str:
    """A billing period as the month's stand-alone name and year: `ноябрь 2026`."""
    return babel_format_date(date(year, month, 1), format="LLLL y", locale=locale)
