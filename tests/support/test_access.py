"""The cockpit's access rules, generated from the URL resolver and the staff matrix: every
view under /support/ declares a staff permission; a staff role without it gets 403 (audited);
anyone not staff gets 404; a staff account in no support group gets 403 everywhere."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.access import authorize_staff
from accounts.models import AuditEvent
from accounts.roles import STAFF_ROLE_PERMISSIONS, StaffPermission, StaffRole, has_staff_permission, staff_role
from portal.errors import AccessDenied
from support.views import SupportViewMixin
from tests.factories import CustomerFactory, UserFactory

from .conftest import staff_account


def _support_routes() -> list[tuple[str, type]]:
    def walk(patterns: list, prefix: str = ""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern), getattr(pattern.callback, "view_class", None)

    return [(route, view) for route, view in walk(get_resolver().url_patterns) if route.startswith("support/")]


ROUTES = _support_routes()


def _path(route: str, number: str) -> str:
    path = "/" + route.replace("<str:number>", number).replace("<slug:slug>", "no-asc").replace("<int:pk>", "1")
    assert "<" not in path, path
    return path


def _method(view: type) -> str:
    return "get" if hasattr(view, "get") else "post"


def test_routes_found() -> None:
    assert len(ROUTES) >= 6


@pytest.mark.parametrize(("route", "view"), ROUTES, ids=[route for route, _ in ROUTES])
def test_every_support_view_declares_a_staff_permission(route: str, view: type) -> None:
    assert view is not None, route
    assert issubclass(view, SupportViewMixin), route
    assert isinstance(view.required_staff_permission, StaffPermission), route


CASES = [(route, view, role) for route, view in ROUTES for role in (*StaffRole, None)]


@pytest.mark.parametrize(("route", "view", "role"), CASES, ids=[f"{r}-{role}" for r, _, role in CASES])
def test_staff_role_without_the_permission_gets_403(
    staff_client, route: str, view: type, role: StaffRole | None
) -> None:
    customer = CustomerFactory()
    client = staff_client(role)
    response = getattr(client, _method(view))(_path(route, customer.number))
    allowed = role is not None and view.required_staff_permission in STAFF_ROLE_PERMISSIONS[role]
    if allowed:
        assert response.status_code != HTTPStatus.FORBIDDEN
    else:
        assert response.status_code == HTTPStatus.FORBIDDEN
        assert AuditEvent.objects.filter(
            actor=client.user, denied=True, details__staff_permission=view.required_staff_permission.value
        ).exists()


@pytest.mark.parametrize(("route", "view"), ROUTES, ids=[route for route, _ in ROUTES])
def test_not_staff_gets_404(client, db, route: str, view: type) -> None:
    customer = CustomerFactory()
    client.force_login(UserFactory())
    assert getattr(client, _method(view))(_path(route, customer.number)).status_code == HTTPStatus.NOT_FOUND


@pytest.mark.parametrize(("route", "view"), ROUTES, ids=[route for route, _ in ROUTES])
def test_anonymous_is_sent_to_login(client, db, route: str, view: type) -> None:
    response = getattr(client, _method(view))(_path(route, "1001234"))
    assert response.status_code == HTTPStatus.FOUND
    assert re.search(r"/accounts/login/", response["Location"])


def test_staff_role_comes_from_groups_and_superuser(db) -> None:
    assert staff_role(staff_account(StaffRole.AGENT)) == StaffRole.AGENT
    assert staff_role(staff_account(StaffRole.MANAGER)) == StaffRole.MANAGER
    assert staff_role(staff_account(None)) is None
    assert staff_role(UserFactory(is_staff=True, is_superuser=True)) == StaffRole.MANAGER
    assert staff_role(staff_account(StaffRole.MANAGER, is_active=False)) is None
    not_staff = UserFactory()
    not_staff.groups.add(*staff_account(StaffRole.MANAGER).groups.all())
    assert staff_role(not_staff) is None


@pytest.mark.parametrize("permission", list(StaffPermission))
@pytest.mark.parametrize("role", [*StaffRole, None])
def test_authorize_staff_follows_the_matrix(db, role: StaffRole | None, permission: StaffPermission) -> None:
    actor = staff_account(role)
    allowed = role is not None and permission in STAFF_ROLE_PERMISSIONS[role]
    assert has_staff_permission(actor, permission) is allowed
    if allowed:
        authorize_staff(actor=actor, action="test.action", permission=permission)
    else:
        with pytest.raises(AccessDenied):
            authorize_staff(actor=actor, action="test.action", permission=permission)
        assert AuditEvent.objects.get(actor=actor, denied=True).details["reason"] == permission.value


def test_authorize_staff_without_permission_keeps_the_staff_only_rule(db) -> None:
    authorize_staff(actor=staff_account(None), action="test.action")
    with pytest.raises(AccessDenied):
        authorize_staff(actor=UserFactory(), action="test.action")


def test_agents_cannot_approve(db) -> None:
    assert not has_staff_permission(staff_account(StaffRole.AGENT), StaffPermission.APPROVE_REQUESTS)
    assert has_staff_permission(staff_account(StaffRole.MANAGER), StaffPermission.APPROVE_REQUESTS)


def test_staff_without_mfa_is_sent_to_set_it_up(staff_client, settings) -> None:
    settings.PORTAL_STAFF_MFA_REQUIRED = True
    response = staff_client(StaffRole.MANAGER).get("/support/")
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/accounts/2fa/"
