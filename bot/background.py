"""Background services that live as long as the bot runs (the readings outbox worker, the
reminder scheduler, ...). The runners start them once the Bot exists and stop them before the
Bot's session closes."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol

from aiogram import Bot

if TYPE_CHECKING:
    from bot.app import Runtime


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


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait until it has ended, swallowing only its own cancellation.

    `with suppress(CancelledError): await task` also swallows a cancellation of the *caller*
    that arrives while it waits: the caller then runs on as if nothing happened, and whoever
    cancelled it (and awaits it) waits for ever. That hung a leader stepping down during a
    shutdown (bot/reminders/engine.py)."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
