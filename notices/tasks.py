"""Celery tasks: thin wrappers around the services."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def notices_daily_run() -> dict[str, int]:
    """Beat runs it every hour: the first run of a day does the work, the others find it done."""
    result = services.notices_daily_run()
    return {"customers": result.customers, "reminders": result.reminders, "emails": result.emails,
            "reseller_lines": result.reseller_lines}


@shared_task
def notices_outbox_mirror() -> int:
    return services.outbox_mirror()
