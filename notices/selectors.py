"""Every read of renewals and notifications, scoped by customer (or, for a person's own
notifications, by user). The daily run reads whole batches of customers at once, so its
query count depends on the number of batches and recipients, never on the number of lines."""

from __future__ import annotations

import contextlib
import datetime
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Exists, OuterRef, Q, QuerySet

from accounts.models import Customer, Membership, User
from accounts.roles import Permission, roles_with
from entitlements.models import Entitlement
from usage.selectors import entitlement_recommendations

from .models import Category, CustomerRenewalSettings, NotificationPreference, PortalNotification
from .rules import RESELLER_STEPS, default_frequency, end_kind, reminder_window

UNREAD_CACHE_SECONDS = 300


def _renewed(field: str) -> Exists:
    """A later line for the same customer, product and quantity covers beyond this line's
    ``field`` date: the line was renewed and is not reminded."""
    later = Q(**{f"{field}__gt": OuterRef(field)})
    if field == "end_date":
        later |= Q(end_date__isnull=True)
    return Exists(
        Entitlement.objects.filter(
            customer_id=OuterRef("customer_id"), product_id=OuterRef("product_id"), quantity=OuterRef("quantity")
        )
        .exclude(pk=OuterRef("pk"))
        .filter(later)
    )


def _with_renewals(queryset: QuerySet[Entitlement]) -> QuerySet[Entitlement]:
    return queryset.select_related("product").annotate(
        renewed_end=_renewed("end_date"), renewed_tecs=_renewed("tecs_end_date")
    )


def reminder_customer_ids(*, today: datetime.date) -> list[int]:
    """Customers with a line whose end or TECS end date is due for a reminder today. One query."""
    dates = list(reminder_window(today))
    return list(
        Entitlement.objects.filter(Q(end_date__in=dates) | Q(tecs_end_date__in=dates))
        .values_list("customer_id", flat=True)
        .distinct()
        .order_by("customer_id")
    )


def reminder_lines(*, customer_ids: Sequence[int], today: datetime.date) -> QuerySet[Entitlement]:
    """The lines of these customers due for a reminder today, with ``renewed_end`` and
    ``renewed_tecs``. One query for the batch."""
    dates = list(reminder_window(today))
    return _with_renewals(
        Entitlement.objects.filter(customer_id__in=customer_ids).filter(
            Q(end_date__in=dates) | Q(tecs_end_date__in=dates)
        )
    ).order_by("customer_id", "line_id")


@dataclass(frozen=True)
class Recipient:
    user_id: int
    email: str
    language: str
    role: str


def members_of(*, customer_ids: Sequence[int]) -> dict[int, list[Recipient]]:
    """Active members of each customer. One query."""
    found: dict[int, list[Recipient]] = defaultdict(list)
    rows = (
        Membership.objects.filter(customer_id__in=customer_ids, user__is_active=True)
        .values_list("customer_id", "user_id", "user__email", "user__language", "role")
        .order_by("customer_id", "user__email")
    )
    for customer_id, user_id, email, language, role in rows:
        found[customer_id].append(Recipient(user_id=user_id, email=email, language=language, role=role))
    return found


def frequencies_for(*, user_ids: Iterable[int], category: Category) -> dict[int, str]:
    """Each person's frequency for a category: their choice, or their strongest role's default.
    Two queries whatever the number of people."""
    user_ids = list(set(user_ids))
    roles: dict[int, set[str]] = defaultdict(set)
    for user_id, role in Membership.objects.filter(user_id__in=user_ids).values_list("user_id", "role"):
        roles[user_id].add(role)
    chosen = dict(
        NotificationPreference.objects.filter(user_id__in=user_ids, category=category).values_list(
            "user_id", "frequency"
        )
    )
    return {
        user_id: chosen.get(user_id) or default_frequency(roles=roles[user_id], category=category)
        for user_id in user_ids
    }


def preferences_of(*, user: User) -> dict[str, str]:
    """The person's frequency per category (chosen or default). Two queries."""
    roles = set(Membership.objects.filter(user=user).values_list("role", flat=True))
    chosen = dict(NotificationPreference.objects.filter(user=user).values_list("category", "frequency"))
    return {c.value: chosen.get(c.value) or default_frequency(roles=roles, category=c) for c in Category}


def receives_matrix_emails(*, user: User) -> bool:
    """Whether the role matrix promises this person emails nobody can switch off."""
    return Membership.objects.filter(user=user, role__in=roles_with(Permission.RECEIVE_NOTIFICATIONS)).exists()


def renewal_settings_for(*, customer_ids: Sequence[int]) -> dict[int, CustomerRenewalSettings]:
    return {s.customer_id: s for s in CustomerRenewalSettings.objects.filter(customer_id__in=customer_ids)}


def renewal_settings_get(*, customer: Customer) -> CustomerRenewalSettings | None:
    return CustomerRenewalSettings.objects.filter(customer=customer).first()


