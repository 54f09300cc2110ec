"""Cached page fragments (portal/fragments.py, portal/templatetags/portal_chrome.py).

The cache must never show stale or someone else's data: every change to what a landing page
shows raises the customer's data version in the same transaction (database triggers, on
PostgreSQL and on SQLite), and what differs per user (CSRF token, path, email) is never shared.
Which tables need a trigger is derived from the SQL the fragments run, and this module runs
on SQLite too: ``test_fragment_versions.py``.
"""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Customer
from accounts.roles import Role
from activations.models import Activation, LicenseFile, ServerHost
from entitlements.models import Entitlement, Product
from tests.activations.helpers import activate, flex_customer, setup_server
from tests.factories import CustomerFactory, EntitlementFactory, LicenseServerFactory, MembershipFactory, ProductFactory

pytestmark = pytest.mark.django_db


def _version(customer: Customer) -> int:
    return Customer.objects.values_list("data_version", flat=True).get(pk=customer.pk)


def _text(response) -> str:
    assert response.status_code == HTTPStatus.OK, response.status_code
    return response.content.decode()


# --- the version ------------------------------------------------------------------------------


def test_every_change_shown_on_the_landing_pages_raises_the_version_of_that_customer_only() -> None:
    ours, other = flex_customer(), flex_customer()
    other_start = _version(other)
    server, line = setup_server(ours)
    changes = {
        "entitlement insert": lambda: EntitlementFactory(customer=ours),
        "entitlement update": lambda: Entitlement.objects.filter(pk=line.pk).update(quantity=11),
        "server update": lambda: type(server).objects.filter(pk=server.pk).update(lmgrd_port=27000),
        "host update": lambda: ServerHost.objects.filter(server=server).update(host_name="renamed.example"),
        "activation insert": lambda: Activation.objects.create(server=server, entitlement=line, quantity=1),
        "activation delete": lambda: Activation.objects.filter(server=server).delete(),
        "license file insert": lambda: LicenseFile.objects.create(server=server, version=1, content="#\n"),
        "customer rename": lambda: Customer.objects.filter(pk=ours.pk).update(name="Renamed A.Ş."),
        "entitlement delete": lambda: Entitlement.objects.filter(pk=line.pk, activations__isnull=True).delete(),
    }
    for what, change in changes.items():
        before = _version(ours)
        change()
        assert _version(ours) > before, what
    assert _version(other) == other_start


def test_a_product_change_raises_the_customers_holding_it() -> None:
    product = ProductFactory(feature="shared_feature")
    holder, bystander = CustomerFactory(), CustomerFactory()
    EntitlementFactory(customer=holder, product=product)
    EntitlementFactory(customer=bystander)
    holder_before, bystander_before = _version(holder), _version(bystander)
    Product.objects.filter(pk=product.pk).update(name="Renamed product")
    assert _version(holder) > holder_before
    assert _version(bystander) == bystander_before


def test_the_version_never_goes_down_even_from_a_stale_instance() -> None:
    customer = CustomerFactory()
    stale = Customer.objects.get(pk=customer.pk)
    EntitlementFactory(customer=customer)
    EntitlementFactory(customer=customer)
    raised = _version(customer)
    assert raised > stale.data_version
    stale.name = "Saved from an old copy"
    stale.save()  # writes the old data_version back: the database raises it past the current one
    assert _version(customer) > raised


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has row-level triggers only: once per row")
def test_a_bulk_insert_bumps_once_per_statement() -> None:
    customer = CustomerFactory()
    product = ProductFactory()
    before = _version(customer)
    Entitlement.objects.bulk_create(
        Entitlement(
            customer=customer,
            product=product,
            line_id=f"{customer.number}-{i:05d}",
            quantity=1,
            start_date="2026-01-01",
        )
        for i in range(500)
    )
    assert _version(customer) == before + 1


# --- the pages --------------------------------------------------------------------------------


def _member(customer: Customer, role: Role, member_factory) -> Client:
    membership = member_factory(role=role, customer=customer)
    client = Client()
    client.force_login(membership.user)
    client.user = membership.user
    return client


def test_an_activation_shows_on_the_next_view_of_both_cached_pages(member_factory) -> None:
    customer = flex_customer()
    server, line = setup_server(customer, quantity=10)
    admin = _member(customer, Role.ADMINISTRATOR, member_factory)
    entitlements_url = reverse("entitlements:list", args=[customer.number])
    activations_url = reverse("activations:list", args=[customer.number])
    row = re.compile(rf"{re.escape(line.line_id)}<br>.*?</tr>", re.DOTALL)
    assert '<td class="num">0</td>' in row.search(_text(admin.get(entitlements_url))).group(0)
    assert "Nothing activated yet" in _text(admin.get(activations_url))
    assert "Nothing activated yet" in _text(admin.get(activations_url))  # from the cache

    activate(server, admin.user, {line.pk: 4})

    assert '<td class="num">4</td>' in row.search(_text(admin.get(entitlements_url))).group(0)
    activations = _text(admin.get(activations_url))
    assert "Download (version 1)" in activations
    assert "Nothing activated yet" not in activations


def test_a_renamed_product_shows_at_once(member_factory) -> None:
    customer = CustomerFactory()
    line = EntitlementFactory(customer=customer, product=ProductFactory(name="Old Name"))
    viewer = _member(customer, Role.VIEWER, member_factory)
    url = reverse("entitlements:list", args=[customer.number])
    assert "Old Name" in _text(viewer.get(url))
    Product.objects.filter(pk=line.product_id).update(name="New Name")
    page = _text(viewer.get(url))
    assert "New Name" in page
    assert "Old Name" not in page


