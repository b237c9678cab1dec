"""cancel_and_wait: stopping a task never swallows the cancellation of whoever stops it."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from bot.background import cancel_and_wait


async def slow_to_die(started: asyncio.Event) -> None:
    """A task that takes a moment to wind down when cancelled (a send finishing, say)."""
    started.set()
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        await asyncio.sleep(0.2)
        raise


async def stopper(stop: object, inner: asyncio.Task[None], after: list[str]) -> None:
    """Stops `inner` the given way, then goes on as a leader's loop would."""
    if stop == "suppress":
        inner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await inner
    else:
        await cancel_and_wait(inner)
    after.append("went on")
    await asyncio.sleep(3600)


async def test_the_task_itself_is_cancelled_and_awaited() -> None:
    started = asyncio.Event()
    inner = asyncio.create_task(slow_to_die(started))
    await started.wait()
    await cancel_and_wait(inner)  # its own cancellation is not an error here
    assert inner.cancelled()


@pytest.mark.parametrize("stop", ["suppress", "cancel_and_wait"])
async def test_the_callers_cancellation_is_not_swallowed(stop: str) -> None:
    started = asyncio.Event()
    inner = asyncio.create_task(slow_to_die(started))
    await started.wait()
    after: list[str] = []
    outer = asyncio.create_task(stopper(stop, inner, after))
    await asyncio.sleep(0.05)  # the outer task is now waiting for the inner one to end
    outer.cancel()
    await asyncio.wait({outer}, timeout=2)
    if stop == "suppress":
        # The pattern this replaces: the cancellation is lost and the task runs on, so
        # whoever cancelled it and waits for it waits for ever.
        assert not outer.done() and after == ["went on"]
        outer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await outer
    else:
        assert outer.cancelled() and after == []
