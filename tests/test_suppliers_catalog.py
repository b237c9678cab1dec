"""The bundled supplier catalog, the operator override file and the error messages."""

from __future__ import annotations

import copy
import re
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import ValidationError

from bot.payments.requisites import requisites_problems
from bot.suppliers import CatalogError, load_catalog
from bot.suppliers.models import (
    Catalog,
    LocalizedText,
    Platform,
    ProofKind,
    ReadingWindow,
    Supplier,
)

BUNDLED = Path(str(resources.files("bot.suppliers").joinpath("catalog.yaml")))

EXPECTED_ZONES = {
    "mrg_voronezh": "Europe/Moscow",
    "mrg_zhigulevsk": "Europe/Samara",
    "mrg_ivanovo": "Europe/Moscow",
    "mrg_izhevsk": "Europe/Samara",
    "mrg_yoshkarola": "Europe/Moscow",
    "mrg_kaluga": "Europe/Moscow",
    "mrg_krasnodar": "Europe/Moscow",
    "mrg_kemerovo": "Asia/Novokuznetsk",
    "mrg_kirov": "Europe/Kirov",
    "mrg_moscow": "Europe/Moscow",
    "mrg_perm": "Asia/Yekaterinburg",
    "mrg_pskov": "Europe/Moscow",
    "mrg_dagestan": "Europe/Moscow",
    "mrg_ingushetia": "Europe/Moscow",
    "mrg_kbr": "Europe/Moscow",
    "mrg_kchr": "Europe/Moscow",
    "mrg_alania": "Europe/Moscow",
    "mrg_rostov": "Europe/Moscow",
    "mrg_ryazan": "Europe/Moscow",
    "mrg_samara": "Europe/Samara",
    "mrg_spb": "Europe/Moscow",
    "sevgas": "Europe/Simferopol",
    "crimea": "Europe/Simferopol",
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def bundled_document() -> dict[str, Any]:
    document = yaml.safe_load(BUNDLED.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def entry(document: dict[str, Any], code: str) -> dict[str, Any]:
    found = next(item for item in document["suppliers"] if item["code"] == code)
    assert isinstance(found, dict)
    return found


def write(path: Path, document: object) -> Path:
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), "utf-8")
    return path


def get(catalog: Catalog, code: str) -> Supplier:
    found = catalog.get(code)
    assert found is not None, code
    return found


# --- The bundled catalog ---------------------------------------------------------------


def test_bundled_catalog_lists_every_supplier_of_the_brief(catalog: Catalog) -> None:
    assert catalog.codes == tuple(EXPECTED_ZONES)
    assert len(catalog) == len(EXPECTED_ZONES)
    assert [s.code for s in catalog] == list(EXPECTED_ZONES)


def test_bundled_file_ships_inside_the_package() -> None:
    # importlib.resources is what finds it in an installed wheel; package-data has *.yaml.
    assert resources.files("bot.suppliers").joinpath("catalog.yaml").is_file()
    assert load_catalog(BUNDLED) == load_catalog()


@pytest.mark.parametrize("code", list(EXPECTED_ZONES))
def test_codes_are_short_ascii_slugs(code: str) -> None:
    assert code.isascii() and len(code) <= 16 and code == code.lower()


@pytest.mark.parametrize(("code", "zone"), EXPECTED_ZONES.items())
def test_time_zones_match_the_regions(catalog: Catalog, code: str, zone: str) -> None:
    supplier = get(catalog, code)
    assert supplier.timezone == zone
    assert supplier.zone == ZoneInfo(zone)


@pytest.mark.parametrize("code", list(EXPECTED_ZONES))
def test_every_demo_requisite_passes_the_checksums(catalog: Catalog, code: str) -> None:
    payment = get(catalog, code).payment
    assert requisites_problems(payment.requisites) == []
    assert payment.demo, "bundled requisites are generated and must stay marked as demo"
    assert payment.requisites.inn == payment.inn


