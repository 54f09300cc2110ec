from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts and access")

    def ready(self) -> None:
        from allauth.account.signals import password_reset

        from .services import email_verify_after_password_reset

        def on_password_reset(sender, request, user, **kwargs) -> None:
            email_verify_after_password_reset(user=user)

        password_reset.connect(on_password_reset, weak=False, dispatch_uid="accounts.password_reset_verifies")

        from .metrics import register as register_metrics

        register_metrics()
