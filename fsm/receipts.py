"""/receipt: account → period (the latest with one tap, or any other) → the PDF."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup

from fsm.base import FormData


class ReceiptStates(StatesGroup):
    account = State()  # several accounts: which one
    period = State()  # the period buttons are shown; a month may also be typed


class ReceiptData(FormData):
    account_id: int | None = None
