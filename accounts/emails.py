"""The one normalisation of email addresses: sign-up and added addresses (allauth adapter),
invitations and adds (single and bulk CSV), support's ASC designation and invitations, and
the user manager all call ``email_normalise``, so an address means one string everywhere."""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from portal.errors import PortalError

# Control, format (bidi marks, zero-width joiners, BOM), line/paragraph separators, surrogates,
# private-use and unassigned code points, and spaces: none belongs in an address, and none may
# reach an email header.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Zs", "Cs", "Co", "Cn"})
_DOT_ABOVE = "\u0307"

MAX_EMAIL_LENGTH = 254


def _lower(char: str) -> str:
    """Lower case without introducing combining marks: 'İ'.lower() is 'i' + U+0307 in
    Python (Unicode's full mapping); the address means a plain 'i'."""
    lowered = char.lower()
    if len(lowered) > 1:
        lowered = "".join(part for part in lowered if not unicodedata.combining(part)) or lowered
    return lowered


def email_normalise(email: str) -> str:
    """Trimmed, NFC, lower-cased without new combining marks, free of control and invisible
    characters, at most 254 characters and syntactically valid; PortalError otherwise.

    An 'i' followed by a combining dot above (what another library's ``lower()`` makes of
    'İ') becomes a plain 'i' too, so the result does not depend on who lower-cased first.
    Idempotent: ``email_normalise(email_normalise(x)) == email_normalise(x)``."""
    text = unicodedata.normalize("NFC", email or "").strip()
    if any(unicodedata.category(char) in _REFUSED_CATEGORIES for char in text):
        raise PortalError(_("An email address cannot contain spaces, control or invisible characters."), field="email")
    text = "".join(_lower(char) for char in text).replace("i" + _DOT_ABOVE, "i")
    text = unicodedata.normalize("NFC", text)
    if len(text) > MAX_EMAIL_LENGTH:
        raise PortalError(_("An email address has at most 254 characters."), field="email")
    try:
        validate_email(text)
    except ValidationError:
        raise PortalError(_("Enter a valid email address."), field="email") from None
    return text
