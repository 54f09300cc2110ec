"""A real Celery worker on Redis delivers webhook events to a real receiver on loopback."""

from __future__ import annotations

import time

import pytest
import redis
from celery.contrib.testing.worker import start_worker

from accounts.roles import Role
from accounts.services import membership_change_role
from api.models import WebhookDelivery
from api.services import webhook_endpoint_create
from portal.celery import app as celery_app
from tests.api.receiver import receiver_verify, start_receiver
from tests.celery_broker import broker, worker_redis_url
from tests.factories import CustomerFactory, MembershipFactory, UserFactory

REDIS_URL = worker_redis_url()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_delivers_signed_events_over_redis() -> None:
    redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    receiver, server = start_receiver()
    try:
        customer = CustomerFactory()
        asc = MembershipFactory(customer=customer, role=Role.ASC).user
        admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR).user
        endpoint = webhook_endpoint_create(customer=customer, actor=asc, url=receiver.url)
        receiver.secret = endpoint.secret
        receiver.fail_next = 1  # the first attempt fails: the retry is the worker's too
        colleague = UserFactory()
        with broker(REDIS_URL), start_worker(celery_app, perform_ping_check=False, pool="solo", shutdown_timeout=10):
            membership = MembershipFactory(customer=customer, role=Role.VIEWER, user=colleague)
            membership_change_role(membership=membership, actor=admin, role=Role.ADMINISTRATOR)
            membership_change_role(membership=membership, actor=admin, role=Role.VIEWER)
            deadline = time.monotonic() + 20
            # Until the worker has recorded a delivery (the receiver sees the POST a moment earlier).
            while (
                time.monotonic() < deadline and not WebhookDelivery.objects.filter(delivered_at__isnull=False).exists()
            ):
                time.sleep(0.05)
        assert sorted(e["type"] for e in receiver.processed.values()) in (
            ["member.added"],
            ["member.added", "member.role_changed"],
            ["member.role_changed"],
        )
        for request in receiver.requests[receiver.fail_next :]:
            if request["headers"]["webhook-id"] in receiver.processed:
                assert receiver_verify(endpoint.secret, request["headers"], request["body"])
        rows = list(WebhookDelivery.objects.values_list("event_type", "attempts", "last_status", "delivered_at"))
        assert any(r[3] for r in rows), rows
        failed = WebhookDelivery.objects.filter(last_status=500)
        assert failed.exists(), (rows, [(r["headers"]["webhook-id"]) for r in receiver.requests])
        assert all(d.delivered_at is None and d.attempts == 1 for d in failed)  # retried later, with backoff
    finally:
        server.shutdown()
        server.server_close()
