"""The pace of a fan-out: Telegram allows about 30 messages a second in bulk and one a second
to one chat (DOMAIN.md §7), and answers 429 with `retry_after` beyond that.

- Global: messages are spaced evenly at `rate` a second (GCRA without a burst), 25 by default,
  so the bot's answers to people talking to it during a fan-out still fit under Telegram's 30.
  Even spacing rather than a bucket: a bucket's burst would put 25 messages into a few
  milliseconds, which a sliding-window counter on Telegram's side may count twice.
- Per chat: at least `chat_interval` seconds between two messages to one chat (a user with
  several accounts gets several reminders), 1.1 s by default: 1 s plus a margin for the jitter
  between our clock and the moment Telegram counts the request.
- A 429 pauses every send until `retry_after` has passed: Telegram does not say whether the
  global or the chat's limit was hit, and waiting for the global one is never wrong.
- Two gates: `acquire` hands out the slots before a reminder is claimed (so a crash while
  waiting leaves nothing claimed), and `pace` spaces the requests themselves right before
  they go out: a stall in between (a slow database commit) would otherwise let the messages
  that queued up behind it leave in a burst.

The limiter is per process: only the leader sends (see `leader`). An operator running
`python -m bot reminders send-due` while the bot is sending shares Telegram's budget with it;
the command's `--rate` lowers its own pace.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Final

DEFAULT_RATE: Final = 25.0
DEFAULT_CHAT_INTERVAL: Final = 1.1
# Chats touched longer ago than this are forgotten: their spacing no longer matters.
_FORGET_AFTER: Final = 60.0


class RateLimiter:
    def __init__(self, rate: float = DEFAULT_RATE,
                 chat_interval: float = DEFAULT_CHAT_INTERVAL, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if rate <= 0 or chat_interval < 0:
            raise ValueError("rate must be positive and chat_interval not negative")
        self.interval = 1.0 / rate
        self.chat_interval = chat_interval
        self.clock = clock
        self.sleep = sleep
        self._next_slot = 0.0  # the theoretical arrival time of the next message (GCRA)
        self._next_send = 0.0  # the same for the requests as they leave (see `pace`)
        self._paused_until = 0.0
        self._chats: OrderedDict[int, float] = OrderedDict()  # chat → when it may get one
        self._lock = asyncio.Lock()
        self._send_lock = asyncio.Lock()

    @property
    def rate(self) -> float:
        return 1.0 / self.interval

    def chat_ready_in(self, chat_id: int) -> float:
        """Seconds until `chat_id` may get its next message (0: now)."""
        return max(0.0, self._chats.get(chat_id, 0.0) - self.clock())

    def pause(self, seconds: float) -> None:
        """After a 429: nobody gets anything for `seconds`."""
        self._paused_until = max(self._paused_until, self.clock() + seconds)

    @property
    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self.clock())

    async def acquire(self, chat_id: int) -> None:
        """Wait for a global slot and for the chat's turn, then take both."""
        async with self._lock:  # slots are handed out in order, one waiter at a time
            while True:
                now = self.clock()
                wait = max(self._next_slot - now, self._paused_until - now,
                           self._chats.get(chat_id, 0.0) - now)
                if wait <= 0:
                    break
                await self.sleep(wait)
            self._next_slot = max(self._next_slot, now) + self.interval
            self._chats[chat_id] = now + self.chat_interval
            self._chats.move_to_end(chat_id)
            self._forget(now)

    async def pace(self) -> None:
        """Right before a request: at least one interval since the previous request left.
        Waits only when something delayed the messages after their slot was taken."""
        async with self._send_lock:
            now = self.clock()
            wait = self._next_send - now
            if wait > 0:
                await self.sleep(wait)
                now = self.clock()
            self._next_send = max(self._next_send, now) + self.interval

    def _forget(self, now: float) -> None:
        while self._chats:
            chat, ready_at = next(iter(self._chats.items()))
            if ready_at > now - _FORGET_AFTER:
                return
            del self._chats[chat]
