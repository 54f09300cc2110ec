"""What the endpoints do, through the same services as the web pages."""

from __future__ import annotations

import threading
from http import HTTPStatus

import pytest
from django.db import connection
from django.test import Client, override_settings

from accounts.models import AuditEvent, Invitation
from accounts.roles import Role
from activations.models import Activation, LicenseFile, LicenseServer
from entitlements.models import Entitlement
from tests.activations.helpers import flex_customer, setup_server
from tests.factories import CustomerFactory, EntitlementFactory, MembershipFactory, ProductFactory

pytestmark = pytest.mark.django_db


def _url(customer, tail: str) -> str:
    return f"/api/v1/customers/{customer.number}/{tail}"


def test_entitlements_filters_and_one_line(api_client) -> None:
    customer = flex_customer("1001234")
    EntitlementFactory(customer=customer, product=ProductFactory(feature="hfss", name="HFSS"), line_id="L-HFSS")
    EntitlementFactory(customer=customer, line_id="L-OLD", end_date="2020-01-01", start_date="2019-01-01")
    client = api_client(customer=customer)
    lines = client.get(_url(customer, "entitlements/")).json()["results"]
    assert len(lines) == 3
    assert [e["line_id"] for e in client.get(_url(customer, "entitlements/?q=hfss")).json()["results"]] == ["L-HFSS"]
    expired = client.get(_url(customer, "entitlements/?status=expired")).json()["results"]
    assert [e["line_id"] for e in expired] == ["L-OLD"]
    one = client.get(_url(customer, f"entitlements/{expired[0]['id']}")).json()
    assert one["status"] == "expired"
    assert one["available"] == one["quantity"] - one["activated"]


