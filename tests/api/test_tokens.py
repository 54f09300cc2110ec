"""Personal access tokens: the page, the service rules, and authentication."""

from __future__ import annotations

import datetime
import hashlib
from http import HTTPStatus

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Membership
from accounts.roles import Role
from accounts.services import membership_change_role, membership_remove
from api.models import ApiToken
from api.services import api_token_create, api_token_revoke
from api.tokens import authenticate
from portal.errors import AccessDenied, PortalError
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _page(customer) -> str:
    return reverse("api_tokens:list", kwargs={"customer_number": customer.number})


def test_token_is_shown_once_and_stored_as_a_hash(member_client, customer) -> None:
    client = member_client(role=Role.ADMINISTRATOR, customer=customer)
    response = client.post(_page(customer), {"name": "ci script", "role": Role.VIEWER, "days": 30})
    assert response.status_code == HTTPStatus.CREATED
    raw = response.context["created"]
    assert raw.startswith("lpat_")
    assert len(raw) >= 40
    token = ApiToken.objects.get()
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(ApiToken.objects.values().get())
    assert token.prefix == raw[: len(token.prefix)]
    assert (token.expires_at - token.created_at).days == 30
    page = client.get(_page(customer)).content.decode()
    assert raw not in page
    assert token.prefix in page
    event = AuditEvent.objects.get(action="api_token.created")
    assert event.details["role"] == "viewer"
    assert raw not in str(event.details)


def test_expiry_defaults_to_90_days_and_is_at_most_a_year(customer) -> None:
    owner = MembershipFactory(customer=customer, role=Role.VIEWER).user
    token, _raw = api_token_create(customer=customer, actor=owner, name="a", role=Role.VIEWER)
    assert (token.expires_at - token.created_at).days == 90
    with pytest.raises(PortalError):
        api_token_create(customer=customer, actor=owner, name="b", role=Role.VIEWER, days=366)
    with pytest.raises(PortalError):
        api_token_create(customer=customer, actor=owner, name="b", role=Role.VIEWER, days=0)


@pytest.mark.parametrize(
    ("own", "asked", "allowed"),
    [
        (Role.VIEWER, Role.VIEWER, True),
        (Role.VIEWER, Role.ADMINISTRATOR, False),
        (Role.VIEWER, Role.ASC, False),
        (Role.ADMINISTRATOR, Role.ADMINISTRATOR, True),
        (Role.ADMINISTRATOR, Role.ASC, False),
        (Role.ASC, Role.ASC, True),
        (Role.ASC, Role.VIEWER, True),
    ],
)
def test_role_no_higher_than_own(customer, own: Role, asked: Role, allowed: bool) -> None:
    owner = MembershipFactory(customer=customer, role=own).user
    if allowed:
        api_token_create(customer=customer, actor=owner, name="t", role=asked)
    else:
        with pytest.raises(PortalError):
            api_token_create(customer=customer, actor=owner, name="t", role=asked)
        assert AuditEvent.objects.filter(action="api_token.create", denied=True).exists()


def test_non_member_cannot_create(customer, other_customer) -> None:
    outsider = MembershipFactory(customer=other_customer, role=Role.ASC).user
    with pytest.raises(AccessDenied):
        api_token_create(customer=customer, actor=outsider, name="t", role=Role.VIEWER)


def test_ascs_are_emailed_about_write_tokens_only(customer, django_capture_on_commit_callbacks) -> None:
    MembershipFactory(customer=customer, role=Role.ASC, user=UserFactory(email="asc@demo.example"))
    admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR).user
    with django_capture_on_commit_callbacks(execute=True):
        api_token_create(customer=customer, actor=admin, name="reader", role=Role.VIEWER)
    assert mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        api_token_create(customer=customer, actor=admin, name="writer", role=Role.ADMINISTRATOR)
    assert [m.to for m in mail.outbox] == [["asc@demo.example"]]
    assert "writer" in mail.outbox[0].body


def test_member_sees_and_revokes_own_only(customer) -> None:
    a = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR).user
    b = MembershipFactory(customer=customer, role=Role.VIEWER).user
    token_a, _ = api_token_create(customer=customer, actor=a, name="a", role=Role.VIEWER)
    token_b, _ = api_token_create(customer=customer, actor=b, name="b", role=Role.VIEWER)
    client = Client()
    client.force_login(b)
    page = client.get(_page(customer))
    assert [t.pk for t in page.context["tokens"]] == [token_b.pk]
    revoke_a = reverse("api_tokens:revoke", kwargs={"customer_number": customer.number, "token_id": token_a.pk})
    assert client.post(revoke_a).status_code == HTTPStatus.NOT_FOUND
    with pytest.raises(AccessDenied):
        api_token_revoke(token=token_a, actor=b)
    revoke_b = reverse("api_tokens:revoke", kwargs={"customer_number": customer.number, "token_id": token_b.pk})
    assert client.post(revoke_b).status_code == HTTPStatus.FOUND
    token_b.refresh_from_db()
    assert token_b.revoked_at is not None
    assert AuditEvent.objects.filter(action="api_token.revoked", target="b").exists()


