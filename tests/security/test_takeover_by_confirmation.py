"""Account takeover through someone else's confirmation (issue 12, item 1).

The attack: someone signs up with an address that has a pending invitation or ASC designation
(choosing the password), or adds it to their own account, and waits for the real owner to
"confirm" it. Every variant is played end to end here, including what the victim does with
the email they receive, in the victim's own client. Verification must prove that the person
who set the password controls the address; the attacker must end with no membership and no
session access.
"""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client
from django.urls import NoReverseMatch, reverse

from accounts.models import Invitation, Membership, User
from accounts.roles import Role
from accounts.services import asc_designate
from tests.factories import PASSWORD, CustomerFactory, EmailAddressFactory, InvitationFactory, UserFactory

pytestmark = pytest.mark.django_db

VICTIM = "invitee@victim.example"
ATTACKER_PASSWORD = "attacker-chose-this-77"
VICTIM_PASSWORD = "the-owners-own-pass-88"
CODE = re.compile(r"^\s*([A-Z0-9]{4}-[A-Z0-9]{4})\s*$", re.MULTILINE)


@pytest.fixture(params=["invitation", "asc_designation"])
def pending_access(request, staff_user):
    """What the victim's address is waiting for: an invitation, or support's ASC designation."""
    customer = CustomerFactory()
    if request.param == "invitation":
        InvitationFactory(customer=customer, email=VICTIM, role=Role.ADMINISTRATOR)
        return customer, Role.ADMINISTRATOR
    asc_designate(customer=customer, actor=staff_user, email=VICTIM)
    return customer, Role.ASC


def _mail_to(address: str) -> list[mail.EmailMessage]:
    return [message for message in mail.outbox if address in message.to]


def _codes_sent_to(address: str) -> list[str]:
    return [match for message in _mail_to(address) for match in CODE.findall(message.body)]


def _links_in_mail_to(address: str) -> list[str]:
    return [
        link.replace("http://testserver", "")
        for message in _mail_to(address)
        for link in re.findall(r"http://testserver/\S+", message.body)
    ]


def _signup(client: Client, email: str, password: str):
    return client.post(
        reverse("account_signup"), {"email": email, "password1": password, "password2": password, "name": "Someone"}
    )


def _login(client: Client, email: str, password: str):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def _victim_does_everything_the_mail_suggests(victim: Client) -> None:
    """The victim reads every mail sent to their address and tries it in their own browser:
    opens every link (GET and POST) and types every code into the verification page."""
    for link in _links_in_mail_to(VICTIM):
        victim.get(link)
        victim.post(link)
    for code in _codes_sent_to(VICTIM):
        victim.get(reverse("account_email_verification_sent"))
        victim.post(reverse("account_email_verification_sent"), {"code": code})


def _assert_attacker_has_nothing(attacker_clients: list[Client], customer, attacker_email: str | None) -> None:
    # No account the attacker can log in to belongs to the customer.
    for email in filter(None, [attacker_email, VICTIM]):
        probe = Client()
        _login(probe, email, ATTACKER_PASSWORD)
        assert (
            SESSION_KEY not in probe.session
            or not Membership.objects.filter(user_id=probe.session[SESSION_KEY], customer=customer).exists()
        ), f"the attacker's password opens an account of customer {customer.number} via {email}"
    for client in attacker_clients:
        response = client.get(reverse("customer_home", args=[customer.number]))
        assert response.status_code in (HTTPStatus.FOUND, HTTPStatus.NOT_FOUND), response.status_code
        if response.status_code == HTTPStatus.FOUND:
            assert "/accounts/login/" in response["Location"] or "/entitlements/" not in response["Location"]
        assert client.get(reverse("entitlements:list", args=[customer.number])).status_code in (
            HTTPStatus.FOUND,
            HTTPStatus.NOT_FOUND,
        )


