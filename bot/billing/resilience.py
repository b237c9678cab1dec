"""Retries and a circuit breaker for calls to systems we do not control.

Both are transport-agnostic so any connector (billing, payments, e-mail) can reuse them. Time is
injected — `sleep` on the retry policy, `clock` on the breaker — so tests run instantly and
deterministically.

How they combine in a connector: the breaker guards every single attempt (each one is real load on
the remote system), and the retry policy loops over attempts. An open breaker is never retried:
it exists precisely to stop calling.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TypeVar

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpen",
    "Jitter",
    "RetryPolicy",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

# Beyond this many doublings the delay is capped anyway; stopping here keeps 2**n finite.
_MAX_EXPONENT = 62


class Jitter(StrEnum):
    """How a backoff delay is randomised, so that clients failing together do not retry together.

    FULL: uniform in [0, d] — spreads retries best; the AWS analysis recommends it.
    EQUAL: uniform in [d/2, d] — keeps a guaranteed minimum wait.
    NONE: exactly d — only for tests and for callers that need predictability.
    """

    FULL = "full"
    EQUAL = "equal"
    NONE = "none"


async def _default_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff with jitter.

    `attempts` counts the first call too: 3 means one call and at most two retries. The delay
    before retry n (n = 1 for the second attempt) is drawn from `base_delay * 2**(n-1)`, capped
    at `max_delay`, then jittered.

    A server may ask for a longer pause (HTTP Retry-After). It is honoured up to
    `max_retry_after`; a longer requested pause ends the retries instead, because a user waiting
    on a chat reply is better served by "try later" than by a silent half-minute wait, and
    retrying earlier than asked would only be refused again.
    """

    attempts: int = 3
    base_delay: float = 0.2
    max_delay: float = 2.0
    jitter: Jitter = Jitter.FULL
    max_retry_after: float = 5.0
    sleep: Callable[[float], Awaitable[None]] = field(
        default=_default_sleep, compare=False, repr=False
    )
    rand: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must not be negative")
        if self.max_delay < self.base_delay:
            raise ValueError("max_delay must not be less than base_delay")

    def without_retries(self) -> RetryPolicy:
        """The same policy limited to one attempt: for calls that must not be repeated."""
        return replace(self, attempts=1)

    def ceiling(self, retry: int) -> float:
        """The un-jittered delay before retry `retry` (1-based): the upper bound of `backoff`."""
        if retry < 1:
            raise ValueError("retry numbers start at 1")
        exponent = min(retry - 1, _MAX_EXPONENT)
        return min(self.max_delay, self.base_delay * 2.0**exponent)

    def backoff(self, retry: int) -> float:
        """A jittered delay before retry `retry` (1-based)."""
        ceiling = self.ceiling(retry)
        if self.jitter is Jitter.FULL:
            return self.rand() * ceiling
        if self.jitter is Jitter.EQUAL:
            return ceiling / 2 + self.rand() * ceiling / 2
        return ceiling

    def delay(self, retry: int, retry_after: float | None = None) -> float | None:
        """How long to wait before retry `retry`, or None when the retry should not happen."""
        if retry >= self.attempts:
            return None
        delay = self.backoff(retry)
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            delay = max(delay, retry_after)
        return delay

    async def run(
        self,
        operation: Callable[[int], Awaitable[T]],
        *,
        retryable: Callable[[Exception], bool],
        retry_after: Callable[[Exception], float | None] = lambda _exc: None,
        on_retry: Callable[[int, float, Exception], None] | None = None,
    ) -> T:
        """Call `operation(attempt)` (attempt is 1-based) until it returns, raises something not
        `retryable`, or the attempts run out; the last exception propagates unchanged.

        `on_retry(next_attempt, delay, exc)` is called before each pause, e.g. for logging.
        """
        attempt = 1
        while True:
            try:
                return await operation(attempt)
            except Exception as exc:
                if not retryable(exc):
                    raise
                delay = self.delay(attempt, retry_after(exc))
                if delay is None:
                    raise
                if on_retry is not None:
                    on_retry(attempt + 1, delay, exc)
                await self.sleep(delay)
                attempt += 1


