from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup

from fsm.base import FormData


class ReminderStates(StatesGroup):
    time = State()  # waiting for a typed time of day (the hour buttons work too)


class ReminderData(FormData):
    account_id: int | None = None
