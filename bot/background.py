"""Background services that live as long as the bot runs (the readings outbox worker, the
reminder scheduler, ...). The runners start them once the Bot exists and stop them before the
Bot's session closes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from aiogram import Bot

if TYPE_CHECKING:
    from bot.app import Runtime


class BackgroundService(Protocol):
    name: str

    async def start(self, bot: Bot) -> None: ...

    async def stop(self) -> None: ...


def build_background_services(runtime: Runtime) -> list[BackgroundService]:
    """A feature with a background service adds it here."""
    services: list[BackgroundService] = []
    return services
