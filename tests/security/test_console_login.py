"""The support console's way in (issue 12, item 2): every way into /admin/ goes through
allauth's login, its MFA stage and its rate limits; staff may be required to have MFA."""

from __future__ import annotations

import subprocess
import sys
import time
from http import HTTPStatus
from pathlib import Path

import pytest
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

ADMIN = "/admin/"
ADMIN_LOGIN = "/admin/login/"


@pytest.fixture
def superuser():
    return UserFactory(email="root@support.example", is_staff=True, is_superuser=True)


def _totp_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def _allauth_login(client: Client, email: str, password: str, next_url: str = ADMIN):
    return client.post(f"{reverse('account_login')}?next={next_url}", {"login": email, "password": password})


def _console_opens(client: Client) -> bool:
    return client.get(ADMIN).status_code == HTTPStatus.OK


@pytest.mark.parametrize("method", ["get", "post"])
def test_admin_login_sends_every_request_to_allauths_login(method, superuser) -> None:
    client = Client()
    url = f"{ADMIN_LOGIN}?next=/admin/accounts/user/"
    credentials = {"username": superuser.email, "password": PASSWORD}
    response = client.post(url, credentials) if method == "post" else client.get(url)
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == f"{reverse('account_login')}?next=/admin/accounts/user/"
    assert SESSION_KEY not in client.session, "admin's own form checked the password"
    # Going to the console without a session ends at allauth's login too.
    response = client.get(ADMIN, follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("account_login"))
    # An outside next is not followed.
    response = client.get(f"{ADMIN_LOGIN}?next=https://evil.example/")
    assert response["Location"] == f"{reverse('account_login')}?next={ADMIN}"


def test_admin_password_change_is_allauths(superuser) -> None:
    client = Client()
    client.force_login(superuser)
    response = client.post(
        "/admin/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": "n3w-pass-word-abc",
            "new_password2": "n3w-pass-word-abc",
        },
    )
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == reverse("account_change_password")
    superuser.refresh_from_db()
    assert superuser.check_password(PASSWORD)


def test_totp_superuser_cannot_reach_the_console_with_the_password_alone(superuser) -> None:
    secret = generate_totp_secret()
    TOTP.activate(superuser, secret)
    client = Client()
    # Through admin's login path: it leads to allauth's login, which asks for the TOTP code.
    assert client.post(ADMIN_LOGIN, {"username": superuser.email, "password": PASSWORD}).status_code == HTTPStatus.FOUND
    assert not _console_opens(client)
    response = _allauth_login(client, superuser.email, PASSWORD)
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith(reverse("mfa_authenticate"))
    assert SESSION_KEY not in client.session
    assert not _console_opens(client)
    # A wrong code does not open it either.
    client.post(reverse("mfa_authenticate"), {"code": "000000" if _totp_code(secret) != "000000" else "111111"})
    assert not _console_opens(client)
    # The real code, computed from the secret, does.
    response = client.post(reverse("mfa_authenticate"), {"code": _totp_code(secret)})
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == ADMIN
    assert _console_opens(client)


def test_wrong_passwords_on_any_admin_login_path_are_rate_limited(superuser) -> None:
    attacker = Client()
    # Forty guesses at admin's login form: none is even checked ...
    for attempt in range(40):
        response = attacker.post(ADMIN_LOGIN, {"username": superuser.email, "password": f"guess-{attempt}"})
        assert response.status_code == HTTPStatus.FOUND
    # ... so the right password posted there opens nothing either.
    attacker.post(ADMIN_LOGIN, {"username": superuser.email, "password": PASSWORD})
    assert SESSION_KEY not in attacker.session
    assert not _console_opens(attacker)
    # The only password check is allauth's: the account locks after a few failures.
    for attempt in range(6):
        _allauth_login(attacker, superuser.email, f"guess-again-{attempt}")
    response = _allauth_login(attacker, superuser.email, PASSWORD)
    assert "Too many failed login attempts" in response.content.decode()
    assert SESSION_KEY not in attacker.session
    assert not _console_opens(attacker)


def test_a_member_without_console_rights_is_not_sent_round_in_circles() -> None:
    member = UserFactory(email="member@customer.example")
    client = Client()
    client.force_login(member)
    response = client.get(ADMIN, follow=True)
    assert response.status_code == HTTPStatus.OK
    assert response.redirect_chain[-1][0] in (reverse("access"), reverse("home"))
    assert len(response.redirect_chain) < 5


def test_staff_without_mfa_are_sent_to_set_it_up_when_required(superuser, settings) -> None:
    client = Client()
    _allauth_login(client, superuser.email, PASSWORD)
    assert SESSION_KEY in client.session
    assert _console_opens(client), "off by default (make run, tests)"
    settings.PORTAL_STAFF_MFA_REQUIRED = True
    for path in (ADMIN, "/admin/accounts/user/", "/admin/entitlements/entitlement/import/"):
        response = client.get(path)
        assert response.status_code == HTTPStatus.FOUND, path
        assert response["Location"] == reverse("mfa_index")
    TOTP.activate(superuser, generate_totp_secret())
    assert _console_opens(client)


def test_production_requires_staff_mfa() -> None:
    code = "from portal.settings import production; print(production.PORTAL_STAFF_MFA_REQUIRED)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SECRET_KEY": "x" * 60, "DJANGO_ALLOWED_HOSTS": "portal.example.com"},
    )
    assert result.stdout.strip() == "True", result.stderr
