"""Every read of the Shared Web and Elastic settings, always scoped by customer.

The usage chart's numbers are aggregated here (``elastic_cost_by_bucket``); its layout is in
``charts.py``.
"""

from __future__ import annotations

import calendar
import datetime
import enum
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, Lower, TruncDay, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Customer

from ..models import (
    ElasticAccount,
    ElasticUsage,
    Entitlement,
    LicensingModel,
    SeatAssignment,
    SharedWebGroup,
    SharedWebUser,
)

ZERO = Decimal("0")


# --- Which sections the customer has ------------------------------------------------------


def licensing_models_owned(*, customer: Customer) -> frozenset[str]:
    """The licensing models (Shared Web, Elastic, FlexNet) of the customer's entitlements."""
    return frozenset(
        Entitlement.objects.filter(customer=customer)
        .order_by()
        .values_list("product__licensing_model", flat=True)
        .distinct()
    )


# --- Shared Web users -------------------------------------------------------------------


def shared_web_user_list(*, customer: Customer) -> QuerySet[SharedWebUser]:
    """The customer's Shared Web users by email, their groups prefetched (two queries)."""
    return (
        SharedWebUser.objects.filter(customer=customer)
        .prefetch_related(Prefetch("groups", queryset=SharedWebGroup.objects.order_by("name")))
        .order_by("email")
    )


def shared_web_user_get(*, customer: Customer, pk: int) -> SharedWebUser | None:
    return SharedWebUser.objects.filter(customer=customer, pk=pk).first()


class ImportOutcome(enum.Enum):
    ADD = "add"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    INVALID = "invalid"
    DUPLICATE = "duplicate"

    @property
    def label(self) -> str:
        return str(IMPORT_OUTCOME_LABELS[self])

    @property
    def tone(self) -> str:
        """The badge style the preview shows the outcome with."""
        return _IMPORT_OUTCOME_TONES[self]


IMPORT_OUTCOME_LABELS = {
    ImportOutcome.ADD: gettext_lazy("Add"),
    ImportOutcome.UPDATE: gettext_lazy("Update name"),
    ImportOutcome.UNCHANGED: gettext_lazy("Unchanged"),
    ImportOutcome.INVALID: gettext_lazy("Invalid"),
    ImportOutcome.DUPLICATE: gettext_lazy("Duplicate in file"),
}
_IMPORT_OUTCOME_TONES = {
    ImportOutcome.ADD: "success",
    ImportOutcome.UPDATE: "info",
    ImportOutcome.UNCHANGED: "muted",
    ImportOutcome.INVALID: "danger",
    ImportOutcome.DUPLICATE: "warning",
}


@dataclass(frozen=True)
class SharedWebImportRequest:
    """One parsed ``email,name`` line; ``error`` is set when it did not parse."""

    number: int
    text: str
    email: str = ""
    name: str = ""
    error: str = ""


@dataclass(frozen=True)
class SharedWebImportLine:
    request: SharedWebImportRequest
    outcome: ImportOutcome
    reason: str = ""
    user_id: int | None = None

    @property
    def blocking(self) -> bool:
        return self.outcome == ImportOutcome.INVALID

    @property
    def applies(self) -> bool:
        return self.outcome in (ImportOutcome.ADD, ImportOutcome.UPDATE)


def shared_web_import_plan(
    *, customer: Customer, requests: Sequence[SharedWebImportRequest]
) -> list[SharedWebImportLine]:
    """What importing each line would do, in one query whatever the count."""
    emails = {request.email for request in requests if request.email and not request.error}
    existing: dict[str, tuple[int, str]] = {}
    if emails:
        for pk, email_lower, name in (
            SharedWebUser.objects.filter(customer=customer)
            .annotate(email_lower=Lower("email"))
            .filter(email_lower__in=emails)
            .values_list("pk", "email_lower", "name")
        ):
            existing[email_lower] = (pk, name)
    plan: list[SharedWebImportLine] = []
    first_seen: dict[str, int] = {}
    for request in requests:
        if request.error:
            plan.append(SharedWebImportLine(request, ImportOutcome.INVALID, request.error))
            continue
        if request.email in first_seen:
            reason = _("Same email as line %(line)d; this line is ignored.") % {"line": first_seen[request.email]}
            plan.append(SharedWebImportLine(request, ImportOutcome.DUPLICATE, reason))
            continue
        first_seen[request.email] = request.number
        if request.email not in existing:
            plan.append(SharedWebImportLine(request, ImportOutcome.ADD, _("Not on the list yet: added.")))
            continue
        pk, name = existing[request.email]
        if request.name and request.name != name:
            reason = _("Name changes from “%(old)s” to “%(new)s”.") % {"old": name or "—", "new": request.name}
            plan.append(SharedWebImportLine(request, ImportOutcome.UPDATE, reason, pk))
        else:
            plan.append(SharedWebImportLine(request, ImportOutcome.UNCHANGED, _("Already on the list."), pk))
    return plan


