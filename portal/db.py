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

import datetime
import functools
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
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


def _kept_cursor(db: Any) -> Any:
    """The connection's prepared cursor, made and wrapped once per connection (and per query
    logging state: ``CaptureQueriesContext`` turns it on) and kept: making and wrapping a
    cursor for each statement was a tenth of the write path's Python (docs/performance.md,
    "sixth pass"). A connection belongs to one thread, and so does its cursor."""
    raw, logged = db.connection, db.queries_logged
    kept = getattr(db, "_portal_prepared_cursor", None)
    if kept is None or kept[0] is not raw or kept[1] != logged:
        # Django's own wrapping of a new cursor (``connection.cursor()`` minus ``create_cursor``).
        kept = (raw, logged, db._prepare_cursor(_prepared_cursor_class()(raw)))
        db._portal_prepared_cursor = kept
    return kept[2]


@contextmanager
def prepared_cursor() -> Iterator[Any]:
    """A Django cursor (the execute wrappers, query counting and logging apply) whose
    statements psycopg prepares on first use on this connection and then executes by name.
    On PostgreSQL the cursor is the connection's own, kept open between uses."""
    db = connections[DEFAULT_DB_ALIAS]  # once: each ``connection.x`` is a thread-local lookup
    if db.vendor != "postgresql":
        with db.cursor() as cursor:
            yield cursor
        return
    db.ensure_connection()
    if db.connection.prepare_threshold is None:
        with db.cursor() as cursor:
            yield cursor
        return
    yield _kept_cursor(db)


# --- Statements compiled once per process ------------------------------------------------------

# SQL text, parameters and where the ids go, by the caller's key. Bounded: emptied when full.
_COMPILED: dict[Hashable, tuple[str, tuple[Any, ...], tuple[tuple[int, int], ...]]] = {}
_COMPILED_MAX = 512
# Compiled in place of the i-th input (``_MARK - i``, or ``_MOMENT_MARK`` plus i microseconds
# for a timestamp), then found among the parameters.
_MARK = -918_273_645_546_371_000
_MOMENT_MARK = datetime.datetime(1901, 2, 3, 4, 5, 6, tzinfo=datetime.UTC)
_MARKED_TYPES = (int, datetime.datetime)


def _markable(value: Any) -> bool:
    """An input ``_compile`` can stand a marker in for: an integer, or an aware timestamp."""
    if type(value) is datetime.datetime:
        return value.tzinfo is not None
    return type(value) is int


def _marks(ids: tuple[Any, ...]) -> dict[Any, int]:
    return {
        (_MOMENT_MARK + datetime.timedelta(microseconds=i) if type(value) is datetime.datetime else _MARK - i): i
        for i, value in enumerate(ids)
    }


def _compile(
    build: Callable[..., QuerySet], ids: tuple[Any, ...]
) -> tuple[str, tuple[Any, ...], tuple[tuple[int, int], ...]] | None:
    marks = _marks(ids)
    sql, params = build(*marks).query.sql_with_params()
    slots = tuple((j, marks[p]) for j, p in enumerate(params) if type(p) in _MARKED_TYPES and p in marks)
    if {i for _j, i in slots} != set(range(len(ids))):
        return None  # an input did not reach the parameters unchanged: the ORM's way then
    return sql, tuple(params), slots


def compiled_rows(key: Hashable, build: Callable[..., QuerySet], *ids: Any) -> list[tuple]:
    """The rows of ``build(*ids)``, a ``values_list`` query whose only varying inputs are
    ``ids``: integers (primary and foreign keys) or aware timestamps, of the types ``key``
    implies. On PostgreSQL its SQL is compiled by the ORM once per process and ``key``, and
    run as a prepared statement: building and compiling the query was most of the Python time
    of the write path's small lookups, and planning most of PostgreSQL's (docs/performance.md,
    "fourth pass"). Only for statements whose plan suits every input (lookups by a key, a few
    rows each). Columns come as psycopg reads them, without Django's converters: no custom
    fields; a JSON column is its text (the caller decodes it). Elsewhere: the ORM, as written."""
    if connections[DEFAULT_DB_ALIAS].vendor != "postgresql":
        return list(build(*ids))
    if not all(map(_markable, ids)):
        return list(build(*ids))
    entry = _COMPILED.get(key)
    if entry is None:
        entry = _compile(build, ids)
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
        obj = model.from_db(DEFAULT_DB_ALIAS, fields, row[: len(fields)])
        start = len(fields)
        for name, rel, names in shapes:
            setattr(obj, name, rel.from_db(DEFAULT_DB_ALIAS, names, row[start : start + len(names)]))
            start += len(names)
        objects.append(obj)
    return objects


