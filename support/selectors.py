"""Reads of the cockpit. Support sees every customer, so these are the only selectors not
scoped by one customer; each queue is one COUNT query for the home page and one bounded
query for its list, whatever the number of customers (tests/support/test_queues.py pins it).

A queue is data (``QUEUES``): a slug for its URL, a label, the query of its rows, and how a
row reads. Adding a queue adds its count, its link and its list page.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce, TruncDate
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accounts.models import AuditEvent, Customer, Invitation, Membership, Notification
from accounts.roles import Role
from activations.models import LicenseFile, LicenseServer
from entitlements.models import Entitlement

from .models import RequestComment, RequestState, SupportRequest

# How many rows a page of a queue's list shows (oldest or most urgent first).
QUEUE_PAGE_SIZE = 50
INVITATION_UNANSWERED_DAYS = 14
LINES_ENDING_DAYS = 30
RENEWAL_DAYS = 365


@dataclass(frozen=True)
class QueueRow:
    customer: Customer | None
    what: str
    when: datetime.date | datetime.datetime | None
    url: str = ""


@dataclass(frozen=True)
class Queue:
    slug: str
    label: str | Promise
    rows: Callable[[], QuerySet[Any]]
    row: Callable[[Any], QueueRow]


def customers_without_asc() -> QuerySet[Customer]:
    return Customer.objects.filter(
        ~Exists(Membership.objects.filter(customer=OuterRef("pk"), role=Role.ASC, user__is_active=True))
    ).order_by("number")


def asc_designations_pending() -> QuerySet[Invitation]:
    return Invitation.objects.pending().filter(role=Role.ASC).select_related("customer").order_by("created_at", "pk")


def invitations_unanswered(*, now: datetime.datetime | None = None) -> QuerySet[Invitation]:
    """Pending invitations last sent (or created) 14 days ago or more."""
    since = (now or timezone.now()) - datetime.timedelta(days=INVITATION_UNANSWERED_DAYS)
    return (
        Invitation.objects.pending()
        .alias(sent=Coalesce("last_sent_at", "created_at"))
        .filter(sent__lte=since)
        .select_related("customer")
        .order_by("created_at", "pk")
    )


def notifications_failing() -> QuerySet[Notification]:
    """Outbox rows tried at least once and still unsent: failed or waiting for a retry."""
    return (
        Notification.objects.filter(sent_at__isnull=True, attempts__gt=0)
        .select_related("customer")
        .order_by("created_at", "pk")
    )


def lines_ending(*, days: int = LINES_ENDING_DAYS, today: datetime.date | None = None) -> QuerySet[Entitlement]:
    today = today or timezone.localdate()
    return (
        Entitlement.objects.filter(end_date__gte=today, end_date__lte=today + datetime.timedelta(days=days))
        .select_related("customer", "product")
        .order_by("end_date", "line_id", "pk")
    )


# "Sustained": true denials (no license free) on at least this many of the last days.
SUSTAINED_DENIAL_DAYS = 3
SUSTAINED_DENIAL_WINDOW_DAYS = 7


def usage_denials_installed() -> bool:
    """The queue of customers whose usage shows sustained denials exists when the usage
    insights app (``usage``, above ``activations``, below ``support``) is installed."""
    return apps.is_installed("usage")


def customers_with_sustained_denials(*, now: datetime.datetime | None = None) -> QuerySet[Customer]:
    """Customers whose FlexNet usage had true denials (a license asked for, none free) on at
    least ``SUSTAINED_DENIAL_DAYS`` of the last ``SUSTAINED_DENIAL_WINDOW_DAYS`` days: they
    are short of licenses, and support should call before they do. One query."""
    from usage.models import UsageHour

    since = (now or timezone.now()) - datetime.timedelta(days=SUSTAINED_DENIAL_WINDOW_DAYS)
    denied = (
        UsageHour.objects.filter(hour__gte=since, true_denials__gt=0)
        .annotate(day=TruncDate("hour"))
        .values("customer_id")
        .annotate(days=Count("day", distinct=True))
        .filter(days__gte=SUSTAINED_DENIAL_DAYS)
        .values("customer_id")
    )
    return Customer.objects.filter(pk__in=Subquery(denied)).order_by("number")


def _queues() -> tuple[Queue, ...]:
    queues = [
        Queue(
            "requests-waiting",
            _("Requests waiting"),
            requests_waiting,
            lambda r: QueueRow(
                r.customer, f"#{r.pk} {r.get_kind_display()}", r.due_at, reverse("support:request", args=[r.pk])
            ),
        ),
        Queue(
            "no-asc", _("Customers without an ASC"), customers_without_asc, lambda c: QueueRow(c, c.name, c.created_at)
        ),
        Queue(
            "asc-pending",
            _("ASC designations pending sign-up"),
            asc_designations_pending,
            lambda i: QueueRow(i.customer, i.email, i.created_at),
        ),
        Queue(
            "invitations-unanswered",
            _("Invitations unanswered for 14 days"),
            invitations_unanswered,
            lambda i: QueueRow(i.customer, f"{i.email} ({i.get_role_display()})", i.last_sent_at or i.created_at),
        ),
        Queue(
            "notifications-failing",
            _("Notifications failing"),
            notifications_failing,
            lambda n: QueueRow(n.customer, f"{n.subject} — {n.last_error[:120]}", n.created_at),
        ),
        Queue(
            "lines-ending",
            _("Lines ending in 30 days"),
            lines_ending,
            lambda e: QueueRow(e.customer, f"{e.line_id} {e.product.name}", e.end_date),
        ),
    ]
    if usage_denials_installed():
        queues.append(
            Queue(
                "usage-denials",
                _("Usage with sustained denials"),
                customers_with_sustained_denials,
                lambda c: QueueRow(c, c.name, None),
            )
        )
    return tuple(queues)


def queue_list() -> tuple[Queue, ...]:
    return _queues()


def queue_get(slug: str) -> Queue | None:
    return next((queue for queue in _queues() if queue.slug == slug), None)


def queue_counts() -> list[tuple[Queue, int]]:
    """Every queue with its count: one COUNT query per queue."""
    return [(queue, queue.rows().count()) for queue in _queues()]


def queue_page(queue: Queue, number: str | int | None) -> tuple[Page, list[QueueRow]]:
    """One page of a queue's list (``QUEUE_PAGE_SIZE`` rows, oldest or most urgent first):
    a COUNT and one bounded query, whatever the length of the queue."""
    page = Paginator(queue.rows(), QUEUE_PAGE_SIZE).get_page(number)
    return page, [queue.row(item) for item in page.object_list]


# --- Customer 360 -------------------------------------------------------------------------


def customer_search(*, query: str, limit: int = 50) -> QuerySet[Customer]:
    from django.db.models import Q

    query = query.strip()
    customers = Customer.objects.order_by("number")
    if query:
        customers = customers.filter(Q(number__startswith=query) | Q(name__icontains=query))
    return customers[:limit]


def customer_get(*, number: str) -> Customer | None:
    return Customer.objects.filter(number=number).first()


def customer_latest_files(*, customer: Customer, limit: int = 10) -> QuerySet[LicenseFile]:
    return (
        LicenseFile.objects.filter(server__customer=customer)
        .select_related("server")
        .defer("content")
        .order_by("-created_at")[:limit]
    )


def customer_servers(*, customer: Customer) -> QuerySet[LicenseServer]:
    return LicenseServer.objects.filter(customer=customer).order_by("name")


def customer_renewals(*, customer: Customer, today: datetime.date | None = None) -> QuerySet[Entitlement]:
    today = today or timezone.localdate()
    return (
        Entitlement.objects.filter(
            customer=customer, end_date__gte=today, end_date__lte=today + datetime.timedelta(days=RENEWAL_DAYS)
        )
        .select_related("product")
        .order_by("end_date", "line_id")
    )


def customer_recent_audit(*, customer: Customer, limit: int = 20) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(customer=customer).order_by("-created_at")[:limit]


# --- Requests from customers ----------------------------------------------------------------


def request_list(*, customer: Customer) -> QuerySet[SupportRequest]:
    """The customer's requests, newest first (the page shows them ``REQUESTS_PER_PAGE`` at a time)."""
    return (
        SupportRequest.objects.filter(customer=customer)
        .select_related("server", "filed_by", "emergency_license")
        .defer("emergency_license__content")
        .order_by("-created_at", "-pk")
    )


def request_get(*, customer: Customer, request_id: int) -> SupportRequest | None:
    return (
        SupportRequest.objects.filter(customer=customer, pk=request_id)
        .select_related("customer", "server__customer", "filed_by", "decided_by", "emergency_license")
        .first()
    )


def request_comments(*, request: SupportRequest) -> QuerySet[RequestComment]:
    return RequestComment.objects.filter(request=request).order_by("created_at")


def requests_waiting() -> QuerySet[SupportRequest]:
    """Open requests, the most urgent (earliest due) first."""
    return (
        SupportRequest.objects.filter(state=RequestState.OPEN)
        .select_related("customer", "server")
        .order_by("due_at", "pk")
    )


def request_get_any(*, request_id: int) -> SupportRequest | None:
    """Support reads any customer's request."""
    return (
        SupportRequest.objects.filter(pk=request_id)
        .select_related("customer", "server", "filed_by", "decided_by", "emergency_license")
        .defer("emergency_license__content")
        .first()
    )


def customer_open_requests(*, customer: Customer) -> QuerySet[SupportRequest]:
    return request_list(customer=customer).filter(state__in=[RequestState.OPEN, RequestState.APPROVED])
