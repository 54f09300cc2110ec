"""Every read of usage data, always scoped by customer.

The page reads rollups only (``UsageHour``, ``UsagePersonDay``): each view below is one
grouped query whatever the number of events, and percentiles come from a histogram of hourly
peaks (distinct peak values x count), so no selector loads hour rows one by one.

Percentiles: the 95th percentile of a period is taken over its hours, each hour counting with
the most licenses out during it (hours without a rollup row count as 0).
"""

from __future__ import annotations

import datetime
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Case, Count, Max, QuerySet, Sum, When
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay, TruncDay, TruncMonth, TruncWeek
from django.utils import formats
from django.utils.translation import gettext as _

from accounts.models import Customer
from entitlements.models import Entitlement
from portal.fragments import customer_value

from .models import AgentKey, Upload, UsageHour, UsagePersonDay, UsageSettings, UsageSnapshot

MAX_PERIOD_DAYS = 400
DEFAULT_PERIOD_DAYS = 30
RECOMMENDATION_DAYS = 90
DENIALS_DAYS = 30
GRANULARITIES = ("day", "week", "month")
_TRUNC = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}


@dataclass(frozen=True)
class UsageFilters:
    start: datetime.date
    end: datetime.date  # inclusive
    server: str = ""
    feature: str = ""
    granularity: str = "day"

    @property
    def start_time(self) -> datetime.datetime:
        return datetime.datetime.combine(self.start, datetime.time(), tzinfo=datetime.UTC)

    @property
    def end_time(self) -> datetime.datetime:
        return datetime.datetime.combine(self.end + datetime.timedelta(days=1), datetime.time(), tzinfo=datetime.UTC)

    @property
    def hours(self) -> int:
        return ((self.end - self.start).days + 1) * 24


def upload_list(*, customer: Customer, limit: int = 20) -> QuerySet[Upload]:
    return Upload.objects.filter(customer=customer).select_related("created_by")[:limit]


def upload_get(*, customer: Customer, upload_id: int) -> Upload | None:
    return Upload.objects.filter(customer=customer, pk=upload_id).first()


def uploads_by_ids(*, customer: Customer, ids: Iterable[int]) -> QuerySet[Upload]:
    return Upload.objects.filter(customer=customer, pk__in=list(ids)[:50])


def agent_key_list(*, customer: Customer) -> QuerySet[AgentKey]:
    return AgentKey.objects.filter(customer=customer, revoked_at__isnull=True)


def agent_key_get(*, customer: Customer, key_id: int) -> AgentKey | None:
    return AgentKey.objects.filter(customer=customer, pk=key_id).first()


def usage_settings_of(*, customer: Customer) -> UsageSettings:
    """The customer's usage privacy settings (the defaults, unsaved, when never set)."""
    return UsageSettings.objects.filter(customer=customer).first() or UsageSettings(customer=customer)


def usage_latest_day(*, customer: Customer) -> datetime.date | None:
    latest = UsageHour.objects.filter(customer=customer).aggregate(latest=Max("hour"))["latest"]
    return latest.date() if latest else None


def usage_choices(*, customer: Customer) -> tuple[list[str], list[str]]:
    """The servers and features the customer has usage for (filter choices): read once per
    version of the customer's data (ingest raises it), as every request of the page needs it."""

    def compute() -> tuple[list[str], list[str]]:
        rows = UsageHour.objects.filter(customer=customer).values_list("server_name", "feature").distinct()
        servers, features = set(), set()
        for server, feature in rows:
            servers.add(server)
            features.add(feature)
        return sorted(servers), sorted(features)

    return customer_value(name="usage_choices", customer=customer, compute=compute)


def _hours(customer: Customer, filters: UsageFilters) -> QuerySet[UsageHour]:
    queryset = UsageHour.objects.filter(customer=customer, hour__gte=filters.start_time, hour__lt=filters.end_time)
    if filters.server:
        queryset = queryset.filter(server_name=filters.server)
    if filters.feature:
        queryset = queryset.filter(feature=filters.feature)
    return queryset


def percentile(histogram: Mapping[int, int], total: int, fraction: float = 0.95) -> int:
    """The ``fraction`` percentile (nearest rank) of ``total`` values, of which ``histogram``
    maps value -> how many; the values not in it are 0."""
    if total <= 0:
        return 0
    rank = max(1, math.ceil(fraction * total))
    seen = total - sum(histogram.values())  # zeros
    if rank <= seen:
        return 0
    for value in sorted(histogram):
        seen += histogram[value]
        if rank <= seen:
            return value
    return max(histogram, default=0)


