from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup

from fsm.base import FormData


class LinkStates(StatesGroup):
    supplier = State()  # search by text, or browse regions
    unit = State()  # Крымгазсети: the management unit (УЭГХ)
    number = State()
    proof = State()  # the supplier accepts several proofs: which one
    pin = State()
    surname = State()
    payment = State()


class LinkData(FormData):
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
