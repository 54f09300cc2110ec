"""Bulk add: parse, preview per line, apply all or nothing."""

from __future__ import annotations

import re
import time
from http import HTTPStatus

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.forms import MAX_BULK_LINES, bulk_requests_parse
from accounts.models import AuditEvent, Invitation, Membership, Notification
from accounts.roles import Role
from accounts.selectors import AddOutcome, user_add_plan
from tests.factories import CustomerFactory, InvitationFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


# --- Parsing ----------------------------------------------------------------------------


def test_parse_accepts_values_labels_header_and_spreadsheet_separators() -> None:
    text = "\n".join(
        [
            "Email,Role",
            "a@example.org,administrator",
            " B@Example.org ; Viewer ",
            "",
            "# a comment",
            '"c@example.org","License Portal Administrator"',
            "d@example.org\tlicense portal viewer",
            "e@example.org,ASC",
        ]
    )
    requests = bulk_requests_parse(text)
    assert [(r.number, r.email, r.role, r.error) for r in requests] == [
        (2, "a@example.org", Role.ADMINISTRATOR, ""),
        (3, "b@example.org", Role.VIEWER, ""),
        (6, "c@example.org", Role.ADMINISTRATOR, ""),
        (7, "d@example.org", Role.VIEWER, ""),
        (8, "e@example.org", Role.ASC, ""),
    ]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("just-an-email@example.org", "email,role"),
        ("a@example.org,viewer,extra", "email,role"),
        ("not-an-email,viewer", "valid email"),
        ("a@example.org,owner", "Unknown role"),
        (",viewer", "email,role"),
        ('"unterminated@example.org,viewer', ""),
    ],
)
def test_parse_explains_malformed_lines(line, reason) -> None:
    (request,) = bulk_requests_parse(line)
    assert request.error
    assert reason in request.error


# --- Preview and apply through the page --------------------------------------------------


def _preview(client, customer, text=None, **extra):
    data = {"preview": "1", **extra}
    if text is not None:
        data["text"] = text
    return client.post(reverse("users:bulk", args=[customer.number]), data)


def _apply(client, customer, preview_response):
    html = preview_response.content.decode()
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    content = preview_response.context["apply_form"].initial["content"]
    return client.post(
        reverse("users:bulk", args=[customer.number]), {"apply": "1", "content": content, "token": token}
    )


@pytest.fixture
def setup(member_client):
    customer = CustomerFactory()
    client = member_client(role=Role.ADMINISTRATOR, customer=customer)
    asc = MembershipFactory(customer=customer, role=Role.ASC).user
    UserFactory(email="verified@example.org")
    MembershipFactory(customer=customer, user=UserFactory(email="member@example.org"))
    InvitationFactory(customer=customer, email="invited@example.org")
    return customer, client, asc


MIXED = "\n".join(
    [
        "email,role",
        "verified@example.org,administrator",
        "new@example.org,viewer",
        "member@example.org,viewer",
        "invited@example.org,viewer",
        "new@example.org,viewer",
    ]
)


def test_preview_shows_each_line_and_changes_nothing(setup) -> None:
    customer, client, _asc = setup
    response = _preview(client, customer, MIXED)
    assert response.status_code == HTTPStatus.OK
    plan = response.context["plan"]
    # An address with an account elsewhere is invited like any other (nothing tells which).
    assert [(line.request.number, line.outcome) for line in plan] == [
        (2, AddOutcome.INVITE),
        (3, AddOutcome.INVITE),
        (4, AddOutcome.ALREADY_MEMBER),
        (5, AddOutcome.ALREADY_INVITED),
        (6, AddOutcome.DUPLICATE),
    ]
    html = response.content.decode()
    for label in ("Invite", "Already a portal user", "Already invited", "Duplicate in file", "Same as line 3"):
        assert label in html
    assert "verified account" not in html
    assert 'name="apply"' in html
    assert Membership.objects.filter(customer=customer).count() == 3
    assert Invitation.objects.filter(customer=customer).count() == 1
    assert not Notification.objects.exists()