def calendar_customer(*, token: str) -> Customer | None:
    """The customer whose calendar feed this secret opens, if it is the current one."""
    if not token:
        return None
    found = CustomerRenewalSettings.objects.select_related("customer").filter(calendar_token=token).first()
    return found.customer if found else None


def recommendations_for(*, customer: Customer, lines: Sequence[Entitlement], today: datetime.date) -> dict[int, str]:
    """Plain-language usage recommendations per line id (pk), from the usage app (the same
    selector the entitlements page shows); nothing where the customer has no usage data."""
    if not lines:
        return {}
    found = entitlement_recommendations(customer=customer, entitlements=list(lines), today=today)
    return {pk: str(rec.text) for pk, rec in found.items() if getattr(rec, "text", "")}


# --- The renewals page and the calendar -------------------------------------------------


@dataclass(frozen=True)
class RenewalDate:
    line: Entitlement
    date: datetime.date
    kind: str  # notices.models.Kind
    renewed: bool


def renewal_dates(*, customer: Customer, start: datetime.date, end: datetime.date | None = None) -> list[RenewalDate]:
    """Every end and TECS end date of the customer's lines from ``start`` (up to ``end``),
    soonest first, each once per line and kind. One query."""
    window = Q(end_date__gte=start) | Q(tecs_end_date__gte=start)
    if end is not None:
        window = Q(end_date__range=(start, end)) | Q(tecs_end_date__range=(start, end))
    lines = _with_renewals(Entitlement.objects.filter(customer=customer).filter(window)).order_by("line_id")
    found = []
    for line in lines:
        if line.end_date and line.end_date >= start and (end is None or line.end_date <= end):
            found.append(RenewalDate(line, line.end_date, end_kind(line.product.licensing_model), line.renewed_end))
        if line.tecs_end_date and line.tecs_end_date >= start and (end is None or line.tecs_end_date <= end):
            found.append(RenewalDate(line, line.tecs_end_date, "tecs_end", line.renewed_tecs))
    found.sort(key=lambda d: (d.date, d.line.product.name, d.line.line_id, d.kind))
    return found


def calendar_dates(*, customer: Customer, today: datetime.date) -> list[RenewalDate]:
    """What the calendar feed shows: every end and TECS date from a year ago on."""
    return renewal_dates(customer=customer, start=today - datetime.timedelta(days=366))


def line_get(*, customer: Customer, line_id: str) -> Entitlement | None:
    return Entitlement.objects.select_related("product").filter(customer=customer, line_id=line_id).first()


# --- The bell -----------------------------------------------------------------------------


def unread_cache_key(user_id: int) -> str:
    return f"notices:unread:{user_id}"


def unread_count(*, user: User) -> int:
    """The bell's number. Cached per person and dropped by every service that changes it
    (``notices.services``), so a cached page header costs no query for it."""
    key = unread_cache_key(user.pk)
    try:
        cached = cache.get(key)
    except Exception:  # the cache is an accelerator only
        cached = None
    if cached is not None:
        return int(cached)
    count = PortalNotification.objects.filter(user=user, read_at__isnull=True).count()
    with contextlib.suppress(Exception):  # counted again next time
        cache.set(key, count, UNREAD_CACHE_SECONDS)
    return count


def notifications_of(*, user: User) -> QuerySet[PortalNotification]:
    return PortalNotification.objects.filter(user=user).select_related("customer").order_by("-created_at", "-id")


# --- The reseller -------------------------------------------------------------------------


def reseller_lines(
    *, today: datetime.date, steps: Sequence[int] = RESELLER_STEPS, account_manager: str = ""
) -> list[RenewalDate]:
    """Every customer's lines whose end or TECS end date is exactly ``steps`` days away (not
    renewed), optionally of one account manager's customers. One query."""
    dates = [today + datetime.timedelta(days=s) for s in steps]
    lines = _with_renewals(
        Entitlement.objects.filter(Q(end_date__in=dates) | Q(tecs_end_date__in=dates))
    ).select_related("customer", "customer__renewal_settings")
    if account_manager:
        lines = lines.filter(customer__renewal_settings__account_manager_email__iexact=account_manager)
    found = []
    for line in lines:
        if line.end_date in dates and not line.renewed_end:
            found.append(RenewalDate(line, line.end_date, end_kind(line.product.licensing_model), False))
        if line.tecs_end_date in dates and not line.renewed_tecs:
            found.append(RenewalDate(line, line.tecs_end_date, "tecs_end", False))
    found.sort(key=lambda d: (d.date, d.line.customer.number, d.line.line_id, d.kind))
    return found


def account_managers() -> list[tuple[str, str]]:
    """(email, name) of every account manager named on a customer."""
    return list(
        CustomerRenewalSettings.objects.exclude(account_manager_email="")
        .values_list("account_manager_email", "account_manager_name")
        .distinct()
        .order_by("account_manager_name")
    )
