"""Celery tasks of the Shared Web and Elastic settings: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task

from . import licensing_services


@shared_task
def elastic_budget_alerts_check() -> int:
    """Periodic (beat, hourly): emails each budget threshold crossed this month, once.

    Idempotent: the BudgetAlert unique constraint lets two overlapping runs send one email."""
    return licensing_services.budget_alerts_check_all()
