"""Support console for license servers (read-mostly), license file versions (read-only)
and per-customer rehost quota overrides (through ``rehost_quota_set``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from accounts.admin import ServiceAdmin
from portal.errors import PortalError

from .models import Activation, LicenseFile, LicenseServer, Rehost, RehostQuota, ServerHost
from .services import rehost_quota_set


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ServerHostInline(ReadOnlyInline):
    model = ServerHost
    fields = readonly_fields = ["position", "host_name", "hostid_type", "host_id"]


class ActivationInline(ReadOnlyInline):
    model = Activation
    fields = readonly_fields = ["entitlement", "quantity", "borrowable", "updated_at"]


class LicenseFileInline(ReadOnlyInline):
    model = LicenseFile
    fields = readonly_fields = ["version", "reason", "created_by", "created_at"]
    show_change_link = True


class RehostInline(ReadOnlyInline):
    model = Rehost
    fields = readonly_fields = ["created_at", "kind", "old_host_ids", "new_host_ids", "actor"]


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.method in ("GET", "HEAD") and super().has_view_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LicenseServer)
class LicenseServerAdmin(ReadOnlyAdmin):
    """Read-mostly: customers change their servers in the portal (audited there)."""

    list_display = ["name", "customer", "lmgrd_port", "vendor_port", "created_at"]
    search_fields = ["name", "customer__number", "customer__name", "hosts__host_id", "hosts__host_name"]
    list_select_related = ["customer"]
    readonly_fields = ["customer", "name", "lmgrd_port", "vendor_port", "created_at", "created_by"]
    fields = readonly_fields
    inlines = [ServerHostInline, ActivationInline, LicenseFileInline, RehostInline]


@admin.register(LicenseFile)
class LicenseFileAdmin(ReadOnlyAdmin):
    list_display = ["server", "version", "reason", "created_by", "created_at"]
    list_filter = ["reason"]
    search_fields = ["server__name", "server__customer__number"]
    list_select_related = ["server__customer", "created_by"]
    readonly_fields = ["server", "version", "reason", "created_by", "created_at", "content"]
    fields = readonly_fields


class RehostQuotaForm(forms.ModelForm):
    class Meta:
        model = RehostQuota
        fields = ["customer", "rehosts_per_year", "note"]


@admin.register(RehostQuota)
class RehostQuotaAdmin(ServiceAdmin):
    form = RehostQuotaForm
    list_display = ["customer", "rehosts_per_year", "note", "updated_at"]
    search_fields = ["customer__number", "customer__name"]
    autocomplete_fields = ["customer"]

    def get_readonly_fields(self, request: HttpRequest, obj: RehostQuota | None = None) -> list[str]:
        return ["customer"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: RehostQuota, form: forms.Form, change: bool) -> None:
        try:
            rehost_quota_set(
                customer=obj.customer, actor=request.user, rehosts_per_year=obj.rehosts_per_year, note=obj.note
            )
            saved = RehostQuota.objects.get(customer=obj.customer)
            self.adopt(obj, saved)
        except PortalError as refused:
            self.service_refused(request, refused)

    def delete_model(self, request: HttpRequest, obj: RehostQuota) -> None:
        rehost_quota_set(customer=obj.customer, actor=request.user, rehosts_per_year=None)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for quota in queryset.select_related("customer"):
            self.delete_model(request, quota)
