"""Support's "see as customer": read-only pages of one customer as a chosen role, audited,
with every write refused. The POST walk is generated from the URL resolver (every route
under /c/), so a new customer page is enrolled without anyone remembering to."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session
from django.core import serializers

from accounts.access import SUPPORT_VIEW_SESSION_KEY
from accounts.models import AuditEvent
from accounts.roles import Role, StaffRole
from tests.customer_urls import customer_routes
from tests.factories import (
    ActivationFactory,
    CustomerFactory,
    EntitlementFactory,
    InvitationFactory,
    LicenseServerFactory,
    MembershipFactory,
)

from .conftest import staff_account

ROUTES = customer_routes()


@pytest.fixture
def world(db):
    customer = CustomerFactory(number="1001234", name="Demo Mühendislik A.Ş.", flexnet_managed=True)
    MembershipFactory(customer=customer, role=Role.ASC)
    MembershipFactory(customer=customer, role=Role.VIEWER)
    entitlement = EntitlementFactory(customer=customer)
    server = LicenseServerFactory(customer=customer)
    ActivationFactory(server=server, entitlement=entitlement)
    InvitationFactory(customer=customer)
    return customer


def _start(client, customer, role: Role):
    return client.post(f"/support/customers/{customer.number}/view-as/", {"role": role.value})


def test_without_the_flag_staff_get_404(staff_client, world) -> None:
    client = staff_client(StaffRole.AGENT)
    assert client.get(f"/c/{world.number}/entitlements/").status_code == HTTPStatus.NOT_FOUND


def test_viewer_view_shows_the_banner_and_is_audited(staff_client, world) -> None:
    client = staff_client(StaffRole.AGENT)
    response = _start(client, world, Role.VIEWER)
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == f"/c/{world.number}/"
    page = client.get(f"/c/{world.number}/entitlements/")
    assert page.status_code == HTTPStatus.OK
    assert "Viewing 1001234 as License Portal Viewer, read-only" in page.content.decode()
    assert AuditEvent.objects.filter(
        customer=world, actor=client.user, action="support.view_as_started", details__role="viewer"
    ).exists()
    viewed = AuditEvent.objects.get(customer=world, action="support.view_as_page")
    assert viewed.target == f"/c/{world.number}/entitlements/"
    assert viewed.details == {"role": "viewer", "method": "GET"}


def test_the_chosen_roles_matrix_applies(staff_client, world) -> None:
    client = staff_client(StaffRole.AGENT)
    _start(client, world, Role.VIEWER)
    assert client.get(f"/c/{world.number}/users/bulk/").status_code == HTTPStatus.FORBIDDEN
    _start(client, world, Role.ASC)
    assert client.get(f"/c/{world.number}/users/bulk/").status_code == HTTPStatus.OK


def test_flag_is_scoped_to_one_customer(staff_client, world) -> None:
    other = CustomerFactory()
    client = staff_client(StaffRole.AGENT)
    _start(client, world, Role.ASC)
    assert client.get(f"/c/{other.number}/entitlements/").status_code == HTTPStatus.NOT_FOUND


def test_the_asc_reads_the_views_in_the_audit_log(staff_client, member_client, world) -> None:
    client = staff_client(StaffRole.AGENT)
    _start(client, world, Role.ADMINISTRATOR)
    client.get(f"/c/{world.number}/entitlements/")
    asc = member_client(role=Role.ASC, customer=world)
    page = asc.get(f"/c/{world.number}/audit/").content.decode()
    assert f"Support viewed /c/{world.number}/entitlements/ as License Portal Administrator" in page
    assert "Support started viewing the portal as License Portal Administrator, read-only" in page


def test_ending_removes_the_flag_and_is_audited(staff_client, world) -> None:
    client = staff_client(StaffRole.AGENT)
    _start(client, world, Role.VIEWER)
    response = client.post("/support/view-as/end/")
    assert response["Location"] == f"/support/customers/{world.number}/"
    assert SUPPORT_VIEW_SESSION_KEY not in client.session
    assert AuditEvent.objects.filter(customer=world, action="support.view_as_ended").exists()
    assert client.get(f"/c/{world.number}/entitlements/").status_code == HTTPStatus.NOT_FOUND


def test_a_forged_flag_gives_nothing_to_staff_without_a_role(client, world) -> None:
    user = staff_account(None)
    client.force_login(user)
    session = client.session
    session[SUPPORT_VIEW_SESSION_KEY] = {"customer": world.number, "role": "asc"}
    session.save()
    assert client.get(f"/c/{world.number}/entitlements/").status_code == HTTPStatus.NOT_FOUND


def test_a_forged_flag_gives_nothing_to_a_customer_user(member_client, world) -> None:
    other = CustomerFactory()
    client = member_client(role=Role.ASC, customer=other)
    session = client.session
    session[SUPPORT_VIEW_SESSION_KEY] = {"customer": world.number, "role": "asc"}
    session.save()
    assert client.get(f"/c/{world.number}/entitlements/").status_code == HTTPStatus.NOT_FOUND


def _snapshot() -> str:
    """Every row of every table but the append-only audit log and the sessions."""
    skip = {AuditEvent, Session}
    rows = []
    for model in apps.get_models():
        if model in skip or model._meta.proxy or not model._meta.managed:
            continue
        rows.append(serializers.serialize("json", model._base_manager.order_by("pk")))
    return "\n".join(rows)


def test_every_post_under_c_is_refused_and_changes_nothing(staff_client, world) -> None:
    """Generated: every route under /c/ from the URL resolver, POSTed as the ASC role (the
    role with the most permissions) in "see as customer" mode: 403, audited, no row changed."""
    client = staff_client(StaffRole.MANAGER)
    _start(client, world, Role.ASC)
    before = _snapshot()
    refused_before = AuditEvent.objects.filter(action="support.view_as_write", denied=True).count()
    assert ROUTES
    for route in ROUTES:
        path = route.path(world.number)
        for data in ({}, {"role": "viewer", "email": "x@example.org", "confirm": "on", "name": "lic99"}):
            response = client.post(path, data)
            assert response.status_code == HTTPStatus.FORBIDDEN, (route.route, response.status_code)
        for method in ("put", "patch", "delete"):
            assert getattr(client, method)(path).status_code == HTTPStatus.FORBIDDEN, (route.route, method)
    assert _snapshot() == before
    assert AuditEvent.objects.filter(action="support.view_as_write", denied=True).count() == (
        refused_before + len(ROUTES) * 5
    )


def test_every_get_under_c_changes_nothing_but_the_audit_log(staff_client, world) -> None:
    """Generated: every route under /c/ read in "see as customer" mode as the ASC role (every
    page that role may open): no row changes besides the audit log (the sessions aside)."""
    client = staff_client(StaffRole.MANAGER)
    _start(client, world, Role.ASC)
    before = _snapshot()
    for route in ROUTES:
        response = client.get(route.path(world.number))
        assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR, route.route
    assert _snapshot() == before
    assert AuditEvent.objects.filter(action="support.view_as_page", customer=world).count() >= len(ROUTES)
