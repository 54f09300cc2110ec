"""The customer's audit log page and its CSV export."""

from __future__ import annotations

import csv
import datetime
import io
import re
from http import HTTPStatus

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.forms import AUDIT_ACTION_LABELS
from accounts.models import AuditEvent
from accounts.roles import Role
from accounts.views import AUDIT_PAGE_SIZE
from portal.csv import csv_safe
from tests.factories import AuditEventFactory, CustomerFactory

pytestmark = pytest.mark.django_db


def _event(
    customer,
    *,
    action="membership.added",
    actor="alice@example.org",
    target="t@example.org",
    when=None,
    denied=False,
    details=None,
) -> AuditEvent:
    return AuditEventFactory(
        customer=customer,
        actor_email=actor,
        action=action,
        target=target,
        denied=denied,
        details=details or {},
        created_at=when or timezone.now(),
    )


def _export(client, customer, query: str = "") -> list[list[str]]:
    response = client.get(reverse("audit:export", args=[customer.number]) + query)
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


@pytest.mark.parametrize("role", list(Role))
def test_every_role_reads_the_log_newest_first_with_labels(role, member_client) -> None:
    customer = CustomerFactory()
    client = member_client(role=role, customer=customer)
    now = timezone.now()
    _event(customer, action="membership.added", target="older@example.org", when=now - datetime.timedelta(hours=2))
    _event(customer, action="vendor.custom_thing", target="newer@example.org", when=now - datetime.timedelta(hours=1))
    _event(customer, action="membership.add", target="denied@example.org", denied=True, when=now)
    _event(CustomerFactory(), target="elsewhere@example.org")
    response = client.get(reverse("audit:list", args=[customer.number]))
    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert html.index("denied@example.org") < html.index("newer@example.org") < html.index("older@example.org")
    assert "elsewhere@example.org" not in html
    assert str(AUDIT_ACTION_LABELS["membership.added"]) in html
    assert "vendor.custom_thing" in html  # unknown actions are shown as recorded
    assert "badge--denied" in html
    assert "style=" not in html
    assert 'class="table-wrap"' in html


def test_another_customers_log_and_export_are_404(member_client) -> None:
    mine, theirs = CustomerFactory(), CustomerFactory()
    client = member_client(role=Role.ASC, customer=mine)
    assert client.get(reverse("audit:list", args=[theirs.number])).status_code == HTTPStatus.NOT_FOUND
    assert client.get(reverse("audit:export", args=[theirs.number])).status_code == HTTPStatus.NOT_FOUND


def test_denied_attempts_from_the_users_page_appear(member_client) -> None:
    customer = CustomerFactory()
    viewer = member_client(role=Role.VIEWER, customer=customer)
    viewer.post(reverse("users:add", args=[customer.number]), {"email": "x@example.org", "role": "viewer"})
    html = viewer.get(reverse("audit:list", args=[customer.number]) + "?denied=on").content.decode()
    assert viewer.user.email in html
    assert "badge--denied" in html


def test_filters_by_action_actor_and_dates(member_client) -> None:
    customer = CustomerFactory()
    client = member_client(role=Role.VIEWER, customer=customer)
    tz = timezone.get_current_timezone()
    day = datetime.datetime(2026, 3, 10, 12, 0, tzinfo=tz)
    _event(customer, action="membership.added", actor="alice@example.org", target="a1", when=day)
    _event(customer, action="membership.removed", actor="alice@example.org", target="a2", when=day)
    _event(customer, action="membership.added", actor="bob@example.org", target="b1", when=day)
    _event(
        customer,
        action="membership.added",
        actor="alice@example.org",
        target="a-late",
        when=day + datetime.timedelta(days=1, hours=11, minutes=59),
    )  # 23:59 on the 11th, local time
    _event(
        customer,
        action="membership.added",
        actor="alice@example.org",
        target="a-too-late",
        when=day + datetime.timedelta(days=2),
    )

    def targets(query: str) -> list[str]:
        response = client.get(reverse("audit:list", args=[customer.number]) + query)
        assert response.status_code == HTTPStatus.OK
        return [event.target for event, _label, _sentence in response.context["rows"]]

    assert targets("?action=membership.added&actor=ALICE&date_from=2026-03-10&date_to=2026-03-11") == ["a-late", "a1"]
    assert targets("?actor=bob") == ["b1"]
    assert targets("?action=membership.removed") == ["a2"]