# --- Inserts and updates by key, written once per process ------------------------------------

# SQL text by (operation, model, shape). Bounded like _COMPILED.
_WRITES: dict[Hashable, str] = {}
# More rows than this go through bulk_create (its batches), not a statement of their own.
_INSERT_ROWS_MAX = 16


def _write_statement(key: Hashable, build: Callable[[], str]) -> str:
    sql = _WRITES.get(key)
    if sql is None:
        if len(_WRITES) >= _COMPILED_MAX:
            _WRITES.clear()
        sql = _WRITES[key] = build()
    return sql


def _insert_fields(model: type[Model]) -> list[Any]:
    return [f for f in model._meta.concrete_fields if f is not model._meta.auto_field and not f.generated]


def rows_insert(objs: list[Model]) -> list[Model]:
    """``Model.objects.bulk_create(objs)`` for a few new rows of one model with an automatic
    primary key, which is set on each: the same values (each field's ``pre_save`` and
    ``get_db_prep_save``, as the ORM's insert prepares them), the same statement on every
    database, its text written once per process and model and number of rows, and prepared on
    PostgreSQL. Building and compiling the ORM's insert was most of the Python time of the
    write path's inserts (docs/performance.md, "fifth pass"). No signals, as ``bulk_create``;
    more than 16 rows go through ``bulk_create`` itself."""
    if not objs:
        return objs
    model = type(objs[0])
    if len(objs) > _INSERT_ROWS_MAX:
        return model.objects.bulk_create(objs)
    fields = _insert_fields(model)
    db = connections[DEFAULT_DB_ALIAS]
    qn = db.ops.quote_name
    sql = _write_statement(
        ("insert", model, len(objs)),
        lambda: (
            f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) VALUES "  # noqa: S608 - names from the model
            + ", ".join([f"({', '.join(['%s'] * len(fields))})"] * len(objs))
            + f" RETURNING {qn(model._meta.pk.column)}"
        ),
    )
    values = []
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="bulk_create")
        values += [f.pre_save(obj, True) for f in fields]
    if any(hasattr(value, "resolve_expression") for value in values):
        return model.objects.bulk_create(objs)  # an expression (a database default, F()): the ORM's way
    params = [f.get_db_prep_save(value, connection=db) for f, value in zip(fields * len(objs), values, strict=True)]
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        keys = cursor.fetchall()
    for obj, (pk,) in zip(objs, keys, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = DEFAULT_DB_ALIAS
    return objs


def row_update(obj: Model, fields: tuple[str, ...]) -> None:
    """``obj.save(update_fields=fields)`` for a row that exists: the named fields of the row
    with ``obj``'s primary key set to ``obj``'s values, prepared as the ORM's update prepares
    them, in a statement written once per process and prepared on PostgreSQL (``rows_insert``).
    Raises ``DatabaseError`` when no row was updated, as ``save(update_fields=...)`` does."""
    model = type(obj)
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    db = connections[DEFAULT_DB_ALIAS]
    qn = db.ops.quote_name
    sql = _write_statement(
        ("update", model, fields),
        lambda: (
            f"UPDATE {qn(meta.db_table)} SET {', '.join(f'{qn(f.column)} = %s' for f in columns)} "  # noqa: S608 - names from the model
            f"WHERE {qn(meta.pk.column)} = %s"
        ),
    )
    obj._prepare_related_fields_for_save(operation_name="save", fields=columns)
    params = [f.get_db_prep_save(f.pre_save(obj, False), connection=db) for f in columns]
    with prepared_cursor() as cursor:
        cursor.execute(sql, [*params, meta.pk.get_db_prep_value(obj.pk, db)])
        if cursor.rowcount != 1:
            raise DatabaseError(f"{meta.label} {obj.pk}: the update matched {cursor.rowcount} rows.")
