"""The support console's way in: allauth's login (its MFA stage and rate limits), never
Django admin's own forms; and support staff without two-factor authentication are sent to
set it up before the console (``PORTAL_STAFF_MFA_REQUIRED``, on in production)."""

from __future__ import annotations

from collections.abc import Callable

from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from .access import is_support_staff


def console_login(request: HttpRequest) -> HttpResponse:
    """``/admin/login/``: any method, any data, is sent to allauth's login with ``next``.

    Admin's own login form is never shown and never checks a password, so the console has
    exactly the portal's login: enumeration prevention, rate limits per account and per
    address, and the MFA stage."""
    target = request.GET.get("next") or reverse("admin:index")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("admin:index")
    if request.user.is_authenticated and not is_support_staff(request.user):
        # allauth would send an authenticated user straight back to ``next``: a loop.
        messages.error(request, _("Your account has no access to the support console."))
        return redirect("home")
    return redirect_to_login(target, login_url=reverse("account_login"))


def console_password_change(request: HttpRequest) -> HttpResponse:
    """``/admin/password_change/``: allauth's page (its rate limit and session handling)."""
    return redirect("account_change_password")


class StaffMFARequiredMiddleware:
    """With ``PORTAL_STAFF_MFA_REQUIRED``, support staff without a second factor (TOTP or a
    security key) reach no page of the support console (``/admin/``) or of the support
    cockpit (``/support/``): they are sent to set one up."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            getattr(settings, "PORTAL_STAFF_MFA_REQUIRED", False)
            and request.path.startswith((reverse("admin:index"), "/support/"))
            and request.user.is_authenticated
            and is_support_staff(request.user)
            and not is_mfa_enabled(request.user)
        ):
            messages.warning(request, _("Support staff must set up two-factor authentication to use the console."))
            return redirect("mfa_index")
        return self.get_response(request)
