"""The entitlements page: columns, filters, sort, pagination, CSV export, query counts."""

from __future__ import annotations

import csv
import datetime
import io
from http import HTTPStatus

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from entitlements.models import Entitlement, LicensingModel
from portal.csv import csv_safe
from tests.factories import (
    ActivationFactory,
    CustomerFactory,
    ElasticUsageFactory,
    EntitlementFactory,
    LicenseServerFactory,
    ProductFactory,
)

TODAY = timezone.localdate()


@pytest.fixture
def lines(customer):
    ansys = ProductFactory(feature="ansys", name="Mechanical Enterprise")
    web = ProductFactory(feature="sw_mech", name="Shared Web Mechanical", licensing_model=LicensingModel.SHARED_WEB)
    return {
        "active": EntitlementFactory(customer=customer, product=ansys, line_id="1001234-0001", quantity=10),
        "expired": EntitlementFactory(
            customer=customer,
            product=ansys,
            line_id="1001234-0002",
            quantity=4,
            start_date=datetime.date(2020, 1, 1),
            end_date=datetime.date(2021, 1, 1),
        ),
        "perpetual": EntitlementFactory(
            customer=customer, product=ansys, line_id="1001234-0003", end_date=None, quantity=3, borrowable=True
        ),
        "web": EntitlementFactory(customer=customer, product=web, line_id="1001234-0004", order_number="=HYPERLINK()"),
    }


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role))
def test_every_role_sees_every_line_with_its_columns(customer, lines, member_client, role) -> None:
    ActivationFactory(server=LicenseServerFactory(customer=customer), entitlement=lines["active"], quantity=4)
    html = member_client(role=role, customer=customer).get(reverse("entitlements:list", args=[customer.number]))
    assert html.status_code == HTTPStatus.OK
    text = html.content.decode()
    for line in lines.values():
        assert line.line_id in text
    assert "Perpetual" in text
    assert "Expired" in text
    assert "Shared Web" in text
    assert '<meter min="0" max="10" value="4"' in text
    assert 'style="' not in text.split("<main", 1)[1]  # strict CSP: no inline styles


@pytest.mark.django_db
def test_filters_sort_and_garbage(customer, lines, member_client) -> None:
    client = member_client(role=Role.VIEWER, customer=customer)
    url = reverse("entitlements:list", args=[customer.number])

    def shown(query):
        response = client.get(url, query)
        assert response.status_code == HTTPStatus.OK
        return [
            line_id for line_id in sorted(e.line_id for e in lines.values()) if line_id in response.content.decode()
        ]

    assert shown({"status": "expired"}) == ["1001234-0002"]
    assert shown({"model": "shared_web"}) == ["1001234-0004"]
    assert shown({"q": "hyperlink"}) == ["1001234-0004"]
    assert shown({"status": "active", "model": "flexnet"}) == ["1001234-0001", "1001234-0003"]
    body = client.get(url, {"sort": "-quantity"}).content.decode()
    assert body.index("1001234-0001") < body.index("1001234-0002")
    for garbage in ({"status": "nope"}, {"sort": "drop table"}, {"page": "-1"}, {"page": "x"}, {"q": "\x00" * 200}):
        assert client.get(url, garbage).status_code == HTTPStatus.OK


@pytest.mark.django_db
def test_pagination_50_per_page(customer, member_client) -> None:
    EntitlementFactory.create_batch(60, customer=customer)
    client = member_client(role=Role.VIEWER, customer=customer)
    url = reverse("entitlements:list", args=[customer.number])
    first = client.get(url).content.decode()
    assert "Page 1 of 2" in first
    assert first.count('<th scope="row"') == 50
    second = client.get(url, {"page": 2}).content.decode()
    assert second.count('<th scope="row"') == 10


@pytest.mark.django_db
def test_csv_export_filtered_and_injection_safe(customer, lines, member_client) -> None:
    client = member_client(role=Role.VIEWER, customer=customer)
    response = client.get(reverse("entitlements:export", args=[customer.number]), {"model": "shared_web"})
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    assert body.startswith("\ufeff")  # like every export (portal.csv.csv_response), for spreadsheets
    rows = list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))
    assert rows[0][0] == "Line"
    assert len(rows) == 2
    assert rows[1][0] == "1001234-0004"
    assert rows[1][1] == "'=HYPERLINK()"
    for dangerous in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert csv_safe(dangerous).startswith("'")
    assert csv_safe("safe") == "safe"


