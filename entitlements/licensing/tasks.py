"""Celery tasks of the Shared Web and Elastic settings: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task

from . import services


# The name it had before the package move, so queued and scheduled runs keep finding it.
@shared_task(name="entitlements.licensing_tasks.elastic_budget_alerts_check")
def elastic_budget_alerts_check() -> int:
    """Periodic (beat, hourly): emails each budget threshold crossed this month, once.

    Idempotent: the BudgetAlert unique constraint lets two overlapping runs send one email."""
    return services.budget_alerts_check_all()
