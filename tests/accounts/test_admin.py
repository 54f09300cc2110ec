"""The support console: every change goes through the services (audited, ASCs notified);
audit events are read-only."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, Customer, Invitation, Membership, Notification, User
from accounts.roles import Role
from tests.factories import (
    AuditEventFactory,
    CustomerFactory,
    EmailAddressFactory,
    InvitationFactory,
    MembershipFactory,
    NotificationFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def support(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    client.user = staff_user  # type: ignore[attr-defined]
    return client


@pytest.fixture
def company():
    customer = CustomerFactory()
    asc = MembershipFactory(customer=customer, role=Role.ASC).user
    return customer, asc


def _asc_mail(asc: User) -> list:
    return [m for m in mail.outbox if m.to == [asc.email]]


def test_staff_adds_a_membership_audited_and_notified(support, company, django_capture_on_commit_callbacks) -> None:
    customer, asc = company
    person = UserFactory(email="person@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        response = support.post(
            reverse("admin:accounts_membership_add"),
            {"customer": customer.pk, "user": person.pk, "role": Role.ASC.value},
        )
    assert response.status_code == HTTPStatus.FOUND, response.content.decode()[:2000]
    membership = Membership.objects.get(customer=customer, user=person)
    assert membership.role == Role.ASC
    assert membership.added_by == support.user
    event = AuditEvent.objects.get(customer=customer, action="membership.added")
    assert event.actor == support.user
    assert event.target == "person@example.org"
    assert len(_asc_mail(asc)) == 1


def test_staff_cannot_add_a_membership_for_an_unverified_user(support, company) -> None:
    customer, _asc = company
    person = UserFactory(email="unverified@example.org", verified=False)
    response = support.post(
        reverse("admin:accounts_membership_add"), {"customer": customer.pk, "user": person.pk, "role": "viewer"}
    )
    assert response.status_code == HTTPStatus.OK
    assert "create an invitation instead" in response.content.decode()
    assert not Membership.objects.filter(user=person).exists()


def test_staff_changes_a_role_audited_and_notified(support, company, django_capture_on_commit_callbacks) -> None:
    customer, asc = company
    membership = MembershipFactory(customer=customer, role=Role.VIEWER)
    with django_capture_on_commit_callbacks(execute=True):
        response = support.post(
            reverse("admin:accounts_membership_change", args=[membership.pk]), {"role": Role.ASC.value}
        )
    assert response.status_code == HTTPStatus.FOUND
    assert Membership.objects.get(pk=membership.pk).role == Role.ASC
    event = AuditEvent.objects.get(customer=customer, action="membership.role_changed")
    assert event.details == {"from": "viewer", "to": "asc"}
    assert event.actor == support.user
    assert len(_asc_mail(asc)) == 1


@pytest.mark.parametrize("bulk", [False, True])
def test_staff_removes_an_asc_audited_and_notified(bulk, support, company, django_capture_on_commit_callbacks) -> None:
    customer, asc = company
    other_asc = MembershipFactory(customer=customer, role=Role.ASC)
    with django_capture_on_commit_callbacks(execute=True):
        if bulk:
            response = support.post(
                reverse("admin:accounts_membership_changelist"),
                {"action": "delete_selected", "_selected_action": [other_asc.pk], "post": "yes"},
            )
        else:
            response = support.post(reverse("admin:accounts_membership_delete", args=[other_asc.pk]), {"post": "yes"})
    assert response.status_code == HTTPStatus.FOUND
    assert not Membership.objects.filter(pk=other_asc.pk).exists()
    assert AuditEvent.objects.get(customer=customer, action="membership.removed").actor == support.user
    assert len(_asc_mail(asc)) == 1


def test_customer_designate_asc_and_flag_are_audited(support, django_capture_on_commit_callbacks) -> None:
    customer = CustomerFactory(flexnet_managed=False)
    with django_capture_on_commit_callbacks(execute=True):
        response = support.post(
            reverse("admin:accounts_customer_change", args=[customer.pk]),
            {
                "name": customer.name,
                "flexnet_managed": "on",
                "designate_asc_email": "Owner@Buyer.example",
                "memberships-TOTAL_FORMS": "0",
                "memberships-INITIAL_FORMS": "0",
            },
        )
    assert response.status_code == HTTPStatus.FOUND, response.content.decode()[:3000]
    customer.refresh_from_db()
    assert customer.flexnet_managed
    actions = set(AuditEvent.objects.filter(customer=customer).values_list("action", flat=True))
    assert actions == {"customer.updated", "asc.designated"}
    assert Invitation.objects.pending().get(customer=customer).role == Role.ASC
    assert [m.to for m in mail.outbox] == [["owner@buyer.example"]]


def test_customer_created_through_the_console(support) -> None:
    response = support.post(
        reverse("admin:accounts_customer_add"),
        {"number": "7007007", "name": "New Co", "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"},
    )
    assert response.status_code == HTTPStatus.FOUND
    customer = Customer.objects.get(number="7007007")
    assert AuditEvent.objects.get(customer=customer).action == "customer.created"
    assert support.get(reverse("admin:accounts_customer_delete", args=[customer.pk])).status_code == (
        HTTPStatus.FORBIDDEN
    )


def test_deactivating_a_user_goes_through_the_service(support, company, django_capture_on_commit_callbacks) -> None:
    customer, asc = company
    person = MembershipFactory(customer=customer).user
    with django_capture_on_commit_callbacks(execute=True):
        response = support.post(
            reverse("admin:accounts_user_change", args=[person.pk]),
            {"name": person.name, "is_staff": "", "is_superuser": ""},  # is_active unticked
        )
    assert response.status_code == HTTPStatus.FOUND
    person.refresh_from_db()
    assert not person.is_active
    assert AuditEvent.objects.filter(action="user.deactivated", target=person.email, customer=None).exists()
    assert AuditEvent.objects.filter(action="user.deactivated", target=person.email, customer=customer).exists()
    assert len(_asc_mail(asc)) == 1
    assert support.get(reverse("admin:accounts_user_add")).status_code == HTTPStatus.FORBIDDEN
    assert support.get(reverse("admin:accounts_user_delete", args=[person.pk])).status_code == HTTPStatus.FORBIDDEN


def test_staff_cannot_deactivate_themselves(support) -> None:
    response = support.post(
        reverse("admin:accounts_user_change", args=[support.user.pk]),
        {"name": "x", "is_staff": "on", "is_superuser": "on"},
        follow=True,
    )
    assert "cannot deactivate or demote yourself" in response.content.decode()
    support.user.refresh_from_db()
    assert support.user.is_active


def test_invitation_add_cancel_and_resend_through_services(
    support, company, django_capture_on_commit_callbacks
) -> None:
    customer, asc = company
    with django_capture_on_commit_callbacks(execute=True):
        response = support.post(
            reverse("admin:accounts_invitation_add"),
            {"customer": customer.pk, "email": "Guest@Example.org", "role": "viewer"},
        )
    assert response.status_code == HTTPStatus.FOUND
    invitation = Invitation.objects.get(customer=customer, email="guest@example.org")
    assert [m.to for m in mail.outbox if m.to == ["guest@example.org"]] == [["guest@example.org"]]
    assert len(_asc_mail(asc)) == 1

    other = InvitationFactory(customer=customer)
    changelist = reverse("admin:accounts_invitation_changelist")
    support.post(changelist, {"action": "cancel", "_selected_action": [invitation.pk]})
    support.post(changelist, {"action": "resend", "_selected_action": [other.pk]})
    invitation.refresh_from_db()
    other.refresh_from_db()
    assert invitation.cancelled_at is not None
    assert other.last_sent_at is not None
    actions = sorted(AuditEvent.objects.filter(customer=customer).values_list("action", flat=True))
    assert actions == ["invitation.cancelled", "invitation.created", "invitation.resent"]
    assert support.get(reverse("admin:accounts_invitation_delete", args=[other.pk])).status_code == HTTPStatus.FORBIDDEN
    response = support.post(reverse("admin:accounts_invitation_change", args=[other.pk]), {"email": "x@example.org"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert Invitation.objects.get(pk=other.pk).email != "x@example.org"


def test_audit_events_are_read_only_in_the_console(support, company) -> None:
    customer, _asc = company
    event = AuditEventFactory(customer=customer, action="membership.added", target="x@example.org")
    assert support.get(reverse("admin:accounts_auditevent_changelist")).status_code == HTTPStatus.OK
    assert support.get(reverse("admin:accounts_auditevent_change", args=[event.pk])).status_code == HTTPStatus.OK
    assert support.get(reverse("admin:accounts_auditevent_add")).status_code == HTTPStatus.FORBIDDEN
    assert support.post(reverse("admin:accounts_auditevent_add"), {"action": "x"}).status_code == HTTPStatus.FORBIDDEN
    response = support.post(reverse("admin:accounts_auditevent_change", args=[event.pk]), {"action": "rewritten"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert support.post(reverse("admin:accounts_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code == (
        HTTPStatus.FORBIDDEN
    )
    changelist = support.get(reverse("admin:accounts_auditevent_changelist")).content.decode()
    assert "delete_selected" not in changelist
    support.post(
        reverse("admin:accounts_auditevent_changelist"),
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    assert AuditEvent.objects.get(pk=event.pk).action == "membership.added"


def test_notifications_are_read_only_and_can_be_sent_now(support, company) -> None:
    customer, asc = company
    note = NotificationFactory(
        customer=customer, event="user.added", recipients=[asc.email], subject="Hello", body_text="Body"
    )
    assert support.get(reverse("admin:accounts_notification_add")).status_code == HTTPStatus.FORBIDDEN
    assert support.get(reverse("admin:accounts_notification_delete", args=[note.pk])).status_code == (
        HTTPStatus.FORBIDDEN
    )
    changelist = reverse("admin:accounts_notification_changelist")
    support.post(changelist, {"action": "send_now", "_selected_action": [note.pk]})
    support.post(changelist, {"action": "send_now", "_selected_action": [note.pk]})
    assert len(_asc_mail(asc)) == 1, "never sent twice"
    assert Notification.objects.get(pk=note.pk).sent_at is not None
    assert AuditEvent.objects.filter(action="notification.sent_by_support").count() == 1


@pytest.mark.parametrize("name", ["customer", "user", "membership", "invitation", "auditevent", "notification"])
def test_console_pages_render(name, support, company) -> None:
    customer, _asc = company
    InvitationFactory(customer=customer)
    AuditEventFactory(customer=customer, action="membership.added")
    response = support.get(reverse(f"admin:accounts_{name}_changelist") + "?q=example")
    assert response.status_code == HTTPStatus.OK


@pytest.mark.parametrize(
    "model_admin", [m for m in admin.site._registry.values() if m.search_fields], ids=lambda m: m.opts.label
)
def test_every_console_search_works(model_admin, support) -> None:
    """Each searchable changelist of the console, including the ones Django and allauth bring."""
    opts = model_admin.opts
    response = support.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"), {"q": "example 1"})
    assert response.status_code == HTTPStatus.OK


def test_email_addresses_factors_and_sessions_are_look_only(support, company) -> None:
    """Linking trusts verified addresses: support cannot mark one verified (nor add one,
    nor touch second factors or sessions) behind the services' backs."""
    _customer, asc = company
    address = EmailAddressFactory(user=asc, email="second@example.org", verified=False, primary=False)
    change = reverse("admin:account_emailaddress_change", args=[address.pk])
    assert support.get(change).status_code == HTTPStatus.OK  # can look
    response = support.post(change, {"user": asc.pk, "email": address.email, "verified": "on", "primary": ""})
    assert response.status_code == HTTPStatus.FORBIDDEN
    changelist = reverse("admin:account_emailaddress_changelist")
    support.post(changelist, {"action": "make_verified", "_selected_action": [address.pk]})
    address.refresh_from_db()
    assert address.verified is False
    for name in ("account_emailaddress", "mfa_authenticator", "usersessions_usersession"):
        assert support.get(reverse(f"admin:{name}_add")).status_code == HTTPStatus.FORBIDDEN
    assert Group not in admin.site._registry
