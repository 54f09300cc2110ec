"""The API's HTTP conventions, in one place: token authentication, per-customer access,
problem details (RFC 9457), cursor pagination and per-token rate limits.

Access is decided by ``accounts.roles`` through ``TokenAccess.has``; the services check
again with the owner's own role, so the API cannot widen what a person may do.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import time
from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Any

import orjson
from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from ninja.security import HttpBearer

from accounts.audit import audit_record, audit_with_next_write
from accounts.models import Customer
from accounts.roles import Permission
from portal.errors import PortalError
from portal.fragments import customer_value
from portal.imports import PlanChanged

from .tokens import READ_PERMISSIONS, TokenAccess, authenticate

PROBLEM_BASE = "https://license-portal.example/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"


class Problem(Exception):
    """An RFC 9457 problem with a stable ``code`` (documented in docs/api.md)."""

    def __init__(self, status: int, code: str, title: str, detail: str = "", **extra: Any) -> None:
        super().__init__(detail or title)
        self.status, self.code, self.title, self.detail, self.extra = status, code, title, detail, extra

    def response(self, request: HttpRequest) -> HttpResponse:
        body = {
            "type": PROBLEM_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail or self.title,
            "code": self.code,
            "instance": request.path,
            **self.extra,
        }
        response = JsonResponse(body, status=self.status, content_type=PROBLEM_CONTENT_TYPE)
        if self.status == HTTPStatus.TOO_MANY_REQUESTS and "retry_after" in self.extra:
            response["Retry-After"] = str(self.extra["retry_after"])
        return response


def not_found() -> Problem:
    return Problem(HTTPStatus.NOT_FOUND, "not_found", "Not found")


# --- Authentication ------------------------------------------------------------------------------


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


class TokenAuth(HttpBearer):
    """``Authorization: Bearer lpat_...``; the result is ``request.auth`` (a TokenAccess)."""

    openapi_description = "A personal access token (`lpat_...`) from the customer's API tokens page."

    def authenticate(self, request: HttpRequest, token: str) -> TokenAccess | None:
        access = authenticate(token, ip=client_ip(request))
        if access is not None:
            rate_limit(request, access)
        return access


# --- Rate limits ----------------------------------------------------------------------------------


def _window_count(key: str, window: int) -> int:
    """Adds one to the window's counter and returns it. On Redis (django-redis) one round trip:
    ``INCR`` and ``EXPIRE NX`` pipelined; elsewhere (tests' local memory) ``add`` + ``incr``."""
    client = getattr(cache, "client", None)
    if hasattr(client, "get_client"):
        name = cache.make_key(key)
        pipe = client.get_client(write=True).pipeline(transaction=False)
        pipe.incr(name)
        pipe.expire(name, window + 1, nx=True)
        used, _expiry_set = pipe.execute()
        return int(used)
    cache.add(key, 0, timeout=window + 1)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window + 1)
        return 1


