"""Every read of products and entitlements, always scoped by customer.

The status (active / not started / expired) and the available quantity are computed in the
database, once per query, so list pages neither filter per row in Python nor grow their
query count with the number of lines.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import (
    Case,
    CharField,
    Count,
    DateField,
    F,
    IntegerField,
    Min,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Customer
from portal.db import compiled_objects, compiled_rows

from .models import Entitlement, EntitlementStatus, LicensingModel, Product

# Sort keys offered on the entitlements page -> ORDER BY (line id breaks ties).
ENTITLEMENT_SORTS: dict[str, tuple[str, ...]] = {
    "line": ("line_id",),
    "-line": ("-line_id",),
    "product": ("product__name", "line_id"),
    "-product": ("-product__name", "line_id"),
    "feature": ("product__feature", "line_id"),
    "-feature": ("-product__feature", "line_id"),
    "quantity": ("quantity", "line_id"),
    "-quantity": ("-quantity", "line_id"),
    "available": ("available_count", "line_id"),
    "-available": ("-available_count", "line_id"),
    "start": ("start_date", "line_id"),
    "-start": ("-start_date", "line_id"),
    "end": ("end_sort", "line_id"),
    "-end": ("-end_sort", "line_id"),
    "status": ("status_value", "line_id"),
    "-status": ("-status_value", "line_id"),
}

# Perpetual lines sort after every dated one.
_FAR_FUTURE = datetime.date(9999, 12, 31)


@dataclass(frozen=True)
class EntitlementFilters:
    status: str = ""
    model: str = ""
    text: str = ""
    sort: str = "line"


def _annotated(queryset: QuerySet[Entitlement], *, today: datetime.date) -> QuerySet[Entitlement]:
    return queryset.select_related("product").annotate(
        available_count=F("quantity") - F("activated"),
        status_value=Case(
            When(start_date__gt=today, then=Value(EntitlementStatus.NOT_STARTED.value)),
            When(end_date__lt=today, then=Value(EntitlementStatus.EXPIRED.value)),
            default=Value(EntitlementStatus.ACTIVE.value),
            output_field=CharField(),
        ),
        end_sort=Coalesce(F("end_date"), Value(_FAR_FUTURE)),
        usage_percent=Case(
            When(quantity__gt=0, then=F("activated") * 100 / F("quantity")),
            default=Value(0),
            output_field=IntegerField(),
        ),
    )


def entitlement_list(
    *, customer: Customer, filters: EntitlementFilters | None = None, today: datetime.date | None = None
) -> QuerySet[Entitlement]:
    """The customer's entitlement lines, filtered and sorted, with ``available``,
    ``status_value`` and ``usage_percent`` annotated. One query however many lines."""
    filters = filters or EntitlementFilters()
    today = today or timezone.localdate()
    queryset = _annotated(Entitlement.objects.filter(customer=customer), today=today)
    if filters.status in EntitlementStatus.values:
        queryset = queryset.filter(status_value=filters.status)
    if filters.model in LicensingModel.values:
        queryset = queryset.filter(product__licensing_model=filters.model)
    text = filters.text.strip()
    if text:
        queryset = queryset.filter(
            Q(line_id__icontains=text)
            | Q(order_number__icontains=text)
            | Q(product__name__icontains=text)
            | Q(product__feature__icontains=text)
        )
    return queryset.order_by(*ENTITLEMENT_SORTS.get(filters.sort, ENTITLEMENT_SORTS["line"]))


def flexnet_entitlement_list(*, customer: Customer, today: datetime.date | None = None) -> QuerySet[Entitlement]:
    """The customer's FlexNet lines (what can go on a license server), by line id."""
    return entitlement_list(customer=customer, filters=EntitlementFilters(model=LicensingModel.FLEXNET), today=today)


# A posted form names a handful of lines; past this many they are read by the ORM's query.
_LINES_COMPILED_MAX = 64


def flexnet_lines(*, customer: Customer, ids: Iterable[int]) -> list[Entitlement]:
    """The customer's FlexNet lines among ``ids``, by line id, with their products, without
    the list's annotations: what an activation confirm validates its posted lines against.
    A lookup by keys (``portal.db.compiled_objects``) for up to 64 lines: building the list's
    annotated query was a fifth of a confirm's Python (docs/performance.md, "fifth pass");
    ``flexnet_entitlement_list`` for a page that shows the lines."""
    ids = sorted(set(ids))
    if not ids:
        return []

    def build(customer_id: int, *pks: int) -> QuerySet[Entitlement]:
        return Entitlement.objects.filter(
            customer_id=customer_id, pk__in=pks, product__licensing_model=LicensingModel.FLEXNET
        ).order_by("line_id")

    if len(ids) > _LINES_COMPILED_MAX:
        return list(build(customer.pk, *ids).select_related("product"))
    return compiled_objects(
        ("entitlements.flexnet_lines", len(ids)),
        Entitlement,
        build,
        customer.pk,
        *ids,
        related=(("product", Product),),
    )


