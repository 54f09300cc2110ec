"""Outage drills against the real services: Redis stopped, a worker killed mid-send, the
PostgreSQL connection dropped mid-request. Nothing may be lost or half-written."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from http import HTTPStatus
from pathlib import Path

import psycopg
import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.db import connection
from django.urls import reverse

from accounts.models import AuditEvent, Invitation, Membership, Notification
from accounts.roles import Role
from accounts.services import membership_add
from accounts.tasks import notifications_send_pending
from portal.celery import app as celery_app
from tests.celery_broker import broker
from tests.factories import CustomerFactory, MembershipFactory
from tests.smtp_sink import SmtpSink

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


class RedisServer:
    """A Redis of our own on a free port, so the drill can stop it without harming others."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is required for the outage drills"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert _wait(lambda: self._ping(), 10), "Redis did not start"

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def _ping(self) -> bool:
        try:
            return redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping()
        except redis.ConnectionError:
            return False


@pytest.fixture
def own_redis():
    server = RedisServer()
    server.start()
    yield server
    server.stop()


def _company():
    customer = CustomerFactory()
    asc = MembershipFactory(customer=customer, role=Role.ASC).user
    admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR).user
    return customer, asc, admin


def test_redis_down_while_changing_then_delivered_once_when_back(own_redis, settings) -> None:
    customer, asc, admin = _company()
    with broker(own_redis.url):
        own_redis.stop()
        membership_add(customer=customer, actor=admin, email="during-outage@example.org", role=Role.VIEWER)
        # The change committed although the broker was down; nothing was sent yet.
        assert Invitation.objects.filter(email="during-outage@example.org").exists()
        assert Notification.objects.filter(sent_at__isnull=True).count() == 2
        assert mail.outbox == []

        own_redis.start()
        settings.PORTAL_NOTIFICATION_SWEEP_AFTER = timedelta(0)
        with start_worker(celery_app, perform_ping_check=False, pool="solo", shutdown_timeout=10):
            # What beat does every 30 s: sweep the outbox through the worker.
            celery_app.send_task("accounts.tasks.notifications_send_pending")
            assert _wait(lambda: not Notification.objects.filter(sent_at__isnull=True).exists())
        notifications_send_pending()  # a second sweep finds nothing left to send
    assert sorted(m.to[0] for m in mail.outbox) == sorted([asc.email, "during-outage@example.org"])


def _worker(*, database: str, redis_url: str, smtp_port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.dev",
        "DATABASE_URL": database,
        "REDIS_URL": redis_url,
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool", "solo", "--loglevel", "WARNING"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _database_url() -> str:
    params = connection.settings_dict
    user = params["USER"] or "postgres"
    return f"postgres://{user}@{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}/{params['NAME']}"


def test_worker_killed_mid_send_still_sends_exactly_once(own_redis, settings) -> None:
    customer, asc, admin = _company()
    with SmtpSink(stall_first=True) as sink, broker(own_redis.url):
        worker = _worker(database=_database_url(), redis_url=own_redis.url, smtp_port=sink.port)
        try:
            MembershipFactory(customer=customer, role=Role.VIEWER)  # noise: not notified
            membership_add(customer=customer, actor=admin, email="mid-send@example.org", role=Role.VIEWER)
            assert sink.state.stalled.wait(30), "the worker never reached the SMTP server"
            os.killpg(worker.pid, signal.SIGKILL)  # crash in the middle of DATA
            worker.wait(10)
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
        sink.state.release.set()
        # The crashed send left its row unsent (its transaction died with the connection).
        assert Notification.objects.filter(sent_at__isnull=True).exists()
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.PORTAL_NOTIFICATION_SWEEP_AFTER = timedelta(0)
        second = _worker(database=_database_url(), redis_url=own_redis.url, smtp_port=sink.port)
        try:
            notifications_send_pending()
            assert _wait(lambda: not Notification.objects.filter(sent_at__isnull=True).exists())
            time.sleep(1)  # give any duplicate a chance to arrive before counting
        finally:
            os.killpg(second.pid, signal.SIGKILL)
            second.wait(10)
        assert len(sink.messages_to(asc.email)) == 1
        assert len(sink.messages_to("mid-send@example.org")) == 1


def test_database_connection_dropped_mid_request_gives_clear_error_and_no_partial_write(member_client) -> None:
    customer, _asc, _admin = _company()
    client = member_client(role=Role.ADMINISTRATOR, customer=customer)
    client.raise_request_exception = False
    params = connection.settings_dict
    dsn = {
        "host": params["HOST"] or "127.0.0.1",
        "port": params["PORT"] or 5432,
        "user": params["USER"] or "postgres",
        "dbname": params["NAME"],
    }
    locker = psycopg.connect(**dsn, autocommit=False)
    # pg_stat_activity is a per-transaction snapshot: watch it from an autocommit session.
    watcher = psycopg.connect(**dsn, autocommit=True)
    result: dict[str, object] = {}

    def submit() -> None:
        result["response"] = client.post(
            reverse("users:add", kwargs={"customer_number": customer.number}),
            {"email": "dropped@example.org", "role": Role.VIEWER},
        )

    try:
        # Hold the customer row so the request blocks inside its transaction...
        locker.execute("SELECT id FROM accounts_customer WHERE id = %s FOR UPDATE", [customer.pk])
        thread = threading.Thread(target=submit)
        thread.start()
        blocked = []
        assert _wait(
            lambda: (
                blocked.extend(
                    watcher.execute(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock'"
                    ).fetchall()
                )
                or blocked
            ),
            20,
        )
        # ...then cut its connection, as a failover or network drop would.
        watcher.execute("SELECT pg_terminate_backend(%s)", [blocked[0][0]])
        thread.join(30)
    finally:
        locker.rollback()
        locker.close()
        watcher.close()
    response = result["response"]
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert "Nothing was changed" in response.content.decode()
    connection.close()
    assert not Invitation.objects.filter(email="dropped@example.org").exists()
    assert not Membership.objects.filter(user__email="dropped@example.org").exists()
    assert not AuditEvent.objects.filter(target="dropped@example.org").exists()
    assert not Notification.objects.exists()
