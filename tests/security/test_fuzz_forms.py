"""Fuzz every customer form with random and hostile values: no input may cause a 500.

The routes come from the URL resolver and the field names from the forms the portal
renders, so a new form is fuzzed as soon as it exists.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.roles import Role
from tests.customer_urls import customer_routes
from tests.factories import CustomerFactory, MembershipFactory

ROOT = Path(__file__).resolve().parents[2]
FIELD_NAMES = sorted(
    {
        name
        for template in (ROOT / "templates").rglob("*.html")
        for name in re.findall(r'name="([a-z_][a-z0-9_\-]*)"', template.read_text(encoding="utf-8"))
        if name != "csrfmiddlewaretoken"
    }
    | {"email", "role", "quantity", "host_id", "host_name", "port", "file", "csv", "text", "q", "page", "sort"}
)
POST_ROUTES = [route for route in customer_routes() if route.view_class is not None]

HOSTILE = st.sampled_from(
    [
        "",
        " ",
        "0",
        "-1",
        "99999999999999999999999",
        "1e309",
        "NaN",
        "null",
        "true",
        "[]",
        "{}",
        "' OR 1=1 --",
        "<script>alert(1)</script>",
        "=cmd|' /C calc'!A0",
        "\x00",
        "\ud7ff" * 3,
        "a" * 10_000,
        "../../etc/passwd",
        "%00",
        "١٢٣",
        "2026-02-30",
        "31-feb-2026",
        "asc",
        "ASC",
        "administrator",
        "viewer",
        "1,2,3",
        "a@b",
        "x@example.org",
    ]
)
VALUES = st.one_of(HOSTILE, st.text(max_size=200), st.integers(min_value=-(10**20), max_value=10**20).map(str))
PAYLOADS = st.dictionaries(st.sampled_from(FIELD_NAMES), VALUES, max_size=8)


@pytest.fixture
def asc_client(db):
    customer = CustomerFactory(flexnet_managed=True)
    membership = MembershipFactory(customer=customer, role=Role.ASC)
    client = Client(raise_request_exception=False)
    client.force_login(membership.user)
    return client, customer


@pytest.mark.parametrize("route", POST_ROUTES, ids=lambda r: r.name or r.route)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=PAYLOADS, path_value=st.sampled_from(["1", "999999", "0"]))
def test_no_input_causes_a_server_error(asc_client, route, payload, path_value) -> None:
    client, customer = asc_client
    path = route.path(customer.number, fill=path_value)
    response = client.post(path, payload)
    assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR, (path, payload)
    response = client.get(path, {k: v for k, v in payload.items() if "\x00" not in v})
    assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR, (path, payload)


@pytest.mark.parametrize("route", POST_ROUTES, ids=lambda r: r.name or r.route)
@pytest.mark.parametrize(
    "content",
    [
        b"\x00\x01\x02\xff" * 1000,
        b"=cmd|' /C calc'!A0,viewer\n",
        b"PK\x03\x04" + b"\x00" * 100,
        "ü,ş\n".encode("utf-16"),
    ],
    ids=["binary", "formula", "zip", "utf16"],
)
def test_hostile_uploads_are_refused_cleanly(asc_client, route, content) -> None:
    client, customer = asc_client
    upload = SimpleUploadedFile("evil.lic", content, content_type="application/octet-stream")
    response = client.post(route.path(customer.number), {"file": upload, "csv_file": upload, "license_file": upload})
    assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR
