"""``portal.csp.CSPMiddleware`` (the ordinary policy built once) writes exactly the headers
django-csp's own middleware writes, for ordinary responses and for every per-response case
it hands back to the library."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from csp.decorators import csp_exempt, csp_replace, csp_update
from csp.middleware import CSPMiddleware as LibraryCSPMiddleware
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.test import RequestFactory, override_settings

from portal.csp import CSPMiddleware

HEADERS = ("Content-Security-Policy", "Content-Security-Policy-Report-Only")


def plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def with_nonce(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(request.csp_nonce))


def not_found(request: HttpRequest) -> HttpResponse:
    return HttpResponseNotFound("no")


def already_set(request: HttpRequest) -> HttpResponse:
    response = HttpResponse("ok")
    response["Content-Security-Policy"] = "default-src 'none'"
    return response


VIEWS: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "plain": plain,
    "nonce": with_nonce,
    "not_found": not_found,
    "already_set": already_set,
    "update": csp_update({"img-src": ["https://img.example"]})(plain),
    "replace": csp_replace({"script-src": ["https://js.example"]})(plain),
    "exempt": csp_exempt()(plain),
}


def headers(middleware_class: type, view: Callable, path: str) -> tuple[dict, str]:
    request = RequestFactory().get(path)
    response = middleware_class(view)(request)
    found = {name: response.get(name) for name in HEADERS}
    nonce = request.csp_nonce
    try:
        str(nonce)
        after = "usable"
    except Exception as error:  # the library's error, compared by its type
        after = type(error).__name__
    if found.get("Content-Security-Policy") and "nonce-" in found["Content-Security-Policy"]:
        found["Content-Security-Policy"] = found["Content-Security-Policy"].split("'nonce-")[0]
    return found, after


@pytest.mark.parametrize("name", sorted(VIEWS))
@pytest.mark.parametrize("path", ["/c/1/", "/api/v1/customers/1/entitlements/"])
def test_same_headers_as_the_library(name: str, path: str) -> None:
    ours, theirs = headers(CSPMiddleware, VIEWS[name], path), headers(LibraryCSPMiddleware, VIEWS[name], path)
    assert ours == theirs
    if name == "plain":
        assert "default-src 'self'" in ours[0]["Content-Security-Policy"]


@pytest.mark.parametrize("name", ["plain", "not_found"])
def test_a_changed_setting_is_followed(name: str) -> None:
    """The built policy is rebuilt when the settings change (report-only, excluded prefixes,
    DEBUG's exemption of error pages)."""
    headers(CSPMiddleware, plain, "/")  # the default policy built and kept
    policy = {"DIRECTIVES": {"default-src": ["'none'"]}, "EXCLUDE_URL_PREFIXES": ["/excluded/"]}
    with override_settings(CONTENT_SECURITY_POLICY_REPORT_ONLY=policy, DEBUG=True):
        for path in ("/", "/excluded/x"):
            ours, theirs = headers(CSPMiddleware, VIEWS[name], path), headers(LibraryCSPMiddleware, VIEWS[name], path)
            assert ours == theirs
        if name == "plain":
            assert headers(CSPMiddleware, plain, "/")[0]["Content-Security-Policy-Report-Only"] == "default-src 'none'"
            assert headers(CSPMiddleware, plain, "/excluded/x")[0]["Content-Security-Policy-Report-Only"] is None
    assert headers(CSPMiddleware, plain, "/")[0]["Content-Security-Policy-Report-Only"] is None
