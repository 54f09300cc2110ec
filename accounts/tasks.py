"""Celery tasks: thin wrappers that load by id and call a service."""

from __future__ import annotations

import logging

from celery import shared_task

from . import notifications

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    autoretry_for=notifications.TRANSIENT_SEND_ERRORS,
    retry_backoff=2,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=10,
    acks_late=True,
)
def notification_send_task(self, notification_id: int) -> bool:
    return notifications.notification_send(notification_id=notification_id)


@shared_task
def notifications_send_pending() -> int:
    """Periodic sweep (beat): sends what was not sent, e.g. after a broker outage."""
    sent = 0
    for notification_id in notifications.notifications_pending_ids():
        try:
            sent += notifications.notification_send(notification_id=notification_id)
        except notifications.TRANSIENT_SEND_ERRORS:
            logger.warning("Notification %s still failing; will retry", notification_id, exc_info=True)
    return sent
