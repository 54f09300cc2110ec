"""Request ids and structured logs.

Every request gets an id (the caller's ``X-Request-ID`` when it is a sane token, a fresh one
otherwise), returned in the ``X-Request-ID`` response header, attached to every log record
written while the request runs, and carried to the Celery tasks the request starts (task
header ``request_id``), whose log records carry it too.

One log line per request (logger ``portal.request``) records the method, the URL *pattern*
(never the raw path: password-reset keys, calendar tokens and invitation keys travel in
paths), the status, the duration, the user id and the customer number. Production formats
records as JSON (``PORTAL_LOG_FORMAT=json``); see docs/operations.md.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from .metrics import request_observe

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
customer_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("customer_number", default=None)
# The request being served, so a record can name its user once authentication has loaded it.
_request_var: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar("request", default=None)

REQUEST_ID_HEADER = "X-Request-ID"
TASK_HEADER = "request_id"
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

logger = logging.getLogger("portal.request")


def request_id_new() -> str:
    return uuid.uuid4().hex


def _incoming_id(request: HttpRequest) -> str:
    # A proxy or load balancer may have assigned one already: keep it so the lines join up.
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _SANE_ID.match(given) else request_id_new()


class RequestLogMiddleware:
    """First in the chain: times the whole request, sets the ids, writes the request line."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        request_id = _incoming_id(request)
        request.request_id = request_id  # type: ignore[attr-defined]
        tokens = (request_id_var.set(request_id), customer_var.set(None), _request_var.set(request))
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            self._log(request, response.status_code, started)
            return response
        except BaseException:
            self._log(request, 500, started)
            raise
        finally:
            request_id_var.reset(tokens[0])
            customer_var.reset(tokens[1])
            _request_var.reset(tokens[2])

    def process_view(self, request: HttpRequest, view: Callable, args: tuple, kwargs: dict[str, Any]) -> None:
        if number := kwargs.get("customer_number"):
            customer_var.set(str(number)[:32])

    @staticmethod
    def _log(request: HttpRequest, status: int, started: float) -> None:
        match = getattr(request, "resolver_match", None)
        seconds = time.perf_counter() - started
        request_observe(
            method=request.method or "", view=match.view_name if match else None, status=status, seconds=seconds
        )
        logger.info(
            "%s %s %s",
            request.method,
            match.route if match else "<unresolved>",
            status,
            extra={
                "http_method": request.method,
                "route": match.route if match else None,
                "view": match.view_name if match else None,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
            },
        )


class ContextFilter(logging.Filter):
    """Adds ``request_id``, ``user_id`` and ``customer_number`` to every record (None outside
    a request or task), so a formatter can print them and JSON carries them as fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.user_id = _loaded_user_id(_request_var.get())
        record.customer_number = customer_var.get()
        return True


def _loaded_user_id(request: HttpRequest | None) -> int | None:
    """The request's user id if authentication already loaded the user: logging must never
    cost a session or user query (``/healthz`` touches no database)."""
    user = getattr(request, "user", None) if request is not None else None
    if isinstance(user, SimpleLazyObject):
        user = None if user._wrapped is empty else user._wrapped
    if user is not None and getattr(user, "is_authenticated", False):
        return user.pk
    return None


# --- Celery: the id travels in the task's headers ------------------------------------------


def _before_publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None and (request_id := request_id_var.get()) and TASK_HEADER not in headers:
        headers[TASK_HEADER] = request_id


_task_tokens: dict[str, tuple[contextvars.Token, ...]] = {}


def _task_prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    request_id = getattr(getattr(task, "request", None), TASK_HEADER, None)
    if request_id is None:
        headers = getattr(getattr(task, "request", None), "headers", None) or {}
        request_id = headers.get(TASK_HEADER)
    if request_id and task_id and not getattr(task.request, "is_eager", False):
        # Eager tasks run inside the request and already see its id.
        _task_tokens[task_id] = (request_id_var.set(str(request_id)[:64]),)


def _task_postrun(task_id: str | None = None, **_: Any) -> None:
    for token in _task_tokens.pop(task_id or "", ()):
        request_id_var.reset(token)


def connect_celery_signals() -> None:
    from celery.signals import before_task_publish, task_postrun, task_prerun

    before_task_publish.connect(_before_publish, weak=False, dispatch_uid="portal.requestlog.publish")
    task_prerun.connect(_task_prerun, weak=False, dispatch_uid="portal.requestlog.prerun")
    task_postrun.connect(_task_postrun, weak=False, dispatch_uid="portal.requestlog.postrun")


class JsonFormatter(_JsonFormatter):
    """python-json-logger's formatter, minus Django's ``request`` extra: its repr is the full
    path with the query string, where tokens may travel (``django.request`` attaches it to
    every 4xx/5xx line). The request line above says what the request was."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "request"])
        super().__init__(*args, **kwargs)