def shared_web_import_digest(plan: Sequence[SharedWebImportLine]) -> str:
    """Equal digests mean applying would do exactly what the preview showed."""
    payload = [
        [line.request.number, line.request.email, line.request.name, line.outcome.value, line.user_id] for line in plan
    ]
    return hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode()).hexdigest()


# --- Shared Web groups and seats --------------------------------------------------------


def shared_web_group_list(*, customer: Customer) -> QuerySet[SharedWebGroup]:
    """Groups by name with member count and reserved seats annotated (one query)."""
    return (
        SharedWebGroup.objects.filter(customer=customer)
        .annotate(
            member_count=Count("members", distinct=True),
            # A subquery, not a join: joining members too would multiply the sum.
            seats_reserved=Coalesce(
                Subquery(
                    SeatAssignment.objects.filter(group=OuterRef("pk"))
                    .order_by()
                    .values("group")
                    .annotate(total=Sum("seats"))
                    .values("total")
                ),
                0,
            ),
        )
        .order_by("name")
    )


def shared_web_group_get(*, customer: Customer, pk: int) -> SharedWebGroup | None:
    return (
        SharedWebGroup.objects.filter(customer=customer, pk=pk)
        .prefetch_related(
            Prefetch("members", queryset=SharedWebUser.objects.order_by("email")),
            Prefetch("seat_assignments", queryset=SeatAssignment.objects.select_related("entitlement__product")),
        )
        .first()
    )


def shared_web_entitlement_list(*, customer: Customer) -> QuerySet[Entitlement]:
    """The customer's Shared Web lines with their seat assignments (two queries)."""
    return (
        Entitlement.objects.filter(customer=customer, product__licensing_model=LicensingModel.SHARED_WEB)
        .select_related("product")
        .prefetch_related(
            Prefetch(
                "seat_assignments",
                queryset=SeatAssignment.objects.select_related("group").order_by("group__name"),
            )
        )
        .order_by("line_id")
    )


def shared_web_entitlement_get(*, customer: Customer, pk: int) -> Entitlement | None:
    return (
        Entitlement.objects.filter(customer=customer, pk=pk, product__licensing_model=LicensingModel.SHARED_WEB)
        .select_related("product")
        .first()
    )


@dataclass(frozen=True)
class SeatRow:
    entitlement: Entitlement
    reservations: list[SeatAssignment]
    reserved: int
    unreserved: int


def shared_web_access_overview(*, customer: Customer) -> list[SeatRow]:
    """Per Shared Web line: the seats reserved for each group and the unreserved pool."""
    rows = []
    for entitlement in shared_web_entitlement_list(customer=customer):
        reservations = list(entitlement.seat_assignments.all())
        reserved = sum(assignment.seats for assignment in reservations)
        rows.append(SeatRow(entitlement, reservations, reserved, max(entitlement.quantity - reserved, 0)))
    return rows


def shared_web_group_members_list(*, customer: Customer) -> QuerySet[SharedWebGroup]:
    """Groups with their active members (for the "who may use what" page)."""
    return (
        SharedWebGroup.objects.filter(customer=customer)
        .prefetch_related(
            Prefetch(
                "members",
                queryset=SharedWebUser.objects.filter(active=True).order_by("email"),
                to_attr="active_members",
            )
        )
        .order_by("name")
    )


# --- Elastic ----------------------------------------------------------------------------


def elastic_account_get(*, customer: Customer) -> ElasticAccount | None:
    return ElasticAccount.objects.filter(customer=customer).first()


def elastic_pool_units(*, customer: Customer, today: datetime.date | None = None) -> int:
    """The prepaid pool: the quantity of the customer's active Elastic lines."""
    today = today or timezone.localdate()
    total = (
        Entitlement.objects.filter(customer=customer, product__licensing_model=LicensingModel.ELASTIC)
        .filter(start_date__lte=today)
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=today))
        .aggregate(total=Sum("quantity"))["total"]
    )
    return total or 0


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def elastic_consumed(
    *, customer: Customer, start: datetime.date | None = None, end: datetime.date | None = None
) -> Decimal:
    """Sum of usage cost; ``start``/``end`` are whole days (``end`` inclusive) by start time."""
    usage = ElasticUsage.objects.filter(customer=customer)
    if start is not None:
        usage = usage.filter(started_at__gte=_day_start(start))
    if end is not None:
        usage = usage.filter(started_at__lt=_day_start(end + datetime.timedelta(days=1)))
    return usage.aggregate(total=Sum("cost"))["total"] or ZERO


