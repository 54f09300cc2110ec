"""Every URL under /c/<customer_number>/, read from the URL resolver.

Tests that must cover every customer page (deny-by-default, cross-customer 404s) iterate
this list, so a new view is covered the moment it is routed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

CUSTOMER_PREFIX = "c/<str:customer_number>/"


@dataclass(frozen=True)
class CustomerRoute:
    name: str
    route: str
    view_class: type | None
    callback: Any

    def path(self, customer_number: str, *, fill: str = "1") -> str:
        """The route with the customer number and every other parameter filled in."""
        path = "/" + self.route.replace("<str:customer_number>", customer_number)
        return re.sub(r"<(?:\w+:)?\w+>", fill, path)


def _walk(patterns: list, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str, Any]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            ns = namespace
            if pattern.namespace:
                ns = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), ns)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else (pattern.name or "")
            yield prefix + str(pattern.pattern), name, pattern.callback


def customer_routes() -> list[CustomerRoute]:
    return [
        CustomerRoute(name=name, route=route, view_class=getattr(callback, "view_class", None), callback=callback)
        for route, name, callback in _walk(get_resolver().url_patterns)
        if route.startswith(CUSTOMER_PREFIX)
    ]
