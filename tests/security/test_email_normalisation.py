"""Issue 12, item 10: one normalisation of email addresses for every way one enters the
portal. No combining marks introduced by case folding ('İ'.lower()), NFC, no control or
invisible characters (none can reach an email header). Properties over the normaliser, then
over each entry point: sign-up, the single add, the bulk CSV add, support's ASC designation
and invitation, the user manager."""

from __future__ import annotations

import unicodedata
from http import HTTPStatus

import pytest
from allauth.account.models import EmailAddress
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.admin import CustomerAdminForm, InvitationAddForm
from accounts.forms import bulk_requests_parse
from accounts.models import Invitation, User
from accounts.roles import Role
from accounts.services import asc_designate, email_normalise  # accounts.emails, re-exported
from entitlements.licensing.services import shared_web_email_normalise
from portal.errors import PortalError
from tests.factories import CustomerFactory, EmailAddressFactory, MembershipFactory, UserFactory

REFUSED = {"Cc", "Cf", "Zl", "Zp", "Zs", "Cs", "Co", "Cn"}
TRICKY = "İIıiKKÅÅßẞΣςσǅĲﬁ\u0307\u0301e\u00e9\u200b\u200e\u202e\ufeff\u2028\x00\x1f\x7f\r\n\t ."


def _marks(text: str) -> int:
    return sum(1 for char in unicodedata.normalize("NFD", text) if unicodedata.combining(char))


local_parts = st.text(alphabet=st.sampled_from("abcXYZ09._-+" + TRICKY), min_size=1, max_size=12)
domains = st.text(alphabet=st.sampled_from("abcdefİIıKÅéü-" + "\u0307\u200b\r\n"), min_size=1, max_size=12).map(
    lambda label: f"{label}.example"
)
addresses = st.one_of(
    st.builds(lambda local, domain: f"{local}@{domain}", local_parts, domains),
    st.text(max_size=40),
    st.builds(
        lambda local, domain, pad: f"{pad}{local}@{domain}{pad}",
        local_parts,
        domains,
        st.sampled_from(["", " ", "\t", "\n", "\u00a0"]),
    ),
)


def _expected(raw: str) -> str | None:
    try:
        return email_normalise(raw)
    except PortalError:
        return None


@settings(max_examples=400, deadline=None)
@given(raw=addresses)
def test_the_normaliser_properties(raw) -> None:
    result = _expected(raw)
    if result is None:
        return
    assert result == unicodedata.normalize("NFC", result)
    assert not any(unicodedata.category(char) in REFUSED for char in result), ascii(result)
    assert _marks(result) <= _marks(raw), f"case folding introduced a combining mark: {raw!a} -> {result!a}"
    assert email_normalise(result) == result, "idempotent"
    assert len(result) <= 254
    assert "@" in result


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("User@İstanbul.example", "user@istanbul.example"),
        ("user@i\u0307stanbul.example", "user@istanbul.example"),  # lower-cased by someone else first
        ("  Mixed.Case@Example.ORG ", "mixed.case@example.org"),
        ("a@\u212aelvin.example", "a@kelvin.example"),  # KELVIN SIGN
        ("a@\u212bngstrom.example", "a@\u00e5ngstrom.example"),  # ANGSTROM SIGN -> NFC å
        ("a@cafe\u0301.example", "a@caf\u00e9.example"),  # decomposed -> composed
    ],
)
def test_known_spellings(raw, expected) -> None:
    assert email_normalise(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        '"a\\\rb"@example.org',
        '"a\x01b"@example.org',
        "a@exa\u200bmple.org",
        "a\u202e@example.org",
        "a@example.org\r\nBcc: x@evil.example",
        '"a b"@example.org',
        "\ufeffa@example.org\x00",
    ],
)
def test_control_and_invisible_characters_are_refused(raw) -> None:
    with pytest.raises(PortalError):
        email_normalise(raw)


# --- every entry point gives the normaliser's answer ------------------------------------

ENTRY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class _Rollback(Exception):
    pass


def _rolled_back(body) -> None:
    try:
        with transaction.atomic():
            body()
            raise _Rollback
    except _Rollback:
        pass


