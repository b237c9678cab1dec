from __future__ import annotations

from typing import Final

from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from pydantic import ValidationError

from bot.fsm_storage.keys import side_slot
from fsm.base import FormData


class LinkStates(StatesGroup):
    supplier = State()  # search by text, or browse regions
    unit = State()  # Крымгазсети: the management unit (УЭГХ)
    number = State()
    proof = State()  # the supplier accepts several proofs: which one
    pin = State()
    surname = State()
    payment = State()
    # Asked «Go on / Start over» (an entry to linking midway): the draft waits in the kept
    # slot, so nothing typed now is taken as the step's answer (a PIN attempt spent).
    resume = State()


class LinkData(FormData):
    # Names this linking for its «Go on» buttons (random, set when the supplier is chosen).
    draft: str | None = None
    supplier: str | None = None
    unit: str | None = None
    number: str | None = None  # normalised; set by the lookup, or by the outage that stopped it
    # What the supplier showed for the number, masked by the supplier itself.
    owner_masked: str | None = None
    address_masked: str | None = None
    has_meters: bool = False
    proof: str | None = None
    surname: str | None = None
    # Kept only while a supplier outage stops the check, so «Retry» needs nothing retyped.
    # The PIN is never kept: it is a secret, and sending it again is the retry.
    payment: str | None = None


# --- a linking left after the number ------------------------------------------------------

# The storage slot (next to the conversation's own, under the same chat and user) where a
# linking left midway waits, so the notice that it was not linked can offer to go on: a
# menu entry, a command or another feature's button replaces the conversation's data.
KEPT_DESTINY: Final = "link_kept"


class KeptLink(LinkData):
    """The draft of a linking left at `step` (a LinkStates state name)."""

    step: str


def _slot(state: FSMContext) -> FSMContext:
    return side_slot(state, KEPT_DESTINY)


async def keep_link(state: FSMContext, data: LinkData, step: str) -> None:
    """Keep the draft (one at a time: the latest left wins). The PIN is never in it."""
    await KeptLink(step=step, **data.model_dump()).save(_slot(state))


async def drop_kept_link(state: FSMContext) -> None:
    await _slot(state).set_data({})


async def kept_link(state: FSMContext, *, take: bool = False) -> KeptLink | None:
    """The kept draft (`take`: which leaves the slot); None when there is none, or it is
    unreadable."""
    slot = _slot(state)
    stored = await slot.get_data()
    if not stored:
        return None
    if take:
        await slot.set_data({})
    try:
        kept = KeptLink.model_validate(stored)
    except ValidationError:  # kept by an older version
        return None
    return kept if kept.step in LinkStates.__all_states_names__ else None


def draft_id(data: LinkData) -> str:
    """The draft's name on its buttons (a draft from before names existed: '-')."""
    return data.draft or "-"