class BreakerState(StrEnum):
    CLOSED = "closed"  # calls go through; consecutive failures are counted
    OPEN = "open"  # calls fail fast until the reset timeout has passed
    HALF_OPEN = "half_open"  # one trial call decides between closed and open


class CircuitOpen(Exception):
    """The breaker refused a call without making it."""

    def __init__(self, name: str, retry_in: float) -> None:
        label = f" '{name}'" if name else ""
        super().__init__(f"circuit{label} is open; next trial in {retry_in:.1f} s")
        self.name = name
        self.retry_in = retry_in


class CircuitBreaker:
    """Stops calling a system after `failure_threshold` consecutive failures.

    While open, calls raise `CircuitOpen` at once: users get a prompt "try later" instead of
    waiting for timeouts, and a struggling system gets room to recover. After `reset_timeout`
    seconds one trial call is let through (half-open): success closes the circuit, failure opens
    it for another `reset_timeout`; other calls made while the trial is in flight fail fast.

    Use one breaker per remote system: sharing one would let an outage of one system block
    another, and keeping several for one system would each need their own failures to notice.
    The breaker is meant for one event loop; it holds no locks because its methods never await.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        name: str = "",
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if reset_timeout <= 0:
            raise ValueError("reset_timeout must be positive")
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.name = name
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_started_at: float | None = None

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker(name={self.name!r}, state={self.state.value}, "
            f"failures={self._failures})"
        )

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at < self.reset_timeout:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    @property
    def failures(self) -> int:
        """Consecutive failures counted while closed."""
        return self._failures

    def allow(self) -> None:
        """Admit a call or raise `CircuitOpen`. An admitted call must end with exactly one of
        `record_success`, `record_failure` or `release`."""
        state = self.state
        now = self._clock()
        if state is BreakerState.CLOSED:
            return
        if state is BreakerState.OPEN:
            assert self._opened_at is not None
            raise CircuitOpen(self.name, self._opened_at + self.reset_timeout - now)
        # A trial that never reported back (its task was killed mid-call) must not keep the
        # circuit shut forever: after another reset_timeout it is presumed lost.
        trial_lost = (
            self._trial_started_at is not None
            and now - self._trial_started_at >= self.reset_timeout
        )
        if self._trial_started_at is None or trial_lost:
            self._trial_started_at = now
            log.info("circuit half-open, trial call", extra={"breaker": self.name})
            return
        raise CircuitOpen(self.name, self._trial_started_at + self.reset_timeout - now)

    def record_success(self) -> None:
        if self._opened_at is not None:
            log.info("circuit closed", extra={"breaker": self.name})
        self._failures = 0
        self._opened_at = None
        self._trial_started_at = None

    def record_failure(self) -> None:
        if self._opened_at is not None:
            # A failed trial, or a late failure of a call admitted before the circuit opened:
            # either way the system is still unwell, so the wait starts over.
            self._opened_at = self._clock()
            self._trial_started_at = None
            log.warning("circuit re-opened", extra={"breaker": self.name})
            return
        self._failures += 1
        if self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
            log.warning(
                "circuit opened after %d consecutive failures",
                self._failures,
                extra={"breaker": self.name},
            )

    def release(self) -> None:
        """End an admitted call that gave no verdict (e.g. cancelled by its caller)."""
        self._trial_started_at = None

    async def call(
        self,
        operation: Callable[[], Awaitable[T]],
        *,
        is_failure: Callable[[Exception], bool] = lambda _exc: True,
    ) -> T:
        """Run `operation` under the breaker. An exception counts as a failure when `is_failure`
        says so; otherwise (e.g. "account not found") the system did answer, which is a success
        as far as availability goes."""
        self.allow()
        try:
            result = await operation()
        except Exception as exc:
            if is_failure(exc):
                self.record_failure()
            else:
                self.record_success()
            raise
        except BaseException:
            self.release()
            raise
        self.record_success()
        return result
