"""Readiness checks for ``/readyz`` (``/healthz`` stays a liveness probe with no dependencies).

Each check answers ``{"ok": bool, "detail": str}``. Details name the failure's kind, never its
message: a driver's error text can carry host names or credentials, and the probe is public.
The full error is logged.
"""

from __future__ import annotations

import logging
from typing import TypedDict

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

logger = logging.getLogger(__name__)


class Check(TypedDict):
    ok: bool
    detail: str


def _database() -> Check:
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:
        logger.warning("readiness: database unavailable", exc_info=True)
        return {"ok": False, "detail": f"down ({type(error).__name__})"}
    return {"ok": True, "detail": "up"}


def _redis() -> Check | None:
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return None  # not configured: tasks run in-process
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except Exception as error:
        logger.warning("readiness: Redis unavailable", exc_info=True)
        return {"ok": False, "detail": f"down ({type(error).__name__})"}
    finally:
        client.close()
    return {"ok": True, "detail": "up"}


def _migrations() -> Check:
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as error:
        logger.warning("readiness: migrations could not be read", exc_info=True)
        return {"ok": False, "detail": f"unknown ({type(error).__name__})"}
    if plan:
        pending = [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]
        return {"ok": False, "detail": "unapplied: " + ", ".join(pending[:20])}
    return {"ok": True, "detail": "all applied"}


def readiness_required(name: str) -> bool:
    """Whether a failed check makes the replica unready. Redis can be made advisory
    (``PORTAL_READYZ_REDIS_REQUIRED=false``): every replica shares it, and the portal keeps
    working without it (the outbox sweep sends later), so an operator may prefer degraded
    replicas to a load balancer with none (docs/operations.md, "Probes")."""
    return name != "redis" or getattr(settings, "PORTAL_READYZ_REDIS_REQUIRED", True)


def readiness_checks() -> dict[str, Check]:
    checks: dict[str, Check] = {"database": _database()}
    if (redis_check := _redis()) is not None:
        checks["redis"] = redis_check
    checks["migrations"] = _migrations() if checks["database"]["ok"] else {"ok": False, "detail": "database down"}
    return checks
