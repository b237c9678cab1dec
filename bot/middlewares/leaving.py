"""Seeing a user leave a conversation midway, whichever router takes them away.

Menu entries, commands and other features' buttons must work at any step (`is_step_input`,
`may_leave` in bot/filters.py), and each feature clears the state its own way. So what a
conversation wants to do about being left (keep what was typed, tell the user it was not
finished) is done around the handler, by an outer middleware on the root router: a
`LeavingWatch` subclass says which steps it watches, what to note before the handler and
what to do after it. The step's own input passes untouched, without a storage round trip.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from aiogram import BaseMiddleware, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import TelegramObject

from bot.db.models import User
from bot.filters import may_leave
from bot.fsm_storage.tracked import TrackedState

Noted = TypeVar("Noted")


class LeavingWatch(BaseMiddleware, ABC, Generic[Noted]):
    # The steps watched (raw state names), and the callback data prefixes (with their ':')
    # of the conversation's own buttons, which do not leave it.
    steps: frozenset[str | None]
    own_buttons: tuple[str, ...]

    @abstractmethod
    async def before(self, state: FSMContext) -> Noted | None:
        """What to remember of the step before the handler runs; None: nothing to watch."""

    @abstractmethod
    async def after(self, noted: Noted, state_after: str | None, state: FSMContext,
                    user: User, data: dict[str, Any]) -> None:
        """Once the handler has run, with the state it left."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        state: FSMContext | None = data.get("state")
        user: User | None = data.get("user")
        if (state is None or user is None or data.get("raw_state") not in self.steps
                or not may_leave(event, self.own_buttons)):
            return await handler(event, data)
        noted = await self.before(state)
        if noted is None:
            return await handler(event, data)
        result = await handler(event, data)
        after = state.current if isinstance(state, TrackedState) else await state.get_state()
        await self.after(noted, after, state, user, data)
        return result

    def watch(self, router: Router) -> None:
        """On the root router: it sees every message and button press."""
        router.message.outer_middleware(self)
        router.callback_query.outer_middleware(self)
