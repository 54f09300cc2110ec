"""Messages translated when they are shown, not when they are made.

A change is reported once but read by several people: the ASCs' emails are rendered in each
recipient's language (``accounts.notifications``), so the sentence describing the change must
still be untranslated when the service builds it::

    change = deferred("%(actor)s added %(email)s as %(role)s.") % {
        "actor": actor.email, "email": email, "role": role.label,  # a lazy label is fine
    }

``str(change)`` translates the message and its lazy values in the active language.
``makemessages`` (``portal/management/commands/makemessages.py``) collects ``deferred(...)``
strings like ``_(...)`` ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext


class Deferred:
    __slots__ = ("message", "params")

    def __init__(self, message: str, params: Mapping[str, Any] | None = None) -> None:
        self.message = message
        self.params = dict(params or {})

    def __mod__(self, params: Mapping[str, Any]) -> Deferred:
        return Deferred(self.message, params)

    def __str__(self) -> str:
        translated = gettext(self.message)
        if not self.params:
            return translated
        # Lazy values (a role's label, another deferred message) are translated now too;
        # numbers stay numbers for %d.
        return translated % {
            key: str(value) if isinstance(value, (Promise, Deferred)) else value for key, value in self.params.items()
        }

    def __repr__(self) -> str:
        return f"Deferred({self.message!r}, {self.params!r})"


_DEFERRED_KEY = "__deferred__"


def json_context(value: Any) -> Any:
    """``value`` (a template context: strings, numbers, booleans, None, lists and dicts of them,
    and ``Deferred`` messages) as JSON, for a notification rendered later by a worker
    (``context_from_json`` undoes it). Anything else is a programming error: ``TypeError``."""
    if isinstance(value, Deferred):
        return {_DEFERRED_KEY: [value.message, json_context(value.params)]}
    if isinstance(value, dict):
        return {str(key): json_context(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_context(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"{type(value).__name__} cannot be stored in a notification's context")


def context_from_json(value: Any) -> Any:
    """The context ``json_context`` stored, its ``Deferred`` messages restored (translated when
    rendered, in the language active then)."""
    if isinstance(value, dict):
        if set(value) == {_DEFERRED_KEY}:
            message, params = value[_DEFERRED_KEY]
            return Deferred(message, context_from_json(params))
        return {key: context_from_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [context_from_json(item) for item in value]
    return value


def deferred(message: str) -> Deferred:
    """``message``, translated on ``str()``; ``% {...}`` fills in its values."""
    return Deferred(message)


DEFAULT_BRAND_NAME = "License Portal"


def brand_name() -> str:
    """The product's name as readers see it: the operator's PORTAL_BRAND_NAME as set, or,
    when left at the default, the default's translation ("Lisans Portalı" in Turkish). A
    license file keeps the setting as it is (ASCII, never translated)."""
    from django.conf import settings

    if settings.PORTAL_BRAND_NAME == DEFAULT_BRAND_NAME:
        return gettext("License Portal")
    return settings.PORTAL_BRAND_NAME
