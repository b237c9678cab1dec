"""Finding a supplier by a fragment of its name or region."""

from __future__ import annotations

import pytest

from bot.suppliers import load_catalog, search_suppliers
from bot.suppliers.models import Catalog
from bot.suppliers.search import fold

CATALOG: Catalog = load_catalog()
PYATIGORSK = ["mrg_dagestan", "mrg_ingushetia", "mrg_kbr", "mrg_kchr", "mrg_alania"]


def codes(query: str, lang: str = "ru") -> list[str]:
    return [supplier.code for supplier in search_suppliers(CATALOG, query, lang)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("пермь", ["mrg_perm"]),
        ("Пермь", ["mrg_perm"]),
        ("ПЕРМ", ["mrg_perm"]),
        ("perm", ["mrg_perm"]),
        ("Дагестан", ["mrg_dagestan"]),
        ("Sevastopol", ["sevgas"]),
        ("севастополь", ["sevgas"]),
        ("пятигорск", PYATIGORSK),
        ("Pyatigorsk", PYATIGORSK),
        ("Пермский край", ["mrg_perm"]),
        ("кузбасс", ["mrg_kemerovo"]),
        ("Северная Осетия", ["mrg_alania"]),
        ("осетия алания", ["mrg_alania"]),
        ("Удмуртия", ["mrg_izhevsk"]),
        ("питер", ["mrg_spb"]),
    ],
)
def test_examples(query: str, expected: list[str]) -> None:
    assert codes(query) == expected


def test_the_towns_of_crimean_units_find_krymgazseti() -> None:
    # The linking prompt asks for a town; the УЭГХ are named after the Crimean towns.
    for town in ("Ялта", "Симферополь", "Керчь", "Евпатория", "Феодосия", "Джанкой"):
        assert codes(town) == ["crimea"], town
    assert codes("Yalta", "en") == ["crimea"]
    assert codes("Севастополь") == ["sevgas"]


def test_towns_of_the_regions_and_the_common_name_find_their_supplier() -> None:
    # A user trial typed the towns of their receipts' addresses, as the prompt invites.
    for town, code in (("Подольск", "mrg_moscow"), ("Балашиха", "mrg_moscow"),
                       ("Сергиев Посад", "mrg_moscow"), ("Гатчина", "mrg_spb"),
                       ("Тольятти", "mrg_samara"), ("Таганрог", "mrg_rostov"),
                       ("Березники", "mrg_perm"), ("Мособлгаз", "mrg_moscow")):
        assert codes(town) == [code], town
    assert codes("Mosoblgaz", "en") == ["mrg_moscow"]


def test_crimea_finds_krymgazseti_first_then_sevgas() -> None:
    # Sevastopol has its own supplier; it is offered second because people there
    # search by the peninsula's name too (documented in bot.suppliers.search).
    assert codes("крым") == ["crimea", "sevgas"]
    assert codes("Crimea", "en") == ["crimea", "sevgas"]
    assert codes("Крымгазсети") == ["crimea"]


def test_gas_finds_many_with_word_prefix_matches_first() -> None:
    found = codes("газ")
    assert len(found) == len(CATALOG)
    # «Газпром …» starts a word; «Севгаз» and «Крымгазсети» only contain it.
    assert found[-2:] == ["sevgas", "crimea"]
    assert found[:-2] == [code for code in CATALOG.codes if code.startswith("mrg_")]


@pytest.mark.parametrize(
    "query",
    [
        "  ГАЗПРОМ   межрегионгаз  «пермь» ",
        "газпром-межрегионгаз пермь",
        '"Газпром межрегионгаз Пермь"',
        "межрегионгаз пермь",
        "пермь газпром",
    ],
)
def test_case_quotes_dashes_spaces_and_word_order_do_not_matter(query: str) -> None:
    assert codes(query) == ["mrg_perm"]


def test_yo_and_ye_are_the_same_letter() -> None:
    assert codes("Жигулёвск") == codes("жигулевск") == ["mrg_zhigulevsk"]
    assert codes("ЧЕРНОЗЕМ") == codes("чернозём") == []


def test_dashes_in_names() -> None:
    assert codes("Йошкар-Ола") == ["mrg_yoshkarola"]
    assert codes("йошкар ола") == ["mrg_yoshkarola"]
    assert codes("йошкарола") == ["mrg_yoshkarola"]
    assert codes("ростов—на—дону") == ["mrg_rostov"]
    assert codes("Kabardino-Balkarian") == ["mrg_kbr"]


def test_name_matches_rank_before_region_matches() -> None:
    # Самара is in Самара's name; Жигулевск only lies in Самарская область.
    assert codes("самар") == ["mrg_samara", "mrg_zhigulevsk"]


def test_prefix_matches_rank_before_substring_matches() -> None:
    # «ка» starts «Калуга», «Кабардино…» and «Карачаево…»; it is only inside the others
    # («Йошкар-Ола», «Республика», «…ская область»).
    found = codes("ка")
    assert found[:3] == ["mrg_kaluga", "mrg_kbr", "mrg_kchr"]
    assert "mrg_yoshkarola" in found[3:]
    assert "mrg_perm" not in found


def test_results_are_stable() -> None:
    # Equal matches keep the catalog order: first those with «Республика» in the name
    # (the Пятигорск republics), then those with it in the region only.
    expected = [*PYATIGORSK, "mrg_izhevsk", "mrg_yoshkarola", "crimea"]
    assert codes("республика") == codes("республика") == expected


def test_users_language_wins_ties() -> None:
    # "Republic" is only in English names of regions, so both languages give the same set.
    assert set(codes("republic", "en")) == set(codes("республика", "ru"))


@pytest.mark.parametrize("query", ["", "   ", "«»", "--", "!!!"])
def test_empty_queries_find_nothing(query: str) -> None:
    assert codes(query) == []


def test_unknown_place_finds_nothing() -> None:
    assert codes("Владивосток") == []
    assert codes("пермь владивосток") == []


def test_fold() -> None:
    assert fold("  ГУП РК «Крымгазсети» ") == "гуп рк крымгазсети"
    assert fold("Ростов-на-Дону") == "ростов на дону"
    assert fold("Ёлки—палки") == "елки палки"
