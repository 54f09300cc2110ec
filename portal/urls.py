"""URL map (stable; see DESIGN.md). Every customer page lives under /c/<customer_number>/."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.utils.functional import lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.console import console_login, console_password_change
from accounts.language import language_set
from accounts.urls import customer_urlpatterns as account_customer_urls
from api.api_urls import urlpatterns as api_v1_patterns

from . import views
from .i18n import brand_name
from .metrics import metrics_view

# Lazy, so the header follows the language of each request (``lazy % dict`` would translate once, at import).
admin.site.site_header = lazy(lambda: gettext("%(brand)s support console") % {"brand": brand_name()}, str)()
admin.site.site_title = admin.site.site_header
admin.site.index_title = _("Customers, access and licenses")

customer_patterns = [
    *account_customer_urls,
    path("entitlements/", include("entitlements.urls")),
    path("activations/", include("activations.urls")),
    path("users/", include("accounts.users_urls")),
    path("settings/", include("entitlements.licensing.urls")),
    path("audit/", include("accounts.audit_urls")),
    path("api-tokens/", include("api.urls")),
    path("webhooks/", include("api.webhook_urls")),
    path("usage/", include("usage.urls")),
    path("renewals/", include("notices.urls")),
    path("requests/", include("support.customer_urls")),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("i18n/setlang/", language_set, name="set_language"),
    path("accounts/", include("allauth.urls")),
    # Every way into the console is allauth's login (MFA stage, rate limits): admin's own
    # login and password forms are shadowed by these two redirects (accounts/console.py).
    path("admin/login/", console_login, name="console_login"),
    path("admin/password_change/", console_password_change, name="console_password_change"),
    path("admin/", admin.site.urls),
    path("support/", include("support.urls")),
    # Before the "" includes below, which would each try all their patterns on every API
    # request first (nothing of theirs starts with api/v1/).
    path("api/v1/", include((api_v1_patterns, "ninja"), namespace="api_v1")),
    path("", include("accounts.urls")),
    path("", include("activations.urls_public")),
    # The usage agent's push: authenticated by its upload key only (usage/views.py).
    path("usage/agent/", include("usage.agent_urls")),
    path("", include("notices.urls_public")),
    path("c/<str:customer_number>/", include(customer_patterns)),
]
