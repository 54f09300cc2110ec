"""MFA required per customer; sessions end when access is taken away."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from allauth.usersessions.models import UserSession
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent
from accounts.roles import ROLE_PERMISSIONS, Permission, Role
from accounts.services import customer_set_mfa_required, membership_remove
from portal.errors import AccessDenied
from tests.factories import PASSWORD, CustomerFactory, MembershipFactory, TotpAuthenticatorFactory

pytestmark = pytest.mark.django_db


def _entitlements(customer) -> str:
    return reverse("entitlements:list", kwargs={"customer_number": customer.number})


def test_members_without_mfa_are_sent_to_set_it_up(member_client) -> None:
    customer = CustomerFactory()
    client = member_client(role=Role.VIEWER, customer=customer)
    asc = MembershipFactory(customer=customer, role=Role.ASC).user
    customer_set_mfa_required(customer=customer, actor=asc, required=True)
    response = client.get(_entitlements(customer))
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == reverse("mfa_index")
    # With an authenticator, the page opens.
    TotpAuthenticatorFactory(user=client.user)
    assert client.get(_entitlements(customer)).status_code == HTTPStatus.OK
    assert AuditEvent.objects.filter(customer=customer, action="customer.mfa_required").count() == 1


def test_viewer_cannot_require_mfa() -> None:
    customer = CustomerFactory()
    viewer = MembershipFactory(customer=customer, role=Role.VIEWER).user
    with pytest.raises(AccessDenied):
        customer_set_mfa_required(customer=customer, actor=viewer, required=True)
    customer.refresh_from_db()
    assert not customer.mfa_required


def test_removal_closes_the_customer_at_once_but_keeps_the_persons_sessions() -> None:
    """Issue 12 item 5: removal from one customer must not log the person out of their
    other work (an administrator could otherwise repeat it at will); the gate checks the
    membership on every request, so the removed customer's pages are 404 at once."""
    customer, elsewhere = CustomerFactory(), CustomerFactory()
    asc = MembershipFactory(customer=customer, role=Role.ASC).user
    membership = MembershipFactory(customer=customer, role=Role.VIEWER)
    MembershipFactory(customer=elsewhere, user=membership.user, role=Role.VIEWER)
    laptop, phone = Client(), Client()
    for device in (laptop, phone):
        device.post(reverse("account_login"), {"login": membership.user.email, "password": PASSWORD})
        assert device.get(reverse("customer_home", args=[customer.number])).status_code == HTTPStatus.FOUND
    sessions_before = UserSession.objects.filter(user=membership.user).count()
    membership_remove(membership=membership, actor=asc)
    assert UserSession.objects.filter(user=membership.user).count() == sessions_before == 2
    for device in (laptop, phone):
        assert device.get(reverse("access")).status_code == HTTPStatus.OK
        assert device.get(reverse("entitlements:list", args=[customer.number])).status_code == HTTPStatus.NOT_FOUND
        assert device.get(reverse("entitlements:list", args=[elsewhere.number])).status_code == HTTPStatus.OK


@pytest.mark.parametrize("role", list(Role))
def test_mfa_toggle_on_the_users_page_follows_the_matrix(role, member_client) -> None:
    customer = CustomerFactory()
    client = member_client(role=role, customer=customer)
    response = client.post(reverse("users:mfa", kwargs={"customer_number": customer.number}), {"required": "true"})
    customer.refresh_from_db()
    if Permission.MANAGE_USERS in ROLE_PERMISSIONS[role]:
        assert response.status_code == HTTPStatus.FOUND
        assert customer.mfa_required
    else:
        assert response.status_code == HTTPStatus.FORBIDDEN
        assert not customer.mfa_required


@pytest.mark.parametrize("url_name", ["account_email", "mfa_activate_totp", "mfa_generate_recovery_codes"])
def test_security_changes_require_reauthentication(url_name) -> None:
    """Changing email addresses or MFA asks for the password again (allauth reauthentication),
    even shortly after login, and certainly in a session an hour old."""
    user = MembershipFactory(role=Role.VIEWER).user
    client = Client()
    client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    session = client.session
    session["account_authentication_methods"] = [
        {**method, "at": method["at"] - 3600} for method in session["account_authentication_methods"]
    ]
    session.save()
    data = {"action_add": "", "email": "second@example.org"} if url_name == "account_email" else {}
    response = client.post(reverse(url_name), data)
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith(reverse("account_reauthenticate"))
