"""The Shared Web and Elastic settings through the API: the settings pages' services, their
refusals as problems, their audit events and ASC notifications; and adding members as the
users page does (always an invitation, the same answer with or without an account)."""

from __future__ import annotations

import datetime
from http import HTTPStatus

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import AuditEvent, Invitation, Membership
from accounts.roles import Role
from entitlements.models import ElasticAccount, SeatAssignment, SharedWebGroup, SharedWebUser
from tests.api.world import objects
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def own(staff_user):
    return objects("1001234", staff_user)


def _url(own, tail: str) -> str:
    return f"/api/v1/customers/{own.customer.number}/{tail}"


def _json(client, method: str, url: str, body=None):
    kwargs = {"data": body, "content_type": "application/json"} if body is not None else {}
    return getattr(client, method)(url, **kwargs)


def test_shared_web_user_change_deactivate_reactivate(api_client, own) -> None:
    client = api_client(role=Role.ADMINISTRATOR, customer=own.customer)
    url = _url(own, f"shared-web/users/{own.shared_web_user.pk}")
    changed = _json(client, "patch", url, {"email": "Renamed@Example.org", "name": "  Re   Named "})
    assert changed.status_code == HTTPStatus.OK, changed.content
    assert changed.json() == {
        "id": own.shared_web_user.pk,
        "email": "renamed@example.org",
        "name": "Re Named",
        "active": True,
    }
    assert AuditEvent.objects.filter(action="shared_web.user_updated", target="renamed@example.org").exists()
    off = client.post(url + "/deactivate")
    assert off.json()["active"] is False
    assert SharedWebUser.objects.get(pk=own.shared_web_user.pk).active is False
    assert client.post(url + "/reactivate").json()["active"] is True
    actions = set(AuditEvent.objects.filter(action__startswith="shared_web.user_").values_list("action", flat=True))
    assert {"shared_web.user_deactivated", "shared_web.user_reactivated"} <= actions
    assert client.get(url).json()["email"] == "renamed@example.org"


def test_a_duplicate_email_is_a_rejected_problem(api_client, own) -> None:
    client = api_client(role=Role.ADMINISTRATOR, customer=own.customer)
    SharedWebUser.objects.create(customer=own.customer, email="taken@example.org")
    response = _json(
        client, "patch", _url(own, f"shared-web/users/{own.shared_web_user.pk}"), {"email": "TAKEN@example.org"}
    )
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert (body["code"], body["field"]) == ("rejected", "email")
    assert "already on the Shared Web list" in body["detail"]


def test_import_preview_then_apply_then_plan_changed(api_client, own) -> None:
    client = api_client(role=Role.ASC, customer=own.customer)
    csv = f"email,name\nnew1@example.org,New One\n{own.shared_web_user.email},Renamed\nnot-an-email\n"
    preview = _json(client, "post", _url(own, "shared-web/user-import"), {"csv": csv})
    assert preview.status_code == HTTPStatus.OK, preview.content
    plan = preview.json()
    assert plan["applied"] is False
    assert [(line["line"], line["outcome"]) for line in plan["lines"]] == [(2, "add"), (3, "update"), (4, "invalid")]
    assert not SharedWebUser.objects.filter(email="new1@example.org").exists()
    # An invalid line blocks the apply, as on the page.
    refused = _json(client, "post", _url(own, "shared-web/user-import"), {"csv": csv, "digest": plan["digest"]})
    assert refused.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    good = "\n".join(csv.splitlines()[:3])
    digest = _json(client, "post", _url(own, "shared-web/user-import"), {"csv": good}).json()["digest"]
    SharedWebUser.objects.create(customer=own.customer, email="new1@example.org")  # the list moves meanwhile
    moved = _json(client, "post", _url(own, "shared-web/user-import"), {"csv": good, "digest": digest})
    assert moved.status_code == HTTPStatus.CONFLICT
    assert moved.json()["code"] == "plan_changed"
    assert [line["outcome"] for line in moved.json()["lines"]] == ["update", "update"]
    applied = _json(
        client, "post", _url(own, "shared-web/user-import"), {"csv": good, "digest": moved.json()["digest"]}
    )
    assert applied.status_code == HTTPStatus.OK, applied.content
    assert applied.json()["applied"] is True
    assert SharedWebUser.objects.get(email="new1@example.org").name == "New One"
    assert AuditEvent.objects.filter(action="shared_web.user_updated", details__import=True).count() == 2
    empty = _json(client, "post", _url(own, "shared-web/user-import"), {"csv": "# nothing\n"})
    assert empty.status_code == HTTPStatus.UNPROCESSABLE_ENTITY


