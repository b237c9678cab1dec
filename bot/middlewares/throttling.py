"""Per-user rate limit: a token bucket of `THROTTLE_BURST` tokens refilled at `THROTTLE_RATE`
tokens a second; each message, edit, button press or inline query takes one.

A user over the limit has the update dropped (not handled). The first drop of an *episode*
is answered with one polite notice; the later ones are not answered at all, or the flood would
be echoed back. The episode ends when the user has been quiet long enough for the bucket to be
full again, so a user who keeps flooding just above the rate gets one notice, not one every
few seconds. A dropped button press is still answered (without text, or with the notice as a
toast when it is the first drop) so the button stops spinning.

The bucket is per user (and bot), in private chats and groups alike, so one user flooding
slows nobody else. Without Redis each instance keeps its own buckets; with Redis they share
them, updated atomically by one Lua script.

System updates (chat member changes, pre-checkout and shipping queries, polls...) pass
untouched and take no tokens: they are not user flooding, and a payment query must be
answered within seconds.
"""

from __future__ import annotations

import enum
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from aiogram import BaseMiddleware, Bot
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.exceptions import TelegramAPIError
from aiogram.types import TelegramObject, Update, User
from aiogram.utils.i18n import I18n
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.fsm_storage.prefetch import admitted_verdict
from bot.i18n import guess_language
from bot.metrics import Metrics
from bot.middlewares.dedupe import update_kind
from bot.middlewares.events import InFlight

logger = logging.getLogger(__name__)

THROTTLED_KINDS: Final = frozenset({"message", "edited_message", "callback_query",
                                    "inline_query"})


def throttled_sender(update: Update, data: dict[str, Any]) -> User | None:
    """The user whose bucket the update takes a token from; None: the limit does not apply
    (no sender, or a system update)."""
    user: User | None = data.get("event_from_user")
    if user is None or update_kind(update) not in THROTTLED_KINDS:
        return None
    return user


class Verdict(enum.Enum):
    ALLOW = "allow"
    DROP = "drop"
    DROP_WITH_NOTICE = "drop_with_notice"  # the first drop of an episode


class RateLimiter(Protocol):
    async def take(self, bot_id: int, user_id: int) -> Verdict:
        """Take one token from the user's bucket, or say why not."""


@dataclass(slots=True)
class Bucket:
    tokens: float
    at: float  # when `tokens` was last brought up to date
    noticed: bool  # the current episode's notice has been given


def step(bucket: Bucket | None, now: float, rate: float, burst: int) -> tuple[Bucket, Verdict]:
    """One request against a bucket. The Redis script below is this, in Lua: keep them alike."""
    if bucket is None:
        bucket = Bucket(tokens=float(burst), at=now, noticed=False)
    else:
        # A clock behind the stored one (another instance's) must not take tokens away.
        elapsed = max(0.0, now - bucket.at)
        bucket = Bucket(tokens=min(float(burst), bucket.tokens + elapsed * rate),
                        at=max(bucket.at, now), noticed=bucket.noticed)
    if bucket.tokens >= burst:
        bucket.noticed = False
    if bucket.tokens >= 1:
        bucket.tokens -= 1
        return bucket, Verdict.ALLOW
    if not bucket.noticed:
        bucket.noticed = True
        return bucket, Verdict.DROP_WITH_NOTICE
    return bucket, Verdict.DROP


def refill_seconds(rate: float, burst: int) -> float:
    """After this long untouched, any bucket is full again: the same as no bucket at all."""
    return burst / rate


