"""The notification outbox's figures for ``/metrics`` (registered in ``AccountsConfig.ready``
through ``portal.metrics.register_gauge``, like any app's)."""

from __future__ import annotations

from django.db.models import Min, Sum
from django.utils import timezone

from portal.metrics import register_gauge

from .models import Notification


def outbox_backlog() -> float:
    return Notification.objects.filter(sent_at__isnull=True).count()


def outbox_oldest_unsent_age() -> float:
    oldest = Notification.objects.filter(sent_at__isnull=True).aggregate(oldest=Min("created_at"))["oldest"]
    return max(0.0, (timezone.now() - oldest).total_seconds()) if oldest else 0.0


def outbox_failed_attempts() -> float:
    # Every attempt that did not end in a send: all attempts minus one per sent row.
    attempts = Notification.objects.aggregate(attempts=Sum("attempts"))["attempts"] or 0
    return max(0, attempts - Notification.objects.filter(sent_at__isnull=False).count())


def outbox_failing() -> float:
    return Notification.objects.filter(sent_at__isnull=True, attempts__gt=0).count()


def register() -> None:
    register_gauge("portal_notification_outbox_backlog", "Notifications not sent yet.", outbox_backlog)
    register_gauge(
        "portal_notification_outbox_oldest_unsent_age_seconds",
        "Age of the oldest notification not sent yet (0 when none).",
        outbox_oldest_unsent_age,
    )
    register_gauge(
        "portal_notification_send_failures",
        "Notification send attempts that failed (SMTP or network errors).",
        outbox_failed_attempts,
        kind="counter",
    )
    register_gauge("portal_notification_failing", "Unsent notifications whose last attempt failed.", outbox_failing)
