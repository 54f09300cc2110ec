"""django-allauth hooks: linking by verified email happens here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from django import forms
from django.conf import settings
from django.http import HttpRequest

from portal.errors import PortalError
from portal.i18n import brand_name

from .emails import email_normalise
from .services import invitations_accept_for_address


@dataclass(frozen=True)
class PortalSite:
    """What allauth's emails call the site ("Hello from {{ site_name }}!"): the brand and the
    address the portal is served on (PORTAL_BASE_URL), not the host of the request."""

    name: str
    domain: str


class AccountAdapter(DefaultAccountAdapter):
    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        site = PortalSite(name=brand_name(), domain=urlsplit(settings.PORTAL_BASE_URL).netloc)
        super().send_mail(template_prefix, email, {**context, "current_site": site})

    def clean_email(self, email: str) -> str:
        """Sign-up, added addresses and password resets: the portal's one normalisation."""
        try:
            return email_normalise(super().clean_email(email))
        except PortalError as refused:
            raise forms.ValidationError(refused.message) from None

    def confirm_email(self, request: HttpRequest, email_address: EmailAddress) -> bool:
        """Verification happens only by a code typed into the session that signed up or added
        the address, so whoever verifies here also set the account's password: the address's
        pending invitations are theirs. Logging in links nothing (an invitation to an address
        verified before is accepted on the access page)."""
        verified = super().confirm_email(request, email_address)
        if verified:
            invitations_accept_for_address(user=email_address.user, email=email_address.email)
        return verified
