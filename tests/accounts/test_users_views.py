"""The users page and its actions, for every role, own customer and another customer.

Expected outcomes come from ROLE_PERMISSIONS: a role may change portal users exactly when
its permissions include MANAGE_USERS, and nobody but support touches an ASC.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, Customer, Invitation, Membership, Notification
from accounts.roles import GRANTABLE_ROLES, ROLE_PERMISSIONS, Permission, Role
from tests.factories import CustomerFactory, InvitationFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Action:
    name: str
    url_name: str
    setup: Callable[[Customer], Any]  # the target object, created in the given customer
    data: Callable[[Any], dict[str, str]]
    done: Callable[[Customer, Any], bool]  # has the change happened?
    success_status: int = HTTPStatus.FOUND
    needs: Permission = Permission.MANAGE_USERS

    def url(self, customer: Customer, target: Any) -> str:
        kwargs: dict[str, Any] = {"customer_number": customer.number}
        if target is not None:
            kwargs["pk"] = target.pk
        return reverse(self.url_name, kwargs=kwargs)


def _member(customer: Customer) -> Membership:
    return MembershipFactory(customer=customer, role=Role.VIEWER)


def _invitation(customer: Customer) -> Invitation:
    return InvitationFactory(customer=customer, role=Role.VIEWER)


ACTIONS = [
    Action(
        "add",
        "users:add",
        setup=lambda c: None,
        data=lambda t: {"email": "newcomer@example.org", "role": Role.VIEWER.value},
        done=lambda c, t: Invitation.objects.filter(customer=c, email="newcomer@example.org").exists(),
    ),
    Action(
        "role",
        "users:role",
        setup=_member,
        data=lambda t: {"role": Role.ADMINISTRATOR.value},
        done=lambda c, t: Membership.objects.get(pk=t.pk).role == Role.ADMINISTRATOR,
    ),
    Action(
        "remove",
        "users:remove",
        setup=_member,
        data=lambda t: {},
        done=lambda c, t: not Membership.objects.filter(pk=t.pk).exists(),
    ),
    Action(
        "invitation_cancel",
        "users:invitation_cancel",
        setup=_invitation,
        data=lambda t: {},
        done=lambda c, t: Invitation.objects.get(pk=t.pk).cancelled_at is not None,
    ),
    Action(
        "invitation_resend",
        "users:invitation_resend",
        setup=_invitation,
        data=lambda t: {},
        done=lambda c, t: Invitation.objects.get(pk=t.pk).last_sent_at is not None,
    ),
    Action(
        "bulk_preview",
        "users:bulk",
        setup=lambda c: None,
        data=lambda t: {"text": "bulk@example.org,viewer", "preview": "1"},
        # A preview changes nothing; success is the preview page itself.
        done=lambda c, t: not Invitation.objects.filter(customer=c, email="bulk@example.org").exists(),
        success_status=HTTPStatus.OK,
    ),
]


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
def test_action_on_own_customer_follows_the_matrix(action, role, member_client) -> None:
    customer = CustomerFactory()
    client = member_client(role=role, customer=customer)
    target = action.setup(customer)
    response = client.post(action.url(customer, target), action.data(target))
    allowed = action.needs in ROLE_PERMISSIONS[role]
    if allowed:
        assert response.status_code == action.success_status
        assert action.done(customer, target)
        assert not AuditEvent.objects.filter(actor=client.user, denied=True).exists()
    else:
        assert response.status_code == HTTPStatus.FORBIDDEN
        if action.name != "bulk_preview":
            assert not action.done(customer, target)
        assert AuditEvent.objects.filter(customer=customer, actor=client.user, denied=True).count() == 1


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
def test_action_on_another_customer_is_404(action, role, member_client) -> None:
    mine, theirs = CustomerFactory(), CustomerFactory()
    client = member_client(role=role, customer=mine)
    target = action.setup(theirs)
    response = client.post(action.url(theirs, target), action.data(target))
    assert response.status_code == HTTPStatus.NOT_FOUND
    if target is not None:
        # Their object through my customer's URL: looked up by customer, so 404 as well.
        response = client.post(action.url(mine, target), action.data(target))
        assert response.status_code in (
            (HTTPStatus.NOT_FOUND,)
            if action.needs in ROLE_PERMISSIONS[role]
            else (HTTPStatus.NOT_FOUND, HTTPStatus.FORBIDDEN)
        )
    if action.name != "bulk_preview":
        assert not action.done(theirs, target)


# --- The ASC is support's -------------------------------------------------------------


def _asc_member(customer: Customer) -> Membership:
    return MembershipFactory(customer=customer, role=Role.ASC)


FORGED = [
    (
        "grant ASC by add",
        "users:add",
        lambda c: None,
        lambda t: {"email": "boss@example.org", "role": Role.ASC.value},
        lambda c, t: (
            Invitation.objects.filter(email="boss@example.org").exists()
            or Membership.objects.filter(user__email="boss@example.org").exists()
        ),
    ),
    (
        "promote to ASC",
        "users:role",
        _member,
        lambda t: {"role": Role.ASC.value},
        lambda c, t: Membership.objects.get(pk=t.pk).role == Role.ASC,
    ),
    (
        "demote an ASC",
        "users:role",
        _asc_member,
        lambda t: {"role": Role.VIEWER.value},
        lambda c, t: Membership.objects.get(pk=t.pk).role != Role.ASC,
    ),
    (
        "remove an ASC",
        "users:remove",
        _asc_member,
        lambda t: {},
        lambda c, t: not Membership.objects.filter(pk=t.pk).exists(),
    ),
    (
        "cancel an ASC designation",
        "users:invitation_cancel",
        lambda c: InvitationFactory(customer=c, role=Role.ASC),
        lambda t: {},
        lambda c, t: Invitation.objects.get(pk=t.pk).cancelled_at is not None,
    ),
]


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(("label", "url_name", "setup", "data", "done"), FORGED, ids=[f[0] for f in FORGED])
def test_nobody_touches_an_asc_through_the_portal(label, url_name, setup, data, done, role, member_client) -> None:
    customer = CustomerFactory()
    client = member_client(role=role, customer=customer)
    target = setup(customer)
    action = Action(label, url_name, setup=setup, data=data, done=done)
    response = client.post(action.url(customer, target), data(target))
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not done(customer, target)
    denied = AuditEvent.objects.filter(customer=customer, actor=client.user, denied=True)
    assert denied.count() == 1
    assert not Notification.objects.exists()


def test_the_asc_role_is_never_offered(member_client) -> None:
    customer = CustomerFactory()
    client = member_client(role=Role.ASC, customer=customer)
    MembershipFactory(customer=customer, role=Role.VIEWER)
    html = client.get(reverse("users:list", args=[customer.number])).content.decode()
    assert f'value="{Role.ASC.value}"' not in html
    for role in GRANTABLE_ROLES:
        assert f'value="{role.value}"' in html


# --- Removing oneself ----------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_a_user_may_remove_their_own_access_unless_asc(role, member_client) -> None:
    customer = CustomerFactory()
    client = member_client(role=role, customer=customer)
    response = client.post(reverse("users:remove", args=[customer.number, client.membership.pk]))
    if role in GRANTABLE_ROLES:
        assert response.status_code == HTTPStatus.FOUND
        assert response["Location"] == reverse("access")
        assert not Membership.objects.filter(pk=client.membership.pk).exists()
        event = AuditEvent.objects.get(customer=customer, action="membership.removed")
        assert event.details["self"] is True
    else:
        assert response.status_code == HTTPStatus.FORBIDDEN
        assert Membership.objects.filter(pk=client.membership.pk).exists()
        assert AuditEvent.objects.filter(customer=customer, denied=True, action="membership.remove").count() == 1


# --- The page ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_users_page_lists_members_invitations_and_marks_ascs(role, member_client) -> None:
    customer = CustomerFactory()
    client = member_client(role=role, customer=customer)
    asc = MembershipFactory(customer=customer, role=Role.ASC, user=UserFactory(email="the-asc@example.org"))
    admin = MembershipFactory(
        customer=customer,
        role=Role.ADMINISTRATOR,
        user=UserFactory(email="admin@example.org", name="Ada Admin"),
        added_by=asc.user,
    )
    InvitationFactory(customer=customer, email="pending@example.org", invited_by=admin.user)
    InvitationFactory(customer=CustomerFactory(), email="elsewhere@example.org")
    response = client.get(reverse("users:list", args=[customer.number]))
    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    for text in (
        "the-asc@example.org",
        "admin@example.org",
        "Ada Admin",
        "pending@example.org",
        "ASCs are changed by support",
        str(Role.ADMINISTRATOR.label),
    ):
        assert text in html
    assert "elsewhere@example.org" not in html
    assert html.count("the-asc@example.org") >= 2  # listed, and named as who added the admin
    can_manage = Permission.MANAGE_USERS in ROLE_PERMISSIONS[role]
    assert (reverse("users:add", args=[customer.number]) in html) == can_manage
    assert (reverse("users:role", args=[customer.number, admin.pk]) in html) == can_manage
    # Nobody gets controls on the ASC's row.
    assert reverse("users:remove", args=[customer.number, asc.pk]) not in html
    assert reverse("users:role", args=[customer.number, asc.pk]) not in html
    # Everyone but the ASC sees how to remove their own access.
    own_remove = reverse("users:remove", args=[customer.number, client.membership.pk])
    assert (own_remove in html) == (role in GRANTABLE_ROLES)
    assert 'class="table-wrap"' in html
    assert 'scope="col"' in html
    assert "style=" not in html


@pytest.mark.parametrize("size", [3, 30])
def test_users_page_query_count_does_not_grow(size, member_client, django_assert_max_num_queries) -> None:
    customer = CustomerFactory()
    client = member_client(role=Role.ASC, customer=customer)
    adder = UserFactory()
    for _ in range(size):
        MembershipFactory(customer=customer, added_by=adder)
        InvitationFactory(customer=customer, invited_by=adder)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("users:list", args=[customer.number])).status_code == HTTPStatus.OK


def test_adding_an_existing_account_invites_and_needs_their_consent(member_client) -> None:
    """Issue 12 item 5: an add never joins someone to a customer at once, and the page
    answers the same whether or not the address has an account."""
    customer = CustomerFactory()
    client = member_client(role=Role.ADMINISTRATOR, customer=customer)
    person = UserFactory(email="ready@example.org")
    response = client.post(
        reverse("users:add", args=[customer.number]), {"email": " Ready@Example.org ", "role": "administrator"}
    )
    assert response.status_code == HTTPStatus.FOUND
    assert not Membership.objects.filter(customer=customer, user=person).exists()
    invitation = Invitation.objects.pending().get(customer=customer, email="ready@example.org")
    assert invitation.role == Role.ADMINISTRATOR

    # The person decides, in their own session.
    own = Client()
    own.force_login(person)
    assert customer.number in own.get(reverse("access")).content.decode()
    own.post(reverse("invitation_accept", args=[invitation.pk]))
    membership = Membership.objects.get(customer=customer, user=person)
    assert membership.role == Role.ADMINISTRATOR
    assert membership.added_by == client.user


def test_single_add_answers_the_same_with_or_without_an_account(member_client) -> None:
    customer = CustomerFactory()
    client = member_client(role=Role.ASC, customer=customer)
    UserFactory(email="has-account@example.org")
    pages = []
    for email in ("has-account@example.org", "no-account@example.org"):
        response = client.post(
            reverse("users:add", args=[customer.number]), {"email": email, "role": "viewer"}, follow=True
        )
        pages.append(response.content.decode().replace(email, "EMAIL"))
    first_messages = re.findall(r'class="message[^"]*">([^<]*)<', pages[0])
    second_messages = re.findall(r'class="message[^"]*">([^<]*)<', pages[1])
    assert first_messages == second_messages
    assert not Membership.objects.filter(customer=customer, user__email="has-account@example.org").exists()


@pytest.mark.parametrize(
    ("existing", "message"),
    [("member", "already a portal user"), ("invited", "already been invited")],
)
def test_adding_someone_already_there_says_so(existing, message, member_client) -> None:
    customer = CustomerFactory()
    client = member_client(role=Role.ASC, customer=customer)
    if existing == "member":
        MembershipFactory(customer=customer, user=UserFactory(email="there@example.org"))
    else:
        InvitationFactory(customer=customer, email="There@example.org")
    response = client.post(
        reverse("users:add", args=[customer.number]), {"email": "there@example.org", "role": "viewer"}
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert message in response.content.decode()
    assert Membership.objects.filter(customer=customer).count() == (2 if existing == "member" else 1)
    assert Invitation.objects.filter(customer=customer).count() == (0 if existing == "member" else 1)


@pytest.mark.parametrize(
    "data", [{"email": "not-an-email", "role": "viewer"}, {"email": "ok@example.org", "role": "superuser"}, {}]
)
def test_add_with_bad_input_is_a_form_error(data, member_client) -> None:
    customer = CustomerFactory()
    client = member_client(role=Role.ASC, customer=customer)
    response = client.post(reverse("users:add", args=[customer.number]), data)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "field-errors" in response.content.decode()
    assert not Invitation.objects.exists()


def test_resend_is_throttled(member_client) -> None:
    customer = CustomerFactory()
    client = member_client(role=Role.ADMINISTRATOR, customer=customer)
    invitation = InvitationFactory(customer=customer)
    url = reverse("users:invitation_resend", args=[customer.number, invitation.pk])
    client.post(url)
    response = client.post(url, follow=True)
    assert "less than a minute ago" in response.content.decode()
    assert AuditEvent.objects.filter(action="invitation.resent").count() == 1


def test_actions_refuse_get(member_client) -> None:
    customer = CustomerFactory()
    client = member_client(role=Role.ASC, customer=customer)
    member = MembershipFactory(customer=customer)
    assert client.get(reverse("users:remove", args=[customer.number, member.pk])).status_code == (
        HTTPStatus.METHOD_NOT_ALLOWED
    )
    assert Membership.objects.filter(pk=member.pk).exists()
