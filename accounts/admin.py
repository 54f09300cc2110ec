"""The support console for accounts (Django admin, ``is_staff``).

Every change made here goes through ``accounts.services`` with ``actor=request.user``, so
it is audited and the customer's ASCs are notified exactly as for a change made in the
portal. No ModelAdmin saves or deletes a model directly: ``save_model``, ``delete_model``
and ``delete_queryset`` call services, and where no service exists for an operation
(adding or deleting users, deleting customers, editing audit events) the permission is
switched off.
"""

from __future__ import annotations

from typing import Any

from allauth.account.admin import EmailAddressAdmin as AllauthEmailAddressAdmin
from allauth.account.models import EmailAddress
from allauth.mfa.admin import AuthenticatorAdmin as AllauthAuthenticatorAdmin
from allauth.mfa.models import Authenticator
from allauth.usersessions.admin import UserSessionAdmin as AllauthUserSessionAdmin
from allauth.usersessions.models import UserSession
from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from portal.errors import PortalError

from .models import AuditEvent, Customer, Invitation, Membership, Notification, User
from .roles import Role
from .selectors import AddOutcome, AddRequest, user_add_plan
from .services import (
    asc_designate,
    customer_create,
    customer_update,
    email_normalise,
    invitation_cancel,
    invitation_resend,
    membership_add,
    membership_change_role,
    membership_remove,
    notification_send_now,
    user_update,
)


class ServiceAdmin(admin.ModelAdmin):
    """A ModelAdmin whose writes are service calls. A service's refusal (a race the form
    could not foresee) becomes an error message and nothing is logged as done."""

    def service_refused(self, request: HttpRequest, error: PortalError) -> None:
        messages.error(request, error.message)
        request._service_refused = True  # type: ignore[attr-defined]

    @staticmethod
    def refused(request: HttpRequest) -> bool:
        return getattr(request, "_service_refused", False)

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return None if self.refused(request) else super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return None if self.refused(request) else super().log_change(request, obj, message)

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: str | None = None) -> HttpResponse:
        if self.refused(request):
            return HttpResponseRedirect(reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_changelist"))
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj: Any) -> HttpResponse:
        if self.refused(request):
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    @staticmethod
    def adopt(obj: Any, saved: Any) -> None:
        """Makes the admin's unsaved instance stand for the row the service created."""
        for field in saved._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False
        obj._state.db = saved._state.db


# --- Customers ---------------------------------------------------------------------------


class CustomerAdminForm(forms.ModelForm):
    designate_asc_email = forms.EmailField(
        label=gettext_lazy("Designate ASC by email"),
        required=False,
        max_length=254,
        help_text=gettext_lazy(
            "The email address registered at purchase. A verified account with it becomes (or is promoted to) ASC at "
            "once; otherwise an ASC invitation is emailed and waits until that address is verified."
        ),
    )

    class Meta:
        model = Customer
        fields = ["number", "name", "flexnet_managed"]

    def clean_designate_asc_email(self) -> str:
        email = self.cleaned_data.get("designate_asc_email") or ""
        if not email:
            return ""
        try:
            return email_normalise(email)
        except PortalError as refused:
            raise forms.ValidationError(refused.message) from None


class MembershipInline(admin.TabularInline):
    """Who has access, for reference; changes are made under Memberships (through services)."""

    model = Membership
    fk_name = "customer"
    fields = ["user", "role", "created_at", "added_by"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Customer)
