"""/reading: account → meter → one value per zone → confirmation."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from aiogram.fsm.state import State, StatesGroup
from pydantic import Field

from bot.billing.models import LastReading, Meter, ReadingSource, ReadingState
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
    def next_zone(self) -> int | None:
        """The first zone still to type, None when all are in."""
        return next((i for i, v in enumerate(self.values) if v is None), None)

    def typed(self) -> tuple[Decimal, ...]:
        return tuple(Decimal(v) for v in self.values if v is not None)
