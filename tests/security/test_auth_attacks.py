"""Attacks on authentication: brute force, account enumeration, CSRF."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.contrib.auth import SESSION_KEY
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def _login(client: Client, email: str, password: str, ip: str):
    return client.post(
        reverse("account_login"),
        {"login": email, "password": password},
        HTTP_X_FORWARDED_FOR=ip,
        REMOTE_ADDR="203.0.113.7",
    )


@pytest.mark.parametrize("rotate_xff", [False, True])
def test_brute_force_is_stopped_well_before_100_attempts(rotate_xff) -> None:
    """allauth's per-account limit (5 failures / 5 min) locks the account against further
    guesses, so the 6th try fails even with the right password; XFF cannot reset it."""
    victim = UserFactory(email="victim@example.org")
    client = Client()
    for attempt in range(6):
        ip = f"198.51.100.{attempt}" if rotate_xff else "198.51.100.1"
        _login(client, victim.email, f"guess-{attempt}", ip=ip)
    response = _login(client, victim.email, PASSWORD, ip="192.0.2.200")
    assert SESSION_KEY not in client.session
    assert "Too many failed login attempts" in response.content.decode()
    # And whatever the attacker does, the per-IP limit answers 429 long before 100 requests.
    statuses = [_login(client, f"spray{n}@example.org", "x" * 10, ip=f"10.{n}.0.1").status_code for n in range(40)]
    assert HTTPStatus.TOO_MANY_REQUESTS in statuses


def _normalised(html: str, *emails: str) -> str:
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    for email in emails:
        html = html.replace(email, "EMAIL")
    return html


def test_login_reveals_nothing_about_which_emails_exist() -> None:
    UserFactory(email="exists@example.org")
    one = Client().post(reverse("account_login"), {"login": "exists@example.org", "password": "wrong-password-1"})
    two = Client().post(reverse("account_login"), {"login": "absent@example.org", "password": "wrong-password-1"})
    assert one.status_code == two.status_code
    assert _normalised(one.content.decode(), "exists@example.org") == _normalised(
        two.content.decode(), "absent@example.org"
    )


def test_signup_reveals_nothing_about_which_emails_exist() -> None:
    UserFactory(email="taken@example.org")
    data = {"password1": "a-good-passphrase-1", "password2": "a-good-passphrase-1", "name": "Someone"}
    one = Client().post(reverse("account_signup"), {"email": "taken@example.org", **data})
    two = Client().post(reverse("account_signup"), {"email": "fresh@example.org", **data})
    assert one.status_code == two.status_code == HTTPStatus.FOUND
    assert one["Location"] == two["Location"]


def test_password_reset_reveals_nothing_about_which_emails_exist() -> None:
    UserFactory(email="known@example.org")
    one = Client().post(reverse("account_reset_password"), {"email": "known@example.org"})
    two = Client().post(reverse("account_reset_password"), {"email": "unknown@example.org"})
    assert one.status_code == two.status_code == HTTPStatus.FOUND
    assert one["Location"] == two["Location"]


@pytest.mark.parametrize(
    "url_name", ["account_login", "account_signup", "account_reset_password", "account_logout", "set_language"]
)
def test_csrf_is_enforced_on_auth_posts(url_name) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory()) if url_name == "account_logout" else None
    response = client.post(reverse(url_name), {"login": "x@example.org", "password": "y", "email": "x@example.org"})
    assert response.status_code == HTTPStatus.FORBIDDEN
