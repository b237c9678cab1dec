"""/pay: account → amount (the amount due with one tap, or one typed) → the payment QR."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup

from fsm.base import FormData


class PayStates(StatesGroup):
    account = State()  # several accounts: which one
    amount = State()  # the amount due with a button, or an amount typed


class PayData(FormData):
    account_id: int | None = None
    # What the supplier said when the amount step was shown; None until it has answered
    # (an outage keeps the account, and «Retry» asks again).
    period: str | None = None  # YYYY-MM the payment is for
    # The amount due exactly as shown on the button: the QR carries what the user agreed
    # to, even if the balance moves while they look at it. None when nothing is due.
    due: str | None = None
