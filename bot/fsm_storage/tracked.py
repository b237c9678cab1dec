"""The FSM context an update's handlers get: it skips storage round trips it can prove
useless, and writes once, when the update is done (bot/middlewares/events.py puts it in
place of aiogram's and writes it back)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey
from aiogram.fsm.storage.redis import RedisStorage

from bot.fsm_storage.prefetch import PrefetchingRedisStorage
from bot.fsm_storage.sql import SqlStorage


class TrackedState(FSMContext):
    """The update's own FSM context. It remembers what it read and what the handlers set,
    and writes the outcome back in one go (`write_back`), which saves storage round trips
    (Redis or the database) on every update:

    - the event log learns the state after the update without reading it again;
    - a conversation step often clears the context, then sets a state and data, sometimes
      twice: the storage sees one write of the result, or none when it holds that already;
    - data it knows is not read again.

    What it knows is exact: aiogram read the state under the user's events-isolation lock,
    which keeps any other update of theirs out until this one is done (written back
    included), and everything this update sets goes through here. Data is kept as the
    storages keep it, as JSON."""

    def __init__(self, storage: BaseStorage, key: StorageKey, current: str | None) -> None:
        super().__init__(storage=storage, key=key)
        self.current = current  # the state as the handlers left it so far
        self._stored_state = current  # as the storage holds it
        self._data: str | None = None  # the data as the handlers left it, once known
        self._stored_data: str | None = None  # as the storage holds it, once known

    def know_stored_data(self, raw: str | None) -> None:
        """The data as the storage holds it (its JSON; None: there is none), read under
        this update's lock (bot/fsm_storage/prefetch.py)."""
        self._data = self._stored_data = _EMPTY if raw is None else _as_json(json.loads(raw))

    async def get_state(self) -> str | None:
        return self.current

    async def set_state(self, state: StateType = None) -> None:
        self.current = state.state if isinstance(state, State) else state

    async def set_data(self, data: Mapping[str, Any]) -> None:
        self._data = _as_json(data)

    async def clear(self) -> None:
        self.current, self._data = None, _EMPTY

    async def get_data(self) -> dict[str, Any]:
        if self._data is None:
            data = await self.storage.get_data(self.key)
            self._data = self._stored_data = _as_json(data)
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

    @property
    def unwritten(self) -> bool:
        return (self.current != self._stored_state
                or (self._data is not None and self._data != self._stored_data))

    async def write_back(self) -> None:
        """Store what the handlers set, in one round trip where the storage allows."""
        write_state = self.current != self._stored_state
        write_data = self._data is not None and self._data != self._stored_data
        if not (write_state or write_data):
            return
        state, data_json = self.current, self._data
        data = json.loads(data_json) if write_data and data_json is not None else None
        storage = self.storage
        if isinstance(storage, PrefetchingRedisStorage) and storage.defer_write(
                self.key, write_state, state, data):
            pass  # written as the user's lock is let go, in the same round trip
        elif isinstance(storage, RedisStorage):
            await _write_redis(storage, self.key, write_state, state, data)
        elif isinstance(storage, SqlStorage):
            await storage.write(self.key, state=state, set_state=write_state, data=data)
        else:
            if write_state:
                await storage.set_state(self.key, state)
            if data is not None:
                await storage.set_data(self.key, data)
        self._stored_state = state
        if write_data:
            self._stored_data = data_json


async def _write_redis(storage: RedisStorage, key: StorageKey, write_state: bool,
                       state: str | None, data: dict[str, Any] | None) -> None:
    """aiogram's RedisStorage writes, the state's and the data's in one pipeline."""
    build = storage.key_builder.build
    async with storage.redis.pipeline(transaction=False) as pipe:
        if write_state:
            if state is None:
                pipe.delete(build(key, "state"))
            else:
                pipe.set(build(key, "state"), state, ex=storage.state_ttl)
        if data is not None:
            if not data:
                pipe.delete(build(key, "data"))
            else:
                pipe.set(build(key, "data"), storage.json_dumps(data), ex=storage.data_ttl)
        await pipe.execute()


_EMPTY = "{}"


def _as_json(data: Mapping[str, Any]) -> str:
    return json.dumps(dict(data), ensure_ascii=False, sort_keys=True, default=str)
