"""Every CSV export: no cell, nor any ``;``-joined part of one, can start a formula, and every
export is bounded (``portal.csv.EXPORT_MAX_ROWS``).

The exports are found from the URL resolver (every customer route answering ``text/csv``),
so a new export is checked as soon as it is routed.
"""

from __future__ import annotations

import csv
import datetime
import io
from http import HTTPStatus

import pytest
from django.test import Client
from django.utils import timezone
from hypothesis import example, given, settings
from hypothesis import strategies as st

import portal.csv
from accounts.models import Customer
from accounts.roles import Role
from entitlements.models import LicensingModel
from portal.csv import FORMULA_PREFIXES, csv_safe, csv_unsafe
from tests.customer_urls import customer_routes
from tests.factories import (
    AuditEventFactory,
    CustomerFactory,
    ElasticAccountFactory,
    ElasticUsageFactory,
    EntitlementFactory,
    MembershipFactory,
    ProductFactory,
    SharedWebGroupFactory,
    SharedWebUserFactory,
)

FORMULAS = ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "=cmd|' /C calc'!A0"]
JOINED = ["a; =1+1", "a;=1", "a;  +2", "x; y; @z", "a; '=1"]
EXPECTED_EXPORTS = {
    "entitlements:export",
    "audit:export",
    "licensing_settings:shared_web_users_export",
    "licensing_settings:elastic_usage_export",
}


def _starts_a_formula(cell: str) -> bool:
    """Whether a spreadsheet could run the cell, or any part of it split off at a ``;``."""
    return any(part.lstrip(" ").startswith(FORMULA_PREFIXES) for part in cell.split(";"))


def hostile_customer() -> Customer:
    """A customer with every exported kind of row, each text column a formula or a joined one."""
    customer = CustomerFactory(name='=HYPERLINK("x"); -1')
    values = iter(FORMULAS + JOINED)
    for model in LicensingModel.values:
        product = ProductFactory(feature=f"f_{model}", name=next(values), licensing_model=model)
        EntitlementFactory(customer=customer, product=product, order_number=next(values), quantity=10)
    group = SharedWebGroupFactory(customer=customer, name="=group")
    other = SharedWebGroupFactory(customer=customer, name="@other")
    user = SharedWebUserFactory(customer=customer, email="sam@example.org", name="Sam; =1+1")
    user.groups.set([group, other])
    for name in ("-Ann", "@Bob"):
        SharedWebUserFactory(customer=customer, email=f"{name[1:].lower()}@example.org", name=name)
    ElasticAccountFactory(customer=customer, pin="PIN0")
    now = timezone.now()
    elastic = ProductFactory(feature=f"f_{LicensingModel.ELASTIC}")
    for number, hostile in enumerate(FORMULAS + JOINED):
        ElasticUsageFactory(
            customer=customer,
            transaction_id=hostile[:60],
            started_at=now - datetime.timedelta(hours=number + 1),
            ended_at=now,
            product=elastic,
            currency="-AEU",
            user=hostile,
        )
        AuditEventFactory(
            customer=customer,
            actor_email=f"{hostile}@example.org",
            action=hostile,
            target=hostile,
            details={"name": hostile},
        )
    _hostile_usage(customer)
    return customer


def _hostile_usage(customer: Customer) -> None:
    """A debug log of today whose features and users are formulas (the usage exports)."""
    from usage.services import usage_log_ingest_lines

    today = timezone.localdate()
    lines = [
        f" 0:00:00 (lmgrd) started on lic01 (linux) ({today.month}/{today.day}/{today.year})",
        f" 0:00:01 (ansyslmd) TIMESTAMP {today.month}/{today.day}/{today.year}",
    ]
    for minute, hostile in enumerate(FORMULAS[:4] + JOINED[:2], start=1):
        name = hostile.replace('"', "").replace("@", "at").strip() or "x"
        lines.append(f' 0:{minute:02d}:00 (ansyslmd) OUT: "{name}" {name.replace(" ", "_")}@=host{minute}')
    usage_log_ingest_lines(customer=customer, name="hostile.log", lines=[line + "\n" for line in lines])


def _csv_exports(client: Client, customer: Customer) -> dict[str, list[list[str]]]:
    """Every customer route that answers a GET with CSV, and its rows."""
    found = {}
    for route in customer_routes():
        if route.view_class is None or "<" in route.route.replace("<str:customer_number>", ""):
            continue
        response = client.get(route.path(customer.number))
        if response.status_code == HTTPStatus.OK and response["Content-Type"].startswith("text/csv"):
            text = b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")
            found[route.name] = list(csv.reader(io.StringIO(text)))
    return found


@pytest.fixture
def asc(db) -> tuple[Client, Customer]:
    customer = hostile_customer()
    client = Client()
    client.force_login(MembershipFactory(customer=customer, role=Role.ASC).user)
    return client, customer


def test_no_exported_cell_can_start_a_formula(asc) -> None:
    client, customer = asc
    exports = _csv_exports(client, customer)
    assert set(exports) >= EXPECTED_EXPORTS, set(exports)
    for name, rows in exports.items():
        assert len(rows) > 1, name
        for row in rows:
            for cell in row:
                assert not _starts_a_formula(cell), (name, cell, row)
    groups = next(row[3] for row in exports["licensing_settings:shared_web_users_export"][1:] if row[3])
    assert groups == "'=group; '@other"


def test_every_export_is_capped_and_says_so(asc, monkeypatch) -> None:
    client, customer = asc
    monkeypatch.setattr(portal.csv, "EXPORT_MAX_ROWS", 2)
    exports = _csv_exports(client, customer)
    assert set(exports) >= EXPECTED_EXPORTS
    for name, rows in exports.items():
        assert len(rows) == 1 + 2 + 1, (name, rows)  # header, two rows, the note
        assert rows[-1][0].startswith("Only the first 2 rows are exported"), name


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=40), st.lists(st.text(max_size=10), max_size=4)))
@example("a; =1+1")
@example(["a", "=1+1"])
@example("'=1")
@example("a;  ''+1")
@example("\t")
def test_csv_safe_guards_every_part_and_csv_unsafe_gives_the_value_back(value: str | list[str]) -> None:
    cell = csv_safe(value)
    assert not _starts_a_formula(cell), cell
    text = "; ".join(value) if isinstance(value, list) else value
    assert csv_unsafe(cell) == text


def test_the_usage_page_range_is_bounded_and_the_export_by_its_rows(asc) -> None:
    from django.urls import reverse

    client, customer = asc
    everything = {"preset": "custom", "date_from": "2000-01-01", "date_to": "2999-12-31"}
    page = reverse("licensing_settings:elastic_usage", args=[customer.number])
    response = client.get(page, everything)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Choose a range of at most 731 days." in response.content.decode()
    assert client.get(page, {"preset": "custom", "date_from": "2025-01-01", "date_to": "2026-12-31"}).status_code == (
        HTTPStatus.OK
    )
    export = client.get(reverse("licensing_settings:elastic_usage_export", args=[customer.number]), everything)
    assert export.status_code == HTTPStatus.OK  # streamed, at most EXPORT_MAX_ROWS rows (above)
