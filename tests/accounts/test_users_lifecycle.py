"""An invitation from the users page, through allauth's real signup and email confirmation."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import Invitation, Membership, User
from accounts.roles import Role
from accounts.services import invitations_accept_for_address
from tests.factories import PASSWORD, CustomerFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _link(pattern: str, to: str) -> str:
    for message in reversed(mail.outbox):
        if message.to == [to]:
            match = re.search(pattern, message.body)
            if match:
                return match.group(0).replace("http://testserver", "")
    raise AssertionError(f"no email to {to} matched {pattern!r}")


def _confirm(client: Client, to: str):
    """Types the verification code mailed to ``to`` into the client's session."""
    for message in reversed(mail.outbox):
        match = re.search(r"^([A-Z0-9]{4}-[A-Z0-9]{4})$", message.body, re.MULTILINE)
        if message.to == [to] and match:
            return client.post(reverse("account_email_verification_sent"), {"code": match.group(1)})
    raise AssertionError(f"no code mailed to {to}")


def _signup(client: Client, email: str):
    return client.post(
        reverse("account_signup"), {"email": email, "password1": PASSWORD, "password2": PASSWORD, "name": "New Person"}
    )


@pytest.fixture
def company(member_client):
    customer = CustomerFactory()
    asc = MembershipFactory(customer=customer, role=Role.ASC).user
    admin_client = member_client(role=Role.ADMINISTRATOR, customer=customer)
    return customer, asc, admin_client


def _invite(client: Client, customer, email: str, role: Role, capture) -> None:
    with capture(execute=True):
        response = client.post(reverse("users:add", args=[customer.number]), {"email": email, "role": role.value})
    assert response.status_code == HTTPStatus.FOUND


def test_invite_signup_verify_gives_the_invited_role(company, django_capture_on_commit_callbacks, settings) -> None:
    settings.PORTAL_BASE_URL = "http://testserver"
    customer, asc, admin_client = company
    _invite(admin_client, customer, "Fresh@Example.org", Role.ADMINISTRATOR, django_capture_on_commit_callbacks)

    invitation_mail = [m for m in mail.outbox if m.to == ["fresh@example.org"]]
    assert len(invitation_mail) == 1
    body = invitation_mail[0].body
    assert customer.number in body
    assert "fresh@example.org" in body
    assert reverse("account_signup") in body
    assert [m.to for m in mail.outbox if m.to == [asc.email]] == [[asc.email]]

    newcomer = Client()
    assert _signup(newcomer, "fresh@example.org").status_code == HTTPStatus.FOUND
    user = User.objects.get(email="fresh@example.org")
    assert not Membership.objects.filter(user=user).exists(), "not verified yet"

    with django_capture_on_commit_callbacks(execute=True):
        assert _confirm(newcomer, "fresh@example.org").status_code == HTTPStatus.FOUND
    membership = Membership.objects.get(user=user, customer=customer)
    assert membership.role == Role.ADMINISTRATOR
    assert Invitation.objects.get(customer=customer).accepted_by == user
    # The ASC hears that the invitation was sent and that it was accepted.
    assert sum(1 for m in mail.outbox if m.to == [asc.email]) == 2
    assert newcomer.get(reverse("users:list", args=[customer.number])).status_code == HTTPStatus.OK


def test_cancelled_invitation_links_nothing(company, django_capture_on_commit_callbacks) -> None:
    customer, _asc, admin_client = company
    _invite(admin_client, customer, "late@example.org", Role.VIEWER, django_capture_on_commit_callbacks)
    invitation = Invitation.objects.get(customer=customer, email="late@example.org")
    response = admin_client.post(reverse("users:invitation_cancel", args=[customer.number, invitation.pk]))
    assert response.status_code == HTTPStatus.FOUND

    newcomer = Client()
    _signup(newcomer, "late@example.org")
    _confirm(newcomer, "late@example.org")
    user = User.objects.get(email="late@example.org")
    assert user.emailaddress_set.get().verified
    assert not Membership.objects.filter(user=user).exists()


def test_invitation_for_an_unverified_account_links_only_once_verified(company, django_capture_on_commit_callbacks):
    customer, _asc, admin_client = company
    holder = UserFactory(email="holder@example.org", verified=False)
    _invite(admin_client, customer, "holder@example.org", Role.VIEWER, django_capture_on_commit_callbacks)
    # An unverified address is not an account we add directly: an invitation waits.
    assert not Membership.objects.filter(user=holder).exists()
    assert Invitation.objects.pending().filter(customer=customer, email="holder@example.org").exists()
    assert invitations_accept_for_address(user=holder, email="holder@example.org") == []

    client = Client()
    mail.outbox.clear()
    # Mandatory verification: logging in sends a confirmation email instead of a session.
    client.post(reverse("account_login"), {"login": "holder@example.org", "password": PASSWORD})
    assert not Membership.objects.filter(user=holder).exists()
    _confirm(client, "holder@example.org")
    assert Membership.objects.get(user=holder, customer=customer).role == Role.VIEWER
