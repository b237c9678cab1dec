"""Router-wide tuning applied once the routers are built.

aiogram runs every filter that is not a coroutine (magic filters such as `F.text == ...`,
`F.data.startswith(...)`, plain functions) through `asyncio.to_thread`: a hop to a worker
thread and back for each check, and an update passes dozens of checks on its way through
the routers. Ours are all microseconds of pure Python, so `inline_sync_filters` runs them
on the event loop instead: same result, no thread hop. Handlers are left alone (ours are
coroutines; a blocking one would still get its thread).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.handler import FilterObject, HandlerObject


def _handlers(router: Router) -> Iterator[HandlerObject]:
    for observer in router.observers.values():
        yield observer._handler  # the router-level filters (`router.message.filter(...)`)
        yield from observer.handlers
    for child in router.sub_routers:
        yield from _handlers(child)


def _inline(callback: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(callback)
    async def run(*args: Any, **kwargs: Any) -> Any:
        return callback(*args, **kwargs)

    return run


def inline_sync_filters(router: Router) -> int:
    """Make every synchronous filter under `router` run on the event loop; returns how many."""
    changed = 0
    for handler in _handlers(router):
        for item in handler.filters or ():
            if isinstance(item, FilterObject) and not item.awaitable:
                # `params` and `varkw` were read from the original callback: unchanged.
                item.callback = _inline(item.callback)
                item.awaitable = True
                changed += 1
    return changed
