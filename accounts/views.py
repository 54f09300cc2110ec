from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView

from portal.csv import csv_response
from portal.errors import PortalError
from portal.imports import PreviewedImportMixin

from .access import CustomerViewMixin
from .audit_text import audit_sentence
from .forms import (
    MAX_BULK_LINES,
    AuditFilterForm,
    BulkAddForm,
    BulkApplyForm,
    RoleChangeForm,
    UserAddForm,
    audit_action_label,
)
from .models import AuditEvent, Invitation, Membership
from .roles import GRANTABLE_ROLES, PERMISSION_LABELS, ROLE_PERMISSIONS, Permission, Role, role_permissions
from .selectors import (
    AddOutcome,
    AddPlanLine,
    AddRequest,
    audit_actions_used,
    audit_event_list,
    invitation_for_invitee,
    invitation_pending_list,
    invitations_for_invitee,
    membership_list,
    memberships_for_user,
    user_add_plan,
    user_add_plan_digest,
)
from .services import (
    customer_set_mfa_required,
    invitation_accept,
    invitation_cancel,
    invitation_decline,
    invitation_resend,
    membership_add,
    membership_bulk_add,
    membership_change_role,
    membership_remove,
)


class AccessView(LoginRequiredMixin, TemplateView):
    """License Portal Access: every customer the user is linked to, or how to get access."""

    template_name = "accounts/access.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        # The same rows feed the header's customer switcher (accounts.context_processors).
        self.request.my_memberships = memberships = memberships_for_user(user=self.request.user)
        rows = [
            {
                "membership": membership,
                "customer": membership.customer,
                "role": Role(membership.role),
                "permissions": [
                    permission.label for permission in Permission if permission in role_permissions(membership.role)
                ],
            }
            for membership in memberships
        ]
        customers = [row["customer"] for row in rows]
        invitations = invitations_for_invitee(user=self.request.user)
        return super().get_context_data(rows=rows, customers=customers, invitations=invitations, **kwargs)


class InvitationRespondView(LoginRequiredMixin, View):
    """The invitee accepts or declines an invitation (POST from the access page)."""

    accept: bool = True

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        invitation = invitation_for_invitee(user=request.user, pk=pk)
        try:
            if self.accept:
                membership = invitation_accept(invitation=invitation, actor=request.user)
                messages.success(
                    request,
                    _("You now have access to %(customer)s as %(role)s.")
                    % {"customer": membership.customer, "role": membership.get_role_display()},
                )
            else:
                invitation_decline(invitation=invitation, actor=request.user)
                messages.success(request, _("Invitation declined."))
        except PortalError as error:
            messages.error(request, error.message)
        return redirect("access")


class RolesHelpView(TemplateView):
    """The role-permission matrix, rendered from ``ROLE_PERMISSIONS``."""

    template_name = "accounts/roles_help.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        roles = list(Role)
        matrix = [
            {
                "permission": permission,
                "label": PERMISSION_LABELS[permission],
                "cells": [permission in ROLE_PERMISSIONS[role] for role in roles],
            }
            for permission in Permission
        ]
        return super().get_context_data(roles=roles, matrix=matrix, **kwargs)


