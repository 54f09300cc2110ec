"""The cached fragments are never stale, on PostgreSQL and on the embedded SQLite default.

Which tables need a version trigger is not kept by hand: every customer page is rendered
with a cold cache while the SQL each cached fragment runs (``portal.fragments._through_cache``)
is captured, and every table that SQL reads must carry a trigger in the database's own
catalogue (``pg_trigger`` / ``sqlite_master``) that raises ``Customer.data_version``. A new
fragment, or a fragment reading a new table, is checked without anyone remembering to.

The whole module, and ``test_fragments.py``, also run on SQLite (``make run``'s default):
``test_the_fragment_tests_pass_on_sqlite`` runs them in a subprocess with a SQLite database.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import defaultdict
from http import HTTPStatus
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

import portal.fragments
from accounts.models import Customer
from accounts.roles import Role
from activations.models import LicenseFile
from entitlements.models import LicensingModel, Product
from entitlements.services import entitlement_import
from tests.activations.helpers import activate, flex_customer, setup_server
from tests.customer_urls import customer_routes
from tests.factories import EntitlementFactory, MembershipFactory, ProductFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]

_TABLE = re.compile(r'\b(?:FROM|JOIN)\s+"?([A-Za-z_][A-Za-z0-9_]*)"?', re.IGNORECASE)
ALL_EVENTS = frozenset({"INSERT", "UPDATE", "DELETE"})
# The customer row carries the version itself: its trigger raises it on any UPDATE (a new
# customer has no cached fragment yet, a deleted one is never shown again).
EVENTS_NEEDED = {Customer._meta.db_table: frozenset({"UPDATE"})}


def version_triggers() -> dict[str, frozenset[str]]:
    """Table -> the events on which a trigger raises a customer's data version, read from the
    database's catalogue."""
    found: dict[str, set[str]] = defaultdict(set)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname, t.tgtype FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_proc p ON p.oid = t.tgfoid WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' "
                "AND p.prosrc LIKE '%%data_version%%'"
            )
            for table, tgtype in cursor.fetchall():  # pg_trigger.h: 4 INSERT, 8 DELETE, 16 UPDATE
                found[table] |= {event for bit, event in ((4, "INSERT"), (8, "DELETE"), (16, "UPDATE")) if tgtype & bit}
        else:
            cursor.execute(
                "SELECT tbl_name, sql FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%data_version%'"
            )
            for table, sql in cursor.fetchall():
                found[table] |= set(re.findall(r"\b(?:AFTER|BEFORE)\s+(INSERT|UPDATE|DELETE)\b", sql, re.IGNORECASE))
    return {table: frozenset(events) for table, events in found.items()}


def rich_customer() -> Customer:
    """A customer whose landing pages show something of every kind: lines of every licensing
    model, a server with hosts, activations and a license file."""
    customer = flex_customer()
    server, line = setup_server(customer, quantity=10)
    for model in (LicensingModel.SHARED_WEB, LicensingModel.ELASTIC):
        EntitlementFactory(customer=customer, product=ProductFactory(feature=f"f_{model}", licensing_model=model))
    member = MembershipFactory(customer=customer, role=Role.ASC)
    activate(server, member.user, {line.pk: 3})
    return customer


@pytest.fixture
def capture_fragments(monkeypatch) -> dict[str, list[str]]:
    """The SQL run while computing each cached fragment or value, by its name."""
    captured: dict[str, list[str]] = defaultdict(list)
    through_cache = portal.fragments._through_cache

    def capturing(*, name, key, compute):
        def compute_captured():
            with CaptureQueriesContext(connection) as queries:
                value = compute()
            captured[name].extend(query["sql"] for query in queries.captured_queries)
            return value

        return through_cache(name=name, key=key, compute=compute_captured)

    monkeypatch.setattr(portal.fragments, "_through_cache", capturing)
    return captured


