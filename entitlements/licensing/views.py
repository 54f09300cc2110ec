"""Shared Web and Elastic licensing settings (/c/<n>/settings/).

Thin views: a form validates, one service writes (and checks the permission again), a
message is added, redirect. Reads come from ``entitlements.licensing.selectors``. Every view declares
its permission; the Elastic PIN is put in a context only for MANAGE_LICENSING_SETTINGS.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, ClassVar, TypeVar

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from accounts.access import CustomerViewMixin
from accounts.roles import Permission, roles_with
from portal.csv import csv_response
from portal.errors import PortalError
from portal.imports import PreviewedImportMixin

from ..models import ElasticAccount, LicensingModel
from .charts import CHART_PALETTE, elastic_usage_chart
from .forms import (
    MAX_IMPORT_LINES,
    MAX_USAGE_RANGE_DAYS,
    ActiveForm,
    BudgetForm,
    GroupMembersForm,
    GroupNameForm,
    SeatsForm,
    SharedWebImportApplyForm,
    SharedWebImportForm,
    SharedWebUserForm,
    UsageFilterForm,
    UsagePreset,
)
from .selectors import (
    ImportOutcome,
    SharedWebImportLine,
    SharedWebImportRequest,
    elastic_account_get,
    elastic_summary,
    elastic_usage_list,
    licensing_models_owned,
    shared_web_access_overview,
    shared_web_entitlement_get,
    shared_web_entitlement_list,
    shared_web_group_get,
    shared_web_group_list,
    shared_web_group_members_list,
    shared_web_import_digest,
    shared_web_import_plan,
    shared_web_user_get,
    shared_web_user_list,
)
from .services import (
    elastic_budget_update,
    elastic_pin_regenerate,
    seat_assignment_set,
    shared_web_group_create,
    shared_web_group_delete,
    shared_web_group_rename,
    shared_web_group_set_members,
    shared_web_user_add,
    shared_web_user_import,
    shared_web_user_remove,
    shared_web_user_set_active,
    shared_web_user_update,
)

USAGE_PAGE_SIZE = 50


T = TypeVar("T")


class _SettingsView(CustomerViewMixin, View):
    """A settings page. ``section`` (a licensing model) must be owned by the customer, or
    the page explains that the section does not apply (404)."""

    section: ClassVar[str | None] = None

    def setup(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().setup(request, *args, **kwargs)
        self._models: frozenset[str] | None = None

    @property
    def models_owned(self) -> frozenset[str]:
        if self._models is None:
            self._models = licensing_models_owned(customer=self.customer)
        return self._models

    def context(self, **extra: Any) -> dict[str, Any]:
        return self.access.page_context(
            has_shared_web=LicensingModel.SHARED_WEB in self.models_owned,
            has_elastic=LicensingModel.ELASTIC in self.models_owned,
            **extra,
        )

    def page(self, template: str, status: int = HTTPStatus.OK, **extra: Any) -> HttpResponse:
        return render(self.request, f"entitlements/licensing/{template}", self.context(**extra), status=status)

    def section_missing(self) -> HttpResponse | None:
        if self.section is None or self.section in self.models_owned:
            return None
        return render(
            self.request,
            "entitlements/licensing/absent.html",
            self.context(section=self.section, section_label=LicensingModel(self.section).label),
            status=HTTPStatus.NOT_FOUND,
        )


def _section_guard(handler: Any) -> Any:
    def guarded(self: _SettingsView, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.section_missing() or handler(self, request, *args, **kwargs)

    return guarded


class SettingsView(_SettingsView):
    """The overview: a Shared Web section and an Elastic section, each present only when
    the customer owns entitlements of that model."""

    required_permission = Permission.VIEW

    def get(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        extra: dict[str, Any] = {}
        if LicensingModel.SHARED_WEB in self.models_owned:
            users = list(shared_web_user_list(customer=self.customer))
            extra.update(
                shared_web_user_count=len(users),
                shared_web_active_count=sum(1 for user in users if user.active),
                groups=list(shared_web_group_list(customer=self.customer)),
                seat_rows=shared_web_access_overview(customer=self.customer),
            )
        if LicensingModel.ELASTIC in self.models_owned:
            account = elastic_account_get(customer=self.customer)
            extra.update(account=account, summary=elastic_summary(customer=self.customer, account=account))
        return render(request, "entitlements/settings.html", self.context(**extra))


# --- Shared Web users -------------------------------------------------------------------


class _SharedWebView(_SettingsView):
    section = LicensingModel.SHARED_WEB

    def users_redirect(self) -> HttpResponse:
        return redirect("licensing_settings:shared_web_users", customer_number=self.customer.number)

    def shared_web_user(self, pk: int) -> Any:
        user = shared_web_user_get(customer=self.customer, pk=pk)
        if user is None:
            raise Http404(_("No such Shared Web user."))
        return user

    def users_page(self, *, form: SharedWebUserForm | None = None, status: int = HTTPStatus.OK) -> HttpResponse:
        users = list(shared_web_user_list(customer=self.customer))
        return self.page("shared_web_users.html", status=status, users=users, form=form or SharedWebUserForm())


class SharedWebUserListView(_SharedWebView):
    required_permission = Permission.VIEW

    @_section_guard
    def get(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        return self.users_page()


class SharedWebUserAddView(_SharedWebView):
    required_permission = Permission.MANAGE_LICENSING_SETTINGS

    @_section_guard
    def post(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        form = SharedWebUserForm(request.POST)
        return self.submit(
            form,
            lambda data: shared_web_user_add(
                customer=self.customer, actor=request.user, email=data["email"], name=data["name"]
            ),
            success=lambda user: _("%(email)s may now use the Shared Web licenses.") % {"email": user.email},
            then=lambda user: self.users_redirect(),
        ) or self.users_page(form=form, status=HTTPStatus.BAD_REQUEST)


class SharedWebUserEditView(_SharedWebView):
    required_permission = Permission.MANAGE_LICENSING_SETTINGS

    @_section_guard
    def get(self, request: HttpRequest, customer_number: str, pk: int) -> HttpResponse:
        user = self.shared_web_user(pk)
        form = SharedWebUserForm(initial={"email": user.email, "name": user.name})
        return self.page("shared_web_user_edit.html", shared_web_user=user, form=form)

    @_section_guard
    def post(self, request: HttpRequest, customer_number: str, pk: int) -> HttpResponse:
        user = self.shared_web_user(pk)
        form = SharedWebUserForm(request.POST)
        return self.submit(
            form,
            lambda data: shared_web_user_update(
                shared_web_user=user, actor=request.user, email=data["email"], name=data["name"]
            ),
            success=lambda _saved: _("The Shared Web user was saved."),
            then=lambda _saved: self.users_redirect(),
        ) or self.page("shared_web_user_edit.html", status=HTTPStatus.BAD_REQUEST, shared_web_user=user, form=form)


class SharedWebUserActiveView(_SharedWebView):
    required_permission = Permission.MANAGE_LICENSING_SETTINGS

    @_section_guard
    def post(self, request: HttpRequest, customer_number: str, pk: int) -> HttpResponse:
        user = self.shared_web_user(pk)
        form = ActiveForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Choose to activate or deactivate."))
            return self.users_redirect()
        active = form.cleaned_data["active"]
        try:
            shared_web_user_set_active(shared_web_user=user, actor=request.user, active=active)
        except PortalError as refused:
            self.refused(refused)
        else:
            message = _("%(email)s was reactivated.") if active else _("%(email)s was deactivated.")
            messages.success(request, message % {"email": user.email})
        return self.users_redirect()


class SharedWebUserRemoveView(_SharedWebView):
    required_permission = Permission.MANAGE_LICENSING_SETTINGS

    @_section_guard
    def post(self, request: HttpRequest, customer_number: str, pk: int) -> HttpResponse:
        user = self.shared_web_user(pk)
        try:
            shared_web_user_remove(shared_web_user=user, actor=request.user)
        except PortalError as refused:
            self.refused(refused)
        else:
            messages.success(request, _("%(email)s was removed from the Shared Web users.") % {"email": user.email})
        return self.users_redirect()


class SharedWebUserExportView(_SharedWebView):
    required_permission = Permission.VIEW

    @_section_guard
    def get(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        users = shared_web_user_list(customer=self.customer)
        rows = (
            [user.email, user.name, "yes" if user.active else "no", "; ".join(g.name for g in user.groups.all())]
            for user in users
        )
        filename = f"shared-web-users-{self.customer.number}-{timezone.localdate():%Y%m%d}.csv"
        return csv_response(filename, ["email", "name", "active", "groups"], rows)


class SharedWebUserImportView(PreviewedImportMixin, _SharedWebView):
    """Bulk import in two steps: preview (nothing changes) and apply (all or nothing)."""

    required_permission = Permission.MANAGE_LICENSING_SETTINGS
    template_name = "shared_web_import.html"
    import_url_name = "licensing_settings:shared_web_users_import"
    form_class = SharedWebImportForm
    apply_form_class = SharedWebImportApplyForm
    outcomes = ImportOutcome
    max_lines = MAX_IMPORT_LINES

    def import_render(self, status: int, context: dict[str, Any]) -> HttpResponse:
        return self.page(self.template_name, status=status, **context)

    def import_plan(self, requests: Sequence[SharedWebImportRequest]) -> list[SharedWebImportLine]:
        return shared_web_import_plan(customer=self.customer, requests=requests)

    def import_digest(self, plan: Sequence[SharedWebImportLine]) -> str:
        return shared_web_import_digest(plan)

    def import_apply(self, requests: Sequence[SharedWebImportRequest], expected_digest: str) -> list:
        return shared_web_user_import(
            customer=self.customer, actor=self.request.user, requests=requests, expected_digest=expected_digest
        )

    def import_done(self, applied: Sequence[SharedWebImportLine]) -> HttpResponse:
        counts = Counter(line.outcome for line in applied)
        messages.success(
            self.request,
            _("Import applied: %(added)d added, %(updated)d updated.")
            % {"added": counts[ImportOutcome.ADD], "updated": counts[ImportOutcome.UPDATE]},
        )
        return self.users_redirect()

    @_section_guard
    def get(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        return super().get(request, customer_number)

    @_section_guard
    def post(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        return super().post(request, customer_number)


# --- Shared Web groups and seats --------------------------------------------------------


class _GroupView(_SharedWebView):
    def group(self, pk: int) -> Any:
        group = shared_web_group_get(customer=self.customer, pk=pk)
        if group is None:
            raise Http404(_("No such group."))
        return group

    def groups_redirect(self) -> HttpResponse:
        return redirect("licensing_settings:shared_web_groups", customer_number=self.customer.number)

    def group_redirect(self, group: Any) -> HttpResponse:
        return redirect("licensing_settings:shared_web_group", customer_number=self.customer.number, pk=group.pk)

    def groups_page(self, *, form: GroupNameForm | None = None, status: int = HTTPStatus.OK) -> HttpResponse:
        return self.page(
            "shared_web_groups.html",
            status=status,
            groups=list(shared_web_group_list(customer=self.customer)),
            form=form or GroupNameForm(),
        )

    def group_page(self, group: Any, status: int = HTTPStatus.OK, **forms: Any) -> HttpResponse:
        users = list(shared_web_user_list(customer=self.customer))
        member_ids = {user.pk for user in group.members.all()}
        assigned = {assignment.entitlement_id: assignment.seats for assignment in group.seat_assignments.all()}
        seat_rows = []
        for row in shared_web_access_overview(customer=self.customer):
            mine = assigned.get(row.entitlement.pk, 0)
            seat_rows.append({"row": row, "mine": mine, "max": row.unreserved + mine})
        forms.setdefault("rename_form", GroupNameForm(initial={"name": group.name}))
        forms.setdefault("members_form", GroupMembersForm(initial={"members": sorted(member_ids)}, users=users))
        return self.page(
            "shared_web_group.html",
            status=status,
            group=group,
            seat_rows=seat_rows,
            seat_errors=forms.pop("seat_errors", {}),
            **forms,
        )


class SharedWebGroupListView(_GroupView):
    required_permission = Permission.VIEW

    @_section_guard
    def get(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        return self.groups_page()


class SharedWebGroupCreateView(_GroupView):
    required_permission = Permission.MANAGE_LICENSING_SETTINGS

    @_section_guard
    def post(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        form = GroupNameForm(request.POST)
        return self.submit(
            form,
            lambda data: shared_web_group_create(customer=self.customer, actor=request.user, name=data["name"]),
            success=lambda group: _("The group %(name)s was created.") % {"name": group.name},
            then=self.group_redirect,
        ) or self.groups_page(form=form, status=HTTPStatus.BAD_REQUEST)


class SharedWebGroupView(_GroupView):
    required_permission = Permission.VIEW

    @_section_guard
    def get(self, request: HttpRequest, customer_number: str, pk: int) -> HttpResponse:
        return self.group_page(self.group(pk))


class SharedWebGroupRenameView(_GroupView):
    required_permission = Permission.MANAGE_LICENSING_SETTINGS

    @_section_guard
    def post(self, request: HttpRequest, customer_number: str, pk: int) -> HttpResponse:
        group = self.group(pk)
        form = GroupNameForm(request.POST)
        return self.submit(
            form,
            lambda data: shared_web_group_rename(group=group, actor=request.user, name=data["name"]),
            success=lambda _renamed: _("The group was renamed."),
            then=lambda _renamed: self.group_redirect(group),
        ) or self.group_page(group, status=HTTPStatus.BAD_REQUEST, rename_form=form)


class SharedWebGroupDeleteView(_GroupView):
    required_permission = Permission.MANAGE_LICENSING_SETTINGS

    @_section_guard
    def post(self, request: HttpRequest, customer_number: str, pk: int) -> HttpResponse:
        group = self.group(pk)
        try:
            shared_web_group_delete(group=group, actor=request.user)
        except PortalError as refused:
            self.refused(refused)
            return self.group_redirect(group)
        messages.success(request, _("The group %(name)s was deleted.") % {"name": group.name})
        return self.groups_redirect()


class SharedWebGroupMembersView(_GroupView):
    required_permission = Permission.MANAGE_LICENSING_SETTINGS

    @_section_guard
    def post(self, request: HttpRequest, customer_number: str, pk: int) -> HttpResponse:
        group = self.group(pk)
        form = GroupMembersForm(request.POST, users=shared_web_user_list(customer=self.customer))
        return self.submit(
            form,
            lambda data: shared_web_group_set_members(group=group, actor=request.user, member_ids=data["members"]),
            success=lambda _saved: _("The members were saved."),
            then=lambda _saved: self.group_redirect(group),
        ) or self.group_page(group, status=HTTPStatus.BAD_REQUEST, members_form=form)


class SharedWebGroupSeatsView(_GroupView):
    required_permission = Permission.MANAGE_LICENSING_SETTINGS

    @_section_guard
    def post(self, request: HttpRequest, customer_number: str, pk: int) -> HttpResponse:
        group = self.group(pk)
        form = SeatsForm(request.POST)
        entitlement = None
        if form.is_valid():
            entitlement = shared_web_entitlement_get(customer=self.customer, pk=form.cleaned_data["entitlement"])
            if entitlement is None:
                form.add_error(None, _("Choose one of this customer's Shared Web licenses."))
        saved = self.submit(
            form,
            lambda data: seat_assignment_set(
                group=group, entitlement=entitlement, actor=request.user, seats=data["seats"]
            ),
            success=lambda seats: (
                _("%(seats)d seat(s) of %(line)s are now reserved for %(group)s.")
                % {"seats": seats, "line": entitlement.line_id, "group": group.name}
            ),
            then=lambda _seats: self.group_redirect(group),
        )
        if saved:
            return saved
        errors = [str(error) for errors in form.errors.values() for error in errors]
        entitlement_id = form.cleaned_data.get("entitlement") if hasattr(form, "cleaned_data") else None
        return self.group_page(
            group,
            status=HTTPStatus.BAD_REQUEST,
            seat_errors={entitlement_id: errors} if entitlement_id else {},
            seat_form_errors=errors,
        )


class SharedWebAccessView(_SharedWebView):
    """Who may use what: without groups, everyone active on the list may take any Shared
    Web license; with groups, reserved seats are for members only."""

    required_permission = Permission.VIEW

    @_section_guard
    def get(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        groups = list(shared_web_group_members_list(customer=self.customer))
        users = list(shared_web_user_list(customer=self.customer))
        return self.page(
            "shared_web_access.html",
            seat_rows=shared_web_access_overview(customer=self.customer),
            groups=groups,
            active_users=[user for user in users if user.active],
            inactive_count=sum(1 for user in users if not user.active),
            entitlements=list(shared_web_entitlement_list(customer=self.customer)),
        )


# --- Elastic ----------------------------------------------------------------------------


class _ElasticView(_SettingsView):
    section = LicensingModel.ELASTIC

    def account(self) -> ElasticAccount:
        account = elastic_account_get(customer=self.customer)
        if account is None:
            raise Http404(_("This customer has no Elastic account yet."))
        return account

    def elastic_redirect(self) -> HttpResponse:
        return redirect("licensing_settings:elastic", customer_number=self.customer.number)

    def elastic_page(self, *, budget_form: BudgetForm | None = None, status: int = HTTPStatus.OK) -> HttpResponse:
        account = elastic_account_get(customer=self.customer)
        summary = elastic_summary(customer=self.customer, account=account)
        if account is not None and budget_form is None:
            budget_form = BudgetForm(
                initial={
                    "monthly_budget_units": account.monthly_budget_units,
                    "alert_thresholds": ", ".join(str(t) for t in account.alert_thresholds),
                    "alert_recipients": "\n".join(account.alert_recipients),
                }
            )
        # The PIN enters the context only for roles that may manage the settings.
        pin = account.pin if account is not None and self.access.has(Permission.MANAGE_LICENSING_SETTINGS) else None
        pin_roles = [role.label for role in roles_with(Permission.MANAGE_LICENSING_SETTINGS)]
        return self.page(
            "elastic.html",
            status=status,
            account=account,
            summary=summary,
            pin=pin,
            pin_roles=pin_roles,
            budget_form=budget_form,
        )


class ElasticView(_ElasticView):
    required_permission = Permission.VIEW

    @_section_guard
    def get(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        return self.elastic_page()


class ElasticPinExportView(_ElasticView):
    """The cloud license server ID and PIN as a JSON download (ASC and Administrator)."""

    required_permission = Permission.MANAGE_LICENSING_SETTINGS

    @_section_guard
    def get(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        account = self.account()
        body = json.dumps({"license_server_id": account.license_server_id, "pin": account.pin}, indent=2)
        response = HttpResponse(body + "\n", content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="elastic-{self.customer.number}.json"'
        response["Cache-Control"] = "no-store"
        return response


class ElasticPinRegenerateView(_ElasticView):
    required_permission = Permission.MANAGE_LICENSING_SETTINGS

    @_section_guard
    def post(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        account = self.account()
        try:
            elastic_pin_regenerate(account=account, actor=request.user)
        except PortalError as refused:
            self.refused(refused)
        else:
            messages.success(request, _("A new PIN was generated. Update it wherever the old one was used."))
        return self.elastic_redirect()


class ElasticBudgetView(_ElasticView):
    required_permission = Permission.MANAGE_LICENSING_SETTINGS

    @_section_guard
    def post(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        account = self.account()
        form = BudgetForm(request.POST)
        return self.submit(
            form,
            lambda data: elastic_budget_update(
                account=account,
                actor=request.user,
                monthly_budget_units=data["monthly_budget_units"],
                alert_thresholds=data["alert_thresholds"],
                alert_recipients=data["alert_recipients"],
            ),
            success=lambda _saved: _("The budget settings were saved."),
            then=lambda _saved: self.elastic_redirect(),
        ) or self.elastic_page(budget_form=form, status=HTTPStatus.BAD_REQUEST)


class _UsageView(_ElasticView):
    # The page draws a chart over the range, so its range is bounded; the export is bounded by its rows.
    max_days: ClassVar[int | None] = MAX_USAGE_RANGE_DAYS

    def filter_form(self) -> UsageFilterForm:
        return UsageFilterForm(self.request.GET or {"preset": UsagePreset.LAST_12_MONTHS}, max_days=self.max_days)


class ElasticUsageView(_UsageView):
    required_permission = Permission.VIEW

    @_section_guard
    def get(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        form = self.filter_form()
        if not form.is_valid():
            return self.page("elastic_usage.html", status=HTTPStatus.BAD_REQUEST, form=form, page_obj=None, chart=None)
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
        usage = elastic_usage_list(customer=self.customer, start=start, end=end)
        page_obj = Paginator(usage, USAGE_PAGE_SIZE).get_page(request.GET.get("page"))
        chart = elastic_usage_chart(
            customer=self.customer, start=start, end=end, granularity=form.cleaned_data["granularity"]
        )
        query = request.GET.copy()
        query.pop("page", None)
        return self.page(
            "elastic_usage.html",
            form=form,
            page_obj=page_obj,
            chart=chart,
            start=start,
            end=end,
            query=query.urlencode(),
            palette=CHART_PALETTE,
        )


class ElasticUsageExportView(_UsageView):
    """The filtered usage transactions as CSV (every page of them, at most EXPORT_MAX_ROWS)."""

    required_permission = Permission.VIEW
    max_days = None

    @_section_guard
    def get(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        form = self.filter_form()
        if not form.is_valid():
            return HttpResponse(
                _("The filter is not valid."), status=HTTPStatus.BAD_REQUEST, content_type="text/plain; charset=utf-8"
            )
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
        usage = elastic_usage_list(customer=self.customer, start=start, end=end)
        rows = (
            [
                u.transaction_id,
                timezone.localtime(u.started_at).isoformat(timespec="seconds"),
                timezone.localtime(u.ended_at).isoformat(timespec="seconds"),
                u.product.feature,
                u.product.name,
                u.count,
                u.hours,
                u.cost,
                u.currency,
                u.user,
            ]
            for u in usage.iterator(chunk_size=2000)
        )
        filename = f"elastic-usage-{self.customer.number}-{start:%Y%m%d}-{end:%Y%m%d}.csv"
        return csv_response(
            filename,
            [
                "transaction_id",
                "started_at",
                "ended_at",
                "feature",
                "product",
                "count",
                "hours",
                "cost",
                "currency",
                "user",
            ],
            rows,
        )
