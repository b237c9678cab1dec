"""Stopping background tasks: cancel_and_wait never swallows the cancellation of whoever
stops it and ends a task that swallowed its own; wait_event does not lose a cancellation the
way Python 3.11's asyncio.wait_for does."""

from __future__ import annotations

import asyncio
import contextlib
import sys

import pytest

from bot.background import cancel_and_wait, wait_event, wait_task


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


async def loop_on(wait: str, event: asyncio.Event, rounds: list[int]) -> None:
    """A background loop that waits for its wake-up event the given way (the shape of the
    reminders sender, the readings outbox and the event log flusher)."""
    while True:
        rounds.append(1)
        if wait == "wait_for":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), 3600)
        else:
            await wait_event(event, 3600)
        event.clear()


@pytest.mark.parametrize("wait", [
    pytest.param("wait_for", marks=pytest.mark.skipif(
        sys.version_info >= (3, 12), reason="asyncio.wait_for was fixed in Python 3.12")),
    "wait_event",
])
async def test_a_cancellation_as_the_event_is_set_ends_the_loop(wait: str) -> None:
    event = asyncio.Event()
    rounds: list[int] = []
    task = asyncio.create_task(loop_on(wait, event, rounds))
    await asyncio.sleep(0.01)  # the loop now waits for the event
    event.set()
    task.cancel()  # in the same step: the wait ends as the cancellation arrives
    await asyncio.wait({task}, timeout=1)
    if wait == "wait_for":
        # Python 3.11's wait_for returns the event's result and drops the cancellation:
        # the loop goes round again, and `await task` would wait for ever.
        assert not task.done() and len(rounds) == 2
        await cancel_and_wait(task, nudge_after=0.1)  # ended by cancelling it again
    assert task.cancelled()


async def test_cancel_and_wait_cancels_again_a_task_that_ignored_it() -> None:
    ignored: list[int] = []

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            ignored.append(1)  # swallowed once, as the wait_for race above does
        await asyncio.sleep(3600)

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0.01)
    await asyncio.wait_for(cancel_and_wait(task, nudge_after=0.1), 5)
    assert task.cancelled() and ignored == [1]


async def test_cancel_and_wait_raises_what_the_task_raised() -> None:
    async def failing() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("cleanup failed") from None

    task = asyncio.create_task(failing())
    await asyncio.sleep(0.01)
    with pytest.raises(RuntimeError, match="cleanup failed"):
        await cancel_and_wait(task)


async def test_wait_event_and_wait_task() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_event(event, 5) is True
    sleeper = asyncio.create_task(asyncio.sleep(3600))
    assert await wait_task(sleeper, 0.01) is False and not sleeper.cancelled()
    await cancel_and_wait(sleeper)
    assert await wait_task(asyncio.create_task(asyncio.sleep(0)), 5) is True