def _page_queries(client, url) -> int:
    """Queries of a cold render (empty cache: no fragment, nor the bell's cached count)."""
    cache.clear()
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == HTTPStatus.OK
    return len(queries)


@pytest.mark.django_db
def test_entitlements_page_query_count_is_constant(customer, member_client) -> None:
    client = member_client(role=Role.VIEWER, customer=customer)
    url = reverse("entitlements:list", args=[customer.number])
    EntitlementFactory.create_batch(10, customer=customer)
    small = _page_queries(client, url)
    Entitlement.objects.bulk_create(
        EntitlementFactory.build(customer=customer, product=ProductFactory(), line_id=f"1001234-{n + 100:05d}")
        for n in range(990)
    )
    assert _page_queries(client, url) == small
    export = reverse("entitlements:export", args=[customer.number])
    with CaptureQueriesContext(connection) as queries:
        b"".join(client.get(export).streaming_content)
    assert len(queries) <= small + 2


@pytest.mark.django_db
def test_activations_pages_query_count_is_constant(customer, member_client) -> None:
    customer.flexnet_managed = True
    customer.save()
    client = member_client(role=Role.ASC, customer=customer)
    server = LicenseServerFactory(customer=customer)

    def add(n: int, offset: int) -> None:
        for i in range(n):
            ActivationFactory(
                server=server,
                entitlement=EntitlementFactory(
                    customer=customer, product=ProductFactory(), line_id=f"1001234-{offset + i:05d}"
                ),
            )

    urls = [
        reverse("activations:list", args=[customer.number]),
        reverse("activations:server_detail", args=[customer.number, server.pk]),
        reverse("activations:activate", args=[customer.number, server.pk]),
    ]
    add(10, 0)
    small = [_page_queries(client, url) for url in urls]
    add(990, 100)
    LicenseServerFactory.create_batch(5, customer=customer)
    assert [_page_queries(client, url) for url in urls] == small


@pytest.mark.django_db
def test_other_customers_lines_never_show(customer, member_client) -> None:
    other = CustomerFactory()
    EntitlementFactory(customer=other, line_id="2005678-0001")
    html = member_client(role=Role.ASC, customer=customer).get(reverse("entitlements:list", args=[customer.number]))
    assert "2005678-0001" not in html.content.decode()


# --- Units (issue 14 item 13) ------------------------------------------------------------------


@pytest.mark.django_db
def test_each_line_is_shown_in_its_own_unit_and_elastic_agrees_with_settings(member_client) -> None:
    import datetime as dt

    from django.utils import timezone

    from entitlements.licensing.selectors import elastic_summary
    from entitlements.models import LicensingModel
    from tests.factories import EntitlementFactory, ProductFactory

    customer = CustomerFactory()
    client = member_client(role=Role.VIEWER, customer=customer)
    today = timezone.localdate()
    elastic = ProductFactory(feature="elastic_units", name="Elastic Units", licensing_model=LicensingModel.ELASTIC)
    EntitlementFactory(
        customer=customer,
        product=elastic,
        quantity=5000,
        start_date=today - dt.timedelta(days=30),
        end_date=today + dt.timedelta(days=300),
    )
    shared = ProductFactory(feature="sw_mech", name="Mechanical Shared Web", licensing_model=LicensingModel.SHARED_WEB)
    EntitlementFactory(customer=customer, product=shared, quantity=20, activated=5)
    url = reverse("entitlements:list", args=[customer.number])
    html = client.get(url).content.decode()
    assert "0 used" in html
    assert "5,000 left" in html or "5000 left" in html
    assert "5 reserved" in html
    # A usage import refreshes the cached page: the same figures as the Elastic page.
    started = timezone.now() - dt.timedelta(days=1)
    ElasticUsageFactory(customer=customer, transaction_id="t1", started_at=started, product=elastic, hours=1, cost=1234)
    html = client.get(url).content.decode()
    summary = elastic_summary(customer=customer, account=None)
    assert summary.consumed == 1234
    assert "1,234 used" in html or "1234 used" in html
    assert "3,766 left" in html or "3766 left" in html
    # The chart adds no unlike units together.
    assert "Activated: " not in html
    assert "Available: " not in html
