"""The cockpit's home page: a count per queue, each linking to its list; the query count
does not grow with the number of customers (pinned at 10 and 1,000)."""

from __future__ import annotations

import datetime
from http import HTTPStatus

import pytest
from django.utils import timezone

from accounts.models import Customer, Invitation, Membership, Notification
from accounts.roles import Role, StaffRole
from entitlements.models import Entitlement
from support.customer_views import REQUESTS_PER_PAGE
from support.models import RequestKind, SupportRequest
from support.selectors import QUEUE_PAGE_SIZE
from tests.factories import (
    CustomerFactory,
    EntitlementFactory,
    InvitationFactory,
    LicenseServerFactory,
    MembershipFactory,
    NotificationFactory,
    ProductFactory,
    UsageHourFactory,
)


def _queue_count(page: str, slug: str) -> int:
    import re

    match = re.search(
        rf'data-queue="{slug}"><a href="/support/queues/{slug}/">[^<]+</a>: <strong data-count>(\d+)<', page
    )
    assert match, slug
    return int(match.group(1))


@pytest.fixture
def queues_world(db):
    today = timezone.localdate()
    with_asc = CustomerFactory(number="1001234")
    MembershipFactory(customer=with_asc, role=Role.ASC)
    without_asc = CustomerFactory(number="2005678")
    InvitationFactory(customer=without_asc, role=Role.ASC, email="new-asc@example.org")
    old = InvitationFactory(customer=with_asc, role=Role.VIEWER, email="slow@example.org")
    Invitation.objects.filter(pk=old.pk).update(created_at=timezone.now() - datetime.timedelta(days=15))
    InvitationFactory(customer=with_asc, role=Role.VIEWER, email="fresh@example.org")
    NotificationFactory(customer=with_asc, event="x", subject="Stuck mail", attempts=2, last_error="SMTP 451")
    NotificationFactory(customer=with_asc, event="x", subject="Sent", attempts=1, sent_at=timezone.now())
    EntitlementFactory(customer=with_asc, line_id="1001234-0001", end_date=today + datetime.timedelta(days=10))
    EntitlementFactory(customer=with_asc, line_id="1001234-0002", end_date=today + datetime.timedelta(days=90))
    return with_asc, without_asc


def test_home_counts_each_queue(staff_client, queues_world) -> None:
    page = staff_client(StaffRole.AGENT).get("/support/").content.decode()
    assert _queue_count(page, "no-asc") == 1
    assert _queue_count(page, "asc-pending") == 1
    assert _queue_count(page, "invitations-unanswered") == 1
    assert _queue_count(page, "notifications-failing") == 1
    assert _queue_count(page, "lines-ending") == 1
    assert _queue_count(page, "usage-denials") == 0  # the usage app is installed


@pytest.mark.parametrize(
    ("slug", "shown", "hidden"),
    [
        ("no-asc", "2005678", "1001234"),
        ("asc-pending", "new-asc@example.org", "slow@example.org"),
        ("invitations-unanswered", "slow@example.org", "fresh@example.org"),
        ("notifications-failing", "Stuck mail", "Sent"),
        ("lines-ending", "1001234-0001", "1001234-0002"),
    ],
)
def test_each_queue_lists_its_rows(staff_client, queues_world, slug: str, shown: str, hidden: str) -> None:
    response = staff_client(StaffRole.AGENT).get(f"/support/queues/{slug}/")
    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    assert shown in page
    assert hidden not in page


def test_unknown_queue_is_404(staff_client, db) -> None:
    assert staff_client(StaffRole.AGENT).get("/support/queues/nope/").status_code == HTTPStatus.NOT_FOUND


def _customers(count: int) -> None:
    """``count`` customers, each with an ASC invitation pending, an old invitation, a failing
    notification and a line ending soon, so every queue grows with the customer count."""
    today = timezone.localdate()
    product = ProductFactory()
    customers = Customer.objects.bulk_create(
        Customer(number=f"{7000000 + i}", name=f"Customer {i}", flexnet_managed=True) for i in range(count)
    )
    old = timezone.now() - datetime.timedelta(days=20)
    Invitation.objects.bulk_create(
        [Invitation(customer=c, email=f"asc{c.number}@example.org", role=Role.ASC) for c in customers]
        + [
            Invitation(customer=c, email=f"v{c.number}@example.org", role=Role.VIEWER, created_at=old)
            for c in customers
        ]
    )
    Notification.objects.bulk_create(
        Notification(customer=c, event="x", subject="s", body_text="b", attempts=3, last_error="e") for c in customers
    )
    Entitlement.objects.bulk_create(
        Entitlement(
            customer=c,
            product=product,
            line_id=f"{c.number}-0001",
            quantity=1,
            start_date=today,
            end_date=today + datetime.timedelta(days=5),
        )
        for c in customers
    )


HOME_QUERIES = 12  # session, user, staff groups, one COUNT per queue (7), the header's memberships, the bell


