"""The Usage page, its exports and uploads, per role (expected results from the matrix)."""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.test.utils import override_settings
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import AuditEvent, Customer
from accounts.roles import ROLE_PERMISSIONS, Permission, Role
from tests.factories import EntitlementFactory, ProductFactory
from usage.models import AgentKey, Upload, UploadStatus, UsageEvent, UsageHour, UsagePersonDay
from usage.views import EXPORTS

SAMPLES = Path(__file__).parent / "samples"
pytestmark = pytest.mark.django_db


def _url(customer: Customer, name: str = "index", *args: object) -> str:
    return reverse(f"usage:{name}", args=[customer.number, *args])


def _post_logs(client, customer: Customer, *files: tuple[str, bytes], server: str = ""):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(
            _url(customer, "upload_logs"),
            {
                "files": [SimpleUploadedFile(name, data) for name, data in files],
                "server_name": server,
            },
        )


def grow(customer: Customer, *, features: int, days: int) -> None:
    """Rollup rows straight in (the page reads only rollups)."""
    start = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)
    UsageHour.objects.bulk_create(
        UsageHour(
            customer=customer,
            server_name="lic01",
            daemon="ansyslmd",
            feature=f"feat_{f}",
            hour=start + datetime.timedelta(hours=h),
            peak=(h * 7 + f) % 9,
            license_seconds=3600 * ((h + f) % 5),
            checkouts=h % 3,
            denials=h % 4 == 0,
            true_denials=h % 8 == 0,
        )
        for f in range(features)
        for h in range(days * 24)
    )
    UsagePersonDay.objects.bulk_create(
        UsagePersonDay(
            customer=customer,
            server_name="lic01",
            daemon="ansyslmd",
            feature=f"feat_{f}",
            day=start.date() + datetime.timedelta(days=d),
            kind=kind,
            name=f"{kind}{u}",
            license_seconds=3600 * (u + 1),
            checkouts=u,
            denials=u % 2,
        )
        for f in range(features)
        for d in range(days)
        for kind in ("user", "host")
        for u in range(5)
    )


@pytest.mark.parametrize("role", list(Role))
def test_every_role_reads_the_usage_page_and_only_changers_see_the_forms(
    role: Role, customer: Customer, member_client: Callable
) -> None:
    grow(customer, features=2, days=3)
    client = member_client(role=role, customer=customer)
    response = client.get(_url(customer) + "?start=2026-11-01&end=2026-11-03")
    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert "feat_0" in html
    assert "<svg" in html
    can_change = Permission.CHANGE_LICENSE_SERVER in ROLE_PERMISSIONS[role]
    assert ('id="upload-logs"' in html) is can_change
    assert ('id="agent"' in html) is can_change


@pytest.mark.parametrize("size", [(2, 3), (8, 30)])
def test_page_query_count_does_not_grow_with_data(
    size: tuple[int, int], customer: Customer, member_client: Callable, django_assert_max_num_queries: Callable
) -> None:
    grow(customer, features=size[0], days=size[1])
    client = member_client(role=Role.ASC, customer=customer)
    client.get(_url(customer))  # warm the session
    with django_assert_max_num_queries(22):
        response = client.get(_url(customer) + "?start=2026-11-01&end=2026-11-30")
    assert response.status_code == HTTPStatus.OK


def test_query_count_is_the_same_at_two_sizes(
    customer: Customer, other_customer: Customer, member_client: Callable
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for target, (features, days) in ((customer, (1, 2)), (other_customer, (10, 40))):
        grow(target, features=features, days=days)
        client = member_client(role=Role.VIEWER, customer=target)
        client.get(_url(target))
        with CaptureQueriesContext(connection) as queries:
            assert client.get(_url(target) + "?start=2026-11-01&end=2026-12-10").status_code == HTTPStatus.OK
        counts.append(len(queries))
    assert counts[0] == counts[1]


@pytest.mark.parametrize("view", EXPORTS)
def test_every_view_exports_csv(view: str, customer: Customer, member_client: Callable) -> None:
    grow(customer, features=2, days=2)
    client = member_client(role=Role.VIEWER, customer=customer)
    response = client.get(_url(customer, "export") + f"?view={view}&start=2026-11-01&end=2026-11-02")
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) > 1


def test_unknown_export_is_404(customer: Customer, member_client: Callable) -> None:
    client = member_client(role=Role.VIEWER, customer=customer)
    assert client.get(_url(customer, "export") + "?view=nope").status_code == HTTPStatus.NOT_FOUND


