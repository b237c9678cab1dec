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


async def test_writes_of_what_is_stored_already_are_skipped() -> None:
    storage = CountingStorage()
    await storage.set_data(KEY, {"old": 1})
    storage.calls.clear()
    state = TrackedState(storage, KEY, current=None)
    await state.clear()  # the state is known to be empty; the data is not known
    assert storage.calls == ["set_data"]
    await state.clear()  # both known to be empty now
    await state.set_state(Steps.first)
    await state.set_state(Steps.first.state)  # the same, as a string
    assert storage.calls == ["set_data", "set_state"]
    assert state.current == "Steps:first" == await storage.get_state(KEY)
    await state.set_data({"a": [1, 2], "b": "x"})
    await state.set_data({"b": "x", "a": (1, 2)})  # equal as stored (JSON)
    assert storage.calls == ["set_data", "set_state", "set_data"]


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
    assert await storage.get_data(KEY) == {"n": 1, "m": 2}
    assert storage.calls == ["get_data", "set_data", "get_data"]
    await state.set_state(None)  # already None: nothing written
    assert "set_state" not in storage.calls


async def test_clear_on_redis_is_one_command_and_leaves_nothing() -> None:
    from aiogram.fsm.storage.redis import RedisStorage
    from redis.asyncio import Redis

    from tests.support.services import REDIS_URL, require_redis

    require_redis()
    redis = Redis.from_url(REDIS_URL)
    storage = RedisStorage(redis)
    try:
        await storage.set_state(KEY, Steps.first)
        await storage.set_data(KEY, {"n": 1})
        commands: list[tuple[Any, ...]] = []
        original = redis.execute_command

        async def counted(*args: Any, **kwargs: Any) -> Any:
            commands.append(args)
            return await original(*args, **kwargs)

        redis.execute_command = counted  # type: ignore[method-assign]
        state = TrackedState(storage, KEY, current="Steps:first")
        await state.clear()
        assert [c[0] for c in commands] == ["DEL"]
        assert await storage.get_state(KEY) is None
        assert await storage.get_data(KEY) == {}
        assert state.current is None and await state.get_data() == {}
        await state.clear()  # known to be clear: no command at all
        assert len(commands) == 3  # the DEL, and the two reads just above
    finally:
        await storage.close()
