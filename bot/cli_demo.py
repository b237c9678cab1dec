"""`python -m bot demo-accounts [--json]`: the demo billing accounts for testers and support.

Needs only the database (DATABASE_URL) and the catalog (SUPPLIERS_FILE), read through the
operator tools' settings, so it runs without BOT_TOKEN. It applies the migrations and seeds the
demo data if needed. Only the listing goes to stdout; warnings go to stderr.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TextIO

from bot.billing.demo import DemoAccountEntry, DemoBillingConnector
from bot.config import load_tool_settings
from bot.db import migrate
from bot.db.engine import create_engine, create_session_factory
from bot.db.models import utcnow
from bot.logs import ConsoleFormatter, JsonFormatter, ScrubFilter
from bot.suppliers.loader import load_catalog

__all__ = ["entries_json", "entries_table", "run"]

_KOPECK = Decimal("0.01")


def _log_to_stderr(fmt: str) -> None:
    # stdout carries the listing (possibly JSON for a pipe), so nothing else may go there; and
    # below WARNING the migrations' chatter would bury the listing.
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    handler.addFilter(ScrubFilter())
    root.addHandler(handler)
    root.setLevel(logging.WARNING)


async def run(*, as_json: bool, out: TextIO | None = None) -> int:
    settings = load_tool_settings()
    _log_to_stderr(settings.log_format)
    catalog = load_catalog(override=settings.suppliers_file)
    engine = create_engine(settings.database_url)
    try:
        await migrate.upgrade(engine)
        connector = DemoBillingConnector(create_session_factory(engine), catalog, utcnow)
        entries = await connector.demo_accounts()
    finally:
        await engine.dispose()
    text = entries_json(entries) if as_json else entries_table(entries)
    stream = out if out is not None else sys.stdout
    stream.write(text + "\n")
    stream.flush()
    return 0


def _money(value: Decimal) -> str:
    quantized = value.quantize(_KOPECK)
    return format(quantized if quantized != 0 else abs(quantized), "f")


def _entry_json(entry: DemoAccountEntry) -> dict[str, Any]:
    return {
        "supplier": entry.supplier_name,
        "supplier_code": entry.supplier_code,
        "unit": entry.unit_name,
        "account": entry.number,
        "pin": entry.pin,
        "surname": entry.surname,
        "last_payment": None if entry.last_payment is None else _money(entry.last_payment),
        "balance_due": _money(entry.balance_due),
        "meters": [
            {
                "id": meter.id,
                "serial": meter.serial,
                "zones": list(meter.zones),
                "last": [] if meter.last is None else [format(v, "f") for v in meter.last.values],
                "capacity": meter.capacity,
                "decimals": meter.decimals,
            }
            for meter in entry.meters
        ],
    }


def entries_json(entries: Sequence[DemoAccountEntry]) -> str:
    return json.dumps([_entry_json(entry) for entry in entries], ensure_ascii=False, indent=2)


def _proof_text(entry: DemoAccountEntry) -> str:
    parts = []
    if entry.pin is not None:
        parts.append(f"PIN {entry.pin}")
    if entry.surname is not None and entry.last_payment is not None:
        parts.append(f"{entry.surname} + {_money(entry.last_payment)}")
    return " or ".join(parts)


def _meters_text(entry: DemoAccountEntry) -> str:
    if not entry.meters:
        return "no meters (billed by the norm)"
    shown = []
    for meter in entry.meters:
        last = "/".join(format(v, "f") for v in meter.last.values) if meter.last else "—"
        shown.append(f"{meter.id} №{meter.serial} {'/'.join(meter.zones)} {last}")
    return "; ".join(shown)


def entries_table(entries: Sequence[DemoAccountEntry]) -> str:
    """Accounts grouped by supplier, in aligned columns."""
    header = ("unit", "account", "proof", "balance", "meters")
    rows = [
        (
            entry.unit_name or "—",
            entry.number,
            _proof_text(entry),
            _money(entry.balance_due) + (" overpaid" if entry.balance_due < 0 else ""),
            _meters_text(entry),
        )
        for entry in entries
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  " + "  ".join(
            cell.ljust(width) for cell, width in zip(cells, widths, strict=True)
        ).rstrip()

    out = ["Demo billing accounts (balance: positive = amount due, negative = overpayment)"]
    current = None
    for entry, row in zip(entries, rows, strict=True):
        if entry.supplier_code != current:
            current = entry.supplier_code
            out += ["", f"{entry.supplier_name} [{entry.supplier_code}]", line(header)]
        out.append(line(row))
    return "\n".join(out)
