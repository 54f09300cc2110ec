"""The entitlement list's first pages, kept per version of the customer's data (issue 16;
``api.http.paginate_values``' ``cache_for``, docs/performance.md): a repeated first page costs
the token's query alone, every kind of change shows on the next request, only a bounded set of
pages is kept, and a failing cache only means reading the page."""

from __future__ import annotations

import datetime
import json
from http import HTTPStatus

import pytest
import time_machine
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.roles import Role
from api.http import json_bytes
from entitlements.models import Entitlement
from tests.activations.helpers import flex_customer, setup_server
from tests.factories import EntitlementFactory

pytestmark = pytest.mark.django_db


def _url(customer, query: str = "") -> str:
    return f"/api/v1/customers/{customer.number}/entitlements/{query}"


def _get(client, url: str) -> tuple[dict, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == HTTPStatus.OK, response.content
    return response.json(), len(queries.captured_queries)


@pytest.fixture
def world(api_client):
    customer = flex_customer()
    server, line = setup_server(customer, quantity=10)
    EntitlementFactory.create_batch(3, customer=customer)
    client = api_client(role=Role.ADMINISTRATOR, customer=customer)
    client.get(_url(customer))  # the token's first use is recorded (once a minute)
    cache.clear()
    return client, customer, server, line


def _line(page: dict, line: Entitlement) -> dict:
    return next(row for row in page["results"] if row["id"] == line.pk)


def test_a_repeated_first_page_costs_the_token_query_alone(world) -> None:
    client, customer = world[:2]
    first, first_queries = _get(client, _url(customer))
    again, again_queries = _get(client, _url(customer))
    assert (first_queries, again_queries) == (2, 1)
    assert again == first
    assert len(first["results"]) == 5


def test_every_kind_of_change_shows_on_the_next_request(world) -> None:
    client, customer, server, line = world
    url = _url(customer, "?limit=100")
    _get(client, url)

    # An activation through the API: the line's activated and available figures.
    response = client.post(
        f"/api/v1/customers/{customer.number}/servers/{server.pk}/activations/apply",
        {"lines": [{"entitlement_id": line.pk, "quantity": 4}]},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="cache-1",
    )
    assert response.status_code == HTTPStatus.OK, response.content
    row = _line(_get(client, url)[0], line)
    assert (row["activated"], row["available"]) == (4, 6)

    # Support changes the quantity, and renames the product (another table).
    Entitlement.objects.filter(pk=line.pk).update(quantity=12)
    line.product.name = "CFD Solver Premium"
    line.product.save(update_fields=["name"])
    row = _line(_get(client, url)[0], line)
    assert (row["quantity"], row["available"], row["product"]) == (12, 8, "CFD Solver Premium")

    # A line added, a line removed.
    added = EntitlementFactory(customer=customer)
    removed = Entitlement.objects.filter(customer=customer, activations__isnull=True).exclude(pk=added.pk).first()
    removed.delete()
    ids = {row["id"] for row in _get(client, url)[0]["results"]}
    assert added.pk in ids
    assert removed.pk not in ids


def test_the_status_moves_with_the_day(world) -> None:
    client, customer, _server, line = world
    last_day = timezone.localdate() + datetime.timedelta(days=10)
    Entitlement.objects.filter(pk=line.pk).update(end_date=last_day)
    noon = datetime.time(12, tzinfo=timezone.get_current_timezone())
    with time_machine.travel(datetime.datetime.combine(last_day, noon)):
        assert _line(_get(client, _url(customer))[0], line)["status"] == "active"
    with time_machine.travel(datetime.datetime.combine(last_day + datetime.timedelta(days=1), noon)):
        assert _line(_get(client, _url(customer))[0], line)["status"] == "expired"


@pytest.mark.parametrize(
    "query",
    [
        "?q=cfd",  # a text search
        "?limit=7",  # a limit outside the bounded set
        "?limit=2&cursor={cursor}",  # a later page
    ],
)
def test_only_a_bounded_set_of_pages_is_kept(world, query) -> None:
    client, customer = world[:2]
    if "{cursor}" in query:
        query = query.format(cursor=client.get(_url(customer, "?limit=2")).json()["next_cursor"])
    first, first_queries = _get(client, _url(customer, query))
    again, again_queries = _get(client, _url(customer, query))
    assert (first_queries, again_queries) == (2, 2)
    assert again == first


def test_unknown_filter_values_share_the_unfiltered_page(world) -> None:
    """The selector ignores values it does not know: they are one key, not one each."""
    client, customer = world[:2]
    plain, _ = _get(client, _url(customer))
    for query in ("?status=nonsense", "?model=other", "?status=x&model=y"):
        page, queries = _get(client, _url(customer, query))
        assert (page, queries) == (plain, 1)


def test_filters_and_limits_are_kept_apart(world) -> None:
    client, customer, _server, line = world
    Entitlement.objects.filter(pk=line.pk).update(
        start_date=datetime.date(2000, 1, 1),
        end_date=datetime.date(2001, 1, 1),
        tecs_end_date=datetime.date(2001, 1, 1),
    )
    expired, _ = _get(client, _url(customer, "?status=expired"))
    active, _ = _get(client, _url(customer, "?status=active"))
    assert [row["id"] for row in expired["results"]] == [line.pk]
    assert line.pk not in {row["id"] for row in active["results"]}
    assert len(_get(client, _url(customer, "?limit=10"))[0]["results"]) == 5
    assert len(_get(client, _url(customer, "?limit=25"))[0]["results"]) == 5


def test_customers_never_share_a_page(api_client) -> None:
    pages = []
    for _ in range(2):
        customer = flex_customer()
        client = api_client(role=Role.VIEWER, customer=customer)
        pages.append((customer, client.get(_url(customer)).json()))
    (first, first_page), (second, second_page) = pages
    assert {row["line_id"] for row in first_page["results"]} == {f"{first.number}-9999"}
    assert {row["line_id"] for row in second_page["results"]} == {f"{second.number}-9999"}


def test_a_failing_cache_means_reading_the_page(world, monkeypatch) -> None:
    client, customer = world[:2]
    expected, _ = _get(client, _url(customer))

    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "get", down)
    monkeypatch.setattr(cache, "set", down)
    page, queries = _get(client, _url(customer))
    assert (page, queries) == (expected, 2)


def test_the_page_is_the_json_django_writes(world) -> None:
    """orjson writes what ``JsonResponse`` would (``api.http.json_bytes``), dates included."""
    client, customer = world[:2]
    page = client.get(_url(customer)).json()
    data = {"page": page, "when": datetime.datetime(2026, 12, 5, 3, 4, 5, 678901, tzinfo=datetime.UTC)}
    data["day"] = datetime.date(2026, 12, 5)
    assert json.loads(json_bytes(data)) == json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    assert json.loads(json_bytes(data))["when"] == "2026-12-05T03:04:05.678Z"
