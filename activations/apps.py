from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ActivationsConfig(AppConfig):
    name = "activations"
    verbose_name = _("License servers and activations")

    def ready(self) -> None:
        from .metrics import register as register_metrics

        register_metrics()
