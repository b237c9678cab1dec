"""Every message in the code has a translation in both catalogs; formatting per locale."""

from __future__ import annotations

import hashlib
import re
from datetime import date
from decimal import Decimal

from aiogram.filters.callback_data import CallbackData

from bot.callbacks import ALL_CALLBACKS
from bot.i18n import (
    LANGUAGES,
    compile_catalogs,
    create_i18n,
    fmt_date,
    fmt_day_month,
    fmt_money,
    fmt_period,
)
from bot.i18n_catalogs import extract_template, load_catalog

PLACEHOLDER = re.compile(r"\{[a-z_]*\}")


def _strings(value: object) -> tuple[str, ...]:
    return value if isinstance(value, tuple) else (str(value or ""),)  # type: ignore[return-value]


def test_every_message_is_translated_in_every_language() -> None:
    template = extract_template()
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in template if m.id}
    assert len(ids) > 40
    for lang in LANGUAGES:
        catalog = load_catalog(lang)
        problems = []
        for message in template:
            if not message.id:
                continue
            found = catalog.get(message.id)
            if found is None or not all(_strings(found.string)) or found.fuzzy:
                problems.append(str(message.id)[:60])
                continue
            # placeholders must survive translation, or .format() breaks in one language only
            source = set(PLACEHOLDER.findall(_strings(message.id)[0]))
            for translated in _strings(found.string):
                if set(PLACEHOLDER.findall(translated)) != source:
                    problems.append(f"placeholders differ: {str(message.id)[:50]}")
        assert not problems, f"{lang}: untranslated or broken: {problems}"


def test_russian_is_really_russian() -> None:
    catalog = load_catalog("ru")
    def words(msgid: object) -> str:
        # what a translator translates: no placeholders, tags or the word E-mail
        text = re.sub(r"\{[a-z_]*\}|<[^>]+>", "", str(msgid)).replace("E-mail", "")
        return text

    not_cyrillic = [
        m.id for m in catalog
        if m.id and not re.search("[а-яА-ЯёЁ]", _strings(m.string)[0])
        and re.search("[a-zA-Z]{4,}", words(m.id))
    ]
    assert not not_cyrillic, not_cyrillic


def test_compiled_catalogs_are_fresh(tmp_path: object) -> None:
    root = compile_catalogs()
    i18n = create_i18n("ru")
    assert set(i18n.available_locales) == set(LANGUAGES)
    for lang in LANGUAGES:
        po = root / lang / "LC_MESSAGES" / "messages.po"
        mo = root / lang / "LC_MESSAGES" / "messages.mo"
        digest = (mo.parent / "messages.mo.sha256").read_text()
        assert digest == hashlib.sha256(po.read_bytes()).hexdigest()
    assert i18n.gettext("Cancelled.", locale="ru") == "Отменено."
    assert i18n.gettext("Cancelled.", locale="en") == "Cancelled."


def test_babel_formatting() -> None:
    assert fmt_money(Decimal("1956.85"), "ru") == "1\xa0956,85\xa0₽"
    assert fmt_money(Decimal("-1956.85"), "en") == "-1,956.85\xa0₽"
    assert fmt_money(Decimal("0"), "ru") == "0,00\xa0₽"
    assert fmt_date(date(2026, 11, 21), "ru").replace("\u202f", " ") == "21 ноября 2026 г."
    assert fmt_date(date(2026, 11, 21), "en") == "November 21, 2026"
    assert fmt_period(2026, 11, "ru") == "ноябрь 2026"
    assert fmt_period(2026, 11, "en") == "November 2026"


def test_callback_data_fits_64_bytes() -> None:
    # The longest values each field can take in the bot, packed.
    samples: list[CallbackData] = []
    for cls in ALL_CALLBACKS:
        fields = {}
        for name, field in cls.model_fields.items():
            annotation = str(field.annotation)
            if "bool" in annotation:
                fields[name] = True
            elif "int" in annotation:
                fields[name] = 2**63 - 1
            else:
                fields[name] = "x" * 12  # the longest action/code names we use are shorter
        samples.append(cls(**fields))
    for sample in samples:
        assert len(sample.pack().encode()) <= 64, sample


def test_a_day_of_a_month_in_each_languages_order() -> None:
    # English dates read "November 22, 2026" elsewhere: "15 November" beside them was mixed.
    assert fmt_day_month(date(2026, 11, 15), "en") == "November 15"
    assert fmt_day_month(date(2026, 11, 15), "ru") == "15 ноября"
