"""Prepared statements for the few hot statements that ask for them (docs/performance.md,
"fourth pass").

Django's PostgreSQL backend binds parameters client-side, so PostgreSQL parses and plans every
statement on every execution. For a statement run on nearly every request whose plan does not
depend on its parameters (a lookup by a unique key), ``prepared_cursor`` has PostgreSQL parse
and plan it once per connection and reuse that plan: the API token's four-table join took
~0.5 ms to plan and ~0.1 ms to run. Only statements passed to this cursor are prepared; the
ORM's stay as they are, because a plan chosen once for all parameters can be far worse for
some of them (measured: the entitlement page of a 10,000-line customer with the plan fitted to
an average customer sorts all 10,000 rows, 4 ms instead of 0.1 ms).

Other databases, and PostgreSQL with ``DATABASE_PREPARED_STATEMENTS=0`` (``prepare_threshold``
None: e.g. behind a pooler in transaction mode), get the ordinary cursor.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection
from django.db.models import Model, QuerySet


class _Logged:
    """What Django's query log reads after a statement (``last_executed_query``: the cursor's
    ``_query.query``), which psycopg leaves empty for a prepared one: the statement with its
    parameters written in, made only when read (``DEBUG``, ``CaptureQueriesContext``)."""

    def __init__(self, connection: Any, sql: str, params: Any) -> None:
        self._connection, self._sql, self._params = connection, sql, params

    @property
    def query(self) -> bytes:
        from psycopg import ClientCursor

        return ClientCursor(self._connection).mogrify(self._sql, self._params).encode()


@functools.cache
def _prepared_cursor_class() -> type:
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparedCursor(ServerBindingCursor):
        """Server-side binding (a prepared statement needs it), and every statement prepared."""

        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            result = super().execute(query, params, prepare=True)
            if self._query is None:
                self._query = _Logged(self.connection, query, params)
            return result

    return PreparedCursor


@contextmanager
def prepared_cursor() -> Iterator[Any]:
    """A Django cursor (the execute wrappers, query counting and logging apply) whose
    statements psycopg prepares on first use on this connection and then executes by name."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    connection.ensure_connection()
    if connection.connection.prepare_threshold is None:
        with connection.cursor() as cursor:
            yield cursor
        return
    # Django's own wrapping of a new cursor (``connection.cursor()`` minus ``create_cursor``).
    with connection._prepare_cursor(_prepared_cursor_class()(connection.connection)) as cursor:
        yield cursor


# --- Statements compiled once per process ------------------------------------------------------

# SQL text, parameters and where the ids go, by the caller's key. Bounded: emptied when full.
_COMPILED: dict[Hashable, tuple[str, tuple[Any, ...], tuple[tuple[int, int], ...]]] = {}
_COMPILED_MAX = 512
# Compiled in place of the i-th id (``_MARK - i``), then found among the parameters.
_MARK = -918_273_645_546_371_000


def _compile(
    build: Callable[..., QuerySet], count: int
) -> tuple[str, tuple[Any, ...], tuple[tuple[int, int], ...]] | None:
    marks = {_MARK - i: i for i in range(count)}
    sql, params = build(*marks).query.sql_with_params()
    slots = tuple((j, marks[p]) for j, p in enumerate(params) if type(p) is int and p in marks)
    if {i for _j, i in slots} != set(range(count)):
        return None  # an id did not reach the parameters unchanged: the ORM's way then
    return sql, tuple(params), slots


def compiled_rows(key: Hashable, build: Callable[..., QuerySet], *ids: int) -> list[tuple]:
    """The rows of ``build(*ids)``, a ``values_list`` query whose only varying inputs are
    ``ids`` (integers: primary and foreign keys). On PostgreSQL its SQL is compiled by the ORM
    once per process and ``key``, and run as a prepared statement: building and compiling the
    query was most of the Python time of the write path's small lookups, and planning most of
    PostgreSQL's (docs/performance.md, "fourth pass"). Only for statements whose plan suits
    every id (lookups by a key, a few rows each), and whose columns need none of Django's
    converters on PostgreSQL (no JSON, no custom fields). Elsewhere: the ORM, as written."""
    if connection.vendor != "postgresql":
        return list(build(*ids))
    entry = _COMPILED.get(key)
    if entry is None:
        entry = _compile(build, len(ids))
        if entry is None:
            return list(build(*ids))
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        _COMPILED[key] = entry
    sql, params, slots = entry
    values = list(params)
    for j, i in slots:
        values[j] = ids[i]
    with prepared_cursor() as cursor:
        cursor.execute(sql, values)
        return cursor.fetchall()


def compiled_objects(
    key: Hashable,
    model: type[Model],
    build: Callable[..., QuerySet],
    *ids: int,
    related: tuple[tuple[str, type[Model]], ...] = (),
) -> list[Any]:
    """``compiled_rows`` for model instances: ``build(*ids)`` is a filtered query on ``model``
    (locks and order included), read as every concrete field of ``model`` and of each
    ``related`` foreign key (name, model), which is set on the instance as ``select_related``
    would. The same conditions as ``compiled_rows`` for every column."""
    fields = [f.attname for f in model._meta.concrete_fields]
    shapes = [(name, rel, [f.attname for f in rel._meta.concrete_fields]) for name, rel in related]
    lookups = fields + [f"{name}__{attname}" for name, _rel, names in shapes for attname in names]
    rows = compiled_rows(key, lambda *marks: build(*marks).values_list(*lookups), *ids)
    objects = []
    for row in rows:
        obj = model.from_db(connection.alias, fields, row[: len(fields)])
        start = len(fields)
        for name, rel, names in shapes:
            setattr(obj, name, rel.from_db(connection.alias, names, row[start : start + len(names)]))
            start += len(names)
        objects.append(obj)
    return objects
