"""A bar chart of monthly gas consumption as a PNG, sized to be read on a phone.

Drawn with Pillow rather than a plotting library: one chart type does not justify a
heavy dependency, and the bundled TTF keeps Cyrillic identical on every machine.
All texts come from the caller, who knows the user's language.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from PIL import Image, ImageDraw, ImageFont

from bot.billing.models import Period
from bot.documents.fonts import BOLD, REGULAR

__all__ = [
    "BACKGROUND",
    "BAR_COLOR",
    "CHART_SIZE",
    "LATEST_BAR_COLOR",
    "MAX_MONTHS",
    "chart_periods",
    "render_consumption_chart",
]

# 3:2 at 1080 px wide: Telegram shows a photo this shape full-width on a phone
# without cropping, and 1080 px is what it keeps when it recompresses the photo.
CHART_SIZE: Final = (1080, 720)
MAX_MONTHS: Final = 12

Color = tuple[int, int, int]
BACKGROUND: Final[Color] = (255, 255, 255)
BAR_COLOR: Final[Color] = (100, 149, 237)
# The latest month is what the user asked about; it stands out from the history.
LATEST_BAR_COLOR: Final[Color] = (25, 70, 160)
_TEXT: Final[Color] = (33, 33, 33)
_MUTED: Final[Color] = (120, 120, 120)
_GRID: Final[Color] = (226, 226, 226)
_AXIS: Final[Color] = (90, 90, 90)

_PAD: Final = 36
_TITLE_PT: Final = 44
_LABEL_PT: Final = 30
_VALUE_PT: Final = 30
_MIN_PT: Final = 16
_GAP: Final = 14
# Bars take this share of their slot; a lone bar does not grow wider than _MAX_BAR_PX.
_BAR_SHARE: Final = 0.64
_MAX_BAR_PX: Final = 120
# Room above the tallest bar for its value label, as a share of the plot height.
_HEADROOM: Final = 1.15
_TARGET_TICKS: Final = 5
_MISSING: Final = "–"
_TITLE_LINES: Final = 2
_LABEL_LINES: Final = 2
# A positive month never looks like a zero one, however small it is beside the others.
_MIN_BAR_PX: Final = 3


@functools.cache
def _font(size: int, *, bold: bool = False) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(BOLD if bold else REGULAR), size)


def _text_width(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont) -> float:
    return float(draw.textlength(text, font=font))


def _fit_font(
    draw: ImageDraw.ImageDraw, lines: Sequence[str], width: float, size: int, *, bold: bool = False
) -> ImageFont.FreeTypeFont:
    """The largest font up to `size` in which every line fits into `width` pixels."""
    while size > _MIN_PT:
        font = _font(size, bold=bold)
        if all(_text_width(draw, line, font) <= width for line in lines):
            return font
        size -= 2
    return _font(_MIN_PT, bold=bold)


def _wrap(
    draw: ImageDraw.ImageDraw, text: str, width: float, font: ImageFont.FreeTypeFont
) -> list[str]:
    """Greedy word wrap; a word longer than `width` stays whole on its own line."""
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and _text_width(draw, candidate, font) <= width:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines or [""]


def _ellipsize(
    draw: ImageDraw.ImageDraw, text: str, width: float, font: ImageFont.FreeTypeFont
) -> str:
    if _text_width(draw, text, font) <= width:
        return text
    while text and _text_width(draw, text + "…", font) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _fit_lines(
    draw: ImageDraw.ImageDraw,
    texts: Sequence[str],
    width: float,
    size: int,
    max_lines: int,
    *,
    bold: bool = False,
) -> tuple[ImageFont.FreeTypeFont, list[list[str]]]:
    """One font for all `texts` and their lines, each text on at most `max_lines` lines.

    Fewer lines are preferred at a size, a larger size over fewer lines; what fits at
    no size down to _MIN_PT is cut with an ellipsis rather than drawn over its neighbours.
    """
    for points in range(size, _MIN_PT - 1, -2):
        font = _font(points, bold=bold)
        for lines_allowed in range(1, max_lines + 1):
            wrapped = [
                [text] if lines_allowed == 1 else _wrap(draw, text, width, font) for text in texts
            ]
            if all(
                len(lines) <= lines_allowed
                and all(_text_width(draw, line, font) <= width for line in lines)
                for lines in wrapped
            ):
                return font, wrapped
    font = _font(_MIN_PT, bold=bold)
    result = []
    for text in texts:
        lines = _wrap(draw, text, width, font)
        if len(lines) > max_lines:
            lines = [*lines[: max_lines - 1], " ".join(lines[max_lines - 1 :])]
        result.append([_ellipsize(draw, line, width, font) for line in lines])
    return font, result


def _default_value_label(value: Decimal) -> str:
    # Whole cubic metres for the usual readings, one decimal for small fractional ones.
    if value == value.to_integral_value() or value >= 100:
        return str(value.quantize(Decimal(1)))
    return str(value.quantize(Decimal("0.1")))


def chart_periods(
    points: Sequence[tuple[Period, Decimal]], max_months: int = MAX_MONTHS
) -> list[tuple[Period, Decimal | None]]:
    """The months the chart shows, oldest first, with their total consumption.

    The window ends at the latest month given and spans at most `max_months`, from the
    earliest month given: a new account gets a short chart, not eleven empty slots.
    Months without data are None; several values of one month (zones, meters) add up.
    """
    if not points:
        raise ValueError("no consumption to chart")
    totals: dict[Period, Decimal] = {}
    for period, value in points:
        # A negative consumption is a billing correction, not gas burnt: drawn as none.
        totals[period] = totals.get(period, Decimal(0)) + max(value, Decimal(0))
    last = max(totals)
    first = max(min(totals), last.shift(1 - max_months))
    count = (last.year - first.year) * 12 + last.month - first.month + 1
    periods = [first.shift(offset) for offset in range(count)]
    return [(period, totals.get(period)) for period in periods]


def _nice_step(top: float) -> float:
    """A 1-2-2.5-5 step that divides [0, top] into about _TARGET_TICKS intervals."""
    raw = top / _TARGET_TICKS
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


@dataclass(frozen=True, slots=True)
class _Scale:
    top: Decimal
    ticks: tuple[Decimal, ...]


def _scale(maximum: Decimal) -> _Scale:
    if maximum <= 0:
        # All months zero: an axis up to 1 still reads as "nothing was used".
        return _Scale(Decimal(1), (Decimal(0), Decimal(1)))
    step = Decimal(str(_nice_step(float(maximum) * _HEADROOM)))
    count = math.ceil(maximum * Decimal(str(_HEADROOM)) / step)
    ticks = tuple(step * index for index in range(count + 1))
    return _Scale(ticks[-1], ticks)


def render_consumption_chart(
    points: list[tuple[Period, Decimal]],
    *,
    title: str,
    unit_label: str,
    month_label: Callable[[Period], str],
    value_label: Callable[[Decimal], str] | None = None,
    size: tuple[int, int] = CHART_SIZE,
    max_months: int = MAX_MONTHS,
) -> bytes:
    """A PNG bar chart of consumption per month over the last `max_months` months.

    `month_label` names a month in the user's language («ноя 2026», "Nov 2026");
    `value_label` formats a value for the bar labels and the axis (default: whole
    numbers, one decimal for small values).  A zero month shows «0» and no bar, a month
    without data a dash.  Raises ValueError when `points` is empty.
    """
    slots = chart_periods(points, max_months)
    label_of = value_label or _default_value_label
    width, height = size
    image = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(image)

    title_font, (title_lines,) = _fit_lines(
        draw, [title], width - 2 * _PAD, _TITLE_PT, _TITLE_LINES, bold=True
    )
    title_line_height = round(title_font.size * 1.15)
    for index, line in enumerate(title_lines):
        draw.text(
            (width / 2, _PAD + index * title_line_height),
            line,
            font=title_font,
            fill=_TEXT,
            anchor="mt",
        )
    title_bottom = _PAD + len(title_lines) * title_line_height + _GAP

    scale = _scale(max((value for _, value in slots if value is not None), default=Decimal(0)))
    tick_font = _font(_LABEL_PT - 4)
    tick_labels = [label_of(tick) for tick in scale.ticks]
    axis_width = max(_text_width(draw, text, tick_font) for text in tick_labels)
    unit_font, ((unit_text,),) = _fit_lines(draw, [unit_label], width - 2 * _PAD, _LABEL_PT - 4, 1)
    draw.text((_PAD, title_bottom), unit_text, font=unit_font, fill=_MUTED, anchor="lt")

    slot_count = len(slots)
    plot_left = _PAD + axis_width + _GAP
    plot_right = width - _PAD
    slot_width = (plot_right - plot_left) / slot_count

    month_texts = [month_label(period) for period, _ in slots]
    # «ноя 2026» does not fit a narrow slot on one line; month and year on two do.
    label_font, lines = _fit_lines(draw, month_texts, slot_width - 6, _LABEL_PT, _LABEL_LINES)
    line_count = max(len(group) for group in lines)
    line_height = label_font.size + 4
    plot_bottom = height - _PAD - line_count * line_height - _GAP / 2
    # The top tick label is centred on the top grid line: half of it rises above it.
    plot_top = title_bottom + unit_font.size + _GAP + tick_font.size / 2
    plot_height = plot_bottom - plot_top
    baseline = round(plot_bottom)

    def y_of(value: Decimal) -> float:
        return plot_bottom - float(value / scale.top) * plot_height

    for tick, text in zip(scale.ticks, tick_labels, strict=True):
        y = round(y_of(tick))
        draw.line([(plot_left, y), (plot_right, y)], fill=_GRID, width=2)
        draw.text((plot_left - _GAP, y), text, font=tick_font, fill=_MUTED, anchor="rm")

    bar_width = min(slot_width * _BAR_SHARE, _MAX_BAR_PX)
    value_font = _fit_font(
        draw,
        [label_of(value) for _, value in slots if value is not None] or ["0"],
        slot_width - 4,
        _VALUE_PT,
        bold=True,
    )
    for index, ((_, value), group) in enumerate(zip(slots, lines, strict=True)):
        centre = plot_left + slot_width * (index + 0.5)
        latest = index == slot_count - 1
        bar_top = baseline
        if value is not None and value > 0:
            bar_top = min(round(y_of(value)), baseline - _MIN_BAR_PX)
            left = round(centre - bar_width / 2)
            right = round(centre + bar_width / 2) - 1
            draw.rectangle(
                [(left, bar_top), (right, baseline - 1)],
                fill=LATEST_BAR_COLOR if latest else BAR_COLOR,
            )
        value_text = _MISSING if value is None else label_of(value)
        draw.text(
            (centre, bar_top - 6),
            value_text,
            font=value_font,
            fill=_MUTED if value is None else _TEXT,
            anchor="ms",
        )
        for line_index, line in enumerate(group):
            draw.text(
                (centre, plot_bottom + _GAP / 2 + line_index * line_height),
                line,
                font=label_font,
                fill=_TEXT if latest else _MUTED,
                anchor="mt",
            )

    draw.line([(plot_left, baseline), (plot_right, baseline)], fill=_AXIS, width=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
