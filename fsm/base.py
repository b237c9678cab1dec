from __future__ import annotations

from typing import Self

from aiogram.fsm.context import FSMContext
from pydantic import BaseModel, ConfigDict


class FormData(BaseModel):
    """Typed view of a conversation's FSM data; unknown keys from older versions are ignored."""

    model_config = ConfigDict(extra="ignore")

    @classmethod
    async def load(cls, state: FSMContext) -> Self:
        return cls.model_validate(await state.get_data())

    async def save(self, state: FSMContext) -> None:
        await state.set_data(self.model_dump(mode="json"))
