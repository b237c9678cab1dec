"""One structured event per handled update, for support staff and operators."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.fsm.context import FSMContext
from aiogram.types import TelegramObject, Update

from bot.background import wait_event
from bot.fsm_storage.prefetch import prefetched_data
from bot.fsm_storage.tracked import TrackedState

logger = logging.getLogger("bot.events")

# The handlers' name for this update's EventContext (a handler parameter `event_log`).
# Not "event_context": aiogram keeps its own EventContext (user, chat) under that key.
EVENT_LOG_KEY = "event_log"


@dataclass(slots=True)
class EventContext:
    """Filled while an update travels through the dispatcher; read back when it is done."""

    handler: str | None = None
    error: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)


class InFlight:
    """Counts updates being handled, so shutdown can wait for them (bounded)."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def drain(self, timeout: float) -> bool:
        return await wait_event(self._idle, timeout)


def handler_name(handler: HandlerObject) -> str:
    callback = handler.callback
    module = getattr(callback, "__module__", "?")
    return f"{module}.{getattr(callback, '__qualname__', repr(callback))}"


def describe_update(update: Update) -> tuple[str, Any]:
    kind = update.event_type
    return kind, update.event


def _chat_of(event: Any) -> Any:
    chat = getattr(event, "chat", None)
    if chat is None:
        message = getattr(event, "message", None)
        chat = getattr(message, "chat", None)
    return chat


class EventLogMiddleware(BaseMiddleware):
    """Outer middleware on `update`: times the update and logs state before → after."""

    def __init__(self, in_flight: InFlight | None = None, sink: Any = None) -> None:
        self.in_flight = in_flight or InFlight()
        self.sink = sink  # optional async callable(record: dict) for a persistent event store

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        ctx = EventContext()
        data[EVENT_LOG_KEY] = ctx
        state: FSMContext | None = data.get("state")
        # aiogram's FSM middleware has just read it, under the user's lock: reading it again
        # would cost a Redis (or database) round trip on every update.
        tracked: TrackedState | None = None
        if "raw_state" in data and state is not None:
            before = data["raw_state"]
            tracked = data["state"] = TrackedState(state.storage, state.key, before)
            known, stored = prefetched_data(state.key)
            if known:
                tracked.know_stored_data(stored)
        else:
            before = await state.get_state() if state else None
        started = time.perf_counter()
        outcome = "handled"
        self.in_flight.enter()
        try:
            result = await handler(event, data)
            if result is UNHANDLED:
                outcome = "unhandled"
            if tracked is not None:
                await tracked.write_back()  # still under the user's lock
            return result
        except Exception as exc:
            outcome = "error"
            ctx.error = f"{type(exc).__name__}: {exc}"
            if tracked is not None and tracked.unwritten:
                # What the handler set before it failed is kept, as if written at once.
                try:
                    await tracked.write_back()
                except Exception:
                    logger.warning("could not write the FSM state back", exc_info=True)
            raise
        finally:
            self.in_flight.leave()
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            after = tracked.current if tracked is not None else await _safe_state(state)
            kind, payload = describe_update(event)
            user = data.get("event_from_user")
            chat = _chat_of(payload)
            record: dict[str, Any] = {
                "update_id": event.update_id,
                "user_id": user.id if user else None,
                "chat_id": chat.id if chat else None,
                "chat_type": chat.type if chat else None,
                "kind": kind,
                "handler": ctx.handler,
                "state_before": before,
                "state_after": after,
                "duration_ms": duration_ms,
                "outcome": outcome if ctx.error is None else "error",
                "error": ctx.error,
                **ctx.notes,
            }
            logger.info("update %s %s", kind, record["outcome"], extra=record)
            if self.sink is not None:
                await self.sink(record)


async def _safe_state(state: FSMContext | None) -> str | None:
    if state is None:
        return None
    try:
        return await state.get_state()
    except Exception:  # the storage being down must not hide the handler's own outcome
        logger.warning("could not read FSM state after update", exc_info=True)
        return None


class HandlerNameMiddleware(BaseMiddleware):
    """Inner middleware: the handler chosen for an update is known only at this depth."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        ctx: EventContext | None = data.get(EVENT_LOG_KEY)
        handler_object = data.get("handler")
        if ctx is not None and isinstance(handler_object, HandlerObject):
            ctx.handler = handler_name(handler_object)
        return await handler(event, data)