@pytest.mark.django_db
@ENTRY
@given(raw=addresses)
def test_signup_stores_the_normalised_address_or_refuses(raw) -> None:
    def body() -> None:
        cache.clear()  # the signup rate limit
        password = "a-long-signup-pass-42"
        Client().post(
            reverse("account_signup"), {"email": raw, "password1": password, "password2": password, "name": "Someone"}
        )
        expected = _expected(raw)
        stored = list(User.objects.values_list("email", flat=True))
        addresses_stored = list(EmailAddress.objects.values_list("email", flat=True))
        if expected is None:
            assert not stored, ascii(raw)
            assert not addresses_stored, ascii(raw)
        else:
            for email in stored + addresses_stored:
                assert email == expected, (ascii(raw), ascii(email))

    _rolled_back(body)


@pytest.mark.django_db
@ENTRY
@given(raw=addresses)
def test_single_add_invites_the_normalised_address_or_refuses(raw) -> None:
    def body() -> None:
        customer = CustomerFactory()
        admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR).user
        client = Client()
        client.force_login(admin)
        response = client.post(reverse("users:add", args=[customer.number]), {"email": raw, "role": "viewer"})
        expected = _expected(raw)
        emails = list(Invitation.objects.filter(customer=customer).values_list("email", flat=True))
        if expected is None:
            assert response.status_code == HTTPStatus.BAD_REQUEST or not emails
            assert not emails
        else:
            assert emails == [expected], (ascii(raw), emails, response.status_code)

    _rolled_back(body)


# Characters that make a CSV line something other than one address and a role.
CSV_SYNTAX = (",", ";", "\t", "\n", "\r", '"')


@settings(max_examples=300, deadline=None)
@given(raw=addresses)
def test_bulk_csv_lines_and_shared_web_use_the_same_normaliser(raw) -> None:
    if any(separator in raw for separator in CSV_SYNTAX):
        return  # the CSV reader's business, covered by test_csv_import_properties
    (request,) = [r for r in bulk_requests_parse(f"{raw},viewer") if r.number == 1] or [None]
    expected = _expected(raw.strip())
    if request is not None and not request.error:
        assert request.email == expected, ascii(raw)
    try:
        assert shared_web_email_normalise(raw) == expected
    except PortalError:
        assert expected is None


@pytest.mark.django_db
@ENTRY
@given(raw=addresses)
def test_asc_designation_and_console_forms_use_the_normaliser(raw) -> None:
    def body() -> None:
        staff = UserFactory(is_staff=True, is_superuser=True)
        customer = CustomerFactory()
        expected = _expected(raw)
        try:
            asc_designate(customer=customer, actor=staff, email=raw)
        except PortalError:
            assert expected is None
        else:
            assert list(Invitation.objects.filter(customer=customer).values_list("email", flat=True)) == [expected]
        form = CustomerAdminForm(data={"number": "99", "name": "X", "designate_asc_email": raw})
        form.is_valid()
        if "designate_asc_email" in form.cleaned_data:
            assert form.cleaned_data["designate_asc_email"] in ("", expected)
        invitation_form = InvitationAddForm(data={"customer": customer.pk, "email": raw, "role": "viewer"})
        invitation_form.is_valid()
        if "email" in invitation_form.cleaned_data:
            assert invitation_form.cleaned_data["email"] == expected

    _rolled_back(body)


@pytest.mark.django_db
def test_the_user_manager_normalises() -> None:
    user = User.objects.create_user("Owner@İstanbul.example", "x-long-password-1")
    assert user.email == "owner@istanbul.example"
    with pytest.raises(PortalError):
        User.objects.create_user("owner@example.org\r\nBcc: x@evil.example", "x-long-password-1")


@pytest.mark.django_db
def test_login_finds_the_account_whatever_the_spelling() -> None:
    User.objects.create_user("owner@istanbul.example", "x-long-password-1")
    EmailAddressFactory(user=User.objects.get(), email="owner@istanbul.example", verified=True, primary=True)
    client = Client()
    client.post(reverse("account_login"), {"login": " Owner@İstanbul.EXAMPLE ", "password": "x-long-password-1"})
    assert client.get(reverse("access")).status_code == HTTPStatus.OK
