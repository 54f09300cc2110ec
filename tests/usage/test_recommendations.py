"""entitlement_recommendations: the selector the renewal reminders quote, and its column on
the entitlements page (a cached fragment: ingest must raise the data version)."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from http import HTTPStatus

import pytest
from django.test import TestCase
from django.test.utils import override_settings
from django.urls import reverse
from django.utils import translation

from accounts.models import Customer
from accounts.roles import Role
from tests.factories import EntitlementFactory, ProductFactory
from usage import services
from usage.models import UsageHour
from usage.selectors import entitlement_recommendations

pytestmark = pytest.mark.django_db
TODAY = datetime.date(2026, 12, 4)


def hours(customer: Customer, feature: str, peaks: list[int], *, denials: int = 0, true_denials: int = 0) -> None:
    start = datetime.datetime(2026, 12, 4, tzinfo=datetime.UTC)
    UsageHour.objects.bulk_create(
        UsageHour(
            customer=customer,
            server_name="lic01",
            daemon="ansyslmd",
            feature=feature,
            hour=start - datetime.timedelta(hours=i),
            peak=peak,
            denials=denials if i == 0 else 0,
            true_denials=true_denials if i == 0 else 0,
        )
        for i, peak in enumerate(peaks)
    )


def test_fewer_at_the_tecs_renewal(customer: Customer) -> None:
    line = EntitlementFactory(
        customer=customer,
        product=ProductFactory(feature="ansys"),
        quantity=10,
        start_date=datetime.date(2026, 1, 1),
        end_date=datetime.date(2027, 12, 31),
        tecs_end_date=datetime.date(2027, 12, 31),
    )
    # 90 days x 24 hours = 2160 hours; the 95th percentile is at rank 2052: > 108 hours at 4.
    hours(customer, "ansys", [4] * 200 + [6] * 5)
    with translation.override("en"):
        [recommendation] = entitlement_recommendations(customer=customer, entitlements=[line], today=TODAY).values()
    assert recommendation.p95 == 4
    assert recommendation.peak == 6
    assert recommendation.change == -6
    assert recommendation.text == (
        "10 owned, 95th percentile 4 in 90 days: consider 6 fewer at the TECS renewal on 31 Dec 2027"
    )


def test_denials_last_month_ask_for_more(customer: Customer) -> None:
    line = EntitlementFactory(
        customer=customer,
        product=ProductFactory(feature="anshpc_pack"),
        quantity=8,
        start_date=datetime.date(2026, 1, 1),
    )
    hours(customer, "anshpc_pack", [8] * 3000, denials=32, true_denials=5)
    with translation.override("en"):
        recommendation = entitlement_recommendations(customer=customer, entitlements=[line], today=TODAY)[line.pk]
    assert recommendation.text == "32 denials last month: consider more"
    assert recommendation.change > 0


def test_lines_without_usage_are_absent_and_queries_are_constant(
    customer: Customer, django_assert_max_num_queries: Callable
) -> None:
    lines = [EntitlementFactory(customer=customer, product=ProductFactory(feature=f"f{i}")) for i in range(20)]
    hours(customer, "f3", [1] * 10)
    with django_assert_max_num_queries(3):
        result = entitlement_recommendations(customer=customer, entitlements=lines, today=TODAY)
    assert set(result) == {lines[3].pk}


@override_settings(PORTAL_FRAGMENT_CACHE_SECONDS=600)
def test_entitlements_page_shows_it_and_ingest_refreshes_the_cached_page(
    customer: Customer, member_client: Callable
) -> None:
    today = datetime.date.today()
    EntitlementFactory(customer=customer, product=ProductFactory(feature="ansys"), quantity=10)
    client = member_client(role=Role.ASC, customer=customer)
    url = reverse("entitlements:list", args=[customer.number])
    assert "95th percentile" not in client.get(url).content.decode()  # cached now
    moment = datetime.datetime.combine(today, datetime.time(9)) - datetime.timedelta(days=1)
    log = (
        f"{moment:%H:%M:%S} (ansyslmd) TIMESTAMP {moment.month}/{moment.day}/{moment.year}\n"
        f'{moment:%H:%M:%S} (ansyslmd) OUT: "ansys" bob@ws-1  (2 licenses)\n'
        '23:00:00 (ansyslmd) IN: "ansys" bob@ws-1  (2 licenses)\n'
    ).encode()
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.usage_uploads_create(
            customer=customer, actor=client.user, files=[("a.log", [log])], server_name="lic01"
        )
    response = client.get(url)
    assert response.status_code == HTTPStatus.OK
    assert "10 owned, 95th percentile" in response.content.decode()
