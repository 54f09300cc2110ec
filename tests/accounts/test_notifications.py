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


# --- Rendered by the worker (render_in_worker: the ASCs' activation emails) ------------------


def _server_change(*, asc_language: str):
    """An activation change whose ASC email stays in the outbox (the broker unreachable)."""
    from tests.activations.helpers import activate, flex_customer, setup_server

    customer = flex_customer()
    asc = MembershipFactory(customer=customer, role=Role.ASC, user__language=asc_language).user
    admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR, user__language="en").user
    server, line = setup_server(customer, quantity=10)
    with broker("redis://127.0.0.1:1/0"):
        activate(server, admin, {line.pk: 3})
    return customer, server, line, asc, admin


@pytest.mark.django_db(transaction=True)
def test_an_activation_email_waits_unrendered_and_the_worker_renders_it_in_the_ascs_language() -> None:
    from django.template.loader import render_to_string
    from django.utils import translation

    customer, server, line, asc, admin = _server_change(asc_language="tr")
    note = Notification.objects.get(event="activation.changed")
    assert (note.template, note.language, note.subject, note.body_text, note.body_html) == (
        "activation_changed",
        "tr",
        "",
        "",
        "",
    )
    assert note.context["server"] == {"name": server.name}
    assert "__deferred__" in note.context["summary"]  # translated when rendered, not when queued
    assert note.context["lines"] == [f"{line.line_id} {line.product.feature}: 0 -> 3 (+3)"]

    assert notification_send(notification_id=note.pk) is True
    [email] = mail.outbox
    summary = (
        "%(actor)s changed the activations on license server %(server)s (license file version "
        "%(version)s): %(added)s activated, %(returned)s returned to the pool."
    )
    values = {"actor": admin.email, "server": server.name, "version": 1, "added": 3, "returned": 0}
    with translation.override("tr"):
        subject = " ".join(
            render_to_string("email/activation_changed_subject.txt", {"customer": customer, "server": server}).split()
        )
        expected_summary = translation.gettext(summary) % values
    assert expected_summary != summary % values
    assert email.to == [asc.email]
    assert email.subject == subject
    assert expected_summary in email.body
    assert f"/c/{customer.number}/activations/servers/{server.pk}/" in email.body
    assert email.alternatives[0][0].count(expected_summary.replace("'", "&#x27;")) == 1
    note.refresh_from_db()
    assert (note.subject, note.body_text) == (email.subject, email.body)  # what was sent is kept


@pytest.mark.django_db(transaction=True)
def test_a_failed_send_of_a_worker_rendered_email_keeps_what_it_tried(settings) -> None:
    settings.EMAIL_BACKEND = "tests.flaky_email.FlakyEmailBackend"
    FlakyEmailBackend.failures_left = 1
    _customer, server, _line, _asc, _admin = _server_change(asc_language="en")
    note = Notification.objects.get(event="activation.changed")
    with pytest.raises(Exception, match="try again"):
        notification_send(notification_id=note.pk)
    note.refresh_from_db()
    assert server.name in note.subject  # the support console's queue shows it
    assert (note.attempts, note.sent_at) == (1, None)
    assert notification_send(notification_id=note.pk) is True
    assert len(mail.outbox) == 1


def test_only_plain_values_and_deferred_messages_go_into_a_stored_context() -> None:
    from portal.i18n import context_from_json, deferred, json_context

    message = deferred("%(actor)s returned all %(count)s licenses of license server %(server)s to the pool.") % {
        "actor": "a@example.org",
        "count": 3,
        "server": "lic01",
    }
    stored = json_context({"summary": message, "lines": ("x", 1), "server": {"name": "lic01"}, "none": None})
    restored = context_from_json(stored)
    assert str(restored["summary"]) == str(message)
    assert restored["lines"] == ["x", 1]
    with pytest.raises(TypeError):
        json_context({"customer": CustomerFactory.build()})