def test_every_table_a_cached_fragment_reads_has_a_version_trigger(capture_fragments, settings) -> None:
    settings.PORTAL_FRAGMENT_CACHE_SECONDS = 600
    customer = rich_customer()
    for role in (Role.VIEWER, Role.ASC):
        client = Client()
        client.force_login(MembershipFactory(customer=customer, role=role).user)
        for route in customer_routes():  # every customer page, with a cold cache (conftest)
            if route.view_class is not None and "<" not in route.route.replace("<str:customer_number>", ""):
                client.get(route.path(customer.number))

    assert {"entitlements", "entitlement_charts", "activations", "activations_unavailable", "site_header"} <= set(
        capture_fragments
    ), set(capture_fragments)
    triggers = version_triggers()
    missing = {}
    for name, statements in capture_fragments.items():
        for sql in statements:
            for table in _TABLE.findall(sql):
                needed = EVENTS_NEEDED.get(table, ALL_EVENTS)
                if not needed <= triggers.get(table, frozenset()):
                    missing.setdefault(table, (name, sorted(needed - triggers.get(table, frozenset())), sql[:200]))
    assert not missing, missing


def test_the_catalogue_query_sees_the_triggers() -> None:
    """The check above is only as good as its reading of the catalogue."""
    triggers = version_triggers()
    assert triggers["entitlements_entitlement"] == ALL_EVENTS
    assert triggers["activations_activation"] == ALL_EVENTS
    assert "UPDATE" in triggers[Customer._meta.db_table]
    assert "accounts_user" not in triggers


# --- end to end: a cached page, a change through a service, the page again ---------------------


def _page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == HTTPStatus.OK, response.status_code
    return response.content.decode()


def test_a_change_through_a_service_shows_on_the_next_view_of_the_cached_pages(settings, staff_user) -> None:
    settings.PORTAL_FRAGMENT_CACHE_SECONDS = 600
    customer = flex_customer()
    server, line = setup_server(customer, quantity=10)
    asc = MembershipFactory(customer=customer, role=Role.ASC)
    client = Client()
    client.force_login(asc.user)
    entitlements = reverse("entitlements:list", args=[customer.number])
    activations = reverse("activations:list", args=[customer.number])
    assert "Nothing activated yet" in _page(client, activations)
    new_line = f"{customer.number}-7777"
    assert new_line not in _page(client, entitlements)
    assert new_line not in _page(client, entitlements)  # from the cache

    activate(server, asc.user, {line.pk: 4})  # activations service
    assert "Nothing activated yet" not in _page(client, activations)
    assert LicenseFile.objects.filter(server=server).exists()

    product = Product.objects.get(pk=line.product_id)
    entitlement_import(
        actor=staff_user,
        text=(
            "customer_number,line_id,order_number,feature,quantity,start_date,end_date,tecs_end_date,borrowable\n"
            f"{customer.number},{new_line},SO-E2E-1,{product.feature},3,2026-01-01,,,no\n"
        ),
    )  # the support console's import service
    assert new_line in _page(client, entitlements)


# --- the same tests on SQLite, the embedded default ------------------------------------------------


@pytest.mark.skipif(os.environ.get("PORTAL_TESTS_ON_SQLITE") == "1", reason="already running on SQLite")
def test_the_fragment_tests_pass_on_sqlite(tmp_path) -> None:
    """``make run`` uses SQLite: the page-fragment tests (this module, ``test_fragments.py`` and
    the API's kept first pages, ``tests/api/test_list_cache.py``) must pass there too, with a
    fresh database migrated from scratch (so a migration that rebuilds a table and drops its
    triggers is caught)."""
    env = {
        **os.environ,
        "PORTAL_TESTS_ON_SQLITE": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
    }
    env.pop("REDIS_URL", None)  # the embedded default: no Redis
    result = subprocess.run(  # our own test files, no user input
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--create-db",
            "tests/portal/test_fragments.py",
            "tests/portal/test_fragment_versions.py",
            "tests/api/test_list_cache.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
