"""Request context the audit log needs but services should not take as arguments."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .audit import audit_ip


class AuditContextMiddleware:
    """Makes the client's IP address available to ``audit_record`` for this request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy sets it,
        # and the deployment's proxy (see README) rewrites REMOTE_ADDR itself.
        token = audit_ip.set(request.META.get("REMOTE_ADDR") or None)
        try:
            return self.get_response(request)
        finally:
            audit_ip.reset(token)
