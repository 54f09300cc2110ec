"""portal/csv.py: the one way CSV goes out (every export) and comes in (every importer)."""

from __future__ import annotations

import csv
import io
from http import HTTPStatus

import pytest
from django.urls import reverse

from accounts.roles import Role
from portal.csv import csv_line_fields, csv_response, csv_table_read
from portal.errors import PortalError
from tests.factories import CustomerFactory, EntitlementFactory


def _body(response) -> str:
    return b"".join(response.streaming_content).decode("utf-8")


def test_csv_response_streams_a_bom_and_safe_cells() -> None:
    response = csv_response("x.csv", ["a", "b"], iter([["=1+1", None], [2, "ok"]]))
    assert response["Content-Disposition"] == 'attachment; filename="x.csv"'
    body = _body(response)
    assert body.startswith("\ufeff")
    assert list(csv.reader(io.StringIO(body.removeprefix("\ufeff")))) == [["a", "b"], ["'=1+1", ""], ["2", "ok"]]


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", ["entitlements:export", "audit:export"])
def test_the_exports_agree_about_the_bom(url_name, member_client) -> None:
    customer = CustomerFactory()
    EntitlementFactory(customer=customer)
    client = member_client(role=Role.ASC, customer=customer)
    response = client.get(reverse(url_name, args=[customer.number]))
    assert response.status_code == HTTPStatus.OK
    assert _body(response).startswith("\ufeff")


def test_csv_line_fields_takes_the_separator_the_line_uses() -> None:
    assert csv_line_fields("a@x.org,viewer") == ["a@x.org", "viewer"]
    assert csv_line_fields("a@x.org;viewer") == ["a@x.org", "viewer"]
    assert csv_line_fields('"a; b",viewer') == ["a; b", "viewer"]
    assert csv_line_fields("a@x.org\tviewer") == ["a@x.org", "viewer"]


def test_csv_table_read_numbers_rows_by_physical_line_and_skips_blank_ones() -> None:
    table = csv_table_read("\ufeffA, b \n1,2\n,\n\n3,4,5\n", required=["a"], expected=["a", "b"], max_rows=10)
    assert table.header == ["a", "b"]
    assert table.rows == [(2, {"a": "1", "b": "2"}), (5, {"a": "3", "b": "4"})]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("b\n1\n", "lacks the column(s): a. Expected: a,b"),
        ("", "lacks the column(s): a"),
        ("a\n1\n2\n3\n", "At most 2 lines"),
        ("a\n\x00\n", "not a text file"),
        ("a\n" + "x" * (csv.field_size_limit() + 1) + "\n", "not valid CSV"),
    ],
)
def test_csv_table_read_refuses_what_cannot_be_imported(text, message) -> None:
    with pytest.raises(PortalError, match=message.replace("(", r"\(").replace(")", r"\)")):
        csv_table_read(text, required=["a"], expected=["a", "b"], max_rows=2)
