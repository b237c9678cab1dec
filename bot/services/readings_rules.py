"""The rules of meter-reading submission, shared by the /reading conversation and the
billing connectors so that both judge a reading the same way.

Pure: no I/O, no clock (the caller passes ``now``), no texts. Every verdict is a code
(:class:`ReadingInputCode`, :class:`ReadingOutcome`) with the numbers a message needs,
and the UI words it in the user's language.

Decisions on what the user may type (:func:`parse_reading`):

* Dot and comma are both the decimal separator, never a thousands separator: meters with
  three decimals are common (``1.234`` is 1.234 m³ there), and guessing would silently
  turn a reading into one a thousand times larger. Only spaces (regular, no-break,
  thin, narrow no-break, figure) group thousands, and only in groups of exactly three,
  so ``1 234,5`` is one number while ``1234 5678`` is two and is refused.
* ``1.234,5`` / ``1,234.5`` (two separators) are refused as ambiguous, except where
  the user's language groups thousands with commas (English, ``comma_groups``): there
  ``18,843.086`` and ``1,234,567`` are what the bot itself shows, and are read that way;
  ``18,900`` alone could be either (18900 or 18.9) and is refused as ambiguous, with both.
* A separator needs digits on both sides: ``,5`` and ``1234,`` look truncated, and
  asking again is cheaper than guessing which digits are missing.
* Fullwidth digits and punctuation (what CJK keyboards type) are the same characters in
  another width and are normalised; other scripts' digits, superscripts, a leading
  ``+``, exponents (``1e3``), ``NaN`` and ``∞`` are not numbers here.
* A trailing unit is tolerated: ``м3``, ``м³``, ``m3``, ``куб``, ``куб.м``, ``кубов``.
* Trailing zeros after the point are dropped (``1234,000`` → ``1234``): they carry no
  information, and a whole-number meter must not refuse red digits that are all zero.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from enum import StrEnum
from typing import Final, Literal

from bot.billing.models import LastReading, Meter, Period, ReadingSource, ReadingState
from bot.services.errors import DomainError
from bot.suppliers.models import OverMax, ReadingsRules, Resubmission, Supplier

__all__ = [
    "ROLLOVER_SHARE",
    "Assessment",
    "ReadingInputCode",
    "ReadingInputError",
    "ReadingOutcome",
    "WindowStatus",
    "ZoneAssessment",
    "allowed_decimals",
    "assess",
    "check_value",
    "estimate_cost",
    "other_zone_fit",
    "parse_reading",
    "resubmission_decision",
    "window_status",
]


class ReadingInputCode(StrEnum):
    """Why a typed reading was refused before it was compared with anything."""

    EMPTY = "empty"
    NOT_A_NUMBER = "not_a_number"
    NEGATIVE = "negative"
    TOO_MANY_DECIMALS = "too_many_decimals"
    TOO_MANY_DIGITS = "too_many_digits"
    AMBIGUOUS = "ambiguous"  # «18,900» in English: 18900 or 18.9 (`choices`)


class ReadingInputError(DomainError):
    """A reading that cannot be a value of this meter.

    ``limit`` is what the message quotes: the allowed decimals for ``too_many_decimals``,
    the meter's integer digits for ``too_many_digits``.
    """

    def __init__(
        self, code: ReadingInputCode, *, zone: str | None = None, limit: int | None = None,
        choices: tuple[Decimal, Decimal] | None = None,
    ) -> None:
        super().__init__(code.value)
        self.code = code
        self.zone = zone
        self.limit = limit
        self.choices = choices  # for ``ambiguous``: the whole number and the decimal one


class ReadingOutcome(StrEnum):
    """How a reading compares with the previous one, per zone and overall."""

    OK = "ok"
    # Needs the user's confirmation:
    ROLLOVER = "rollover"
    BELOW_ESTIMATE = "below_estimate"
    OVER_MAX = "over_max"  # rejected instead when the supplier's over_max is "reject"
    # Rejected:
    LESS_THAN_PREVIOUS = "less_than_previous"
    ZERO = "zero"


# A counter is taken to have wrapped past zero only if the wrap explains the reading
# with at most this share of the dial turned; anything larger is a typo or a swapped
# meter (complaint 8 asks for real wraps to pass, not for every lower value to).
ROLLOVER_SHARE: Final = Decimal("0.1")
_KOPECK: Final = Decimal("0.01")
# Readings have a dozen or so digits; a fixed, generous context keeps the arithmetic
# exact whatever context the calling thread has set.
_EXACT: Final = Context(prec=60, rounding=ROUND_HALF_UP)

# --- Parsing ---------------------------------------------------------------------------

_FULLWIDTH: Final = str.maketrans(
    {chr(0xFF10 + digit): str(digit) for digit in range(10)}
    | {"\uff0c": ",", "\uff0e": ".", "\uff0d": "-"}
)
_GROUP_SEPARATORS: Final = " \u00a0\u2007\u2009\u202f"
# Phones turn "-" into a typographic minus or dash; the user still meant a minus sign.
_MINUS_SIGNS: Final = "-\u2212\u2013"
_UNIT: Final = re.compile(r"\s*(?:[мm]\s?[3³]|куб(?:ов|а)?(?:\.?\s?[мm])?)\.?\Z", re.IGNORECASE)
_NUMBER: Final = re.compile(
    rf"(?P<minus>[{_MINUS_SIGNS}]\s*)?"
    rf"(?P<int>[0-9]{{1,3}}(?:[{_GROUP_SEPARATORS}][0-9]{{3}})+|[0-9]+)"
    r"(?:[.,](?P<frac>[0-9]+))?"
)
_GROUP_SEPARATOR_RE: Final = re.compile(f"[{_GROUP_SEPARATORS}]")
# English grouping: commas between groups of three, a dot before the decimals.
_COMMA_GROUPED: Final = re.compile(
    r"(?P<int>[0-9]{1,3}(?:,[0-9]{3})+)(?:\.(?P<frac>[0-9]+))?")


def parse_reading(text: str, *, comma_groups: bool = False) -> Decimal:
    """The number the user typed as a reading; see the module notes for what is accepted.

    `comma_groups`: the user's language groups thousands with commas (English).
    Only parses: whether the value fits a meter is :func:`check_value`'s business.
    Raises :class:`ReadingInputError` with ``empty``, ``not_a_number``, ``negative`` or
    ``ambiguous``.
    """
    text = text.translate(_FULLWIDTH).strip()
    if not text:
        raise ReadingInputError(ReadingInputCode.EMPTY)
    unit = _UNIT.search(text)
    if unit is not None:
        text = text[: unit.start()]
    grouped = _COMMA_GROUPED.fullmatch(text) if comma_groups else None
    if grouped is not None:
        whole = grouped["int"].replace(",", "")
        if grouped["frac"] is None and grouped["int"].count(",") == 1:
            head, tail = grouped["int"].split(",")
            tail = tail.rstrip("0")
            raise ReadingInputError(ReadingInputCode.AMBIGUOUS, choices=(
                Decimal(whole), Decimal(f"{head}.{tail}" if tail else head)))
        fraction = (grouped["frac"] or "").rstrip("0")
        return Decimal(f"{whole}.{fraction}" if fraction else whole)
    match = _NUMBER.fullmatch(text)
    if match is None:
        raise ReadingInputError(ReadingInputCode.NOT_A_NUMBER)
    if match["minus"] is not None:
        raise ReadingInputError(ReadingInputCode.NEGATIVE)
    whole = _GROUP_SEPARATOR_RE.sub("", match["int"])
    fraction = (match["frac"] or "").rstrip("0")
    return Decimal(f"{whole}.{fraction}" if fraction else whole)


def is_number_attempt(text: str, *, comma_groups: bool = False) -> bool:
    """Whether `text` is meant as a number (even a wrong one: negative, ambiguous), not a
    word: a reading typed where none is asked is then taken as one."""
    try:
        parse_reading(text, comma_groups=comma_groups)
    except ReadingInputError as exc:
        return exc.code not in (ReadingInputCode.EMPTY, ReadingInputCode.NOT_A_NUMBER)
    return True


# --- Checking a value against the meter ------------------------------------------------


def allowed_decimals(meter: Meter, rules: ReadingsRules) -> int:
    """Digits after the point both the meter shows and the supplier accepts."""
    return min(meter.decimals, rules.decimals)


def check_value(value: Decimal, meter: Meter, zone_index: int, rules: ReadingsRules) -> None:
    """Refuse a value this meter cannot show or this supplier does not accept.

    The integer part is checked first: a value too long for the dial is most often the
    red (fractional) digits typed without a separator (complaint 11), and that is the
    message that helps. Raises :class:`ReadingInputError`.
    """
    if not 0 <= zone_index < len(meter.zones):
        raise IndexError(f"meter {meter.id} has no zone #{zone_index}")
    zone = meter.zones[zone_index]
    if not value.is_finite():
        raise ReadingInputError(ReadingInputCode.NOT_A_NUMBER, zone=zone)
    if value.is_signed():
        raise ReadingInputError(ReadingInputCode.NEGATIVE, zone=zone)
    if value >= 10**meter.capacity:
        raise ReadingInputError(ReadingInputCode.TOO_MANY_DIGITS, zone=zone, limit=meter.capacity)
    allowed = allowed_decimals(meter, rules)
    if _fraction_digits(value) > allowed:
        raise ReadingInputError(ReadingInputCode.TOO_MANY_DECIMALS, zone=zone, limit=allowed)


def _fraction_digits(value: Decimal) -> int:
    # Significant digits only: 12.300 has one. The "f" format never switches to an
    # exponent, unlike str() or normalize().
    _, _, fraction = f"{value:f}".partition(".")
    return len(fraction.rstrip("0"))


# --- Judging the consumption -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ZoneAssessment:
    zone: str
    value: Decimal
    previous: Decimal | None  # None: no usable previous reading
    consumption: Decimal | None  # None: unknown (first reading, or not computable)
    outcome: ReadingOutcome


@dataclass(frozen=True, slots=True)
class Assessment:
    """The verdict on one submission of a meter (all its zones).

    ``rejection`` is set when the reading must not be sent; otherwise every code in
    ``confirmations`` needs the user's explicit "yes" first. ``max_consumption`` is the
    limit that was applied (scaled to the months since the previous reading).
    """

    zones: tuple[ZoneAssessment, ...]
    total: Decimal | None
    max_consumption: Decimal
    confirmations: tuple[ReadingOutcome, ...] = ()
    rejection: ReadingOutcome | None = None

    @property
    def rejected(self) -> bool:
        return self.rejection is not None

    @property
    def needs_confirmation(self) -> bool:
        return not self.rejected and bool(self.confirmations)

    @property
    def outcome(self) -> ReadingOutcome:
        """The one code to lead the answer with."""
        if self.rejection is not None:
            return self.rejection
        return self.confirmations[0] if self.confirmations else ReadingOutcome.OK

    @property
    def consumption(self) -> tuple[Decimal | None, ...]:
        return tuple(zone.consumption for zone in self.zones)


def assess(
    values: tuple[Decimal, ...],
    meter: Meter,
    rules: ReadingsRules,
    *,
    period: Period | None = None,
) -> Assessment:
    """Compare `values` (one per zone, in the meter's zone order) with ``meter.last``.

    ``meter.last`` must be the reading before the one being submitted: when a reading of
    this period is replaced, the caller passes the meter with the reading before that.
    A last reading the supplier rejected is no baseline (the user is likely correcting
    it), so the submission is then judged like a first one.

    `period` is the billing period the reading is for (:attr:`WindowStatus.period`);
    when given, the maximum consumption is multiplied by the months since the previous
    reading, so that a user who skipped months is not refused for it.

    Values are checked with :func:`check_value` first (raises :class:`ReadingInputError`).
    """
    if len(values) != len(meter.zones):
        raise ValueError(f"meter {meter.id} has {len(meter.zones)} zones, got {len(values)}")
    for index, value in enumerate(values):
        check_value(value, meter, index, rules)
    last = meter.last
    if last is not None and last.state is ReadingState.REJECTED:
        last = None
    if last is not None and len(last.values) != len(meter.zones):
        raise ValueError(f"meter {meter.id}: last reading has {len(last.values)} values")

    with localcontext(_EXACT):
        zones = tuple(
            _assess_zone(zone, value, last, index, meter.capacity, rules)
            for index, (zone, value) in enumerate(zip(meter.zones, values, strict=True))
        )
        known = [zone.consumption for zone in zones if zone.consumption is not None]
        total = sum(known, Decimal(0)) if len(known) == len(zones) else None
        limit = Decimal(rules.max_consumption) * _months_since(last, period)

    outcomes = {zone.outcome for zone in zones}
    over_max = total is not None and total > limit
    rejection: ReadingOutcome | None = None
    confirmations: tuple[ReadingOutcome, ...] = ()
    # A wrong value outranks a large one: its consumption is meaningless anyway.
    if ReadingOutcome.LESS_THAN_PREVIOUS in outcomes:
        rejection = ReadingOutcome.LESS_THAN_PREVIOUS
    elif ReadingOutcome.ZERO in outcomes:
        rejection = ReadingOutcome.ZERO
    elif over_max and rules.over_max is OverMax.REJECT:
        rejection = ReadingOutcome.OVER_MAX
    else:
        confirmations = tuple(
            code
            for code in (ReadingOutcome.ROLLOVER, ReadingOutcome.BELOW_ESTIMATE)
            if code in outcomes
        ) + ((ReadingOutcome.OVER_MAX,) if over_max else ())
    return Assessment(zones, total, limit, confirmations, rejection)


def _assess_zone(
    zone: str,
    value: Decimal,
    last: LastReading | None,
    index: int,
    capacity: int,
    rules: ReadingsRules,
) -> ZoneAssessment:
    if last is None:
        return ZoneAssessment(zone, value, None, None, ReadingOutcome.OK)
    previous = last.values[index]
    if value >= previous:
        consumption = value - previous
        zero = consumption == 0 and not rules.allow_zero
        outcome = ReadingOutcome.ZERO if zero else ReadingOutcome.OK
        return ZoneAssessment(zone, value, previous, consumption, outcome)
    modulus = Decimal(10) ** capacity
    wrapped = modulus - previous + value
    if rules.allow_rollover and wrapped <= modulus * ROLLOVER_SHARE:
        return ZoneAssessment(zone, value, previous, wrapped, ReadingOutcome.ROLLOVER)
    if last.source is ReadingSource.ESTIMATE:
        # The supplier's estimate may overshoot the real dial; the real reading then
        # settles it by a recalculation, which refusing it would make impossible
        # (complaint 5). The consumption of the period is unknown until then.
        return ZoneAssessment(zone, value, previous, None, ReadingOutcome.BELOW_ESTIMATE)
    return ZoneAssessment(zone, value, previous, None, ReadingOutcome.LESS_THAN_PREVIOUS)


def other_zone_fit(meter: Meter, index: int, value: Decimal, limit: Decimal) -> int | None:
    """The zone (index) whose reading `value` looks like when it does not fit its own zone
    `index`: the day's typed for the night, or the two swapped (complaint 7, tariff zones
    mixed up). It does not fit its own zone when it is below the zone's previous reading or
    more than `limit` above it; it fits another when it is at most `limit` above that
    zone's previous reading. None: no such zone, or nothing to compare with."""
    last = meter.last
    if (len(meter.zones) < 2 or last is None or last.state is ReadingState.REJECTED
            or len(last.values) != len(meter.zones)):
        return None
    own = last.values[index]
    if own <= value <= own + limit:
        return None
    fits = [j for j, previous in enumerate(last.values)
            if j != index and previous <= value <= previous + limit]
    # The nearest from below: the zone whose dial the value most likely continues.
    return min(fits, key=lambda j: value - last.values[j]) if fits else None


