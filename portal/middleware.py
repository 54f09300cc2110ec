"""Turn a lost database connection into a clear, honest answer instead of a bare 500."""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus

from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)


class DatabaseUnavailableMiddleware:
    """A request whose database connection dropped mid-way gets 503 with a message saying
    nothing was changed, which is true: every write is one transaction, rolled back with the
    connection. The response is rendered without touching the database."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.error("Database unavailable during %s %s", request.method, request.path, exc_info=exception)
        response = HttpResponse(
            render_to_string("503.html"), status=HTTPStatus.SERVICE_UNAVAILABLE, content_type="text/html"
        )
        response["Retry-After"] = "30"
        return response


class PortalNotFoundMiddleware:
    """A view that answers 404 (an unknown ``/c/<n>/``, a missing object) shows the portal's own
    page, also under ``DEBUG`` (``make run``), where Django would show its technical page with
    the URL patterns. Unknown URLs that match no pattern keep Django's behaviour."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, Http404):
            return None
        return render(request, "404.html", status=HTTPStatus.NOT_FOUND)
