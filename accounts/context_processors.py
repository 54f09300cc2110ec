from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .selectors import memberships_for_user


def customers(request: HttpRequest) -> dict[str, Any]:
    """The customer switcher's entries, fetched only if a template asks for them."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"my_memberships": ()}
    # Customer pages already loaded them with the access check (CustomerViewMixin).
    memberships = getattr(request, "my_memberships", None)
    if memberships is not None:
        return {"my_memberships": memberships}
    return {"my_memberships": SimpleLazyObject(lambda: memberships_for_user(user=user))}
