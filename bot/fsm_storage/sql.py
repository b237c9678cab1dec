from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import utcnow
from bot.db.repositories.fsm import FsmRepository
from bot.lru import LruCache


def storage_key_to_str(key: StorageKey) -> str:
    return ":".join(
        str(part) if part is not None else ""
        for part in (
            key.bot_id,
            key.chat_id,
            key.user_id,
            key.thread_id,
            key.business_connection_id,
            key.destiny,
        )
    )


@dataclass(slots=True)
class _Known:
    """A record as this process last read or wrote it; `touched` None: there is none."""

    state: str | None
    data: str  # JSON
    touched: datetime | None


_ABSENT = _Known(None, "{}", None)


class SqlStorage(BaseStorage):
    """FSM storage in the bot's own database, so a conversation survives a restart without Redis.

    Records untouched for `ttl` count as absent, mirroring the TTLs we give RedisStorage.

    Without Redis there is one bot process (several need REDIS_URL: their per-user lock
    lives there), and every read and write of the records goes through here. So what was
    read or written last is remembered (the most recently used `cached` keys): an update
    reads its state, then its data, then often clears a context that is already clear —
    one SELECT and two upserts, each in its own transaction, without the memory; and a
    write of what is stored already is skipped.
    """

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], ttl: timedelta,
                 cached: int = 10_000) -> None:
        self.session_factory = session_factory
        self.ttl = ttl
        self._known: LruCache[str, _Known] = LruCache(cached)

    def _fresh(self, key: str) -> _Known | None:
        """What is known of `key`, unless it has expired meanwhile (then it is unknown)."""
        known = self._known.get(key)
        if known is None or (known.touched is not None
                             and known.touched < utcnow() - self.ttl):
            return None
        return known

    async def _record(self, key: str) -> _Known:
        known = self._fresh(key)
        if known is not None:
            return known
        async with self.session_factory() as session:
            record = await FsmRepository(session).get(key, utcnow() - self.ttl)
        known = (_ABSENT if record is None else
                 _Known(record.state, record.data or "{}", record.updated_at))
        self._known.put(key, known)
        return known

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        name = storage_key_to_str(key)
        known = self._fresh(name)
        if known is not None and known.state == value:
            return
        self._known.pop(name)  # unknown until the write is done
        async with self.session_factory() as session:
            await FsmRepository(session).upsert(name, state=value, set_state=True)
        if known is not None:
            self._known.put(name, _Known(value, known.data, utcnow()))

    async def get_state(self, key: StorageKey) -> str | None:
        return (await self._record(storage_key_to_str(key))).state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        name = storage_key_to_str(key)
        text = json.dumps(dict(data), ensure_ascii=False, default=str)
        known = self._fresh(name)
        if known is not None and known.data == text:
            return
        self._known.pop(name)
        async with self.session_factory() as session:
            await FsmRepository(session).upsert(name, data=text, set_data=True)
        if known is not None:
            self._known.put(name, _Known(known.state, text, utcnow()))

    async def write(self, key: StorageKey, *, state: str | None, set_state: bool,
                    data: Mapping[str, Any] | None) -> None:
        """The state (when `set_state`) and the data (unless None) in one upsert."""
        name = storage_key_to_str(key)
        text = None if data is None else json.dumps(dict(data), ensure_ascii=False,
                                                    default=str)
        known = self._fresh(name)
        if known is not None and (not set_state or known.state == state) \
                and (text is None or known.data == text):
            return  # stored already
        self._known.pop(name)
        async with self.session_factory() as session:
            await FsmRepository(session).upsert(name, state=state, set_state=set_state,
                                                data=text, set_data=text is not None)
        if known is not None:
            self._known.put(name, _Known(state if set_state else known.state,
                                         known.data if text is None else text, utcnow()))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        loaded = json.loads((await self._record(storage_key_to_str(key))).data)
        return loaded if isinstance(loaded, dict) else {}

    async def close(self) -> None:
        """Nothing to close: the engine belongs to the application and is disposed by it."""
