"""Email-matched linking: an invitation links when its address is proven by the account's
own session (verification code, password reset), or when its verified holder accepts it."""

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
from accounts.services import asc_designate, invitation_accept, invitation_decline, invitations_accept_for_address
from portal.errors import PortalError
from tests.factories import PASSWORD, CustomerFactory, InvitationFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-much-better-passphrase-77"


def _link_from_outbox(pattern: str) -> str:
    for message in reversed(mail.outbox):
        match = re.search(pattern, message.body)
        if match:
            return match.group(0)
    raise AssertionError(f"no email matched {pattern!r}: {[m.subject for m in mail.outbox]}")


def _code_for(email: str) -> str:
    for message in reversed(mail.outbox):
        match = re.search(r"^([A-Z0-9]{4}-[A-Z0-9]{4})$", message.body, re.MULTILINE)
        if match and email in message.to:
            return match.group(1)
    raise AssertionError(f"no code mailed to {email}: {[m.subject for m in mail.outbox]}")


def _enter_code(client: Client, email: str):
    return client.post(reverse("account_email_verification_sent"), {"code": _code_for(email)})


def _signup(client: Client, email: str, password: str = PASSWORD):
    return client.post(
        reverse("account_signup"), {"email": email, "password1": password, "password2": password, "name": "Someone"}
    )


def _login(client: Client, email: str, password: str = PASSWORD):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def test_signup_then_verification_links_pending_invitation() -> None:
    invitation = InvitationFactory(email="New.Person@Example.org", role=Role.ADMINISTRATOR)
    client = Client()
    _signup(client, "new.person@example.org")
    user = User.objects.get(email="new.person@example.org")
    assert not Membership.objects.filter(user=user).exists(), "unverified: nothing linked yet"

    assert _enter_code(client, "new.person@example.org").status_code == HTTPStatus.FOUND

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
    assert invitations_accept_for_address(user=user, email="pending@example.org") == []
    with pytest.raises(PortalError):
        invitation_accept(invitation=invitation, actor=user)
    client = Client()
    _login(client, "pending@example.org")
    assert not Membership.objects.filter(user=user).exists()
    invitation.refresh_from_db()
    assert invitation.is_pending


def test_login_links_nothing_the_holder_accepts_on_the_access_page_case_insensitively() -> None:
    """An invitation to an address that is verified already is offered, never imposed."""
    user = UserFactory(email="asc@acme.example")
    first = InvitationFactory(email="ASC@Acme.Example", role=Role.VIEWER)
    second = InvitationFactory(email="asc@acme.example", role=Role.ADMINISTRATOR)
    client = Client()
    response = _login(client, "asc@acme.example")
    assert response.status_code == HTTPStatus.FOUND
    assert not Membership.objects.filter(user=user).exists()
    html = client.get(reverse("access")).content.decode()
    assert first.customer.number in html
    assert second.customer.number in html
    client.post(reverse("invitation_accept", args=[first.pk]))
    client.post(reverse("invitation_decline", args=[second.pk]))
    roles = dict(Membership.objects.filter(user=user).values_list("customer_id", "role"))
    assert roles == {first.customer_id: Role.VIEWER}
    second.refresh_from_db()
    assert second.cancelled_at is not None
    assert AuditEvent.objects.filter(customer=second.customer, action="invitation.declined").count() == 1
    html = client.get(reverse("access")).content.decode()
    assert first.customer.number in html
    assert second.customer.number not in html


def test_only_the_invited_addresses_holder_can_accept_or_decline() -> None:
    invitation = InvitationFactory(email="someone@acme.example")
    stranger = UserFactory(email="stranger@acme.example")
    unverified = UserFactory(email="someone@acme.example", verified=False)
    for actor in (stranger, unverified):
        with pytest.raises(PortalError):
            invitation_accept(invitation=invitation, actor=actor)
        with pytest.raises(PortalError):
            invitation_decline(invitation=invitation, actor=actor)
        client = Client()
        client.force_login(actor)
        client.post(reverse("invitation_accept", args=[invitation.pk]))
    invitation.refresh_from_db()
    assert invitation.is_pending
    assert not Membership.objects.exists()


def test_added_address_links_only_once_confirmed() -> None:
    user = UserFactory(email="main@example.org")
    invitation = InvitationFactory(email="work@corp.example", role=Role.VIEWER)
    client = Client()
    _login(client, user.email)
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})  # required to change emails
    client.post(reverse("account_email"), {"action_add": "", "email": "work@corp.example"})
    # By code, the address is stored only once the code is typed in this session.
    assert not EmailAddress.objects.filter(email="work@corp.example", verified=True).exists()
    assert invitations_accept_for_address(user=user, email="work@corp.example") == []
    assert not Membership.objects.filter(user=user).exists()
    _enter_code(client, "work@corp.example")
    assert Membership.objects.filter(user=user, customer=invitation.customer).exists()


def test_linking_is_idempotent() -> None:
    user = UserFactory(email="twice@example.org")
    InvitationFactory(email="twice@example.org")
    assert len(invitations_accept_for_address(user=user, email="twice@example.org")) == 1
    assert invitations_accept_for_address(user=user, email="twice@example.org") == []
    assert Membership.objects.filter(user=user).count() == 1


def test_cancelled_invitation_links_nothing() -> None:
    user = UserFactory(email="gone@example.org", verified=False)
    invitation = InvitationFactory(email="gone@example.org")
    Invitation.objects.filter(pk=invitation.pk).update(cancelled_at=invitation.created_at)
    EmailAddress.objects.filter(user=user).update(verified=True)
    assert invitations_accept_for_address(user=user, email="gone@example.org") == []


def test_asc_designation_by_support_gives_access_once_the_address_is_proven(staff_user) -> None:
    customer = CustomerFactory()
    asc_designate(customer=customer, actor=staff_user, email="Owner@Buyer.example")
    client = Client()
    _signup(client, "owner@buyer.example")
    _enter_code(client, "owner@buyer.example")
    user = User.objects.get(email="owner@buyer.example")
    assert Membership.objects.get(user=user, customer=customer).role == Role.ASC


def test_asc_designation_promotes_an_existing_member(staff_user) -> None:
    customer = CustomerFactory()
    user = UserFactory(email="promote@buyer.example")
    MembershipFactory(user=user, customer=customer, role=Role.VIEWER)
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
