"""The columns of the entitlements table, stated once: the page's header and rows and the
CSV export are all made from ``COLUMNS``. Adding a column is one ``Column(...)`` here.

The entitlements page is every role's landing page and shows 50 lines of 13 cells. Through
Django templates each cell costs a variable lookup, a localisation and an escape, which made
the rows most of the page's time (docs/performance.md). So the rows are rendered without the
template engine: every translated word is looked up once per page (``Words``) and each row is
one ``format_html`` call with a format string built from the columns at import. Everything
shown is escaped by ``format_html``.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.utils import formats
from django.utils.functional import Promise
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .models import Entitlement, EntitlementStatus, LicensingModel


class Words:
    """The translated words of one page or export, each looked up once; ``elastic_pool`` is
    the Elastic pool's summary when the page shows an Elastic line; ``notes``: what each line's
    measured use recommends (line id -> an object with ``text``; see views)."""

    def __init__(self, elastic_pool: Any = None, notes: Mapping[int, Any] | None = None) -> None:
        self.elastic_pool = elastic_pool
        self.notes = notes or {}

    def note(self, e: Entitlement) -> SafeString | str:
        """What the line's measured use recommends, under its usage bar (nothing without data)."""
        note = self.notes.get(e.pk)
        return format_html('<p class="recommendation">{}</p>', note.text) if note is not None else ""

    @cached_property
    def used(self) -> str:
        return _("%(n)s used")

    @cached_property
    def left(self) -> str:
        return _("%(n)s left")

    @cached_property
    def reserved(self) -> str:
        return _("%(n)s reserved")

    @cached_property
    def models(self) -> dict[str, str]:
        return {LicensingModel.FLEXNET.value: _("FlexNet"), LicensingModel.SHARED_WEB.value: _("Shared Web")}

    @cached_property
    def elastic(self) -> str:
        return _("Elastic")

    @cached_property
    def borrowable(self) -> SafeString:
        return format_html('<br><span class="badge badge--info">{}</span>', _("borrowable"))

    @cached_property
    def perpetual(self) -> str:
        return _("Perpetual")

    @cached_property
    def badges(self) -> dict[str, SafeString]:
        return {
            EntitlementStatus.ACTIVE.value: format_html('<span class="badge badge--active">{}</span>', _("Active")),
            EntitlementStatus.EXPIRED.value: format_html('<span class="badge badge--expired">{}</span>', _("Expired")),
        }

    @cached_property
    def pending(self) -> SafeString:
        return format_html('<span class="badge badge--pending">{}</span>', _("Not started"))

    @cached_property
    def usage_label(self) -> str:
        return _("Usage of line %(line)s")

    @cached_property
    def csv_models(self) -> dict[str, str]:
        return dict(LicensingModel.choices)

    @cached_property
    def csv_statuses(self) -> dict[str, str]:
        return dict(EntitlementStatus.choices)

    @cached_property
    def csv_yes_no(self) -> tuple[str, str]:
        return _("yes"), _("no")

    @cached_property
    def _days(self) -> dict[object, str]:
        return {}

    def day(self, value: datetime.date) -> str:
        """A date in the active language's short format, each formatted once."""
        if value not in self._days:
            self._days[value] = formats.date_format(value, "SHORT_DATE_FORMAT")
        return self._days[value]


Cells = Callable[[Entitlement, Words], tuple[Any, ...]]


@dataclass(frozen=True)
class Column:
    """One column. ``cell`` is its page markup with ``{}`` for each value ``html`` gives (no
    ``cell``: CSV only); ``csv`` gives its CSV value (None: page only). ``sort`` is the
    ``?sort=`` key of ``selectors.ENTITLEMENT_SORTS`` when the header sorts by it."""

    label: str | Promise
    cell: str | None = None
    html: Cells | None = None
    csv: Callable[[Entitlement, Words], object] | None = None
    csv_label: str | Promise | None = None
    sort: str | None = None
    numeric: bool = False

    @property
    def descending(self) -> str:
        return f"-{self.sort}"


def _usage(e: Entitlement, w: Words) -> tuple[Any, ...]:
    if w.elastic_pool is not None and e.product.licensing_model == LicensingModel.ELASTIC:
        pool = w.elastic_pool
        percent = round(pool.consumed * 100 / pool.pool) if pool.pool else 0
        return (pool.pool, pool.consumed, pool.pool, w.usage_label % {"line": e.line_id}, percent, percent)
    return (e.quantity, e.activated, e.quantity, w.usage_label % {"line": e.line_id}, e.usage_percent, e.usage_percent)


def _activated(e: Entitlement, w: Words) -> tuple[Any, ...]:
    """Each line in its own unit: FlexNet tasks activated, Shared Web seats reserved, the
    Elastic pool's units consumed (as the Elastic settings page shows them)."""
    model = e.product.licensing_model
    if model == LicensingModel.ELASTIC and w.elastic_pool is not None:
        return (w.used % {"n": formats.number_format(w.elastic_pool.consumed, decimal_pos=0, use_l10n=True)},)
    if model == LicensingModel.SHARED_WEB:
        return (w.reserved % {"n": e.activated},)
    return (e.activated,)