def test_upload_several_files_reports_lines_events_and_skips(customer: Customer, member_client: Callable) -> None:
    import gzip

    EntitlementFactory(customer=customer, product=ProductFactory(feature="ansys"), quantity=4)
    client = member_client(role=Role.ADMINISTRATOR, customer=customer)
    junk = b"hello\n" + (SAMPLES / "two_daemons_crlf_junk.log").read_bytes()
    response = _post_logs(
        client,
        customer,
        ("a.log", (SAMPLES / "single_daemon_restart.log").read_bytes()),
        ("b.log.gz", gzip.compress(junk)),
    )
    assert response.status_code == HTTPStatus.FOUND
    uploads = {u.name: u for u in Upload.objects.all()}
    assert {u.status for u in uploads.values()} == {UploadStatus.DONE}
    assert uploads["a.log"].lines_done == 164
    assert uploads["b.log.gz"].skipped == [{"line": 1, "reason": "not a log line (h:mm:ss (daemon) ...)"}]
    assert AuditEvent.objects.filter(action="usage.upload", customer=customer).count() == 2
    page = client.get(_url(customer) + "?start=2026-11-01&end=2026-11-30").content.decode()
    assert 'id="unmatched"' in page  # anshpc_pack etc. are not on the customer's lines
    assert "not in your entitlements" in page
    status = client.get(_url(customer, "upload_status")).json()
    assert {u["status"] for u in status["uploads"]} == {"done"}


def test_lmstat_paste(customer: Customer, member_client: Callable) -> None:
    client = member_client(role=Role.ASC, customer=customer)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(_url(customer, "upload_lmstat"), {"text": (SAMPLES / "lmstat_a.txt").read_text()})
    assert response.status_code == HTTPStatus.FOUND
    page = client.get(_url(customer)).content.decode()
    assert "Deniz Yilmaz@ws-014" in page


def test_delete_upload(customer: Customer, member_client: Callable) -> None:
    client = member_client(role=Role.ASC, customer=customer)
    _post_logs(client, customer, ("a.log", (SAMPLES / "single_daemon_restart.log").read_bytes()))
    upload = Upload.objects.get()
    response = client.post(_url(customer, "upload_delete", upload.pk))
    assert response.status_code == HTTPStatus.FOUND
    assert not Upload.objects.exists()
    assert not UsageEvent.objects.exists()
    assert not UsageHour.objects.exists()


def test_agent_key_shown_once_and_revoked(customer: Customer, member_client: Callable) -> None:
    client = member_client(role=Role.ASC, customer=customer)
    response = client.post(_url(customer, "agent_key_create"), {"server_name": "lic01"})
    assert response.status_code == HTTPStatus.OK
    key = AgentKey.objects.get()
    html = response.content.decode()
    assert key.prefix in html
    assert 'id="new-agent-key"' in html
    assert "lpu_" in html
    assert 'id="new-agent-key"' not in client.get(_url(customer)).content.decode()
    client.post(_url(customer, "agent_key_revoke", key.pk))
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_agent_endpoint_requires_a_live_key(client, customer: Customer) -> None:
    url = reverse("usage_agent_upload")
    assert client.post(url, b"x", content_type="text/plain").status_code == HTTPStatus.UNAUTHORIZED
    assert (
        client.post(url, b"x", content_type="text/plain", headers={"Authorization": "Bearer lpu_nope"}).status_code
        == HTTPStatus.UNAUTHORIZED
    )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=3000), gz=st.booleans())
def test_no_bytes_cause_a_server_error(data: bytes, gz: bool, customer: Customer, member_client: Callable) -> None:
    import gzip

    client = member_client(role=Role.ASC, customer=customer)
    client.raise_request_exception = False
    payload = gzip.compress(data)[: max(2, len(data) // 3)] if gz else data
    response = _post_logs(client, customer, ("x.log", payload))
    assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR
    assert client.get(_url(customer)).status_code == HTTPStatus.OK


@override_settings(PORTAL_FRAGMENT_CACHE_SECONDS=600)
def test_warm_usage_page_reads_no_rollups(customer: Customer, member_client: Callable) -> None:
    """Once rendered, the figures come from the cache until the data version moves: the
    session, the user, the memberships and the uploads list (the filter choices are cached
    per data version too)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    grow(customer, features=3, days=5)
    client = member_client(role=Role.VIEWER, customer=customer)
    client.get(_url(customer))
    with CaptureQueriesContext(connection) as queries:
        assert client.get(_url(customer)).status_code == HTTPStatus.OK
    assert len(queries) == 4, [q["sql"][:80] for q in queries.captured_queries]
