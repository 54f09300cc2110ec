"""Bad input gets a clear 4xx or form error, never a 500."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.roles import Role
from accounts.services import membership_add
from portal.errors import PortalError
from tests.factories import CustomerFactory, MembershipFactory

pytestmark = pytest.mark.django_db

HOSTILE_EMAILS = [
    "",
    "not-an-email",
    "a@b",
    "x" * 300 + "@example.org",
    "<script>alert(1)</script>@example.org",
    "robert'); DROP TABLE accounts_user;--@example.org",
    "null\x00byte@example.org",
    "üñí@çødé.example",
]


@pytest.mark.parametrize("email", HOSTILE_EMAILS)
def test_signup_answers_hostile_email_with_form_error(email) -> None:
    client = Client(raise_request_exception=False)
    response = client.post(
        reverse("account_signup"), {"email": email, "password1": "x" * 12, "password2": "x" * 12, "name": "N"}
    )
    assert response.status_code in (HTTPStatus.OK, HTTPStatus.FOUND, HTTPStatus.BAD_REQUEST)
    if response.status_code == HTTPStatus.OK:
        assert "errorlist" in response.content.decode() or "error" in response.content.decode().lower()
    assert not User.objects.filter(email__startswith="<script>").exists()


@pytest.mark.parametrize("email", HOSTILE_EMAILS)
def test_login_and_reset_answer_hostile_input(email) -> None:
    client = Client(raise_request_exception=False)
    assert client.post(reverse("account_login"), {"login": email, "password": "p" * 5000}).status_code < 500
    assert client.post(reverse("account_reset_password"), {"email": email}).status_code < 500


@pytest.mark.parametrize("email", [e for e in HOSTILE_EMAILS if e != "üñí@çødé.example"])
def test_membership_add_refuses_malformed_email_clearly(email) -> None:
    customer = CustomerFactory()
    admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR).user
    with pytest.raises(PortalError) as refused:
        membership_add(customer=customer, actor=admin, email=email, role=Role.VIEWER)
    assert refused.value.field == "email"


def test_membership_add_refuses_unknown_role() -> None:
    customer = CustomerFactory()
    admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR).user
    with pytest.raises(PortalError) as refused:
        membership_add(customer=customer, actor=admin, email="ok@example.org", role="superuser")
    assert refused.value.field == "role"


@pytest.mark.parametrize("path", ["/c/%00/", "/c/../admin/", "/c/" + "9" * 500 + "/entitlements/", "/c/1001234/nope/"])
def test_odd_customer_urls_are_404(path, member_client) -> None:
    client = member_client(role=Role.ASC, customer=CustomerFactory(number="1001234"))
    client.raise_request_exception = False
    assert client.get(path).status_code == HTTPStatus.NOT_FOUND
