"""The FSM context an update's handlers get: it skips storage round trips it can prove
useless (bot/middlewares/events.py puts it in place of aiogram's)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey
from aiogram.fsm.storage.redis import RedisStorage


class TrackedState(FSMContext):
    """The update's own FSM context. It remembers what it read and wrote, which saves
    storage round trips (Redis or the database) on every update:

    - the event log learns the state after the update without reading it again;
    - writing the state or the data it knows the storage holds already is skipped (a
      conversation step often clears a context that is already clear, then writes again);
    - data it knows is not read again.

    What it knows is exact: aiogram read the state under the user's events-isolation lock,
    which keeps any other update of theirs out until this one is done, and everything this
    update writes goes through here. Data is kept as the storages keep it, as JSON."""

    def __init__(self, storage: BaseStorage, key: StorageKey, current: str | None) -> None:
        super().__init__(storage=storage, key=key)
        self.current = current
        self._data: str | None = None  # the stored data as JSON, once known

    def know_stored_data(self, raw: str | None) -> None:
        """The data as the storage holds it (its JSON; None: there is none), read under
        this update's lock (bot/fsm_storage/prefetch.py)."""
        self._data = _EMPTY if raw is None else _as_json(json.loads(raw))

    async def set_state(self, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        if value == self.current:
            return
        await super().set_state(value)
        self.current = value

    async def set_data(self, data: Mapping[str, Any]) -> None:
        snapshot = _as_json(data)
        if snapshot == self._data:
            return
        self._data = None  # unknown until the write is done
        await super().set_data(data)
        self._data = snapshot

    async def clear(self) -> None:
        if self.current is None and self._data == _EMPTY:
            return
        storage = self.storage
        if isinstance(storage, RedisStorage):
            # aiogram deletes the state's key and the data's key one command each.
            self._data = None
            await storage.redis.delete(storage.key_builder.build(self.key, "state"),
                                       storage.key_builder.build(self.key, "data"))
            self.current, self._data = None, _EMPTY
            return
        await self.set_state(None)
        await self.set_data({})

    async def get_data(self) -> dict[str, Any]:
        if self._data is None:
            data = await super().get_data()
            self._data = _as_json(data)
            return data
        loaded: dict[str, Any] = json.loads(self._data)
        return loaded

    async def update_data(self, data: Mapping[str, Any] | None = None,
                          **kwargs: Any) -> dict[str, Any]:
        current = await self.get_data()
        current.update(data or {}, **kwargs)
        await self.set_data(current)
        return current

    async def get_value(self, key: str, default: Any | None = None) -> Any | None:
        return (await self.get_data()).get(key, default)


_EMPTY = "{}"


def _as_json(data: Mapping[str, Any]) -> str:
    return json.dumps(dict(data), ensure_ascii=False, sort_keys=True, default=str)