def test_demo_inns_are_distinct_per_legal_entity(catalog: Catalog) -> None:
    by_name: dict[str, set[str]] = {}
    for supplier in catalog:
        by_name.setdefault(supplier.payment.name, set()).add(supplier.payment.inn)
    assert all(len(inns) == 1 for inns in by_name.values())
    assert len({inns.pop() for inns in by_name.values()}) == len(by_name)


def test_perm_follows_its_guide(catalog: Catalog) -> None:
    perm = get(catalog, "mrg_perm")
    assert perm.account.digits == 8
    assert perm.proofs == (ProofKind.PIN,)
    assert perm.max_accounts == 3
    assert perm.pin is not None and "ПИН" in perm.pin.name.ru
    assert perm.display_name("ru") == "Газпром межрегионгаз Пермь"
    assert perm.display_name("en") == "Gazprom Mezhregiongaz Perm"


def test_sevgas_proof_is_the_mailed_password(catalog: Catalog) -> None:
    sevgas = get(catalog, "sevgas")
    assert sevgas.platform is Platform.SEVGAS
    assert sevgas.proofs == (ProofKind.PIN,)
    assert sevgas.pin is not None
    assert "пароль" in sevgas.pin.name.ru.lower()
    assert "password" in sevgas.pin.hint.en.lower()
    assert sevgas.account.leading_zeros_significant
    assert sevgas.account.example.startswith("00")


def test_crimea_links_by_unit_surname_and_payment(catalog: Catalog) -> None:
    crimea = get(catalog, "crimea")
    assert crimea.proofs == (ProofKind.SURNAME_PAYMENT,)
    assert crimea.pin is None
    assert crimea.platform.needs_units
    codes = {unit.code for unit in crimea.units}
    assert {"simferopol", "evpatoria", "kerch", "feodosia", "yalta", "dzhankoy"} <= codes
    # Sevastopol is Севгаз's; Крымгазсети has no unit there.
    assert not any("sevastop" in code for code in codes)
    assert len(codes) == len(crimea.units)
    unit = crimea.unit("yalta")
    assert unit is not None and unit.name.get("ru") == "Ялтинское УЭГХ"
    assert crimea.unit("nowhere") is None


def test_only_crimea_has_units(catalog: Catalog) -> None:
    assert [s.code for s in catalog if s.units] == ["crimea"]


def test_every_supplier_accepts_some_proof_and_explains_a_pin(catalog: Catalog) -> None:
    for supplier in catalog:
        assert supplier.proofs
        assert (supplier.pin is not None) == supplier.accepts(ProofKind.PIN)
    assert any(len(s.proofs) == 2 for s in catalog)


def test_pyatigorsk_republics_are_five_suppliers(catalog: Catalog) -> None:
    pyatigorsk = [s for s in catalog if "Пятигорск" in s.name.ru]
    assert len(pyatigorsk) == 5
    assert len({s.region.ru for s in pyatigorsk}) == 5
    assert all(s.account.format is not None for s in pyatigorsk)


def test_readings_rules_are_sane(catalog: Catalog) -> None:
    for supplier in catalog:
        window = supplier.readings.window
        assert 1 <= window.start_day <= window.end_day <= 31
        assert supplier.readings.max_consumption > 0
    assert get(catalog, "mrg_spb").readings.decimals >= 3
    assert any(s.readings.window.always_open for s in catalog)
    assert any(not s.readings.window.always_open for s in catalog)
    assert {s.readings.decimals for s in catalog} > {0}


def test_hints_exist_in_both_languages(catalog: Catalog) -> None:
    for supplier in catalog:
        assert supplier.account.hint.ru and supplier.account.hint.en
        assert supplier.account.hint.ru != supplier.account.hint.en


