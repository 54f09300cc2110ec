"""The language choice is remembered per user: on other devices and in their emails."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core import mail
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import translation

from accounts.roles import Role
from accounts.services import membership_add
from tests.factories import PASSWORD, CustomerFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def test_switcher_saves_the_choice_and_another_device_gets_it(member_client) -> None:
    client = member_client(role=Role.VIEWER)
    response = client.post(reverse("set_language"), {"language": "tr", "next": "/access/"})
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "tr"
    client.user.refresh_from_db()
    assert client.user.language == "tr"

    laptop = Client()
    laptop.post(reverse("account_login"), {"login": client.user.email, "password": PASSWORD})
    page = laptop.get(reverse("access"))
    assert '<html lang="tr">' in page.content.decode()
    assert page.cookies[settings.LANGUAGE_COOKIE_NAME].value == "tr"


def test_unknown_language_is_ignored(member_client) -> None:
    client = member_client(role=Role.VIEWER)
    client.post(reverse("set_language"), {"language": "xx", "next": "/access/"})
    client.user.refresh_from_db()
    assert client.user.language == ""


def test_each_asc_gets_the_email_in_their_language(django_capture_on_commit_callbacks) -> None:
    customer = CustomerFactory()
    turkish = MembershipFactory(customer=customer, role=Role.ASC, user__language="tr").user
    english = MembershipFactory(customer=customer, role=Role.ASC, user__language="en").user
    admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR).user
    with django_capture_on_commit_callbacks(execute=True):
        membership_add(customer=customer, actor=admin, email="new@example.org", role=Role.VIEWER)

    def subject(language: str) -> str:
        with translation.override(language):
            return " ".join(render_to_string("email/user_changed_subject.txt", {"customer": customer}).split())

    assert subject("tr") != subject("en"), "the Turkish catalogue translates this subject"
    by_recipient = {m.to[0]: m.subject for m in mail.outbox}
    assert by_recipient[turkish.email] == subject("tr")
    assert by_recipient[english.email] == subject("en")
