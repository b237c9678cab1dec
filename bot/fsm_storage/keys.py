"""Redis keys of the FSM storage."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import DEFAULT_DESTINY, DefaultKeyBuilder, StorageKey


class DestinyKeyBuilder(DefaultKeyBuilder):
    """aiogram's keys for the conversation itself, and keys of their own for other destinies
    (fsm/readings.py keeps a reading's unsubmitted values under one).

    aiogram's builder refuses a destiny other than the default unless `with_destiny`, which
    would rename every key, and so end every conversation under way when deployed. Here the
    default destiny keeps its key, `fsm:<chat>:<user>:<part>`; another one is
    `fsm:<chat>:<user>:<destiny>:<part>`, the layout of `with_destiny`."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("with_destiny", None)
        super().__init__(**kwargs)
        self._destinies = DefaultKeyBuilder(**kwargs, with_destiny=True)

    def build(self, key: StorageKey,
              part: Literal["data", "state", "lock"] | None = None) -> str:
        if key.destiny == DEFAULT_DESTINY:
            return super().build(key, part)
        return self._destinies.build(key, part)


def side_slot(state: FSMContext, destiny: str) -> FSMContext:
    """A context next to `state`'s, same chat and user, under its own destiny: what a
    conversation keeps aside (a reading's values, a linking's draft, the live step buttons)
    while the conversation's own data is replaced freely."""
    return FSMContext(storage=state.storage, key=replace(state.key, destiny=destiny))