class CustomerAdmin(ServiceAdmin):
    form = CustomerAdminForm
    list_display = ["number", "name", "flexnet_managed", "asc_list", "created_at"]
    list_filter = ["flexnet_managed"]
    search_fields = ["number", "name"]
    ordering = ["number"]
    inlines = [MembershipInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Customer | None = None) -> list[str]:
        return ["number", "created_at", "asc_list"] if obj is not None else []

    def get_fields(self, request: HttpRequest, obj: Customer | None = None) -> list[str]:
        fields = ["number", "name", "flexnet_managed", "designate_asc_email"]
        return [*fields, "asc_list", "created_at"] if obj is not None else fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Customer]:
        return super().get_queryset(request).prefetch_related("memberships__user")

    @admin.display(description=gettext_lazy("ASCs"))
    def asc_list(self, obj: Customer) -> str:
        emails = [m.user.email for m in obj.memberships.all() if m.role == Role.ASC]
        return ", ".join(sorted(emails)) or "—"

    def save_model(self, request: HttpRequest, obj: Customer, form: forms.Form, change: bool) -> None:
        try:
            if change:
                saved = customer_update(
                    customer=obj, actor=request.user, name=obj.name, flexnet_managed=obj.flexnet_managed
                )
            else:
                saved = customer_create(
                    actor=request.user, number=obj.number, name=obj.name, flexnet_managed=obj.flexnet_managed
                )
            self.adopt(obj, saved)
            email = form.cleaned_data.get("designate_asc_email")
            if email:
                result = asc_designate(customer=saved, actor=request.user, email=email)
                if isinstance(result, Membership):
                    messages.success(request, _("%(email)s is now an ASC of this customer.") % {"email": email})
                else:
                    messages.success(
                        request,
                        _("%(email)s was emailed an ASC invitation; it links when that address is verified.")
                        % {"email": email},
                    )
        except PortalError as refused:
            self.service_refused(request, refused)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A customer's history (audit events, licenses) outlives it; there is no delete service.
        return False


# --- Users -------------------------------------------------------------------------------


