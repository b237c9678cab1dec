"""The reminders as a background service of the running bot (see bot/background.py).

Every process campaigns for leadership (bot.reminders.leader). The leader runs the scheduler,
whose tick plans and writes due reminders to the outbox, and the sender, which drains the
outbox at Telegram's pace. A process that loses the lead stops both; the sends it has in
flight finish, and the outbox's claims keep the new leader from sending them again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from aiogram import Bot

from bot.background import cancel_and_wait, wait_task
from bot.reminders.content import ReminderContent
from bot.reminders.delivery import Sender, run_until_stopped
from bot.reminders.leader import DEFAULT_KEY, LeaderElection
from bot.reminders.ratelimit import RateLimiter
from bot.reminders.scheduler import ReminderScheduler, build_job_store
from bot.services.reminders import ReminderService

if TYPE_CHECKING:
    from bot.app import Runtime

logger = logging.getLogger(__name__)


class ReminderEngine:
    name = "reminders"

    def __init__(self, runtime: Runtime, *, scheduler_name: str = "default",
                 leader_key: str | None = None) -> None:
        self.runtime = runtime
        settings = runtime.settings
        self.leader = LeaderElection(
            runtime.redis, key=leader_key or DEFAULT_KEY, ttl=settings.reminders_leader_ttl,
            renew_every=settings.reminders_leader_renew)
        self.scheduler = ReminderScheduler(
            self.tick, interval=settings.reminders_tick_seconds, name=scheduler_name,
            job_store=lambda: build_job_store(settings.database_url, settings.redis_url))
        self.grace = timedelta(hours=settings.reminders_grace_hours)
        self.limiter = RateLimiter(settings.reminders_rate)
        self._bot: Bot | None = None
        self._sender: Sender | None = None
        self._sender_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.last_enqueued = 0

    async def start(self, bot: Bot) -> None:
        self._bot = bot
        await self.leader.start(self._elected, self._lost)

    async def stop(self) -> None:
        await self.leader.stop()  # steps down: the scheduler and the sender stop
        await self._lost()

    async def tick(self) -> None:
        """Plan what is due now and write it to the outbox; wake the sender."""
        app = self.runtime.app
        async with app.session_factory() as session:
            result = await ReminderService(session, app).enqueue_due(app.clock())
        self.last_enqueued = result.new
        if result.new:
            logger.info("reminders due: %d new of %d due", result.new, len(result.due))
        self._wake.set()

    async def _elected(self) -> None:
        assert self._bot is not None
        self._sender = Sender(
            self._bot, self.runtime.app,
            ReminderContent(self.runtime.app, self.runtime.i18n, grace=self.grace),
            self.limiter, metrics=self.runtime.metrics,
            max_attempts=self.runtime.settings.reminders_max_attempts,
            allowed=lambda: self.leader.is_leader)
        self._sender_task = asyncio.create_task(run_until_stopped(self._sender, self._wake),
                                                name="reminders-sender")
        self.scheduler.start()

    async def _lost(self) -> None:
        self.scheduler.stop()
        sender, task = self._sender, self._sender_task
        self._sender, self._sender_task = None, None
        if sender is not None:
            sender.stop()
        self._wake.set()
        if task is not None:
            # The loop ends after the sends in flight; bounded so shutdown cannot hang on it.
            if not await wait_task(task, self.runtime.settings.shutdown_timeout):
                logger.warning("reminders sender still busy at shutdown: cancelled")
            await cancel_and_wait(task)