def _months_since(last: LastReading | None, period: Period | None) -> int:
    if last is None or period is None:
        return 1
    before = Period.of(last.taken_on)
    months = (period.year - before.year) * 12 + (period.month - before.month)
    return max(1, months)


def estimate_cost(total_consumption: Decimal, tariff: Decimal) -> Decimal:
    """Consumption × tariff in roubles, rounded half up to kopecks as receipts are."""
    if total_consumption.is_signed() or tariff.is_signed():
        raise ValueError("consumption and tariff cannot be negative")
    with localcontext(_EXACT):
        return (total_consumption * tariff).quantize(_KOPECK, rounding=ROUND_HALF_UP)


# --- The submission window -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WindowStatus:
    """The window that matters now: the current one if open, else the next one.

    Dates are in the supplier's local calendar; ``opens_at`` and ``closes_at`` are the
    first and last days readings are accepted, both inclusive.
    """

    open: bool
    opens_at: date
    closes_at: date
    period: Period  # the billing month a reading in this window is for
    today: date  # the supplier's local date at `now`


def window_status(now: datetime, supplier: Supplier) -> WindowStatus:
    """Whether `supplier` accepts readings at `now` (an aware datetime), and when."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    # The day counts in the supplier's zone: 20:30 UTC on the 24th is already the 25th
    # in Perm, and the supplier's billing sees it so.
    today = now.astimezone(supplier.zone).date()
    window = supplier.readings.window
    opens_at, closes_at = window.bounds(today.year, today.month)
    if today > closes_at:
        following = Period.of(today).shift(1)
        opens_at, closes_at = window.bounds(following.year, following.month)
    return WindowStatus(
        open=opens_at <= today <= closes_at,
        opens_at=opens_at,
        closes_at=closes_at,
        period=Period.of(opens_at),
        today=today,
    )


def resubmission_decision(
    existing_this_period: bool, rules: ReadingsRules
) -> Literal["new", "replace", "refuse"]:
    """What a submission becomes, given whether the meter already has one this period."""
    if not existing_this_period:
        return "new"
    return "replace" if rules.resubmission is Resubmission.REPLACE else "refuse"
