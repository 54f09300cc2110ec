"""Support console: account managers per customer, and the reseller's list of lines ending
in 90/30/7 days (the same list as the daily digest), filterable by account manager."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from accounts.access import is_support_staff
from accounts.admin import ServiceAdmin

from . import selectors, services
from .models import CustomerRenewalSettings, Kind, RenewalLine
from .rules import RESELLER_STEPS


@admin.register(CustomerRenewalSettings)
class CustomerRenewalSettingsAdmin(ServiceAdmin):
    list_display = ("customer", "account_manager_name", "account_manager_email", "account_manager_phone")
    search_fields = ("customer__number", "customer__name", "account_manager_name", "account_manager_email")
    list_filter = ("account_manager_name",)
    fields = ("customer", "account_manager_name", "account_manager_email", "account_manager_phone")
    autocomplete_fields = ("customer",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("customer",) if obj else ()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: CustomerRenewalSettings, form: Any, change: bool) -> None:
        saved = services.renewal_settings_update(
            customer=obj.customer,
            actor=request.user,
            account_manager_name=obj.account_manager_name,
            account_manager_email=obj.account_manager_email,
            account_manager_phone=obj.account_manager_phone,
        )
        self.adopt(obj, saved)


@admin.register(RenewalLine)
class RenewalLineAdmin(admin.ModelAdmin):
    """Read-only: the changelist is the reseller digest's list for today."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_support_staff(request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_support_staff(request.user)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        today = timezone.localdate()
        manager = request.GET.get("manager", "")
        days = request.GET.get("days", "")
        steps = (int(days),) if days.isdigit() and int(days) in RESELLER_STEPS else RESELLER_STEPS
        rows = []
        for d in selectors.reseller_lines(today=today, steps=steps, account_manager=manager):
            found = getattr(d.line.customer, "renewal_settings", None)
            rows.append({"d": d, "days": (d.date - today).days, "manager": found, "kind_label": Kind(d.kind).label})
        return TemplateResponse(
            request,
            "admin/notices/renewals.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": self.model._meta.verbose_name_plural,
                "rows": rows,
                "managers": selectors.account_managers(),
                "manager": manager,
                "days": days,
                "steps": RESELLER_STEPS,
                "today": today,
            },
        )
