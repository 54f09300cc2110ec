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


def _body(user_email: str) -> str:
    (message,) = [m for m in mail.outbox if m.to == [user_email]]
    return message.body


def test_the_change_itself_is_described_in_each_readers_language(django_capture_on_commit_callbacks) -> None:
    """Not only the email's frame: the sentence saying what changed is translated per reader,
    whatever language the person making the change uses (portal/i18n.py ``deferred``)."""
    customer = CustomerFactory()
    turkish = MembershipFactory(customer=customer, role=Role.ASC, user__language="tr").user
    english = MembershipFactory(customer=customer, role=Role.ASC, user__language="en").user
    admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR).user
    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        membership_add(customer=customer, actor=admin, email="new@example.org", role=Role.VIEWER)
    with translation.override("tr"):
        expected_tr = translation.gettext("%(actor)s invited %(email)s as %(role)s.") % {
            "actor": admin.email,
            "email": "new@example.org",
            "role": str(Role.VIEWER.label),
        }
    expected_en = f"{admin.email} invited new@example.org as {Role.VIEWER.label}."
    assert expected_tr != expected_en, "the Turkish catalogue translates the sentence and the role"
    assert expected_tr in _body(turkish.email)
    assert expected_en in _body(english.email)


def test_an_activation_is_summarised_in_the_asc_language(django_capture_on_commit_callbacks) -> None:
    from tests.activations.helpers import activate, flex_customer, setup_server

    customer = flex_customer()
    turkish = MembershipFactory(customer=customer, role=Role.ASC, user__language="tr").user
    admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR, user__language="en").user
    server, line = setup_server(customer, quantity=10)
    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        activate(server, admin, {line.pk: 3})
    summary = (
        "%(actor)s changed the activations on license server %(server)s (license file version "
        "%(version)s): %(added)s activated, %(returned)s returned to the pool."
    )
    values = {"actor": admin.email, "server": server.name, "version": 1, "added": 3, "returned": 0}
    with translation.override("tr"):
        expected_tr = translation.gettext(summary) % values
    assert expected_tr != summary % values
    assert expected_tr in _body(turkish.email)
