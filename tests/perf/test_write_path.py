"""The API's hot list and the activation write path (issue 16): pinned query and commit counts,
and the shortcuts they rely on checked against the long way (docs/performance.md).

Counted with ``transaction=True`` (no test transaction around the request), so that the
transactions are the ones production runs: one commit per apply, the token's ``api_token.used``
audit inside it.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, Customer, Notification
from accounts.roles import Role
from activations.models import LicenseFile
from activations.services import license_file_render
from api import http as api_http
from api.services import api_token_create
from tests.activations.helpers import flex_customer, setup_server
from tests.factories import EntitlementFactory, MembershipFactory

_keys = itertools.count()


class Counted:
    def __init__(self) -> None:
        self.queries: list[str] = []
        self.commits = 0


@contextmanager
def counted() -> Iterator[Counted]:
    """The statements a block sends and its commits: those of atomic blocks, and every write
    run in autocommit mode (a transaction of its own)."""
    result = Counted()
    commit = connection._commit

    def wrapper(execute: Callable, sql: str, params: Any, many: bool, context: dict) -> Any:
        if sql != "BEGIN":  # SQLite's backend starts a transaction with a statement of its own
            result.queries.append(sql)
        if not connection.in_atomic_block and sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            result.commits += 1
        return execute(sql, params, many, context)

    def counted_commit() -> None:
        result.commits += 1
        commit()

    connection._commit = counted_commit
    try:
        with connection.execute_wrapper(wrapper):
            yield result
    finally:
        del connection._commit  # the instance attribute; the class's method again


@pytest.fixture
def api_client(db: None, member_factory: Callable) -> Callable[..., Client]:
    """A client sending a fresh token of a new member (as tests/api/conftest.py's)."""

    def make(*, role: Role, customer: Customer) -> Client:
        membership = member_factory(role=role, customer=customer)
        _token, raw = api_token_create(customer=customer, actor=membership.user, name="perf", role=role)
        return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    return make


def _apply(client: Client, customer, server, line, quantity: int, key: str | None = None):
    return client.post(
        f"/api/v1/customers/{customer.number}/servers/{server.pk}/activations/apply",
        {"lines": [{"entitlement_id": line.pk, "quantity": quantity}]},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key or f"k{next(_keys)}",
    )


@pytest.fixture
def quiet_outbox(monkeypatch) -> None:
    """The outbox rows are written, the sending is not started: the tests' Celery runs tasks
    in-process at commit, and their own transactions are not the request's."""
    monkeypatch.setattr("accounts.notifications._enqueue", lambda ids: None)


@pytest.fixture
def apply_world(api_client, quiet_outbox):
    customer = flex_customer()
    server, line = setup_server(customer, quantity=100)
    MembershipFactory(customer=customer, role=Role.ASC)  # someone to notify
    client = api_client(role=Role.ADMINISTRATOR, customer=customer)
    # The first apply issues version 1 and records the token's first use (last used, once a minute).
    assert _apply(client, customer, server, line, 1).status_code == HTTPStatus.OK
    return client, customer, server, line


# --- The API list ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_entitlements_list_is_two_queries_at_any_size(api_client) -> None:
    """The token (with its owner's membership and customer) and the page: nothing else, for
    10 lines as for 1,000."""
    customer = flex_customer()
    client = api_client(role=Role.VIEWER, customer=customer)
    url = f"/api/v1/customers/{customer.number}/entitlements/?limit=100"
    assert client.get(url).status_code == HTTPStatus.OK  # first use recorded
    counts = []
    for more in (9, 990):  # 10 lines, then 1,000
        EntitlementFactory.create_batch(more, customer=customer)
        with counted() as c:
            response = client.get(url)
        assert response.status_code == HTTPStatus.OK
        assert len(response.json()["results"]) == (10 if more == 9 else 100)
        counts.append(len(c.queries))
    assert counts == [2, 2], counts


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["", "&status=active", "&model=flexnet", "&q=9999", "&limit=7"])
def test_compiled_page_statement_answers_what_the_orm_answers(api_client, query) -> None:
    """The page statement compiled once and reused (``api.http._page_statement``) gives the
    same pages, cursor after cursor, as the query built and compiled for each request."""
    customer = flex_customer()
    EntitlementFactory.create_batch(25, customer=customer)
    client = api_client(role=Role.VIEWER, customer=customer)

    def walk() -> list[dict]:
        pages, url = [], f"/api/v1/customers/{customer.number}/entitlements/?limit=10{query}"
        while url:
            body = client.get(url).json()
            pages.append(body)
            cursor = body["next_cursor"]
            url = f"/api/v1/customers/{customer.number}/entitlements/?limit=10{query}&cursor={cursor}" if cursor else ""
        return pages

    compiled = walk()
    api_http._STATEMENTS.clear()
    original = api_http._page_statement
    api_http._page_statement = lambda *args: None  # the ORM path
    try:
        assert walk() == compiled
    finally:
        api_http._page_statement = original
    assert sum(len(p["results"]) for p in compiled) >= 1


