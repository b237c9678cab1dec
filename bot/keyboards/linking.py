"""Keyboards of the linking conversation. Buttons carry supplier codes and list indices only:
callback data must fit 64 bytes."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from bot.callbacks import (
    LinkCB,
    LinkDraftCB,
    LinkPageCB,
    LinkProofCB,
    LinkRegionCB,
    LinkSupplierCB,
    LinkUnitCB,
)
from bot.keyboards.step import StepKeyboard
from bot.suppliers.models import ProofKind, RegionGroup, Supplier

# Enough to choose from on a phone screen without scrolling.
PAGE_SIZE = 8
# More search results than this means the query was too vague to be useful as buttons.
MAX_RESULTS = 10


def pages(total: int) -> int:
    return max(1, -(-total // PAGE_SIZE))


def _clamp(page: int, total: int) -> int:
    return min(max(page, 0), pages(total) - 1)


def _nav_row(what: str, page: int, total: int) -> list[InlineKeyboardButton]:
    """Arrows labelled with the page they lead to."""
    row = []
    if page > 0:
        row.append(InlineKeyboardButton(
            text=f"◀️ {page}/{pages(total)}",
            callback_data=LinkPageCB(what=what, page=page - 1).pack()))
    if page < pages(total) - 1:
        row.append(InlineKeyboardButton(
            text=f"{page + 2}/{pages(total)} ▶️",
            callback_data=LinkPageCB(what=what, page=page + 1).pack()))
    return row


def browse_button() -> InlineKeyboardButton:
    return InlineKeyboardButton(text=_("📖 Browse all suppliers"),
                                callback_data=LinkCB(action="browse").pack())


def search_prompt_keyboard() -> InlineKeyboardMarkup:
    return StepKeyboard(inline_keyboard=[[browse_button()]])


def _supplier_button(supplier: Supplier, lang: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=supplier.display_name(lang),
                                callback_data=LinkSupplierCB(code=supplier.code).pack())


def search_results_keyboard(found: Sequence[Supplier], lang: str) -> InlineKeyboardMarkup:
    rows = [[_supplier_button(supplier, lang)] for supplier in found[:MAX_RESULTS]]
    rows.append([browse_button()])
    return StepKeyboard(inline_keyboard=rows)


def regions_keyboard(regions: Sequence[tuple[int, RegionGroup]], lang: str,
                     page: int) -> InlineKeyboardMarkup:
    page = _clamp(page, len(regions))
    shown = regions[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]
    rows = [
        [InlineKeyboardButton(text=group.region.get(lang),
                              callback_data=LinkRegionCB(index=index, page=page).pack())]
        for index, group in shown
    ]
    nav = _nav_row("reg", page, len(regions))
    if nav:
        rows.append(nav)
    rows.append([InlineKeyboardButton(text=_("🔍 Search by name"),
                                      callback_data=LinkCB(action="search").pack())])
    return StepKeyboard(inline_keyboard=rows)


def region_suppliers_keyboard(group: RegionGroup, lang: str, page: int) -> InlineKeyboardMarkup:
    rows = [[_supplier_button(supplier, lang)] for supplier in group.suppliers]
    rows.append([InlineKeyboardButton(text=_("⬅️ Back to regions"),
                                      callback_data=LinkPageCB(what="reg", page=page).pack())])
    return StepKeyboard(inline_keyboard=rows)


def units_keyboard(supplier: Supplier, lang: str, page: int,
                   only: Sequence[int] | None = None) -> InlineKeyboardMarkup:
    """The supplier's units in the alphabetical order of `lang`, a page at a time; `only`:
    just these (indexes into `supplier.units`, found by typing), on one page."""
    units = supplier.units
    # The wrong supplier chosen: back to the supplier step without /cancel.
    back = [InlineKeyboardButton(text=_("⬅️ Another supplier"),
                                 callback_data=LinkCB(action="suppliers").pack())]
    if only is not None:
        return StepKeyboard(inline_keyboard=[
            *([InlineKeyboardButton(text=units[i].name.get(lang),
                                    callback_data=LinkUnitCB(index=i).pack())] for i in only),
            back])
    order = sorted(range(len(units)), key=lambda i: units[i].name.get(lang).casefold())
    page = _clamp(page, len(order))
    rows = [
        [InlineKeyboardButton(text=units[i].name.get(lang),
                              callback_data=LinkUnitCB(index=i).pack())]
        for i in order[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]
    ]
    nav = _nav_row("unit", page, len(order))
    if nav:
        rows.append(nav)
    rows.append(back)
    return StepKeyboard(inline_keyboard=rows)


def proof_name(supplier: Supplier, kind: ProofKind, lang: str) -> str:
    """The supplier's own name for the proof, as a button's label: «Пароль из письма» at
    Севгаз, «ПИН-код» at the Мой газ regionals (the catalog writes it as in a sentence)."""
    if kind is ProofKind.PIN and supplier.pin is not None:
        name = supplier.pin.name.get(lang)
        return name[:1].upper() + name[1:]
    return _("Surname and last payment")


def proof_keyboard(supplier: Supplier, lang: str) -> InlineKeyboardMarkup:
    icons = {ProofKind.PIN: "🔢", ProofKind.SURNAME_PAYMENT: "👤"}
    return StepKeyboard(inline_keyboard=[
        [InlineKeyboardButton(text=f"{icons[kind]} {proof_name(supplier, kind, lang)}",
                              callback_data=LinkProofCB(kind=kind.value).pack())]
        for kind in supplier.proofs
    ])


def resume_keyboard(draft: str, *, step: bool) -> InlineKeyboardMarkup:
    """Mid-linking, an entry to linking asks first: go on, or start over. `step`: the
    question is the step the user is at (LinkStates.resume), not a word about a linking
    kept aside while they do something else."""
    kind = StepKeyboard if step else InlineKeyboardMarkup
    return kind(inline_keyboard=[[
        InlineKeyboardButton(text=_("▶️ Go on"),
                             callback_data=LinkDraftCB(action="resume", draft=draft).pack()),
        InlineKeyboardButton(text=_("🔄 Start over"),
                             callback_data=LinkDraftCB(action="over", draft=draft).pack()),
    ]])


def kept_keyboard(draft: str) -> InlineKeyboardMarkup:
    """Under the notice that a linking left midway was not linked."""
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("▶️ Continue linking"),
        callback_data=LinkDraftCB(action="resume", draft=draft).pack())]])


def retry_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("🔄 Retry"), callback_data=LinkCB(action="retry").pack())]])


def link_offer_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("🔗 Link an account"), callback_data=LinkCB(action="start").pack())]])
