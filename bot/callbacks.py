"""Callback data of every inline button. Prefixes are short: packed data must fit 64 bytes."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class LanguageCB(CallbackData, prefix="lng"):
    code: str
    origin: str  # "reg" during registration, "set" from /settings


class ConsentCB(CallbackData, prefix="cns"):
    accept: bool


class SkipEmailCB(CallbackData, prefix="skm"):
    pass


class SettingsCB(CallbackData, prefix="set"):
    action: str  # lang | phone | email | email_clear | delete | delete_yes | delete_no


# --- linking an account (prefixes "lk…": handlers/linking.py answers its own stale ones) ---


class LinkCB(CallbackData, prefix="lk"):
    action: str  # start | browse | search | retry


class LinkSupplierCB(CallbackData, prefix="lks"):
    code: str  # supplier codes are at most 16 ASCII characters (catalog rule)


class LinkRegionCB(CallbackData, prefix="lkr"):
    index: int  # position in the catalog's regions, language-independent
    page: int  # the regions page to go back to


class LinkPageCB(CallbackData, prefix="lkg"):
    what: str  # reg (regions) | unit (management units)
    page: int


class LinkUnitCB(CallbackData, prefix="lku"):
    index: int  # position in the supplier's units: unit codes may be 24 characters long


class LinkProofCB(CallbackData, prefix="lkp"):
    kind: str  # a ProofKind value


# --- /accounts ---------------------------------------------------------------------------


class AccountCB(CallbackData, prefix="acc"):
    action: str  # show | list | open | rename | unalias | default | unlink | unlink_yes
    id: int = 0


ALL_CALLBACKS: tuple[type[CallbackData], ...] = (
    LanguageCB, ConsentCB, SkipEmailCB, SettingsCB,
    LinkCB, LinkSupplierCB, LinkRegionCB, LinkPageCB, LinkUnitCB, LinkProofCB,
    AccountCB,
)
