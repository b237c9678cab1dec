from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import utcnow
from bot.db.repositories.fsm import FsmRepository


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


class SqlStorage(BaseStorage):
    """FSM storage in the bot's own database, so a conversation survives a restart without Redis.

    Records untouched for `ttl` count as absent, mirroring the TTLs we give RedisStorage.
    """

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], ttl: timedelta) -> None:
        self.session_factory = session_factory
        self.ttl = ttl

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        async with self.session_factory() as session:
            await FsmRepository(session).upsert(
                storage_key_to_str(key), state=value, set_state=True
            )

    async def get_state(self, key: StorageKey) -> str | None:
        async with self.session_factory() as session:
            record = await FsmRepository(session).get(
                storage_key_to_str(key), utcnow() - self.ttl
            )
            return record.state if record else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        async with self.session_factory() as session:
            await FsmRepository(session).upsert(
                storage_key_to_str(key),
                data=json.dumps(dict(data), ensure_ascii=False, default=str),
                set_data=True,
            )

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        async with self.session_factory() as session:
            record = await FsmRepository(session).get(
                storage_key_to_str(key), utcnow() - self.ttl
            )
            if record is None:
                return {}
            loaded = json.loads(record.data or "{}")
            return loaded if isinstance(loaded, dict) else {}

    async def close(self) -> None:
        """Nothing to close: the engine belongs to the application and is disposed by it."""
