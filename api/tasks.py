"""Celery tasks: thin wrappers that load by id and call a service."""

from __future__ import annotations

from celery import shared_task

from . import webhooks


@shared_task(acks_late=True)
def webhook_deliver_task(delivery_id: int) -> str:
    return webhooks.webhook_deliver(delivery_id=delivery_id)


@shared_task
def webhook_deliveries_send_due() -> int:
    """Periodic sweep (beat): attempts every due delivery, e.g. after a broker outage."""
    return sum(webhooks.webhook_deliver(delivery_id=pk) == "delivered" for pk in webhooks.webhook_deliveries_due_ids())
