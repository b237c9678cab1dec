"""The outbox sender: takes pending rows, sends them at Telegram's pace, records the outcome.

A row goes pending → sending → sent (or failed / paused / skipped, with the reason):

1. The content is prepared (text, buttons; the billing system for payment and receipt).
2. A global slot and the chat's turn are taken from the rate limiter.
3. The row is claimed: `UPDATE … SET status='sending' WHERE id=… AND status='pending'`.
   Only the process whose update changed the row sends it, whatever else runs at the time
   (a second bot process, an operator's `send-due`, a run restarted mid-fan-out).
4. The message is sent and the row marked sent with the message id, in that order.

Outcomes of step 4:
- 429: every send pauses for `retry_after` and the row goes back to pending for then;
- 403 (blocked, deactivated): the row is `paused` and so is the user (no more reminders until
  they unblock the bot or open /reminders: see handlers/reminders.py);
- 400: the request itself is wrong, so sending it again cannot help: failed at once;
- anything else (5xx, network): back to pending with a growing delay, failed after
  `max_attempts` tries.

A process killed between 3 and 4 leaves its row in `sending`: Telegram may or may not have
the message, and nothing can tell. Such rows are never sent again (a reminder must not arrive
twice); once their claim is older than `LEASE` they are recorded as failed, "interrupted".
The sender keeps that window small: the slot is taken before the claim, so a process spends
its waiting time with nothing claimed, and at most `concurrency` rows are claimed at once.
A graceful stop (SIGTERM) lets the sends in flight finish and leaves nothing in doubt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

from bot.background import wait_event
from bot.context import AppContext
from bot.db.repositories.reminders import ReadyDelivery, ReminderRepository
from bot.metrics import Metrics
from bot.reminders.content import Defer, ReminderContent, Send, Skip
from bot.reminders.models import DeliveryStatus
from bot.reminders.ratelimit import RateLimiter

logger = logging.getLogger(__name__)

# A claim older than this belongs to a process that died: one HTTP attempt (aiogram's default
# request timeout is 60 s) always ends sooner.
LEASE: Final = timedelta(minutes=2)
DEFAULT_CONCURRENCY: Final = 8
_BATCH: Final = 200
# Retry delays after a failure that is neither a 429 nor a 403: 5 s, 15 s, 45 s … 5 min.
_BACKOFF_FIRST: Final = 5.0
_BACKOFF_MAX: Final = 300.0


def backoff(attempt: int) -> timedelta:
    return timedelta(seconds=min(_BACKOFF_MAX, _BACKOFF_FIRST * 3 ** max(0, attempt - 1)))


@dataclass
class DrainStats:
    sent: int = 0
    failed: int = 0
    paused: int = 0
    skipped: int = 0
    deferred: int = 0
    retried: int = 0
    throttled: int = 0  # 429 answers
    lost_claims: int = 0  # rows another sender claimed first
    reasons: dict[str, int] = field(default_factory=dict)

    def count_reason(self, reason: str) -> None:
        self.reasons[reason] = self.reasons.get(reason, 0) + 1


class Sender:
    def __init__(self, bot: Bot, app: AppContext, content: ReminderContent,
                 limiter: RateLimiter, *, metrics: Metrics | None = None,
                 max_attempts: int = 5, concurrency: int = DEFAULT_CONCURRENCY,
                 worker: str | None = None,
                 allowed: Callable[[], bool] = lambda: True,
                 backoff: Callable[[int], timedelta] = backoff) -> None:
        self.bot = bot
        self.app = app
        self.content = content
        self.limiter = limiter
        self.metrics = metrics
        self.max_attempts = max_attempts
        self.concurrency = concurrency
        self.worker = worker or uuid.uuid4().hex
        self.allowed = allowed
        self.backoff = backoff
        self._stopping = False

    def stop(self) -> None:
        """Take no new rows; the sends in flight finish."""
        self._stopping = True

    @property
    def running(self) -> bool:
        return not self._stopping and self.allowed()

    @contextlib.asynccontextmanager
    async def _repo(self) -> AsyncIterator[ReminderRepository]:
        # A short session per step: a fan-out must not hold a transaction open on SQLite.
        async with self.app.session_factory() as session:
            yield ReminderRepository(session)

    async def recover(self) -> int:
        """Record rows a dead process left claimed (see the module docstring)."""
        now = self.app.clock()
        async with self._repo() as repo:
            count = await repo.recover_interrupted(now - LEASE, now)
        if count:
            logger.warning("%d reminder(s) interrupted mid-send by a crash, not resent", count)
            if self.metrics is not None:
                self.metrics.reminders_failed.labels(reason="interrupted").inc(count)
        return count

    async def drain(self, *, wait_for_retries: float = 0.0) -> DrainStats:
        """Send every ready row. With `wait_for_retries` > 0, also wait for rows that become
        ready again (a 429, a retry) within that many seconds, until none is pending."""
        stats = DrainStats()
        await self.recover()
        in_flight: dict[asyncio.Task[None], ReadyDelivery] = {}
        try:
            while self.running:
                now = self.app.clock()
                async with self._repo() as repo:
                    batch = await repo.ready(now, _BATCH, [r.id for r in in_flight.values()])
                started = 0
                waiting_chat = False
                for row in batch:
                    if not self.running:
                        break
                    if row.user_paused:
                        await self._settle(row, DeliveryStatus.PAUSED, "blocked", stats)
                        continue
                    if row.expires_at <= now:
                        await self._settle(row, DeliveryStatus.FAILED, "expired", stats)
                        continue
                    busy = {r.user_id for r in in_flight.values()}
                    if row.user_id in busy or self.limiter.chat_ready_in(row.user_id) > 0:
                        waiting_chat = True
                        continue  # another row of this chat is on its way: later
                    while len(in_flight) >= self.concurrency:
                        await self._reap(in_flight, stats)
                    task = asyncio.create_task(self._deliver(row, stats))
                    in_flight[task] = row
                    started += 1
                if started:
                    continue
                if in_flight:
                    await self._reap(in_flight, stats, timeout=0.5)
                    continue
                if waiting_chat or batch:
                    await asyncio.sleep(min(1.0, max(0.05, self.limiter.paused_for)))
                    continue
                if wait_for_retries <= 0:
                    break
                async with self._repo() as repo:
                    next_at = await repo.next_attempt_at()
                if next_at is None or next_at - now > timedelta(seconds=wait_for_retries):
                    break
                await asyncio.sleep(min(1.0, max(0.05, (next_at - now).total_seconds())))
        except asyncio.CancelledError:
            # Cancelled from outside (a shutdown that ran out of time): the deliveries go
            # down with it, each where it stands; a claimed row is then left in doubt.
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
            raise
        finally:
            # Otherwise (done, stopping, or a database error) the sends under way finish.
            while in_flight:
                await self._reap(in_flight, stats)
        return stats

    async def _reap(self, in_flight: dict[asyncio.Task[None], ReadyDelivery], stats: DrainStats,
                    timeout: float | None = None) -> None:
        done, _ = await asyncio.wait(in_flight, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            in_flight.pop(task, None)
            if not task.cancelled() and task.exception() is not None:
                logger.error("reminder delivery failed unexpectedly",
                             exc_info=task.exception())

    async def _settle(self, row: ReadyDelivery, status: DeliveryStatus, reason: str,
                      stats: DrainStats) -> None:
        async with self._repo() as repo:
            await repo.settle(row.id, status.value, reason, self.app.clock())
        self._count(status, reason, stats)

    def _count(self, status: DeliveryStatus, reason: str | None, stats: DrainStats) -> None:
        if status is DeliveryStatus.SENT:
            stats.sent += 1
            if self.metrics is not None:
                self.metrics.reminders_sent.inc()
            return
        if reason is not None:
            stats.count_reason(reason)
        if status is DeliveryStatus.SKIPPED:
            stats.skipped += 1
            return
        if status is DeliveryStatus.PAUSED:
            stats.paused += 1
        else:
            stats.failed += 1
        if self.metrics is not None:
            self.metrics.reminders_failed.labels(reason=reason or "error").inc()

    async def _deliver(self, row: ReadyDelivery, stats: DrainStats) -> None:
        now = self.app.clock()
        try:
            prepared = await self.content.prepare(row, now)
        except Exception:
            # A bug or a database hiccup: nothing was claimed or sent. Try later, and give
            # up after max_attempts rather than spin on the same row.
            logger.exception("reminder %s could not be prepared", row.id)
            attempts = row.attempts + 1
            async with self._repo() as repo:
                if attempts >= self.max_attempts:
                    await repo.settle(row.id, DeliveryStatus.FAILED.value, "error", now)
                else:
                    await repo.defer(row.id, now + self.backoff(attempts), "error", now,
                                     attempts=attempts)
            if attempts >= self.max_attempts:
                self._count(DeliveryStatus.FAILED, "error", stats)
            return
        if isinstance(prepared, Skip):
            await self._settle(row, DeliveryStatus.SKIPPED, prepared.reason, stats)
            return
        if isinstance(prepared, Defer):
            async with self._repo() as repo:
                await repo.defer(row.id, prepared.until, prepared.reason, now,
                                 prepared.expires_at)
            stats.deferred += 1
            return
        await self.limiter.acquire(row.user_id)
        if not self.running:
            return  # stopping, or no longer the leader: the row stays pending for the next
        async with self._repo() as repo:
            claimed = await repo.claim(row.id, self.worker, self.app.clock())
        if not claimed:
            stats.lost_claims += 1
            return
        await self._send(row, prepared, stats)

    async def _send(self, row: ReadyDelivery, prepared: Send, stats: DrainStats) -> None:
        attempts = row.attempts + 1
        await self.limiter.pace()
        try:
            message = await self.bot.send_message(chat_id=row.user_id, text=prepared.text,
                                                  reply_markup=prepared.markup)
        except TelegramRetryAfter as exc:
            stats.throttled += 1
            self.limiter.pause(exc.retry_after)
            now = self.app.clock()
            logger.warning("reminders: 429 from Telegram, pausing %ss", exc.retry_after)
            # Telegram said when: not a failure of the row, so the attempt is not counted;
            # the row's expiry still bounds how long it may wait.
            async with self._repo() as repo:
                await repo.reschedule(row.id, self.worker,
                                      now + timedelta(seconds=exc.retry_after), "flood",
                                      row.attempts, now)
            return
        except TelegramForbiddenError:
            now = self.app.clock()
            async with self._repo() as repo:
                await repo.finish(row.id, self.worker, DeliveryStatus.PAUSED.value, now,
                                  reason="blocked", attempts=attempts)
                others = await repo.pause_user(row.user_id, "blocked", now)
            for _ in range(1 + others):
                self._count(DeliveryStatus.PAUSED, "blocked", stats)
            return
        except TelegramBadRequest as exc:
            logger.warning("reminder %s refused by Telegram: %s", row.id, exc.message)
            async with self._repo() as repo:
                await repo.finish(row.id, self.worker, DeliveryStatus.FAILED.value,
                                  self.app.clock(), reason="bad_request", attempts=attempts)
            self._count(DeliveryStatus.FAILED, "bad_request", stats)
            return
        except (TelegramServerError, TelegramNetworkError, TelegramAPIError) as exc:
            reason = ("server" if isinstance(exc, TelegramServerError)
                      else "network" if isinstance(exc, TelegramNetworkError) else "api")
            await self._retry_or_fail(row, attempts, reason, stats)
            return
        async with self._repo() as repo:
            await repo.finish(row.id, self.worker, DeliveryStatus.SENT.value, self.app.clock(),
                              message_id=message.message_id, attempts=attempts)
        self._count(DeliveryStatus.SENT, None, stats)

    async def _retry_or_fail(self, row: ReadyDelivery, attempts: int, reason: str,
                             stats: DrainStats) -> None:
        now = self.app.clock()
        if attempts >= self.max_attempts:
            async with self._repo() as repo:
                await repo.finish(row.id, self.worker, DeliveryStatus.FAILED.value, now,
                                  reason=reason, attempts=attempts)
            self._count(DeliveryStatus.FAILED, reason, stats)
            return
        stats.retried += 1
        async with self._repo() as repo:
            await repo.reschedule(row.id, self.worker, now + self.backoff(attempts), reason,
                                  attempts, now)


async def run_until_stopped(sender: Sender, wake: asyncio.Event, *,
                            poll: float = 5.0) -> None:
    """The leader's sender loop: drain, then sleep until the tick wakes it (new rows) or
    `poll` seconds pass (rows waiting for a retry become ready)."""
    while sender.running:
        try:
            await sender.drain()
        except Exception:
            logger.exception("reminders sender failed; retrying in %ss", poll)
        wake.clear()
        await wait_event(wake, poll)
