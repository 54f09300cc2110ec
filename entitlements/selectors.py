"""Every read of products and entitlements, always scoped by customer.

The status (active / not started / expired) and the available quantity are computed in the
database, once per query, so list pages neither filter per row in Python nor grow their
query count with the number of lines.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Case, CharField, F, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Customer

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
    return entitlement_list(
        customer=customer, filters=EntitlementFilters(model=LicensingModel.FLEXNET), today=today
    )


def entitlement_get(*, customer: Customer, entitlement_id: int) -> Entitlement | None:
    return Entitlement.objects.select_related("product").filter(customer=customer, pk=entitlement_id).first()


def customer_has_flexnet(*, customer: Customer) -> bool:
    return Entitlement.objects.filter(customer=customer, product__licensing_model=LicensingModel.FLEXNET).exists()


def product_by_feature(*, feature: str) -> Product | None:
    return Product.objects.filter(feature=feature).first()
