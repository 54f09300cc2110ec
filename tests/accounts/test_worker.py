"""A real Celery worker, consuming from Redis, delivers the notification."""

from __future__ import annotations

import os
import time

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.core import mail

from accounts.models import Notification
from accounts.roles import Role
from accounts.services import membership_add
from portal.celery import app as celery_app
from tests.celery_broker import broker
from tests.factories import CustomerFactory, MembershipFactory

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_worker():
    """Publishes to the real Redis broker and runs a worker consuming from it."""
    redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()  # fail loudly without Redis
    with broker(REDIS_URL), start_worker(celery_app, perform_ping_check=False, pool="solo", shutdown_timeout=10):
        yield


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_delivers_notification_over_redis(redis_worker) -> None:
    customer = CustomerFactory()
    asc = MembershipFactory(customer=customer, role=Role.ASC).user
    admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR).user
    membership_add(customer=customer, actor=admin, email="worker@example.org", role=Role.VIEWER)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and Notification.objects.filter(sent_at__isnull=True).exists():
        time.sleep(0.05)
    assert not Notification.objects.filter(sent_at__isnull=True).exists()
    assert sorted(m.to[0] for m in mail.outbox) == sorted([asc.email, "worker@example.org"])
