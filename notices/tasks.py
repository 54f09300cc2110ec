"""Celery tasks: thin wrappers around the services."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from accounts import notifications

from . import services

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def notices_daily_run() -> dict[str, int]:
    """Beat runs it every hour: the first run of a day from ``NOTICES_DAILY_RUN_HOUR`` (local
    time: people read reminders in the morning) does the work, the others find it done."""
    if timezone.localtime().hour < settings.NOTICES_DAILY_RUN_HOUR:
        return {}
    result = services.notices_daily_run()
    return {
        "customers": result.customers,
        "reminders": result.reminders,
        "emails": result.emails,
        "reseller_lines": result.reseller_lines,
    }


@shared_task
def notices_outbox_mirror() -> int:
    return services.outbox_mirror()


@shared_task(acks_late=True)
def notices_send_batch(notification_ids: list[int]) -> int:
    """Sends a batch of digest emails from the outbox; each is sent at most once (row lock,
    ``sent_at``), and one that fails is left to the outbox sweep's retries."""
    sent = 0
    for notification_id in notification_ids:
        try:
            sent += notifications.notification_send(notification_id=notification_id)
        except notifications.TRANSIENT_SEND_ERRORS:
            logger.warning("Digest email %s failed; the outbox sweep retries it", notification_id, exc_info=True)
    return sent