def test_apply_adds_invites_and_tells_each_asc_once(setup, django_capture_on_commit_callbacks) -> None:
    customer, client, asc = setup
    preview = _preview(client, customer, MIXED)
    with django_capture_on_commit_callbacks(execute=True):
        response = _apply(client, customer, preview)
    assert response.status_code == HTTPStatus.FOUND
    assert not Membership.objects.filter(customer=customer, user__email="verified@example.org").exists()
    assert Invitation.objects.pending().get(customer=customer, email="verified@example.org").role == Role.ADMINISTRATOR
    assert Invitation.objects.pending().get(customer=customer, email="new@example.org").role == Role.VIEWER
    assert Invitation.objects.filter(customer=customer, email="new@example.org").count() == 1
    asc_mail = [m for m in mail.outbox if m.to == [asc.email]]
    assert len(asc_mail) == 1
    assert "verified@example.org" in asc_mail[0].body
    assert "new@example.org" in asc_mail[0].body
    assert "member@example.org" not in asc_mail[0].body
    assert [m.to for m in mail.outbox if m.to == ["new@example.org"]] == [["new@example.org"]]
    assert [m.to for m in mail.outbox if m.to == ["verified@example.org"]] == [["verified@example.org"]]
    actions = sorted(AuditEvent.objects.filter(customer=customer).values_list("action", "target"))
    assert actions == [("invitation.created", "new@example.org"), ("invitation.created", "verified@example.org")]


@pytest.mark.parametrize(
    ("bad_line", "outcome"),
    [
        ("boss@example.org,asc", AddOutcome.ASC_REFUSED),
        ("broken line", AddOutcome.INVALID),
        ("new@example.org,administrator", AddOutcome.INVALID),
    ],  # conflicts with line 3's role
)
def test_a_blocking_line_means_no_apply_at_all(setup, bad_line, outcome) -> None:
    customer, client, _asc = setup
    response = _preview(client, customer, MIXED + "\n" + bad_line)
    assert response.context["plan"][-1].outcome == outcome
    assert response.context["blocking"]
    html = response.content.decode()
    assert 'name="apply"' not in html
    # Even a forged apply of that preview applies nothing.
    token = response.context["apply_form"].initial["token"]
    content = response.context["apply_form"].initial["content"]
    forged = client.post(
        reverse("users:bulk", args=[customer.number]), {"apply": "1", "content": content, "token": token}
    )
    if outcome == AddOutcome.ASC_REFUSED:
        assert forged.status_code == HTTPStatus.FORBIDDEN
        assert AuditEvent.objects.filter(customer=customer, denied=True, action="membership.bulk_add").count() == 1
    else:
        assert forged.status_code == HTTPStatus.BAD_REQUEST
    assert not Invitation.objects.filter(email="new@example.org").exists()
    assert not Membership.objects.filter(user__email="verified@example.org").exists()


def test_changes_since_the_preview_apply_nothing_and_show_the_new_preview(setup) -> None:
    customer, client, _asc = setup
    preview = _preview(client, customer, MIXED)
    InvitationFactory(customer=customer, email="new@example.org")  # a colleague was quicker
    response = _apply(client, customer, preview)
    assert response.status_code == HTTPStatus.CONFLICT
    assert "nothing was applied" in response.content.decode()
    assert response.context["plan"][1].outcome == AddOutcome.ALREADY_INVITED
    assert not Invitation.objects.filter(email="verified@example.org").exists()
    # The new preview applies.
    assert _apply(client, customer, response).status_code == HTTPStatus.FOUND
    assert Invitation.objects.filter(customer=customer, email="verified@example.org").exists()


def test_tampered_content_or_token_is_refused(setup) -> None:
    customer, client, _asc = setup
    preview = _preview(client, customer, "new@example.org,viewer")
    token = preview.context["apply_form"].initial["token"]
    url = reverse("users:bulk", args=[customer.number])
    for data in (
        {"apply": "1", "content": "evil@example.org,viewer", "token": token},
        {"apply": "1", "content": "new@example.org,viewer", "token": token + "x"},
        {"apply": "1", "content": "new@example.org,viewer"},
    ):
        assert client.post(url, data).status_code == HTTPStatus.BAD_REQUEST
    assert not Invitation.objects.filter(customer=customer, email__in=["new@example.org", "evil@example.org"]).exists()


