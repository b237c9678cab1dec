"""Keeps the gettext catalogs in step with the code (`python -m bot i18n`).

Extraction uses the keywords of aiogram's i18n: `_` (singular, and singular/plural),
`__` (lazy). The English catalog mirrors the English source strings, so both catalogs have
an entry for every message and the test suite can demand a translation in each.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from bot.i18n import DOMAIN, LANGUAGES, LOCALES_DIR

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("bot", "handlers", "fsm")
KEYWORDS = {"_": None, "__": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None}


def extract_template() -> Catalog:
    template = Catalog(project="gasbot", domain=DOMAIN, fuzzy=False,
                       creation_date=datetime(2026, 1, 1, tzinfo=UTC))
    for folder in SOURCE_DIRS:
        for filename, lineno, message, comments, context in extract_from_dir(
            ROOT / folder,
            method_map=[("**.py", "python")],
            keywords=KEYWORDS,
            comment_tags=("TRANSLATORS:",),
        ):
            template.add(message, None, [(f"{folder}/{filename}", lineno)],
                         auto_comments=comments, context=context)
    return template


def load_catalog(lang: str, locales_dir: Path = LOCALES_DIR) -> Catalog:
    path = locales_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.exists():
        return Catalog(locale=lang, domain=DOMAIN)
    with path.open("rb") as fh:
        return read_po(fh, locale=lang)


def update_catalogs(locales_dir: Path = LOCALES_DIR) -> dict[str, list[str]]:
    """Merge the template into each catalog; returns the msgids still lacking a translation."""
    template = extract_template()
    with (locales_dir / f"{DOMAIN}.pot").open("wb") as fh:
        write_po(fh, template, width=100, omit_header=False, sort_output=True)
    missing: dict[str, list[str]] = {}
    for lang in LANGUAGES:
        catalog = load_catalog(lang, locales_dir)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.fuzzy = False
        catalog.project = "gasbot"
        for message in catalog:
            if not message.id:
                continue
            if lang == "en" and not _translated(message.string):
                # English source strings are their own translation, plurals included.
                message.string = message.id
            message.flags.discard("fuzzy")
        path = locales_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            write_po(fh, catalog, width=100, sort_output=True, ignore_obsolete=True)
        missing[lang] = [str(m.id) for m in catalog if m.id and not _translated(m.string)]
    return missing


def _translated(value: object) -> bool:
    if isinstance(value, tuple):
        return all(value)
    return bool(value)


def main() -> int:
    missing = update_catalogs()
    for lang, ids in missing.items():
        for msgid in ids:
            print(f"{lang}: untranslated: {msgid[:70]!r}")
    return 1 if any(missing.values()) else 0
