from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NoticesConfig(AppConfig):
    """Renewals and notifications: reminders, preferences, the bell, the calendar feed, the
    renewals tab and the reseller's digest.

    One app rather than two ("renewals" and "notifications"): the reminders are the first
    producer of notifications and share their tables, keys and digests; splitting them would
    make the one guarantee (one email per person, category and day) span two apps. It sits
    on top of the chain (notices -> activations -> entitlements -> accounts -> portal): it
    reads the other apps' models and writes only its own tables and the accounts outbox.
    """

    name = "notices"
    verbose_name = _("Renewals and notifications")

    def ready(self) -> None:
        from allauth.mfa.signals import authenticator_added, authenticator_removed, authenticator_reset

        from .services import security_event_publish

        def on_mfa_change(sender, request, user, authenticator, signal, **kwargs) -> None:
            change = {authenticator_added: "added", authenticator_removed: "removed"}.get(signal, "reset")
            security_event_publish(user=user, change=change, method=str(authenticator.type))

        for signal in (authenticator_added, authenticator_removed, authenticator_reset):
            signal.connect(on_mfa_change, weak=False, dispatch_uid=f"notices.mfa.{id(signal)}")
