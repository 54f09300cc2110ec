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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection


@functools.cache
def _prepared_cursor_class() -> type:
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparedCursor(ServerBindingCursor):
        """Server-side binding (a prepared statement needs it), and every statement prepared."""

        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            return super().execute(query, params, prepare=True)

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
