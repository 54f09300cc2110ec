"""Plain-text emails are not HTML-escaped; HTML emails are.

Every email template under ``templates/email/`` is rendered the way the outbox renders it
(``accounts.notifications.email_render``) with every variable set to a hostile value, so a
new email is checked as soon as its templates exist.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
from allauth.account.adapter import get_adapter
from django.test import RequestFactory
from django.utils import translation

from accounts.notifications import email_render

ROOT = Path(__file__).resolve().parents[2]
EMAIL_DIR = ROOT / "templates" / "email"
TEMPLATES = sorted(p.stem for p in EMAIL_DIR.glob("*.txt") if not p.stem.endswith("_subject"))
HOSTILE = 'O\'Neil & "Sons" <b>0 -> 3</b>'
ESCAPED = ("&#x27;", "&amp;", "&quot;", "&lt;", "&gt;", "&#39;")
# Values used as numbers (plural forms) or dates get one.
TYPED = {
    "more": 3,
    "percent": 80,
    "threshold": 80,
    "consumed": 8,
    "budget": 10,
    "added": 1,
    "invited": 2,
    "month": datetime.date(2026, 3, 1),
    "today": datetime.date(2026, 3, 1),
}


class Hostile(str):
    """A value whose every attribute is the hostile string too (``customer.name``,
    ``invitation.email``, ...)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Hostile:
        if name.startswith("__"):
            raise AttributeError(name)
        return Hostile(HOSTILE)


class HostileCustomer(Hostile):
    """The customer number is part of the links (a URL argument); every other attribute is hostile."""

    __slots__ = ()
    number = "1001234"


class HostileEndpoint(Hostile):
    """A webhook endpoint or a support request: its id is part of the link; every other
    attribute is hostile."""

    __slots__ = ()
    pk = 1


def _variables(template: str) -> set[str]:
    source = "".join(
        (EMAIL_DIR / name).read_text(encoding="utf-8")
        for name in (f"{template}.txt", f"{template}_subject.txt", f"{template}.html")
    )
    names = set(re.findall(r"{{\s*(\w+)", source))
    names |= set(re.findall(r"\b\w+=(\w+)", source))  # blocktranslate with x=value
    names |= set(re.findall(r"{%\s*for\s+\w+\s+in\s+(\w+)", source))
    names |= set(re.findall(r"{%\s*(?:if|url [^%]*?)\s+(\w+)", source))
    return names - {"not", "True", "False", "None"}


def _context(template: str) -> dict[str, object]:
    context: dict[str, object] = {"brand": Hostile(HOSTILE), "portal_url": "https://portal.example"}
    for name in _variables(template):
        context.setdefault(name, TYPED.get(name, Hostile(HOSTILE)))
    context["customer"] = HostileCustomer(HOSTILE)
    context["endpoint"] = HostileEndpoint(HOSTILE)
    context["request"] = HostileEndpoint(HOSTILE)  # a support request: its id is in the links
    for name in ("lines", "changes", "thresholds"):
        context[name] = [Hostile(HOSTILE)]
    return context


def test_every_email_is_checked() -> None:
    assert {"invitation", "user_changed", "activation_changed", "license_file"} <= set(TEMPLATES)


@pytest.mark.parametrize("language", ["en", "tr"])
@pytest.mark.parametrize("template", TEMPLATES)
def test_text_parts_and_subjects_are_not_html_escaped_and_html_parts_are(template: str, language: str) -> None:
    with translation.override(language):
        subject, text, html = email_render(template=template, context=_context(template))
    for part in (subject, text):
        assert not any(entity in part for entity in ESCAPED), (template, part)
    assert HOSTILE in text, text
    assert "O&#x27;Neil &amp; &quot;Sons&quot; &lt;b&gt;0 -&gt; 3&lt;/b&gt;" in html, html
    assert HOSTILE not in html


def test_the_outbox_stores_the_text_part_unescaped(db) -> None:
    from accounts.models import Notification
    from accounts.notifications import notification_queue
    from tests.factories import CustomerFactory

    customer = CustomerFactory(name="O'Neil & Sons <Ltd>")
    notification_queue(
        customer=customer,
        event="users.changed",
        template="user_changed",
        context={"change": "x@example.org: Viewer -> Administrator"},
        recipients=["asc@example.org"],
    )
    notification = Notification.objects.get(customer=customer)
    assert "(O'Neil & Sons <Ltd>)" in notification.body_text
    assert "Viewer -> Administrator" in notification.body_text
    assert "O&#x27;Neil &amp; Sons &lt;Ltd&gt;" in notification.body_html


ALLAUTH_CONTEXT = {
    "user_display": HOSTILE,
    "activate_url": "https://portal.example/confirm/k'ey&x=1",
    "password_reset_url": "https://portal.example/reset/k'ey&x=1",
    "code": "O'N&1",
    "key": "k",
    "email": "o'neil@example.org",
    "from_email": "o'neil@example.org",
    "to_email": "o'neil@example.org",
    "deleted_email": "o'neil@example.org",
    "provider": HOSTILE,
    "ip": "127.0.0.1",
    "user_agent": HOSTILE,
    "timestamp": None,
    "signup": True,
}


@pytest.mark.parametrize(
    "prefix",
    [
        "account/email/email_confirmation_signup",
        "account/email/email_confirmation",
        "account/email/password_reset_key",
        "account/email/password_changed",
        "account/email/email_changed",
        "account/email/email_deleted",
        "mfa/email/totp_activated",
        "mfa/email/recovery_codes_generated",
    ],
)
def test_allauths_text_emails_are_not_html_escaped(db, prefix: str, settings) -> None:
    """django-allauth's emails go through our adapter; their text parts must not escape either."""
    from allauth.core import context as allauth_context

    settings.PORTAL_BRAND_NAME = HOSTILE
    request = RequestFactory().get("/")
    with allauth_context.request_context(request):
        message = get_adapter(request).render_mail(prefix, "o'neil@example.org", dict(ALLAUTH_CONTEXT))
    assert not any(entity in message.body for entity in ESCAPED), message.body
    assert not any(entity in message.subject for entity in ESCAPED), message.subject
