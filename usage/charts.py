"""The Usage page's pictures, laid out for inline SVG (as entitlements/charts.py does).

Layout only: the figures come from ``usage.selectors``; templates draw polylines and
rectangles with the ``.chart__*`` classes of portal.css, and each chart has a table beside it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.utils import formats

CHART_WIDTH = 600
CHART_HEIGHT = 180
PLOT_LEFT = 40
PLOT_TOP = 10
PLOT_BOTTOM = 150
MAX_FEATURE_CHARTS = 6
HEAT_CELL = 22
HEAT_LEFT = 40
HEAT_TOP = 20


@dataclass(frozen=True)
class ConcurrencyChart:
    feature: str
    owned: int | None
    points: str  # SVG polyline points
    owned_y: float | None
    y_max: int
    peak: int
    first: str
    last: str
    rows: list[tuple[str, int]]  # (bucket label, licenses out) for the table
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    plot_left: int = PLOT_LEFT
    plot_top: int = PLOT_TOP
    plot_bottom: int = PLOT_BOTTOM
    plot_right: int = CHART_WIDTH - 10


def _label(moment: datetime.datetime, hourly: bool) -> str:
    return formats.date_format(moment, "SHORT_DATETIME_FORMAT" if hourly else "SHORT_DATE_FORMAT")


def concurrency_charts(
    *,
    series: dict[str, list[tuple[datetime.datetime, int]]],
    owned: dict[str, int],
    start: datetime.datetime,
    end: datetime.datetime,
    hourly: bool,
) -> list[ConcurrencyChart]:
    """Licenses out over the period (a step line) against the quantity owned (a dashed line)."""
    charts = []
    span = max(1.0, (end - start).total_seconds())
    plot_width = CHART_WIDTH - 10 - PLOT_LEFT
    for feature, points in series.items():
        have = owned.get(feature)
        y_max = max([value for _moment, value in points] + [have or 0, 1])
        scale = (PLOT_BOTTOM - PLOT_TOP) / y_max

        def x(moment: datetime.datetime) -> float:
            return round(PLOT_LEFT + plot_width * (moment - start).total_seconds() / span, 1)

        def y(value: int, scale: float = scale) -> float:
            return round(PLOT_BOTTOM - value * scale, 1)

        coordinates = []
        step = datetime.timedelta(hours=1) if hourly else datetime.timedelta(days=1)
        previous_end = None
        for moment, value in points:
            if previous_end is not None and moment > previous_end:  # a gap: nothing out
                coordinates += [(x(previous_end), y(0)), (x(moment), y(0))]
            coordinates += [(x(moment), y(value)), (x(min(moment + step, end)), y(value))]
            previous_end = moment + step
        charts.append(
            ConcurrencyChart(
                feature=feature,
                owned=have,
                points=" ".join(f"{a},{b}" for a, b in coordinates),
                owned_y=y(have) if have else None,
                y_max=y_max,
                peak=max((v for _m, v in points), default=0),
                first=_label(start, hourly=False),
                last=_label(end - datetime.timedelta(seconds=1), hourly=False),
                rows=[(_label(moment, hourly), value) for moment, value in points],
            )
        )
    return charts


@dataclass(frozen=True)
class HeatCell:
    x: int
    y: int
    value: float
    level: int  # 0 (nothing out) .. 4 (the busiest cells)
    title: str

    @property
    def opacity(self) -> str:
        return f"{self.level / 4:.2f}" if self.level else "1"


@dataclass(frozen=True)
class Heatmap:
    cells: list[HeatCell]
    days: list[tuple[int, str]]  # (y, label)
    hours: list[tuple[int, str]]  # (x, label)
    rows: list[tuple[str, list[float]]]  # table: weekday label, 24 values
    width: int
    height: int
    maximum: float

    @property
    def empty(self) -> bool:
        return not self.maximum


def heatmap(values: dict[tuple[int, int], float], weekday_names: list[str]) -> Heatmap:
    """Hour of day x weekday: average licenses out."""
    maximum = max(values.values(), default=0.0)
    cells = []
    rows = []
    for weekday in range(1, 8):
        row = []
        for hour in range(24):
            value = values.get((weekday, hour), 0.0)
            row.append(value)
            level = 0 if not value or not maximum else min(4, 1 + int(3.999 * value / maximum))
            cells.append(
                HeatCell(
                    x=HEAT_LEFT + hour * HEAT_CELL,
                    y=HEAT_TOP + (weekday - 1) * HEAT_CELL,
                    value=value,
                    level=level,
                    title=f"{weekday_names[weekday - 1]} {hour:02d}:00 · {formats.number_format(value, 2)}",
                )
            )
        rows.append((weekday_names[weekday - 1], row))
    return Heatmap(
        cells=cells,
        days=[(HEAT_TOP + i * HEAT_CELL + HEAT_CELL // 2, name[:3]) for i, name in enumerate(weekday_names)],
        hours=[(HEAT_LEFT + h * HEAT_CELL + HEAT_CELL // 2, f"{h:02d}") for h in range(0, 24, 3)],
        rows=rows,
        width=HEAT_LEFT + 24 * HEAT_CELL + 4,
        height=HEAT_TOP + 7 * HEAT_CELL + 4,
        maximum=maximum,
    )
