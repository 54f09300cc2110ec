"""Support console for products and entitlement lines, including the CSV import.

Writes go through ``entitlements.services`` with ``actor=request.user`` (audited).
Entitlement lines are not deleted here: their history and activations outlive them.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.admin import ServiceAdmin
from portal.errors import PortalError

from .forms import EntitlementImportForm

# The Shared Web / Elastic console pages register themselves when imported.
from .licensing import admin as licensing_admin  # noqa: F401
from .models import Entitlement, Product
from .services import (
    IMPORT_COLUMNS,
    EntitlementData,
    entitlement_import,
    entitlement_import_plan,
    entitlement_save,
    product_save,
)


@admin.register(Product)
class ProductAdmin(ServiceAdmin):
    list_display = ["feature", "name", "licensing_model"]
    list_filter = ["licensing_model"]
    search_fields = ["feature", "name"]
    fields = ["feature", "name", "licensing_model"]

    def save_model(self, request: HttpRequest, obj: Product, form: forms.Form, change: bool) -> None:
        try:
            saved = product_save(
                actor=request.user,
                feature=obj.feature,
                name=obj.name,
                licensing_model=obj.licensing_model,
                product=Product.objects.get(pk=obj.pk) if change else None,
            )
            self.adopt(obj, saved)
        except PortalError as refused:
            self.service_refused(request, refused)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Entitlement)
class EntitlementAdmin(ServiceAdmin):
    list_display = [
        "line_id",
        "customer",
        "product",
        "quantity",
        "activated",
        "start_date",
        "end_date",
        "tecs_end_date",
        "borrowable",
    ]
    list_filter = ["product__licensing_model", "borrowable"]
    search_fields = ["line_id", "order_number", "customer__number", "customer__name", "product__feature"]
    list_select_related = ["customer", "product"]
    autocomplete_fields = ["customer"]
    fields = [
        "customer",
        "line_id",
        "order_number",
        "product",
        "quantity",
        "activated",
        "start_date",
        "end_date",
        "tecs_end_date",
        "borrowable",
    ]
    readonly_fields = ["activated"]
    change_list_template = "entitlements/admin/change_list.html"

    def get_readonly_fields(self, request: HttpRequest, obj: Entitlement | None = None) -> list[str]:
        return ["activated", "customer", "line_id"] if obj is not None else ["activated"]

    def save_model(self, request: HttpRequest, obj: Entitlement, form: forms.Form, change: bool) -> None:
        data = EntitlementData(
            customer=obj.customer,
            line_id=obj.line_id,
            product=obj.product,
            quantity=obj.quantity,
            start_date=obj.start_date,
            end_date=obj.end_date,
            tecs_end_date=obj.tecs_end_date,
            borrowable=obj.borrowable,
            order_number=obj.order_number,
        )
        try:
            saved = entitlement_save(actor=request.user, data=data, entitlement=obj if change else None)
            self.adopt(obj, saved)
        except PortalError as refused:
            self.service_refused(request, refused)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list:
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="entitlements_entitlement_import"),
            *super().get_urls(),
        ]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Upload or paste a CSV -> preview with per-line errors -> apply (all or nothing)."""
        if not self.has_add_permission(request):
            return redirect("admin:index")
        form = EntitlementImportForm(request.POST or None, request.FILES or None)
        plan = None
        if request.method == "POST" and form.is_valid():
            try:
                if "apply" in request.POST:
                    saved = entitlement_import(actor=request.user, text=form.content)
                    messages.success(request, _("%(count)s entitlement line(s) imported.") % {"count": len(saved)})
                    return redirect("admin:entitlements_entitlement_changelist")
                plan = entitlement_import_plan(text=form.content)
            except PortalError as error:
                form.add_error(None, error.message)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext_lazy("Import entitlements from CSV"),
            "opts": self.model._meta,
            "form": form,
            "plan": plan,
            "plan_ok": plan is not None and all(line.ok for line in plan),
            "content": form.content if plan is not None else "",
            "columns": ",".join(IMPORT_COLUMNS),
        }
        return TemplateResponse(request, "entitlements/admin/import.html", context)
