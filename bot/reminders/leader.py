"""One scheduler among several bot processes: a Redis lock with a TTL, renewed while held.

APScheduler 3 must not run in two processes over one job store (each would fire the job:
DOMAIN.md §7), and two senders would share Telegram's budget without knowing it. So one
process, the leader, runs the scheduler and the sender; the others only handle updates.

- Acquire: `SET key token NX PX ttl`. Renew every `renew_every` seconds with a script that
  extends the TTL only if the key still holds our token; release likewise deletes only ours.
- A leader whose renewals fail (Redis unreachable, or the key taken after a long pause) steps
  down at once, and in any case before its TTL can have run out: it stops counting itself the
  leader `ttl - renew_every` seconds after its last successful renewal, while another process
  can take over only after the full TTL.
- When the leader dies, its key expires within `ttl`; the others try every `renew_every`, so
  one of them takes over within `ttl + renew_every` (20 s with the defaults 15 s and 5 s).

Without Redis there is nothing to coordinate with: the process is the only one (the README's
single-process set-up) and leads from the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.background import cancel_and_wait

logger = logging.getLogger(__name__)

DEFAULT_KEY: Final = "bot:reminders:leader"
DEFAULT_TTL: Final = 15.0
DEFAULT_RENEW: Final = 5.0

_RENEW_LUA: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE_LUA: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

Callback = Callable[[], Awaitable[None]]


def make_identity() -> str:
    """Unique per elector, readable in `redis-cli GET` (which host and process leads)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaderElection:
    def __init__(self, redis: Redis | None, *, key: str = DEFAULT_KEY,
                 ttl: float = DEFAULT_TTL, renew_every: float = DEFAULT_RENEW,
                 identity: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if renew_every <= 0 or ttl <= renew_every:
            raise ValueError("need 0 < renew_every < ttl")
        self.redis = redis
        self.key = key
        self.ttl = ttl
        self.renew_every = renew_every
        self.identity = identity or make_identity()
        self.clock = clock
        self._leader = False
        self._renewed_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._on_elected: Callback | None = None
        self._on_lost: Callback | None = None
        self._renew = redis.register_script(_RENEW_LUA) if redis is not None else None
        self._release = redis.register_script(_RELEASE_LUA) if redis is not None else None

    @property
    def is_leader(self) -> bool:
        """True only while the lock is certainly ours (see the module docstring)."""
        if not self._leader:
            return False
        if self.redis is None:
            return True
        return self.clock() - self._renewed_at < self.ttl - self.renew_every

    async def start(self, on_elected: Callback, on_lost: Callback) -> None:
        self._on_elected = on_elected
        self._on_lost = on_lost
        if self.redis is None:
            await self._become_leader()
            return
        await self._step()
        self._task = asyncio.create_task(self._run(), name=f"leader-election:{self.key}")

    async def stop(self) -> None:
        """Stop campaigning; a leader steps down (callbacks run) and releases the lock, so
        another process takes over at once rather than after the TTL."""
        if self._task is not None:
            task, self._task = self._task, None
            await cancel_and_wait(task)
        was_leader = self._leader
        await self._step_down()
        if was_leader and self._release is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._release(keys=[self.key], args=[self.identity])

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.renew_every)
            await self._step()

    async def _step(self) -> None:
        try:
            if self._leader:
                ms = int(self.ttl * 1000)
                assert self._renew is not None
                renewed = await self._renew(keys=[self.key], args=[self.identity, ms])
                if renewed:
                    self._renewed_at = self.clock()
                else:
                    logger.warning("reminders leader lock lost to another process")
                    await self._step_down()
            else:
                assert self.redis is not None
                taken = await self.redis.set(self.key, self.identity, nx=True,
                                             px=int(self.ttl * 1000))
                if taken:
                    self._renewed_at = self.clock()
                    await self._become_leader()
        except (RedisError, OSError) as exc:
            logger.warning("reminders leader election: Redis error: %s", exc)
            if self._leader and not self.is_leader:
                await self._step_down()
        except Exception:
            # A callback that fails must not end the campaign: log it and try again later.
            logger.exception("reminders leader election step failed")

    async def _become_leader(self) -> None:
        self._leader = True
        logger.info("this process now runs the reminders (%s)", self.identity)
        if self._on_elected is None:
            return
        try:
            await self._on_elected()
        except Exception:
            # A leader that cannot run the scheduler (its job store unreachable…) must not
            # sit on the lock: step down and let any process, this one included, try again.
            logger.exception("reminders could not start; giving up the lead for now")
            await self._step_down()
            if self._release is not None:
                with contextlib.suppress(RedisError, OSError):
                    await self._release(keys=[self.key], args=[self.identity])

    async def _step_down(self) -> None:
        if not self._leader:
            return
        self._leader = False
        logger.info("this process no longer runs the reminders (%s)", self.identity)
        if self._on_lost is not None:
            await self._on_lost()
