"""/healthz (liveness) and /readyz (readiness) against real outages: a Redis of our own
stopped, a migration marked unapplied."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.db import connection
from django.test import Client

from tests.drills.test_outages import RedisServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def own_redis():
    server = RedisServer()
    server.start()
    yield server
    server.stop()


def test_healthz_is_liveness_only(settings) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing there: liveness does not care
    response = Client().get("/healthz")
    assert response.status_code == HTTPStatus.OK
    assert response.content == b"ok"


def test_readyz_ready_with_database_redis_and_migrations(own_redis, settings) -> None:
    settings.REDIS_URL = own_redis.url
    response = Client().get("/readyz")
    assert response.status_code == HTTPStatus.OK, response.content
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"] == {
        "database": {"ok": True, "detail": "up"},
        "redis": {"ok": True, "detail": "up"},
        "migrations": {"ok": True, "detail": "all applied"},
    }


def test_readyz_503_names_redis_when_it_stops(own_redis, settings) -> None:
    settings.REDIS_URL = own_redis.url
    assert Client().get("/readyz").status_code == HTTPStatus.OK
    own_redis.stop()
    response = Client().get("/readyz")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["redis"]["detail"].startswith("down")
    assert body["checks"]["database"]["ok"] is True
    own_redis.start()
    assert Client().get("/readyz").status_code == HTTPStatus.OK


def test_readyz_redis_advisory_when_the_operator_says_so(own_redis, settings) -> None:
    settings.REDIS_URL = own_redis.url
    settings.PORTAL_READYZ_REDIS_REQUIRED = False
    own_redis.stop()
    response = Client().get("/readyz")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["redis"]["ok"] is False


def test_readyz_without_redis_configured_checks_only_database_and_migrations(settings) -> None:
    settings.REDIS_URL = ""
    response = Client().get("/readyz")
    assert response.status_code == HTTPStatus.OK
    assert set(response.json()["checks"]) == {"database", "migrations"}


def test_readyz_503_with_an_unapplied_migration(settings) -> None:
    settings.REDIS_URL = ""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, app, name, applied FROM django_migrations WHERE app = 'activations' ORDER BY name DESC LIMIT 1"
        )
        row = cursor.fetchone()
        cursor.execute("DELETE FROM django_migrations WHERE id = %s", [row[0]])
    try:
        response = Client().get("/readyz")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO django_migrations (id, app, name, applied) VALUES (%s, %s, %s, %s)", row)
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    checks = response.json()["checks"]
    assert checks["database"]["ok"] is True
    assert checks["migrations"] == {"ok": False, "detail": f"unapplied: activations.{row[2]}"}
    assert Client().get("/readyz").status_code == HTTPStatus.OK


def test_readyz_503_when_the_database_is_unreachable(settings) -> None:
    settings.REDIS_URL = ""
    from django.db import connections

    saved = connections["default"].settings_dict["PORT"]
    connections["default"].close()
    connections["default"].settings_dict["PORT"] = "1"  # nothing listens there
    try:
        response = Client().get("/readyz")
    finally:
        connections["default"].close()
        connections["default"].settings_dict["PORT"] = saved
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    checks = response.json()["checks"]
    assert checks["database"]["ok"] is False
    assert checks["migrations"] == {"ok": False, "detail": "database down"}
    assert "postgres" not in response.content.decode().lower()  # no connection string leaked