def test_by_region_groups_every_supplier_once(catalog: Catalog) -> None:
    groups = catalog.by_region("ru")
    flat = [s.code for group in groups for s in group.suppliers]
    assert sorted(flat) == sorted(catalog.codes)
    names = [group.region.ru for group in groups]
    assert names == sorted(names, key=lambda n: n.casefold().replace("ё", "е"))
    samara = next(g for g in groups if g.region.ru == "Самарская область")
    assert [s.code for s in samara.suppliers] == ["mrg_zhigulevsk", "mrg_samara"]
    english = [group.region.en for group in catalog.by_region("en")]
    assert english == sorted(english, key=str.casefold)


def test_catalog_lookup(catalog: Catalog) -> None:
    assert "mrg_perm" in catalog
    assert "nope" not in catalog
    assert catalog.get("nope") is None


# --- Small models ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "text"),
    [("ru", "да"), ("en", "yes"), ("en-US", "yes"), ("EN_gb", "yes"), ("de", "да"), (None, "да")],
)
def test_localized_text_falls_back_to_russian(lang: str | None, text: str) -> None:
    assert LocalizedText(ru="да", en="yes").get(lang) == text


def test_localized_text_needs_both_languages() -> None:
    with pytest.raises(ValidationError):
        LocalizedText.model_validate({"ru": "да"})
    with pytest.raises(ValidationError):
        LocalizedText(ru="да", en="  ")


def test_models_are_frozen(catalog: Catalog) -> None:
    with pytest.raises(ValidationError):
        get(catalog, "mrg_perm").max_accounts = 5  # type: ignore[misc]


def test_reading_window_clamps_to_short_months() -> None:
    window = ReadingWindow(start_day=20, end_day=31)
    assert window.is_open(date(2025, 2, 28))
    assert not window.is_open(date(2025, 2, 19))
    assert window.bounds(2024, 2) == (date(2024, 2, 20), date(2024, 2, 29))
    narrow = ReadingWindow(start_day=15, end_day=25)
    assert narrow.is_open(date(2025, 3, 15)) and narrow.is_open(date(2025, 3, 25))
    assert not narrow.is_open(date(2025, 3, 26))
    assert ReadingWindow(start_day=1, end_day=31).always_open


# --- The override file -----------------------------------------------------------------


def test_override_replaces_in_place(tmp_path: Path) -> None:
    perm = entry(bundled_document(), "mrg_perm")
    perm["max_accounts"] = 5
    perm["connector"] = "http"
    perm["billing_url"] = "https://billing.example.org/perm"
    catalog = load_catalog(override=write(tmp_path / "ops.yaml", {"suppliers": [perm]}))
    replaced = get(catalog, "mrg_perm")
    assert replaced.max_accounts == 5
    assert replaced.billing_url == "https://billing.example.org/perm"
    assert catalog.codes == tuple(EXPECTED_ZONES)


def test_override_adds_a_supplier_at_the_end(tmp_path: Path) -> None:
    new = copy.deepcopy(entry(bundled_document(), "mrg_ryazan"))
    new["code"] = "mrg_tula"
    new["name"] = {"ru": "Газпром межрегионгаз Тула", "en": "Gazprom Mezhregiongaz Tula"}
    new["region"] = {"ru": "Тульская область", "en": "Tula Oblast"}
    catalog = load_catalog(override=write(tmp_path / "ops.yaml", {"suppliers": [new]}))
    assert catalog.codes[-1] == "mrg_tula"
    assert len(catalog) == len(EXPECTED_ZONES) + 1


def test_override_disables_a_supplier(tmp_path: Path) -> None:
    override = write(
        tmp_path / "ops.yaml",
        {
            "suppliers": [
                {"code": "mrg_kirov", "disabled": True},
                {"code": "crimea", "disabled": True},
            ]
        },
    )
    catalog = load_catalog(override=override)
    assert "mrg_kirov" not in catalog and "crimea" not in catalog
    assert len(catalog) == len(EXPECTED_ZONES) - 2