# --- The API apply --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_api_apply_is_one_commit_and_pinned_queries(apply_world) -> None:
    client, customer, server, line = apply_world
    with counted() as c:
        response = _apply(client, customer, server, line, 2)
    assert response.status_code == HTTPStatus.OK, response.content
    assert c.commits == 1, c.queries
    # Token; activations visible; server; lock; activations locked (with the file's rows);
    # changing line locked; hosts; returned licenses; last version; audit events (one
    # statement: api_token.used + activation.changed); webhook endpoints; ASC recipients with
    # their languages; notification; the activation; the line's total; the file; the submission
    # (inserted last, with its result: a repeated token fails there and rolls back).
    assert len(c.queries) == 17, "\n".join(q[:120] for q in c.queries)
    used = AuditEvent.objects.filter(action="api_token.used")
    assert used.count() == 2  # the set-up's apply and this one, one each
    assert AuditEvent.objects.filter(action="activation.changed").count() == 2


@pytest.mark.django_db(transaction=True)
def test_api_token_use_is_audited_once_when_the_apply_is_refused(apply_world) -> None:
    """The audit waits for the change's transaction; when that rolls back (more than the line
    has), it is recorded on its own: still exactly once."""
    client, customer, server, line = apply_world
    response = _apply(client, customer, server, line, 1_000)
    assert response.status_code == HTTPStatus.CONFLICT, response.content
    assert AuditEvent.objects.filter(action="api_token.used").count() == 2
    assert AuditEvent.objects.filter(action="activation.changed").count() == 1
    plan = client.post(
        f"/api/v1/customers/{customer.number}/servers/{server.pk}/activations/plan",
        {"lines": [{"entitlement_id": line.pk, "quantity": 3}]},
        content_type="application/json",
    )
    assert plan.status_code == HTTPStatus.OK
    assert AuditEvent.objects.filter(action="api_token.used").count() == 3  # a dry run writes nothing else


@pytest.mark.django_db(transaction=True)
def test_a_repeated_key_is_audited_and_applies_once(apply_world) -> None:
    client, customer, server, line = apply_world
    first = _apply(client, customer, server, line, 5, key="again")
    second = _apply(client, customer, server, line, 5, key="again")
    assert first.json()["already_applied"] is False
    assert second.json()["already_applied"] is True
    assert AuditEvent.objects.filter(action="api_token.used").count() == 3
    assert AuditEvent.objects.filter(action="activation.changed").count() == 2
    assert LicenseFile.objects.filter(server=server).count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_file_rendered_before_the_writes_is_the_file_of_the_written_activations(apply_world) -> None:
    """The apply renders the next version from the locked rows and the planned changes, before
    it writes them: it must be, byte for byte, the file rendered afterwards from the database,
    for an increase, a new line, a line returned to 0 and a borrowable change."""
    client, customer, server, line = apply_world
    extra = EntitlementFactory(customer=customer, quantity=9, borrowable=True, line_id=f"{customer.number}-0001")
    steps = [
        [{"entitlement_id": line.pk, "quantity": 4}],
        [{"entitlement_id": extra.pk, "quantity": 2, "borrowable": True}],
        [{"entitlement_id": line.pk, "quantity": 0}, {"entitlement_id": extra.pk, "quantity": 3}],
    ]
    for lines in steps:
        response = client.post(
            f"/api/v1/customers/{customer.number}/servers/{server.pk}/activations/apply",
            {"lines": lines},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=f"k{next(_keys)}",
        )
        assert response.status_code == HTTPStatus.OK, response.content
        stored = LicenseFile.objects.select_related("server__customer").get(
            server=server, version=response.json()["license_file_version"]
        )
        assert stored.content == license_file_render(server=stored.server, version=stored.version)
    assert "INCREMENT" in stored.content
    assert line.line_id not in stored.content


