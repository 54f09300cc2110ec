"""``portal.db.prepared_cursor``: the API token statement is prepared on PostgreSQL (planned once
per connection), still seen by the execute wrappers (query counts), and answers what the
ordinary cursor answers; the ORM's own statements are never prepared (docs/performance.md,
"fourth pass")."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

import pytest
from django.db import connection
from django.test import Client

from accounts.roles import Role
from api import tokens
from api.services import api_token_create
from portal.db import prepared_cursor
from tests.activations.helpers import flex_customer

pytestmark = pytest.mark.django_db


def _prepared_statements() -> list[str]:
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_the_token_statement_is_prepared_once_and_counted(member_factory: Callable) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only (elsewhere the token is read through the ORM)")
    customer = flex_customer()
    membership = member_factory(role=Role.VIEWER, customer=customer)
    _token, raw = api_token_create(customer=customer, actor=membership.user, name="p", role=Role.VIEWER)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    url = f"/api/v1/customers/{customer.number}/entitlements/?limit=10"
    seen: list[str] = []

    def wrapper(execute: Callable, sql: str, params: object, many: bool, context: dict) -> object:
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        for _ in range(3):
            assert client.get(url).status_code == HTTPStatus.OK
    assert seen.count(tokens.TOKEN_SQL) == 3
    prepared = _prepared_statements()
    token_statements = [s for s in prepared if "FROM api_apitoken t" in s]
    assert len(token_statements) == 1, prepared
    # The page is not prepared (a plan fitted to one customer's numbers, docs/performance.md).
    assert not [s for s in prepared if "entitlements_entitlement" in s and "ORDER BY 1" in s], prepared


def test_the_prepared_statement_answers_what_the_ordinary_cursor_answers(member_factory: Callable) -> None:
    customer = flex_customer()
    membership = member_factory(role=Role.ADMINISTRATOR, customer=customer)
    _token, raw = api_token_create(customer=customer, actor=membership.user, name="p", role=Role.VIEWER)
    now = tokens.timezone.now()
    params = [tokens.token_hash(raw), now]
    with connection.cursor() as cursor:
        cursor.execute(tokens.TOKEN_SQL, params)
        expected = cursor.fetchall()
    for _ in range(3):  # prepared at the first, then executed by name
        with prepared_cursor() as cursor:
            cursor.execute(tokens.TOKEN_SQL, params)
            assert cursor.fetchall() == expected
    assert len(expected) == 1
    assert tokens.authenticate(raw).membership.pk == membership.pk


def test_without_prepared_statements_the_ordinary_cursor_is_used(settings, member_factory: Callable) -> None:
    """``DATABASE_PREPARED_STATEMENTS=0`` (``prepare_threshold`` None): nothing is prepared."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    customer = flex_customer()
    membership = member_factory(role=Role.VIEWER, customer=customer)
    _token, raw = api_token_create(customer=customer, actor=membership.user, name="p", role=Role.VIEWER)
    connection.ensure_connection()
    threshold = connection.connection.prepare_threshold
    connection.connection.prepare_threshold = None
    try:
        with connection.cursor() as cursor:
            cursor.execute("DEALLOCATE ALL")
        for _ in range(3):
            assert tokens.authenticate(raw) is not None
        assert _prepared_statements() == []
    finally:
        connection.connection.prepare_threshold = threshold


def test_the_query_log_shows_a_prepared_statement_with_its_parameters() -> None:
    """``DEBUG``'s query log and ``CaptureQueriesContext`` read the statement back from the
    cursor; psycopg leaves that empty for a prepared statement, ``portal.db`` fills it in."""
    from django.test.utils import CaptureQueriesContext

    customer = flex_customer()
    with CaptureQueriesContext(connection) as queries:
        for _ in range(2):  # prepared, then executed by name
            with prepared_cursor() as cursor:
                cursor.execute("SELECT number FROM accounts_customer WHERE id = %s", [customer.pk])
                assert cursor.fetchall() == [(customer.number,)]
    assert [q["sql"] for q in queries.captured_queries] == [
        f"SELECT number FROM accounts_customer WHERE id = {customer.pk}"
    ] * 2


def test_the_kept_cursor_logs_each_statement_as_its_own() -> None:
    """The connection's prepared cursor is kept between uses (``portal.db._kept_cursor``): the
    query log shows each statement with its own parameters, not the one before, whether
    logging was on when the cursor was made or not."""
    from django.test.utils import CaptureQueriesContext

    customer = flex_customer()
    with prepared_cursor() as cursor:  # made while nothing is logged
        cursor.execute("SELECT 1 WHERE 1 = %s", [1])
    statements = [
        ("SELECT number FROM accounts_customer WHERE id = %s", customer.pk),
        ("SELECT name FROM accounts_customer WHERE id = %s", customer.pk),
        ("SELECT number FROM accounts_customer WHERE id = %s", 0),
    ]
    with CaptureQueriesContext(connection) as queries:
        for sql, value in statements:
            with prepared_cursor() as cursor:
                cursor.execute(sql, [value])
                cursor.fetchall()
    assert [q["sql"] for q in queries.captured_queries] == [sql % value for sql, value in statements]


@pytest.mark.django_db(transaction=True)  # closes the connection: no test transaction around it
def test_the_kept_cursor_follows_a_new_connection_and_a_failed_statement() -> None:
    from django.db import IntegrityError, transaction

    customer = flex_customer()
    with prepared_cursor() as first:
        first.execute("SELECT number FROM accounts_customer WHERE id = %s", [customer.pk])
    connection.close()  # a worker's connection closed (CONN_MAX_AGE, an error): a new one next
    with prepared_cursor() as cursor:
        cursor.execute("SELECT number FROM accounts_customer WHERE id = %s", [customer.pk])
        assert cursor.fetchall() == [(customer.number,)]
    assert cursor is not first
    with pytest.raises(IntegrityError), transaction.atomic(), prepared_cursor() as cursor:
        cursor.execute("UPDATE accounts_customer SET number = NULL WHERE id = %s", [customer.pk])
    with prepared_cursor() as cursor:  # the same cursor, usable after the rollback
        cursor.execute("SELECT number FROM accounts_customer WHERE id = %s", [customer.pk])
        assert cursor.fetchall() == [(customer.number,)]
