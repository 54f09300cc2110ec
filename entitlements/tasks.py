"""Celery tasks of the entitlements app (autodiscovered via this module)."""

from .licensing.tasks import elastic_budget_alerts_check  # noqa: F401
