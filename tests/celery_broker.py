"""Point the Celery app at another broker for one test, and back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from portal.celery import app


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
