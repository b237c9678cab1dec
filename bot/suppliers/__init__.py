"""The supplier catalog: who the bot serves and each supplier's rules (data + pure rules)."""

from bot.suppliers.accounts import AccountCheck, AccountError, mask_account, normalize_account
from bot.suppliers.loader import CatalogError, load_catalog
from bot.suppliers.models import (
    AccountRule,
    Catalog,
    LocalizedText,
    ManagementUnit,
    PaymentInfo,
    ProofKind,
    ReadingsRules,
    Supplier,
)
from bot.suppliers.search import search_suppliers

__all__ = [
    "AccountCheck",
    "AccountError",
    "AccountRule",
    "Catalog",
    "CatalogError",
    "LocalizedText",
    "ManagementUnit",
    "PaymentInfo",
    "ProofKind",
    "ReadingsRules",
    "Supplier",
    "load_catalog",
    "mask_account",
    "normalize_account",
    "search_suppliers",
]
