"""Meter-reading rules: parsing, meter checks, consumption verdicts, window, resubmission."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, localcontext
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bot.billing.models import LastReading, Meter, Period, ReadingSource, ReadingState
from bot.services.errors import DomainError
from bot.services.readings_rules import (
    Assessment,
    ReadingInputCode,
    ReadingInputError,
    ReadingOutcome,
    WindowStatus,
    allowed_decimals,
    assess,
    check_value,
    estimate_cost,
    other_zone_fit,
    parse_reading,
    resubmission_decision,
    window_status,
)
from bot.suppliers import load_catalog
from bot.suppliers.models import (
    Catalog,
    OverMax,
    ReadingsRules,
    ReadingWindow,
    Resubmission,
    Supplier,
)

CATALOG: Catalog = load_catalog()
D = Decimal


def supplier(code: str) -> Supplier:
    found = CATALOG.get(code)
    assert found is not None, code
    return found


def make_rules(**overrides: Any) -> ReadingsRules:
    values: dict[str, Any] = {
        "window": ReadingWindow(start_day=15, end_day=25),
        "decimals": 3,
        "max_consumption": 1500,
        "allow_zero": True,
        "allow_rollover": True,
        "resubmission": Resubmission.REPLACE,
        "over_max": OverMax.CONFIRM,
        **overrides,
    }
    return ReadingsRules(**values)


def make_last(
    *values: str,
    taken_on: date = date(2024, 2, 20),
    source: ReadingSource = ReadingSource.SUBSCRIBER,
    state: ReadingState = ReadingState.ACCEPTED,
) -> LastReading:
    return LastReading(tuple(D(v) for v in values), taken_on, source, state)


def make_meter(
    last: LastReading | None = None,
    *,
    zones: tuple[str, ...] = ("total",),
    capacity: int = 5,
    decimals: int = 3,
) -> Meter:
    return Meter(
        id="m1",
        serial="SN-0001",
        zones=zones,
        capacity=capacity,
        decimals=decimals,
        check_date=None,
        last=last,
    )


def refused_input(text: str) -> ReadingInputError:
    with pytest.raises(ReadingInputError) as caught:
        parse_reading(text)
    return caught.value


def refused_value(
    value: str, meter: Meter, rules: ReadingsRules, zone: int = 0
) -> ReadingInputError:
    with pytest.raises(ReadingInputError) as caught:
        check_value(D(value), meter, zone, rules)
    return caught.value


def values(*texts: str) -> tuple[Decimal, ...]:
    return tuple(D(t) for t in texts)


# --- parse_reading: accepted formats ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1234", "1234"),
        ("0", "0"),
        ("1234,5", "1234.5"),
        ("1234.5", "1234.5"),
        ("1.234", "1.234"),  # a dot is always decimal: three-decimal meters are common
        ("1,234", "1.234"),
        ("4,37507", "4.37507"),  # the СПб receipt in the seeds
        ("1 234,5", "1234.5"),
        ("1\u00a0234,5", "1234.5"),  # no-break space (what Telegram clients paste)
        ("1\u2009234.5", "1234.5"),  # thin space
        ("1\u202f234,5", "1234.5"),  # narrow no-break space
        ("1\u2007234", "1234"),  # figure space
        ("12 345 678", "12345678"),
        ("123 456", "123456"),
        ("01234", "1234"),
        ("00012,340", "12.34"),
        ("  1234  ", "1234"),
        ("\t1234,5\n", "1234.5"),
        ("1234 м3", "1234"),
        ("1234м3", "1234"),
        ("1234 м³", "1234"),
        ("1234 М3", "1234"),
        ("1234 m3", "1234"),  # Latin m
        ("1234 м 3", "1234"),
        ("1234 куб", "1234"),
        ("1234 куб.", "1234"),
        ("1234 куб.м", "1234"),
        ("1234 куб. м", "1234"),
        ("1234 кубов", "1234"),
        ("1 234,5 м³", "1234.5"),
        ("1234,5м3.", "1234.5"),
        ("１２３４，５", "1234.5"),  # fullwidth digits and comma
        ("１２３４．５６７", "1234.567"),
    ],
)
def test_parse_accepts(text: str, expected: str) -> None:
    parsed = parse_reading(text)
    assert parsed == D(expected)
    assert str(parsed) == expected  # no exponent, no trailing zeros


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1234,000", "1234"), ("1234,500", "1234.5"), ("0,000", "0"), ("0.10", "0.1")],
)
def test_parse_drops_trailing_fraction_zeros(text: str, expected: str) -> None:
    parsed = parse_reading(text)
    assert str(parsed) == expected
    assert parsed.as_tuple().exponent == D(expected).as_tuple().exponent


@pytest.mark.parametrize(
    ("text", "expected"),
    [("18,843.086", "18843.086"), ("18,843.080 m3", "18843.08"), ("1,234,567", "1234567"),
     ("18,900.0", "18900"), ("18900,5", "18900.5"), ("18.900", "18.9"), ("1 234.5", "1234.5")],
)
def test_english_reads_its_own_comma_grouping(text: str, expected: str) -> None:
    """The bot shows «18,843.086» in English; a trial typed it back and was refused."""
    parsed = parse_reading(text, comma_groups=True)
    assert str(parsed) == expected


@pytest.mark.parametrize(
    ("text", "whole", "decimal"),
    [("18,900", "18900", "18.9"), ("99,960", "99960", "99.96"), ("100,000", "100000", "100"),
     ("5,772", "5772", "5.772")],
)
def test_english_single_comma_group_is_ambiguous(text: str, whole: str, decimal: str) -> None:
    """«18,900» was read as 18.9 in English: both readings are offered instead."""
    with pytest.raises(ReadingInputError) as caught:
        parse_reading(text, comma_groups=True)
    assert caught.value.code is ReadingInputCode.AMBIGUOUS
    assert caught.value.choices is not None
    assert [str(c) for c in caught.value.choices] == [whole, decimal]
    # Russian keeps the comma for decimals, as its receipts print them.
    assert str(parse_reading(text)) == decimal


# --- parse_reading: refusals ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", ReadingInputCode.EMPTY),
        ("   ", ReadingInputCode.EMPTY),
        ("\u00a0\n", ReadingInputCode.EMPTY),
        ("abc", ReadingInputCode.NOT_A_NUMBER),
        ("12a4", ReadingInputCode.NOT_A_NUMBER),
        ("🔥", ReadingInputCode.NOT_A_NUMBER),
        ("1234 🔥", ReadingInputCode.NOT_A_NUMBER),
        ("1234👍", ReadingInputCode.NOT_A_NUMBER),
        ("м3", ReadingInputCode.NOT_A_NUMBER),
        # several numbers
        ("1234 5678", ReadingInputCode.NOT_A_NUMBER),
        ("1234 567", ReadingInputCode.NOT_A_NUMBER),  # day and night in one message
        ("1234 567,5", ReadingInputCode.NOT_A_NUMBER),
        ("12 34", ReadingInputCode.NOT_A_NUMBER),
        ("12 3456", ReadingInputCode.NOT_A_NUMBER),
        ("1234, 5678", ReadingInputCode.NOT_A_NUMBER),
        ("1234 и 5678", ReadingInputCode.NOT_A_NUMBER),
        ("1234\n5678", ReadingInputCode.NOT_A_NUMBER),
        ("1234/567", ReadingInputCode.NOT_A_NUMBER),
        # ambiguous or malformed separators
        ("1.234,5", ReadingInputCode.NOT_A_NUMBER),
        ("1,234.5", ReadingInputCode.NOT_A_NUMBER),
        ("1..5", ReadingInputCode.NOT_A_NUMBER),
        ("1,2,3", ReadingInputCode.NOT_A_NUMBER),
        (",5", ReadingInputCode.NOT_A_NUMBER),
        ("1234,", ReadingInputCode.NOT_A_NUMBER),
        ("1234.", ReadingInputCode.NOT_A_NUMBER),
        ("1  234", ReadingInputCode.NOT_A_NUMBER),
        ("1_234", ReadingInputCode.NOT_A_NUMBER),
        ("1'234", ReadingInputCode.NOT_A_NUMBER),
        ("1 234 5", ReadingInputCode.NOT_A_NUMBER),
        ("1,234 567", ReadingInputCode.NOT_A_NUMBER),
        # what Decimal() or float() would take but a reading is not
        ("1e3", ReadingInputCode.NOT_A_NUMBER),
        ("1E3", ReadingInputCode.NOT_A_NUMBER),
        ("+5", ReadingInputCode.NOT_A_NUMBER),
        ("∞", ReadingInputCode.NOT_A_NUMBER),
        ("NaN", ReadingInputCode.NOT_A_NUMBER),
        ("nan", ReadingInputCode.NOT_A_NUMBER),
        ("Infinity", ReadingInputCode.NOT_A_NUMBER),
        ("0x10", ReadingInputCode.NOT_A_NUMBER),
        ("1234-", ReadingInputCode.NOT_A_NUMBER),
        # other scripts' digits and superscripts
        ("١٢٣٤", ReadingInputCode.NOT_A_NUMBER),
        ("१२३४", ReadingInputCode.NOT_A_NUMBER),
        ("¹²³", ReadingInputCode.NOT_A_NUMBER),
        ("1234³", ReadingInputCode.NOT_A_NUMBER),
        # negative, however the minus is typed
        ("-5", ReadingInputCode.NEGATIVE),
        ("−5", ReadingInputCode.NEGATIVE),
        ("– 5", ReadingInputCode.NEGATIVE),
        ("－５", ReadingInputCode.NEGATIVE),
        ("-0", ReadingInputCode.NEGATIVE),
        ("-1 234,5 м3", ReadingInputCode.NEGATIVE),
        ("-abc", ReadingInputCode.NOT_A_NUMBER),
        ("-inf", ReadingInputCode.NOT_A_NUMBER),
    ],
)
def test_parse_refuses(text: str, code: ReadingInputCode) -> None:
    error = refused_input(text)
    assert error.code is code
    assert error.zone is None and error.limit is None


def test_input_error_is_a_domain_error_with_its_code() -> None:
    error = refused_input("abc")
    assert isinstance(error, DomainError)
    assert str(error) == "not_a_number"


_GROUP_SEPARATORS = [" ", "\u00a0", "\u2009", "\u202f"]


def _written(whole: int, fraction: str, point: str, separator: str | None) -> str:
    digits = f"{whole:,}".replace(",", separator) if separator is not None else str(whole)
    return f"{digits}{point}{fraction}" if fraction else digits


@given(
    whole=st.integers(min_value=0, max_value=10**12),
    fraction=st.text(alphabet="0123456789", max_size=6),
    point=st.sampled_from([",", "."]),
    separator=st.none() | st.sampled_from(_GROUP_SEPARATORS),
    padding=st.sampled_from(["", " ", "  ", "\t", "\u00a0"]),
    unit=st.sampled_from(["", " м3", "м³", " куб"]),
    zeros=st.sampled_from(["", "0", "00"]),
)
def test_parse_round_trips_written_numbers(
    whole: int,
    fraction: str,
    point: str,
    separator: str | None,
    padding: str,
    unit: str,
    zeros: str,
) -> None:
    # A leading zero would make the first group longer than three digits: not an input.
    assume(not (zeros and separator is not None and whole >= 1000))
    text = padding + zeros + _written(whole, fraction, point, separator) + unit + padding
    expected = D(f"{whole}.{fraction}") if fraction else D(whole)
    parsed = parse_reading(text)
    assert parsed == expected
    assert "E" not in str(parsed)


@given(st.text(max_size=40))
def test_parse_either_returns_a_plain_reading_or_refuses(text: str) -> None:
    try:
        parsed = parse_reading(text)
    except ReadingInputError as error:
        assert error.code in {
            ReadingInputCode.EMPTY,
            ReadingInputCode.NOT_A_NUMBER,
            ReadingInputCode.NEGATIVE,
        }
    else:
        assert parsed.is_finite() and not parsed.is_signed()


# --- check_value: decimals and digits -----------------------------------------------------


@pytest.mark.parametrize(
    ("code", "meter_decimals", "allowed"),
    [
        ("mrg_perm", 3, 0),  # whole cubic metres only, even if the meter shows more
        ("mrg_moscow", 3, 3),
        ("mrg_moscow", 0, 0),  # a meter without red digits
        ("mrg_moscow", 1, 1),
        ("mrg_spb", 5, 5),
        ("mrg_spb", 3, 3),
        ("sevgas", 3, 3),
    ],
)
def test_allowed_decimals_is_the_stricter_of_meter_and_supplier(
    code: str, meter_decimals: int, allowed: int
) -> None:
    rules = supplier(code).readings
    meter = make_meter(decimals=meter_decimals)
    assert allowed_decimals(meter, rules) == allowed
    check_value(D("12345") + D(1).scaleb(-allowed) if allowed else D("12345"), meter, 0, rules)
    too_fine = D("12345") + D(1).scaleb(-(allowed + 1))
    error = refused_value(str(too_fine), meter, rules)
    assert error.code is ReadingInputCode.TOO_MANY_DECIMALS
    assert error.limit == allowed
    assert error.zone == "total"


@pytest.mark.parametrize(
    ("value", "decimals", "error"),
    [
        ("1234", 0, None),
        ("1234.000", 0, None),  # zero red digits are still a whole number
        ("1234.5", 0, ReadingInputCode.TOO_MANY_DECIMALS),
        ("1234.001", 0, ReadingInputCode.TOO_MANY_DECIMALS),
        ("1234.567", 3, None),
        ("1234.5670", 3, None),
        ("1234.5678", 3, ReadingInputCode.TOO_MANY_DECIMALS),
        ("0", 0, None),
        ("0.000", 0, None),
    ],
)
def test_decimals(value: str, decimals: int, error: ReadingInputCode | None) -> None:
    meter = make_meter(decimals=decimals)
    rules = make_rules(decimals=3)
    if error is None:
        check_value(D(value), meter, 0, rules)
    else:
        assert refused_value(value, meter, rules).code is error


@pytest.mark.parametrize(
    ("value", "capacity", "ok"),
    [
        ("99999", 5, True),
        ("99999.999", 5, True),
        ("100000", 5, False),
        ("100000.000", 5, False),
        ("0", 5, True),
        ("00030", 5, True),
        ("9999", 4, True),
        ("10000", 4, False),
        ("9", 1, True),
        ("10", 1, False),
        ("99999999", 8, True),
        ("100000000", 8, False),
    ],
)
def test_digits_against_capacity(value: str, capacity: int, ok: bool) -> None:
    meter = make_meter(capacity=capacity)
    rules = make_rules()
    if ok:
        check_value(D(value), meter, 0, rules)
    else:
        error = refused_value(value, meter, rules)
        assert error.code is ReadingInputCode.TOO_MANY_DIGITS
        assert error.limit == capacity


def test_red_digits_typed_without_a_separator_are_too_many_digits() -> None:
    # 12345,678 typed as 12345678 on a five-digit dial (complaint 11).
    meter = make_meter(capacity=5, decimals=0)
    rules = supplier("mrg_perm").readings
    assert refused_value("12345678", meter, rules).code is ReadingInputCode.TOO_MANY_DIGITS
    # Both wrong: the length of the integer part is the message that helps.
    assert refused_value("123456.7", meter, rules).code is ReadingInputCode.TOO_MANY_DIGITS


def test_the_refused_zone_is_named() -> None:
    meter = make_meter(zones=("day", "night"), decimals=0)
    rules = make_rules()
    check_value(D("1234"), meter, 0, rules)
    error = refused_value("1234.5", meter, rules, zone=1)
    assert (error.code, error.zone, error.limit) == (
        ReadingInputCode.TOO_MANY_DECIMALS,
        "night",
        0,
    )


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("-1", ReadingInputCode.NEGATIVE),
        ("-0", ReadingInputCode.NEGATIVE),
        ("NaN", ReadingInputCode.NOT_A_NUMBER),
        ("sNaN", ReadingInputCode.NOT_A_NUMBER),
        ("Infinity", ReadingInputCode.NOT_A_NUMBER),
    ],
)
def test_values_from_elsewhere_are_checked_too(value: str, code: ReadingInputCode) -> None:
    # Connectors call check_value on values that did not come through parse_reading.
    assert refused_value(value, make_meter(), make_rules()).code is code


@pytest.mark.parametrize("index", [-1, 1, 2])
def test_a_zone_the_meter_does_not_have_is_a_bug(index: int) -> None:
    with pytest.raises(IndexError):
        check_value(D(1), make_meter(), index, make_rules())


@given(
    capacity=st.integers(min_value=1, max_value=9),
    meter_decimals=st.integers(min_value=0, max_value=6),
    rule_decimals=st.integers(min_value=0, max_value=6),
    digits=st.integers(min_value=0, max_value=10**16),
    scale=st.integers(min_value=0, max_value=8),
)
def test_check_value_accepts_exactly_what_fits(
    capacity: int, meter_decimals: int, rule_decimals: int, digits: int, scale: int
) -> None:
    value = D(digits).scaleb(-scale)
    meter = make_meter(capacity=capacity, decimals=meter_decimals)
    rules = make_rules(decimals=rule_decimals)
    _, _, fraction = f"{value:f}".partition(".")
    fits = value < 10**capacity and len(fraction.rstrip("0")) <= min(meter_decimals, rule_decimals)
    try:
        check_value(value, meter, 0, rules)
    except ReadingInputError:
        assert not fits
    else:
        assert fits


# --- assess: one zone -------------------------------------------------------------------


def single(assessment: Assessment) -> tuple[ReadingOutcome, Decimal | None]:
    (zone,) = assessment.zones
    return zone.outcome, zone.consumption


def test_first_reading_has_no_consumption() -> None:
    result = assess(values("12345"), make_meter(), make_rules())
    assert single(result) == (ReadingOutcome.OK, None)
    assert result.zones[0].previous is None
    assert result.total is None
    assert result.outcome is ReadingOutcome.OK
    assert not result.rejected and not result.needs_confirmation


def test_first_reading_is_never_over_max() -> None:
    result = assess(values("99999"), make_meter(), supplier("mrg_yoshkarola").readings)
    assert result.outcome is ReadingOutcome.OK


def test_ordinary_reading() -> None:
    result = assess(values("12345.5"), make_meter(make_last("12300.25")), make_rules())
    assert single(result) == (ReadingOutcome.OK, D("45.25"))
    assert result.total == D("45.25")
    assert result.consumption == (D("45.25"),)
    assert result.zones[0].previous == D("12300.25")
    assert result.confirmations == () and result.rejection is None


def test_rollover_past_zero() -> None:
    # 99 950 → 00 030 on a five-digit dial is 80 m³ (complaint 8).
    rules = supplier("mrg_perm").readings
    meter = make_meter(make_last("99950"), decimals=0)
    result = assess((parse_reading("00030"),), meter, rules)
    assert single(result) == (ReadingOutcome.ROLLOVER, D("80"))
    assert result.total == D("80")
    assert result.needs_confirmation and not result.rejected
    assert result.confirmations == (ReadingOutcome.ROLLOVER,)
    assert result.outcome is ReadingOutcome.ROLLOVER


def test_rollover_not_allowed_is_less_than_previous() -> None:
    rules = supplier("mrg_kemerovo").readings
    assert not rules.allow_rollover
    result = assess(values("30"), make_meter(make_last("99950"), decimals=0), rules)
    assert single(result) == (ReadingOutcome.LESS_THAN_PREVIOUS, None)
    assert result.rejected and result.rejection is ReadingOutcome.LESS_THAN_PREVIOUS
    assert result.zones[0].previous == D("99950")
    assert not result.needs_confirmation and result.confirmations == ()


@pytest.mark.parametrize(
    ("previous", "value", "capacity", "outcome", "consumption"),
    [
        ("99950", "30", 5, ReadingOutcome.ROLLOVER, "80"),
        ("99999.999", "0", 5, ReadingOutcome.ROLLOVER, "0.001"),
        ("90000", "0", 5, ReadingOutcome.ROLLOVER, "10000"),  # a tenth of the dial: the edge
        ("90000", "0.001", 5, ReadingOutcome.LESS_THAN_PREVIOUS, None),
        ("95000", "9000", 5, ReadingOutcome.LESS_THAN_PREVIOUS, None),  # 14 000 m³ wrap
        ("89999", "1", 5, ReadingOutcome.LESS_THAN_PREVIOUS, None),  # not near the top
        ("50000", "30", 5, ReadingOutcome.LESS_THAN_PREVIOUS, None),
        ("9990", "5", 4, ReadingOutcome.ROLLOVER, "15"),
        ("99999990", "12", 8, ReadingOutcome.ROLLOVER, "22"),
        ("12300", "12299", 5, ReadingOutcome.LESS_THAN_PREVIOUS, None),
        ("12300.5", "12300.4", 5, ReadingOutcome.LESS_THAN_PREVIOUS, None),
        ("12300", "12300", 5, ReadingOutcome.OK, "0"),
    ],
)
def test_lower_values(
    previous: str, value: str, capacity: int, outcome: ReadingOutcome, consumption: str | None
) -> None:
    meter = make_meter(make_last(previous), capacity=capacity)
    result = assess(values(value), meter, make_rules(max_consumption=100_000))
    assert single(result) == (outcome, None if consumption is None else D(consumption))
    assert result.rejected is (outcome is ReadingOutcome.LESS_THAN_PREVIOUS)


@pytest.mark.parametrize(
    ("code", "outcome"),
    [("mrg_perm", ReadingOutcome.OK), ("mrg_yoshkarola", ReadingOutcome.ZERO)],
)
def test_zero_consumption(code: str, outcome: ReadingOutcome) -> None:
    rules = supplier(code).readings
    result = assess(values("12300"), make_meter(make_last("12300"), decimals=0), rules)
    assert single(result) == (outcome, D(0))
    assert result.outcome is outcome
    assert result.rejected is (not rules.allow_zero)


def test_zero_with_hand_built_rules() -> None:
    meter = make_meter(make_last("12300.000"))
    assert assess(values("12300"), meter, make_rules(allow_zero=True)).outcome is ReadingOutcome.OK
    refused = assess(values("12300"), meter, make_rules(allow_zero=False))
    assert refused.rejection is ReadingOutcome.ZERO
    assert refused.total == 0


def test_over_max_needs_confirmation() -> None:
    rules = supplier("mrg_perm").readings
    assert (rules.max_consumption, rules.over_max) == (1500, OverMax.CONFIRM)
    meter = make_meter(make_last("10000"), decimals=0)
    at_limit = assess(values("11500"), meter, rules)
    assert at_limit.outcome is ReadingOutcome.OK
    over = assess(values("11501"), meter, rules)
    assert over.total == D(1501)
    assert over.needs_confirmation and not over.rejected
    assert over.confirmations == (ReadingOutcome.OVER_MAX,)
    assert over.max_consumption == D(1500)
    assert single(over) == (ReadingOutcome.OK, D(1501))  # the zone itself is fine


def test_over_max_rejected() -> None:
    rules = supplier("mrg_yoshkarola").readings
    assert rules.over_max is OverMax.REJECT
    meter = make_meter(make_last("10000"), decimals=0)
    over = assess(values("11501"), meter, rules)
    assert over.rejection is ReadingOutcome.OVER_MAX
    assert not over.needs_confirmation and over.confirmations == ()
    assert over.max_consumption == D(rules.max_consumption)


def test_rollover_over_max_needs_both_confirmations() -> None:
    meter = make_meter(make_last("99000"))
    result = assess(values("900"), meter, make_rules(max_consumption=1500))
    assert result.total == D(1900)
    assert result.confirmations == (ReadingOutcome.ROLLOVER, ReadingOutcome.OVER_MAX)
    rejecting = assess(values("900"), meter, make_rules(over_max=OverMax.REJECT))
    assert rejecting.rejection is ReadingOutcome.OVER_MAX and rejecting.confirmations == ()


def test_rejected_last_reading_is_no_baseline() -> None:
    # The user is most likely correcting the value the supplier refused.
    meter = make_meter(make_last("99999", state=ReadingState.REJECTED))
    result = assess(values("12345"), meter, make_rules())
    assert single(result) == (ReadingOutcome.OK, None)
    assert result.zones[0].previous is None


def test_pending_last_reading_is_a_baseline() -> None:
    meter = make_meter(make_last("12400", state=ReadingState.PENDING))
    assert assess(values("12345"), meter, make_rules()).rejection is (
        ReadingOutcome.LESS_THAN_PREVIOUS
    )


def test_below_an_estimate_needs_confirmation_not_rejection() -> None:
    meter = make_meter(make_last("12400", source=ReadingSource.ESTIMATE))
    result = assess(values("12345"), meter, make_rules())
    assert single(result) == (ReadingOutcome.BELOW_ESTIMATE, None)
    assert result.total is None
    assert result.confirmations == (ReadingOutcome.BELOW_ESTIMATE,)
    assert result.zones[0].previous == D("12400")
    # A supplier's own (not estimated) reading is a real baseline.
    by_supplier = make_meter(make_last("12400", source=ReadingSource.SUPPLIER))
    assert assess(values("12345"), by_supplier, make_rules()).rejected


@pytest.mark.parametrize(
    ("taken_on", "period", "limit"),
    [
        (date(2024, 1, 20), None, 1500),
        (date(2024, 1, 20), Period(2024, 1), 1500),  # replacing this period's reading
        (date(2024, 1, 20), Period(2024, 2), 1500),
        (date(2024, 1, 20), Period(2024, 4), 4500),
        (date(2023, 11, 20), Period(2024, 2), 4500),  # across the new year
        (date(2024, 3, 20), Period(2024, 2), 1500),  # a clock mix-up never lowers the limit
    ],
)
def test_max_consumption_scales_with_skipped_months(
    taken_on: date, period: Period | None, limit: int
) -> None:
    meter = make_meter(make_last("10000", taken_on=taken_on), decimals=0)
    result = assess(values("13000"), meter, make_rules(), period=period)
    assert result.max_consumption == limit
    assert (ReadingOutcome.OVER_MAX in result.confirmations) is (limit < 3000)


# --- assess: two zones ------------------------------------------------------------------

DAY_NIGHT = ("day", "night")


def two_zone(*previous: str) -> Meter:
    return make_meter(make_last(*previous), zones=DAY_NIGHT, decimals=0)


def test_two_zones_each_compared_with_its_own_previous() -> None:
    result = assess(values("1800", "700"), two_zone("1000", "500"), make_rules())
    assert [z.zone for z in result.zones] == ["day", "night"]
    assert result.consumption == (D(800), D(200))
    assert result.total == D(1000)
    assert result.outcome is ReadingOutcome.OK


def test_two_zones_total_over_max_though_each_zone_is_under() -> None:
    result = assess(values("1800", "1201"), two_zone("1000", "500"), make_rules())
    assert result.total == D(1501)
    assert result.confirmations == (ReadingOutcome.OVER_MAX,)
    reject = make_rules(over_max=OverMax.REJECT)
    assert assess(values("1800", "1201"), two_zone("1000", "500"), reject).rejection is (
        ReadingOutcome.OVER_MAX
    )


def test_two_zones_one_less_than_previous() -> None:
    result = assess(values("1800", "499"), two_zone("1000", "500"), make_rules())
    assert [z.outcome for z in result.zones] == [
        ReadingOutcome.OK,
        ReadingOutcome.LESS_THAN_PREVIOUS,
    ]
    assert result.rejection is ReadingOutcome.LESS_THAN_PREVIOUS
    assert result.total is None
    assert result.zones[1].previous == D(500)


def test_two_zones_swapped_is_caught() -> None:
    # Day and night typed the wrong way round (complaint 7).
    result = assess(values("700", "1800"), two_zone("1000", "500"), make_rules())
    assert result.rejection is ReadingOutcome.LESS_THAN_PREVIOUS
    assert result.zones[0].outcome is ReadingOutcome.LESS_THAN_PREVIOUS


def test_less_than_previous_outranks_over_max_and_zero() -> None:
    rules = make_rules(allow_zero=False, over_max=OverMax.REJECT)
    zero_and_less = assess(values("1500", "99"), two_zone("1500", "100"), rules)
    assert zero_and_less.rejection is ReadingOutcome.LESS_THAN_PREVIOUS
    over_and_less = assess(values("90000", "99"), two_zone("1500", "100"), rules)
    assert over_and_less.rejection is ReadingOutcome.LESS_THAN_PREVIOUS
    zero_and_over = assess(values("1500", "9000"), two_zone("1500", "100"), rules)
    assert zero_and_over.rejection is ReadingOutcome.ZERO


def test_two_zones_zero_in_one_zone() -> None:
    meter = two_zone("1000", "500")
    strict = assess(values("1100", "500"), meter, make_rules(allow_zero=False))
    assert [z.outcome for z in strict.zones] == [ReadingOutcome.OK, ReadingOutcome.ZERO]
    assert strict.rejection is ReadingOutcome.ZERO
    lenient = assess(values("1100", "500"), meter, make_rules(allow_zero=True))
    assert lenient.outcome is ReadingOutcome.OK and lenient.total == D(100)


def test_two_zones_first_reading() -> None:
    meter = make_meter(zones=DAY_NIGHT)
    result = assess(values("1800", "700"), meter, make_rules())
    assert result.consumption == (None, None)
    assert result.total is None and result.outcome is ReadingOutcome.OK


def test_two_zones_every_value_is_checked() -> None:
    with pytest.raises(ReadingInputError) as caught:
        assess(values("1800", "700.5"), two_zone("1000", "500"), make_rules())
    assert (caught.value.code, caught.value.zone) == (ReadingInputCode.TOO_MANY_DECIMALS, "night")


@pytest.mark.parametrize("given", [("1",), ("1", "2", "3")])
def test_one_value_per_zone(given: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="zones"):
        assess(values(*given), two_zone("1", "1"), make_rules())


def test_last_reading_of_another_shape_is_a_bug() -> None:
    meter = make_meter(make_last("1", "2"))
    with pytest.raises(ValueError, match="last reading"):
        assess(values("3"), meter, make_rules())


# --- assess: properties -----------------------------------------------------------------


@st.composite
def dial_readings(draw: st.DrawFn) -> tuple[int, int, Decimal, Decimal]:
    capacity = draw(st.integers(min_value=1, max_value=9))
    decimals = draw(st.integers(min_value=0, max_value=3))
    top = 10**capacity * 10**decimals
    previous = D(draw(st.integers(min_value=0, max_value=top - 1))).scaleb(-decimals)
    value = D(draw(st.integers(min_value=0, max_value=top - 1))).scaleb(-decimals)
    return capacity, decimals, previous, value


@given(dial_readings(), st.booleans())
def test_consumption_is_never_negative_and_below_the_dial(
    reading: tuple[int, int, Decimal, Decimal], allow_rollover: bool
) -> None:
    capacity, decimals, previous, value = reading
    modulus = D(10) ** capacity
    meter = make_meter(make_last(str(previous)), capacity=capacity, decimals=decimals)
    rules = make_rules(allow_rollover=allow_rollover, max_consumption=10**10)
    (zone,) = assess((value,), meter, rules).zones
    if value >= previous:
        assert zone.outcome is ReadingOutcome.OK
        assert zone.consumption == value - previous
    elif zone.outcome is ReadingOutcome.ROLLOVER:
        assert allow_rollover
        assert zone.consumption is not None
        assert 0 < zone.consumption < modulus
        assert zone.consumption <= modulus / 10
        assert (previous + zone.consumption) % modulus == value
    else:
        assert zone.outcome is ReadingOutcome.LESS_THAN_PREVIOUS
        assert zone.consumption is None
        assert not allow_rollover or modulus - previous + value > modulus / 10


# --- estimate_cost ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("consumption", "tariff", "cost"),
    [
        ("80", "7.123", "569.84"),
        ("2.5", "8.13", "20.33"),  # 20.325: half up, not to even
        ("1", "0.005", "0.01"),
        ("3", "0.0015", "0.00"),
        ("0", "7.5", "0.00"),
        ("1500", "8.2", "12300.00"),
        ("123.456", "7.89", "974.07"),
    ],
)
def test_estimate_cost(consumption: str, tariff: str, cost: str) -> None:
    result = estimate_cost(D(consumption), D(tariff))
    assert result == D(cost)
    assert str(result) == cost


def test_estimate_cost_ignores_the_callers_decimal_context() -> None:
    with localcontext() as ctx:
        ctx.prec = 3
        assert estimate_cost(D("12345.678"), D("7.89")) == D("97407.40")


def test_estimate_cost_refuses_negatives() -> None:
    with pytest.raises(ValueError, match="negative"):
        estimate_cost(D("-1"), D("7"))


# --- window_status ----------------------------------------------------------------------


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def status(code: str, now: datetime) -> WindowStatus:
    return window_status(now, supplier(code))


def test_catalog_windows_are_what_these_tests_assume() -> None:
    expected = {
        "mrg_perm": ("Asia/Yekaterinburg", 15, 25),
        "mrg_moscow": ("Europe/Moscow", 15, 26),
        "sevgas": ("Europe/Simferopol", 20, 25),
        "crimea": ("Europe/Simferopol", 1, 31),
    }
    for code, (zone, start_day, end_day) in expected.items():
        subject = supplier(code)
        window = subject.readings.window
        assert (subject.timezone, window.start_day, window.end_day) == (zone, start_day, end_day)


# (supplier, UTC instant, open?, local date, window "first/last"): each edge is probed one
# second before and exactly at local midnight.
WINDOW_EDGES = [
    # Perm keeps Yekaterinburg time, UTC+5: local midnight is 19:00 UTC the day before.
    ("mrg_perm", "2024-03-14 18:59:59", False, "2024-03-14", "2024-03-15/2024-03-25"),
    ("mrg_perm", "2024-03-14 19:00:00", True, "2024-03-15", "2024-03-15/2024-03-25"),
    ("mrg_perm", "2024-03-24 20:30:00", True, "2024-03-25", "2024-03-15/2024-03-25"),
    ("mrg_perm", "2024-03-25 18:59:59", True, "2024-03-25", "2024-03-15/2024-03-25"),
    ("mrg_perm", "2024-03-25 19:00:00", False, "2024-03-26", "2024-04-15/2024-04-25"),
    # Still the 25th in UTC, already the 26th in Perm: closed.
    ("mrg_perm", "2024-03-25 20:30:00", False, "2024-03-26", "2024-04-15/2024-04-25"),
    # Moscow, UTC+3: local midnight is 21:00 UTC.
    ("mrg_moscow", "2024-03-14 20:59:59", False, "2024-03-14", "2024-03-15/2024-03-26"),
    ("mrg_moscow", "2024-03-14 21:00:00", True, "2024-03-15", "2024-03-15/2024-03-26"),
    ("mrg_moscow", "2024-03-24 20:30:00", True, "2024-03-24", "2024-03-15/2024-03-26"),
    ("mrg_moscow", "2024-03-26 20:59:59", True, "2024-03-26", "2024-03-15/2024-03-26"),
    ("mrg_moscow", "2024-03-26 21:00:00", False, "2024-03-27", "2024-04-15/2024-04-26"),
    # Simferopol (Севгаз), UTC+3.
    ("sevgas", "2024-03-19 20:59:59", False, "2024-03-19", "2024-03-20/2024-03-25"),
    ("sevgas", "2024-03-19 21:00:00", True, "2024-03-20", "2024-03-20/2024-03-25"),
    ("sevgas", "2024-03-25 20:59:59", True, "2024-03-25", "2024-03-20/2024-03-25"),
    ("sevgas", "2024-03-25 21:00:00", False, "2024-03-26", "2024-04-20/2024-04-25"),
    # After the window in December the next one is in January of the next year.
    ("mrg_perm", "2024-12-25 19:00:00", False, "2024-12-26", "2025-01-15/2025-01-25"),
    ("mrg_perm", "2024-12-31 19:00:00", False, "2025-01-01", "2025-01-15/2025-01-25"),
    # Крымгазсети accepts readings any day (Simferopol time).
    ("crimea", "2024-02-29 20:59:59", True, "2024-02-29", "2024-02-01/2024-02-29"),
    ("crimea", "2024-02-29 21:00:00", True, "2024-03-01", "2024-03-01/2024-03-31"),
    ("crimea", "2023-02-10 12:00:00", True, "2023-02-10", "2023-02-01/2023-02-28"),
]


@pytest.mark.parametrize(("code", "now", "is_open", "today", "window"), WINDOW_EDGES)
def test_window_edges_in_the_suppliers_time_zone(
    code: str, now: str, is_open: bool, today: str, window: str
) -> None:
    opens_at, closes_at = (date.fromisoformat(day) for day in window.split("/"))
    assert status(code, utc(now)) == WindowStatus(
        open=is_open,
        opens_at=opens_at,
        closes_at=closes_at,
        period=Period(opens_at.year, opens_at.month),
        today=date.fromisoformat(today),
    )


def test_the_instant_matters_not_its_offset() -> None:
    instant = utc("2024-03-24 20:30:00")
    for offset in (0, 5, -7, 3):
        same = instant.astimezone(timezone(timedelta(hours=offset)))
        assert status("mrg_perm", same) == status("mrg_perm", instant)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        status("mrg_perm", datetime(2024, 3, 20, 12))


def with_window(start_day: int, end_day: int, timezone_name: str = "Europe/Moscow") -> Supplier:
    base = supplier("mrg_moscow")
    rules = base.readings.model_copy(
        update={"window": ReadingWindow(start_day=start_day, end_day=end_day)}
    )
    return base.model_copy(update={"readings": rules, "timezone": timezone_name})


@pytest.mark.parametrize(
    ("window", "local_day", "is_open", "opens_at", "closes_at"),
    [
        # 20–31 ends on the last day of February, leap year or not.
        ((20, 31), date(2023, 2, 28), True, date(2023, 2, 20), date(2023, 2, 28)),
        ((20, 31), date(2023, 3, 1), False, date(2023, 3, 20), date(2023, 3, 31)),
        ((20, 31), date(2024, 2, 29), True, date(2024, 2, 20), date(2024, 2, 29)),
        ((20, 31), date(2024, 2, 19), False, date(2024, 2, 20), date(2024, 2, 29)),
        ((20, 30), date(2023, 2, 28), True, date(2023, 2, 20), date(2023, 2, 28)),
        # A window wholly past the month's end shrinks to its last day.
        ((30, 31), date(2023, 2, 27), False, date(2023, 2, 28), date(2023, 2, 28)),
        ((30, 31), date(2023, 2, 28), True, date(2023, 2, 28), date(2023, 2, 28)),
        ((31, 31), date(2024, 4, 30), True, date(2024, 4, 30), date(2024, 4, 30)),
        ((31, 31), date(2024, 5, 1), False, date(2024, 5, 31), date(2024, 5, 31)),
        # Always open.
        ((1, 31), date(2023, 2, 28), True, date(2023, 2, 1), date(2023, 2, 28)),
        ((1, 31), date(2024, 12, 31), True, date(2024, 12, 1), date(2024, 12, 31)),
    ],
)
def test_window_clamps_to_the_months_length(
    window: tuple[int, int], local_day: date, is_open: bool, opens_at: date, closes_at: date
) -> None:
    moscow_noon = datetime(local_day.year, local_day.month, local_day.day, 9, tzinfo=UTC)
    result = window_status(moscow_noon, with_window(*window))
    assert (result.open, result.opens_at, result.closes_at) == (is_open, opens_at, closes_at)
    assert result.today == local_day
    assert result.period == Period.of(opens_at)


def test_february_clamp_at_local_midnight_in_perm() -> None:
    perm = with_window(20, 31, "Asia/Yekaterinburg")
    last_second = window_status(utc("2023-02-28 18:59:59"), perm)
    assert last_second.open and last_second.closes_at == date(2023, 2, 28)
    first_of_march = window_status(utc("2023-02-28 19:00:00"), perm)
    assert not first_of_march.open
    assert first_of_march.opens_at == date(2023, 3, 20)
    assert first_of_march.period == Period(2023, 3)


@given(
    code=st.sampled_from(CATALOG.codes),
    now=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
    ),
)
def test_window_status_agrees_with_the_window(code: str, now: datetime) -> None:
    subject = supplier(code)
    result = window_status(now, subject)
    assert result.today == now.astimezone(subject.zone).date()
    assert result.open is subject.readings.window.is_open(result.today)
    assert result.opens_at <= result.closes_at
    assert result.period == Period.of(result.opens_at) == Period.of(result.closes_at)
    if result.open:
        assert result.opens_at <= result.today <= result.closes_at
    else:
        assert result.today < result.opens_at
        assert (result.opens_at - result.today).days <= 62
        # No day between now and the opening is open: it really is the next opening.
        day = result.today
        while day < result.opens_at:
            assert not subject.readings.window.is_open(day)
            day += timedelta(days=1)


# --- resubmission -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "existing", "decision"),
    [
        ("mrg_perm", False, "new"),
        ("mrg_perm", True, "refuse"),
        ("mrg_izhevsk", True, "refuse"),
        ("mrg_moscow", False, "new"),
        ("mrg_moscow", True, "replace"),
        ("sevgas", True, "replace"),
    ],
)
def test_resubmission(code: str, existing: bool, decision: str) -> None:
    assert resubmission_decision(existing, supplier(code).readings) == decision


@pytest.mark.parametrize("policy", list(Resubmission))
def test_resubmission_hand_built(policy: Resubmission) -> None:
    rules = make_rules(resubmission=policy)
    assert resubmission_decision(False, rules) == "new"
    assert resubmission_decision(True, rules) == policy.value


def test_a_value_that_continues_another_zones_dial_is_spotted() -> None:
    limit = D(1500)
    two = make_meter(make_last("9975.851", "6114.231"), zones=("day", "night"))
    assert other_zone_fit(two, 1, D("9980.12"), limit) == 0  # the day's, typed for the night
    assert other_zone_fit(two, 0, D("6117.5"), limit) == 1  # the night's, typed for the day
    assert other_zone_fit(two, 0, D("9980.12"), limit) is None  # its own zone: fine
    assert other_zone_fit(two, 1, D("6120"), limit) is None
    assert other_zone_fit(two, 1, D("7700"), limit) is None  # over the limit, fits neither
    assert other_zone_fit(two, 1, D("5000"), limit) is None  # below both: a plain typo
    # Nothing to compare with: one zone, no previous reading, or a rejected one.
    assert other_zone_fit(make_meter(make_last("100")), 0, D("5000"), limit) is None
    assert other_zone_fit(make_meter(None, zones=("day", "night")), 1, D("1"), limit) is None
    rejected = make_last("9975.851", "6114.231", state=ReadingState.REJECTED)
    assert other_zone_fit(make_meter(rejected, zones=("day", "night")), 1, D("9980"),
                          limit) is None
    # Three zones: the nearest dial below the value.
    three = make_meter(make_last("3000", "2000", "2990"), zones=("peak", "night", "half"))
    assert other_zone_fit(three, 1, D("3001"), D(500)) == 0
    assert other_zone_fit(three, 1, D("2995"), D(500)) == 2
