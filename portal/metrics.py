"""Prometheus metrics: ``GET /metrics`` with ``Authorization: Bearer $PORTAL_METRICS_TOKEN``.

Two kinds of figures:

* request metrics, counted in the serving process (``portal_http_requests_total``,
  ``portal_http_request_duration_seconds``). With several gunicorn workers set
  ``PROMETHEUS_MULTIPROC_DIR`` (an empty directory, wiped at start) so every worker's counts
  are summed; without it each scrape sees the worker that answered.
* the portal's own figures, read from the database (and Redis) at scrape time, so they are the
  same whichever replica answers and survive restarts. Celery's queue length is here; each app
  registers its own with :func:`register_gauge` from its ``AppConfig.ready()``: the outbox in
  ``accounts/metrics.py``, activations and license files in ``activations/metrics.py``, and so
  do webhooks (delivery failures) and usage (ingest lag); docs/operations.md, "Metrics".
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

# --- Request metrics (per process) ------------------------------------------------------------

REQUESTS = Counter(
    "portal_http_requests", "HTTP requests answered, by view and status class.", ["method", "view", "status"]
)
LATENCY = Histogram(
    "portal_http_request_duration_seconds",
    "Time to answer an HTTP request, by view.",
    ["view"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def request_observe(*, method: str, view: str | None, status: int, seconds: float) -> None:
    view = view or "<unresolved>"
    REQUESTS.labels(method=method if method in _METHODS else "other", view=view, status=f"{status // 100}xx").inc()
    LATENCY.labels(view=view).observe(seconds)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


# --- Figures read at scrape time ----------------------------------------------------------------

Sample = float | Mapping[tuple[str, ...], float]


@dataclass(frozen=True)
class _Source:
    name: str
    documentation: str
    read: Callable[[], Sample | None]
    labels: tuple[str, ...]
    kind: str  # "gauge" or "counter"


_SOURCES: dict[str, _Source] = {}


def register_gauge(
    name: str,
    documentation: str,
    read: Callable[[], Sample | None],
    *,
    labels: Iterable[str] = (),
    kind: str = "gauge",
) -> None:
    """Exposes ``read()`` as a metric at every scrape.

    ``read`` returns a number, a mapping of label-value tuples to numbers (when ``labels`` are
    given), or None to leave the metric out of this scrape. It runs in the scraping request, so
    it must be cheap (an indexed count, a Redis call). An exception in one source is logged and
    that metric is skipped; the others are still exposed. ``kind="counter"`` for monotonic
    totals (the name then gets ``_total``). Registering a name again replaces it (reloads).
    """
    if kind not in ("gauge", "counter"):
        raise ValueError(kind)
    _SOURCES[name] = _Source(name, documentation, read, tuple(labels), kind)


class PortalCollector(Collector):
    def collect(self) -> Iterable[Any]:
        for source in list(_SOURCES.values()):
            try:
                value = source.read()
            except Exception:
                logger.warning("metric %s could not be read", source.name, exc_info=True)
                continue
            if value is None:
                continue
            family_class = CounterMetricFamily if source.kind == "counter" else GaugeMetricFamily
            family = family_class(source.name, source.documentation, labels=source.labels or None)
            if isinstance(value, Mapping):
                for label_values, number in value.items():
                    family.add_metric(list(label_values), float(number))
            else:
                family.add_metric([], float(value))
            yield family

    def describe(self) -> Iterable[Any]:
        return []  # read at scrape time only, never when registering


# --- Celery's queue (the apps register their own figures in their AppConfig.ready) -------


def celery_queues() -> list[str]:
    return list(getattr(settings, "PORTAL_METRICS_CELERY_QUEUES", ["celery"]))


def _celery_queue_length() -> Mapping[tuple[str, ...], float] | None:
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return None  # no broker: tasks run in-process
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return {(queue,): float(client.llen(queue)) for queue in celery_queues()}
    finally:
        client.close()


def register_builtin() -> None:
    register_gauge(
        "portal_celery_queue_length",
        "Tasks waiting in the Celery broker (Redis LLEN), by queue.",
        _celery_queue_length,
        labels=("queue",),
    )


_collector = PortalCollector()


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        for collector in (REQUESTS, LATENCY):
            registry.register(collector)
    registry.register(_collector)
    return registry


def _authorised(request: HttpRequest) -> bool:
    token = getattr(settings, "PORTAL_METRICS_TOKEN", "")
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition. 404 when no token is configured (the endpoint does not exist),
    401 without the right bearer token."""
    if not getattr(settings, "PORTAL_METRICS_TOKEN", ""):
        return HttpResponse(status=404)
    if not _authorised(request):
        response = HttpResponse("unauthorised\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    started = time.perf_counter()
    body = generate_latest(_registry())
    logger.debug("metrics scraped in %.3f s", time.perf_counter() - started)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
