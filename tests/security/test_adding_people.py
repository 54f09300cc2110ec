"""Issue 12, item 5: adding an existing user from another company. An add reveals nothing
about who has an account, joins nobody without their consent, and removal from one customer
does not end the person's sessions (tests/security/test_mfa_sessions.py has that one)."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, Invitation, Membership
from accounts.roles import Role
from accounts.selectors import AddRequest, user_add_plan, user_add_plan_digest
from accounts.services import membership_remove
from tests.factories import PASSWORD, CustomerFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def company():
    customer = CustomerFactory()
    asc = MembershipFactory(customer=customer, role=Role.ASC).user
    administrator = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR).user
    client = Client()
    client.force_login(administrator)
    return customer, asc, administrator, client


def _preview_lines(client: Client, customer, text: str) -> list[tuple[str, str, str]]:
    response = client.post(reverse("users:bulk", args=[customer.number]), {"preview": "1", "text": text})
    assert response.status_code == HTTPStatus.OK
    return [(line.outcome.value, str(line.reason), line.outcome.tone) for line in response.context["plan"]]


def test_bulk_preview_answers_the_same_with_or_without_an_account(company) -> None:
    customer, _asc, _admin, client = company
    elsewhere = MembershipFactory(role=Role.ADMINISTRATOR, user=UserFactory(email="has-account@other.example"))
    UserFactory(email="unverified@other.example", verified=False)
    lines = _preview_lines(
        client,
        customer,
        "has-account@other.example,viewer\nunverified@other.example,viewer\nnobody@other.example,viewer",
    )
    assert len(set(lines)) == 1, lines
    response = client.post(
        reverse("users:bulk", args=[customer.number]), {"preview": "1", "text": "has-account@other.example,viewer"}
    )
    html = response.content.decode().replace("has-account@other.example", "EMAIL")
    other = client.post(
        reverse("users:bulk", args=[customer.number]), {"preview": "1", "text": "nobody@other.example,viewer"}
    )
    other_html = other.content.decode().replace("nobody@other.example", "EMAIL")

    def strip(page: str) -> str:
        return re.sub(r'name="(csrfmiddlewaretoken|token)" value="[^"]+"', "", page)

    assert strip(html) == strip(other_html)
    # The digest (posted back with the apply) does not depend on the account either.
    request = AddRequest(number=1, text="x", email="has-account@other.example", role=Role.VIEWER)
    with_account = user_add_plan_digest(user_add_plan(customer=customer, requests=[request]))
    elsewhere.user.emailaddress_set.all().delete()
    assert user_add_plan_digest(user_add_plan(customer=customer, requests=[request])) == with_account


def test_an_existing_account_is_invited_told_by_email_and_decides(company, django_capture_on_commit_callbacks):
    customer, asc, _admin, client = company
    person = UserFactory(email="person@other.example")
    MembershipFactory(user=person, role=Role.ADMINISTRATOR)  # works for another company
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("users:add", args=[customer.number]), {"email": person.email, "role": "administrator"})
    assert not Membership.objects.filter(customer=customer, user=person).exists()
    told = [m for m in mail.outbox if m.to == [person.email]]
    assert len(told) == 1
    assert customer.number in told[0].body
    assert "accept" in told[0].body.lower()
    assert any(m.to == [asc.email] for m in mail.outbox), "the ASCs are still notified"
    assert AuditEvent.objects.filter(customer=customer, action="invitation.created", target=person.email).exists()

    # The person's other customer gives them no say over this one until they accept.
    own = Client()
    own.post(reverse("account_login"), {"login": person.email, "password": PASSWORD})
    assert own.get(reverse("entitlements:list", args=[customer.number])).status_code == HTTPStatus.NOT_FOUND
    invitation = Invitation.objects.pending().get(customer=customer)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        own.post(reverse("invitation_decline", args=[invitation.pk]))
    assert not Membership.objects.filter(customer=customer, user=person).exists()
    assert any(m.to == [asc.email] and "declined" in m.body for m in mail.outbox)
    assert AuditEvent.objects.filter(customer=customer, action="invitation.declined").exists()


def test_accepting_then_leaving_is_the_persons_own_choice(company) -> None:
    customer, _asc, _admin, client = company
    person = UserFactory(email="person@other.example")
    client.post(reverse("users:add", args=[customer.number]), {"email": person.email, "role": "viewer"})
    own = Client()
    own.post(reverse("account_login"), {"login": person.email, "password": PASSWORD})
    own.post(reverse("invitation_accept", args=[Invitation.objects.get(customer=customer).pk]))
    membership = Membership.objects.get(customer=customer, user=person)
    assert own.get(reverse("entitlements:list", args=[customer.number])).status_code == HTTPStatus.OK
    membership_remove(membership=membership, actor=person)
    assert own.get(reverse("entitlements:list", args=[customer.number])).status_code == HTTPStatus.NOT_FOUND
    assert own.get(reverse("access")).status_code == HTTPStatus.OK


def test_repeated_removal_by_an_administrator_never_logs_the_person_out(company) -> None:
    customer, _asc, administrator, _client = company
    person = UserFactory(email="person@other.example")
    own = Client()
    own.post(reverse("account_login"), {"login": person.email, "password": PASSWORD})
    for _round in range(3):
        membership = MembershipFactory(customer=customer, user=person, role=Role.VIEWER)
        membership_remove(membership=membership, actor=administrator)
        assert own.get(reverse("access")).status_code == HTTPStatus.OK