def entitlement_usage_by_product(*, customer: Customer, today: datetime.date | None = None) -> QuerySet:
    """Activated and total quantity per product over the lines active today, as dicts
    (``product__name``, ``product__feature``, ``quantity``, ``activated``, ``lines``), by product
    name. Elastic units are left out: they are consumed, not activated. One query."""
    today = today or timezone.localdate()
    return (
        Entitlement.objects.filter(customer=customer, start_date__lte=today)
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=today))
        .exclude(product__licensing_model=LicensingModel.ELASTIC)
        .values("product__name", "product__feature")
        .annotate(quantity=Sum("quantity"), activated=Sum("activated"), lines=Count("id"))
        .order_by("product__name", "product__feature")
    )


def entitlement_expiry_list(*, customer: Customer, start: datetime.date, end: datetime.date) -> QuerySet:
    """Lines whose end date or TECS end date falls between ``start`` and ``end``, grouped by
    product and dates, as dicts (``product__name``, ``end_date``, ``tecs_end_date``, ``first_start``,
    ``quantity``, ``lines``), soonest first. One query."""
    return (
        Entitlement.objects.filter(customer=customer)
        .filter(Q(end_date__range=(start, end)) | Q(tecs_end_date__range=(start, end)))
        .values("product__name", "end_date", "tecs_end_date")
        .annotate(first_start=Min("start_date"), quantity=Sum("quantity"), lines=Count("id"))
        .order_by(Coalesce("end_date", "tecs_end_date"), "tecs_end_date", "product__name")
    )


def entitlement_expiry_soonest(
    *, customer: Customer, start: datetime.date, end: datetime.date, limit: int
) -> list[dict]:
    """The first ``limit`` groups of ``entitlement_expiry_list``, ordered by the first of their
    end / TECS end dates inside the window (then product name), each with ``total``: how many
    groups there are in all. Sorting and counting happen in the database, so a customer with
    thousands of lines costs one query and ``limit`` rows, not a Python sort of every group
    (docs/performance.md)."""

    end_in = Q(end_date__range=(start, end))
    tecs_in = Q(tecs_end_date__range=(start, end))
    # The earlier of the dates that fall in the window (a CASE: LEAST treats NULL differently
    # on PostgreSQL and SQLite).
    first_in_window = Case(
        When(end_in & tecs_in & Q(tecs_end_date__lt=F("end_date")), then=F("tecs_end_date")),
        When(end_in, then=F("end_date")),
        When(tecs_in, then=F("tecs_end_date")),
        default=Value(end),
        output_field=DateField(),
    )
    return list(
        entitlement_expiry_list(customer=customer, start=start, end=end)
        .annotate(first_in_window=first_in_window, total=Window(Count("*")))
        # Then the list's own order, so ties keep the order they always had.
        .order_by("first_in_window", "product__name", Coalesce("end_date", "tecs_end_date"), "tecs_end_date")[:limit]
    )


def entitlement_get(*, customer: Customer, entitlement_id: int) -> Entitlement | None:
    return Entitlement.objects.select_related("product").filter(customer=customer, pk=entitlement_id).first()


def customer_has_flexnet(*, customer: Customer) -> bool:
    return bool(
        compiled_rows(
            "entitlements.customer_has_flexnet",
            lambda customer_id: (
                Entitlement.objects.filter(customer_id=customer_id, product__licensing_model=LicensingModel.FLEXNET)
                .order_by()  # as exists(): not the model's ordering (a join and a sort of every line)
                .values_list("pk")[:1]
            ),
            customer.pk,
        )
    )


def customers_with_flexnet(*, customer_ids: Iterable[int]) -> set[int]:
    """Which of these customers own FlexNet entitlements: one query for a whole list."""
    return set(
        Entitlement.objects.filter(customer_id__in=list(customer_ids), product__licensing_model=LicensingModel.FLEXNET)
        .order_by()
        .values_list("customer_id", flat=True)
        .distinct()
    )


def product_by_feature(*, feature: str) -> Product | None:
    return Product.objects.filter(feature=feature).first()
