from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models_events import EventRecord

COLUMNS = ("at", "update_id", "user_id", "chat_id", "chat_type", "kind", "handler",
           "state_before", "state_after", "duration_ms", "outcome", "error")


class EventLogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert_many(self, records: Sequence[dict[str, Any]]) -> None:
        if not records:
            return
        rows = [{c: r.get(c) for c in COLUMNS} for r in records]
        # render_nulls: the ORM's bulk insert otherwise leaves out None values, and so splits
        # a batch into one statement per distinct set of filled columns.
        await self.session.execute(insert(EventRecord).execution_options(render_nulls=True),
                                   rows)
        await self.session.commit()

    async def for_user(self, user_id: int, since: datetime, limit: int = 500) -> list[EventRecord]:
        """The newest `limit` events since `since`, returned oldest first."""
        rows = await self.session.scalars(
            select(EventRecord)
            .where(EventRecord.user_id == user_id, EventRecord.at >= since)
            .order_by(EventRecord.id.desc())
            .limit(limit)
        )
        return list(reversed(list(rows)))

    async def purge_before(self, cutoff: datetime) -> int:
        result = await self.session.execute(delete(EventRecord).where(EventRecord.at < cutoff))
        await self.session.commit()
        return int(getattr(result, "rowcount", 0) or 0)
