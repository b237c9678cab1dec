"""TrackedState: the update's FSM context skips the storage round trips it can prove useless."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import MemoryStorage

from bot.fsm_storage.tracked import TrackedState

KEY = StorageKey(bot_id=1, chat_id=5, user_id=5)


class Steps(StatesGroup):
    first = State()


class CountingStorage(MemoryStorage):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def set_state(self, key: StorageKey, state: Any = None) -> None:
        self.calls.append("set_state")
        await super().set_state(key, state)

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        self.calls.append("set_data")
        await super().set_data(key, data)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        self.calls.append("get_data")
        return await super().get_data(key)


async def test_one_write_of_the_outcome_and_none_of_what_is_stored_already() -> None:
    storage = CountingStorage()
    await storage.set_data(KEY, {"old": 1})
    storage.calls.clear()
    state = TrackedState(storage, KEY, current=None)
    await state.clear()  # the state is known to be empty; the data is not known
    assert storage.calls == []  # nothing is written before the update is done
    assert not await state.get_data() and await state.get_state() is None
    await state.write_back()
    assert storage.calls == ["set_data"]
    assert await storage.get_data(KEY) == {}
    storage.calls.clear()
    await state.clear()  # both known to be empty now
    await state.write_back()
    assert storage.calls == []
    # A step that clears, sets a state and data, then data again: one write of each.
    await state.clear()
    await state.set_state(Steps.first)
    await state.set_data({"a": [1, 2], "b": "x"})
    await state.set_state(Steps.first.state)  # the same, as a string
    await state.update_data(c=3)
    assert await state.get_state() == "Steps:first" and await state.get_value("c") == 3
    assert await storage.get_state(KEY) is None  # not yet
    await state.write_back()
    assert storage.calls == ["set_state", "set_data"]
    assert await storage.get_state(KEY) == "Steps:first"
    assert await storage.get_data(KEY) == {"a": [1, 2], "b": "x", "c": 3}
    storage.calls.clear()
    await state.set_data({"b": "x", "a": (1, 2), "c": 3})  # equal as stored (JSON)
    await state.set_state("Steps:other")
    await state.set_state(Steps.first)  # back to what is stored
    await state.write_back()
    assert storage.calls == []


async def test_known_data_is_not_read_again_and_copies_are_independent() -> None:
    storage = CountingStorage()
    await storage.set_data(KEY, {"n": 1})
    storage.calls.clear()
    state = TrackedState(storage, KEY, current=None)
    first = await state.get_data()
    first["n"] = 99  # the handler's own copy
    assert await state.get_data() == {"n": 1}
    assert await state.get_value("n") == 1
    assert storage.calls == ["get_data"]
    assert await state.update_data(m=2) == {"n": 1, "m": 2}
    await state.write_back()
    assert await storage.get_data(KEY) == {"n": 1, "m": 2}
    assert storage.calls == ["get_data", "set_data", "get_data"]
    await state.set_state(None)  # already None: nothing written
    await state.write_back()
    assert "set_state" not in storage.calls


async def test_on_redis_the_outcome_is_one_round_trip_and_clear_leaves_nothing() -> None:
    from aiogram.fsm.storage.redis import RedisStorage
    from redis.asyncio import Redis

    from tests.support.services import REDIS_URL, RedisTrips, require_redis

    require_redis()
    redis = Redis.from_url(REDIS_URL)
    storage = RedisStorage(redis, state_ttl=600, data_ttl=600)
    try:
        await storage.set_state(KEY, Steps.first)
        await storage.set_data(KEY, {"n": 1})
        with RedisTrips(redis) as trips:
            state = TrackedState(storage, KEY, current="Steps:first")
            await state.clear()
            await state.write_back()
            assert trips == ["pipeline"]
            trips.commands = False
            assert await storage.get_state(KEY) is None
            assert await storage.get_data(KEY) == {}
            assert await redis.keys("fsm:*") == []
            await state.clear()  # known to be clear: no round trip at all
            await state.write_back()
            assert trips == ["pipeline"]
            await state.set_state(Steps.first)
            await state.set_data({"n": 2})
            await state.write_back()
            assert trips == ["pipeline"] * 2
        assert await storage.get_state(KEY) == "Steps:first"
        assert await storage.get_data(KEY) == {"n": 2}
        assert 0 < await redis.ttl(storage.key_builder.build(KEY, "data")) <= 600
    finally:
        await redis.delete(storage.key_builder.build(KEY, "state"),
                           storage.key_builder.build(KEY, "data"))
        await storage.close()