# --- The web confirm ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_web_confirm_is_one_commit_and_pinned_queries(member_client, quiet_outbox) -> None:
    customer = flex_customer()
    server, line = setup_server(customer, quantity=100)
    MembershipFactory(customer=customer, role=Role.ASC)
    client = member_client(role=Role.ADMINISTRATOR, customer=customer)
    url = reverse("activations:activate_apply", args=[customer.number, server.pk])

    def confirm(quantity: int) -> Any:
        return client.post(url, {"token": f"t{next(_keys)}", "deliver": "download", f"qty_{line.pk}": quantity})

    assert confirm(1).status_code == HTTPStatus.FOUND
    with counted() as c:
        response = confirm(2)
    assert response.status_code == HTTPStatus.FOUND
    assert c.commits == 1, c.queries
    # The session (here from the database; production reads it from Redis), its user, the
    # memberships, the posted line (found, it also answers "activations visible" but for the
    # customer's flag); then the service's 14, as for the API (no token). Not read first: the
    # server (the service's lock refuses another customer's or a retired one) and its
    # activations (every posted line has its quantity).
    assert len(c.queries) == 18, "\n".join(q[:120] for q in c.queries)
    assert Notification.objects.filter(event="activation.changed").count() == 2


def _token_cases(db) -> dict[str, str]:
    """Raw tokens in every state the lookup must tell apart."""
    from django.utils import timezone

    from accounts.models import Membership
    from api.models import ApiToken
    from tests.factories import CustomerFactory

    customer, other = CustomerFactory(), CustomerFactory()
    owner = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR).user
    MembershipFactory(customer=other, user=owner, role=Role.VIEWER)  # a second membership
    cases = {}
    for name in ("valid", "revoked", "expired", "owner_inactive", "owner_removed", "other_customer"):
        user = owner
        if name in ("owner_inactive", "owner_removed"):
            user = MembershipFactory(customer=customer, role=Role.ASC).user
        token, raw = api_token_create(
            customer=other if name == "other_customer" else customer, actor=user, name=name, role=Role.VIEWER
        )
        cases[name] = raw
        if name == "revoked":
            ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
        elif name == "expired":
            ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
        elif name == "owner_inactive":
            type(user).objects.filter(pk=user.pk).update(is_active=False)
        elif name == "owner_removed":
            Membership.objects.filter(user=user, customer=customer).delete()
    return cases


def test_the_token_statement_answers_what_the_orm_answers(db) -> None:
    """The precompiled token lookup (PostgreSQL) and the ORM lookup (SQLite, ``make run``) are
    two codings of one rule: for a token in each state, both find the same token, owner,
    customer, role and membership, or both find nothing."""
    from django.utils import timezone

    from api import tokens

    if connection.vendor != "postgresql":
        pytest.skip("the precompiled statement runs on PostgreSQL only")
    cases = _token_cases(db)
    now = timezone.now()
    for name, raw in cases.items():
        statement, orm = tokens._token_row(raw, now), tokens._token_row_orm(raw, now)
        if orm is None:
            assert statement is None, name
            continue
        assert statement is not None, name
        (token_a, role_a, membership_a), (token_b, role_b, membership_b) = statement, orm
        assert (role_a, membership_a) == (role_b, membership_b), name
        for a, b in ((token_a, token_b), (token_a.user, token_b.user), (token_a.customer, token_b.customer)):
            fields = [f.attname for f in type(a)._meta.concrete_fields]
            assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields], name
    found = {name for name, raw in cases.items() if tokens._token_row(raw, now) is not None}
    assert found == {"valid", "other_customer"}
