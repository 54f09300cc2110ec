from __future__ import annotations

import functools
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.templatetags.static import static
from django.urls import reverse

from .i18n import brand_name


@functools.cache
def _chrome() -> dict[str, str]:
    """Static file and page addresses of the page chrome: fixed for the life of a process,
    so every page reads them instead of resolving them again (docs/performance.md)."""
    return {
        "css": static("css/portal.css"),
        "favicon": static("img/favicon.svg"),
        "js": static("js/portal.js"),
        "access_url": reverse("access"),
        "roles_help_url": reverse("roles_help"),
    }


def portal(request: HttpRequest) -> dict[str, Any]:
    return {
        "brand_name": brand_name(),
        "support_email": settings.PORTAL_SUPPORT_EMAIL,
        "debug": settings.DEBUG,
        "chrome": _chrome(),
    }