class MemoryRateLimiter:
    """Buckets in this process. Only buckets touched within `refill_seconds` are kept, so the
    map holds the users active in the last few seconds, not everyone ever seen."""

    def __init__(self, rate: float, burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: OrderedDict[tuple[int, int], Bucket] = OrderedDict()

    async def take(self, bot_id: int, user_id: int) -> Verdict:
        now = self.clock()
        self._forget_full(now)
        key = (bot_id, user_id)
        bucket, verdict = step(self._buckets.get(key), now, self.rate, self.burst)
        self._buckets[key] = bucket
        self._buckets.move_to_end(key)
        return verdict

    def _forget_full(self, now: float) -> None:
        horizon = refill_seconds(self.rate, self.burst)
        while self._buckets:
            key, bucket = next(iter(self._buckets.items()))
            if now - bucket.at < horizon:
                return
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


# A Lua function of the user's bucket (a hash): rate, burst, now (s), key TTL (ms).
# Returns 1 allow, 0 drop, 2 drop with notice. Mirrors `step`. Also part of the script
# that takes a user's lock (bot/fsm_storage/prefetch.py).
TAKE_FUNCTION_LUA: Final = """
local function take(key, rate, burst, now, ttl)
  local state = redis.call('HMGET', key, 'tokens', 'at', 'noticed')
  local tokens = tonumber(state[1])
  local at = tonumber(state[2])
  local noticed = tonumber(state[3]) or 0
  if tokens == nil or at == nil then
    tokens = burst
    at = now
    noticed = 0
  else
    local elapsed = math.max(0, now - at)
    tokens = math.min(burst, tokens + elapsed * rate)
    at = math.max(at, now)
  end
  if tokens >= burst then
    noticed = 0
  end
  local verdict = 0
  if tokens >= 1 then
    tokens = tokens - 1
    verdict = 1
  elseif noticed == 0 then
    noticed = 1
    verdict = 2
  end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(at),
             'noticed', tostring(noticed))
  redis.call('PEXPIRE', key, ttl)
  return verdict
end
"""
# KEYS[1] the user's bucket; ARGV rate, burst, now (s), key TTL (ms).
_TAKE_LUA: Final = TAKE_FUNCTION_LUA + """
return take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4])
"""
_VERDICTS: Final = {1: Verdict.ALLOW, 0: Verdict.DROP, 2: Verdict.DROP_WITH_NOTICE}


class RedisRateLimiter:
    """Buckets shared by all instances on one Redis. The script reads, refills, takes and
    writes in one atomic step, so two instances cannot both spend the last token.

    The time comes from the calling instance's clock (wall time, kept in step by NTP), not
    from Redis, so that tests can drive it; a small skew between instances only shifts the
    refill a little, never below what was stored.
    """

    def __init__(self, redis: Redis, rate: float, burst: int,
                 clock: Callable[[], float] = time.time, prefix: str = "bot:throttle") -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.redis = redis
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.prefix = prefix
        # A key outlives its refill by a second; after that a missing key means a full bucket.
        self._ttl_ms = math.ceil(refill_seconds(rate, burst) * 1000) + 1000
        self._script = redis.register_script(_TAKE_LUA)

    def key(self, bot_id: int, user_id: int) -> str:
        return f"{self.prefix}:{bot_id}:{user_id}"

    def args(self) -> list[float | int]:
        """The script's arguments for a take now: rate, burst, now, key TTL (ms)."""
        return [self.rate, self.burst, self.clock(), self._ttl_ms]

    async def take(self, bot_id: int, user_id: int) -> Verdict:
        taken = admitted_verdict(bot_id, user_id)  # with the user's lock, if it was
        if taken is None:
            taken = int(await self._script(keys=[self.key(bot_id, user_id)],
                                           args=self.args()))
        return _VERDICTS[taken]


class ThrottlingMiddleware(BaseMiddleware):
    """Outer middleware on `update`: drops what a user sends over the rate (see the module)."""

    def __init__(self, limiter: RateLimiter, i18n: I18n, *, metrics: Metrics | None = None,
                 in_flight: InFlight | None = None) -> None:
        self.limiter = limiter
        self.i18n = i18n
        self.metrics = metrics
        self.in_flight = in_flight

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        user = throttled_sender(event, data)
        if user is None:
            return await handler(event, data)
        kind = update_kind(event)
        bot: Bot = data["bot"]
        try:
            verdict = await self.limiter.take(bot.id, user.id)
        except RedisError:
            # Serving a flood is better than refusing everyone while Redis is away.
            logger.warning("update %s: could not check the rate limit, handling it",
                           event.update_id, exc_info=True)
            verdict = Verdict.ALLOW
        if verdict is Verdict.ALLOW:
            return await handler(event, data)
        fields = {"update_id": event.update_id, "user_id": user.id, "kind": kind,
                  "outcome": "throttled"}
        if verdict is Verdict.DROP_WITH_NOTICE:
            logger.info("user %s over the rate limit: dropping updates", user.id, extra=fields)
        else:
            logger.debug("update %s %s dropped: rate limit", event.update_id, kind,
                         extra=fields)
        if self.metrics is not None:
            self.metrics.count_update(kind, "throttled")
        # Counted as in flight: shutdown waits for the notice as for any handler's reply.
        if self.in_flight is not None:
            self.in_flight.enter()
        try:
            await self._answer(event, user, notify=verdict is Verdict.DROP_WITH_NOTICE)
        finally:
            if self.in_flight is not None:
                self.in_flight.leave()
        return UNHANDLED

    def notice(self, user: User) -> str:
        # The stored language is not read here: that costs a database query per dropped
        # update, the very load throttling is for. Telegram's language is close enough.
        lang = guess_language(user, self.i18n.default_locale)
        return self.i18n.gettext(
            "Too many messages at once — please wait a couple of seconds.", locale=lang
        )

    async def _answer(self, update: Update, user: User, *, notify: bool) -> None:
        try:
            if update.callback_query is not None:
                text = self.notice(user) if notify else None
                await update.callback_query.answer(text=text)
            elif notify and (message := update.message or update.edited_message):
                if message.chat.type == "private":
                    await message.answer(self.notice(user))
                else:
                    # In a group the reply shows whom the notice is for.
                    await message.reply(self.notice(user))
        except TelegramAPIError as exc:
            # The update is dropped either way; a failed courtesy must not reach the handlers'
            # error path, which would answer the flood after all.
            logger.warning("could not tell user %s about the rate limit: %s", user.id,
                           type(exc).__name__)
