from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = _("API and webhooks")

    def ready(self) -> None:
        from accounts.audit import audit_listener_register
        from notices.services import reminder_listener_register

        from .webhooks import webhook_events_from_audit, webhook_events_from_reminders

        # Webhook events are derived from the audit events the services already write in the
        # change's transaction, so every service that audits a change can emit an event.
        audit_listener_register(webhook_events_from_audit)
        # entitlement.expiring: from the daily renewal run, in the transaction of its reminders.
        reminder_listener_register(webhook_events_from_reminders)