def test_asc_sees_and_revokes_every_token(customer) -> None:
    asc = MembershipFactory(customer=customer, role=Role.ASC).user
    admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR).user
    token, raw = api_token_create(customer=customer, actor=admin, name="theirs", role=Role.ADMINISTRATOR)
    client = Client()
    client.force_login(asc)
    page = client.get(_page(customer))
    assert token in list(page.context["tokens"])
    url = reverse("api_tokens:revoke", kwargs={"customer_number": customer.number, "token_id": token.pk})
    assert client.post(url).status_code == HTTPStatus.FOUND
    assert authenticate(raw) is None
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get("/api/v1/token").status_code == HTTPStatus.UNAUTHORIZED


def test_token_stops_at_once_when_owner_loses_membership(customer, staff_user) -> None:
    admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR)
    _token, raw = api_token_create(customer=customer, actor=admin.user, name="t", role=Role.ADMINISTRATOR)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get(f"/api/v1/customers/{customer.number}/entitlements/").status_code == HTTPStatus.OK
    membership_remove(membership=admin, actor=staff_user)
    assert api.get(f"/api/v1/customers/{customer.number}/entitlements/").status_code == HTTPStatus.UNAUTHORIZED


def test_token_narrows_at_once_when_owner_is_demoted(customer, staff_user) -> None:
    admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR)
    _token, raw = api_token_create(customer=customer, actor=admin.user, name="t", role=Role.ADMINISTRATOR)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    body = {"email": "new@example.org", "role": "viewer"}
    url = f"/api/v1/customers/{customer.number}/members/"
    membership_change_role(membership=admin, actor=staff_user, role=Role.VIEWER)
    response = api.post(url, body, content_type="application/json")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert api.get("/api/v1/token").json()["permissions"] == ["view", "download_license_files"]


def test_expired_and_inactive_tokens_do_not_authenticate(customer) -> None:
    owner = MembershipFactory(customer=customer, role=Role.VIEWER).user
    token, raw = api_token_create(customer=customer, actor=owner, name="t", role=Role.VIEWER)
    assert authenticate(raw) is not None
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    assert authenticate(raw) is None
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() + datetime.timedelta(days=1))
    owner.is_active = False
    owner.save()
    assert authenticate(raw) is None
    assert authenticate("lpat_nonsense") is None
    assert authenticate("Bearer " + raw) is None


def test_last_used_and_ip_recorded(customer) -> None:
    owner = MembershipFactory(customer=customer, role=Role.VIEWER).user
    token, raw = api_token_create(customer=customer, actor=owner, name="t", role=Role.VIEWER)
    Client(HTTP_AUTHORIZATION=f"Bearer {raw}", REMOTE_ADDR="192.0.2.7").get("/api/v1/token")
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert token.last_used_ip == "192.0.2.7"


def test_write_use_is_audited(api_client, customer) -> None:
    client = api_client(role=Role.ADMINISTRATOR, customer=customer)
    client.post(
        f"/api/v1/customers/{customer.number}/members/",
        {"email": "x@example.org", "role": "viewer"},
        content_type="application/json",
    )
    used = AuditEvent.objects.get(action="api_token.used")
    assert used.actor == client.user
    assert used.details["method"] == "POST"
    assert used.details["prefix"] == client.token.prefix
    assert AuditEvent.objects.filter(action__in=["invitation.created", "membership.added"]).exists()
    assert Membership.objects.filter(customer=customer).count() == 1


def test_tokens_page_is_any_members_and_webhooks_the_ascs(customer) -> None:
    """Issue 16: any member keeps tokens; the ASC (MANAGE_API_ACCESS) oversees them and owns the
    webhooks. An Administrator, who is no ASC, is refused the webhooks page (403, audited)."""
    pages = {
        role: MembershipFactory(customer=customer, role=role).user
        for role in (Role.ASC, Role.ADMINISTRATOR, Role.VIEWER)
    }
    webhooks = reverse("webhooks:list", kwargs={"customer_number": customer.number})
    for role, user in pages.items():
        client = Client()
        client.force_login(user)
        assert client.get(_page(customer)).status_code == HTTPStatus.OK
        expected = HTTPStatus.OK if role == Role.ASC else HTTPStatus.FORBIDDEN
        assert client.get(webhooks).status_code == expected
    denied = AuditEvent.objects.get(denied=True, actor=pages[Role.ADMINISTRATOR])
    assert denied.details["permission"] == "manage_api_access"