def _available(e: Entitlement, w: Words) -> tuple[Any, ...]:
    if e.product.licensing_model == LicensingModel.ELASTIC and w.elastic_pool is not None:
        return (w.left % {"n": formats.number_format(w.elastic_pool.balance, decimal_pos=0, use_l10n=True)},)
    return (e.available,)


COLUMNS: tuple[Column, ...] = (
    Column(
        gettext_lazy("Line"),
        '<th scope="row" class="nowrap">{}<br>{}</th>',
        lambda e, w: (e.line_id, w.badges.get(e.status_value, w.pending)),
        lambda e, w: e.line_id,
        sort="line",
    ),
    Column(gettext_lazy("Order"), csv=lambda e, w: e.order_number),
    # At 1280 px every column fits (issue 14): the status sits under the line, the feature
    # under the product, the recommendation under the usage bar, the term's two dates share a
    # cell and "borrowable" is a mark beside the model; the CSV keeps each value in a column of
    # its own.
    Column(
        gettext_lazy("Product"),
        '<td>{}<br><code class="feature">{}</code></td>',
        lambda e, w: (e.product.name, e.product.feature),
        lambda e, w: e.product.name,
        sort="product",
    ),
    Column(gettext_lazy("Feature"), csv=lambda e, w: e.product.feature),
    Column(
        gettext_lazy("Quantity"),
        '<td class="num">{}</td>',
        lambda e, w: (e.quantity,),
        lambda e, w: e.quantity,
        sort="quantity",
        numeric=True,
    ),
    Column(gettext_lazy("Activated"), '<td class="num">{}</td>', _activated, lambda e, w: e.activated, numeric=True),
    Column(
        gettext_lazy("Available"),
        '<td class="num">{}</td>',
        _available,
        lambda e, w: e.available,
        sort="available",
        numeric=True,
    ),
    # The recommendation comes from the usage app (settings.PORTAL_ENTITLEMENT_RECOMMENDATIONS).
    Column(
        gettext_lazy("Usage"),
        '<td><div class="usage"><meter min="0" max="{}" value="{}" high="{}" '
        'aria-label="{}">{}%</meter><span class="usage__value">{}%</span></div>{}</td>',
        lambda e, w: (*_usage(e, w), w.note(e)),
    ),
    Column(gettext_lazy("Start"), csv=lambda e, w: e.start_date.isoformat()),
    Column(gettext_lazy("End"), csv=lambda e, w: e.end_date.isoformat() if e.end_date else w.perpetual),
    Column(
        gettext_lazy("Term"),
        '<td class="term"><span class="nowrap">{} –</span><br><span class="nowrap">{}</span></td>',
        lambda e, w: (w.day(e.start_date), w.day(e.end_date) if e.end_date else w.perpetual),
        sort="end",
    ),
    Column(
        gettext_lazy("TECS end"),
        '<td class="nowrap">{}</td>',
        lambda e, w: (w.day(e.tecs_end_date) if e.tecs_end_date else "—",),
        lambda e, w: e.tecs_end_date.isoformat() if e.tecs_end_date else "",
    ),
    Column(
        gettext_lazy("Model"),
        "<td>{}{}</td>",
        lambda e, w: (w.models.get(e.product.licensing_model, w.elastic), w.borrowable if e.borrowable else ""),
        lambda e, w: w.csv_models.get(e.product.licensing_model, e.product.licensing_model),
        csv_label=gettext_lazy("Licensing model"),
    ),
    Column(gettext_lazy("Borrowable"), csv=lambda e, w: w.csv_yes_no[0] if e.borrowable else w.csv_yes_no[1]),
    Column(gettext_lazy("Status"), csv=lambda e, w: w.csv_statuses.get(e.status_value, e.status_value)),
)
PAGE_COLUMNS = tuple(column for column in COLUMNS if column.cell is not None)
CSV_COLUMNS = tuple(column for column in COLUMNS if column.csv is not None)

_ROW = "    <tr{}>\n" + "".join(f"      {column.cell}\n" for column in PAGE_COLUMNS) + "    </tr>\n"


def entitlement_rows_html(
    entitlements: Iterable[Entitlement], *, elastic_pool: Any = None, notes: Mapping[int, Any] | None = None
) -> SafeString:
    """``<tr>`` elements for lines from ``entitlements.selectors.entitlement_list`` (which
    annotates ``status_value`` and ``usage_percent``); ``elastic_pool``
    (``licensing.selectors.elastic_summary``) for the Elastic lines' consumption; ``notes`` as
    ``Words.notes``."""
    muted = mark_safe(' class="row--muted"')
    words = Words(elastic_pool, notes)
    rows = []
    for e in entitlements:
        values: list[Any] = [muted if e.status_value != EntitlementStatus.ACTIVE else ""]
        for column in PAGE_COLUMNS:
            values.extend(column.html(e, words))  # type: ignore[misc]
        rows.append(format_html(_ROW, *values))
    return mark_safe("".join(rows))  # noqa: S308 - every part went through format_html


def entitlement_csv_header() -> list[str]:
    return [str(column.csv_label or column.label) for column in CSV_COLUMNS]


def entitlement_csv_rows(entitlements: Iterable[Entitlement]) -> Iterable[list[object]]:
    words = Words()
    for e in entitlements:
        yield [column.csv(e, words) for column in CSV_COLUMNS]  # type: ignore[misc]
