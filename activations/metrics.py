"""Activation figures for ``/metrics`` (registered in ``ActivationsConfig.ready`` through
``portal.metrics.register_gauge``)."""

from __future__ import annotations

from accounts.models import AuditEvent
from portal.metrics import register_gauge

from .models import LicenseFile


def activations_applied() -> float:
    # The audit log is append-only, so this count only grows: a true counter.
    return AuditEvent.objects.filter(action="activation.changed").count()


def license_files_issued() -> float:
    return LicenseFile.objects.count()  # every version is kept


def register() -> None:
    register_gauge(
        "portal_activations_applied",
        "Activation changes applied (audit events activation.changed).",
        activations_applied,
        kind="counter",
    )
    register_gauge("portal_license_files_issued", "License file versions issued.", license_files_issued, kind="counter")
