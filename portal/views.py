from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from accounts.access import is_support_staff


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
