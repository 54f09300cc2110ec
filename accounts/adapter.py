"""django-allauth hooks: linking by verified email happens here and nowhere else."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from django.http import HttpRequest

from .models import User
from .services import invitations_link_verified


class AccountAdapter(DefaultAccountAdapter):
    def login(self, request: HttpRequest, user: User) -> None:  # type: ignore[override]
        super().login(request, user)
        invitations_link_verified(user=user)

    def confirm_email(self, request: HttpRequest, email_address: EmailAddress) -> bool:
        verified = super().confirm_email(request, email_address)
        if verified:
            invitations_link_verified(user=email_address.user)
        return verified
