from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import FsmRecord, utcnow


class FsmRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, key: str, fresh_after: datetime) -> FsmRecord | None:
        record = await self.session.scalar(select(FsmRecord).where(FsmRecord.key == key))
        if record is None or record.updated_at < fresh_after:
            return None
        return record

    async def upsert(self, key: str, *, state: str | None = None, data: str | None = None,
                     set_state: bool = False, set_data: bool = False) -> None:
        values: dict[str, object] = {"key": key, "updated_at": utcnow()}
        if set_state:
            values["state"] = state
        if set_data:
            values["data"] = data
        insert_values = {"state": None, "data": "{}", **values}
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = insert(FsmRecord).values(**insert_values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[FsmRecord.key],
            set_={k: v for k, v in values.items() if k != "key"},
        )
        await self.session.execute(stmt)
        await self.session.commit()

    async def delete_prefix(self, prefix: str) -> None:
        await self.session.execute(delete(FsmRecord).where(FsmRecord.key.startswith(prefix)))
        await self.session.commit()

    async def purge_older_than(self, cutoff: datetime) -> int:
        result = await self.session.execute(delete(FsmRecord).where(FsmRecord.updated_at < cutoff))
        await self.session.commit()
        return int(getattr(result, "rowcount", 0) or 0)