def owned_by_feature(*, customer: Customer, today: datetime.date) -> dict[str, int]:
    """Licenses owned per feature: the quantity of the lines active today."""
    rows = (
        Entitlement.objects.filter(customer=customer, start_date__lte=today)
        .exclude(end_date__lt=today)
        .values("product__feature")
        .annotate(owned=Sum("quantity"))
    )
    return {row["product__feature"]: row["owned"] for row in rows}


@dataclass
class FeatureUsage:
    feature: str
    owned: int | None  # None: no entitlement line of the customer has this feature
    peak: int = 0
    p95: int = 0
    license_hours: float = 0.0
    checkouts: int = 0
    denials: int = 0
    true_denials: int = 0
    queued: int = 0
    queue_wait_seconds: int = 0
    unsupported: int = 0

    @property
    def matched(self) -> bool:
        return self.owned is not None

    @property
    def utilisation(self) -> int | None:
        return round(100 * self.p95 / self.owned) if self.owned else None

    @property
    def average_queue_wait_minutes(self) -> float:
        return round(self.queue_wait_seconds / 60 / self.queued, 1) if self.queued else 0.0


def usage_feature_summary(*, customer: Customer, filters: UsageFilters, today: datetime.date) -> list[FeatureUsage]:
    """Per feature over the period: peak, 95th percentile, license-hours, checkouts, denials,
    true denials, queue entries and waits, against the quantity owned. Three queries."""
    hours = _hours(customer, filters)
    totals = (
        hours.values("feature")
        .annotate(
            peak=Max("peak"),
            seconds=Sum("license_seconds"),
            checkouts=Sum("checkouts"),
            denials=Sum("denials"),
            true_denials=Sum("true_denials"),
            queued=Sum("queued"),
            wait=Sum("queue_wait_seconds"),
            unsupported=Sum("unsupported"),
        )
        .order_by("feature")
    )
    histograms = _peak_histograms(hours, ("feature",))
    owned = owned_by_feature(customer=customer, today=today)
    result = []
    for row in totals:
        feature = row["feature"]
        result.append(
            FeatureUsage(
                feature=feature,
                owned=owned.get(feature),
                peak=row["peak"] or 0,
                p95=percentile(histograms.get((feature,), {}), filters.hours),
                license_hours=round((row["seconds"] or 0) / 3600, 1),
                checkouts=row["checkouts"] or 0,
                denials=row["denials"] or 0,
                true_denials=row["true_denials"] or 0,
                queued=row["queued"] or 0,
                queue_wait_seconds=row["wait"] or 0,
                unsupported=row["unsupported"] or 0,
            )
        )
    return result


def _peak_histograms(hours: QuerySet[UsageHour], group: tuple[str, ...]) -> dict[tuple, dict[int, int]]:
    """Per group: hourly peak (summed over the servers and daemons of one hour: an upper
    bound) -> number of hours. One query; the database groups twice, so only distinct
    (group, peak) pairs travel, not hours."""
    inner = hours.values(*group, "hour").annotate(total=Sum("peak")).order_by()
    sql, params = inner.query.sql_with_params()
    columns = ", ".join(f"t.{connection.ops.quote_name(name)}" for name in group)
    outer = f"SELECT {columns}, t.total, COUNT(*) FROM ({sql}) t GROUP BY {columns}, t.total"  # noqa: S608
    histograms: dict[tuple, dict[int, int]] = defaultdict(dict)
    with connection.cursor() as cursor:
        cursor.execute(outer, params)
        for *key, total, count in cursor.fetchall():
            histograms[tuple(key)][total or 0] = count
    return histograms


@dataclass
class PeriodRow:
    feature: str
    start: datetime.date
    peak: int
    p95: int
    license_hours: float
    denials: int
    true_denials: int