def test_crlf_from_a_browser_still_matches_the_preview(setup) -> None:
    customer, client, _asc = setup
    preview = _preview(client, customer, "new@example.org,viewer\r\nother@example.org,viewer")
    token = preview.context["apply_form"].initial["token"]
    response = client.post(
        reverse("users:bulk", args=[customer.number]),
        {"apply": "1", "content": "new@example.org,viewer\r\nother@example.org,viewer", "token": token},
    )
    assert response.status_code == HTTPStatus.FOUND
    assert Invitation.objects.filter(customer=customer, email__in=["new@example.org", "other@example.org"]).count() == 2


def test_nothing_is_half_applied_when_a_write_fails(setup, monkeypatch) -> None:
    customer, client, _asc = setup
    preview = _preview(client, customer, MIXED)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Invitation.objects, "bulk_create", broken)
    client.raise_request_exception = False
    assert _apply(client, customer, preview).status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    assert not Membership.objects.filter(user__email="verified@example.org").exists()
    assert not AuditEvent.objects.filter(customer=customer).exists()
    assert not Notification.objects.exists()


def test_upload_a_csv_file(setup) -> None:
    customer, client, _asc = setup
    upload = SimpleUploadedFile("users.csv", "\ufeffemail,role\r\nfile@example.org,Viewer\r\n".encode(), "text/csv")
    response = client.post(reverse("users:bulk", args=[customer.number]), {"preview": "1", "file": upload})
    assert response.status_code == HTTPStatus.OK
    assert [line.request.email for line in response.context["plan"]] == ["file@example.org"]
    assert _apply(client, customer, response).status_code == HTTPStatus.FOUND
    assert Invitation.objects.filter(customer=customer, email="file@example.org").exists()


@pytest.mark.parametrize(
    ("data_factory", "message"),
    [
        (lambda: {"text": ""}, "at least one line"),
        (lambda: {"text": "\n".join(f"u{i}@example.org,viewer" for i in range(MAX_BULK_LINES + 1))}, "At most"),
        (lambda: {"file": SimpleUploadedFile("x.csv", b"\xff\xfe\x00bad", "text/csv")}, "UTF-8"),
        (lambda: {"file": SimpleUploadedFile("x.csv", b"a" * (2 * 1024 * 1024 + 1), "text/csv")}, "larger than"),
        (
            lambda: {"text": "a@example.org,viewer", "file": SimpleUploadedFile("x.csv", b"b@example.org,viewer")},
            "not both",
        ),
    ],
)
def test_bad_input_is_a_form_error(setup, data_factory, message) -> None:
    customer, client, _asc = setup
    response = client.post(reverse("users:bulk", args=[customer.number]), {"preview": "1", **data_factory()})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert message in response.content.decode()


def test_a_thousand_lines_with_constant_queries(setup, django_assert_max_num_queries) -> None:
    customer, client, asc = setup
    verified = [UserFactory(email=f"known{i}@example.org") for i in range(20)]
    lines = [f"{user.email},viewer" for user in verified]
    lines += [f"person{i}@example.org,{'administrator' if i % 3 else 'viewer'}" for i in range(980)]
    text = "\n".join(lines)
    started = time.monotonic()
    with django_assert_max_num_queries(15):
        preview = _preview(client, customer, text)
    assert preview.status_code == HTTPStatus.OK
    counts = {outcome: n for outcome, n in preview.context["summary"]}
    assert counts == {AddOutcome.INVITE: 1000}
    # Writes are bulk too: the count does not depend on the number of lines, apart from
    # one outbox insert per invitation email.
    with django_assert_max_num_queries(1000 + 40):
        response = _apply(client, customer, preview)
    assert response.status_code == HTTPStatus.FOUND
    assert time.monotonic() - started < 30
    assert Membership.objects.filter(customer=customer).count() == 2 + 1  # admin, asc, member
    assert Invitation.objects.pending().filter(customer=customer).count() == 1 + 1000
    assert AuditEvent.objects.filter(customer=customer, denied=False).count() == 1000
    assert Notification.objects.filter(recipients=[asc.email]).count() == 1


def test_plan_lookups_do_not_depend_on_the_number_of_lines(django_assert_num_queries) -> None:
    customer = CustomerFactory()
    requests = bulk_requests_parse("\n".join(f"p{i}@example.org,viewer" for i in range(500)))
    with django_assert_num_queries(3):
        user_add_plan(customer=customer, requests=requests)
