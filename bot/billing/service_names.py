"""Services as billing systems name them on charges and receipts («Газоснабжение»).

Suppliers write these names in Russian. The ones recognised here get a label in the user's
language (the chat views through gettext, the receipt PDF through its own labels); any other
name is shown as the supplier wrote it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = ["KnownService", "known_service"]


class KnownService(StrEnum):
    GAS = "gas"
    GAS_NORM = "gas_norm"
    GAS_METERED = "gas_metered"
    GAS_HEATING = "gas_heating"
    GAS_COOKING = "gas_cooking"
    GAS_HEATING_COOKING = "gas_heating_cooking"
    GAS_WATER_HEATING = "gas_water_heating"
    MAINTENANCE_HOUSE = "maintenance_house"
    MAINTENANCE_FLAT = "maintenance_flat"
    PENALTY = "penalty"


# Keys as `_key` normalises them.
_NAMES: Final[dict[str, KnownService]] = {
    "газоснабжение": KnownService.GAS,
    "газоснабжение природным газом": KnownService.GAS,
    "газоснабжение (по нормативу)": KnownService.GAS_NORM,
    "газоснабжение (по прибору учета)": KnownService.GAS_METERED,
    "газоснабжение (отопление)": KnownService.GAS_HEATING,
    "газоснабжение (пищеприготовление)": KnownService.GAS_COOKING,
    "газоснабжение (отопление и пищеприготовление)": KnownService.GAS_HEATING_COOKING,
    "газоснабжение (подогрев воды)": KnownService.GAS_WATER_HEATING,
    "техническое обслуживание вдго": KnownService.MAINTENANCE_HOUSE,
    "то вдго": KnownService.MAINTENANCE_HOUSE,
    "техническое обслуживание вкго": KnownService.MAINTENANCE_FLAT,
    "то вкго": KnownService.MAINTENANCE_FLAT,
    "пени": KnownService.PENALTY,
}


def _key(name: str) -> str:
    # Billing systems differ in case, spacing and «ё»; the meaning does not.
    return " ".join(name.lower().replace("ё", "е").split())


def known_service(name: str) -> KnownService | None:
    """The service `name` stands for, or None when it is not one the bot can translate."""
    return _NAMES.get(_key(name))