def test_verification_is_by_code_and_no_confirmation_link_exists() -> None:
    assert settings.ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED is True
    assert getattr(settings, "ACCOUNT_LOGIN_BY_CODE_ENABLED", False) is False
    with pytest.raises(NoReverseMatch):
        reverse("account_confirm_email", args=["MQ:1abc:signature"])
    assert Client().get("/accounts/confirm-email/MQ:1abc:signature/").status_code == HTTPStatus.NOT_FOUND


def test_signup_with_the_victims_address_then_the_victim_verifies(pending_access) -> None:
    customer, _role = pending_access
    attacker = Client()
    _signup(attacker, VICTIM, ATTACKER_PASSWORD)
    # The attacker re-sends the confirmation for good measure.
    attacker.post(reverse("account_email_verification_sent"), {"action": "resend"})
    assert _codes_sent_to(VICTIM), "the victim got a verification mail"
    assert not _links_in_mail_to(VICTIM) or all("confirm-email/" not in link for link in _links_in_mail_to(VICTIM))

    victim = Client()
    _victim_does_everything_the_mail_suggests(victim)

    squatter = User.objects.get(email=VICTIM)
    assert not EmailAddress.objects.get(user=squatter, email=VICTIM).verified
    assert not Membership.objects.filter(customer=customer).exists()
    assert Invitation.objects.pending().filter(customer=customer, email=VICTIM).exists()
    _assert_attacker_has_nothing([attacker, victim], customer, None)


def test_the_owner_takes_the_address_back_by_password_reset_and_only_then_it_links(pending_access) -> None:
    """The password-reset path: the person who sets the new password proves the address;
    everything the squatter had ends, and the access belongs to the owner's password only."""
    customer, role = pending_access
    attacker = Client()
    _signup(attacker, VICTIM, ATTACKER_PASSWORD)
    stolen = Client()
    stolen.force_login(User.objects.get(email=VICTIM))  # a session obtained some other way

    owner = Client()
    mail.outbox.clear()
    owner.post(reverse("account_reset_password"), {"email": VICTIM})
    (reset,) = [link for link in _links_in_mail_to(VICTIM) if "/password/reset/key/" in link]
    form_url = owner.get(reset)["Location"]
    owner.post(form_url, {"password1": VICTIM_PASSWORD, "password2": VICTIM_PASSWORD})

    membership = Membership.objects.get(customer=customer)
    assert membership.role == role
    assert membership.user.check_password(VICTIM_PASSWORD)
    _login(owner, VICTIM, VICTIM_PASSWORD)
    assert customer.number in owner.get(reverse("access")).content.decode()
    # The attacker's pending verification stage cannot finish with any code the owner received.
    for code in _codes_sent_to(VICTIM):
        attacker.post(reverse("account_email_verification_sent"), {"code": code})
    _assert_attacker_has_nothing([attacker, stolen], customer, None)


def test_attacker_adds_the_victims_address_to_their_own_account(pending_access) -> None:
    customer, _role = pending_access
    attacker_user = UserFactory(email="mallory@attacker.example", password=ATTACKER_PASSWORD)
    attacker = Client()
    _login(attacker, attacker_user.email, ATTACKER_PASSWORD)
    attacker.post(reverse("account_reauthenticate"), {"password": ATTACKER_PASSWORD})
    response = attacker.post(reverse("account_email"), {"action_add": "", "email": VICTIM})
    assert response.status_code == HTTPStatus.FOUND
    # ... and asks for the verification mail again from the email page.
    attacker.post(reverse("account_email"), {"action_send": "", "email": VICTIM})
    assert _codes_sent_to(VICTIM)

    victim = Client()
    _victim_does_everything_the_mail_suggests(victim)
    # The victim also has an account of their own and is logged in while trying the codes.
    UserFactory(email="victim.other@victim.example", password=VICTIM_PASSWORD)
    logged_in_victim = Client()
    _login(logged_in_victim, "victim.other@victim.example", VICTIM_PASSWORD)
    for code in _codes_sent_to(VICTIM):
        logged_in_victim.post(reverse("account_email_verification_sent"), {"code": code})

    assert not EmailAddress.objects.filter(email=VICTIM, verified=True).exists()
    assert not Membership.objects.filter(customer=customer).exists()
    _assert_attacker_has_nothing([attacker], customer, attacker_user.email)

    # The victim resets the password of the address they own: no reset is sent to an address
    # that sits unverified beside the attacker's own, so the attacker's account is not handed
    # over to be verified and taken back later.
    mail.outbox.clear()
    victim.post(reverse("account_reset_password"), {"email": VICTIM})
    assert not [link for link in _links_in_mail_to(VICTIM) if "/password/reset/key/" in link]
    assert User.objects.get(pk=attacker_user.pk).check_password(ATTACKER_PASSWORD)


