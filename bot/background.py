"""Background services that live as long as the bot runs (the readings outbox worker, the
reminder scheduler, ...). The runners start them once the Bot exists and stop them before the
Bot's session closes."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Protocol

from aiogram import Bot

if TYPE_CHECKING:
    from bot.app import Runtime

logger = logging.getLogger(__name__)


class BackgroundService(Protocol):
    name: str

    async def start(self, bot: Bot) -> None: ...

    async def stop(self) -> None: ...


def build_background_services(runtime: Runtime) -> list[BackgroundService]:
    """A feature with a background service adds it here."""
    from bot.readings_outbox import ReadingsOutboxWorker

    services: list[BackgroundService] = []
    # Readings confirmed during an outage, or left mid-send by a crash, go out from here.
    services.append(ReadingsOutboxWorker(runtime.app, runtime.i18n))
    if runtime.settings.reminders_enabled:
        from bot.reminders.engine import ReminderEngine

        # Every process campaigns; the leader plans and sends (bot/reminders/engine.py).
        services.append(ReminderEngine(runtime))
    return services


async def cancel_and_wait(task: asyncio.Task[Any], *, nudge_after: float = 5.0) -> None:
    """Cancel `task` and wait until it has ended; raise what it raised, other than its own
    cancellation, and never swallow a cancellation of the caller.

    Two ways a plain `task.cancel(); await task` hangs or misleads, both seen here:
    - `with suppress(CancelledError): await task` also swallows a cancellation of the
      *caller* that arrives while it waits: the caller runs on, and whoever cancelled it
      waits for ever (a leader stepping down during a shutdown, bot/reminders/engine.py);
    - on Python 3.11, `asyncio.wait_for` returns normally when its task is cancelled at the
      moment the awaited thing completes (fixed in 3.12): a loop built on it swallows the
      cancellation and goes round again, so `await task` never returns.
    `asyncio.wait` raises neither the task's outcome nor our own cancellation away, and a
    task that is still running after `nudge_after` seconds is cancelled again."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=nudge_after)
        if not task.done():
            logger.warning("task %s still running %gs after its cancellation: cancelling "
                           "it again", task.get_name(), nudge_after)
    if not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait until `event` is set (True) or `timeout` seconds pass (False).

    Instead of `asyncio.wait_for(event.wait(), timeout)`, which on Python 3.11 swallows a
    cancellation that comes as the event is set (see `cancel_and_wait`): `asyncio.timeout`
    tells its own timeout from a cancellation from outside."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def wait_task(task: asyncio.Task[Any], timeout: float) -> bool:
    """Wait up to `timeout` seconds for `task` to end, without cancelling it (True if it
    ended). Its outcome is left for whoever reads it."""
    done, _ = await asyncio.wait({task}, timeout=timeout)
    return bool(done)
