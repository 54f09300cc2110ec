"""Point the Celery app at another broker for one test, and back."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

from portal.celery import app


def worker_redis_url() -> str:
    """The Redis database for this test process's real workers: ``REDIS_URL``'s, moved by the
    pytest-xdist process number (``gw0`` the next one, ``gw1`` the one after), so a worker
    started by one process never consumes the tasks another process published (they share the
    queue's name, and each process has its own test database)."""
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    process = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not process.startswith("gw"):
        return url
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(base + 1 + int(process[2:])) % 16}"))


def _reset_connections() -> None:
    # Drop the cached pools (bound to the old URL) so the next publish connects afresh.
    # Closing them instead would poison kombu's global pool registry for this process.
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def broker(url: str) -> Iterator[None]:
    """Real publishing (not eager) to ``url`` inside the block."""
    conf = app.conf
    saved = conf.broker_url, conf.task_always_eager
    conf.broker_url, conf.task_always_eager = url, False
    _reset_connections()
    try:
        yield
    finally:
        conf.broker_url, conf.task_always_eager = saved
        _reset_connections()
