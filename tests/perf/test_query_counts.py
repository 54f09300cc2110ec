"""Every list page has a pinned query count, the same at 10 and at 1,000 rows (N+1 guard).

Each page is grown from 10 to 1,000 of the rows it lists; the number of queries must not
move, and it must stay within the pinned number (a new query on a list page is a decision,
made here, not an accident). The numbers include the session, the user and the membership
lookup: what one request really costs. They are counted with an empty cache (the cached page
fragments of portal/fragments.py would otherwise hide a page's own queries); the last test
pins what a cached landing page costs.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from http import HTTPStatus

import pytest
from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Customer, Invitation, Membership, User
from accounts.roles import Role
from activations.models import Activation, LicenseServer, ServerHost
from entitlements.models import (
    ElasticAccount,
    ElasticUsage,
    Entitlement,
    LicensingModel,
    Product,
    SeatAssignment,
    SharedWebGroup,
    SharedWebUser,
)
from tests.factories import CustomerFactory, EntitlementFactory, ProductFactory

SMALL, LARGE = 10, 1_000
TODAY = timezone.localdate()


_line_numbers = itertools.count(1)


def _lines(customer: Customer, product: Product, count: int, **fields: object) -> list[Entitlement]:
    values = {
        "quantity": 100_000,
        "start_date": TODAY - datetime.timedelta(days=30),
        "end_date": TODAY + datetime.timedelta(days=365),
        **fields,
    }
    return Entitlement.objects.bulk_create(
        Entitlement(
            customer=customer, product=product, line_id=f"{customer.number}-{next(_line_numbers):06d}", **values
        )
        for _ in range(count)
    )


# --- How each page grows ------------------------------------------------------------------


def grow_entitlements(customer: Customer, user: User, start: int, count: int) -> None:
    products = [ProductFactory(feature=f"perf_{i}", licensing_model=m) for i, m in enumerate(LicensingModel.values)]
    for i, product in enumerate(products):
        _lines(customer, product, count // len(products) + (i < count % len(products)))


def grow_activations(customer: Customer, user: User, start: int, count: int) -> None:
    product = ProductFactory(feature="perf_flex", licensing_model=LicensingModel.FLEXNET)
    lines = _lines(customer, product, count, activated=1)
    # One server per 100 activations (at least one): both the servers and their rows grow.
    servers = LicenseServer.objects.bulk_create(
        LicenseServer(customer=customer, name=f"perf{start + i:05d}") for i in range(max(count // 100, 1))
    )
    ServerHost.objects.bulk_create(
        ServerHost(
            server=s,
            customer=customer,
            position=1,
            host_name=f"{s.name}.example",
            hostid_type="ETHER",
            host_id=f"{0xAB0000000000 + start + i:012X}",
        )
        for i, s in enumerate(servers)
    )
    Activation.objects.bulk_create(
        Activation(server=servers[i % len(servers)], entitlement=line, quantity=1) for i, line in enumerate(lines)
    )


def grow_users(customer: Customer, user: User, start: int, count: int) -> None:
    password = make_password(None)
    users = User.objects.bulk_create(
        User(email=f"perf{start + i}@example.org", password=password) for i in range(count)
    )
    Membership.objects.bulk_create(
        Membership(user=u, customer=customer, role=Role.VIEWER if i % 2 else Role.ADMINISTRATOR, added_by=user)
        for i, u in enumerate(users)
    )
    Invitation.objects.bulk_create(
        Invitation(customer=customer, email=f"invited{start + i}@example.org", role=Role.VIEWER, invited_by=user)
        for i in range(max(count // 10, 1))
    )


def grow_audit(customer: Customer, user: User, start: int, count: int) -> None:
    now = timezone.now()
    AuditEvent.objects.bulk_create(
        AuditEvent(
            customer=customer,
            actor=user,
            actor_email=user.email,
            action=("activation.changed", "membership.added", "license_file.downloaded")[i % 3],
            target=f"t{start + i}",
            details={"n": start + i},
            created_at=now - datetime.timedelta(minutes=start + i),
        )
        for i in range(count)
    )


def grow_licensing(customer: Customer, user: User, start: int, count: int) -> None:
    """Shared Web users, groups (with members and seats) and Elastic usage: every settings page."""
    shared = ProductFactory(feature="perf_sw", licensing_model=LicensingModel.SHARED_WEB)
    elastic = ProductFactory(feature="perf_el", licensing_model=LicensingModel.ELASTIC)
    seat_lines = _lines(customer, shared, max(count // 100, 1))
    _lines(customer, elastic, 1)
    ElasticAccount.objects.get_or_create(
        customer=customer,
        defaults={
            "license_server_id": f"perf-{customer.number}",
            "pin": "1234-5678",
            "monthly_budget_units": 1000,
            "alert_thresholds": [50, 90],
        },
    )
    users = SharedWebUser.objects.bulk_create(
        SharedWebUser(customer=customer, email=f"sw{start + i}@example.org", active=i % 7 != 0) for i in range(count)
    )
    groups = SharedWebGroup.objects.bulk_create(
        SharedWebGroup(customer=customer, name=f"group {start + i:05d}") for i in range(max(count // 10, 1))
    )
    SharedWebGroup.members.through.objects.bulk_create(
        SharedWebGroup.members.through(sharedwebgroup=groups[i % len(groups)], sharedwebuser=u)
        for i, u in enumerate(users)
    )
    SeatAssignment.objects.bulk_create(
        SeatAssignment(group=g, entitlement=seat_lines[i % len(seat_lines)], seats=1) for i, g in enumerate(groups)
    )
    now = timezone.now()
    ElasticUsage.objects.bulk_create(
        ElasticUsage(
            customer=customer,
            transaction_id=f"tx{start + i}",
            started_at=now - datetime.timedelta(hours=i % 96),
            ended_at=now - datetime.timedelta(hours=i % 96) + datetime.timedelta(minutes=30),
            product=elastic,
            count=1,
            hours=Decimal("0.5"),
            cost=Decimal("1.250"),
            user=f"u{i}@example.org",
        )
        for i in range(count)
    )


def grow_access(customer: Customer, user: User, start: int, count: int) -> None:
    customers = Customer.objects.bulk_create(
        Customer(number=str(8_000_000 + start + i), name=f"Perf {start + i}") for i in range(count)
    )
    Membership.objects.bulk_create(Membership(user=user, customer=c, role=Role.VIEWER) for c in customers)


def grow_api_tokens(customer: Customer, user: User, start: int, count: int) -> None:
    from api.models import ApiToken

    now = timezone.now()
    ApiToken.objects.bulk_create(
        ApiToken(
            customer=customer,
            user=user,
            name=f"t{start + i}",
            role=Role.VIEWER,
            prefix="lpat_x",
            token_hash=f"{customer.pk}-{start + i}",
            expires_at=now + datetime.timedelta(days=9),
        )
        for i in range(count)
    )


def grow_webhooks(customer: Customer, user: User, start: int, count: int) -> None:
    from api.models import WebhookEndpoint

    WebhookEndpoint.objects.bulk_create(
        WebhookEndpoint(customer=customer, url=f"https://hooks.example.com/{start + i}", secret="whsec_x")
        for i in range(count)
    )


def grow_usage(customer: Customer, user: User, start: int, count: int) -> None:
    from usage.models import UsageHour, UsagePersonDay

    # Rollups over the default period (the last 30 days up to the latest data): hours x features.
    end = timezone.now().replace(minute=0, second=0, microsecond=0)
    UsageHour.objects.bulk_create(
        UsageHour(
            customer=customer,
            server_name="lic01",
            daemon="ansyslmd",
            feature=f"perf_{(start + i) % 7}",
            hour=end - datetime.timedelta(hours=(start + i) // 7),
            peak=i % 5,
            license_seconds=i % 5 * 3600,
        )
        for i in range(count)
    )
    UsagePersonDay.objects.bulk_create(
        UsagePersonDay(
            customer=customer,
            server_name="lic01",
            daemon="ansyslmd",
            feature="perf_1",
            day=end.date(),
            kind="user",
            name=f"user{start + i}",
            license_seconds=i,
        )
        for i in range(count)
    )


def grow_requests(customer: Customer, user: User, start: int, count: int) -> None:
    from support.models import RequestKind, SupportRequest
    from tests.factories import LicenseServerFactory

    server = LicenseServerFactory(customer=customer) if start == 1 else None
    server = server or customer.license_servers.first()
    now = timezone.now()
    SupportRequest.objects.bulk_create(
        SupportRequest(
            customer=customer, kind=RequestKind.EXTRA_REHOST, server=server, reason="r", filed_by=user, due_at=now
        )
        for _ in range(count)
    )


@dataclass(frozen=True)
class ListPage:
    url_name: str
    grow: Callable[[Customer, User, int, int], None]
    pinned: int
    customer_scoped: bool = True
    # The role that may open the page (the webhooks page is the ASC's).
    role: Role = Role.VIEWER

    def url(self, customer: Customer) -> str:
        return reverse(self.url_name, args=[customer.number] if self.customer_scoped else [])


# The pinned numbers: session, user, the user's memberships with their customers (the access
# check and the customer switcher: one query) and whether activations are visible (the
# navigation) make 4, and the bell's unread count (notices: one indexed COUNT, none once it is
# cached per user) 5; the rest is the page's own.
PAGES: dict[str, ListPage] = {
    # Of which 2: the Elastic pool's units and consumption (shown on the Elastic lines), and 1
    # the lines' usage recommendations (usage app; one query when the customer has no usage).
    "entitlements": ListPage("entitlements:list", grow_entitlements, 12),
    "activations": ListPage("activations:list", grow_activations, 8),
    "users": ListPage("users:list", grow_users, 7),
    "audit": ListPage("audit:list", grow_audit, 8),
    "settings": ListPage("licensing_settings:index", grow_licensing, 16),
    "shared_web_users": ListPage("licensing_settings:shared_web_users", grow_licensing, 8),
    "shared_web_groups": ListPage("licensing_settings:shared_web_groups", grow_licensing, 7),
    "shared_web_access": ListPage("licensing_settings:shared_web_access", grow_licensing, 14),
    "elastic": ListPage("licensing_settings:elastic", grow_licensing, 11),
    "elastic_usage": ListPage("licensing_settings:elastic_usage", grow_licensing, 9),
    # + which of the user's customers own FlexNet (why a customer has no Activations tab), and
    # the invitations waiting for the user's verified addresses (two queries).
    "access": ListPage("access", grow_access, 7, customer_scoped=False),
    "usage": ListPage("usage:index", grow_usage, 19),
    # Of which 1: the usage recommendations of the lines shown (usage app).
    "renewals": ListPage("renewals:list", grow_entitlements, 8),
    "api_tokens": ListPage("api_tokens:list", grow_api_tokens, 6),
    "webhooks": ListPage("webhooks:list", grow_webhooks, 6, role=Role.ASC),
    # Of which 1: the COUNT of the paged list.
    "requests": ListPage("requests:list", grow_requests, 7),
}


def _queries(client, url: str) -> int:
    cache.clear()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == HTTPStatus.OK, (url, response.status_code)
    return len(captured)


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(PAGES))
def test_list_page_query_count_is_pinned_and_constant(name, member_client, django_assert_max_num_queries) -> None:
    page = PAGES[name]
    customer = CustomerFactory(flexnet_managed=True)
    # Every page is reachable: the customer owns FlexNet lines (activations visible).
    EntitlementFactory(customer=customer, product=ProductFactory(feature="perf_base"), line_id=f"{customer.number}-0")
    client = member_client(role=page.role, customer=customer)
    url = page.url(customer)
    page.grow(customer, client.user, 1, SMALL)
    small = _queries(client, url)
    page.grow(customer, client.user, 1 + SMALL, LARGE - SMALL)
    large = _queries(client, url)
    print(f"QUERIES {name}: {small} at {SMALL}, {large} at {LARGE}")
    assert small == large, f"{name}: {small} queries at {SMALL} rows, {large} at {LARGE} (N+1)"
    cache.clear()
    with django_assert_max_num_queries(page.pinned):
        assert client.get(url).status_code == HTTPStatus.OK


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["entitlements", "activations"])
def test_cached_landing_pages_cost_three_queries(name, member_client) -> None:
    """Once rendered, the landing pages cost the session, the user and the memberships,
    however large the customer, until its data changes (portal/fragments.py)."""
    page = PAGES[name]
    customer = CustomerFactory(flexnet_managed=True)
    EntitlementFactory(customer=customer, product=ProductFactory(feature="perf_base"), line_id=f"{customer.number}-0")
    client = member_client(role=Role.VIEWER, customer=customer)
    page.grow(customer, client.user, 1, LARGE)
    url = page.url(customer)
    cold = _queries(client, url)
    with CaptureQueriesContext(connection) as warm:
        assert client.get(url).status_code == HTTPStatus.OK
    assert len(warm) == 3, [q["sql"][:80] for q in warm.captured_queries]
    assert cold == page.pinned


def test_every_customer_list_page_is_pinned() -> None:
    """A new list page under /c/<n>/ (a name ending in list/index/users/groups/access/usage)
    must be added to PAGES."""
    from tests.customer_urls import customer_routes

    listed = {
        route.name
        for route in customer_routes()
        if route.name.endswith((":list", ":index", "_users", "_groups", "_access", ":elastic", "_usage"))
    }
    pinned = {page.url_name for page in PAGES.values()}
    assert listed <= pinned, f"list pages without a pinned query count: {sorted(listed - pinned)}"
