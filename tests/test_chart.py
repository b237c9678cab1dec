import io
from decimal import Decimal

import pytest
from PIL import Image

from bot.billing.models import Period
from bot.documents.chart import (
    BAR_COLOR,
    CHART_SIZE,
    LATEST_BAR_COLOR,
    chart_periods,
    render_consumption_chart,
)

LAST = Period(2026, 11)
RU_MONTHS = ("янв", "фев", "мар", "апр", "май", "июн", "июл", "авг", "сен", "окт", "ноя", "дек")


def month_label(period: Period) -> str:
    return f"{RU_MONTHS[period.month - 1]} {period.year % 100:02d}"


def series(values: list[int | str | None]) -> list[tuple[Period, Decimal]]:
    """Monthly points ending at LAST; None leaves a month out."""
    start = LAST.shift(1 - len(values))
    return [
        (start.shift(index), Decimal(str(value)))
        for index, value in enumerate(values)
        if value is not None
    ]


def render(points: list[tuple[Period, Decimal]]) -> Image.Image:
    png = render_consumption_chart(
        points, title="Расход газа", unit_label="м³", month_label=month_label
    )
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    image.load()
    return image.convert("RGB")


def bars(image: Image.Image) -> list[tuple[int, int, tuple[int, int, int]]]:
    """Bars left to right as (centre x, height in pixels, colour), found by their colours."""
    width, height = image.size
    columns: list[tuple[int, int, tuple[int, int, int]] | None] = []
    for x in range(width):
        colors = image.crop((x, 0, x + 1, height)).getcolors()
        assert colors is not None
        counts = {color: count for count, color in colors}
        found = None
        for color in (BAR_COLOR, LATEST_BAR_COLOR):
            if counts.get(color):
                found = (x, counts[color], color)
        columns.append(found)
    result = []
    x = 0
    while x < width:
        if columns[x] is None:
            x += 1
            continue
        start = x
        while x < width and columns[x] is not None:
            x += 1
        centre = columns[(start + x - 1) // 2]
        assert centre is not None
        result.append(centre)
    return result


def test_size_and_format() -> None:
    image = render(series([10, 20, 30]))
    assert image.size == CHART_SIZE


def test_bar_heights_follow_the_values() -> None:
    values = [210, 260, 245, 180, 120, 60, 15, 5, 30, 95, 150, 246]
    found = bars(render(series(values)))  # type: ignore[arg-type]
    assert len(found) == 12
    heights = [height for _, height, _ in found]
    order = sorted(range(12), key=lambda i: values[i])
    assert [heights[i] for i in order] == sorted(heights)
    assert len(set(heights)) == len(set(values))
    # Proportional, within rounding: 260 m³ is twice as tall as 130 would be.
    assert heights[1] / heights[4] == pytest.approx(260 / 120, rel=0.02)
    xs = [x for x, _, _ in found]
    assert xs == sorted(xs)
    colors = [color for _, _, color in found]
    assert colors == [BAR_COLOR] * 11 + [LATEST_BAR_COLOR]


def test_zero_and_missing_months_draw_no_bar() -> None:
    values: list[int | str | None] = [100, 0, None, 50, "0.00", 80]
    found = bars(render(series(values)))
    assert len(found) == 3
    heights = [height for _, height, _ in found]
    assert heights[0] > heights[2] > heights[1]
    # Empty months keep their slots: bars sit in slots 0, 3 and 5 of six.
    xs = [x for x, _, _ in found]
    assert (xs[1] - xs[0]) / (xs[2] - xs[1]) == pytest.approx(3 / 2, rel=0.02)


def test_single_month() -> None:
    found = bars(render([(LAST, Decimal("12.4"))]))
    assert len(found) == 1
    x, height, color = found[0]
    assert color == LATEST_BAR_COLOR
    assert height > 100
    assert abs(x - CHART_SIZE[0] / 2) < CHART_SIZE[0] / 4


def test_only_zero_months_render() -> None:
    assert bars(render(series([0, 0, 0]))) == []


def test_window_is_the_last_twelve_months() -> None:
    labels: list[Period] = []

    def record(period: Period) -> str:
        labels.append(period)
        return month_label(period)

    points = series(list(range(1, 19)))  # 18 months, growing
    png = render_consumption_chart(points, title="t", unit_label="u", month_label=record)
    assert labels == [LAST.shift(offset) for offset in range(-11, 1)]
    assert len(bars(Image.open(io.BytesIO(png)).convert("RGB"))) == 12


def test_chart_periods_fill_gaps_and_add_up_a_month() -> None:
    points = [
        (Period(2026, 9), Decimal("10")),
        (Period(2026, 11), Decimal("3")),  # day zone
        (Period(2026, 11), Decimal("4.5")),  # night zone
        (Period(2026, 10), Decimal("-2")),  # a correction, not consumption
    ]
    assert chart_periods(points) == [
        (Period(2026, 9), Decimal("10")),
        (Period(2026, 10), Decimal("0")),
        (Period(2026, 11), Decimal("7.5")),
    ]
    assert chart_periods([(Period(2026, 1), Decimal(1)), (Period(2025, 12), Decimal(2))]) == [
        (Period(2025, 12), Decimal(2)),
        (Period(2026, 1), Decimal(1)),
    ]
    with pytest.raises(ValueError, match="no consumption"):
        chart_periods([])


def test_long_labels_and_values_still_render() -> None:
    points = series([123456, 98765.4, 0])  # type: ignore[list-item]
    png = render_consumption_chart(
        points,
        title="Расход газа по лицевому счёту 001234567 за последние двенадцать месяцев " * 2,
        unit_label="тыс. м³",
        month_label=lambda period: f"Сентябрь-октябрь {period.year}",
        value_label=lambda value: f"{value:,.2f}".replace(",", "\u00a0"),
    )
    image = Image.open(io.BytesIO(png))
    assert image.size == CHART_SIZE
    assert len(bars(image.convert("RGB"))) == 2
