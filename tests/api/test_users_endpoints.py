"""The users page's bulk add and two-factor requirement through the API: the same services,
so the same plan, digest, refusals, audit events and emails as the pages."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.core import mail

from accounts.models import AuditEvent, Customer, Invitation, Membership
from accounts.roles import Role
from tests.api.world import objects
from tests.factories import InvitationFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def own(staff_user):
    return objects("1001234", staff_user)


def _post(client, own, tail: str, body: dict, method: str = "post"):
    return getattr(client, method)(
        f"/api/v1/customers/{own.customer.number}/{tail}", data=body, content_type="application/json"
    )


def _outcomes(response) -> list[tuple[int, str, str]]:
    return [(line["line"], line["email"], line["outcome"]) for line in response.json()["lines"]]


def test_bulk_add_previews_then_invites_everyone_on_the_plan(
    api_client, own, django_capture_on_commit_callbacks
) -> None:
    client = api_client(role=Role.ADMINISTRATOR, customer=own.customer)
    asc = MembershipFactory(customer=own.customer, role=Role.ASC).user.email
    member = own.member.user.email
    csv = f"email,role\nNew.One@Example.org,viewer\n{member},administrator\nnew2@example.org;Administrator\n"
    preview = _post(client, own, "member-import", {"csv": csv})
    assert preview.status_code == HTTPStatus.OK, preview.content
    assert preview.json()["applied"] is False
    assert _outcomes(preview) == [
        (2, "new.one@example.org", "invite"),
        (3, own.member.user.email, "already_member"),
        (4, "new2@example.org", "invite"),
    ]
    assert not Invitation.objects.filter(email__in=["new.one@example.org", "new2@example.org"]).exists()
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        applied = _post(client, own, "member-import", {"csv": csv, "digest": preview.json()["digest"]})

    assert applied.status_code == HTTPStatus.OK, applied.content
    assert applied.json()["applied"] is True
    invited = Invitation.objects.filter(customer=own.customer, email__in=["new.one@example.org", "new2@example.org"])
    assert sorted(invited.values_list("email", "role")) == [
        ("new.one@example.org", Role.VIEWER),
        ("new2@example.org", Role.ADMINISTRATOR),
    ]
    assert not Membership.objects.filter(user__email="new.one@example.org").exists()  # only by accepting
    recipients = {address for message in mail.outbox for address in message.to}
    assert {"new.one@example.org", "new2@example.org", asc} <= recipients
    assert AuditEvent.objects.filter(action="api_token.used", customer=own.customer).exists()


def test_bulk_add_apply_after_a_change_is_a_conflict_with_the_new_plan(api_client, own) -> None:
    client = api_client(role=Role.ADMINISTRATOR, customer=own.customer)
    csv = "late@example.org,viewer\n"
    digest = _post(client, own, "member-import", {"csv": csv}).json()["digest"]
    InvitationFactory(customer=own.customer, email="late@example.org")

    changed = _post(client, own, "member-import", {"csv": csv, "digest": digest})

    assert changed.status_code == HTTPStatus.CONFLICT, changed.content
    body = changed.json()
    assert (body["code"], body["applied"]) == ("plan_changed", False)
    assert _outcomes(changed) == [(1, "late@example.org", "already_invited")]
    assert body["digest"] != digest
    assert Invitation.objects.filter(customer=own.customer, email="late@example.org").count() == 1


def test_bulk_add_refuses_bad_input_and_the_asc_role_with_problems(api_client, own) -> None:
    client = api_client(role=Role.ADMINISTRATOR, customer=own.customer)
    empty = _post(client, own, "member-import", {"csv": "# nothing\n"})
    assert empty.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert empty.json()["field"] == "csv"
    invalid_csv = "nobody-at-all,viewer\nok@example.org,boss\n"
    invalid = _post(client, own, "member-import", {"csv": invalid_csv})
    assert [line["outcome"] for line in invalid.json()["lines"]] == ["invalid", "invalid"]
    assert "Unknown role" in invalid.json()["lines"][1]["reason"]
    refused = _post(client, own, "member-import", {"csv": invalid_csv, "digest": invalid.json()["digest"]})
    assert refused.status_code == HTTPStatus.UNPROCESSABLE_ENTITY, refused.content
    asc_csv = "boss@example.org,asc\n"
    asc = _post(client, own, "member-import", {"csv": asc_csv})
    assert [line["outcome"] for line in asc.json()["lines"]] == ["asc_refused"]
    forged = _post(client, own, "member-import", {"csv": asc_csv, "digest": asc.json()["digest"]})
    assert forged.status_code == HTTPStatus.FORBIDDEN, forged.content
    assert AuditEvent.objects.filter(action="membership.bulk_add", denied=True, customer=own.customer).exists()
    assert not Invitation.objects.filter(email__in=["ok@example.org", "boss@example.org"]).exists()


def test_a_viewer_token_of_an_administrator_cannot_bulk_add(api_client, own) -> None:
    client = api_client(role=Role.ADMINISTRATOR, customer=own.customer, token_role=Role.VIEWER)
    response = _post(client, own, "member-import", {"csv": "someone@example.org,viewer\n"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["permission"] == "manage_users"
    assert AuditEvent.objects.filter(action="access.denied", denied=True, customer=own.customer).exists()


def _required(own) -> bool:
    return Customer.objects.get(pk=own.customer.pk).mfa_required


def test_an_administrator_may_require_two_factor_but_only_the_asc_may_stop_it(api_client, own) -> None:
    admin = api_client(role=Role.ADMINISTRATOR, customer=own.customer)
    on = _post(admin, own, "mfa-requirement", {"required": True}, method="put")
    assert (on.status_code, on.json()) == (HTTPStatus.OK, {"required": True})
    assert _required(own) is True
    assert AuditEvent.objects.filter(action="customer.mfa_required", customer=own.customer, denied=False).exists()
    assert admin.get(f"/api/v1/customers/{own.customer.number}/mfa-requirement").json() == {"required": True}

    off = _post(admin, own, "mfa-requirement", {"required": False}, method="put")

    assert off.status_code == HTTPStatus.FORBIDDEN, off.content
    assert off.json()["permission"] == "turn_off_mfa_requirement"
    assert _required(own) is True
    asc = api_client(role=Role.ASC, customer=own.customer)
    assert _post(asc, own, "mfa-requirement", {"required": False}, method="put").json() == {"required": False}
    assert _required(own) is False


def test_an_asc_token_with_the_administrator_role_cannot_stop_requiring_two_factor(api_client, own) -> None:
    Customer.objects.filter(pk=own.customer.pk).update(mfa_required=True)
    client = api_client(role=Role.ASC, customer=own.customer, token_role=Role.ADMINISTRATOR)
    response = _post(client, own, "mfa-requirement", {"required": False}, method="put")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert _required(own) is True
    viewer = api_client(role=Role.VIEWER, customer=own.customer)
    assert _post(viewer, own, "mfa-requirement", {"required": True}, method="put").status_code == HTTPStatus.FORBIDDEN
