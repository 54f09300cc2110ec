"""Every customer URL, every role, another customer's object ids: 404 and nothing changes.
And no GET changes anything. Routes come from the URL resolver, objects from the demo data,
so new views and new models are covered without touching this file."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.apps import apps
from django.core.exceptions import FieldError
from django.test import Client

from accounts.models import AuditEvent, Customer, Notification
from accounts.roles import ROLE_PERMISSIONS, Role
from tests.customer_urls import CustomerRoute, customer_routes
from tests.factories import MembershipFactory

ROUTES = [route for route in customer_routes() if route.view_class is not None]
PARAMETERISED = [route for route in ROUTES if route.route.count("<") > 1]
# Paths from an object to its customer, tried in turn for every model.
CUSTOMER_PATHS = ("customer", "server__customer", "entitlement__customer", "group__customer")
PORTAL_APPS = {"accounts", "entitlements", "activations", "usage"}
# What may legitimately change on any request: the audit trail, outbox, sessions.
VOLATILE = {AuditEvent, Notification}
PAYLOAD = {
    "email": "intruder@example.org",
    "role": "viewer",
    "quantity": "1",
    "host_id": "001122334455",
    "host_name": "x",
    "port": "1055",
    "name": "x",
    "seats": "1",
    "active": "on",
    "confirm": "1",
}


def _owned_pks(customer: Customer) -> set[int]:
    pks: set[int] = set()
    for model in apps.get_models():
        if model._meta.app_label not in PORTAL_APPS:
            continue
        for path in CUSTOMER_PATHS:
            try:
                pks.update(model._default_manager.filter(**{path: customer}).values_list("pk", flat=True))
                break
            except FieldError:
                continue
    return pks


def _snapshot() -> dict[str, list[tuple]]:
    tracked = [
        model
        for model in apps.get_models()
        if model not in VOLATILE and model._meta.app_label in PORTAL_APPS | {"account"}
    ]
    return {model._meta.label: list(model._default_manager.order_by("pk").values_list()) for model in tracked}


@pytest.fixture
def world(demo_data, db):
    victim = Customer.objects.get(number="1001234")
    attacker = Customer.objects.get(number="2005678")
    foreign_ids = sorted(_owned_pks(victim) - _owned_pks(attacker))[:12]
    assert foreign_ids, "the demo data gives the victim customer objects to aim at"
    return victim, attacker, foreign_ids


def _client(customer: Customer, role: Role) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(MembershipFactory(customer=customer, role=role).user)
    return client


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("route", PARAMETERISED, ids=lambda r: r.name)
def test_other_customers_object_ids_are_404_and_change_nothing(world, route: CustomerRoute, role: Role) -> None:
    _victim, attacker, foreign_ids = world
    client = _client(attacker, role)
    # The attacker's own new membership must not be mistaken for a foreign object.
    foreign_ids = [pk for pk in foreign_ids if pk not in _owned_pks(attacker)]
    allowed = route.view_class.required_permission in ROLE_PERMISSIONS[role]
    before = _snapshot()
    for object_id in foreign_ids:
        path = route.path(attacker.number, fill=str(object_id))
        for method in ("get", "post"):
            status = getattr(client, method)(path, PAYLOAD if method == "post" else None).status_code
            expected = {HTTPStatus.NOT_FOUND, HTTPStatus.METHOD_NOT_ALLOWED}
            if not allowed:
                expected.add(HTTPStatus.FORBIDDEN)  # refused before any lookup: reveals nothing
            assert status in expected, (method, path, status)
    assert _snapshot() == before


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_get_changes_nothing(world, route: CustomerRoute) -> None:
    victim, _attacker, _ids = world
    client = _client(victim, Role.ASC)
    own_ids = sorted(_owned_pks(victim))[:12] or [1]
    before = _snapshot()
    for object_id in own_ids:
        response = client.get(route.path(victim.number, fill=str(object_id)))
        assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR
    assert _snapshot() == before
