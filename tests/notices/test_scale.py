"""The daily run's query count is pinned: it does not grow with the number of lines, and per
customer it is bounded (constant per batch of customers and of people)."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Customer, Membership, User
from accounts.roles import Role
from entitlements.models import Entitlement
from notices.models import DigestEmail, PortalNotification
from notices.services import notices_daily_run
from tests.factories import ProductFactory

TODAY = datetime.date(2027, 3, 1)
# Reminders: customers with due lines, then per batch of 500 customers: lines, members,
# settings, insert. Digests: waiting people, two per category, then per batch of 500 people:
# lock, insert digests, insert outbox rows, link them, mark rows emailed. Reseller: insert,
# read, outbox row, update. Savepoints of the keyed inserts included.
PINNED = 25
# With the usage app installed, its recommendations cost one query per customer with due lines
# when the customer has no usage data, three when it has (usage.selectors).
PER_CUSTOMER = 3


def _seed(customers: int, lines_per_customer: int) -> None:
    product = ProductFactory(feature="scale")
    created = Customer.objects.bulk_create(
        Customer(number=str(6_100_000 + i), name=f"Scale {i}") for i in range(customers)
    )
    users = User.objects.bulk_create(
        User(email=f"{r}{i}@scale.example", language=("en", "tr")[i % 2])
        for i in range(customers)
        for r in ("asc", "admin")
    )
    Membership.objects.bulk_create(
        Membership(user=users[2 * i + k], customer=c, role=role)
        for i, c in enumerate(created)
        for k, role in enumerate((Role.ASC, Role.ADMINISTRATOR))
    )
    steps = (90, 30, 14, 7, -1)
    Entitlement.objects.bulk_create(
        Entitlement(
            customer=c,
            product=product,
            line_id=f"{c.number}-{j:04d}",
            quantity=1 + j,
            start_date=TODAY - datetime.timedelta(days=400),
            end_date=TODAY + datetime.timedelta(days=steps[j % 5]),
            tecs_end_date=TODAY + datetime.timedelta(days=steps[(j + 1) % 5]),
        )
        for c in created
        for j in range(lines_per_customer)
    )


def _run() -> int:
    with CaptureQueriesContext(connection) as captured:
        notices_daily_run(today=TODAY)
    return len(captured)


@pytest.mark.django_db
@pytest.mark.parametrize(("customers", "lines"), [(3, 2), (30, 20)])
def test_daily_run_query_count_is_pinned_at_two_sizes(customers, lines, settings) -> None:
    settings.RESELLER_DIGEST_EMAIL = "sales@reseller.example"
    _seed(customers, lines)
    queries = _run()
    print(f"QUERIES daily run: {queries} for {customers} customers x {lines} lines")
    assert queries <= PINNED + PER_CUSTOMER * customers
    assert PortalNotification.objects.count() == customers * 2 * lines * 2  # two people, end + TECS
    assert DigestEmail.objects.count() == customers * 2
    # The second run of the day finds everything done, with fewer queries still.
    assert _run() <= PINNED + PER_CUSTOMER * customers
    assert DigestEmail.objects.count() == customers * 2
