"""Generated from the API object and the matrix: every operation x every role x another
customer. Expected answers come from ``ROLE_PERMISSIONS``; nothing is listed by hand."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.test import Client

from accounts.models import AuditEvent
from accounts.roles import ROLE_PERMISSIONS, Role
from api.services import api_token_create
from tests.api.world import BODIES, objects, operations, send

OPERATIONS = operations()
CUSTOMER_OPERATIONS = [op for op in OPERATIONS if "{number}" in op.path]


@pytest.fixture(scope="module")
def _world(module_db):
    """Both customers' objects, made once for the module (``module_db`` rolls them back)."""
    from tests.factories import UserFactory

    staff = UserFactory(is_staff=True, is_superuser=True, email="support@example.com")
    return objects("1001234", staff), objects("2005678", staff)


@pytest.fixture
def world(_world, db):
    return _world


def _client(customer, role: Role) -> Client:
    from tests.factories import MembershipFactory, UserFactory

    membership = MembershipFactory(customer=customer, role=role, user=UserFactory())
    _token, raw = api_token_create(customer=customer, actor=membership.user, name="t", role=role)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.user = membership.user
    return client


def test_every_customer_operation_declares_a_permission() -> None:
    assert CUSTOMER_OPERATIONS
    undeclared = [str(op) for op in CUSTOMER_OPERATIONS if op.permission is None]
    assert undeclared == []


def test_every_operation_with_a_body_has_an_example() -> None:
    from api.v1 import api

    schema = api.get_openapi_schema()
    missing = [
        f"{method.upper()} {path.removeprefix('/api/v1')}"
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation and f"{method.upper()} {path.removeprefix('/api/v1')}" not in BODIES
    ]
    assert missing == []


@pytest.mark.parametrize("operation", OPERATIONS, ids=str)
def test_without_a_token_401(db, operation) -> None:
    response = send(
        Client(),
        operation,
        {
            "number": "1001234",
            "entitlement_id": 1,
            "server_id": 1,
            "version": 1,
            "member_id": 1,
            "invitation_id": 1,
            "user_id": 1,
            "group_id": 1,
        },
    )
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "unauthenticated"


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("operation", CUSTOMER_OPERATIONS, ids=str)
def test_another_customer_is_404(world, operation, role: Role) -> None:
    own, other = world
    client = _client(own.customer, role)
    response = send(client, operation, other.ids())
    assert response.status_code == HTTPStatus.NOT_FOUND, response.content
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("operation", [op for op in CUSTOMER_OPERATIONS if op.path.count("{") > 1], ids=str)
def test_another_customers_ids_under_own_number(world, operation, role: Role) -> None:
    own, other = world
    client = _client(own.customer, role)
    ids = {**other.ids(), "number": own.customer.number}
    response = send(client, operation, ids)
    if operation.permission in ROLE_PERMISSIONS[role]:
        assert response.status_code == HTTPStatus.NOT_FOUND, response.content
    else:
        assert response.status_code == HTTPStatus.FORBIDDEN, response.content


@pytest.mark.parametrize(
    ("operation", "role"),
    [(op, role) for op in CUSTOMER_OPERATIONS for role in Role if op.permission not in ROLE_PERMISSIONS[role]],
    ids=str,
)
def test_denied_pair_is_403_and_audited(world, operation, role: Role) -> None:
    own, _other = world
    client = _client(own.customer, role)
    before = AuditEvent.objects.filter(denied=True).count()
    response = send(client, operation, own.ids())
    assert response.status_code == HTTPStatus.FORBIDDEN, response.content
    assert response.json()["code"] == "permission_denied"
    denied = AuditEvent.objects.filter(denied=True).order_by("-id").first()
    assert AuditEvent.objects.filter(denied=True).count() == before + 1
    assert denied.customer == own.customer
    assert denied.actor == client.user
    assert denied.details["permission"] == operation.permission.value


@pytest.mark.parametrize(
    ("operation", "token_role"),
    [
        (op, role)
        for op in CUSTOMER_OPERATIONS
        for role in (Role.VIEWER,)
        if op.permission not in ROLE_PERMISSIONS[Role.VIEWER]
    ],
    ids=str,
)
def test_a_narrow_token_of_an_asc_is_denied_too(world, operation, token_role: Role) -> None:
    """The token acts with the lower of its role and its owner's: an ASC's Viewer token cannot write."""
    from tests.factories import MembershipFactory, UserFactory

    own, _other = world
    membership = MembershipFactory(customer=own.customer, role=Role.ASC, user=UserFactory())
    _token, raw = api_token_create(customer=own.customer, actor=membership.user, name="t", role=token_role)
    response = send(Client(HTTP_AUTHORIZATION=f"Bearer {raw}"), operation, own.ids())
    assert response.status_code == HTTPStatus.FORBIDDEN, response.content