@pytest.mark.parametrize(
    "query",
    [
        "?date_from=yesterday",
        "?date_from=2026-13-45",
        "?date_to=99999-01-01",
        "?date_from=2026-03-02&date_to=2026-03-01",
        "?date_to=9999-12-31",
        "?action=no.such.action",
        "?actor=" + "x" * 300,
    ],
)
def test_bad_filters_are_form_errors_not_500(query, member_client) -> None:
    customer = CustomerFactory()
    client = member_client(role=Role.VIEWER, customer=customer)
    _event(customer)
    response = client.get(reverse("audit:list", args=[customer.number]) + query)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "field-errors" in response.content.decode()
    assert client.get(reverse("audit:export", args=[customer.number]) + query).status_code == HTTPStatus.BAD_REQUEST


def test_pagination_50_per_page(member_client) -> None:
    customer = CustomerFactory()
    client = member_client(role=Role.VIEWER, customer=customer)
    start = timezone.now() - datetime.timedelta(days=1)
    for i in range(120):
        _event(customer, target=f"t{i:03d}", when=start + datetime.timedelta(minutes=i))
    url = reverse("audit:list", args=[customer.number])
    first = client.get(url + "?actor=alice")
    assert [e.target for e, _l, _s in first.context["rows"]][:2] == ["t119", "t118"]
    assert len(first.context["rows"]) == AUDIT_PAGE_SIZE
    assert "actor=alice&amp;page=2" in first.content.decode()
    last = client.get(url + "?actor=alice&page=3")
    assert [e.target for e, _l, _s in last.context["rows"]] == [f"t{i:03d}" for i in range(19, -1, -1)]
    assert client.get(url + "?page=abc").status_code == HTTPStatus.OK


@pytest.mark.parametrize("size", [5, 60])
def test_log_page_query_count_is_constant(size, member_client, django_assert_max_num_queries) -> None:
    customer = CustomerFactory()
    client = member_client(role=Role.VIEWER, customer=customer)
    for i in range(size):
        _event(customer, target=f"t{i}")
    with django_assert_max_num_queries(12):
        client.get(reverse("audit:list", args=[customer.number]))


def test_export_matches_the_filtered_page(member_client) -> None:
    customer = CustomerFactory()
    client = member_client(role=Role.VIEWER, customer=customer)
    start = timezone.now() - datetime.timedelta(hours=3)
    for i in range(30):
        _event(
            customer,
            action="membership.added" if i % 2 else "invitation.created",
            target=f"t{i}",
            actor="alice@example.org" if i % 3 else "bob@example.org",
            when=start + datetime.timedelta(minutes=i),
            denied=i == 7,
            details={"role": "viewer"},
        )
    query = "?action=membership.added&actor=alice"
    page = client.get(reverse("audit:list", args=[customer.number]) + query)
    page_rows = [
        [event.actor_email, event.action, label, event.target, "yes" if event.denied else "no"]
        for event, label, _sentence in page.context["rows"]
    ]
    exported = _export(client, customer, query)
    assert exported[0] == ["time", "actor", "action", "action_label", "target", "denied", "details"]
    assert [row[1:6] for row in exported[1:]] == page_rows
    assert len(page_rows) == 10
    html = page.content.decode()
    export_href = re.search(r'href="([^"]*export[^"]*)"', html).group(1).replace("&amp;", "&")
    assert export_href.endswith(query)


@pytest.mark.parametrize("value", ['=HYPERLINK("http://evil")', "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_export_defuses_spreadsheet_formulas(value, member_client) -> None:
    customer = CustomerFactory()
    client = member_client(role=Role.VIEWER, customer=customer)
    _event(customer, target=value, actor=value)
    (row,) = _export(client, customer)[1:]
    assert row[1] == "'" + value
    assert row[4] == "'" + value
    assert csv_safe("plain") == "plain"