@dataclass(frozen=True)
class ElasticPool:
    """The prepaid Elastic pool as both the entitlements page and the Elastic page show it."""

    pool: int
    consumed: Decimal

    @property
    def balance(self) -> Decimal:
        return Decimal(self.pool) - self.consumed


def elastic_pool(*, customer: Customer, today: datetime.date | None = None) -> ElasticPool:
    """Pool units of the active Elastic lines and everything consumed from it: two queries."""
    return ElasticPool(
        pool=elastic_pool_units(customer=customer, today=today), consumed=elastic_consumed(customer=customer)
    )


def month_start(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


BURN_RATE_DAYS = 30


@dataclass(frozen=True)
class ElasticSummary:
    pool: int
    consumed: Decimal
    balance: Decimal
    month: datetime.date
    month_consumed: Decimal
    budget: int | None
    budget_percent: int | None
    month_projection: Decimal
    burn_rate: Decimal  # average Elastic units per day over the last BURN_RATE_DAYS
    runs_out_in_days: int | None
    runs_out_on: datetime.date | None

    @property
    def exhausted(self) -> bool:
        return self.balance <= 0


def elastic_summary(
    *, customer: Customer, account: ElasticAccount | None, today: datetime.date | None = None
) -> ElasticSummary:
    """Pool, consumption, balance, this month against the budget, and the forecast of when
    the balance runs out at the average daily cost of the last 30 days (None when nothing
    is being consumed)."""
    today = today or timezone.localdate()
    totals = elastic_pool(customer=customer, today=today)
    pool, consumed, balance = totals.pool, totals.consumed, totals.balance
    month = month_start(today)
    month_consumed = elastic_consumed(customer=customer, start=month, end=today)
    recent = elastic_consumed(customer=customer, start=today - datetime.timedelta(days=BURN_RATE_DAYS - 1), end=today)
    burn_rate = (recent / BURN_RATE_DAYS).quantize(Decimal("0.001"))
    runs_out_in_days: int | None = None
    runs_out_on: datetime.date | None = None
    if balance <= 0:
        runs_out_in_days, runs_out_on = 0, today
    elif burn_rate > 0:
        runs_out_in_days = int(balance / burn_rate)
        if runs_out_in_days < 365 * 100:
            runs_out_on = today + datetime.timedelta(days=runs_out_in_days)
    days_in_month = calendar.monthrange(today.year, today.month)[1]
    projection = (month_consumed / today.day * days_in_month).quantize(Decimal("0.001"))
    budget = account.monthly_budget_units if account else None
    percent = int(month_consumed * 100 / budget) if budget else None
    return ElasticSummary(
        pool=pool,
        consumed=consumed,
        balance=balance,
        month=month,
        month_consumed=month_consumed,
        budget=budget,
        budget_percent=percent,
        month_projection=projection,
        burn_rate=burn_rate,
        runs_out_in_days=runs_out_in_days,
        runs_out_on=runs_out_on,
    )


def elastic_accounts_with_budget() -> QuerySet[ElasticAccount]:
    """Every account with a monthly budget and thresholds: for the periodic budget check
    (system-wide by nature; each account is then handled for its own customer)."""
    return (
        ElasticAccount.objects.filter(monthly_budget_units__gt=0)
        .exclude(alert_thresholds=[])
        .select_related("customer")
        .order_by("pk")
    )


# --- Usage transactions -----------------------------------------------------------------


def elastic_usage_list(*, customer: Customer, start: datetime.date, end: datetime.date) -> QuerySet[ElasticUsage]:
    """Usage transactions that started between two days (inclusive), newest first; walks the
    ``elastic_usage_customer_time`` index."""
    return (
        ElasticUsage.objects.filter(
            customer=customer,
            started_at__gte=_day_start(start),
            started_at__lt=_day_start(end + datetime.timedelta(days=1)),
        )
        .select_related("product")
        .order_by("-started_at", "-id")
    )


class Granularity(enum.Enum):
    DAY = "day"
    MONTH = "month"


def elastic_cost_by_bucket(
    *, customer: Customer, start: datetime.date, end: datetime.date, granularity: Granularity
) -> list[tuple[datetime.date, str, Decimal]]:
    """The usage cost per day or month (local time) and product name, in one query."""
    trunc = TruncDay if granularity == Granularity.DAY else TruncMonth
    rows = (
        elastic_usage_list(customer=customer, start=start, end=end)
        .order_by()
        .annotate(bucket=trunc("started_at", tzinfo=timezone.get_current_timezone()))
        .values("bucket", "product__name")
        .annotate(cost=Sum("cost"))
    )
    result = []
    for row in rows:
        bucket = row["bucket"]
        day = timezone.localtime(bucket).date() if isinstance(bucket, datetime.datetime) else bucket
        result.append((day, row["product__name"], row["cost"]))
    return result
