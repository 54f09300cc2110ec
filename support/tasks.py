"""Celery tasks: thin wrappers that call a service."""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from . import services


@shared_task
def emergency_requests_expired_close() -> int:
    """Periodic (beat): approved emergency requests whose file has expired become done."""
    with transaction.atomic():
        return services.emergency_requests_expired_close()