class CustomerHomeView(CustomerViewMixin, View):
    required_permission = Permission.VIEW

    def get(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        return redirect("entitlements:list", customer_number=customer_number)


# --- Portal users (/c/<n>/users/) -------------------------------------------------------


class UsersPageMixin(CustomerViewMixin):
    """The users page, shown for GET and re-shown with errors when an add fails."""

    def users_page(
        self, request: HttpRequest, *, add_form: UserAddForm | None = None, status: int = HTTPStatus.OK
    ) -> HttpResponse:
        memberships = list(membership_list(customer=self.customer))
        return self.render_page(
            "accounts/users.html",
            status,
            memberships=memberships,
            asc_count=sum(1 for membership in memberships if membership.role == Role.ASC),
            invitations=invitation_pending_list(customer=self.customer),
            add_form=add_form or UserAddForm(),
            role_choices=[(role.value, role.label) for role in GRANTABLE_ROLES],
            asc_role=Role.ASC,
        )

    def users_redirect(self) -> HttpResponse:
        return redirect("users:list", customer_number=self.customer.number)


class UserListView(UsersPageMixin, View):
    required_permission = Permission.VIEW

    def get(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        return self.users_page(request)


class UserAddView(UsersPageMixin, View):
    required_permission = Permission.MANAGE_USERS

    def post(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        form = UserAddForm(request.POST)

        def added(result: Membership | Invitation) -> str:
            if isinstance(result, Invitation):
                # The same words whether or not the address has an account (#12 item 5).
                message = _("An invitation was emailed to %(email)s: they join when they accept it.")
            else:
                message = _("%(email)s was added as a portal user.")
            return message % {"email": form.cleaned_data["email"].strip().lower()}

        return self.submit(
            form,
            lambda data: membership_add(
                customer=self.customer, actor=request.user, email=data["email"], role=data["role"]
            ),
            success=added,
            then=lambda _result: self.users_redirect(),
        ) or self.users_page(request, add_form=form, status=HTTPStatus.BAD_REQUEST)


class CustomerMfaRequiredView(UsersPageMixin, View):
    """Require (or stop requiring) two-factor authentication of every member."""

    required_permission = Permission.MANAGE_USERS

    def post(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        required = request.POST.get("required") == "true"
        customer_set_mfa_required(customer=self.customer, actor=request.user, required=required)
        if required:
            messages.success(request, _("Two-factor authentication is now required for every portal user."))
        else:
            messages.success(request, _("Two-factor authentication is no longer required."))
        return self.users_redirect()


class _MembershipActionView(UsersPageMixin, View):
    def membership(self, pk: int) -> Membership:
        return get_object_or_404(membership_list(customer=self.customer), pk=pk)


class UserRoleView(_MembershipActionView):
    required_permission = Permission.MANAGE_USERS

    def post(self, request: HttpRequest, customer_number: str, pk: int) -> HttpResponse:
        membership = self.membership(pk)
        form = RoleChangeForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Choose a valid role."))
            return self.users_redirect()
        try:
            changed = membership_change_role(membership=membership, actor=request.user, role=form.cleaned_data["role"])
        except PortalError as refused:
            self.refused(refused)
        else:
            message = _("%(email)s now has the role %(role)s.")
            messages.success(request, message % {"email": membership.user.email, "role": changed.get_role_display()})
        return self.users_redirect()


class UserRemoveView(_MembershipActionView):
    # Everyone may remove their own access (unless ASC); removing someone else needs
    # MANAGE_USERS, which the service checks and audits when it is missing.
    required_permission = Permission.VIEW

    def post(self, request: HttpRequest, customer_number: str, pk: int) -> HttpResponse:
        membership = self.membership(pk)
        is_self = membership.user_id == request.user.pk
        try:
            membership_remove(membership=membership, actor=request.user)
        except PortalError as refused:
            self.refused(refused)
            return self.users_redirect()
        if is_self:
            messages.success(
                request, _("You no longer have access to customer %(number)s.") % {"number": self.customer.number}
            )
            return redirect("access")
        messages.success(request, _("%(email)s was removed.") % {"email": membership.user.email})
        return self.users_redirect()


class _InvitationActionView(UsersPageMixin, View):
    required_permission = Permission.MANAGE_USERS

    def invitation(self, pk: int) -> Invitation:
        return get_object_or_404(invitation_pending_list(customer=self.customer), pk=pk)


class InvitationCancelView(_InvitationActionView):
    def post(self, request: HttpRequest, customer_number: str, pk: int) -> HttpResponse:
        invitation = self.invitation(pk)
        try:
            invitation_cancel(invitation=invitation, actor=request.user)
        except PortalError as refused:
            self.refused(refused)
        else:
            messages.success(request, _("The invitation of %(email)s was cancelled.") % {"email": invitation.email})
        return self.users_redirect()


class InvitationResendView(_InvitationActionView):
    def post(self, request: HttpRequest, customer_number: str, pk: int) -> HttpResponse:
        invitation = self.invitation(pk)
        try:
            invitation_resend(invitation=invitation, actor=request.user)
        except PortalError as refused:
            self.refused(refused)
        else:
            messages.success(request, _("The invitation was emailed to %(email)s again.") % {"email": invitation.email})
        return self.users_redirect()


class UserBulkAddView(PreviewedImportMixin, CustomerViewMixin, View):
    """Bulk add in two steps: preview (nothing changes) and apply (all or nothing)."""

    required_permission = Permission.MANAGE_USERS
    template_name = "accounts/users_bulk.html"
    import_url_name = "users:bulk"
    form_class = BulkAddForm
    apply_form_class = BulkApplyForm
    outcomes = AddOutcome
    max_lines = MAX_BULK_LINES

    def import_plan(self, requests: Sequence[AddRequest]) -> list[AddPlanLine]:
        return user_add_plan(customer=self.customer, requests=requests)

    def import_digest(self, plan: Sequence[AddPlanLine]) -> str:
        return user_add_plan_digest(plan)

    def import_apply(self, requests: Sequence[AddRequest], expected_digest: str) -> list[AddPlanLine]:
        return membership_bulk_add(
            customer=self.customer, actor=self.request.user, requests=requests, expected_digest=expected_digest
        )

    def import_done(self, applied: Sequence[AddPlanLine]) -> HttpResponse:
        counts = Counter(line.outcome for line in applied)
        messages.success(
            self.request,
            _("Bulk add applied: %(added)d added, %(invited)d invited.")
            % {"added": counts[AddOutcome.ADD], "invited": counts[AddOutcome.INVITE]},
        )
        return redirect("users:list", customer_number=self.customer.number)


# --- Audit log (/c/<n>/audit/) -----------------------------------------------------------

AUDIT_PAGE_SIZE = 50


class _AuditMixin(CustomerViewMixin):
    required_permission = Permission.VIEW

    def filter_form(self, request: HttpRequest) -> AuditFilterForm:
        return AuditFilterForm(request.GET or None, actions=audit_actions_used(customer=self.customer))

    def events(self, form: AuditFilterForm) -> QuerySet[AuditEvent] | None:
        """The filtered events; None when the filter itself is invalid."""
        if not form.is_bound:
            return audit_event_list(customer=self.customer)
        if not form.is_valid():
            return None
        return audit_event_list(customer=self.customer, filters=form.filters())


class AuditLogView(_AuditMixin, View):
    def get(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        form = self.filter_form(request)
        events = self.events(form)
        page = Paginator(events if events is not None else AuditEvent.objects.none(), AUDIT_PAGE_SIZE).get_page(
            request.GET.get("page")
        )
        query = request.GET.copy()
        query.pop("page", None)
        rows = [
            (
                event,
                audit_action_label(event.action),
                audit_sentence(action=event.action, target=event.target, details=event.details, denied=event.denied),
            )
            for event in page.object_list
        ]
        status = HTTPStatus.BAD_REQUEST if events is None else HTTPStatus.OK
        return self.render_page("accounts/audit.html", status, form=form, page=page, rows=rows, query=query.urlencode())


class AuditExportView(_AuditMixin, View):
    """The filtered audit events as CSV (same filter as the page, every page of it)."""

    HEADER = ("time", "actor", "action", "action_label", "target", "denied", "details")

    def get(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        form = self.filter_form(request)
        events = self.events(form)
        if events is None:
            return HttpResponse(
                _("The filter is not valid."), status=HTTPStatus.BAD_REQUEST, content_type="text/plain; charset=utf-8"
            )
        rows = (
            [
                timezone.localtime(event.created_at).isoformat(timespec="seconds"),
                event.actor_email,
                event.action,
                audit_action_label(event.action),
                event.target,
                "yes" if event.denied else "no",
                _details_text(event.details),
            ]
            for event in events.iterator(chunk_size=2000)
        )
        return csv_response(f"audit-{self.customer.number}-{timezone.localdate():%Y%m%d}.csv", self.HEADER, rows)


def _details_text(details: dict[str, Any]) -> str:
    return json.dumps(details, ensure_ascii=False, sort_keys=True) if details else ""
