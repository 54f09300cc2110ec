from __future__ import annotations

from http import HTTPStatus

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect

from accounts.access import is_support_staff

from .health import readiness_checks, readiness_required


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness for load balancers, and the benchmarks' floor: no database, no session."""
    return HttpResponse("ok", content_type="text/plain")


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("account_login")
    if is_support_staff(request.user) and not request.user.memberships.exists():
        # Support staff work in the console; the no-access page is for customers' people.
        return redirect("admin:index")
    return redirect("access")


def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: 200 when PostgreSQL answers, Redis answers (when configured) and every
    migration on disk is applied; 503 with what is not, as JSON. Not cached, no session."""
    checks = readiness_checks()
    ready = all(check["ok"] for name, check in checks.items() if readiness_required(name))
    status = "unavailable" if not ready else "ready" if all(c["ok"] for c in checks.values()) else "degraded"
    return JsonResponse(
        {"status": status, "checks": checks},
        status=HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE,
    )