@admin.register(User)
class UserAdmin(ServiceAdmin):
    """Email-based users. People sign up themselves; support edits names, deactivates
    accounts and grants console rights (superusers only), all through ``user_update``."""

    list_display = ["email", "name", "is_active", "is_staff", "is_superuser", "date_joined", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser"]
    search_fields = ["email", "name"]
    ordering = ["email"]
    fields = ["email", "name", "is_active", "is_staff", "is_superuser", "date_joined", "last_login"]
    readonly_fields = ["email", "date_joined", "last_login"]
    actions = ["deactivate", "activate"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = list(self.readonly_fields)
        if not request.user.is_superuser:
            readonly += ["is_staff", "is_superuser"]
        return readonly

    def save_model(self, request: HttpRequest, obj: User, form: forms.Form, change: bool) -> None:
        try:
            self.adopt(
                obj,
                user_update(
                    user=obj,
                    actor=request.user,
                    name=obj.name,
                    is_active=obj.is_active,
                    is_staff=obj.is_staff,
                    is_superuser=obj.is_superuser,
                ),
            )
        except PortalError as refused:
            self.service_refused(request, refused)

    def _set_active(self, request: HttpRequest, queryset: QuerySet[User], active: bool) -> None:
        done = 0
        for user in queryset:
            try:
                user_update(
                    user=user,
                    actor=request.user,
                    name=user.name,
                    is_active=active,
                    is_staff=user.is_staff,
                    is_superuser=user.is_superuser,
                )
                done += 1
            except PortalError as refused:
                messages.error(request, f"{user.email}: {refused.message}")
        message = ngettext("%(count)d user updated.", "%(count)d users updated.", done)
        messages.success(request, message % {"count": done})

    @admin.action(description=gettext_lazy("Deactivate selected users"), permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_active(request, queryset, False)

    @admin.action(description=gettext_lazy("Reactivate selected users"), permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_active(request, queryset, True)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Memberships -------------------------------------------------------------------------


class MembershipAddForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["customer", "user", "role"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        customer, user, role = cleaned.get("customer"), cleaned.get("user"), cleaned.get("role")
        if customer is None or user is None or not role or self.errors:
            return cleaned
        request = AddRequest(number=1, text=user.email, email=user.email.lower(), role=Role(role))
        (line,) = user_add_plan(customer=customer, requests=[request], allow_asc=True)
        if line.outcome == AddOutcome.INVITE:
            raise forms.ValidationError(
                _("%(email)s has not verified the email address (or is deactivated): create an invitation instead.")
                % {"email": user.email}
            )
        if line.outcome != AddOutcome.ADD:
            raise forms.ValidationError(line.reason)
        return cleaned


class MembershipChangeForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["role"]


@admin.register(Membership)
class MembershipAdmin(ServiceAdmin):
    list_display = ["customer", "user", "role", "created_at", "added_by"]
    list_filter = ["role"]
    search_fields = ["user__email", "customer__number", "customer__name"]
    list_select_related = ["customer", "user", "added_by"]
    autocomplete_fields = ["customer", "user"]
    ordering = ["customer__number", "user__email"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        kwargs["form"] = MembershipChangeForm if obj is not None else MembershipAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["customer", "user", "role"]
        return ["customer", "user", "role", "created_at", "added_by"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["customer", "user", "created_at", "added_by"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Membership, form: forms.Form, change: bool) -> None:
        try:
            if change:
                saved = membership_change_role(membership=obj, actor=request.user, role=obj.role)
            else:
                saved = membership_add(customer=obj.customer, actor=request.user, email=obj.user.email, role=obj.role)
                if not isinstance(saved, Membership):  # the address lost its verification meanwhile
                    messages.warning(request, _("%(email)s was invited instead.") % {"email": obj.user.email})
                    request._service_refused = True  # type: ignore[attr-defined]
                    return
            self.adopt(obj, saved)
        except PortalError as refused:
            self.service_refused(request, refused)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        membership_remove(membership=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        for membership in queryset.select_related("customer", "user"):
            try:
                membership_remove(membership=membership, actor=request.user)
            except PortalError as refused:
                messages.error(request, refused.message)


# --- Invitations -------------------------------------------------------------------------


class InvitationStatusFilter(admin.SimpleListFilter):
    title = gettext_lazy("status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("pending", _("pending")), ("accepted", _("accepted")), ("cancelled", _("cancelled"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> QuerySet[Invitation]:
        if self.value() == "pending":
            return queryset.pending()
        if self.value() == "accepted":
            return queryset.filter(accepted_at__isnull=False)
        if self.value() == "cancelled":
            return queryset.filter(cancelled_at__isnull=False)
        return queryset


class InvitationAddForm(forms.ModelForm):
    class Meta:
        model = Invitation
        fields = ["customer", "email", "role"]

    def clean_email(self) -> str:
        try:
            return email_normalise(self.cleaned_data.get("email") or "")
        except PortalError as refused:
            raise forms.ValidationError(refused.message) from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        customer, email, role = cleaned.get("customer"), cleaned.get("email"), cleaned.get("role")
        if customer is None or not email or not role:
            return cleaned
        request = AddRequest(number=1, text=email, email=email, role=Role(role))
        (line,) = user_add_plan(customer=customer, requests=[request], allow_asc=True)
        if not line.applies:
            raise forms.ValidationError(line.reason)
        return cleaned


@admin.register(Invitation)
class InvitationAdmin(ServiceAdmin):
    """Invitations are created (ASC role: designated), resent and cancelled through
    services; they are never edited or deleted, so their history stays."""

    form = InvitationAddForm
    list_display = ["email", "customer", "role", "status", "invited_by", "created_at", "last_sent_at"]
    list_filter = [InvitationStatusFilter, "role"]
    search_fields = ["email", "customer__number", "customer__name"]
    list_select_related = ["customer", "invited_by"]
    autocomplete_fields = ["customer"]
    actions = ["cancel", "resend"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["customer", "email", "role"]
        return [
            "customer",
            "email",
            "role",
            "invited_by",
            "created_at",
            "last_sent_at",
            "accepted_at",
            "accepted_by",
            "cancelled_at",
        ]

    @admin.display(description=gettext_lazy("status"))
    def status(self, obj: Invitation) -> str:
        if obj.accepted_at:
            return _("accepted")
        if obj.cancelled_at:
            return _("cancelled")
        return _("pending")

    def save_model(self, request: HttpRequest, obj: Invitation, form: forms.Form, change: bool) -> None:
        try:
            if Role(obj.role) == Role.ASC:
                saved = asc_designate(customer=obj.customer, actor=request.user, email=obj.email)
            else:
                saved = membership_add(customer=obj.customer, actor=request.user, email=obj.email, role=obj.role)
        except PortalError as refused:
            self.service_refused(request, refused)
            return
        if isinstance(saved, Membership):
            message = _("%(email)s has a verified account and was added as a member directly.")
            messages.info(request, message % {"email": obj.email})
            request._service_refused = True  # type: ignore[attr-defined]
            return
        self.adopt(obj, saved)

    @admin.action(description=gettext_lazy("Cancel selected pending invitations"), permissions=["add"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        self._each(request, queryset, invitation_cancel, _("%(count)d invitation(s) cancelled."))

    @admin.action(description=gettext_lazy("Email selected pending invitations again"), permissions=["add"])
    def resend(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        self._each(request, queryset, invitation_resend, _("%(count)d invitation(s) emailed again."))

    def _each(self, request: HttpRequest, queryset: QuerySet[Invitation], service: Any, done_message: str) -> None:
        done = 0
        for invitation in queryset.pending().select_related("customer", "invited_by"):
            try:
                service(invitation=invitation, actor=request.user)
                done += 1
            except PortalError as refused:
                messages.error(request, f"{invitation.email}: {refused.message}")
        messages.success(request, done_message % {"count": done})

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Read-only records -------------------------------------------------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Append-only: nobody adds, changes or deletes audit events, not even superusers."""

    list_display = ["created_at", "customer", "actor_email", "action", "target", "denied", "ip_address"]
    list_filter = ["denied", "action"]
    search_fields = ["actor_email", "target", "action", "customer__number"]
    list_select_related = ["customer"]
    date_hierarchy = "created_at"
    show_full_result_count = False


class NotificationSentFilter(admin.SimpleListFilter):
    title = gettext_lazy("sent")
    parameter_name = "sent"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", _("sent")), ("no", _("not sent yet"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Notification]) -> QuerySet[Notification]:
        if self.value() in ("yes", "no"):
            return queryset.filter(sent_at__isnull=self.value() == "no")
        return queryset


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "event", "recipient_list", "subject", "customer", "sent_at", "attempts"]
    list_filter = [NotificationSentFilter, "event"]
    search_fields = ["subject", "event", "customer__number"]
    list_select_related = ["customer"]
    actions = ["send_now"]

    @admin.display(description=gettext_lazy("recipients"))
    def recipient_list(self, obj: Notification) -> str:
        return ", ".join(obj.recipients)

    @admin.action(description=gettext_lazy("Send selected unsent notifications now"), permissions=["view"])
    def send_now(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        sent = skipped = 0
        for notification in queryset.select_related("customer"):
            try:
                if notification_send_now(notification=notification, actor=request.user):
                    sent += 1
                else:
                    skipped += 1
            except PortalError as refused:
                messages.error(request, f"{notification.pk}: {refused.message}")
        messages.success(
            request, _("%(sent)d sent; %(skipped)d had been sent already.") % {"sent": sent, "skipped": skipped}
        )


# --- allauth's models and Django's groups: looked at, never changed here -------------------

# Linking to a customer trusts a verified address (accounts/adapter.py), a second factor
# guards a sign-in and sessions end through the services: support must not mark an address
# verified, add or remove an authenticator or edit a session behind the services' backs
# (unaudited). Users manage their own addresses, factors and sessions; deactivating a user
# (services) ends their sessions. The portal does not use Django's groups.
admin.site.unregister(EmailAddress)
admin.site.unregister(Authenticator)
admin.site.unregister(UserSession)
admin.site.unregister(Group)


class _LookOnly(ReadOnlyAdmin):
    actions = None  # allauth's "mark verified" action included


@admin.register(EmailAddress)
class EmailAddressAdmin(_LookOnly, AllauthEmailAddressAdmin):
    pass


@admin.register(Authenticator)
class AuthenticatorAdmin(_LookOnly, AllauthAuthenticatorAdmin):
    pass


@admin.register(UserSession)
class UserSessionAdmin(_LookOnly, AllauthUserSessionAdmin):
    # allauth's searches ``user__username``, which this User model does not have (a 500).
    search_fields = ["user__email", "ip"]
