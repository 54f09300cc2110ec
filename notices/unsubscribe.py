"""Signed unsubscribe links: per person and category, valid without logging in.

The token carries the user id, the category and a digest of the address the email went to,
signed with the secret key and timestamped: a forged or altered token fails the signature,
an old one expires, and a link stops working when its owner changes email address.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

from accounts.models import User

from .models import Category

SALT = "notices.unsubscribe"
MAX_AGE_DAYS = 90


class UnsubscribeError(Exception):
    """Why a link does nothing: ``reason`` is ``forged``, ``expired`` or ``unknown``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _address_digest(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:16]


def unsubscribe_token(*, user: User, category: Category | str) -> str:
    payload = {"u": user.pk, "c": str(category), "e": _address_digest(user.email)}
    return signing.dumps(payload, salt=SALT, compress=True)


def unsubscribe_url(*, user: User, category: Category | str) -> str:
    token = unsubscribe_token(user=user, category=category)
    return settings.PORTAL_BASE_URL + reverse("notices:unsubscribe", args=[token])


def unsubscribe_headers(*, user: User, category: Category | str) -> dict[str, str]:
    """RFC 8058 one-click: the mail client POSTs ``List-Unsubscribe=One-Click`` to the URL."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(user=user, category=category)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


@dataclass(frozen=True)
class UnsubscribeRequest:
    user: User
    category: Category


def unsubscribe_read(token: str) -> UnsubscribeRequest:
    try:
        payload = signing.loads(token, salt=SALT, max_age=MAX_AGE_DAYS * 86400)
    except signing.SignatureExpired:
        raise UnsubscribeError("expired") from None
    except signing.BadSignature:
        raise UnsubscribeError("forged") from None
    try:
        category = Category(payload["c"])
        user = User.objects.get(pk=int(payload["u"]), is_active=True)
    except (KeyError, TypeError, ValueError, User.DoesNotExist):
        raise UnsubscribeError("unknown") from None
    if payload.get("e") != _address_digest(user.email):
        raise UnsubscribeError("unknown")
    return UnsubscribeRequest(user=user, category=category)