def test_disabling_an_unknown_supplier_is_an_error(tmp_path: Path) -> None:
    override = write(tmp_path / "ops.yaml", {"suppliers": [{"code": "mrg_prem", "disabled": True}]})
    with pytest.raises(CatalogError, match=r"supplier 'mrg_prem': disabled: no such supplier"):
        load_catalog(override=override)


def test_override_error_names_the_override_file(tmp_path: Path) -> None:
    perm = entry(bundled_document(), "mrg_perm")
    perm["timezone"] = "Asia/Perm"
    override = write(tmp_path / "ops.yaml", {"suppliers": [perm]})
    with pytest.raises(CatalogError) as caught:
        load_catalog(override=override)
    message = str(caught.value)
    assert message.startswith("suppliers: supplier 'mrg_perm': timezone: 'Asia/Perm' is not")
    assert str(override) in message


def test_disabling_everything_leaves_an_empty_catalog(tmp_path: Path) -> None:
    override = write(
        tmp_path / "ops.yaml",
        {"suppliers": [{"code": code, "disabled": True} for code in EXPECTED_ZONES]},
    )
    with pytest.raises(CatalogError, match=r"^suppliers: must not be empty"):
        load_catalog(override=override)


# --- Broken entries: one line naming the supplier and the field ------------------------


def broken(tmp_path: Path, code: str, **changes: Any) -> str:
    document = bundled_document()
    target = entry(document, code)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = target
        for key in parents:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value
    with pytest.raises(CatalogError) as caught:
        load_catalog(write(tmp_path / "catalog.yaml", document))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_bad_timezone(tmp_path: Path) -> None:
    message = broken(tmp_path, "mrg_kirov", timezone="Europe/Vyatka")
    assert message.startswith(
        "suppliers: supplier 'mrg_kirov': timezone: 'Europe/Vyatka' is not an IANA time zone"
    )


def test_bad_inn(tmp_path: Path) -> None:
    document = bundled_document()
    inn = entry(document, "mrg_perm")["payment"]["inn"]
    wrong = inn[:-1] + str((int(inn[-1]) + 1) % 10)
    message = broken(tmp_path, "mrg_perm", payment__inn=wrong)
    assert message.startswith(
        "suppliers: supplier 'mrg_perm': payment.inn: INN check digits are wrong"
    )


def test_inn_as_a_yaml_number(tmp_path: Path) -> None:
    message = broken(tmp_path, "mrg_perm", payment__inn=5902000000)
    assert message.startswith("suppliers: supplier 'mrg_perm': payment.inn: must be text")


def test_bad_settlement_account_key(tmp_path: Path) -> None:
    document = bundled_document()
    account = entry(document, "sevgas")["payment"]["settlement_account"]
    wrong = account[:-1] + str((int(account[-1]) + 1) % 10)
    message = broken(tmp_path, "sevgas", payment__settlement_account=wrong)
    assert message.startswith("suppliers: supplier 'sevgas': payment.settlement_account: ")


def test_example_not_matching_its_rule(tmp_path: Path) -> None:
    message = broken(tmp_path, "mrg_spb", account__example="70123456")
    assert message.startswith(
        "suppliers: supplier 'mrg_spb': account.example: '70123456' fails its own rule: too_short"
    )


def test_window_day_out_of_range(tmp_path: Path) -> None:
    message = broken(tmp_path, "mrg_perm", readings__window__end_day=32)
    assert message.startswith(
        "suppliers: supplier 'mrg_perm': readings.window.end_day: must be ≤ 31"
    )


def test_window_upside_down(tmp_path: Path) -> None:
    message = broken(
        tmp_path, "mrg_perm", readings__window__start_day=26, readings__window__end_day=25
    )
    assert "readings.window.start_day: must be ≤ end_day (25)" in message


def test_max_accounts_zero(tmp_path: Path) -> None:
    message = broken(tmp_path, "mrg_perm", max_accounts=0)
    assert message.startswith("suppliers: supplier 'mrg_perm': max_accounts: must be ≥ 1")


