"""Cached page fragments keyed by the customer's data version.

The entitlements and activations pages are every member's landing pages and the most viewed;
what they show depends only on the customer's data, the language, the day, the query and the
member's role. The database raises ``Customer.data_version`` in the same transaction as any
change to that data (triggers: PostgreSQL in migrations accounts 0005 and activations 0002,
SQLite, the embedded ``make run`` default, in activations 0004), and the
version is read with the membership on every request (``accounts.access``), so a fragment is
reused only while nothing it shows has changed: a member sees their own activation on the
very next page. Nothing per user (CSRF tokens, the user's email) goes into a fragment.

The cache is an accelerator only: when it fails (Redis down) the fragment is rendered.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.http import QueryDict
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

from accounts.models import Customer

logger = logging.getLogger(__name__)
T = TypeVar("T")
_MISSING = object()


_INDENTATION = re.compile(r"\n\s+")


def _compact(html: str) -> str:
    """The indentation and blank lines of template output dropped (about an eighth of the
    entitlements page): a run of white space holding a line break renders as one space in
    HTML. Not where white space is content (``<pre>``, ``<textarea>``)."""
    if "<pre" in html or "<textarea" in html:
        return html
    return _INDENTATION.sub("\n", html)


def fragment_key(*, name: str, vary: Iterable[object]) -> str:
    digest = hashlib.sha256("\x1f".join(map(repr, vary)).encode()).hexdigest()[:40]
    return f"fragment:{name}:{get_language()}:{digest}"


def _through_cache(*, name: str, key: str, compute: Callable[[], T]) -> T:
    """``compute()``, stored under ``key``; the cache is optional, so any failure of it means
    computing (and a warning in the log)."""
    timeout = settings.PORTAL_FRAGMENT_CACHE_SECONDS
    if not timeout:
        return compute()
    try:
        found = cache.get(key, _MISSING)
    except Exception:
        logger.warning("cache unavailable, computing %s", name, exc_info=True)
        return compute()
    if found is not _MISSING:
        return found
    value = compute()
    try:
        cache.set(key, value, timeout)
    except Exception:
        logger.warning("cache unavailable, not storing %s", name, exc_info=True)
    return value


def cached_fragment(*, name: str, vary: Iterable[object], render: Callable[[], str]) -> SafeString:
    """``render()``'s HTML, from the cache while ``vary`` (everything the HTML depends on
    besides the language, which is always part of the key) is unchanged."""
    html = _through_cache(name=name, key=fragment_key(name=name, vary=vary), compute=lambda: _compact(str(render())))
    return mark_safe(html)  # noqa: S308 - stored from render() (template output), never from user input


def customer_value(*, name: str, customer: Customer, compute: Callable[[], T], vary: Iterable[object] = ()) -> T:
    """A value derived from the customer's data, computed once per version of it (and of
    ``vary``: everything else it depends on)."""
    key = fragment_key(name=name, vary=(customer.pk, customer.data_version, *vary))
    return _through_cache(name=name, key=key, compute=compute)


# Only the views many members share are cached: a member requesting endless distinct pages or
# searches must not be able to flood the cache (and evict what else lives there, such as the
# sign-in rate limits) with fragments nobody reads again.
MAX_CACHED_PAGE = 20


def shared_view(query: QueryDict, *, choices: Mapping[str, Iterable[str]]) -> bool:
    """Whether a list page's query is one of the bounded set worth caching: only known
    parameters, once each, each a known choice (or empty), and ``page`` at most
    ``MAX_CACHED_PAGE``."""
    for key, values in query.lists():
        if len(values) != 1:
            return False
        value = values[0]
        if key == "page":
            if not (value.isdigit() and len(value) <= 3 and int(value) <= MAX_CACHED_PAGE):
                return False
        elif key not in choices or (value and value not in choices[key]):
            return False
    return True


def customer_fragment(
    *, name: str, customer: Customer, vary: Iterable[object], render: Callable[[], str]
) -> SafeString:
    """A fragment of a customer's page, rendered once per version of the customer's data.

    ``vary`` is everything else the HTML depends on (query, role); the customer's data
    version, the language and today's date are always part of the key.
    """
    return cached_fragment(
        name=name, vary=(customer.pk, customer.data_version, timezone.localdate().isoformat(), *vary), render=render
    )
