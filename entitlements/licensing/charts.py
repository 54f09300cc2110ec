"""The Elastic usage chart, laid out for inline SVG (beside ``entitlements/charts.py``).

The numbers come from one aggregate selector (``selectors.elastic_cost_by_bucket``); here they
are only placed, so the template draws rectangles: no JavaScript, and no inline styles under
the CSP (SVG presentation attributes).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import dateformat

from accounts.models import Customer

from .selectors import ZERO, Granularity, elastic_cost_by_bucket, month_start

# Series colours (SVG fill presentation attributes; colour-blind-friendly palette).
CHART_PALETTE = ("#2b7bd3", "#e8793a", "#2da44e", "#8250df", "#d4a72c", "#cf222e", "#1b7c83", "#6e7781")
CHART_WIDTH, CHART_HEIGHT = 720, 260
_PLOT_LEFT, _PLOT_RIGHT, _PLOT_TOP, _PLOT_BOTTOM = 56, 8, 12, 36


@dataclass(frozen=True)
class ChartRect:
    x: float
    y: float
    width: float
    height: float
    fill: str
    title: str


@dataclass(frozen=True)
class ChartTick:
    y: float
    label: str


@dataclass(frozen=True)
class ChartLabel:
    x: float
    label: str


@dataclass(frozen=True)
class ChartSeries:
    name: str
    fill: str
    total: Decimal


@dataclass
class UsageChart:
    granularity: Granularity
    buckets: list[datetime.date]
    series: list[ChartSeries]
    table: list[tuple[datetime.date, list[Decimal], Decimal]]  # the data-table fallback
    rects: list[ChartRect] = field(default_factory=list)
    ticks: list[ChartTick] = field(default_factory=list)
    labels: list[ChartLabel] = field(default_factory=list)
    total: Decimal = ZERO
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    plot_left: int = _PLOT_LEFT
    plot_right: int = CHART_WIDTH - _PLOT_RIGHT
    plot_top: int = _PLOT_TOP
    plot_bottom: int = CHART_HEIGHT - _PLOT_BOTTOM

    @property
    def empty(self) -> bool:
        return not self.series


def _buckets(start: datetime.date, end: datetime.date, granularity: Granularity) -> list[datetime.date]:
    days: list[datetime.date] = []
    if granularity == Granularity.DAY:
        day = start
        while day <= end:
            days.append(day)
            day += datetime.timedelta(days=1)
        return days
    month = month_start(start)
    while month <= end:
        days.append(month)
        month = (month + datetime.timedelta(days=32)).replace(day=1)
    return days


def _nice_max(value: Decimal) -> Decimal:
    if value <= 0:
        return Decimal(1)
    magnitude = Decimal(10) ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        candidate = magnitude * Decimal(str(step))
        if candidate >= value:
            return candidate
    return magnitude * 10


def elastic_usage_chart(
    *, customer: Customer, start: datetime.date, end: datetime.date, granularity: Granularity
) -> UsageChart:
    """Cost per day or month, stacked by product, laid out for an inline SVG. One query."""
    values: dict[tuple[datetime.date, str], Decimal] = defaultdict(lambda: ZERO)
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for day, name, cost in elastic_cost_by_bucket(customer=customer, start=start, end=end, granularity=granularity):
        values[(day, name)] += cost
        totals[name] += cost
    names = sorted(totals, key=lambda name: (-totals[name], name))
    series = [ChartSeries(name, CHART_PALETTE[i % len(CHART_PALETTE)], totals[name]) for i, name in enumerate(names)]
    buckets = _buckets(start, end, granularity)
    table = []
    for bucket in buckets:
        per_series = [values[(bucket, s.name)] for s in series]
        table.append((bucket, per_series, sum(per_series, ZERO)))
    chart = UsageChart(
        granularity=granularity, buckets=buckets, series=series, table=table, total=sum(totals.values(), ZERO)
    )
    if not series:
        return chart
    top = _nice_max(max(total for _bucket, _values, total in table))
    plot_height = chart.plot_bottom - chart.plot_top
    slot = (chart.plot_right - chart.plot_left) / len(buckets)
    bar_width = max(slot * 0.7, 1.0)
    label_every = max(1, round(len(buckets) / 12))
    # Translated month names (django.utils.dateformat), short enough not to overlap.
    label_format, title_format = ("j M", "j M Y") if granularity == Granularity.DAY else ("M y", "F Y")
    for index, (bucket, per_series, _total) in enumerate(table):
        x = chart.plot_left + index * slot + (slot - bar_width) / 2
        y = float(chart.plot_bottom)
        for s, value in zip(series, per_series, strict=True):
            if value <= 0:
                continue
            height = float(value / top) * plot_height
            y -= height
            chart.rects.append(
                ChartRect(
                    round(x, 2),
                    round(y, 2),
                    round(bar_width, 2),
                    round(height, 2),
                    s.fill,
                    f"{dateformat.format(bucket, title_format)} · {s.name}: {value.normalize():f}",
                )
            )
        if index % label_every == 0:
            chart.labels.append(ChartLabel(round(x + bar_width / 2, 2), dateformat.format(bucket, label_format)))
    for step in range(5):
        value = top * step / 4
        chart.ticks.append(ChartTick(round(chart.plot_bottom - plot_height * step / 4, 2), f"{value.normalize():f}"))
    return chart
