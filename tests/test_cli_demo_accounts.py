"""`python -m bot demo-accounts [--json]` as testers run it: a separate process, no BOT_TOKEN."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from bot.billing.demo import DemoBillingConnector
from bot.cli_demo import entries_json, entries_table
from bot.db import migrate
from bot.db.engine import create_engine, create_session_factory
from bot.suppliers import load_catalog
from bot.suppliers.models import ProofKind

ITEM_KEYS = {"supplier", "supplier_code", "unit", "account", "pin", "surname", "last_payment",
             "balance_due", "meters"}
METER_KEYS = {"id", "serial", "zones", "last", "capacity", "decimals"}
MONEY = r"-?[0-9]+\.[0-9]{2}"


def run_cli(tmp_path: Path, *args: str, database_url: str | None = None,
            ) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items()
           if key not in {"BOT_TOKEN", "DATABASE_URL", "SUPPLIERS_FILE"}}
    env["DATABASE_URL"] = database_url or f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    # The working directory has no .env, so nothing can slip a token in.
    return subprocess.run(
        [sys.executable, "-m", "bot", "demo-accounts", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def test_json_listing_has_exactly_the_documented_shape(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    items = json.loads(result.stdout)
    catalog = load_catalog()
    assert {item["supplier_code"] for item in items} == set(catalog.codes)
    for item in items:
        assert set(item) == ITEM_KEYS
        supplier = catalog.get(item["supplier_code"])
        assert supplier is not None and item["supplier"] == supplier.name.ru
        assert supplier.account.validate(item["account"]).number == item["account"]
        assert (item["unit"] is not None) == bool(supplier.units)
        assert item["pin"] is None or item["pin"].isdigit()
        assert (item["pin"] is not None) == supplier.accepts(ProofKind.PIN)
        assert (item["surname"] is not None) == (item["last_payment"] is not None)
        if item["last_payment"] is not None:
            assert Decimal(item["last_payment"]) >= 0
            assert item["last_payment"].count(".") == 1
            assert len(item["last_payment"].split(".")[1]) == 2
        assert Decimal(item["balance_due"]).as_tuple().exponent == -2
        for meter in item["meters"]:
            assert set(meter) == METER_KEYS
            assert meter["zones"] in (["total"], ["day", "night"])
            assert len(meter["last"]) == len(meter["zones"])
            assert all(isinstance(value, str) for value in meter["last"])
            assert meter["decimals"] == supplier.readings.decimals
            assert isinstance(meter["capacity"], int)
    assert any(item["account"].startswith("00") for item in items)
    assert any(Decimal(item["balance_due"]) < 0 for item in items)
    assert any(not item["meters"] for item in items)

    # The same database again: seeded once, listed the same.
    again = run_cli(tmp_path, "--json")
    assert again.returncode == 0 and again.stdout == result.stdout


def test_the_table_is_for_people(tmp_path: Path) -> None:
    result = run_cli(tmp_path)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "Газпром межрегионгаз Пермь [mrg_perm]" in text
    assert "Евпаторийское УЭГХ" in text and "PIN " in text and "day/night" in text
    assert "no meters" in text and "overpaid" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_a_bad_database_url_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--json", database_url="mysql://nope")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().startswith("Configuration error: DATABASE_URL:")
    assert len(result.stderr.strip().splitlines()) == 1


async def test_the_listing_is_the_same_for_two_fresh_databases(tmp_path: Path) -> None:
    catalog = load_catalog()
    clock = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    listings = []
    for name in ("a", "b"):
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / name}.sqlite3")
        try:
            await migrate.upgrade(engine)
            connector = DemoBillingConnector(create_session_factory(engine), catalog,
                                             lambda: clock)
            entries = await connector.demo_accounts()
            listings.append((entries_json(entries), entries_table(entries)))
        finally:
            await engine.dispose()
    assert listings[0] == listings[1]
