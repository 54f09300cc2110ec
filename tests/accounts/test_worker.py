"""A real Celery worker, consuming from Redis, delivers the notification."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.core import mail

from accounts.models import AuditEvent, Membership, Notification
from accounts.roles import Role
from accounts.services import (
    invitation_accept,
    invitation_cancel,
    membership_add,
    membership_change_role,
    membership_remove,
)
from portal.celery import app as celery_app
from tests.celery_broker import broker, worker_redis_url
from tests.factories import CustomerFactory, MembershipFactory, UserFactory

REDIS_URL = worker_redis_url()


@pytest.fixture
def redis_worker() -> Iterator[Callable[..., bool]]:
    """Publishes to the real Redis broker and runs a worker consuming from it. Yields
    ``wait_until(predicate, seconds)``: woken by every task the worker finishes (Celery's
    ``task_postrun``), not by polling."""
    redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()  # fail loudly without Redis
    finished = threading.Condition()

    def on_task_done(**kwargs: object) -> None:
        with finished:
            finished.notify_all()

    def wait_until(predicate: Callable[[], bool], seconds: float = 30) -> bool:
        with finished:
            return finished.wait_for(predicate, timeout=seconds)

    task_postrun.connect(on_task_done, weak=False)
    try:
        with broker(REDIS_URL), start_worker(celery_app, perform_ping_check=False, pool="solo", shutdown_timeout=10):
            yield wait_until
    finally:
        task_postrun.disconnect(on_task_done)


def _all_sent() -> bool:
    return not Notification.objects.filter(sent_at__isnull=True).exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_delivers_notification_over_redis(redis_worker) -> None:
    customer = CustomerFactory()
    asc = MembershipFactory(customer=customer, role=Role.ASC).user
    admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR).user
    membership_add(customer=customer, actor=admin, email="worker@example.org", role=Role.VIEWER)
    assert redis_worker(_all_sent, 20)
    assert sorted(m.to[0] for m in mail.outbox) == sorted([asc.email, "worker@example.org"])


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_every_user_modification_emails_each_asc_once_through_the_worker(redis_worker) -> None:
    """Invited (an existing account), accepted, invited, role changed, invitation cancelled,
    removed: six modifications, so each of the two ASCs receives exactly six emails,
    delivered by the worker over Redis."""
    customer = CustomerFactory()
    ascs = [MembershipFactory(customer=customer, role=Role.ASC).user for _ in range(2)]
    admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR).user
    colleague = UserFactory(email="colleague@example.org")

    colleague_invitation = membership_add(customer=customer, actor=admin, email=colleague.email, role=Role.VIEWER)
    membership = invitation_accept(invitation=colleague_invitation, actor=colleague)
    invitation = membership_add(customer=customer, actor=admin, email="later@example.org", role=Role.VIEWER)
    membership_change_role(membership=membership, actor=admin, role=Role.ADMINISTRATOR)
    invitation_cancel(invitation=invitation, actor=admin)
    membership_remove(membership=Membership.objects.get(pk=membership.pk), actor=admin)

    assert redis_worker(_all_sent)
    for asc in ascs:
        received = [m for m in mail.outbox if m.to == [asc.email]]
        assert len(received) == 6, [m.body for m in received]
    assert AuditEvent.objects.filter(customer=customer, denied=False).count() == 6
