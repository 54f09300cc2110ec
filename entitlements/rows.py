"""The rows of the entitlements table, rendered without the template engine.

The entitlements page is every role's landing page and shows 50 lines of 13 cells. Through
Django templates each cell costs a variable lookup, a localisation and an escape, which made
the rows most of the page's time (docs/performance.md). Here every translated word is looked
up once per page and each row is one ``format_html`` call; the markup is exactly what the
template loop produced. Everything shown is escaped by ``format_html``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.utils import formats
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from .models import Entitlement, EntitlementStatus, LicensingModel

_ROW = (
    "    <tr{}>\n"
    '      <th scope="row" class="nowrap">{}</th>\n'
    "      <td>{}</td>\n"
    "      <td><code>{}</code></td>\n"
    '      <td class="num">{}</td>\n'
    '      <td class="num">{}</td>\n'
    '      <td class="num">{}</td>\n'
    '      <td><div class="usage"><meter min="0" max="{}" value="{}" high="{}" aria-label="{}">{}%</meter>'
    '<span class="usage__value">{}%</span></div></td>\n'
    '      <td class="nowrap">{}</td>\n'
    '      <td class="nowrap">{}</td>\n'
    '      <td class="nowrap">{}</td>\n'
    "      <td>{}</td>\n"
    "      <td>{}</td>\n"
    "      <td>{}</td>\n"
    "      <td>{}</td>\n"
    "    </tr>\n"
)


def entitlement_rows_html(entitlements: Iterable[Entitlement], notes: Mapping[int, Any] | None = None) -> SafeString:
    """``<tr>`` elements for lines from ``entitlements.selectors.entitlement_list`` (which
    annotates ``status_value`` and ``usage_percent``). ``notes`` maps a line's id to what its
    measured use recommends (an object with ``text``; settings.PORTAL_ENTITLEMENT_RECOMMENDATIONS)."""
    notes = notes or {}
    muted = mark_safe(' class="row--muted"')
    models = {
        LicensingModel.FLEXNET.value: _("FlexNet"),
        LicensingModel.SHARED_WEB.value: _("Shared Web"),
    }
    elastic = _("Elastic")
    yes, no, perpetual = _("Yes"), _("No"), _("Perpetual")
    badges = {
        EntitlementStatus.ACTIVE.value: format_html('<span class="badge badge--active">{}</span>', _("Active")),
        EntitlementStatus.EXPIRED.value: format_html('<span class="badge badge--expired">{}</span>', _("Expired")),
    }
    pending = format_html('<span class="badge badge--pending">{}</span>', _("Not started"))
    usage_label = _("Usage of line %(line)s")
    days: dict[object, str] = {}  # dates in the active language's short format, each formatted once

    def day(value: object) -> str:
        if value not in days:
            days[value] = formats.date_format(value, "SHORT_DATE_FORMAT")
        return days[value]

    rows = []
    for e in entitlements:
        product = e.product
        rows.append(format_html(
            _ROW,
            muted if e.status_value != EntitlementStatus.ACTIVE else "",
            e.line_id, product.name, product.feature, e.quantity, e.activated, e.available,
            e.quantity, e.activated, e.quantity, usage_label % {"line": e.line_id}, e.usage_percent, e.usage_percent,
            day(e.start_date),
            day(e.end_date) if e.end_date else perpetual,
            day(e.tecs_end_date) if e.tecs_end_date else "—",
            models.get(product.licensing_model, elastic),
            yes if e.borrowable else no,
            badges.get(e.status_value, pending),
            notes[e.pk].text if e.pk in notes else "—",
        ))
    return mark_safe("".join(rows))  # noqa: S308 - every part went through format_html
