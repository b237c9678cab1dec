from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup

from fsm.base import FormData


class AccountStates(StatesGroup):
    alias = State()


class AccountData(FormData):
    account_id: int | None = None
