from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup


class SettingsStates(StatesGroup):
    phone = State()
    email = State()
    delete = State()  # «Delete all your data?» asked: its «Yes» counts only while it is