def test_unknown_proof_and_unknown_field(tmp_path: Path) -> None:
    assert "proofs.1: must be 'pin' or 'surname_payment'" in broken(
        tmp_path, "mrg_moscow", proofs=["pin", "passport"]
    )
    assert "supplier 'mrg_moscow': colour: unknown field" in broken(
        tmp_path, "mrg_moscow", colour="blue"
    )


def test_pin_proof_needs_pin_text(tmp_path: Path) -> None:
    message = broken(tmp_path, "mrg_perm", pin=None)
    assert message.startswith("suppliers: supplier 'mrg_perm': pin: required when proofs include")


def test_crimea_without_units(tmp_path: Path) -> None:
    message = broken(tmp_path, "crimea", units=None)
    assert message.startswith("suppliers: supplier 'crimea': units: platform 'crimea' needs")


def test_units_on_a_platform_without_them(tmp_path: Path) -> None:
    unit = {"code": "centre", "name": {"ru": "Центр", "en": "Centre"}}
    message = broken(tmp_path, "mrg_perm", units=[unit])
    assert message.startswith("suppliers: supplier 'mrg_perm': units: platform 'moigaz' has no")


def test_http_connector_needs_a_url(tmp_path: Path) -> None:
    message = broken(tmp_path, "mrg_perm", connector="http")
    assert "supplier 'mrg_perm': billing_url: required for the http connector" in message


def test_pipe_in_requisites_would_break_the_qr(tmp_path: Path) -> None:
    message = broken(tmp_path, "mrg_perm", payment__bank_name="ПАО Сбербанк | филиал")
    assert "supplier 'mrg_perm': payment.bank_name: must not contain '|'" in message


def test_duplicate_code_in_one_file(tmp_path: Path) -> None:
    document = bundled_document()
    document["suppliers"].append(copy.deepcopy(entry(document, "mrg_perm")))
    with pytest.raises(CatalogError) as caught:
        load_catalog(write(tmp_path / "catalog.yaml", document))
    assert str(caught.value).startswith("suppliers: supplier 'mrg_perm': code: duplicate code")


def test_duplicate_code_in_a_catalog_built_directly(catalog: Catalog) -> None:
    perm = get(catalog, "mrg_perm")
    with pytest.raises(ValidationError, match="duplicate supplier code 'mrg_perm'"):
        Catalog(suppliers=(perm, perm))


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(
        "suppliers:\n  - code: mrg_perm\n    name: {ru: Пермь, en: Perm\n  - code: x\n",
        encoding="utf-8",
    )
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:4: YAML syntax error:")
    assert "\n" not in message


def test_yaml_syntax_error_in_the_override(tmp_path: Path) -> None:
    path = tmp_path / "ops.yaml"
    path.write_text("suppliers:\n  - code: a\n   name: x\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=rf"^{re.escape(str(path))}:3: YAML syntax error"):
        load_catalog(override=path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected a mapping with a 'suppliers' list"),
        ("- code: a\n", "expected a mapping with a 'suppliers' list"),
        ("suppliers: []\nversion: 2\n", "unknown top-level key 'version'"),
        ("suppliers:\n  - just text\n", "entry #1: expected a mapping with a 'code'"),
        (
            "suppliers:\n  - code: mrg_perm\n    disabled: maybe\n",
            "disabled: must be true or false",
        ),
    ],
)
def test_malformed_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "ops.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError, match=message):
        load_catalog(override=path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read the supplier catalog"):
        load_catalog(tmp_path / "absent.yaml")


def test_pin_pattern_is_described_and_compiles(tmp_path: Path) -> None:
    assert "pin.format: 'pattern' and 'format' go together" in broken(
        tmp_path, "mrg_perm", pin__format=None
    )
    assert "pin.pattern: not a valid regular expression" in broken(
        tmp_path, "mrg_perm", pin__pattern="[0-9"
    )
