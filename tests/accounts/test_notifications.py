"""The notification core: outbox rows written with the change, sent once, retried, swept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from accounts.models import Notification
from accounts.notifications import notification_send
from accounts.roles import Role
from accounts.services import membership_add
from accounts.tasks import notifications_send_pending
from tests.celery_broker import broker
from tests.factories import CustomerFactory, MembershipFactory, NotificationFactory, UserFactory
from tests.flaky_email import FlakyEmailBackend


@pytest.fixture
def company(db):
    customer = CustomerFactory()
    ascs = [MembershipFactory(customer=customer, role=Role.ASC).user for _ in range(2)]
    admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR).user
    MembershipFactory(customer=customer, role=Role.VIEWER)
    return customer, ascs, admin


@pytest.mark.django_db(transaction=True)
def test_committed_change_emails_each_asc_exactly_once(company) -> None:
    customer, ascs, admin = company
    newcomer = UserFactory(email="newcomer@example.org")
    membership_add(customer=customer, actor=admin, email=newcomer.email, role=Role.VIEWER)
    asc_mail = [m for m in mail.outbox if m.to != [newcomer.email]]
    assert sorted(m.to[0] for m in asc_mail) == sorted(u.email for u in ascs)
    assert all(len(m.to) == 1 for m in asc_mail)
    assert all("newcomer@example.org" in m.body and admin.email in m.body for m in asc_mail)
    assert all(f"/c/{customer.number}/users/" in m.body for m in asc_mail)
    assert Notification.objects.filter(sent_at__isnull=True).count() == 0
    # Each message carries its stable Message-ID.
    assert all(m.extra_headers["Message-ID"].startswith("<notification-") for m in asc_mail)


@pytest.mark.django_db(transaction=True)
def test_rolled_back_change_sends_nothing(company) -> None:
    customer, _ascs, admin = company

    @transaction.atomic
    def add_then_fail() -> None:
        membership_add(customer=customer, actor=admin, email="ghost@example.org", role=Role.VIEWER)
        raise RuntimeError("the surrounding work failed")

    with pytest.raises(RuntimeError):
        add_then_fail()
    assert Notification.objects.count() == 0
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_failing_smtp_is_retried_until_sent(company, settings) -> None:
    settings.EMAIL_BACKEND = "tests.flaky_email.FlakyEmailBackend"
    FlakyEmailBackend.failures_left = 2
    customer, ascs, admin = company
    membership_add(customer=customer, actor=admin, email="retry@example.org", role=Role.VIEWER)
    notes = Notification.objects.filter(recipients__contains=[ascs[0].email])
    assert notes.count() == 1
    note = notes.get()
    assert note.sent_at is not None
    assert sum(1 for m in mail.outbox if m.to == [ascs[0].email]) == 1
    assert Notification.objects.filter(attempts__gt=1).exists(), "the first sends failed and were retried"


@pytest.mark.django_db(transaction=True)
def test_broker_outage_loses_nothing(company, settings) -> None:
    """Publishing fails (nothing listens on the broker's port): the change commits anyway,
    and the periodic sweep delivers the email afterwards, once."""
    customer, ascs, admin = company
    with broker("redis://127.0.0.1:1/0"):
        membership_add(customer=customer, actor=admin, email="outage@example.org", role=Role.VIEWER)
    assert mail.outbox == []
    assert Notification.objects.filter(sent_at__isnull=True).count() == 3  # two ASCs and the invitee
    settings.PORTAL_NOTIFICATION_SWEEP_AFTER = timedelta(0)
    assert notifications_send_pending() == 3
    assert notifications_send_pending() == 0
    assert sorted(m.to[0] for m in mail.outbox) == sorted([*(u.email for u in ascs), "outage@example.org"])


@pytest.mark.django_db
def test_send_is_idempotent() -> None:
    note = NotificationFactory(recipients=["a@example.org"])
    assert notification_send(notification_id=note.pk) is True
    assert notification_send(notification_id=note.pk) is False
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_sweep_leaves_fresh_notifications_to_their_own_task(settings) -> None:
    settings.PORTAL_NOTIFICATION_SWEEP_AFTER = timedelta(minutes=5)
    NotificationFactory(recipients=["a@example.org"])
    old = NotificationFactory(
        recipients=["b@example.org"],
        created_at=timezone.now() - timedelta(minutes=10),
    )
    assert notifications_send_pending() == 1
    old.refresh_from_db()
    assert old.sent_at is not None
