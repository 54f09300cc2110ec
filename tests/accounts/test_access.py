"""Access to customer pages: the mixin, the resolver walk and the License Portal Access page."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import reverse

from accounts.access import CustomerViewMixin
from accounts.models import AuditEvent, Customer, User
from accounts.roles import ROLE_PERMISSIONS, Permission, Role
from entitlements.models import LicensingModel
from tests.activations.helpers import activate, flex_customer, setup_server
from tests.customer_urls import customer_routes
from tests.factories import (
    CustomerFactory,
    ElasticAccountFactory,
    EntitlementFactory,
    InvitationFactory,
    MembershipFactory,
    ProductFactory,
    SharedWebGroupFactory,
    SharedWebUserFactory,
    UserFactory,
)

ROUTES = customer_routes()


def test_routes_were_found() -> None:
    names = {route.name for route in ROUTES}
    assert {"customer_home", "entitlements:list", "users:list", "audit:list"} <= names


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name or r.route)
def test_every_customer_view_declares_a_permission(route) -> None:
    """Deny by default: a view under /c/ that declares nothing fails here."""
    assert route.view_class is not None, f"{route.route} is not a class-based view using CustomerViewMixin"
    assert issubclass(route.view_class, CustomerViewMixin), f"{route.route} does not use CustomerViewMixin"
    assert isinstance(route.view_class.required_permission, Permission), f"{route.route} declares no permission"


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name or r.route)
def test_other_customers_pages_are_404_for_every_role(route, role, member_client) -> None:
    mine = CustomerFactory()
    theirs = CustomerFactory()
    client = member_client(role=role, customer=mine)
    for method in ("get", "post"):
        response = getattr(client, method)(route.path(theirs.number))
        assert response.status_code == HTTPStatus.NOT_FOUND, (method, route.route)


@pytest.mark.django_db
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name or r.route)
def test_unknown_and_malformed_customer_numbers_are_404(route, member_client) -> None:
    client = member_client(role=Role.ASC, customer=CustomerFactory())
    for number in ("9999999", "abc", "1%2F2", "0" * 40):
        assert client.get(route.path(number)).status_code == HTTPStatus.NOT_FOUND


@pytest.mark.django_db
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name or r.route)
def test_anonymous_users_are_sent_to_login(route, client) -> None:
    customer = CustomerFactory()
    response = client.get(route.path(customer.number))
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith(reverse("account_login"))


DENIED_PAIRS = [
    (route, role)
    for route in ROUTES
    if route.view_class is not None and issubclass(route.view_class, CustomerViewMixin)
    for role in Role
    if route.view_class.required_permission not in ROLE_PERMISSIONS[role]
]


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "role"), DENIED_PAIRS, ids=lambda v: getattr(v, "name", None) or str(v))
def test_missing_permission_is_403_and_audited(route, role, member_client) -> None:
    """Generated from the matrix: every (view, role) pair the mapping denies."""
    customer = CustomerFactory()
    client = member_client(role=role, customer=customer)
    for method in ("get", "post"):
        response = getattr(client, method)(route.path(customer.number))
        assert response.status_code == HTTPStatus.FORBIDDEN, (method, route.route)
    assert AuditEvent.objects.filter(customer=customer, actor=client.user, denied=True).count() == 2


@pytest.mark.django_db
def test_customer_home_redirects_to_entitlements(member_client) -> None:
    customer = CustomerFactory()
    client = member_client(role=Role.VIEWER, customer=customer)
    response = client.get(f"/c/{customer.number}/")
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == reverse("entitlements:list", kwargs={"customer_number": customer.number})


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role))
def test_access_page_lists_customer_role_and_permissions(role, member_client) -> None:
    customer = CustomerFactory(number="1001234", name="Demo Mühendislik A.Ş.")
    client = member_client(role=role, customer=customer)
    html = client.get(reverse("access")).content.decode()
    assert "1001234 (Demo Mühendislik A.Ş.)" in html
    assert str(role.label) in html
    for permission in Permission:
        assert (str(permission.label) in html) == (permission in ROLE_PERMISSIONS[role]), permission


@pytest.mark.django_db
def test_access_page_for_a_user_with_no_access(settings) -> None:
    settings.PORTAL_SUPPORT_EMAIL = "help@reseller.example"
    client = Client()
    client.force_login(UserFactory(email="nobody@example.org"))
    html = client.get(reverse("access")).content.decode()
    assert "You do not have License Portal access" in html
    assert "help@reseller.example" in html
    assert "nobody@example.org" in html  # the email to give the ASC
    assert "Support Coordinator (ASC)" in html
    assert "Elastic or Shared Web" in html


@pytest.mark.django_db
def test_user_with_several_customers_sees_all_and_can_switch() -> None:
    user = UserFactory()
    first = MembershipFactory(user=user, role=Role.ASC).customer
    second = MembershipFactory(user=user, role=Role.VIEWER).customer
    client = Client()
    client.force_login(user)
    html = client.get(reverse("access")).content.decode()
    assert first.number in html
    assert second.number in html
    page = client.get(reverse("entitlements:list", kwargs={"customer_number": first.number})).content.decode()
    # The header's switcher links to both customers.
    assert f'href="/c/{second.number}/"' in page
    assert f'href="/c/{first.number}/"' in page
    assert client.get(f"/c/{second.number}/entitlements/").status_code == HTTPStatus.OK


@pytest.mark.django_db
def test_access_page_requires_login(client) -> None:
    response = client.get(reverse("access"))
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith(reverse("account_login"))


ALLOWED_PAIRS = [
    (route, role)
    for route in ROUTES
    if route.view_class is not None and issubclass(route.view_class, CustomerViewMixin)
    for role in Role
    if route.view_class.required_permission in ROLE_PERMISSIONS[role]
]


def _everything_customer(customer: Customer, member: User) -> dict[str, object]:
    """Something behind every customer URL: visible activations and a server with a license
    file (saved by ``member`` when the role may activate, so its result page is theirs),
    Shared Web (a user, a group), Elastic (an account), another portal user and a pending
    invitation. Returns the id for each kind of URL parameter."""
    server, line = setup_server(customer)
    may_activate = Permission.ACTIVATE_ENTITLEMENTS in ROLE_PERMISSIONS[Role(member.memberships.get().role)]
    result = activate(server, member if may_activate else UserFactory(is_staff=True), {line.pk: 1})
    shared_web = ProductFactory(licensing_model=LicensingModel.SHARED_WEB)
    EntitlementFactory(customer=customer, product=shared_web)
    EntitlementFactory(customer=customer, product=ProductFactory(licensing_model=LicensingModel.ELASTIC))
    ElasticAccountFactory(customer=customer)
    return {
        "server": server.pk,
        "version": result.license_file.version,
        "token": result.token,
        "membership": MembershipFactory(customer=customer, role=Role.VIEWER).pk,
        "invitation": InvitationFactory(customer=customer).pk,
        "shared_web_user": SharedWebUserFactory(customer=customer).pk,
        "group": SharedWebGroupFactory(customer=customer).pk,
        "endpoint": _webhook_endpoint(customer),
        "line": line.line_id,
        "request": _support_request(customer, server_id=server.pk),
    }


def _webhook_endpoint(customer: Customer) -> int:
    from api.models import WebhookEndpoint

    return WebhookEndpoint.objects.create(customer=customer, url="https://hooks.example.com/x", secret="whsec_x").pk


def _support_request(customer: Customer, *, server_id: int) -> int:
    from django.utils import timezone

    from support.models import RequestKind, SupportRequest

    return SupportRequest.objects.create(
        customer=customer, kind=RequestKind.EXTRA_REHOST, server_id=server_id, reason="r", due_at=timezone.now()
    ).pk


def _path(route, customer: Customer, ids: dict[str, object]) -> str:
    if "invitation" in route.name:
        pk = ids["invitation"]
    elif "shared_web_user" in route.name:
        pk = ids["shared_web_user"]
    elif "shared_web_group" in route.name:
        pk = ids["group"]
    elif route.name.startswith("requests:"):
        pk = ids["request"]
    else:
        pk = ids["membership"]
    path = "/" + route.route.replace("<str:customer_number>", customer.number)
    path = path.replace("<int:server_id>", str(ids["server"])).replace("<int:version>", str(ids["version"]))
    path = path.replace("<str:token>", str(ids["token"])).replace("<int:pk>", str(pk))
    path = path.replace("<int:endpoint_id>", str(ids["endpoint"]))
    path = path.replace("<str:line_id>", str(ids["line"]))
    if not hasattr(route.view_class, "get"):
        # POST only: a GET is answered 405 after the gate, before any id is read.
        return re.sub(r"<(?:\w+:)?\w+>", "0", path)
    assert "<" not in path, f"{route.route}: a URL parameter this test does not fill yet (_everything_customer)"
    return path


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "role"), ALLOWED_PAIRS, ids=lambda v: getattr(v, "name", None) or str(v))
def test_allowed_pairs_are_neither_403_nor_404(route, role, member_client) -> None:
    """Generated from the matrix: every (view, role) pair the mapping allows gets through the
    gate (a page, a redirect, or 405 for a POST-only view on GET), never 403 or 404."""
    customer = flex_customer()
    client = member_client(role=role, customer=customer)
    ids = _everything_customer(customer, client.user)
    response = client.get(_path(route, customer, ids))
    assert response.status_code not in (HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND), route.route
    assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR
    assert not AuditEvent.objects.filter(customer=customer, actor=client.user, denied=True).exists()
