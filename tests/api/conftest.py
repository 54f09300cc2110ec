"""Fixtures for the API tests: tokens made through the service, clients that send them."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.test import Client

from accounts.models import Customer
from accounts.roles import Role
from api.services import api_token_create, webhook_endpoint_create
from tests.activations import helpers as activation_helpers
from tests.api.receiver import Receiver, start_receiver
from tests.factories import CustomerFactory, EntitlementFactory, LicenseServerFactory, MembershipFactory, UserFactory


@pytest.fixture
def api_client(db: None, member_factory: Callable) -> Callable[..., Client]:
    """``api_client(role=Role.ADMINISTRATOR, customer=c)`` -> a Client sending a fresh token of
    that role for a new member of that role; ``.token``, ``.raw``, ``.user`` and ``.membership``
    are attached. ``token_role`` narrows the token below the member's role."""

    def make(*, role: Role = Role.VIEWER, customer: Customer | None = None, token_role: Role | None = None) -> Client:
        membership = member_factory(role=role, customer=customer or CustomerFactory())
        token, raw = api_token_create(
            customer=membership.customer, actor=membership.user, name="script", role=token_role or role
        )
        client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
        client.token, client.raw, client.user, client.membership = token, raw, membership.user, membership
        return client

    return make


@pytest.fixture
def flex_customer(customer: Customer) -> Customer:
    """The demo customer with FlexNet managed, three lines and one server."""
    for _ in range(3):
        EntitlementFactory(customer=customer)
    LicenseServerFactory(customer=customer, name="lic01")
    return customer


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP webhook receiver on loopback (``tests/api/receiver.py``)."""
    state, server = start_receiver()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def webhook_setup(receiver, staff_user):
    """Customer 1001234 with an ASC, an Administrator and the ASC's endpoint at ``receiver``."""
    customer = activation_helpers.flex_customer("1001234")
    asc = MembershipFactory(customer=customer, role=Role.ASC, user=UserFactory(email="asc@demo.example")).user
    admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR).user
    endpoint = webhook_endpoint_create(customer=customer, actor=asc, url=receiver.url)
    receiver.secret = endpoint.secret
    return customer, asc, admin, endpoint
