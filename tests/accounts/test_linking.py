"""Email-matched linking: only a verified address ever links a user to a customer."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, Invitation, Membership, User
from accounts.roles import Role
from accounts.services import asc_designate, invitations_link_verified
from tests.factories import PASSWORD, CustomerFactory, InvitationFactory, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-much-better-passphrase-77"


def _link_from_outbox(pattern: str) -> str:
    for message in reversed(mail.outbox):
        match = re.search(pattern, message.body)
        if match:
            return match.group(0)
    raise AssertionError(f"no email matched {pattern!r}: {[m.subject for m in mail.outbox]}")


def _confirm_link() -> str:
    return _link_from_outbox(r"http://testserver/accounts/confirm-email/[^\s]+/")


def _signup(client: Client, email: str, password: str = PASSWORD):
    return client.post(
        reverse("account_signup"), {"email": email, "password1": password, "password2": password}
    )


def _login(client: Client, email: str, password: str = PASSWORD):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def test_signup_then_verification_links_pending_invitation() -> None:
    invitation = InvitationFactory(email="New.Person@Example.org", role=Role.ADMINISTRATOR)
    client = Client()
    _signup(client, "new.person@example.org")
    user = User.objects.get(email="new.person@example.org")
    assert not Membership.objects.filter(user=user).exists(), "unverified: nothing linked yet"

    confirm = _confirm_link().replace("http://testserver", "")
    assert client.post(confirm).status_code == HTTPStatus.FOUND

    membership = Membership.objects.get(user=user)
    assert membership.customer == invitation.customer
    assert membership.role == Role.ADMINISTRATOR
    invitation.refresh_from_db()
    assert invitation.accepted_by == user
    assert invitation.accepted_at is not None
    assert AuditEvent.objects.filter(customer=invitation.customer, action="invitation.accepted").count() == 1


def test_unverified_address_never_links_even_on_login() -> None:
    invitation = InvitationFactory(email="pending@example.org")
    user = UserFactory(email="pending@example.org", verified=False)
    assert invitations_link_verified(user=user) == []
    client = Client()
    _login(client, "pending@example.org")
    assert not Membership.objects.filter(user=user).exists()
    invitation.refresh_from_db()
    assert invitation.is_pending


def test_login_links_invitations_for_verified_addresses_case_insensitively() -> None:
    user = UserFactory(email="asc@acme.example")
    first = InvitationFactory(email="ASC@Acme.Example", role=Role.VIEWER)
    second = InvitationFactory(email="asc@acme.example", role=Role.ADMINISTRATOR)
    client = Client()
    response = _login(client, "asc@acme.example")
    assert response.status_code == HTTPStatus.FOUND
    roles = dict(Membership.objects.filter(user=user).values_list("customer_id", "role"))
    assert roles == {first.customer_id: Role.VIEWER, second.customer_id: Role.ADMINISTRATOR}
    html = client.get(reverse("access")).content.decode()
    assert first.customer.number in html
    assert second.customer.number in html


def test_added_address_links_only_once_confirmed() -> None:
    user = UserFactory(email="main@example.org")
    invitation = InvitationFactory(email="work@corp.example", role=Role.VIEWER)
    client = Client()
    _login(client, user.email)
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})  # required to change emails
    client.post(reverse("account_email"), {"action_add": "", "email": "work@corp.example"})
    assert EmailAddress.objects.filter(user=user, email="work@corp.example", verified=False).exists()
    assert invitations_link_verified(user=user) == []
    confirm = _confirm_link().replace("http://testserver", "")
    client.post(confirm)
    assert Membership.objects.filter(user=user, customer=invitation.customer).exists()


def test_linking_is_idempotent() -> None:
    user = UserFactory(email="twice@example.org")
    InvitationFactory(email="twice@example.org")
    assert len(invitations_link_verified(user=user)) == 1
    assert invitations_link_verified(user=user) == []
    assert Membership.objects.filter(user=user).count() == 1


def test_cancelled_invitation_links_nothing() -> None:
    user = UserFactory(email="gone@example.org", verified=False)
    invitation = InvitationFactory(email="gone@example.org")
    Invitation.objects.filter(pk=invitation.pk).update(cancelled_at=invitation.created_at)
    EmailAddress.objects.filter(user=user).update(verified=True)
    assert invitations_link_verified(user=user) == []


def test_asc_designation_by_support_gives_access_on_login(staff_user) -> None:
    customer = CustomerFactory()
    asc_designate(customer=customer, actor=staff_user, email="Owner@Buyer.example")
    user = UserFactory(email="owner@buyer.example")
    _login(Client(), "owner@buyer.example")
    assert Membership.objects.get(user=user, customer=customer).role == Role.ASC


def test_asc_designation_promotes_an_existing_member(staff_user) -> None:
    customer = CustomerFactory()
    user = UserFactory(email="promote@buyer.example")
    Membership.objects.create(user=user, customer=customer, role=Role.VIEWER)
    asc_designate(customer=customer, actor=staff_user, email="promote@buyer.example")
    assert Membership.objects.get(user=user, customer=customer).role == Role.ASC


def test_pre_account_takeover_is_defeated(staff_user) -> None:
    """An attacker signs up first with the ASC's email and never verifies it. They get no
    access; the real owner takes the address back by password reset, the attacker's
    password and sessions stop working, and the ASC access follows the verified address."""
    customer = CustomerFactory()
    asc_designate(customer=customer, actor=staff_user, email="asc@victim.example")

    attacker = Client()
    _signup(attacker, "asc@victim.example", password="attacker-pass-1234")
    squatter = User.objects.get(email="asc@victim.example")
    assert not Membership.objects.filter(user=squatter).exists()
    # Mandatory verification: the attacker cannot even log in.
    _login(attacker, "asc@victim.example", password="attacker-pass-1234")
    assert SESSION_KEY not in attacker.session
    assert attacker.get(reverse("access")).status_code == HTTPStatus.FOUND
    # Even a session obtained some other way ends when the owner resets the password.
    stolen = Client()
    stolen.force_login(squatter)

    owner = Client()
    mail.outbox.clear()
    owner.post(reverse("account_reset_password"), {"email": "asc@victim.example"})
    reset = _link_from_outbox(r"http://testserver/accounts/password/reset/key/[^\s]+/").replace("http://testserver", "")
    form_url = owner.get(reset)["Location"]
    response = owner.post(form_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == HTTPStatus.FOUND

    assert EmailAddress.objects.get(email="asc@victim.example").verified
    _login(owner, "asc@victim.example", password=NEW_PASSWORD)
    assert Membership.objects.get(user=squatter, customer=customer).role == Role.ASC
    assert customer.number in owner.get(reverse("access")).content.decode()
    # The attacker's password no longer works and the other session is over.
    _login(Client(), "asc@victim.example", password="attacker-pass-1234")
    assert stolen.get(reverse("access")).status_code == HTTPStatus.FOUND
