"""/metrics: refused without the bearer token, and the figures follow real actions."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from http import HTTPStatus

import pytest
from django.db import connection
from django.test import Client

from accounts.models import Notification
from accounts.roles import Role
from accounts.services import membership_add
from portal import metrics
from tests.activations.helpers import activate, flex_customer, setup_server
from tests.drills.test_outages import RedisServer
from tests.factories import MembershipFactory

TOKEN = "metrics-test-token-0123456789"
pytestmark = pytest.mark.django_db


@pytest.fixture
def scrape(settings):
    settings.PORTAL_METRICS_TOKEN = TOKEN
    settings.REDIS_URL = ""

    def read() -> dict[str, float]:
        response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == HTTPStatus.OK
        assert response["Content-Type"].startswith("text/plain")
        values = {}
        for line in response.content.decode().splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values

    return read


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "])
def test_refused_without_the_token(settings, header) -> None:
    settings.PORTAL_METRICS_TOKEN = TOKEN
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    response = Client().get("/metrics", **extra)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert b"portal_" not in response.content


def test_absent_when_no_token_is_configured(settings) -> None:
    settings.PORTAL_METRICS_TOKEN = ""
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == HTTPStatus.NOT_FOUND


def test_exposes_request_and_portal_metrics(scrape) -> None:
    Client().get("/healthz")
    values = scrape()
    for name in (
        "portal_activations_applied_total",
        "portal_license_files_issued_total",
        "portal_notification_outbox_backlog",
        "portal_notification_outbox_oldest_unsent_age_seconds",
        "portal_notification_send_failures_total",
        "portal_notification_failing",
    ):
        assert name in values, name
    assert values['portal_http_requests_total{method="GET",status="2xx",view="healthz"}'] >= 1
    assert any(k.startswith("portal_http_request_duration_seconds_bucket{") for k in values)


def test_figures_change_after_real_actions(scrape) -> None:
    before = scrape()
    customer = flex_customer()
    admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR).user
    MembershipFactory(customer=customer, role=Role.ASC)
    server, line = setup_server(customer, quantity=10)
    activate(server, admin, {line.pk: 3})  # notifications stay unsent: the test transaction never commits
    membership_add(customer=customer, actor=admin, email="metrics-new@example.org", role=Role.VIEWER)
    Notification.objects.filter(sent_at__isnull=True).update(
        created_at=Notification.objects.first().created_at.replace(year=2020)
    )
    failing = Notification.objects.filter(sent_at__isnull=True).first()
    failing.attempts, failing.last_error = 2, "SMTPServerDisconnected: gone"
    failing.save()
    after = scrape()
    assert after["portal_activations_applied_total"] == before["portal_activations_applied_total"] + 1
    assert after["portal_license_files_issued_total"] == before["portal_license_files_issued_total"] + 1
    unsent = Notification.objects.filter(sent_at__isnull=True).count()
    assert unsent >= 2
    assert after["portal_notification_outbox_backlog"] == before["portal_notification_outbox_backlog"] + unsent
    assert after["portal_notification_outbox_oldest_unsent_age_seconds"] > 5 * 365 * 86400
    assert after["portal_notification_send_failures_total"] == before["portal_notification_send_failures_total"] + 2
    assert after["portal_notification_failing"] == before["portal_notification_failing"] + 1


def test_celery_queue_length_is_read_from_redis(scrape, settings) -> None:
    server = RedisServer()
    server.start()
    try:
        settings.REDIS_URL = server.url
        import redis

        client = redis.Redis.from_url(server.url)
        client.rpush("celery", "a", "b", "c")
        assert scrape()['portal_celery_queue_length{queue="celery"}'] == 3
        client.lpop("celery")
        assert scrape()['portal_celery_queue_length{queue="celery"}'] == 2
        server.stop()
        # Redis down: that one figure is missing, the rest still answers.
        values = scrape()
        assert not any(k.startswith("portal_celery_queue_length") for k in values)
        assert "portal_notification_outbox_backlog" in values
    finally:
        server.stop()


def test_other_apps_register_their_own_gauges(scrape) -> None:
    metrics.register_gauge(
        "portal_webhook_delivery_failures", "test", lambda: {("https://a.example",): 4.0}, labels=("endpoint",)
    )
    metrics.register_gauge("portal_broken_source", "test", lambda: 1 / 0)
    try:
        values = scrape()
        assert values['portal_webhook_delivery_failures{endpoint="https://a.example"}'] == 4
        assert not any(re.match("portal_broken_source", k) for k in values)
    finally:
        metrics._SOURCES.pop("portal_webhook_delivery_failures")
        metrics._SOURCES.pop("portal_broken_source")


MULTIPROCESS_SCRIPT = """
import sys
import django
django.setup()
from django.test import Client
if sys.argv[1] == "serve":
    for _ in range(3):
        Client().get("/healthz")
else:
    body = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer " + "m" * 20).content.decode()
    print([line for line in body.splitlines() if line.startswith('portal_http_requests_total{') and 'healthz' in line])
    print("portal_notification_outbox_backlog" in body)
"""


def test_request_counts_summed_over_worker_processes(tmp_path) -> None:
    # What gunicorn's workers do in the image (PROMETHEUS_MULTIPROC_DIR, Dockerfile).
    params = connection.settings_dict
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "PORTAL_METRICS_TOKEN": "m" * 20,
        "DJANGO_SETTINGS_MODULE": "portal.settings.dev",
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": f"postgres://{params['USER'] or 'postgres'}@{params['HOST'] or '127.0.0.1'}:"
        f"{params['PORT'] or 5432}/{params['NAME']}",
    }
    env.pop("REDIS_URL", None)
    for _ in range(2):
        subprocess.run(
            [sys.executable, "-c", MULTIPROCESS_SCRIPT, "serve"],
            cwd=metrics.settings.BASE_DIR,
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
    result = subprocess.run(
        [sys.executable, "-c", MULTIPROCESS_SCRIPT, "scrape"],
        cwd=metrics.settings.BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines, has_portal = result.stdout.splitlines()
    assert lines == '[\'portal_http_requests_total{method="GET",status="2xx",view="healthz"} 6.0\']'
    assert has_portal == "True"
