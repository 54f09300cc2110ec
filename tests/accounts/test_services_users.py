"""Portal-user services: each modification emails every ASC exactly once and records one
audit event; concurrent double-submits create one membership or invitation."""

from __future__ import annotations

import threading
from collections import Counter
from http import HTTPStatus

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, Invitation, Membership, Notification
from accounts.roles import Role
from accounts.selectors import AddRequest, user_add_plan, user_add_plan_digest
from accounts.services import (
    asc_designate,
    invitation_cancel,
    membership_add,
    membership_bulk_add,
    membership_change_role,
    membership_remove,
)
from portal.errors import AccessDenied, PortalError
from tests.factories import CustomerFactory, InvitationFactory, MembershipFactory, UserFactory


@pytest.fixture
def company(db):
    customer = CustomerFactory()
    ascs = [MembershipFactory(customer=customer, role=Role.ASC).user for _ in range(2)]
    admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR).user
    return customer, ascs, admin


def _bulk(customer, actor):
    requests = [
        AddRequest(1, "a", email="bulk-a@example.org", role=Role.VIEWER),
        AddRequest(2, "b", email="bulk-b@example.org", role=Role.ADMINISTRATOR),
    ]
    plan = user_add_plan(customer=customer, requests=requests)
    return membership_bulk_add(
        customer=customer, actor=actor, requests=requests, expected_digest=user_add_plan_digest(plan)
    )


MODIFICATIONS = {
    # Someone with an account is invited too (consent; nothing tells them apart).
    "add member": (
        lambda c, admin: membership_add(customer=c, actor=admin, email=UserFactory().email, role=Role.VIEWER),
        ["invitation.created"],
    ),
    "invite": (
        lambda c, admin: membership_add(customer=c, actor=admin, email="someone@example.org", role=Role.VIEWER),
        ["invitation.created"],
    ),
    "change role": (
        lambda c, admin: membership_change_role(
            membership=MembershipFactory(customer=c, role=Role.VIEWER), actor=admin, role=Role.ADMINISTRATOR
        ),
        ["membership.role_changed"],
    ),
    "remove": (
        lambda c, admin: membership_remove(membership=MembershipFactory(customer=c), actor=admin),
        ["membership.removed"],
    ),
    "remove self": (
        lambda c, admin: membership_remove(membership=Membership.objects.get(user=admin, customer=c), actor=admin),
        ["membership.removed"],
    ),
    "cancel invitation": (
        lambda c, admin: invitation_cancel(invitation=InvitationFactory(customer=c), actor=admin),
        ["invitation.cancelled"],
    ),
    # Bulk add: one ASC email per apply; one audit event per person added or invited.
    "bulk add": (_bulk, ["invitation.created", "invitation.created"]),
}


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(MODIFICATIONS))
def test_each_modification_emails_each_asc_once_and_is_audited_once(
    name, company, django_capture_on_commit_callbacks
) -> None:
    customer, ascs, admin = company
    change, expected_actions = MODIFICATIONS[name]
    with django_capture_on_commit_callbacks(execute=True):
        change(customer, admin)
    per_recipient = Counter(tuple(message.to) for message in mail.outbox)
    for asc in ascs:
        assert per_recipient[(asc.email,)] == 1, per_recipient
    asc_mail = [m for m in mail.outbox if m.to[0] in {a.email for a in ascs}]
    assert all(admin.email in m.body and f"/c/{customer.number}/users/" in m.body for m in asc_mail)
    events = AuditEvent.objects.filter(customer=customer, denied=False)
    assert sorted(events.values_list("action", flat=True)) == sorted(expected_actions)
    assert all(event.actor_id == admin.pk for event in events)


@pytest.mark.django_db
def test_support_designation_notifies_and_is_audited(company, staff_user, django_capture_on_commit_callbacks) -> None:
    customer, ascs, _admin = company
    with django_capture_on_commit_callbacks(execute=True):
        asc_designate(customer=customer, actor=staff_user, email="new-owner@example.org")
    recipients = Counter(m.to[0] for m in mail.outbox)
    assert all(recipients[asc.email] == 1 for asc in ascs)
    assert recipients["new-owner@example.org"] == 1, "the designated address is told how to sign up"
    assert AuditEvent.objects.get(customer=customer).action == "asc.designated"


