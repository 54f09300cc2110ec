"""Celery tasks: thin wrappers that load by id and call a service."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def usage_upload_ingest_task(upload_id: int) -> int | None:
    upload = services.usage_upload_ingest(upload_id=upload_id)
    return upload.events_new if upload is not None else None


@shared_task
def usage_uploads_sweep() -> int:
    """Periodic (beat): ingests uploads whose task was never queued (broker outage)."""
    ids = services.usage_uploads_pending_ids()
    for upload_id in ids:
        services.usage_upload_ingest(upload_id=upload_id)
    return len(ids)


@shared_task
def usage_retention_enforce() -> int:
    """Periodic (beat): raw events older than each customer's retention period are deleted."""
    return services.usage_retention_enforce()