def test_roles_languages_and_queries_are_not_shared(member_factory) -> None:
    customer = flex_customer()
    LicenseServerFactory(customer=customer)
    viewer = _member(customer, Role.VIEWER, member_factory)
    admin = _member(customer, Role.ADMINISTRATOR, member_factory)
    url = reverse("activations:list", args=[customer.number])
    add = reverse("activations:server_add", args=[customer.number])
    assert add in _text(admin.get(url))
    assert add not in _text(viewer.get(url))
    assert add in _text(admin.get(url))

    entitlements = reverse("entitlements:list", args=[customer.number])
    assert "Entitlements" in _text(viewer.get(entitlements))
    turkish = _text(viewer.get(entitlements, HTTP_ACCEPT_LANGUAGE="tr"))
    assert "Haklar" in turkish or 'lang="tr"' in turkish
    assert "Export CSV" not in turkish
    filtered = _text(viewer.get(entitlements, {"q": "no-such-line"}))
    assert "No entitlement lines match." in filtered
    assert "No entitlement lines match." not in _text(viewer.get(entitlements))


def _csrf_in(page: str) -> set[str]:
    return set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', page))


def test_the_cached_header_carries_each_users_own_token_path_and_email(member_factory) -> None:
    customer = flex_customer()
    first = _member(customer, Role.VIEWER, member_factory)
    second = _member(customer, Role.VIEWER, member_factory)
    url = reverse("entitlements:list", args=[customer.number])
    for client in (first, second):
        client.get(url)  # fill the caches
    first_page = _text(first.get(url, {"page": "1"}))
    second_page = _text(second.get(url))
    assert first.user.email in first_page
    assert second.user.email not in first_page
    assert second.user.email in second_page
    assert first.user.email not in second_page
    assert f'name="next" value="{url}?page=1"' in first_page
    assert f'name="next" value="{url}"' in second_page
    assert "csrf-" not in first_page
    assert "path-" not in first_page

    # The token in the cached header is a working token of this user's session.
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(first.user)
    page = _text(strict.get(url))
    (token,) = _csrf_in(page)
    response = strict.post(reverse("set_language"), {"language": "tr", "next": url, "csrfmiddlewaretoken": token})
    assert response.status_code == HTTPStatus.FOUND


def test_a_new_membership_shows_in_the_switcher_at_once(member_factory) -> None:
    customer = flex_customer()
    viewer = _member(customer, Role.VIEWER, member_factory)
    url = reverse("entitlements:list", args=[customer.number])
    _text(viewer.get(url))
    MembershipFactory(user=viewer.user, customer=CustomerFactory(name="Second Company Ltd."), role=Role.VIEWER)
    assert "Second Company Ltd." in _text(viewer.get(url))


def test_pages_render_when_the_cache_is_down(member_factory, settings) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }  # nothing listens on port 1: every cache call fails
    customer = flex_customer()
    server, line = setup_server(customer)
    viewer = _member(customer, Role.VIEWER, member_factory)
    assert line.line_id in _text(viewer.get(reverse("entitlements:list", args=[customer.number])))
    assert server.name in _text(viewer.get(reverse("activations:list", args=[customer.number])))


def test_paging_and_filtering_reuse_the_charts(member_factory) -> None:

    customer = CustomerFactory()
    for _ in range(3):
        EntitlementFactory(customer=customer)
    viewer = _member(customer, Role.VIEWER, member_factory)
    url = reverse("entitlements:list", args=[customer.number])
    first = _text(viewer.get(url))
    with CaptureQueriesContext(connection) as queries:
        filtered = _text(viewer.get(url, {"sort": "-line"}))
    # session, user, memberships, then the list's count and page, and the lines' usage
    # recommendations (one query when the customer has no usage): no chart aggregate
    assert len(queries) == 6, [q["sql"][:90] for q in queries.captured_queries]
    charts = re.compile(r'<section class="chart-grid".*?</section>', re.DOTALL)
    assert charts.search(first).group(0) == charts.search(filtered).group(0)


def test_cached_html_drops_indentation_but_never_inside_pre_or_textarea(settings) -> None:
    from portal.fragments import cached_fragment

    indented = "<ul>\n    <li>a</li>\n\n    <li>b</li>\n</ul>"
    assert cached_fragment(name="t1", vary=(), render=lambda: indented) == "<ul>\n<li>a</li>\n<li>b</li>\n</ul>"
    pre = "<pre>\n    keep\n</pre>"
    assert cached_fragment(name="t2", vary=(), render=lambda: pre) == pre


def test_only_the_shared_views_are_cached(member_factory) -> None:
    """Text searches, unknown parameters and far pages render for the request only, so a
    member cannot fill the cache with fragments nobody reads again."""
    from django.core.cache import cache

    customer = CustomerFactory()
    EntitlementFactory(customer=customer)
    viewer = _member(customer, Role.VIEWER, member_factory)
    url = reverse("entitlements:list", args=[customer.number])

    def fragments() -> int:
        return sum(1 for key in cache._cache if ":fragment:entitlements:" in key)  # locmem in tests

    _text(viewer.get(url))
    _text(viewer.get(url, {"status": "active", "sort": "-end", "page": "2"}))
    shared = fragments()
    assert shared == 2
    for query in ({"q": "anything"}, {"utm": "x"}, {"page": "999"}, {"status": "bogus"}, {"sort": ["line", "-line"]}):
        assert customer.number in _text(viewer.get(url, query))
    assert fragments() == shared
