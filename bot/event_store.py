"""Persists the event log for support staff (`/logs`, `python -m bot logs`).

Events are buffered and written in batches by one background task, so handling an update
never waits for an INSERT; the buffer is bounded, and whatever is left is flushed on shutdown.
Rows older than the retention period are purged once an hour.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.background import cancel_and_wait, wait_event
from bot.db.models_events import EventRecord
from bot.db.repositories.events import EventLogRepository
from bot.logs import scrub

logger = logging.getLogger(__name__)


class EventStore:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession],
                 clock: Callable[[], datetime], retention: timedelta, *,
                 flush_interval: float = 1.0, max_buffer: int = 10_000) -> None:
        self.session_factory = session_factory
        self.clock = clock
        self.retention = retention
        self.flush_interval = flush_interval
        self._buffer: deque[dict[str, Any]] = deque(maxlen=max_buffer)
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._last_purge: datetime | None = None
        self._lock = asyncio.Lock()

    async def record(self, record: dict[str, Any]) -> None:
        row = dict(record)
        row["at"] = self.clock()
        if row.get("error"):
            row["error"] = scrub(str(row["error"]))[:2000]
        self._buffer.append(row)
        if len(self._buffer) >= 200:
            self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="event-store-flusher")

    async def _run(self) -> None:
        while True:
            await wait_event(self._wake, self.flush_interval)
            self._wake.clear()
            try:
                await self.flush()
                await self._maybe_purge()
            except Exception:  # the event log must never take the bot down with it
                logger.warning("event log flush failed", exc_info=True)

    async def flush(self) -> int:
        async with self._lock:
            batch = list(self._buffer)
            self._buffer.clear()
            if not batch:
                return 0
            try:
                async with self.session_factory() as session:
                    await EventLogRepository(session).insert_many(batch)
            except Exception:
                # put them back (the deque's bound drops the oldest if it overflows)
                self._buffer.extendleft(reversed(batch))
                raise
            return len(batch)

    async def _maybe_purge(self) -> None:
        now = self.clock()
        if self._last_purge and now - self._last_purge < timedelta(hours=1):
            return
        self._last_purge = now
        async with self.session_factory() as session:
            removed = await EventLogRepository(session).purge_before(now - self.retention)
        if removed:
            logger.info("event log: %d old event(s) removed", removed)

    async def close(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            await cancel_and_wait(task)
        try:
            await self.flush()
        except Exception:
            logger.warning("event log: final flush failed", exc_info=True)

    async def for_user(self, user_id: int, since: datetime, limit: int = 500) -> list[EventRecord]:
        await self.flush()
        async with self.session_factory() as session:
            return await EventLogRepository(session).for_user(user_id, since, limit)


@dataclass(frozen=True, slots=True)
class EventLine:
    at: datetime
    kind: str
    handler: str | None
    state_before: str | None
    state_after: str | None
    duration_ms: float
    outcome: str
    error: str | None


def short_handler(name: str | None) -> str:
    """`handlers.registration.build_router.<locals>.start` → `registration.start`."""
    if not name:
        return "—"
    return ".".join(name.replace(".build_router.<locals>", "").split(".")[-2:])


def format_event(event: EventRecord, tz: Any = None) -> str:
    at = event.at.astimezone(tz) if tz else event.at
    states = f"{event.state_before or '∅'} → {event.state_after or '∅'}"
    line = (f"{at:%Y-%m-%d %H:%M:%S} {event.kind} {short_handler(event.handler)} "
            f"[{states}] {event.duration_ms:.0f} ms {event.outcome}")
    if event.error:
        line += f" — {event.error}"
    return line


def event_as_dict(event: EventRecord) -> dict[str, Any]:
    return {
        "time": event.at.isoformat(), "update_id": event.update_id, "user_id": event.user_id,
        "chat_id": event.chat_id, "chat_type": event.chat_type, "kind": event.kind,
        "handler": event.handler, "state_before": event.state_before,
        "state_after": event.state_after, "duration_ms": event.duration_ms,
        "outcome": event.outcome, "error": event.error,
    }


def parse_since(text: str) -> timedelta:
    """`90m`, `2h`, `3d` or a bare number of hours."""
    text = text.strip().lower()
    units = {"m": 60, "h": 3600, "d": 86400}
    if text and text[-1] in units:
        return timedelta(seconds=float(text[:-1]) * units[text[-1]])
    return timedelta(hours=float(text))
