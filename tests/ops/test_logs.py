"""Structured logs: the request line and its fields, X-Request-ID, the id in the logs of the
Celery tasks a request started (a real worker process), and the log-secrecy check."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pythonjsonlogger.json import JsonFormatter

from accounts.models import Notification
from accounts.roles import Role
from portal.requestlog import ContextFilter
from tests import logcapture
from tests.celery_broker import broker
from tests.drills.test_outages import RedisServer, _wait
from tests.factories import CustomerFactory, ElasticAccountFactory, MembershipFactory
from tests.smtp_sink import SmtpSink

ROOT = Path(__file__).resolve().parents[2]


def _request_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "portal.request"]


@pytest.mark.django_db
def test_request_line_carries_id_user_customer_status_duration(member_client, caplog) -> None:
    caplog.set_level(logging.INFO, logger="portal.request")
    customer = CustomerFactory()
    client = member_client(role=Role.VIEWER, customer=customer)
    response = client.get(reverse("users:list", kwargs={"customer_number": customer.number}))
    assert response.status_code == HTTPStatus.OK
    request_id = response["X-Request-ID"]
    assert len(request_id) == 32
    (record,) = _request_records(caplog)
    line = json.loads(
        JsonFormatter("%(message)s %(request_id)s %(user_id)s %(customer_number)s").format(_filtered(record))
    )
    assert line["request_id"] == request_id
    assert line["user_id"] == client.user.pk
    assert line["customer_number"] == customer.number
    assert line["status"] == HTTPStatus.OK
    assert line["duration_ms"] > 0
    assert line["route"] == "c/<str:customer_number>/users/"
    assert line["http_method"] == "GET"


def _filtered(record: logging.LogRecord) -> logging.LogRecord:
    # The context filter ran when the record was made inside the request (caplog's copy).
    if not hasattr(record, "request_id"):
        ContextFilter().filter(record)
    return record


@pytest.mark.django_db
def test_request_id_from_a_proxy_is_kept_and_a_bad_one_replaced(caplog) -> None:
    caplog.set_level(logging.INFO, logger="portal.request")
    assert Client().get("/healthz", HTTP_X_REQUEST_ID="lb-0123456789abcdef")["X-Request-ID"] == "lb-0123456789abcdef"
    replaced = Client().get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")["X-Request-ID"]
    assert replaced != "bad id\nwith newline"
    assert len(replaced) == 32


@pytest.mark.django_db
def test_request_line_never_holds_the_raw_path(caplog) -> None:
    # Password-reset keys travel in the path: the line names the URL pattern instead.
    caplog.set_level(logging.INFO, logger="portal.request")
    Client().get("/accounts/password/reset/key/1a-secretresetkey123/")
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in _request_records(caplog))
    assert "secretresetkey123" not in text


def _traced_loggers(log_file: Path) -> set[str]:
    """The loggers of the complete JSON lines written so far for the traced request."""
    loggers = set()
    for text in log_file.read_text().splitlines():
        if text.startswith("{") and text.endswith("}"):
            line = json.loads(text)
            if line.get("request_id") == "trace-0123456789":
                loggers.add(line["logger"])
    return loggers


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_celery_task_logs_carry_the_request_id(member_client, tmp_path) -> None:
    customer = CustomerFactory()
    MembershipFactory(customer=customer, role=Role.ASC)
    client = member_client(role=Role.ADMINISTRATOR, customer=customer)
    redis_server = RedisServer()
    redis_server.start()
    log_file = tmp_path / "worker.log"
    params = connection.settings_dict
    database = (
        f"postgres://{params['USER'] or 'postgres'}@{params['HOST'] or '127.0.0.1'}:"
        f"{params['PORT'] or 5432}/{params['NAME']}"
    )
    with SmtpSink() as sink, broker(redis_server.url), log_file.open("w") as output:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool", "solo", "--loglevel", "INFO"],
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "portal.settings.dev",
                "DATABASE_URL": database,
                "REDIS_URL": redis_server.url,
                "EMAIL_URL": f"smtp://127.0.0.1:{sink.port}",
                "PORTAL_LOG_FORMAT": "json",
                "DJANGO_DEBUG": "false",
            },
        )
        try:
            response = client.post(
                reverse("users:add", kwargs={"customer_number": customer.number}),
                {"email": "traced@example.org", "role": Role.VIEWER},
                HTTP_X_REQUEST_ID="trace-0123456789",
            )
            assert response.status_code == HTTPStatus.FOUND
            assert response["X-Request-ID"] == "trace-0123456789"
            assert _wait(lambda: not Notification.objects.filter(sent_at__isnull=True).exists(), 60)
            # The worker logs the send after its commit: wait for that line, not for a while.
            assert _wait(lambda: "accounts.notifications" in _traced_loggers(log_file), 30), log_file.read_text()[
                -2000:
            ]
        finally:
            worker.terminate()
            worker.wait(20)
            redis_server.stop()
    lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.startswith("{")]
    traced = [line for line in lines if line.get("request_id") == "trace-0123456789"]
    assert {line["logger"] for line in traced} >= {"accounts.notifications"}, lines[-10:]
    assert all(
        line["request_id"] is None for line in lines if "celery.worker" in line["logger"] and "ready" in line["message"]
    )


def test_secret_check_finds_planted_secrets() -> None:
    secrets = logcapture.SecretRegistry()
    secrets.add("4321-PIN-ABCD", "Elastic PIN")
    secrets.add("abc", "too short to be a secret")
    lines = [
        '{"message": "login ok"}',
        '{"message": "pin is 4321-PIN-ABCD"}',
        '{"message": "Authorization: Bearer lpat_abcdefghijklmnop"}',
        '{"message": "signed with whsec_0123456789abcdef"}',
        '{"message": "Cookie: sessionid=abcdefghij0123456789abcdefghij01"}',
        '{"message": "abc"}',
        '{"message": "Authorization: Bearer metrics-token-0123456789"}',
    ]
    assert logcapture.findings(lines, secrets) == [
        "2: Elastic PIN",
        "3: personal access token",
        "3: bearer token",
        "4: webhook secret",
        "5: session cookie",
        "7: bearer token",
    ]


@pytest.mark.django_db
def test_every_record_of_the_run_is_captured(client) -> None:
    logging.getLogger("portal.tests").warning("capture-marker-7d1e")
    assert "capture-marker-7d1e" in logcapture.ARTIFACT.read_text()
    # Sessions the run creates are recorded as secrets to look for.
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    assert client.session.session_key in logcapture.SECRETS.literals


@pytest.mark.django_db
def test_logging_a_request_costs_no_query(client, django_assert_num_queries, settings) -> None:
    # Whatever the other middleware load for a logged-in user, the request log adds nothing.
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    client.get("/healthz")
    with CaptureQueriesContext(connection) as with_log:
        client.get("/healthz")
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != "portal.requestlog.RequestLogMiddleware"]
    with CaptureQueriesContext(connection) as without_log:
        client.get("/healthz")
    assert len(with_log) == len(without_log)


def test_json_lines_never_carry_the_query_string() -> None:
    # django.request attaches the request to every 4xx line; its repr holds the query string.
    from django.test import RequestFactory

    from portal.requestlog import JsonFormatter as PortalJsonFormatter

    request = RequestFactory().get("/c/1001234/renewals/feed.ics", {"token": "lpat_leakyleakyleaky"})
    record = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "Not Found: %s", (request.path,), None)
    record.request = request
    record.status_code = 404
    ContextFilter().filter(record)
    line = PortalJsonFormatter("%(message)s %(request_id)s").format(record)
    assert "lpat_" not in line
    assert json.loads(line)["status_code"] == 404
    assert "lpat_leakyleakyleaky" in JsonFormatter("%(message)s").format(record)  # what it guards against


@pytest.mark.django_db
def test_elastic_pins_the_run_creates_are_looked_for() -> None:
    from entitlements.licensing.services import pin_generate

    pin = pin_generate()
    ElasticAccountFactory(license_server_id="1055@pins.example", pin=pin)
    assert logcapture.SECRETS.literals[pin] == "Elastic PIN"