def usage_periods(*, customer: Customer, filters: UsageFilters) -> list[PeriodRow]:
    """Per feature and day/week/month of the period: peak, 95th percentile, license-hours,
    denials. Two queries."""
    trunc = _TRUNC[filters.granularity]
    hours = _hours(customer, filters).annotate(period=trunc("hour", tzinfo=datetime.UTC))
    totals = (
        hours.values("feature", "period")
        .annotate(
            peak=Max("peak"),
            seconds=Sum("license_seconds"),
            denials=Sum("denials"),
            true_denials=Sum("true_denials"),
        )
        .order_by("feature", "period")
    )
    histograms = {
        (feature, str(period)[:10]): counts
        for (feature, period), counts in _peak_histograms(hours, ("feature", "period")).items()
    }
    result = []
    for row in totals:
        period_start = row["period"].date() if isinstance(row["period"], datetime.datetime) else row["period"]
        period_hours = _period_hours(period_start, filters)
        result.append(
            PeriodRow(
                feature=row["feature"],
                start=period_start,
                peak=row["peak"] or 0,
                p95=percentile(histograms.get((row["feature"], period_start.isoformat()), {}), period_hours),
                license_hours=round((row["seconds"] or 0) / 3600, 1),
                denials=row["denials"] or 0,
                true_denials=row["true_denials"] or 0,
            )
        )
    return result


