from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def portal(request: HttpRequest) -> dict[str, Any]:
    return {
        "brand_name": settings.PORTAL_BRAND_NAME,
        "support_email": settings.PORTAL_SUPPORT_EMAIL,
        "debug": settings.DEBUG,
    }
