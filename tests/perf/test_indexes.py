"""Every customer-scoped list and filter query is served by an index (PostgreSQL).

Two checks per query, both on the selector's own queryset:

1. an index (or unique constraint) exists whose leading columns are the filter columns,
   read from ``connection.introspection.get_constraints``;
2. with realistic data (many customers, the one asked for owning a small share of each
   table) and fresh statistics (``ANALYZE``), PostgreSQL's plan reads the big table through
   an index: an Index Scan, Index Only Scan or Bitmap Index Scan, and no Seq Scan on it.

The planner is left to choose (no ``enable_seqscan = off``): the point is that it does.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.db.models import QuerySet
from django.db.models.query import RawQuerySet
from django.utils import timezone

from accounts.models import AuditEvent, Customer, Invitation, Membership, User
from accounts.roles import Role
from accounts.selectors import (
    MEMBERSHIPS_FOR_USER_SQL,
    AuditFilters,
    audit_event_list,
    invitation_pending_list,
    membership_list,
)
from activations.models import Activation, LicenseFile, LicenseServer, Rehost, ServerHost
from activations.selectors import license_file_list, rehost_history, server_activations, server_list
from entitlements.licensing.selectors import elastic_usage_list, shared_web_group_list, shared_web_user_list
from entitlements.models import (
    ElasticUsage,
    Entitlement,
    LicensingModel,
    Product,
    SharedWebGroup,
    SharedWebUser,
)
from entitlements.selectors import (
    EntitlementFilters,
    entitlement_expiry_list,
    entitlement_list,
    entitlement_usage_by_product,
)

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="EXPLAIN plans are PostgreSQL's")

CUSTOMERS = 200
PER_CUSTOMER = 60  # rows of each customer-scoped table per customer: 12,000 per table
TODAY = timezone.localdate()


@dataclass(frozen=True)
class World:
    customer: Customer
    user: User
    server: LicenseServer


def _people(customers: list[Customer]) -> None:
    password = make_password(None)
    users = User.objects.bulk_create(
        User(email=f"idx{i}@example.org", password=password) for i in range(CUSTOMERS * 10)
    )
    Membership.objects.bulk_create(
        Membership(user=users[i], customer=customers[i % CUSTOMERS], role=Role.VIEWER) for i in range(len(users))
    )
    Invitation.objects.bulk_create(
        Invitation(customer=c, email=f"inv{n}-{c.number}@example.org", role=Role.VIEWER)
        for c in customers
        for n in range(PER_CUSTOMER // 4)
    )


def _entitlements(customers: list[Customer], products: list[Product]) -> None:
    Entitlement.objects.bulk_create(
        (
            Entitlement(
                customer=c,
                product=products[n % len(products)],
                line_id=f"{c.number}-{n:04d}",
                quantity=10,
                start_date=TODAY - datetime.timedelta(days=400),
                end_date=TODAY + datetime.timedelta(days=n - 10),
            )
            for c in customers
            for n in range(PER_CUSTOMER)
        ),
        batch_size=5000,
    )


def _servers(customers: list[Customer]) -> None:
    """Servers with a host, six activations, six file versions and three rehosts each."""
    servers = LicenseServer.objects.bulk_create(
        LicenseServer(customer=c, name=f"lic{n:02d}") for c in customers for n in range(PER_CUSTOMER // 6)
    )
    ServerHost.objects.bulk_create(
        ServerHost(
            server=s,
            customer=s.customer,
            position=1,
            host_name="h",
            hostid_type="ETHER",
            host_id=f"{0xAC0000000000 + i:012X}",
        )
        for i, s in enumerate(servers)
    )
    lines = list(Entitlement.objects.order_by("pk").values_list("pk", "customer_id"))
    by_customer: dict[int, list[int]] = {}
    for pk, customer_id in lines:
        by_customer.setdefault(customer_id, []).append(pk)
    Activation.objects.bulk_create(
        (
            Activation(server=s, entitlement_id=by_customer[s.customer_id][n], quantity=1)
            for s in servers
            for n in range(6)
        ),
        batch_size=5000,
    )
    LicenseFile.objects.bulk_create(
        (LicenseFile(server=s, version=v, content="#", reason="activation") for s in servers for v in range(1, 7)),
        batch_size=5000,
    )
    now = timezone.now()
    Rehost.objects.bulk_create(
        Rehost(server=s, customer=s.customer, created_at=now - datetime.timedelta(days=v))
        for s in servers
        for v in range(3)
    )


def _audit(customers: list[Customer]) -> None:
    now = timezone.now()
    AuditEvent.objects.bulk_create(
        (
            AuditEvent(
                customer=c,
                actor_email="a@example.org",
                action=("activation.changed", "user.added")[n % 2],
                created_at=now - datetime.timedelta(minutes=n),
            )
            for c in customers
            for n in range(PER_CUSTOMER)
        ),
        batch_size=5000,
    )


def _licensing(customers: list[Customer], elastic: Product) -> None:
    sw_users = SharedWebUser.objects.bulk_create(
        (SharedWebUser(customer=c, email=f"sw{n}@{c.number}.example") for c in customers for n in range(PER_CUSTOMER)),
        batch_size=5000,
    )
    assert sw_users
    SharedWebGroup.objects.bulk_create(
        SharedWebGroup(customer=c, name=f"group {n}") for c in customers for n in range(PER_CUSTOMER // 6)
    )
    now = timezone.now()
    ElasticUsage.objects.bulk_create(
        (
            ElasticUsage(
                customer=c,
                transaction_id=f"t{n}",
                started_at=now - datetime.timedelta(hours=n),
                ended_at=now - datetime.timedelta(hours=n) + datetime.timedelta(minutes=5),
                product=elastic,
                count=1,
                hours=Decimal("0.1"),
                cost=Decimal("1"),
            )
            for c in customers
            for n in range(PER_CUSTOMER)
        ),
        batch_size=5000,
    )


@pytest.fixture
def world(db: None) -> World:
    """Many customers with a realistic share each; returns the one the queries ask for."""
    customers = Customer.objects.bulk_create(
        Customer(number=str(7_000_000 + i), name=f"Index {i}", flexnet_managed=True) for i in range(CUSTOMERS)
    )
    products = Product.objects.bulk_create(
        Product(feature=f"idx_{m}_{i}", name=f"Index {m} {i}", licensing_model=m)
        for m in LicensingModel.values
        for i in range(5)
    )
    _people(customers)
    _entitlements(customers, products)
    _servers(customers)
    _audit(customers)
    _licensing(customers, elastic=products[-1])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    customer = customers[CUSTOMERS // 2]
    return World(
        customer=customer,
        user=Membership.objects.filter(customer=customer).first().user,
        server=LicenseServer.objects.filter(customer=customer).first(),
    )


@dataclass(frozen=True)
class Case:
    table: str
    columns: tuple[str, ...]  # what the query filters on, leading columns of an index
    queryset: Callable[[World], QuerySet]


CASES: dict[str, Case] = {
    "entitlements page": Case(
        "entitlements_entitlement", ("customer_id",), lambda w: entitlement_list(customer=w.customer)
    ),
    "entitlements sorted by end": Case(
        "entitlements_entitlement",
        ("customer_id",),
        lambda w: entitlement_list(customer=w.customer, filters=EntitlementFilters(sort="end")),
    ),
    "entitlements filtered by status": Case(
        "entitlements_entitlement",
        ("customer_id",),
        lambda w: entitlement_list(customer=w.customer, filters=EntitlementFilters(status="expired")),
    ),
    "entitlements filtered by model": Case(
        "entitlements_entitlement",
        ("customer_id",),
        lambda w: entitlement_list(customer=w.customer, filters=EntitlementFilters(model="flexnet")),
    ),
    "entitlement usage chart": Case(
        "entitlements_entitlement",
        ("customer_id",),
        lambda w: entitlement_usage_by_product(customer=w.customer, today=TODAY),
    ),
    "entitlement expiry timeline": Case(
        "entitlements_entitlement",
        ("customer_id",),
        lambda w: entitlement_expiry_list(
            customer=w.customer, start=TODAY - datetime.timedelta(days=90), end=TODAY + datetime.timedelta(days=730)
        ),
    ),
    "license servers": Case("activations_licenseserver", ("customer_id",), lambda w: server_list(customer=w.customer)),
    "activations of a server": Case(
        "activations_activation", ("server_id",), lambda w: server_activations(server=w.server)
    ),
    "license file versions": Case(
        "activations_licensefile", ("server_id",), lambda w: license_file_list(server=w.server)
    ),
    "rehost history": Case("activations_rehost", ("server_id",), lambda w: rehost_history(server=w.server)),
    "portal users": Case("accounts_membership", ("customer_id",), lambda w: membership_list(customer=w.customer)),
    # memberships_for_user runs this statement (raw SQL, accounts/selectors.py); explained as it is.
    "customer switcher": Case(
        "accounts_membership", ("user_id",), lambda w: Membership.objects.raw(MEMBERSHIPS_FOR_USER_SQL, [w.user.pk])
    ),
    "pending invitations": Case(
        "accounts_invitation", ("customer_id",), lambda w: invitation_pending_list(customer=w.customer)
    ),
    "audit log": Case("accounts_auditevent", ("customer_id",), lambda w: audit_event_list(customer=w.customer)),
    "audit log by action": Case(
        "accounts_auditevent",
        ("customer_id", "action"),
        lambda w: audit_event_list(customer=w.customer, filters=AuditFilters(action="user.added")),
    ),
    "shared web users": Case(
        "entitlements_sharedwebuser", ("customer_id",), lambda w: shared_web_user_list(customer=w.customer)
    ),
    "shared web groups": Case(
        "entitlements_sharedwebgroup", ("customer_id",), lambda w: shared_web_group_list(customer=w.customer)
    ),
    "elastic usage": Case(
        "entitlements_elasticusage",
        ("customer_id",),
        lambda w: elastic_usage_list(customer=w.customer, start=TODAY - datetime.timedelta(days=30), end=TODAY),
    ),
}


def _index_columns(table: str) -> list[list[str]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return [list(c["columns"]) for c in constraints.values() if c["index"] or c["unique"] or c["primary_key"]]


def _reads_through_index(plan: str, table: str) -> bool:
    index_scan = re.search(rf"(Index Scan|Index Only Scan) using \S+ on {table}\b", plan)
    bitmap = re.search(rf"Bitmap Heap Scan on {table}\b", plan) and "Bitmap Index Scan" in plan
    return bool(index_scan or bitmap)


def _explain_raw(raw: RawQuerySet) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {raw.raw_query}", raw.params)
        return "\n".join(row[0] for row in cursor.fetchall())


def _problems(name: str, case: Case, world: World) -> list[str]:
    leading = [columns[: len(case.columns)] for columns in _index_columns(case.table)]
    if list(case.columns) not in leading:
        return [f"{name}: no index on {case.table} starting with {case.columns}"]
    queryset = case.queryset(world)
    assert case.table in str(queryset.query)
    plan = queryset.explain() if isinstance(queryset, QuerySet) else _explain_raw(queryset)
    if re.search(rf"Seq Scan on {case.table}\b", plan):
        return [f"{name}: sequential scan of {case.table}\n{plan}"]
    if not _reads_through_index(plan, case.table):
        return [f"{name}: {case.table} not read through an index\n{plan}"]
    return []


@pytest.mark.django_db
def test_customer_scoped_queries_use_an_index(world: World) -> None:
    # One data set for every case (building it is most of the test's time).
    problems = [problem for name, case in CASES.items() for problem in _problems(name, case, world)]
    assert not problems, "\n\n".join(problems)


def test_every_customer_scoped_list_selector_is_checked() -> None:
    """The list selectors of every app appear above; a new one must be added to CASES."""
    import inspect

    from accounts import selectors as accounts_selectors
    from activations import selectors as activations_selectors
    from entitlements import selectors as entitlements_selectors
    from entitlements.licensing import selectors as licensing_selectors

    checked = {
        "entitlement_list",
        "server_list",
        "server_activations",
        "license_file_list",
        "rehost_history",
        "membership_list",
        "memberships_for_user",
        "invitation_pending_list",
        "audit_event_list",
        "shared_web_user_list",
        "shared_web_group_list",
        "elastic_usage_list",
        "entitlement_expiry_list",
    }
    # Lists that reuse a checked one, or are bounded by a checked parent row.
    # (emergency_license_list: one server's latest five, index emergency_license_server.)
    covered_elsewhere = {
        "flexnet_entitlement_list",
        "shared_web_entitlement_list",
        "shared_web_group_members_list",
        "emergency_license_list",
    }
    found = {
        name
        for module in (accounts_selectors, activations_selectors, entitlements_selectors, licensing_selectors)
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if function.__module__ == module.__name__ and name.endswith("_list")
    }
    assert found <= checked | covered_elsewhere, f"list selectors without an index check: {found - checked}"
