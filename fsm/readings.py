"""/reading: account → meter → one value per zone → confirmation."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Final

from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from pydantic import Field, ValidationError

from bot.billing.models import LastReading, Meter, ReadingSource, ReadingState
from bot.fsm_storage.keys import side_slot
from fsm.base import FormData


class ReadingStates(StatesGroup):
    account = State()
    meter = State()
    value = State()
    confirm = State()


class ReadingData(FormData):
    """The meter is kept as the billing system described it when the conversation opened it,
    so that typing the values needs no call to the billing system."""

    account_id: int | None = None
    meter_index: int | None = None
    meter_id: str | None = None
    serial: str = ""
    zones: list[str] = Field(default_factory=list)
    capacity: int = 0
    decimals: int = 0
    # The baseline the reading is judged against (see MeterOutlook.meter.last).
    last_values: list[str] | None = None
    last_taken_on: date | None = None
    last_source: str | None = None
    last_state: str | None = None
    period: str | None = None  # the billing month the reading is for, "2026-11"
    # This period's reading the new one replaces (the supplier's "replace" rule), if any.
    replaced_values: list[str] | None = None
    replaced_on: date | None = None
    # The meter step's buttons, to show them again after a wrong input.
    meter_labels: list[str] = Field(default_factory=list)
    # How many meters the account has: after an accepted reading the next one is offered
    # only when there is another (0: not known, from an older version: nothing offered).
    meter_count: int = 0
    values: list[str | None] = Field(default_factory=list)  # one per zone, None until typed
    key: str | None = None  # the idempotency key, made when the confirmation is shown

    def meter(self) -> Meter:
        last = None
        if self.last_values is not None and self.last_taken_on is not None:
            last = LastReading(
                values=tuple(Decimal(v) for v in self.last_values),
                taken_on=self.last_taken_on,
                source=ReadingSource(self.last_source or ReadingSource.SUBSCRIBER.value),
                state=ReadingState(self.last_state or ReadingState.ACCEPTED.value),
            )
        return Meter(id=self.meter_id or "", serial=self.serial, zones=tuple(self.zones),
                     capacity=self.capacity, decimals=self.decimals, check_date=None,
                     last=last)

    def keep_meter(self, meter: Meter) -> None:
        self.meter_id = meter.id
        self.serial = meter.serial
        self.zones = list(meter.zones)
        self.capacity = meter.capacity
        self.decimals = meter.decimals
        last = meter.last
        self.last_values = None if last is None else [format(v, "f") for v in last.values]
        self.last_taken_on = None if last is None else last.taken_on
        self.last_source = None if last is None else last.source.value
        self.last_state = None if last is None else last.state.value
        self.values = [None] * len(meter.zones)
        self.key = None

    @property
    def unsaved(self) -> bool:
        """Values typed and not submitted: losing them unnoticed would lose the user's work."""
        return any(value is not None for value in self.values)

    @property
    def next_zone(self) -> int | None:
        """The first zone still to type, None when all are in."""
        return next((i for i, v in enumerate(self.values) if v is None), None)

    def typed(self) -> tuple[Decimal, ...]:
        return tuple(Decimal(v) for v in self.values if v is not None)


# --- values typed, then left -------------------------------------------------------------

# The storage slot (next to the conversation's own, under the same chat and user) where the
# values of a reading left unsubmitted wait: a menu entry, a command or a button clears the
# conversation's data, and /reading for that meter picks them up again.
KEPT_DESTINY: Final = "reading_kept"


class KeptReading(FormData):
    """The least needed to continue a reading: which one it was, and what was typed."""

    account_id: int
    meter_id: str
    period: str
    zones: list[str]
    values: list[str | None]


def _slot(state: FSMContext) -> FSMContext:
    return side_slot(state, KEPT_DESTINY)


async def keep_unsaved(state: FSMContext, data: ReadingData) -> None:
    """Keep the values of `data` (one reading at a time: the latest left wins)."""
    if (data.unsaved and data.account_id is not None and data.meter_id is not None
            and data.period is not None):
        await KeptReading(account_id=data.account_id, meter_id=data.meter_id,
                          period=data.period, zones=data.zones,
                          values=data.values).save(_slot(state))


async def drop_unsaved(state: FSMContext) -> None:
    await _slot(state).set_data({})


async def has_unsaved(state: FSMContext) -> bool:
    """Whether a reading's values wait in the slot."""
    return bool(await _slot(state).get_data())


async def take_unsaved(state: FSMContext, account_id: int, meter: Meter,
                       period: str) -> list[str | None] | None:
    """The values kept for this meter, which leave the slot; None when there are none, or
    they no longer fit (another period, the meter's zones changed)."""
    slot = _slot(state)
    stored = await slot.get_data()
    if not stored:
        return None
    try:
        kept = KeptReading.model_validate(stored)
    except ValidationError:  # kept by an older version
        await slot.set_data({})
        return None
    if kept.account_id != account_id or kept.meter_id != meter.id:
        return None  # another meter's: it waits for that one
    await slot.set_data({})
    if kept.period != period or kept.zones != list(meter.zones):
        return None
    return kept.values
