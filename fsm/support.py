from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup

from fsm.base import FormData


class SupportStates(StatesGroup):
    topic = State()
    description = State()
    account = State()
    # The user's messages go to an open ticket's thread (after «Reply», or a staff answer).
    reply = State()


class SupportData(FormData):
    topic: str | None = None
    text: str | None = None  # the description as it will be stored (scrubbed)
    photo_file_id: str | None = None  # a photo sent before, or with, the description
    ticket_id: int | None = None  # the reply step's ticket