@pytest.mark.django_db
def test_refusals_change_nothing_and_notify_nobody(company) -> None:
    customer, ascs, admin = company
    viewer = MembershipFactory(customer=customer, role=Role.VIEWER).user
    with pytest.raises(AccessDenied):
        membership_add(customer=customer, actor=viewer, email="x@example.org", role=Role.VIEWER)
    with pytest.raises(AccessDenied):
        membership_add(customer=customer, actor=admin, email="x@example.org", role=Role.ASC)
    asc_membership = Membership.objects.get(user=ascs[0], customer=customer)
    with pytest.raises(AccessDenied):
        membership_change_role(membership=asc_membership, actor=admin, role=Role.VIEWER)
    with pytest.raises(AccessDenied):
        membership_remove(membership=asc_membership, actor=ascs[0])
    assert not Notification.objects.exists()
    assert AuditEvent.objects.filter(denied=False).count() == 0
    assert AuditEvent.objects.filter(denied=True).count() == 4


@pytest.mark.django_db
def test_a_stale_object_does_not_let_an_admin_demote_a_fresh_asc(company, staff_user) -> None:
    customer, _ascs, admin = company
    membership = MembershipFactory(customer=customer, role=Role.VIEWER)
    asc_designate(customer=customer, actor=staff_user, email=membership.user.email)
    # ``membership`` still says Viewer; the stored role is ASC now.
    with pytest.raises(AccessDenied):
        membership_change_role(membership=membership, actor=admin, role=Role.ADMINISTRATOR)
    with pytest.raises(AccessDenied):
        membership_remove(membership=membership, actor=admin)
    assert Membership.objects.get(pk=membership.pk).role == Role.ASC


@pytest.mark.django_db
def test_removing_a_membership_twice_says_it_is_gone(company) -> None:
    customer, _ascs, admin = company
    membership = MembershipFactory(customer=customer)
    membership_remove(membership=membership, actor=admin)
    with pytest.raises(PortalError, match="no longer"):
        membership_remove(membership=membership, actor=admin)


# --- Concurrency (real threads, real PostgreSQL transactions) ---------------------------


def _double_submit(customer, actor, email: str) -> list[int]:
    barrier = threading.Barrier(2)
    statuses: list[int] = []
    clients = []
    for _ in range(2):
        client = Client()
        client.force_login(actor)
        clients.append(client)

    def submit(client: Client) -> None:
        try:
            barrier.wait()
            response = client.post(reverse("users:add", args=[customer.number]), {"email": email, "role": "viewer"})
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sorted(statuses)


@pytest.mark.django_db(transaction=True)
def test_concurrent_double_invite_creates_one_invitation() -> None:
    customer = CustomerFactory()
    asc = MembershipFactory(customer=customer, role=Role.ASC).user
    statuses = _double_submit(customer, asc, "twice@example.org")
    assert statuses == [HTTPStatus.FOUND, HTTPStatus.BAD_REQUEST]
    assert Invitation.objects.filter(customer=customer, email="twice@example.org").count() == 1
    assert AuditEvent.objects.filter(customer=customer, action="invitation.created").count() == 1
    assert sum(1 for m in mail.outbox if m.to == [asc.email]) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_double_add_of_an_existing_account_creates_one_invitation() -> None:
    customer = CustomerFactory()
    asc = MembershipFactory(customer=customer, role=Role.ASC).user
    person = UserFactory(email="ready-twice@example.org")
    statuses = _double_submit(customer, asc, person.email)
    assert statuses == [HTTPStatus.FOUND, HTTPStatus.BAD_REQUEST]
    assert not Membership.objects.filter(customer=customer, user=person).exists()
    assert Invitation.objects.filter(customer=customer, email=person.email).count() == 1
    assert AuditEvent.objects.filter(customer=customer, action="invitation.created").count() == 1
