from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup

from fsm.base import FormData


class RegistrationStates(StatesGroup):
    language = State()
    consent = State()
    phone = State()
    email = State()


class RegistrationData(FormData):
    # A /start deep-link payload to follow once the user is registered.
    payload: str | None = None
