"""``header_bell``: the bell in the page header, rendered per request.

The header itself is cached per user (portal/templatetags/portal_chrome.py); the bell is a
slot that the header tag fills in on every request, so a new notification shows at once
without making the cached header's key depend on it.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.functional import SimpleLazyObject
from django.utils.safestring import SafeString, mark_safe

from . import selectors


class Bell:
    """Rendered only when the header asks for it (lazy: pages without a header pay nothing)."""

    def __init__(self, request: HttpRequest) -> None:
        self.request = request
        self._html: SafeString | None = None

    def __html__(self) -> str:
        if self._html is None:
            user = self.request.user
            count = selectors.unread_count(user=user)
            self._html = mark_safe(render_to_string("notices/_bell.html", {"unread": count}))  # noqa: S308
        return self._html

    __str__ = __html__


def bell(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"header_bell": ""}
    return {"header_bell": Bell(request), "account_manager": SimpleLazyObject(lambda: _account_manager(request))}


def _account_manager(request: HttpRequest) -> Any:
    """The customer page's account manager (renewal settings), looked up only when a page
    names them (e.g. why FlexNet is not managed here: includes/activations_absent.html)."""
    access = getattr(request, "customer_access", None)
    return selectors.renewal_settings_get(customer=access.customer) if access is not None else None
