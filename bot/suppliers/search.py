"""Finding a supplier by what a subscriber types: «пермь», «Дагестан», "Sevastopol".

People type a fragment of whatever they remember — the city, the region, the company —
in either language, with or without ё, quotes or dashes. Every word of the query has to
match somewhere in the supplier's name or region (Russian or English); the results are
ranked by how well the weakest word matched. Ties go to a match in the user's language,
then to a match in the name rather than the region, then to the catalog order.

Ranks, best first:

0. every word is the beginning of a word («перм» → «Пермь», «газ» → «Газпром»);
1. some word only occurs inside a word («газ» → «Севгаз»);
2. the query matches only with spaces and dashes ignored («йошкарола» → «Йошкар-Ола»);
3–5. the same, but matched only through the supplier's ``keywords`` (towns, common names),
   where the query must begin a keyword's word.

Keywords rank below names and regions because they are looser associations. That is
how «крым» finds Крымгазсети first and Севгаз second: Sevastopol is a region of its
own and Крымгазсети does not serve it, but it lies on the Crimean peninsula and people
there often search by it; showing Севгаз second costs one line, hiding it would leave
them without their supplier.

An empty query finds nothing: browsing the whole catalog is ``Catalog.by_region``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from bot.suppliers.models import Catalog, Supplier

__all__ = ["fold", "search_suppliers"]

_QUOTES_RE: Final = re.compile(r"[«»\"'`„“”‚‘’‹›]")
# Dashes, brackets, dots and the like separate words; \w keeps letters of any script.
_SEPARATORS_RE: Final = re.compile(r"[\W_]+")
_KEYWORD_PENALTY: Final = 3
_PREFIX, _INSIDE, _JOINED = 0, 1, 2


def fold(text: str) -> str:
    """`text` lower-cased with ё as е, quotes dropped and punctuation turned into spaces."""
    text = _QUOTES_RE.sub("", text.casefold().replace("ё", "е"))
    return " ".join(_SEPARATORS_RE.sub(" ", text).split())


# (rank, foreign, not_name): lower is better, compared in that order. `foreign` is 1 when
# a word matched only in the other language, `not_name` when it matched only outside the
# name, so «самар» lists Самара (its name) before Жигулевск (its region).
_Score = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class _Field:
    text: str
    words: tuple[str, ...]
    foreign: int
    not_name: int
    # Keywords (town names) match by the beginning of a word only: «ка» is not a search for
    # Соликамск.
    prefix_only: bool = False


def _field(text: str, *, foreign: bool, not_name: bool, prefix_only: bool = False) -> _Field:
    folded = fold(text)
    return _Field(folded, tuple(folded.split()), int(foreign), int(not_name), prefix_only)


def _word_score(word: str, fields: Iterable[_Field]) -> _Score | None:
    """Best score of one query word in `fields`; None if it is nowhere."""
    best: _Score | None = None
    for field in fields:
        if any(candidate.startswith(word) for candidate in field.words):
            found = (_PREFIX, field.foreign, field.not_name)
        elif not field.prefix_only and word in field.text:
            found = (_INSIDE, field.foreign, field.not_name)
        else:
            continue
        if best is None or found < best:
            best = found
    return best


def _joined_match(joined: str, field: _Field) -> bool:
    text = field.text.replace(" ", "")
    return text.startswith(joined) if field.prefix_only else joined in text


def _all_words(words: list[str], fields: list[_Field], penalty: int) -> _Score | None:
    """The score of the worst-matching word, or None unless every word matches."""
    scores = [_word_score(word, fields) for word in words]
    present = [score for score in scores if score is not None]
    if len(present) < len(scores):
        return None
    rank, foreign, not_name = (max(parts) for parts in zip(*present, strict=True))
    return rank + penalty, foreign, not_name


def _score(words: list[str], joined: str, supplier: Supplier, lang: str) -> _Score | None:
    primary = [
        _field(text.get(text_lang), foreign=text_lang != lang, not_name=text is supplier.region)
        for text in (supplier.name, supplier.region)
        for text_lang in ("ru", "en")
    ]
    keywords = [_field(word, foreign=False, not_name=True, prefix_only=True)
                for word in supplier.keywords]
    for fields, penalty in ((primary, 0), (keywords, _KEYWORD_PENALTY)):
        score = _all_words(words, fields, penalty)
        if score is not None:
            return score
        joined_in = [
            (_JOINED + penalty, field.foreign, field.not_name)
            for field in fields
            if _joined_match(joined, field)
        ]
        if joined_in:
            return min(joined_in)
    # Words split between a name and a keyword ("газ крым") still find the supplier.
    return _all_words(words, primary + keywords, _KEYWORD_PENALTY)


def search_suppliers(catalog: Catalog, query: str, lang: str) -> list[Supplier]:
    """Suppliers whose name or region matches `query`, best matches first.

    Case, ё/е, quotes, dashes and extra spaces do not matter; see the module doc for
    the ranking. Equal ranks keep the catalog order, so results are stable.
    """
    folded = fold(query)
    if not folded:
        return []
    words = folded.split()
    joined = folded.replace(" ", "")
    lang = "en" if lang.lower().startswith("en") else "ru"
    found: list[tuple[_Score, int, Supplier]] = []
    for index, supplier in enumerate(catalog):
        score = _score(words, joined, supplier, lang)
        if score is not None:
            found.append((score, index, supplier))
    found.sort(key=lambda item: (item[0], item[1]))
    return [supplier for _, _, supplier in found]