def test_groups_members_and_seats(api_client, own, staff_user, django_capture_on_commit_callbacks) -> None:
    MembershipFactory(customer=own.customer, role=Role.ASC, user=UserFactory(email="asc@1001234.example"))
    client = api_client(role=Role.ADMINISTRATOR, customer=own.customer)
    group = _group_created(client, own, django_capture_on_commit_callbacks)
    gurl = _url(own, f"shared-web/groups/{group['id']}")
    _group_members_set(client, own, gurl, staff_user)
    _group_seats_reserved(client, own, gurl, group)
    _group_renamed_and_deleted(client, own, gurl, group)
    actions = list(
        AuditEvent.objects.filter(action__startswith="shared_web.group", actor=client.user)
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == [
        "shared_web.group_created",
        "shared_web.group_members_changed",
        "shared_web.group_renamed",
        "shared_web.group_deleted",
    ]


def _group_created(client, own, django_capture_on_commit_callbacks) -> dict:
    with django_capture_on_commit_callbacks(execute=True):
        created = _json(client, "post", _url(own, "shared-web/groups/"), {"name": "Design"})
    assert created.status_code == HTTPStatus.CREATED, created.content
    group = created.json()
    assert (group["name"], group["member_ids"], group["seats"]) == ("Design", [], [])
    assert any("asc@1001234.example" in m.to for m in mail.outbox)  # the ASC is told, as from the page
    dup = _json(client, "post", _url(own, "shared-web/groups/"), {"name": "design"})
    assert dup.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    return group


def _group_members_set(client, own, gurl: str, staff_user) -> None:
    members = _json(client, "put", gurl + "/members", {"member_ids": [own.shared_web_user.pk]})
    assert members.json()["member_ids"] == [own.shared_web_user.pk]
    foreign = SharedWebUser.objects.create(customer=objects("2005678", staff_user).customer, email="x@other.example")
    refused = _json(client, "put", gurl + "/members", {"member_ids": [foreign.pk]})
    assert refused.status_code == HTTPStatus.UNPROCESSABLE_ENTITY


def _group_seats_reserved(client, own, gurl: str, group: dict) -> None:
    line = own.shared_web_line
    seats = _json(client, "put", gurl + f"/seats/{line.pk}", {"seats": 2})
    assert seats.json() == {"seats": 2}
    line.refresh_from_db()
    assert line.activated == 2
    too_many = _json(client, "put", gurl + f"/seats/{line.pk}", {"seats": line.quantity + 1})
    assert too_many.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert too_many.json()["field"] == "seats"
    assert _json(client, "put", gurl + f"/seats/{own.entitlement.pk}", {"seats": 1}).status_code == HTTPStatus.NOT_FOUND
    overview = client.get(_url(own, "shared-web/seats/")).json()
    assert overview == [
        {
            "entitlement_id": line.pk,
            "line_id": line.line_id,
            "product": line.product.name,
            "quantity": line.quantity,
            "reserved": 2,
            "unreserved": line.quantity - 2,
            "reservations": [{"group_id": group["id"], "group": "Design", "seats": 2}],
        }
    ]
    assert client.get(gurl).json()["seats"] == [{"entitlement_id": line.pk, "line_id": line.line_id, "seats": 2}]


def _group_renamed_and_deleted(client, own, gurl: str, group: dict) -> None:
    line = own.shared_web_line
    assert _json(client, "patch", gurl, {"name": "Design team"}).json()["name"] == "Design team"
    assert client.delete(gurl).status_code == HTTPStatus.NO_CONTENT
    assert not SharedWebGroup.objects.filter(pk=group["id"]).exists()
    assert not SeatAssignment.objects.filter(entitlement=line).exists()
    line.refresh_from_db()
    assert line.activated == 0
    assert client.get(gurl).status_code == HTTPStatus.NOT_FOUND


def test_elastic_budget_and_pin(api_client, own) -> None:
    client = api_client(role=Role.ADMINISTRATOR, customer=own.customer)
    budget = {"monthly_budget_units": 5000, "alert_thresholds": [100, 75], "alert_recipients": ["Finance@Example.org"]}
    saved = _json(client, "put", _url(own, "elastic/budget"), budget)
    assert saved.status_code == HTTPStatus.OK, saved.content
    assert saved.json() == {
        "license_server_id": "cloud-1001234",
        "monthly_budget_units": 5000,
        "alert_thresholds": [75, 100],
        "alert_recipients": ["finance@example.org"],
    }
    assert client.get(_url(own, "elastic/")).json() == saved.json()
    bad = _json(client, "put", _url(own, "elastic/budget"), {**budget, "alert_thresholds": [0]})
    assert (bad.status_code, bad.json()["field"]) == (HTTPStatus.UNPROCESSABLE_ENTITY, "alert_thresholds")
    event = AuditEvent.objects.get(action="elastic.budget_changed")
    assert event.details["monthly_budget_units"] == {"from": None, "to": 5000}

    pin = client.get(_url(own, "elastic/pin"))
    assert pin.json()["pin"] == "ABCDEFGHJKLM"
    assert pin["Cache-Control"] == "no-store"
    fresh = client.post(_url(own, "elastic/pin/regenerate"))
    assert fresh.status_code == HTTPStatus.OK
    new_pin = fresh.json()["pin"]
    assert new_pin != "ABCDEFGHJKLM"
    assert ElasticAccount.objects.get(customer=own.customer).pin == new_pin
    regenerated = AuditEvent.objects.get(action="elastic.pin_regenerated")
    assert new_pin not in str(regenerated.details)
    assert new_pin not in regenerated.target


def test_a_viewer_reads_but_cannot_see_the_pin(api_client, own) -> None:
    viewer = api_client(role=Role.VIEWER, customer=own.customer)
    assert viewer.get(_url(own, "elastic/")).status_code == HTTPStatus.OK
    assert viewer.get(_url(own, f"shared-web/groups/{own.shared_web_group.pk}")).status_code == HTTPStatus.OK
    denied = viewer.get(_url(own, "elastic/pin"))
    assert denied.status_code == HTTPStatus.FORBIDDEN
    assert "pin" not in denied.json()


def test_an_asc_token_narrowed_to_viewer_cannot_write_settings(api_client, own) -> None:
    client = api_client(role=Role.ASC, customer=own.customer, token_role=Role.VIEWER)
    response = _json(client, "post", _url(own, "shared-web/groups/"), {"name": "Nope"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not SharedWebGroup.objects.filter(name="Nope").exists()


# --- Members: always an invitation, the same answer with or without an account ------------------


def test_adding_a_member_always_invites_and_reveals_no_account(
    api_client, own, staff_user, django_capture_on_commit_callbacks
) -> None:
    admin = api_client(role=Role.ADMINISTRATOR, customer=own.customer)
    existing = UserFactory(email="has-account@example.org")  # a verified account, of another company
    MembershipFactory(user=existing, customer=objects("2005678", staff_user).customer, role=Role.ASC)
    answers = {}
    with django_capture_on_commit_callbacks(execute=True):
        for email in ("has-account@example.org", "no-account@example.org"):
            response = _json(admin, "post", _url(own, "members/"), {"email": email, "role": "viewer"})
            assert response.status_code == HTTPStatus.CREATED, response.content
            answers[email] = response.json()
    a, b = answers["has-account@example.org"], answers["no-account@example.org"]
    _assert_the_same_answer_for_both(a, b)
    # Nobody joined without accepting; both addresses got the invitation email.
    assert not Membership.objects.filter(customer=own.customer, user=existing).exists()
    invited = {m.to[0] for m in mail.outbox if m.to[0] in answers}
    assert invited == set(answers)
    listed = admin.get(_url(own, "invitations/")).json()["results"]
    assert {i["id"]: i for i in listed}[a["id"]] == a["invitation"]
    _assert_resend_and_cancel_as_the_users_page(admin, own, a, b)
    # Inviting the same address again is refused, the same way for both.
    again = _json(admin, "post", _url(own, "members/"), {"email": "no-account@example.org", "role": "viewer"})
    assert again.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert again.json()["field"] == "email"


def _assert_the_same_answer_for_both(a: dict, b: dict) -> None:
    assert set(a) == set(b) == {"outcome", "id", "invitation"}
    assert a["outcome"] == b["outcome"] == "invited"
    assert set(a["invitation"]) == set(b["invitation"])
    assert (a["invitation"]["email"], a["invitation"]["role"]) == ("has-account@example.org", "viewer")
    assert a["id"] == a["invitation"]["id"]


def _assert_resend_and_cancel_as_the_users_page(admin, own, a: dict, b: dict) -> None:
    too_soon = admin.post(_url(own, f"invitations/{b['id']}/resend"))
    assert too_soon.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "less than a minute ago" in too_soon.json()["detail"]
    Invitation.objects.filter(pk=b["id"]).update(last_sent_at=timezone.now() - datetime.timedelta(minutes=2))
    assert admin.post(_url(own, f"invitations/{b['id']}/resend")).status_code == HTTPStatus.NO_CONTENT
    assert admin.delete(_url(own, f"invitations/{a['id']}")).status_code == HTTPStatus.NO_CONTENT
    assert not Invitation.objects.pending().filter(pk=a["id"]).exists()
    assert {"invitation.created", "invitation.resent", "invitation.cancelled"} <= set(
        AuditEvent.objects.filter(customer=own.customer).values_list("action", flat=True)
    )


def test_a_member_cannot_invite_an_asc(api_client, own) -> None:
    admin = api_client(role=Role.ADMINISTRATOR, customer=own.customer)
    response = _json(admin, "post", _url(own, "members/"), {"email": "boss@example.org", "role": "asc"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not Invitation.objects.filter(email="boss@example.org").exists()
