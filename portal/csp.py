"""django-csp's middleware, with the policy of an ordinary response built once.

``csp.middleware.CSPMiddleware`` builds both headers from the settings for every response
(``dataclasses.asdict`` and ``build_policy``: about 350 Python calls, a tenth of an API list
request, docs/performance.md). A response that changes nothing (no ``csp_update``/``csp_replace``/
``csp_exempt`` style attributes, no nonce used) gets the same header every time, so it is built
once per settings and reused; anything else goes through the library unchanged.
``tests/security/test_csp_cache.py`` compares the two header by header.
"""

from __future__ import annotations

import http.client
from functools import cache

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject
from csp.middleware import CSPMiddleware as LibraryCSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest
from django.http.response import HttpResponseBase

# Set on a response by django-csp's decorators: the policy is that response's own.
_PER_RESPONSE = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
)
_DEBUG_EXEMPT = (http.client.INTERNAL_SERVER_ERROR, http.client.NOT_FOUND)


@cache
def _policies() -> tuple[tuple[str, str, str, tuple[str, ...]], ...]:
    """(header, value, the response's exemption attribute, excluded path prefixes) of both
    headers, from the settings as the library reads them."""
    found = []
    for header, value, exempt, setting in (
        (HEADER, build_policy(), "_csp_exempt", "CONTENT_SECURITY_POLICY"),
        (HEADER_REPORT_ONLY, build_policy(report_only=True), "_csp_exempt_ro", "CONTENT_SECURITY_POLICY_REPORT_ONLY"),
    ):
        if value:
            prefixes = (getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES", None) or ()
            found.append((header, value, exempt, tuple(prefixes)))
    return tuple(found)


@receiver(setting_changed)
def _policies_changed(*, setting: str, **_kwargs: object) -> None:
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _policies.cache_clear()


class CSPMiddleware(LibraryCSPMiddleware):
    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if getattr(request, "_csp_nonce", None) is not None or any(hasattr(response, a) for a in _PER_RESPONSE):
            return super().process_response(request, response)
        if response.status_code in _DEBUG_EXEMPT and settings.DEBUG:
            return response
        for header, value, exempt, prefixes in _policies():
            if (
                header not in response
                and getattr(response, exempt, False) is False
                and not request.path_info.startswith(prefixes)
            ):
                response[header] = value
        # As the library: a nonce asked for after the header is written is an error.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response
