"""Support console for the Shared Web and Elastic settings, including the Elastic usage
CSV import (validation, de-duplication, per-line results).

Writes go through ``entitlements.licensing.services`` with ``actor=request.user`` (audited). Shared Web
lists and groups are the customer's to manage in the portal, so they are read-only here.
The Elastic PIN is never shown in the console.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts.access import is_support_staff
from accounts.admin import ServiceAdmin
from portal.errors import PortalError

from ..models import BudgetAlert, ElasticAccount, ElasticUsage, SeatAssignment, SharedWebGroup, SharedWebUser
from .forms import UsageImportForm
from .services import (
    USAGE_COLUMNS,
    UsageOutcome,
    elastic_account_create,
    elastic_pin_regenerate,
    elastic_usage_import,
)

# The import page lists every line with a problem, and this many of the imported ones.
USAGE_IMPORT_SHOWN_OK_LINES = 200


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SharedWebUser)
class SharedWebUserAdmin(ReadOnlyAdmin):
    list_display = ["email", "name", "customer", "active", "created_at"]
    list_filter = ["active"]
    search_fields = ["email", "name", "customer__number", "customer__name"]
    list_select_related = ["customer"]


class SeatAssignmentInline(admin.TabularInline):
    model = SeatAssignment
    fields = ["entitlement", "seats"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SharedWebGroup)
class SharedWebGroupAdmin(ReadOnlyAdmin):
    list_display = ["name", "customer", "created_at"]
    search_fields = ["name", "customer__number", "customer__name"]
    list_select_related = ["customer"]
    inlines = [SeatAssignmentInline]


class ElasticAccountForm(forms.ModelForm):
    class Meta:
        model = ElasticAccount
        fields = ["customer", "license_server_id"]


@admin.register(ElasticAccount)
class ElasticAccountAdmin(ServiceAdmin):
    """Opening an account (cloud license server ID, fresh PIN) and regenerating the PIN."""

    form = ElasticAccountForm
    list_display = ["customer", "license_server_id", "monthly_budget_units", "pin_changed_at"]
    search_fields = ["customer__number", "customer__name", "license_server_id"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]
    actions = ["regenerate_pin"]

    def get_fields(self, request: HttpRequest, obj: ElasticAccount | None = None) -> list[str]:
        if obj is None:
            return ["customer", "license_server_id"]
        return [
            "customer",
            "license_server_id",
            "pin_changed_at",
            "monthly_budget_units",
            "alert_thresholds",
            "alert_recipients",
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: ElasticAccount | None = None) -> list[str]:
        return [] if obj is None else self.get_fields(request, obj)

    def save_model(self, request: HttpRequest, obj: ElasticAccount, form: forms.Form, change: bool) -> None:
        if change:
            return
        try:
            saved = elastic_account_create(
                customer=obj.customer, actor=request.user, license_server_id=obj.license_server_id
            )
            self.adopt(obj, saved)
        except PortalError as refused:
            self.service_refused(request, refused)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description=gettext_lazy("Generate a new PIN (the customer's ASCs are notified)"))
    def regenerate_pin(self, request: HttpRequest, queryset: QuerySet[ElasticAccount]) -> None:
        done = 0
        for account in queryset.select_related("customer"):
            try:
                elastic_pin_regenerate(account=account, actor=request.user)
                done += 1
            except PortalError as refused:
                messages.error(request, refused.message)
        if done:
            messages.success(
                request, ngettext("%(count)d PIN regenerated.", "%(count)d PINs regenerated.", done) % {"count": done}
            )


@admin.register(ElasticUsage)
class ElasticUsageAdmin(ReadOnlyAdmin):
    list_display = [
        "transaction_id",
        "customer",
        "product",
        "started_at",
        "ended_at",
        "count",
        "hours",
        "cost",
        "currency",
        "user",
    ]
    list_filter = ["product"]
    search_fields = ["transaction_id", "customer__number", "user", "product__feature"]
    list_select_related = ["customer", "product"]
    date_hierarchy = "started_at"
    change_list_template = "entitlements/licensing/admin_usage_change_list.html"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # "Add" here means importing the vendor's report (see import_view): the Django
        # permission is needed, as for every other import (issue 12).
        return is_support_staff(request.user) and request.user.has_perm("entitlements.add_elasticusage")

    def get_urls(self) -> list:
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="entitlements_elasticusage_import"),
            *super().get_urls(),
        ]

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        return redirect("admin:entitlements_elasticusage_import")

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Upload the usage report -> per-line results (check only, or import)."""
        if not self.has_add_permission(request):
            return redirect("admin:index")
        form = UsageImportForm(request.POST or None, request.FILES or None)
        result = None
        if request.method == "POST" and form.is_valid():
            try:
                result = elastic_usage_import(
                    actor=request.user, text=form.cleaned_data["file"], dry_run=form.cleaned_data["dry_run"]
                )
            except PortalError as error:
                form.add_error(None, error.message)
            else:
                if not result.dry_run:
                    messages.success(
                        request,
                        _("%(count)d usage transaction(s) imported.") % {"count": result.count(UsageOutcome.IMPORTED)},
                    )
        shown, shown_ok, hidden_ok = [], 0, 0
        for line in result.lines if result is not None else []:
            if line.outcome in (UsageOutcome.IMPORTED, UsageOutcome.WOULD_IMPORT):
                if shown_ok >= USAGE_IMPORT_SHOWN_OK_LINES:
                    hidden_ok += 1
                    continue
                shown_ok += 1
            shown.append(line)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext_lazy("Import Elastic usage from CSV"),
            "opts": self.model._meta,
            "form": form,
            "result": result,
            "lines": shown,
            "hidden_ok": hidden_ok,
            "labels": {
                UsageOutcome.IMPORTED: _("imported"),
                UsageOutcome.WOULD_IMPORT: _("would be imported"),
                UsageOutcome.ALREADY_IMPORTED: _("already imported"),
                UsageOutcome.DUPLICATE: _("duplicate in file"),
                UsageOutcome.INVALID: _("invalid"),
            },
            "columns": ",".join(USAGE_COLUMNS),
        }
        return TemplateResponse(request, "entitlements/licensing/admin_usage_import.html", context)


@admin.register(BudgetAlert)
class BudgetAlertAdmin(ReadOnlyAdmin):
    list_display = ["customer", "month", "threshold", "consumed", "created_at"]
    search_fields = ["customer__number", "customer__name"]
    list_select_related = ["customer"]
