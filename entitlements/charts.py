"""The entitlements page's pictures, laid out for inline SVG.

Computed from the aggregate selectors (one query each, whatever the number of lines), so the
template only draws rectangles and lines: no JavaScript, and no inline styles under the CSP
(shapes carry SVG presentation attributes and the ``.chart__*`` classes of portal.css).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.utils import dateformat, formats
from django.utils.translation import gettext as _

from accounts.models import Customer

from .selectors import entitlement_expiry_soonest, entitlement_usage_by_product

CHART_WIDTH = 600
LABEL_WIDTH = 172  # product names, right-aligned against the plot
_LABEL_CHARS = 25
# The timeline shows a little of the past (what just expired) and about two years ahead.
TIMELINE_MONTHS_BACK = 3
TIMELINE_MONTHS_AHEAD = 24
TIMELINE_MAX_ROWS = 14
TABLE_MAX_ROWS = 50
EXPIRY_WARNING_DAYS = 90


def _short(name: str) -> str:
    return name if len(name) <= _LABEL_CHARS else name[: _LABEL_CHARS - 1].rstrip() + "…"


def _day(value: datetime.date) -> str:
    return formats.date_format(value, "SHORT_DATE_FORMAT")


# --- usage per product ---------------------------------------------------------------------


@dataclass(frozen=True)
class UsageRow:
    name: str
    label: str  # shortened for the SVG
    feature: str
    quantity: int
    activated: int
    lines: int
    y: float
    activated_width: float
    available_x: float
    available_width: float
    title: str

    @property
    def available(self) -> int:
        return self.quantity - self.activated

    @property
    def percent(self) -> int:
        return round(self.activated * 100 / self.quantity) if self.quantity else 0


@dataclass
class UsageChart:
    rows: list[UsageRow] = field(default_factory=list)
    width: int = CHART_WIDTH
    height: int = 0
    plot_left: int = LABEL_WIDTH
    plot_right: int = CHART_WIDTH - 104
    row_height: int = 30
    bar_height: int = 18
    # No totals: the products' units differ (tasks, packs, seats) and are never added up.

    @property
    def empty(self) -> bool:
        return not self.rows

    @property
    def value_x(self) -> int:
        return self.plot_right + 8

    @property
    def plot_bottom(self) -> int:
        return self.height - 4


def entitlement_usage_chart(*, customer: Customer, today: datetime.date) -> UsageChart:
    """Activated vs available per product over the active lines: one 100 % bar per product,
    split into the activated and the available part. One query."""
    chart = UsageChart()
    span = chart.plot_right - chart.plot_left
    top = 4
    for index, row in enumerate(entitlement_usage_by_product(customer=customer, today=today)):
        quantity, activated = int(row["quantity"] or 0), int(row["activated"] or 0)
        if quantity <= 0:
            continue
        used = round(span * activated / quantity, 2)
        name = row["product__name"]
        chart.rows.append(
            UsageRow(
                name=name,
                label=_short(name),
                feature=row["product__feature"],
                quantity=quantity,
                activated=activated,
                lines=row["lines"],
                y=top + index * chart.row_height,
                activated_width=used,
                available_x=round(chart.plot_left + used, 2),
                available_width=round(span - used, 2),
                title=_("%(product)s: %(activated)s of %(quantity)s activated, %(available)s available")
                % {
                    "product": name,
                    "activated": activated,
                    "quantity": quantity,
                    "available": quantity - activated,
                },
            )
        )
    chart.height = top + len(chart.rows) * chart.row_height + 4
    return chart


# --- expiry timeline -------------------------------------------------------------------------


def _add_months(day: datetime.date, months: int) -> datetime.date:
    month = day.month - 1 + months
    return datetime.date(day.year + month // 12, month % 12 + 1, 1)


@dataclass(frozen=True)
class TimelineRow:
    product: str
    label: str
    lines: int
    quantity: int
    start: datetime.date
    end: datetime.date | None  # None: perpetual
    tecs_end: datetime.date | None
    kind: str  # "expired" | "warning" | "active"
    y: float = 0.0
    bar_x: float = 0.0
    bar_width: float = 0.0
    tecs_x: float | None = None
    title: str = ""
    tecs_title: str = ""

    @property
    def bar_class(self) -> str:
        return {"expired": "chart__bar--expired", "warning": "chart__bar--warning"}.get(self.kind, "chart__bar")

    @property
    def tecs_points(self) -> str:
        """A diamond centred on the TECS end date."""
        if self.tecs_x is None:
            return ""
        x, y, r = self.tecs_x, self.y + 7, 6
        return f"{x},{y - r} {x + r},{y} {x},{y + r} {x - r},{y}"


@dataclass
class TimelineChart:
    start: datetime.date
    end: datetime.date
    today: datetime.date
    rows: list[TimelineRow] = field(default_factory=list)  # drawn
    table: list[TimelineRow] = field(default_factory=list)  # the data-table fallback (at most TABLE_MAX_ROWS)
    total: int = 0  # groups in the window, drawn or not
    months: list[dict[str, float | str]] = field(default_factory=list)  # quarter grid lines, some labelled
    width: int = CHART_WIDTH
    height: int = 0
    plot_left: int = LABEL_WIDTH
    plot_right: int = CHART_WIDTH - 12
    plot_top: int = 24
    row_height: int = 26
    today_x: float = 0.0

    @property
    def empty(self) -> bool:
        return not self.rows

    @property
    def plot_bottom(self) -> int:
        return self.plot_top + max(len(self.rows), 1) * self.row_height

    @property
    def hidden_rows(self) -> int:
        return self.total - len(self.rows)

    @property
    def hidden_table_rows(self) -> int:
        return self.total - len(self.table)

    def x(self, day: datetime.date) -> float:
        span_days = (self.end - self.start).days
        offset = min(max((day - self.start).days, 0), span_days)
        return round(self.plot_left + (self.plot_right - self.plot_left) * offset / span_days, 2)


def _expiry_kind(end_date: datetime.date | None, today: datetime.date) -> str:
    if end_date is not None and end_date < today:
        return "expired"
    if end_date is not None and (end_date - today).days <= EXPIRY_WARNING_DAYS:
        return "warning"
    return "active"


def _timeline_row(chart: TimelineChart, group: dict, *, index: int) -> TimelineRow:
    """One bar (and table row) of the timeline: a product and its end and TECS end dates."""
    end_date, tecs = group["end_date"], group["tecs_end_date"]
    bar_x = chart.x(group["first_start"])
    bar_end = chart.x(end_date) if end_date is not None else float(chart.plot_right)
    name = group["product__name"]
    values = {
        "product": name,
        "end": _day(end_date) if end_date else _("perpetual"),
        "tecs": _day(tecs) if tecs else "",
    }
    return TimelineRow(
        product=name,
        label=_short(name),
        lines=group["lines"],
        quantity=int(group["quantity"] or 0),
        start=group["first_start"],
        end=end_date,
        tecs_end=tecs,
        kind=_expiry_kind(end_date, chart.today),
        y=chart.plot_top + index * chart.row_height + 6,
        bar_x=bar_x,
        bar_width=max(round(bar_end - bar_x, 2), 2.0),
        tecs_x=chart.x(tecs) if tecs is not None and chart.start <= tecs <= chart.end else None,
        title=(_("%(product)s: ends %(end)s") if end_date else _("%(product)s: perpetual")) % values,
        tecs_title=_("%(product)s: TECS ends %(tecs)s") % values if tecs else "",
    )


def entitlement_expiry_timeline(*, customer: Customer, today: datetime.date) -> TimelineChart:
    """End dates and TECS end dates from a few months back to about two years ahead, one bar
    per product and date combination, soonest first. One query."""
    start = _add_months(today, -TIMELINE_MONTHS_BACK)
    end = _add_months(today, TIMELINE_MONTHS_AHEAD + 1) - datetime.timedelta(days=1)
    chart = TimelineChart(start=start, end=end, today=today)
    groups = entitlement_expiry_soonest(customer=customer, start=start, end=end, limit=TABLE_MAX_ROWS)
    chart.total = groups[0]["total"] if groups else 0
    chart.today_x = chart.x(today)
    for index, group in enumerate(groups[:TABLE_MAX_ROWS]):
        row = _timeline_row(chart, group, index=index)
        chart.table.append(row)
        if index < TIMELINE_MAX_ROWS:
            chart.rows.append(row)
    chart.height = chart.plot_bottom + 22
    month = _add_months(start, 0)
    while month <= end:
        if month.month in (1, 4, 7, 10):
            label = dateformat.format(month, "M Y") if month.month in (1, 7) else ""
            chart.months.append({"x": chart.x(month), "label": label})
        month = _add_months(month, 1)
    return chart