def test_codes_only_work_in_the_session_that_asked_for_them(pending_access) -> None:
    """The honest path still works: the code typed in the signing-up session links."""
    customer, role = pending_access
    owner = Client()
    _signup(owner, VICTIM, VICTIM_PASSWORD)
    (code,) = _codes_sent_to(VICTIM)
    response = owner.post(reverse("account_email_verification_sent"), {"code": code})
    assert response.status_code == HTTPStatus.FOUND
    membership = Membership.objects.get(customer=customer)
    assert membership.role == role
    assert membership.user.check_password(VICTIM_PASSWORD)
    assert customer.number in owner.get(reverse("access")).content.decode()


def test_login_by_code_is_not_offered() -> None:
    """Login by emailed code would verify the address for an account whose password someone
    else set; it stays off (the page and its form are not reachable)."""
    UserFactory(email=VICTIM, password=PASSWORD, verified=False)
    client = Client()
    response = client.get(reverse("account_request_login_code")) if _has_url("account_request_login_code") else None
    assert response is None or response.status_code in (HTTPStatus.NOT_FOUND, HTTPStatus.FOUND)
    assert not _codes_sent_to(VICTIM)


def _has_url(name: str) -> bool:
    try:
        reverse(name)
    except NoReverseMatch:
        return False
    return True


def test_no_password_reset_goes_to_an_unverified_address_beside_others() -> None:
    """An account holding the victim's address unverified beside the attacker's own verified
    one (e.g. added before verification was by code): a reset for the victim's address would
    hand the victim the attacker's account, the victim would verify the address inside it and
    the attacker would take the account back through their own address. No reset is sent."""
    attacker_user = UserFactory(email="mallory@attacker.example", password=ATTACKER_PASSWORD)
    EmailAddressFactory(user=attacker_user, email=VICTIM, verified=False, primary=False)
    victim = Client()
    victim.post(reverse("account_reset_password"), {"email": VICTIM})
    assert not [link for link in _links_in_mail_to(VICTIM) if "/password/reset/key/" in link]
    # The account's own verified address still gets its reset.
    victim.post(reverse("account_reset_password"), {"email": attacker_user.email})
    assert [m for m in _mail_to(attacker_user.email) if "/password/reset/key/" in m.body]


def test_the_squatter_cannot_add_an_address_of_their_own_before_the_owner_resets(pending_access) -> None:
    """The password-reset path verifies only a *sole* address: a squatter who signed up with
    the victim's address cannot log in to add their own address first (which would let them
    reset the password back later)."""
    customer, _role = pending_access
    attacker = Client()
    _signup(attacker, VICTIM, ATTACKER_PASSWORD)
    _login(attacker, VICTIM, ATTACKER_PASSWORD)
    attacker.post(reverse("account_reauthenticate"), {"password": ATTACKER_PASSWORD})
    attacker.post(reverse("account_email"), {"action_add": "", "email": "mallory@attacker.example"})
    squatter = User.objects.get(email=VICTIM)
    assert list(EmailAddress.objects.filter(user=squatter).values_list("email", flat=True)) == [VICTIM]
    assert SESSION_KEY not in attacker.session
    assert not _codes_sent_to("mallory@attacker.example")
    assert not Membership.objects.filter(customer=customer).exists()
