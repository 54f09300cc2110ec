"""Rows of the activations tables, rendered without the template engine.

The activations page lists every server with every activated line (a 200-line server is
common). Through Django templates each cell costs a lookup, a localisation and an escape;
here each row is one ``format_html`` call and each translated word is looked up once per
page (docs/performance.md). The markup is exactly what the template loop produced.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import formats
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from .models import Activation

_ROW = (
    "      <tr>\n"
    '        <th scope="row">{}</th>\n'
    "        <td>{}</td>\n"
    "        <td><code>{}</code></td>\n"
    '        <td class="num">{}</td>\n'
    "        <td>{}</td>\n"
    "        <td>{}</td>\n"
    "      </tr>\n"
)


def activation_rows_html(activations: Iterable[Activation]) -> SafeString:
    """``<tr>`` elements for activations with ``entitlement__product`` loaded."""
    yes, no, perpetual = _("Yes"), _("No"), _("Perpetual")
    days: dict[object, str] = {}  # dates in the active language's short format, each formatted once

    def day(value: object) -> str:
        if value not in days:
            days[value] = formats.date_format(value, "SHORT_DATE_FORMAT")
        return days[value]

    rows = []
    for activation in activations:
        entitlement = activation.entitlement
        rows.append(format_html(
            _ROW, entitlement.line_id, entitlement.product.name, entitlement.product.feature, activation.quantity,
            yes if activation.borrowable else no,
            day(entitlement.end_date) if entitlement.end_date else perpetual,
        ))
    return mark_safe("".join(rows))  # noqa: S308 - every part went through format_html
