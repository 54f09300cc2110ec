"""``portal.db.compiled_rows``: the write path's small lookups, compiled once per process and
prepared on PostgreSQL, answer what the ORM answers, for every id (docs/performance.md,
"fourth pass"). On SQLite they are the ORM's own queries."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import pytest
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from accounts.models import AuditEvent
from accounts.notifications import _recipient_rows
from accounts.roles import Role
from activations.models import Activation, ActivationSubmission, LicenseFile, ReturnedLicenses, ServerHost
from activations.selectors import _returned_licenses, server_get
from activations.services import (
    _activations_locked,
    _last_version,
    _lock_entitlements,
    _lock_server,
    _server_hosts,
    license_file_render,
)
from entitlements.models import Entitlement
from entitlements.selectors import customer_has_flexnet, flexnet_lines
from portal import db
from tests.activations.helpers import activate, flex_customer, setup_server
from tests.factories import CustomerFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_worlds(member_factory: Callable) -> list[dict]:
    """Two customers, each a server with different hosts (three, one), activations, versions
    and ASCs."""
    worlds = []
    for n, (hosts, quantity, versions) in enumerate([(("alpha", "beta"), 3, 2), ((), 1, 1)]):
        customer = flex_customer()
        server, line = setup_server(customer, quantity=10)
        for position, name in enumerate(hosts):
            ServerHost.objects.create(
                server=server,
                customer=customer,
                position=2 + position,
                host_name=name,
                hostid_type="ETHER",
                host_id=f"0A0B0C0D0E{n}{position}",
            )
        admin = member_factory(role=Role.ADMINISTRATOR, customer=customer).user
        for i in range(versions):
            activate(server, admin, {line.pk: quantity + i})
        MembershipFactory(customer=customer, role=Role.ASC, user__email=f"asc{n}@example.com")
        inactive = MembershipFactory(customer=customer, role=Role.ASC, user__email=f"gone{n}@example.com")
        inactive.user.is_active = False
        inactive.user.save()
        worlds.append({"customer": customer, "server": server})
    worlds.append({"customer": CustomerFactory(), "server": None})  # no line at all, no ASC
    return worlds


def _answers(worlds: list[dict]) -> list:
    answers = []
    for world in worlds:
        customer, server = world["customer"], world["server"]
        answers.append((customer_has_flexnet(customer=customer), _recipient_rows(customer)))
        if server is not None:
            with transaction.atomic():
                locked = _activations_locked(server)
            current = {k: (a.pk, a.quantity, a.borrowable) for k, a in locked[0].items()}
            answers.append((_server_hosts(server), _last_version(server), current, locked[1]))
    return answers


def test_compiled_lookups_answer_what_the_orm_answers(two_worlds, monkeypatch) -> None:
    db._COMPILED.clear()
    compiled = [_answers(two_worlds), _answers(two_worlds)]  # compiled, then reused for other ids
    monkeypatch.setattr(db, "_compile", lambda build, count: None)  # the ORM's way
    orm = _answers(two_worlds)
    assert compiled[0] == compiled[1] == orm
    first, second = orm[1], orm[3]
    assert [name for name, _id in first[0]][1:] == ["alpha", "beta"]
    assert len(second[0]) == 1
    assert (first[1], second[1]) == (2, 1)
    assert orm[0][0] is True
    assert [email for email, _language in orm[0][1]] == ["asc0@example.com"]
    assert orm[4] == (False, [])


def test_the_file_is_the_same_through_compiled_lookups(two_worlds) -> None:
    server = two_worlds[0]["server"]
    stored = LicenseFile.objects.select_related("server__customer").filter(server=server).latest("version")
    db._COMPILED.clear()
    assert license_file_render(server=stored.server, version=stored.version) == stored.content


def test_an_id_that_does_not_reach_the_parameters_unchanged_falls_back_to_the_orm() -> None:
    customer = flex_customer()
    rows = db.compiled_rows(
        "test.shifted",
        lambda customer_id: type(customer).objects.filter(pk=customer_id + 1).values_list("pk"),
        customer.pk - 1,
    )
    assert rows == [(customer.pk,)]
    assert "test.shifted" not in db._COMPILED


def _fields(obj: object) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def _instances(worlds: list[dict]) -> list:
    answers = []
    for world in worlds[:2]:
        customer, server = world["customer"], world["server"]
        line_ids = sorted(Entitlement.objects.filter(customer=customer).values_list("pk", flat=True))
        with transaction.atomic():
            locked = _lock_server(server)
            lines = _lock_entitlements(customer, [*line_ids, line_ids[0]])
        found = server_get(customer=customer, server_id=server.pk, hosts=False)
        others = Entitlement.objects.exclude(customer=customer).values_list("pk", flat=True)
        posted = flexnet_lines(customer=customer, ids=[*line_ids, *others])  # another customer's lines too
        answers.append(
            (
                _fields(locked),
                _fields(locked.customer),
                {pk: (_fields(e), _fields(e.product)) for pk, e in lines.items()},
                _fields(found),
                server_get(customer=customer, server_id=server.pk + 10_000, hosts=False),
                [(_fields(e), _fields(e.product)) for e in posted],
                # Past 64 posted ids (and ids no line has): the ORM's query, the same lines.
                [_fields(e) for e in flexnet_lines(customer=customer, ids=[*line_ids, *range(10**17, 10**17 + 70)])]
                == [_fields(e) for e in posted],
            )
        )
    return answers


def test_compiled_instances_are_the_orm_instances(two_worlds, monkeypatch) -> None:
    db._COMPILED.clear()
    compiled = [_instances(two_worlds), _instances(two_worlds)]
    monkeypatch.setattr(db, "_compile", lambda build, count: None)
    orm = _instances(two_worlds)
    assert compiled[0] == compiled[1] == orm
    assert orm[0][0]["id"] == two_worlds[0]["server"].pk
    assert len(orm[0][2]) == 2  # the customer's FlexNet line and the server's line
    assert orm[0][4] is None
    assert orm[0][6] is True
    assert [e["customer_id"] for e, _product in orm[0][5]] == [two_worlds[0]["customer"].pk] * 2
    assert [e["line_id"] for e, _product in orm[0][5]] == sorted(e["line_id"] for e, _product in orm[0][5])


def test_returned_licenses_through_a_compiled_statement_are_the_orms(two_worlds, monkeypatch) -> None:
    """A timestamp among the inputs (``since``), and a JSON column read as its text."""
    now = timezone.now()
    server = two_worlds[0]["server"]
    lines = list(Entitlement.objects.filter(customer=server.customer).order_by("pk"))
    for days, line, hosts, remaining in [
        (400, lines[0], ["OLD1"], 2),  # before the window
        (30, lines[0], ["AAAA", "BBBB"], 1),
        (20, lines[1], ["CCCC"], 0),  # nothing left
        (10, lines[1], ["DDDD"], 3),
    ]:
        ReturnedLicenses.objects.create(
            customer=server.customer,
            entitlement=line,
            server=server,
            host_ids=hosts,
            quantity=3,
            remaining=remaining,
            created_at=now - datetime.timedelta(days=days),
        )
    other = two_worlds[1]["server"]

    def answer() -> list:
        since = now - datetime.timedelta(days=365)
        return [
            _returned_licenses(
                server=server, host_ids=["BBBB", "AAAA"], entitlement_ids=[e.pk for e in lines], since=since
            ),
            _returned_licenses(server=other, host_ids=[], entitlement_ids=[lines[1].pk], since=since),
            _returned_licenses(
                server=server, host_ids=[], entitlement_ids=[lines[1].pk], since=now - datetime.timedelta(days=15)
            ),
        ]

    db._COMPILED.clear()
    compiled = [answer(), answer()]
    monkeypatch.setattr(db, "_compile", lambda build, ids: None)
    orm = answer()
    assert compiled[0] == compiled[1] == orm
    assert orm[0] == {
        lines[0].pk: [(orm[0][lines[0].pk][0][0], True, ["AAAA", "BBBB"], 1)],
        lines[1].pk: [(orm[0][lines[1].pk][0][0], True, ["DDDD"], 3)],
    }
    assert orm[1] == {}  # another customer's server sees none of them
    assert list(orm[2]) == [lines[1].pk]


def _row(model: type, pk: int) -> dict:
    return {k: v for k, v in model.objects.filter(pk=pk).values().get().items() if k != "id"}


def test_rows_insert_and_row_update_write_what_the_orm_writes(two_worlds) -> None:
    """Every column as ``bulk_create`` / ``save(update_fields=...)`` writes it: JSON, an IP
    address, timestamps, foreign keys set through an object saved after assignment."""
    customer, server = two_worlds[0]["customer"], two_worlds[0]["server"]
    moment = timezone.now()

    def event() -> AuditEvent:
        return AuditEvent(
            customer=customer,
            actor_email="a@example.com",
            action="test.x",
            target="ş" * 255,
            details={"changes": [{"line": "L-1", "after": 2}], "é": "ü"},
            ip_address="2001:db8::1",
            created_at=moment,
        )

    [ours], [theirs] = db.rows_insert([event()]), AuditEvent.objects.bulk_create([event()])
    assert ours.pk != theirs.pk
    assert not ours._state.adding
    assert _row(AuditEvent, ours.pk) == _row(AuditEvent, theirs.pk)
    assert [e.pk for e in db.rows_insert([event(), event(), event()])] == sorted(
        AuditEvent.objects.filter(pk__gt=ours.pk).exclude(pk=theirs.pk).values_list("pk", flat=True)
    )
    many = db.rows_insert([event() for _ in range(20)])  # past 16 rows: bulk_create's batches
    assert len({e.pk for e in many}) == 20

    latest = LicenseFile.objects.filter(server=server).latest("version")
    first, second = (
        ActivationSubmission(token=f"tok{n}", customer=customer, server=server, changes=[{"a": 1}]) for n in (1, 2)
    )
    db.rows_insert([first])
    second.save()
    for submission, write in ((first, db.row_update), (second, None)):
        submission.license_file = latest
        submission.changes = [{"line": "L-1", "delta": -1}]
        if write:
            write(submission, ("license_file", "changes"))
        else:
            submission.save(update_fields=["license_file", "changes"])
    made = {"token": "", "created_at": None}  # the two differ in these, by construction
    assert {**_row(ActivationSubmission, first.pk), **made} == {**_row(ActivationSubmission, second.pk), **made}

    activation = Activation.objects.filter(server=server).first()
    activation.quantity, activation.updated_at = 7, moment
    db.row_update(activation, ("quantity", "updated_at"))
    stored = Activation.objects.get(pk=activation.pk)
    assert (stored.quantity, stored.updated_at) == (7, moment)


def test_row_update_of_a_missing_row_and_a_taken_token_raise_as_the_orm_does(two_worlds) -> None:
    customer, server = two_worlds[0]["customer"], two_worlds[0]["server"]
    gone = ActivationSubmission(pk=10**9, token="gone", customer=customer, server=server)
    with pytest.raises(DatabaseError), transaction.atomic():
        db.row_update(gone, ("changes",))
    db.rows_insert([ActivationSubmission(token="same", customer=customer, server=server)])
    with pytest.raises(IntegrityError), transaction.atomic():
        db.rows_insert([ActivationSubmission(token="same", customer=customer, server=server)])