def _period_hours(start: datetime.date, filters: UsageFilters) -> int:
    if filters.granularity == "day":
        end = start + datetime.timedelta(days=1)
    elif filters.granularity == "week":
        end = start + datetime.timedelta(days=7)
    else:
        end = (start.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    start, end = max(start, filters.start), min(end, filters.end + datetime.timedelta(days=1))
    return max(0, (end - start).days * 24)


def usage_concurrency(*, customer: Customer, filters: UsageFilters, features: Iterable[str]) -> dict[str, list]:
    """Per feature: (bucket start, most licenses out) over the period, in hours for periods of
    up to a week, else in days. One query."""
    features = list(features)
    bucket = "hour" if (filters.end - filters.start).days < 7 else "day"
    hours = _hours(customer, filters).filter(feature__in=features)
    if bucket == "day":
        rows = (
            hours.annotate(bucket=TruncDay("hour", tzinfo=datetime.UTC))
            .values("feature", "bucket", "hour")
            .annotate(total=Sum("peak"))
            .values_list("feature", "bucket", "total")
        )
        series: dict[str, dict] = defaultdict(dict)
        for feature, day, total in rows:
            series[feature][day] = max(series[feature].get(day, 0), total or 0)
    else:
        rows = hours.values("feature", "hour").annotate(total=Sum("peak")).values_list("feature", "hour", "total")
        series = defaultdict(dict)
        for feature, hour, total in rows:
            series[feature][hour] = total or 0
    return {feature: sorted(points.items()) for feature, points in series.items()}


def usage_heatmap(*, customer: Customer, filters: UsageFilters) -> dict[tuple[int, int], float]:
    """(ISO weekday 1-7, hour 0-23) -> licenses out on average. One query."""
    rows = (
        _hours(customer, filters)
        .annotate(
            weekday=ExtractIsoWeekDay("hour", tzinfo=datetime.UTC), hour_of_day=ExtractHour("hour", tzinfo=datetime.UTC)
        )
        .values("weekday", "hour_of_day")
        .annotate(seconds=Sum("license_seconds"))
    )
    weeks = max(1, ((filters.end - filters.start).days + 1) / 7)
    return {(row["weekday"], row["hour_of_day"]): round(row["seconds"] / 3600 / weeks, 2) for row in rows}


@dataclass
class PersonRow:
    name: str
    license_hours: float
    checkouts: int
    denials: int


def usage_top(*, customer: Customer, filters: UsageFilters, kind: str, limit: int = 10) -> list[PersonRow]:
    """The users (or hosts) with the most license-hours in the period. One query."""
    queryset = UsagePersonDay.objects.filter(customer=customer, kind=kind, day__gte=filters.start, day__lte=filters.end)
    if filters.server:
        queryset = queryset.filter(server_name=filters.server)
    if filters.feature:
        queryset = queryset.filter(feature=filters.feature)
    rows = (
        queryset.values("name")
        .annotate(seconds=Sum("license_seconds"), checkouts=Sum("checkouts"), denials=Sum("denials"))
        .order_by("-seconds", "-denials", "name")[:limit]
    )
    return [PersonRow(row["name"], round(row["seconds"] / 3600, 1), row["checkouts"], row["denials"]) for row in rows]


def usage_latest_snapshots(*, customer: Customer, limit: int = 3) -> QuerySet[UsageSnapshot]:
    return UsageSnapshot.objects.filter(customer=customer)[:limit]


def usage_totals(*, customer: Customer, server: str = "") -> dict[str, int]:
    """Sums over every rollup of the customer (tests and the upload report)."""
    queryset = UsageHour.objects.filter(customer=customer)
    if server:
        queryset = queryset.filter(server_name=server)
    return queryset.aggregate(
        seconds=Sum("license_seconds"),
        checkouts=Sum("checkouts"),
        denials=Sum("denials"),
        true_denials=Sum("true_denials"),
        rows=Count("id"),
    )


# --- recommendations -----------------------------------------------------------------------


@dataclass(frozen=True)
class Recommendation:
    owned: int
    p95: int
    peak: int
    denials: int  # in the last DENIALS_DAYS
    true_denials: int
    change: int  # + more, - fewer, 0 keep
    text: str
    utilisation: int = field(default=0)  # 95th percentile / owned, in percent


def _renewal(entitlement: Entitlement) -> str:
    if entitlement.tecs_end_date:
        return _("at the TECS renewal on %(date)s") % {"date": formats.date_format(entitlement.tecs_end_date, "j M Y")}
    if entitlement.end_date:
        return _("at the renewal on %(date)s") % {"date": formats.date_format(entitlement.end_date, "j M Y")}
    return _("at the next renewal")


def entitlement_recommendations(
    *, customer: Customer, entitlements: Iterable[Entitlement], today: datetime.date
) -> dict[int, Recommendation]:
    """Per entitlement line (id) with usage data: utilisation over the last 90 days and a
    plain recommendation. Lines of features without usage are absent. One query when none
    has usage, three otherwise, whatever the number of lines or events. The renewal reminders quote ``text``.

    Owned is what the customer's lines active today hold of the feature together; a line's
    "fewer" never exceeds its own quantity.
    """
    entitlements = list(entitlements)
    features = {e.product.feature for e in entitlements}
    if not features:
        return {}
    start = datetime.datetime.combine(
        today - datetime.timedelta(days=RECOMMENDATION_DAYS - 1), datetime.time(), tzinfo=datetime.UTC
    )
    end = datetime.datetime.combine(today + datetime.timedelta(days=1), datetime.time(), tzinfo=datetime.UTC)
    denials_start = end - datetime.timedelta(days=DENIALS_DAYS)
    hours = UsageHour.objects.filter(customer=customer, feature__in=features, hour__gte=start, hour__lt=end)
    denials = {
        row["feature"]: row
        for row in hours.values("feature").annotate(
            denials=Sum(Case(When(hour__gte=denials_start, then="denials"), default=0)),
            true_denials=Sum(Case(When(hour__gte=denials_start, then="true_denials"), default=0)),
        )
    }
    if not denials:  # no usage of these features in 90 days: one query in all
        return {}
    histograms = _peak_histograms(hours, ("feature",))
    owned = owned_by_feature(customer=customer, today=today)
    total_hours = RECOMMENDATION_DAYS * 24
    result = {}
    for entitlement in entitlements:
        feature = entitlement.product.feature
        histogram = histograms.get((feature,))
        if histogram is None and feature not in denials:
            continue
        histogram = histogram or {}
        p95 = percentile(histogram, total_hours)
        peak = max(histogram, default=0)
        have = owned.get(feature, entitlement.quantity)
        denied = denials.get(feature, {})
        n_denials, n_true = denied.get("denials") or 0, denied.get("true_denials") or 0
        if n_true:
            change = 1
            text = _("%(n)s denials last month: consider more") % {"n": n_denials}
        elif p95 < have:
            change = -min(have - p95, entitlement.quantity)
            text = _("%(owned)s owned, 95th percentile %(p95)s in 90 days: consider %(fewer)s fewer %(when)s") % {
                "owned": have,
                "p95": p95,
                "fewer": -change,
                "when": _renewal(entitlement),
            }
        else:
            change = 0
            text = _("%(owned)s owned, 95th percentile %(p95)s in 90 days: fully used") % {"owned": have, "p95": p95}
        result[entitlement.pk] = Recommendation(
            owned=have,
            p95=p95,
            peak=peak,
            denials=n_denials,
            true_denials=n_true,
            change=change,
            text=text,
            utilisation=round(100 * p95 / have) if have else 0,
        )
    return result


def default_period(*, customer: Customer, today: datetime.date) -> tuple[datetime.date, datetime.date]:
    latest = usage_latest_day(customer=customer) or today
    end = min(latest, today) if latest <= today else today
    return end - datetime.timedelta(days=DEFAULT_PERIOD_DAYS - 1), end
