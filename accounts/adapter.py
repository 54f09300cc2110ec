"""django-allauth hooks: linking by verified email happens here and nowhere else."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from django.http import HttpRequest

from .services import invitations_accept_for_address


class AccountAdapter(DefaultAccountAdapter):
    def confirm_email(self, request: HttpRequest, email_address: EmailAddress) -> bool:
        """Verification happens only by a code typed into the session that signed up or added
        the address, so whoever verifies here also set the account's password: the address's
        pending invitations are theirs. Logging in links nothing (an invitation to an address
        verified before is accepted on the access page)."""
        verified = super().confirm_email(request, email_address)
        if verified:
            invitations_accept_for_address(user=email_address.user, email=email_address.email)
        return verified