@pytest.mark.parametrize("count", [10, 1000])
def test_home_query_count_does_not_grow_with_customers(
    staff_client, db, django_assert_max_num_queries, count: int
) -> None:
    _customers(count)
    client = staff_client(StaffRole.AGENT)
    with django_assert_max_num_queries(HOME_QUERIES):
        response = client.get("/support/")
    assert response.status_code == HTTPStatus.OK
    assert _queue_count(response.content.decode(), "no-asc") == count


@pytest.mark.parametrize("count", [10, 1000])
@pytest.mark.parametrize(
    "slug", ["no-asc", "asc-pending", "invitations-unanswered", "notifications-failing", "lines-ending"]
)
def test_queue_list_query_count_does_not_grow(
    staff_client, db, django_assert_max_num_queries, count: int, slug: str
) -> None:
    _customers(count)
    client = staff_client(StaffRole.AGENT)
    with django_assert_max_num_queries(8):
        response = client.get(f"/support/queues/{slug}/")
    assert response.status_code == HTTPStatus.OK
    assert Membership.objects.count() == 0
    html = response.content.decode()
    # Paged with the portal's pagination: every row is reachable, QUEUE_PAGE_SIZE at a time.
    assert html.count("<tr>") - 1 == min(count, QUEUE_PAGE_SIZE)
    pages = -(-count // QUEUE_PAGE_SIZE)
    assert f"{count} items" in html
    assert (f"Page 1 of {pages}" in html) == (pages > 1)
    if pages > 1:
        with django_assert_max_num_queries(8):
            last = client.get(f"/support/queues/{slug}/?page={pages}")
        rows = count - (pages - 1) * QUEUE_PAGE_SIZE
        assert last.content.decode().count("<tr>") - 1 == rows
        assert 'rel="prev"' in last.content.decode()


def _requests(count: int) -> Customer:
    customer = CustomerFactory(number="1001234", name="Demo", flexnet_managed=True)
    server = LicenseServerFactory(customer=customer, name="lic01")
    now = timezone.now()
    SupportRequest.objects.bulk_create(
        SupportRequest(
            customer=customer,
            kind=RequestKind.EXTRA_REHOST if i % 2 else RequestKind.ASC_CHANGE,
            server=server if i % 2 else None,
            asc_email="" if i % 2 else f"asc{i}@example.org",
            reason=f"reason {i}",
            created_at=now - datetime.timedelta(minutes=i),
            due_at=now + datetime.timedelta(hours=24) - datetime.timedelta(minutes=i),
        )
        for i in range(count)
    )
    return customer


REQUESTS_PAGE_QUERIES = (
    9  # session, user, memberships, the header, the bell, COUNT + one page of requests (with server, filer, file)
)


@pytest.mark.parametrize("count", [10, 300])
def test_requests_waiting_queue_is_paged(staff_client, db, django_assert_max_num_queries, count: int) -> None:
    _requests(count)
    client = staff_client(StaffRole.AGENT)
    with django_assert_max_num_queries(8):
        response = client.get("/support/queues/requests-waiting/")
    html = response.content.decode()
    assert html.count("<tr>") - 1 == min(count, QUEUE_PAGE_SIZE)
    assert (f"Page 1 of {-(-count // QUEUE_PAGE_SIZE)}" in html) == (count > QUEUE_PAGE_SIZE)


@pytest.mark.parametrize("count", [10, 300])
def test_customer_requests_list_is_paged_in_fixed_queries(
    member_client, db, django_assert_max_num_queries, count: int
) -> None:
    customer = _requests(count)
    client = member_client(role=Role.ASC, customer=customer)
    with django_assert_max_num_queries(REQUESTS_PAGE_QUERIES):
        response = client.get(f"/c/{customer.number}/requests/")
    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert html.count('<td><a href="/c/1001234/requests/') == min(count, REQUESTS_PER_PAGE)
    assert f"{count} requests" in html
    pages = -(-count // REQUESTS_PER_PAGE)
    assert (f"Page 1 of {pages}" in html) == (pages > 1)
    if pages > 1:
        last = client.get(f"/c/{customer.number}/requests/?page={pages}").content.decode()
        assert last.count('<td><a href="/c/1001234/requests/') == count - (pages - 1) * REQUESTS_PER_PAGE


def test_usage_denials_queue(staff_client, db) -> None:
    """Customers with true denials on at least 3 of the last 7 days (the usage app's hours)."""

    short = CustomerFactory(number="3100001", name="Short Of Licenses")
    once = CustomerFactory(number="3100002", name="Denied Once")
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    for days_ago in (1, 2, 3):
        UsageHourFactory(customer=short, hour=now - datetime.timedelta(days=days_ago), true_denials=4)
    UsageHourFactory(customer=short, hour=now - datetime.timedelta(days=2, hours=3), true_denials=1)  # same day: once
    for days_ago in (1, 20, 21):
        UsageHourFactory(customer=once, hour=now - datetime.timedelta(days=days_ago), true_denials=2)
    client = staff_client(StaffRole.AGENT)
    assert _queue_count(client.get("/support/").content.decode(), "usage-denials") == 1
    page = client.get("/support/queues/usage-denials/").content.decode()
    assert "Short Of Licenses" in page
    assert "Denied Once" not in page