def rate_limit(request: HttpRequest, access: TokenAccess) -> None:
    """A fixed window per token: ``PORTAL_API_RATE_LIMIT`` requests per
    ``PORTAL_API_RATE_WINDOW`` seconds. Sets ``request.api_rate`` for the headers
    (``RateLimit``/``RateLimit-Policy``, draft-ietf-httpapi-ratelimit-headers) and raises 429
    with ``Retry-After`` when the window is used up."""
    limit, window = settings.PORTAL_API_RATE_LIMIT, settings.PORTAL_API_RATE_WINDOW
    now = time.time()
    start = int(now // window * window)
    used = _window_count(f"api-rate:{access.token.pk}:{start}", window)
    reset = max(math.ceil(start + window - now), 1)
    request.api_rate = (limit, max(limit - used, 0), reset, window)
    if used > limit:
        raise Problem(
            HTTPStatus.TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests",
            f"This token may make {limit} requests per {window} seconds.",
            retry_after=reset,
        )


def rate_headers(response: HttpResponse, request: HttpRequest) -> HttpResponse:
    rate = getattr(request, "api_rate", None)
    if rate is not None:
        limit, remaining, reset, window = rate
        response["RateLimit-Policy"] = f'"token";q={limit};w={window}'
        response["RateLimit"] = f'"token";r={remaining};t={reset}'
    return response


def with_rate_headers(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return rate_headers(view(request, *args, **kwargs), request)

    return wrapped


# --- Per-customer access --------------------------------------------------------------------------


def requires(permission: Permission) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declares what an operation needs (the generated tests read ``required_permission``) and
    enforces it: another customer's number -> 404; a permission the token lacks -> 403, audited.
    A write by a token is audited as ``api_token.used`` as well (``audit_with_next_write``)."""

    def decorator(operation: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(operation)
        def wrapped(request: HttpRequest, number: str, *args: Any, **kwargs: Any) -> Any:
            access: TokenAccess = request.auth
            if access.customer.number != number:
                raise not_found()
            if not access.has(permission):
                audit_record(
                    customer=access.customer,
                    actor=access.user,
                    action="access.denied",
                    target=request.path[:255],
                    details={"method": request.method, "permission": permission.value, "token": access.token.prefix},
                    denied=True,
                )
                raise Problem(
                    HTTPStatus.FORBIDDEN,
                    "permission_denied",
                    "Permission denied",
                    f"This token cannot {permission.value.replace('_', ' ')}.",
                    permission=permission.value,
                )
            if permission in READ_PERMISSIONS and request.method in ("GET", "HEAD", "OPTIONS"):
                return operation(request, number, *args, **kwargs)
            # Recorded with the change the operation makes, in its transaction (one commit), or
            # on its own when it makes none (a dry run, a refusal).
            with audit_with_next_write(
                customer=access.customer,
                actor=access.user,
                action="api_token.used",
                target=access.token.name,
                details={"prefix": access.token.prefix, "method": request.method, "path": request.path[:200]},
            ):
                return operation(request, number, *args, **kwargs)

        wrapped.required_permission = permission  # type: ignore[attr-defined]
        return wrapped

    return decorator


# --- Cursor pagination ----------------------------------------------------------------------------

MAX_LIMIT = 500


def _cursor_decode(cursor: str) -> int:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)))
        if isinstance(value, int) and value >= 0:
            return value
    except (ValueError, TypeError):
        pass
    raise Problem(
        HTTPStatus.BAD_REQUEST,
        "invalid_cursor",
        "Invalid cursor",
        "Pass back the next_cursor of a previous page unchanged.",
    )


def _cursor_encode(value: int) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


# Compiled page statements (``paginate_values`` with a ``key``): SQL text and parameters by
# the key that determines them. Bounded: emptied when full (a process serves few shapes).
_STATEMENTS: dict[tuple, tuple[str, list[Any], int | None]] = {}
_STATEMENTS_MAX = 2048
# Compiled in place of the cursor's id, then found among the parameters and replaced.
_AFTER_MARK = -918_273_645_546_372_819


def _page_statement(
    key: tuple, build: Callable[[], QuerySet], lookups: tuple[str, ...], limit: int, after: int | None
) -> tuple[str, list[Any]] | None:
    """The SQL and parameters of a page, compiled by the ORM once per ``key`` (and lookups,
    limit, with or without a cursor) and reused: the query's construction and compilation
    were the largest part of an API list request in-process (docs/performance.md). None when
    the cursor's place among the parameters cannot be told (then the caller uses the ORM)."""
    full_key = (key, lookups, limit, after is not None)
    found = _STATEMENTS.get(full_key)
    if found is None:
        queryset = build()
        if after is not None:
            queryset = queryset.filter(pk__gt=_AFTER_MARK)
        sql, params = queryset.order_by("pk").values_list(*lookups)[: limit + 1].query.sql_with_params()
        marks = [i for i, value in enumerate(params) if type(value) is int and value == _AFTER_MARK]
        if after is not None and len(marks) != 1:
            return None
        if len(_STATEMENTS) >= _STATEMENTS_MAX:
            _STATEMENTS.clear()
        found = _STATEMENTS[full_key] = (sql, list(params), marks[0] if marks else None)
    sql, params, mark = found
    if mark is not None:
        params = [*params]
        params[mark] = after
    return sql, params


def _dates_as_text(cursor: Any) -> None:
    """Reads this cursor's ``date`` columns as PostgreSQL writes them, which with ``DateStyle``
    ISO (checked) is ``date.isoformat()``, the JSON's form: a page skips building its 300 date
    objects and the JSON encoder's fallback for each (a third of an entitlements page's Python
    calls, docs/performance.md). Other types, and other cursors, are unchanged."""
    from psycopg.types.string import TextLoader

    if (cursor.connection.info.parameter_status("DateStyle") or "").startswith("ISO"):
        cursor.adapters.register_loader("date", TextLoader)


# The first pages kept per version of the customer's data (``paginate_values``' ``cache_for``):
# the limits clients ask for (the default, and the bounded set around it), so a client cannot
# fill the cache with a page per limit.
CACHED_LIMITS = frozenset({10, 25, 50, 100, 200, MAX_LIMIT})
_JSON_DEFAULT = DjangoJSONEncoder().default


def json_bytes(data: Any) -> bytes:
    """``data`` as JSON, what ``JsonResponse`` writes (Django's encoder for dates, times,
    decimals and lazy strings), written by orjson: a tenth of the stdlib encoder's time for a
    page of 100 lines (docs/performance.md). Non-ASCII text is written as UTF-8 rather than
    ``\\u`` escapes: the same JSON."""
    return orjson.dumps(data, default=_JSON_DEFAULT, option=orjson.OPT_PASSTHROUGH_DATETIME)


def _page_rows(
    queryset: QuerySet | Callable[[], QuerySet],
    *,
    lookups: tuple[str, ...],
    key: tuple | None,
    limit: int,
    after: int | None,
) -> list[tuple]:
    # PostgreSQL only: its driver returns the values Django would (SQLite's raw rows need the
    # ORM's converters: dates as text, booleans as integers).
    compiled = key is not None and connection.vendor == "postgresql"
    statement = _page_statement(key, queryset, lookups, limit, after) if compiled else None
    if statement is not None:
        with connection.cursor() as db:
            _dates_as_text(db.cursor)
            db.execute(*statement)
            return db.fetchall()
    queryset = queryset() if callable(queryset) else queryset
    if after is not None:
        queryset = queryset.filter(pk__gt=after)
    return list(queryset.order_by("pk").values_list(*lookups)[: limit + 1])


def paginate_values(
    queryset: QuerySet | Callable[[], QuerySet],
    *,
    fields: tuple[tuple[str, str], ...],
    cursor: str | None,
    limit: int,
    key: tuple | None = None,
    cache_for: Customer | None = None,
) -> HttpResponse:
    """``paginate`` for hot lists: reads only ``fields`` (output name, lookup; the first is the
    id) as tuples and writes the page's JSON directly, skipping model instances and ninja's
    per-field response validation (two thirds of an entitlements page's time in-process,
    docs/performance.md). The shape stays the documented one; Schemathesis checks it.

    With ``key`` (hashable, and everything the query depends on: the customer, the filters,
    the date a status is computed for), ``queryset`` is a callable building the query, and its
    compiled SQL is reused for every request with the same key (``_page_statement``).

    With ``key`` and ``cache_for`` (the customer whose data the page shows), a first page
    (no cursor) at one of ``CACHED_LIMITS`` is kept per version of that customer's data, as
    the web's landing pages are (``portal.fragments``: the database raises the version in the
    transaction of any change, so a page is never served after what it shows has changed).
    ``key`` must then be one of a bounded set (known filter values, no text search)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise Problem(HTTPStatus.BAD_REQUEST, "invalid_limit", "Invalid limit", f"limit is 1 to {MAX_LIMIT}.")
    after = _cursor_decode(cursor) if cursor else None
    names = [name for name, _lookup in fields]
    lookups = tuple(lookup for _name, lookup in fields)

    def page() -> bytes:
        rows = _page_rows(queryset, lookups=lookups, key=key, limit=limit, after=after)
        more = len(rows) > limit
        rows = rows[:limit]
        return json_bytes(
            {
                "results": [dict(zip(names, row, strict=True)) for row in rows],
                "next_cursor": _cursor_encode(rows[-1][0]) if more and rows else None,
            }
        )

    if cache_for is not None and key is not None and after is None and limit in CACHED_LIMITS:
        body = customer_value(name="api-page", customer=cache_for, vary=(key, lookups, limit), compute=page)
    else:
        body = page()
    return HttpResponse(body, content_type="application/json")


def paginate(
    queryset: QuerySet, *, cursor: str | None, limit: int, descending: bool = False
) -> tuple[list, str | None]:
    """Keyset pagination on the primary key: a page starts after the last id of the previous
    one, so rows inserted or deleted meanwhile never shift a page (no repeats, no gaps among
    rows that exist throughout). Returns the page and the next cursor (None on the last)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise Problem(HTTPStatus.BAD_REQUEST, "invalid_limit", "Invalid limit", f"limit is 1 to {MAX_LIMIT}.")
    if cursor:
        after = _cursor_decode(cursor)
        queryset = queryset.filter(pk__lt=after) if descending else queryset.filter(pk__gt=after)
    rows = list(queryset.order_by("-pk" if descending else "pk")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (_cursor_encode(rows[-1].pk) if more and rows else None)


# --- Previewed imports (the import pages' two steps) ------------------------------------------


def previewed_import(
    *,
    text: str,
    digest: str | None,
    parse: Callable[[str], Sequence[Any]],
    max_lines: int,
    empty_message: str,
    plan: Callable[[Sequence[Any]], Sequence[Any]],
    apply: Callable[[Sequence[Any], str], Sequence[Any]],
    out: Callable[[Sequence[Any], bool], dict[str, Any]],
    changed_title: str,
) -> dict[str, Any]:
    """An import page through the API: the lines of ``text`` parsed (none, or more than
    ``max_lines``: ``422`` on ``csv``); without ``digest`` the plan (nothing changes), with it
    the plan applied all or nothing by the service, which refuses when the data changed since
    the preview (``PlanChanged``: ``409 plan_changed`` with the new plan to review)."""
    requests = parse(text)
    if not requests:
        raise PortalError(empty_message, field="csv")
    if len(requests) > max_lines:
        raise PortalError(
            _("At most %(max)d lines at a time; this has %(count)d.") % {"max": max_lines, "count": len(requests)},
            field="csv",
        )
    if digest is None:
        return out(plan(requests), False)
    try:
        applied = apply(requests, digest)
    except PlanChanged as changed:
        raise Problem(
            HTTPStatus.CONFLICT, "plan_changed", changed_title, changed.message, **out(changed.plan, False)
        ) from None
    return out(applied, True)