def test_cursor_pagination_walks_every_line_once(api_client) -> None:
    customer = flex_customer("1001234")
    for _ in range(24):
        EntitlementFactory(customer=customer)
    client = api_client(customer=customer)
    seen, cursor = [], None
    while True:
        page = client.get(_url(customer, "entitlements/"), {"limit": 7, **({"cursor": cursor} if cursor else {})})
        body = page.json()
        seen += [e["id"] for e in body["results"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(Entitlement.objects.filter(customer=customer).values_list("pk", flat=True))
    assert len(seen) == len(set(seen))
    bad = client.get(_url(customer, "entitlements/?cursor=not-a-cursor"))
    assert bad.status_code == HTTPStatus.BAD_REQUEST
    assert bad.json()["code"] == "invalid_cursor"


@pytest.mark.django_db(transaction=True)
def test_pagination_is_stable_under_concurrent_writes(api_client) -> None:
    """Lines inserted and deleted while a client pages never make it see a line twice or miss
    one that existed throughout (keyset on the id, not offsets)."""
    customer = flex_customer("1001234")
    for _ in range(60):
        EntitlementFactory(customer=customer)
    survivors = set(Entitlement.objects.filter(customer=customer).values_list("pk", flat=True)[10:])
    doomed = list(Entitlement.objects.filter(customer=customer).exclude(pk__in=survivors).values_list("pk", flat=True))
    client = api_client(customer=customer)
    stop = threading.Event()

    def writer() -> None:
        try:
            for pk in doomed:
                Entitlement.objects.filter(pk=pk).delete()
                EntitlementFactory(customer=customer)
                if stop.is_set():
                    break
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    seen, cursor = [], None
    while True:
        body = client.get(
            _url(customer, "entitlements/"), {"limit": 5, **({"cursor": cursor} if cursor else {})}
        ).json()
        seen += [e["id"] for e in body["results"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    stop.set()
    thread.join()
    assert len(seen) == len(set(seen))
    assert survivors <= set(seen)


def test_problem_details_format(api_client) -> None:
    customer = flex_customer("1001234")
    client = api_client(customer=customer)
    response = client.get(_url(customer, "entitlements/999999999"))
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert set(body) >= {"type", "title", "status", "detail", "code", "instance"}
    assert body["status"] == HTTPStatus.NOT_FOUND
    invalid = client.get(_url(customer, "entitlements/?limit=abc"))
    assert invalid.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert invalid.json()["code"] == "validation_error"


@override_settings(PORTAL_API_RATE_LIMIT=3, PORTAL_API_RATE_WINDOW=60)
def test_rate_limit_headers_and_429(api_client) -> None:
    customer = flex_customer("1001234")
    client = api_client(customer=customer)
    first = client.get("/api/v1/token")
    assert first["RateLimit-Policy"] == '"token";q=3;w=60'
    assert first["RateLimit"].startswith('"token";r=2;t=')
    client.get("/api/v1/token")
    client.get("/api/v1/token")
    limited = client.get("/api/v1/token")
    assert limited.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert limited.json()["code"] == "rate_limited"
    assert int(limited["Retry-After"]) >= 1
    # Per token: another token of the same person is not limited.
    other = api_client(customer=customer)
    assert other.get("/api/v1/token").status_code == HTTPStatus.OK


def test_server_lifecycle_create_change_return_retire(api_client, staff_user) -> None:
    customer = flex_customer("1001234")
    line = Entitlement.objects.get(customer=customer)
    client = api_client(role=Role.ADMINISTRATOR, customer=customer)
    sid = _server_created_and_renamed(client, customer)
    _server_planned_and_applied(client, customer, sid, line)
    _server_returned_and_retired(client, customer, sid)
    # The label and the host ID are free again.
    again = client.post(
        _url(customer, "servers/"),
        {
            "name": "lic-renamed",
            "hosts": [{"host_name": "h", "hostid_type": "ETHER", "host_id": "0011223344AA"}],
        },
        content_type="application/json",
    )
    assert again.status_code == HTTPStatus.CREATED


def _server_created_and_renamed(client, customer) -> int:
    created = client.post(
        _url(customer, "servers/"),
        {
            "name": "lic-api",
            "hosts": [{"host_name": "lic-api.example", "hostid_type": "ETHER", "host_id": "00:11:22:33:44:AA"}],
        },
        content_type="application/json",
    )
    assert created.status_code == HTTPStatus.CREATED, created.content
    server = created.json()
    assert server["hosts"][0]["host_id"] == "0011223344AA"
    sid = server["id"]
    changed = client.patch(
        _url(customer, f"servers/{sid}"),
        {"name": "lic-renamed", "host_names": ["new.example"]},
        content_type="application/json",
    )
    assert changed.json()["name"] == "lic-renamed"
    return sid


def _server_planned_and_applied(client, customer, sid: int, line) -> None:
    plan = client.post(
        _url(customer, f"servers/{sid}/activations/plan"),
        {"lines": [{"entitlement_id": line.pk, "quantity": 2}]},
        content_type="application/json",
    )
    assert plan.json()["applicable"] is True
    assert plan.json()["changes"][0]["delta"] == 2
    assert not Activation.objects.exists()
    applied = client.post(
        _url(customer, f"servers/{sid}/activations/apply"),
        {"lines": [{"entitlement_id": line.pk, "quantity": 2}]},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k1",
    )
    assert applied.status_code == HTTPStatus.OK, applied.content
    assert applied.json()["license_file_version"] == 1


def _server_returned_and_retired(client, customer, sid: int) -> None:
    refused = client.post(_url(customer, f"servers/{sid}/retire"))
    assert refused.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert refused.json()["code"] == "rejected"
    assert client.post(_url(customer, f"servers/{sid}/return")).json()["version"] == 2
    assert client.post(_url(customer, f"servers/{sid}/retire")).status_code == HTTPStatus.NO_CONTENT
    assert LicenseServer.objects.get(pk=sid).retired_at is not None
    assert client.get(_url(customer, f"servers/{sid}")).status_code == HTTPStatus.NOT_FOUND
    assert AuditEvent.objects.filter(action="server.retired", target="lic-renamed").exists()
    assert LicenseFile.objects.filter(server_id=sid).count() == 2


def test_apply_with_the_same_idempotency_key_applies_once(api_client) -> None:
    customer = flex_customer("1001234")
    server, line = setup_server(customer, quantity=10)
    client = api_client(role=Role.ADMINISTRATOR, customer=customer)
    body = {"lines": [{"entitlement_id": line.pk, "quantity": 3}]}
    url = _url(customer, f"servers/{server.pk}/activations/apply")
    first = client.post(url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="once").json()
    second = client.post(url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="once").json()
    assert first["already_applied"] is False
    assert second["already_applied"] is True
    assert second["license_file_version"] == first["license_file_version"]
    line.refresh_from_db()
    assert line.activated == 3
    missing = client.post(url, body, content_type="application/json")
    assert missing.status_code == HTTPStatus.UNPROCESSABLE_ENTITY


def test_apply_refuses_when_the_line_moved_since_the_plan(api_client) -> None:
    customer = flex_customer("1001234")
    server, line = setup_server(customer, quantity=10)
    client = api_client(role=Role.ADMINISTRATOR, customer=customer)
    response = client.post(
        _url(customer, f"servers/{server.pk}/activations/apply"),
        {"lines": [{"entitlement_id": line.pk, "quantity": 3, "expected": 1}]},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="moved",
    )
    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == "activation_conflict"


def test_license_files_list_download_verify(api_client) -> None:
    customer = flex_customer("1001234")
    server, line = setup_server(customer)
    admin = api_client(role=Role.ADMINISTRATOR, customer=customer)
    admin.post(
        _url(customer, f"servers/{server.pk}/activations/apply"),
        {"lines": [{"entitlement_id": line.pk, "quantity": 1}]},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="f",
    )
    viewer = api_client(role=Role.VIEWER, customer=customer)
    versions = viewer.get(_url(customer, f"servers/{server.pk}/license-files/")).json()["results"]
    assert [v["version"] for v in versions] == [1]
    download = viewer.get(versions[0]["download_url"])
    assert download.status_code == HTTPStatus.OK
    assert download["Content-Type"].startswith("text/plain")
    text = download.content.decode()
    assert "INCREMENT" in text
    assert AuditEvent.objects.filter(action="license_file.downloaded", actor=viewer.user).exists()
    ok = viewer.post(_url(customer, "license-files/verify"), {"content": text}, content_type="application/json")
    assert ok.json() == {"valid": True, "failures": []}
    tampered = text.replace(" 1 VENDOR_STRING", " 9 VENDOR_STRING")
    bad = viewer.post(_url(customer, "license-files/verify"), {"content": tampered}, content_type="application/json")
    assert bad.json()["valid"] is False


def test_members_as_the_users_page_allows(api_client) -> None:
    customer = flex_customer("1001234")
    admin = api_client(role=Role.ADMINISTRATOR, customer=customer)
    colleague = MembershipFactory(customer=customer, role=Role.VIEWER)
    members = admin.get(_url(customer, "members/")).json()["results"]
    assert {m["email"] for m in members} == {admin.user.email, colleague.user.email}
    promoted = admin.patch(
        _url(customer, f"members/{colleague.pk}"), {"role": "administrator"}, content_type="application/json"
    )
    assert promoted.json()["role"] == "administrator"
    asc = admin.patch(_url(customer, f"members/{colleague.pk}"), {"role": "asc"}, content_type="application/json")
    assert asc.status_code == HTTPStatus.FORBIDDEN
    invited = admin.post(
        _url(customer, "members/"), {"email": "new@example.org", "role": "viewer"}, content_type="application/json"
    )
    assert invited.json()["outcome"] == "invited"
    invitations = admin.get(_url(customer, "invitations/")).json()["results"]
    assert [i["email"] for i in invitations] == ["new@example.org"]
    assert admin.delete(_url(customer, f"invitations/{invitations[0]['id']}")).status_code == HTTPStatus.NO_CONTENT
    assert not Invitation.objects.pending().exists()
    assert admin.delete(_url(customer, f"members/{colleague.pk}")).status_code == HTTPStatus.NO_CONTENT


def test_a_viewer_token_may_leave_but_not_remove_others(api_client) -> None:
    customer = flex_customer("1001234")
    viewer = api_client(role=Role.VIEWER, customer=customer)
    colleague = MembershipFactory(customer=customer, role=Role.VIEWER)
    assert viewer.delete(_url(customer, f"members/{colleague.pk}")).status_code == HTTPStatus.FORBIDDEN
    assert viewer.delete(_url(customer, f"members/{viewer.membership.pk}")).status_code == HTTPStatus.NO_CONTENT


def test_audit_events_filtered_newest_first(api_client) -> None:
    customer = flex_customer("1001234")
    client = api_client(role=Role.ADMINISTRATOR, customer=customer)
    client.post(
        _url(customer, "members/"), {"email": "a@example.org", "role": "viewer"}, content_type="application/json"
    )
    client.post(
        _url(customer, "members/"), {"email": "b@example.org", "role": "viewer"}, content_type="application/json"
    )
    events = client.get(_url(customer, "audit-events/?action=invitation.created")).json()["results"]
    assert [e["target"] for e in events] == ["b@example.org", "a@example.org"]
    page = client.get(_url(customer, "audit-events/?limit=1")).json()
    assert page["next_cursor"]


def test_activations_unavailable_is_a_conflict(api_client) -> None:
    customer = CustomerFactory(number="1001234", flexnet_managed=False)
    EntitlementFactory(customer=customer)
    client = api_client(customer=customer)
    response = client.get(_url(customer, "servers/"))
    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == "activations_unavailable"


def test_openapi_is_3_1_and_docs_page_has_no_inline_script(client: Client) -> None:
    document = client.get("/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert "/api/v1/customers/{number}/entitlements/" in document["paths"]
    page = client.get("/api/v1/docs/")
    assert page.status_code == HTTPStatus.OK
    html = page.content.decode()
    assert "cdn" not in html.lower()
    import re

    scripts = re.findall(r"<script([^>]*)>", html)
    assert all("src=" in attrs or 'type="application/json"' in attrs for attrs in scripts)
    assert "Content-Security-Policy" in page.headers
