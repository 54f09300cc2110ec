"""License servers, activations, rehosting and license files (/c/<n>/activations/...).

Views are thin: a form validates, one service runs, a message, a redirect (or the file).
Every view first passes ``CustomerViewMixin`` (404 for non-members, 403 without the
permission) and then the visibility rule: without visible activations the list page
explains why (200) and every other page does so with a 404.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, urlencode

from allauth.core import ratelimit
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import TemplateView

from accounts.access import CustomerViewMixin, customer_access_for
from accounts.roles import Permission, Role
from accounts.selectors import membership_list, memberships_for_user
from entitlements.models import Entitlement, LicensingModel
from entitlements.selectors import EntitlementFilters, entitlement_list, flexnet_entitlement_list, flexnet_lines
from portal.errors import PortalError
from portal.forms import ascii_int
from portal.fragments import customer_fragment, shared_view

from .forms import ActivationForm, DeliverForm, LicenseUploadForm, RehostForm, ServerForm, VerifyForm
from .hostids import HostIdType
from .licensefile import LicenseParseError, LineFailure, license_diff
from .models import LicenseFile, LicenseServer
from .selectors import (
    LineRequest,
    Unavailable,
    activation_plan,
    activation_submission_get,
    activations_unavailable_reason,
    emergency_license_list,
    license_file_check,
    license_file_get,
    license_file_list,
    license_import_match,
    license_moves,
    rehost_history,
    rehost_quota,
    server_activations,
    server_allocations,
    server_get,
    server_list,
)
from .services import (
    ActivationConflict,
    activation_apply,
    activation_token_new,
    license_file_download,
    rehost_plan,
    rehost_quota_message,
    server_create,
    server_rehost,
    server_retire,
    server_return,
    server_update,
)
from .signing import VerifyingKeyUnavailable, verifying_key, verifying_key_pem


class VisibilityGate:
    """Placed after ``CustomerViewMixin``: runs once the member and permission are known."""

    unavailable_status: HTTPStatus = HTTPStatus.NOT_FOUND
    customer: Any
    access: Any

    def unavailable_reason(self, request: HttpRequest) -> str | None:
        return activations_unavailable_reason(customer=self.customer, cached=request.method in ("GET", "HEAD"))

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        reason = self.unavailable_reason(request)
        if reason is not None:
            return self.render_page(
                "activations/unavailable.html",
                self.unavailable_status,
                no_flexnet=reason == Unavailable.NO_FLEXNET,
                support_email=settings.PORTAL_SUPPORT_EMAIL,
            )
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


class ActivationsPage(CustomerViewMixin, VisibilityGate, TemplateView):
    server: LicenseServer

    def load_server(self, server_id: int, *, hosts: bool = True) -> LicenseServer:
        server = server_get(customer=self.customer, server_id=server_id, hosts=hosts)
        if server is None:
            raise Http404(_("No such license server."))
        server.customer = self.customer
        self.server = server
        return server

    def page(self, status: int = HTTPStatus.OK, **context: Any) -> HttpResponse:
        return self.render_to_response(self.get_context_data(**context), status=status)


def _server_url(server: LicenseServer) -> str:
    return reverse("activations:server_detail", args=[server.customer.number, server.pk])


_ASCII_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def attachment_disposition(filename: str) -> str:
    """``Content-Disposition`` for a download whatever characters `filename` holds (RFC 6266):
    always ``attachment``; an ASCII fallback (letters, digits, ``._-``; anything else
    becomes ``_``) for old clients and the exact name as RFC 5987 ``filename*``. The name's
    extension survives in both (callers give names ending in one, e.g. ``.lic``)."""
    fallback = _ASCII_FILENAME_UNSAFE.sub("_", filename).lstrip(".") or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _file_response(license_file: LicenseFile) -> HttpResponse:
    response = HttpResponse(license_file.content, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = attachment_disposition(license_file.filename)
    response["Cache-Control"] = "no-store"
    return response


# --- Servers --------------------------------------------------------------------------------


SERVERS_PER_PAGE = 50
ACTIVATE_PAGE_SIZE = 100  # lines in the activation table at once (the customer's other lines are left as they are)


class ServerListView(ActivationsPage):
    required_permission = Permission.VIEW
    unavailable_status = HTTPStatus.OK
    template_name = "activations/list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        # One row per server (its lines are on the server page): rendered once per version of
        # the customer's data, role and page (portal/fragments.py, docs/performance.md).
        if not shared_view(self.request.GET, choices={}):
            content = mark_safe(self.render_content())  # noqa: S308 - template output, for this request only
        else:
            content = customer_fragment(
                name="activations",
                customer=self.customer,
                vary=(self.access.role, self.request.GET.get("page", "")),
                render=self.render_content,
            )
        return super().get_context_data(content=content, **kwargs)

    def render_content(self) -> str:
        page = Paginator(server_list(customer=self.customer), SERVERS_PER_PAGE).get_page(self.request.GET.get("page"))
        return render_to_string("activations/_list_content.html", self.access.page_context(page=page))


class ServerDetailView(ActivationsPage):
    required_permission = Permission.VIEW
    template_name = "activations/server_detail.html"

    def get(self, request: HttpRequest, customer_number: str, server_id: int) -> HttpResponse:
        server = self.load_server(server_id)
        files = list(license_file_list(server=server))
        return self.page(
            server=server,
            activations=server_activations(server=server),
            files=files,
            quota=rehost_quota(server=server),
            rehosts=rehost_history(server=server)[:20],
            emergencies=emergency_license_list(server=server),
            today=timezone.localdate(),
        )


_LINE_FIELD = re.compile(r"(?:qty|borrow|base)_([0-9]{1,18})")


def _posted_line_ids(data: Any) -> set[int]:
    return {int(match.group(1)) for key in data if (match := _LINE_FIELD.fullmatch(key))}


def _prefill(query: Any) -> dict[str, str]:
    """``q_<entitlement id>`` quantities carried from "Update from license" to activation
    (ASCII numbers only: ``"²".isdigit()`` is true, and ``int("²")`` raises)."""
    return {
        key: value
        for key, value in query.items()
        if key.startswith("q_") and ascii_int(key[2:]) is not None and ascii_int(value, max_digits=7) is not None
    }


class ServerAddView(ActivationsPage):
    required_permission = Permission.ACTIVATE_ENTITLEMENTS
    template_name = "activations/server_form.html"

    def get(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        return self.page(form=ServerForm(initial={"lmgrd_port": 1055}), adding=True, prefill=_prefill(request.GET))

    def post(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        form = ServerForm(request.POST)
        prefill = _prefill(request.POST)

        def activate(server: LicenseServer) -> HttpResponse:
            url = reverse("activations:activate", args=[self.customer.number, server.pk])
            return redirect(f"{url}?{urlencode(prefill)}" if prefill else url)

        return self.submit(
            form,
            lambda data: server_create(
                customer=self.customer,
                actor=request.user,
                name=data["name"],
                hosts=form.hosts(),
                lmgrd_port=data["lmgrd_port"],
                vendor_port=data["vendor_port"],
            ),
            success=lambda server: (
                _("License server %(name)s added. Now activate licenses on it.") % {"name": server.name}
            ),
            then=activate,
        ) or self.page(HTTPStatus.OK, form=form, adding=True, prefill=prefill)


class ServerEditView(ActivationsPage):
    required_permission = Permission.CHANGE_LICENSE_SERVER
    template_name = "activations/server_form.html"

    def _form(self, data: Any = None) -> ServerForm:
        hosts = list(self.server.hosts.all())
        edit_ids = not license_file_list(server=self.server).exists()
        initial: dict[str, Any] = {
            "name": self.server.name,
            "lmgrd_port": self.server.lmgrd_port,
            "vendor_port": self.server.vendor_port,
            "triad": len(hosts) == 3,
        }
        for host in hosts:
            initial[f"host_name_{host.position}"] = host.host_name
            initial[f"hostid_type_{host.position}"] = host.hostid_type
            initial[f"host_id_{host.position}"] = host.host_id
        if data is not None and not edit_ids:
            data = data.copy()
            data["triad"] = "on" if len(hosts) == 3 else ""
        return ServerForm(data, initial=initial, edit_host_ids=edit_ids)

    def get(self, request: HttpRequest, customer_number: str, server_id: int) -> HttpResponse:
        self.load_server(server_id)
        return self.page(form=self._form(), server=self.server)

    def post(self, request: HttpRequest, customer_number: str, server_id: int) -> HttpResponse:
        self.load_server(server_id)
        form = self._form(request.POST)
        return self.submit(
            form,
            lambda data: server_update(
                server=self.server,
                actor=request.user,
                name=data["name"],
                host_names=form.host_names(),
                hosts=form.hosts() if form.edit_host_ids else None,
                lmgrd_port=data["lmgrd_port"],
                vendor_port=data["vendor_port"],
            ),
            success=lambda _saved: _("License server saved."),
            then=lambda _saved: redirect(_server_url(self.server)),
        ) or self.page(form=form, server=self.server)


# --- Activate -------------------------------------------------------------------------------


class ActivateView(ActivationsPage):
    """Step 1: the table of FlexNet lines; POST validates and shows the review (step 2)."""

    required_permission = Permission.ACTIVATE_ENTITLEMENTS
    template_name = "activations/activate.html"

    def current(self, *, fresh: bool = False) -> dict[int, LineRequest]:
        """The server's activations, read once per request unless ``fresh``."""
        if fresh or not hasattr(self, "_current"):
            self._current = {
                pk: LineRequest(quantity, borrowable)
                for pk, (quantity, borrowable) in server_allocations(server=self.server).items()
            }
        return self._current

    def make_form(self, data: Any = None, *, initial_from: Any = None, lines: Any = None) -> ActivationForm:
        if lines is None:
            lines = flexnet_entitlement_list(customer=self.customer)
        if data is not None:
            # Only the lines the browser sent (the lines shown, and the review carries just the
            # changed ones): the confirm of a customer with 10,000 lines builds a few fields.
            lines = lines.filter(pk__in=_posted_line_ids(data))
        entitlements = list(lines)
        current = self.current()
        initial: dict[str, Any] = {}
        for entitlement in entitlements:
            have = current.get(entitlement.pk, LineRequest(0, False))
            initial[f"qty_{entitlement.pk}"] = have.quantity
            initial[f"borrow_{entitlement.pk}"] = have.borrowable
            initial[f"base_{entitlement.pk}"] = have.quantity
        for key, value in _prefill(initial_from or {}).items():
            if f"qty_{key[2:]}" in initial:
                initial[f"qty_{key[2:]}"] = int(value)
        return ActivationForm(data, entitlements=entitlements, initial=initial)

    def form_page(self, form: ActivationForm, status: int = HTTPStatus.OK, **extra: Any) -> HttpResponse:
        rows = [
            {
                "entitlement": e,
                "qty": form[f"qty_{e.pk}"],
                "borrow": form[f"borrow_{e.pk}"],
                "base": form[f"base_{e.pk}"],
            }
            for e in form.entitlements
        ]
        return self.page(status, server=self.server, form=form, rows=rows, **extra)

    def get(self, request: HttpRequest, customer_number: str, server_id: int) -> HttpResponse:
        self.load_server(server_id)
        search = request.GET.get("q", "").strip()[:100]
        prefill = _prefill(request.GET)
        lines = entitlement_list(
            customer=self.customer, filters=EntitlementFilters(model=LicensingModel.FLEXNET, text=search)
        )
        if prefill:
            # From "Update from license": the lines of that file and those on this server.
            on_server = server_activations(server=self.server).values("entitlement_id")
            lines = lines.filter(Q(pk__in=[int(key[2:]) for key in prefill]) | Q(pk__in=on_server))
            page = None
        else:
            # Lines not shown are not posted, and lines not posted stay as they are: a large
            # customer works through its lines a page (or a search) at a time.
            page = Paginator(lines, ACTIVATE_PAGE_SIZE).get_page(request.GET.get("page"))
            lines = page.object_list
        query = request.GET.copy()
        query.pop("page", None)
        return self.form_page(
            self.make_form(initial_from=request.GET, lines=lines), page=page, search=search, query=query.urlencode()
        )

    def post(self, request: HttpRequest, customer_number: str, server_id: int) -> HttpResponse:
        self.load_server(server_id)
        form = self.make_form(request.POST)
        if not form.is_valid():
            return self.form_page(form)
        plan = activation_plan(server=self.server, requests=form.requests(self.current))
        problems = [error for line in plan for error in line.errors if line.changed]
        if problems:
            for problem in problems:
                form.add_error(None, problem)
            return self.form_page(form)
        changed = [line for line in plan if line.changed]
        moves = license_moves(
            server=self.server,
            host_ids=[host.host_id for host in self.server.hosts.all()],
            increases={
                line.entitlement.pk: (line.delta, line.entitlement.quantity - line.entitlement.activated)
                for line in changed
                if line.delta > 0
            },
        )
        return render(
            request,
            "activations/review.html",
            self.get_context_data(
                server=self.server,
                plan=plan,
                changed=changed,
                on_server=[line for line in plan if line.wanted],
                hidden=_review_hidden(form),
                token=activation_token_new(),
                deliver_form=self.deliver_form(),
                moved_count=sum(move.quantity for move in moves),
                quota=rehost_quota(server=self.server),
            ),
        )

    def deliver_form(self, data: Any = None) -> DeliverForm:
        """Save & Email goes to portal users of this customer only; its ASCs are ticked. A
        Save & Download that names nobody needs no list of members."""
        if data is not None and data.get("deliver") != "email" and not data.getlist("recipients"):
            return DeliverForm(data)
        members = [m for m in membership_list(customer=self.customer) if m.user.is_active]
        choices = [(m.user.email, _recipient_label(m)) for m in members]
        ascs = [m.user.email for m in members if m.role == Role.ASC] or [self.request.user.email]
        return DeliverForm(data, members=choices, default=ascs)


def _recipient_label(membership: Any) -> str:
    user = membership.user
    who = f"{user.name} ({user.email})" if user.name else user.email
    return f"{who} · {membership.get_role_display()}"


def _review_hidden(form: ActivationForm) -> list[tuple[str, Any]]:
    """The reviewed values the confirm posts again. A quantity of 0 is carried (it returns
    the line's licenses); unset values and unticked boxes are not."""
    hidden = {name: form.cleaned_data.get(name) for name in form.fields if name != "token"}
    return [
        (name, "on" if value is True else value)
        for name, value in hidden.items()
        if value is not None and value is not False
    ]


class ActivateApplyView(ActivateView):
    """Step 3: Save & Download / Save & Email (or Generate / Email when nothing changed)."""

    posted: list[Entitlement]

    def unavailable_reason(self, request: HttpRequest) -> str | None:
        # The posted lines by key, without the list's annotations: all a valid confirm needs.
        # Found, they are FlexNet lines of this customer: the gate needs only the customer's flag.
        self.posted = (
            flexnet_lines(customer=self.customer, ids=_posted_line_ids(request.POST))
            if request.method == "POST"
            else []
        )
        if self.posted:
            return activations_unavailable_reason(customer=self.customer, has_flexnet=True)
        return super().unavailable_reason(request)

    def get(self, request: HttpRequest, customer_number: str, server_id: int) -> HttpResponse:
        self.load_server(server_id)
        return redirect("activations:activate", customer_number, server_id)

    def post(self, request: HttpRequest, customer_number: str, server_id: int) -> HttpResponse:
        # The service locks the server and refuses one that is not this customer's or is retired,
        # so a valid confirm does not read it first; a page shown again does (404 if gone).
        self.server = LicenseServer(pk=server_id, customer=self.customer)
        form = ActivationForm(request.POST, entitlements=self.posted)
        deliver = self.deliver_form(request.POST)
        if not (form.is_valid() and deliver.is_valid()):
            self.load_server(server_id, hosts=False)
            form = self.make_form(request.POST)  # the table shown again: the lines as the page lists them
            form.is_valid()
            for errors in deliver.errors.values():
                for error in errors:
                    form.add_error(None, error)
            return self.form_page(form)
        try:
            result = activation_apply(
                server=self.server,
                actor=request.user,
                token=form.cleaned_data.get("token") or "",
                requests=form.requests(self.current),
                expected=form.expected(),
                deliver=deliver.cleaned_data["deliver"],
                recipients=deliver.cleaned_data.get("recipients"),
            )
        except PortalError as error:
            # Show the table again as it is now (fresh availability and allocations), with the
            # quantities the user asked for, and name the lines at fault.
            self.load_server(server_id, hosts=False)
            self.current(fresh=True)  # allocations as they are now, for the table shown again
            requested = form.requests(self.current)
            wanted = {f"q_{pk}": str(request.quantity) for pk, request in requested.items()}
            problems = error.problems if isinstance(error, ActivationConflict) else []
            lines = flexnet_entitlement_list(customer=self.customer).filter(pk__in=list(requested))
            return self.form_page(
                self.make_form(initial_from=wanted, lines=lines),
                HTTPStatus.CONFLICT,
                apply_error=error.message
                if not problems
                else _("Nothing was saved: the entitlements changed since your review."),
                problems=problems,
            )
        if result.already_applied:
            messages.info(request, _("These changes were already saved; nothing was applied twice."))
        # A result page, not the file: the review form (with its one-time token) is gone from
        # the browser's history, and the page says what changed and where the file is.
        return redirect("activations:saved", self.customer.number, self.server.pk, result.token)


class ActivationSavedView(ActivationsPage):
    """Step 4: what was saved, the new file version, a download link (the download starts by
    itself after Save & Download) or whom it was emailed to."""

    required_permission = Permission.ACTIVATE_ENTITLEMENTS
    template_name = "activations/saved.html"

    def get(self, request: HttpRequest, customer_number: str, server_id: int, token: str) -> HttpResponse:
        server = self.load_server(server_id)
        submission = activation_submission_get(server=server, token=token, actor=request.user)
        if submission is None or submission.license_file is None:
            raise Http404(_("No such activation."))
        return self.page(
            server=server,
            submission=submission,
            license_file=submission.license_file,
            start_download=submission.deliver == "download" and "again" not in request.GET,
        )


# --- Rehost and return ----------------------------------------------------------------------


class RehostView(ActivationsPage):
    required_permission = Permission.CHANGE_LICENSE_SERVER
    template_name = "activations/rehost.html"

    def _form(self, data: Any = None) -> RehostForm:
        hosts = list(self.server.hosts.all())
        initial = {}
        for host in hosts:
            initial[f"host_name_{host.position}"] = host.host_name
            initial[f"hostid_type_{host.position}"] = host.hostid_type
        return RehostForm(data, initial=initial, host_count=len(hosts))

    def _page(self, form: RehostForm) -> HttpResponse:
        quota = rehost_quota(server=self.server)
        return self.page(
            server=self.server,
            form=form,
            quota=quota,
            quota_message=rehost_quota_message(server=self.server) if quota.exhausted else "",
        )

    def get(self, request: HttpRequest, customer_number: str, server_id: int) -> HttpResponse:
        self.load_server(server_id)
        return self._page(self._form())

    def post(self, request: HttpRequest, customer_number: str, server_id: int) -> HttpResponse:
        self.load_server(server_id)
        form = self._form(request.POST)
        if "confirm" not in request.POST:
            # Step 2: what changes (old host -> new host) and the allowance after it, before
            # anything happens; the confirm posts the same values again.
            if not form.is_valid():
                return self._page(form)
            return self._review(form)
        return self.submit(
            form,
            lambda data: server_rehost(server=self.server, actor=request.user, hosts=form.hosts()),
            success=lambda license_file: (
                _("Server rehosted: license file version %(v)s is ready to download.") % {"v": license_file.version}
            ),
            then=lambda _file: redirect(_server_url(self.server)),
        ) or self._page(form)

    def _review(self, form: RehostForm) -> HttpResponse:
        try:
            plan = rehost_plan(server=self.server, hosts=form.hosts())
        except PortalError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
            return self._page(form)
        changes = [
            {
                "position": position,
                "before": before,
                "after": after,
                "hostid_label": HostIdType(after.hostid_type).label,
                "changed": before.host_id != after.host_id,
            }
            for position, (before, after) in enumerate(zip(plan.current, plan.hosts, strict=True), start=1)
        ]
        quota = rehost_quota(server=self.server)
        return render(
            self.request,
            "activations/rehost_review.html",
            self.get_context_data(
                server=self.server,
                changes=changes,
                quota=quota,
                remaining_after=max(quota.remaining - 1, 0),
                hidden=[(name, value) for name, value in form.data.items() if name != "csrfmiddlewaretoken"],
            ),
        )


class ReturnView(ActivationsPage):
    required_permission = Permission.CHANGE_LICENSE_SERVER
    template_name = "activations/return.html"

    def get(self, request: HttpRequest, customer_number: str, server_id: int) -> HttpResponse:
        server = self.load_server(server_id)
        return self.page(server=server, activations=server_activations(server=server))

    def post(self, request: HttpRequest, customer_number: str, server_id: int) -> HttpResponse:
        server = self.load_server(server_id)
        try:
            license_file = server_return(server=server, actor=request.user)
        except PortalError as error:
            self.refused(error)
        else:
            messages.success(
                request,
                _("All licenses of %(name)s were returned to the pool (license file version %(v)s).")
                % {"name": server.name, "v": license_file.version},
            )
        return redirect(_server_url(server))


class RetireView(ActivationsPage):
    """Retire a server whose licenses were returned (POST from its page): it leaves the server
    list, its label and host IDs become free again, its license files stay in the records."""

    required_permission = Permission.CHANGE_LICENSE_SERVER
    http_method_names = ["post"]

    def post(self, request: HttpRequest, customer_number: str, server_id: int) -> HttpResponse:
        server = self.load_server(server_id)
        name = server.name
        try:
            server_retire(server=server, actor=request.user)
        except PortalError as error:
            self.refused(error)
            return redirect(_server_url(server))
        messages.success(request, _("License server %(name)s is retired.") % {"name": name})
        return redirect("activations:list", self.customer.number)


# --- License files --------------------------------------------------------------------------


class LicenseFileMixin(ActivationsPage):
    required_permission = Permission.DOWNLOAD_LICENSE_FILES

    def load_file(self, server_id: int, version: int) -> LicenseFile:
        license_file = license_file_get(customer=self.customer, server_id=server_id, version=version)
        if license_file is None:
            raise Http404(_("No such license file version."))
        return license_file


class LicenseFileView(LicenseFileMixin):
    """The file on screen, print-friendly."""

    template_name = "activations/file_detail.html"

    def get(self, request: HttpRequest, customer_number: str, server_id: int, version: int) -> HttpResponse:
        license_file = self.load_file(server_id, version)
        return self.page(server=license_file.server, license_file=license_file)


class LicenseFileDownloadView(LicenseFileMixin):
    def get(self, request: HttpRequest, customer_number: str, server_id: int, version: int) -> HttpResponse:
        license_file = license_file_download(license_file=self.load_file(server_id, version), actor=request.user)
        return _file_response(license_file)


class LicenseFileDiffView(ActivationsPage):
    required_permission = Permission.DOWNLOAD_LICENSE_FILES
    template_name = "activations/file_diff.html"

    def get(self, request: HttpRequest, customer_number: str, server_id: int) -> HttpResponse:
        server = self.load_server(server_id)
        versions = list(license_file_list(server=server).values_list("version", flat=True))
        if not versions:
            raise Http404(_("This server has no license file yet."))

        def version_from(name: str, default: int) -> int:
            value = ascii_int(request.GET.get(name, ""))
            return value if value in versions else default

        new = version_from("to", versions[0])
        old = version_from("from", versions[1] if len(versions) > 1 else versions[0])
        old_file = license_file_get(customer=self.customer, server_id=server.pk, version=old)
        new_file = license_file_get(customer=self.customer, server_id=server.pk, version=new)
        assert old_file is not None
        assert new_file is not None
        lines = license_diff(old_file.content, new_file.content, old_name=f"v{old}", new_name=f"v{new}")
        diff = [
            {
                "text": line,
                "kind": "add"
                if line.startswith("+") and not line.startswith("+++")
                else "del"
                if line.startswith("-") and not line.startswith("---")
                else "hunk"
                if line.startswith("@@")
                else "ctx",
            }
            for line in lines
        ]
        return self.page(server=server, versions=versions, old=old, new=new, diff=diff)


# --- Update from license --------------------------------------------------------------------


class LicenseImportView(ActivationsPage):
    required_permission = Permission.ACTIVATE_ENTITLEMENTS
    template_name = "activations/import.html"

    def get(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        return self.page(form=LicenseUploadForm())

    def post(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        form = LicenseUploadForm(request.POST, request.FILES)
        if not form.is_valid():
            return self.page(form=form)
        try:
            parsed = form.parse()
        except LicenseParseError:
            return self.page(form=form)
        match = license_import_match(customer=self.customer, parsed=parsed)
        quantities = {f"q_{pk}": str(count) for pk, count in match.quantities().items()}
        initial: dict[str, Any] = {"lmgrd_port": 1055, "triad": len(parsed.servers) == 3}
        if parsed.servers:
            initial["lmgrd_port"] = parsed.servers[0].port
            initial["name"] = parsed.servers[0].host[:60]
        for position, server in enumerate(parsed.servers, start=1):
            initial[f"host_name_{position}"] = server.host
            initial[f"host_id_{position}"] = server.host_id
            initial[f"hostid_type_{position}"] = _detected_type(server.host_id)
        vendor_port = next(
            (a.value for v in parsed.vendors for a in v.attributes if a.name.upper() == "PORT" and a.value), None
        )
        if vendor_port:
            initial["vendor_port"] = int(vendor_port)
        activate_url = None
        if match.existing_server is not None:
            url = reverse("activations:activate", args=[self.customer.number, match.existing_server.pk])
            activate_url = f"{url}?{urlencode(quantities)}" if quantities else url
        return self.page(
            form=LicenseUploadForm(),
            match=match,
            server_form=ServerForm(initial=initial),
            prefill=quantities,
            activate_url=activate_url,
            parsed=parsed,
        )


def _detected_type(host_id: str) -> str:
    from .hostids import HostIdError, hostid_detect

    try:
        return hostid_detect(host_id).value
    except HostIdError:
        return ""


# --- Public pages (activations/urls_public.py) -----------------------------------------------


class PublicKeyView(View):
    """The portal's public key, so anyone can check a license file's signatures."""

    def get(self, request: HttpRequest) -> HttpResponse:
        response = HttpResponse(verifying_key_pem(), content_type="application/x-pem-file")
        response["Content-Disposition"] = 'inline; filename="license-public-key.pem"'
        return response


# What a failing line's ``LineFailure.code`` means, in the reader's language (the reason the
# pure license module gives is English; parse errors keep it).
_FAILURE_MESSAGES = {
    "empty": gettext_lazy("no signed lines"),
    "unsigned": gettext_lazy("no SIGN= signature"),
    "malformed": gettext_lazy("malformed SIGN= signature (expected 64 bytes in hex)"),
    "signature": gettext_lazy("signature does not match"),
    "no_identity": gettext_lazy(
        "no file identity (SN=): the line may have been copied from any file; download the current version of "
        "the server's license file"
    ),
    "repeated": gettext_lazy(
        "repeats line %(first)s (signed line %(position)s of %(total)s): FlexLM would add its count again"
    ),
    "dropped": gettext_lazy("signed line(s) %(missing)s of %(total)s missing: lines were dropped from this file"),
    "reordered": gettext_lazy(
        "out of order: signed line %(position)s of %(total)s comes after signed line %(after)s (line %(after_line)s)"
    ),
    "other_version": gettext_lazy(
        "taken from version %(version)s of this server's file (the file is version %(file_version)s)"
    ),
    "other_server": gettext_lazy(
        "taken from another license server's file (customer %(customer)s, server %(server)s, version %(version)s)"
    ),
}


def _failure_message(failure: LineFailure) -> str:
    template = _FAILURE_MESSAGES.get(failure.code)
    if template is None:
        return failure.reason
    return str(template) % dict(failure.params)


class VerifyView(LoginRequiredMixin, TemplateView):
    """Verify a license file: valid and current, superseded by a newer version, or which
    line fails and why. Bounded: ``PORTAL_VERIFY_MAX_BYTES`` per file (a larger request is
    refused before its body is read) and the ``license_verify`` rate limit
    (``ACCOUNT_RATE_LIMITS``, allauth's rate limiter)."""

    template_name = "activations/verify.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        kwargs.setdefault("form", VerifyForm())
        kwargs.setdefault("max_kb", settings.PORTAL_VERIFY_MAX_BYTES // 1024)
        return super().get_context_data(**self.customer_context(), **kwargs)

    def customer_context(self) -> dict[str, Any]:
        """Reached from a customer's pages (``?customer=<n>``), the page keeps that customer's
        header, tabs and breadcrumbs, for a member of it; anyone else gets the plain page."""
        number = self.request.GET.get("customer", "")
        if not number or len(number) > 32:
            return {}
        memberships = memberships_for_user(user=self.request.user)
        access = customer_access_for(memberships, number)
        if access is None or (access.customer.mfa_required and not is_mfa_enabled(self.request.user)):
            return {}
        self.request.my_memberships = memberships
        self.request.customer_access = access
        return access.page_context(customer_query=f"?customer={access.customer.number}")

    def refuse(self, status: HTTPStatus, message: str) -> HttpResponse:
        return self.render_to_response(self.get_context_data(refused=message), status=status)

    def post(self, request: HttpRequest) -> HttpResponse:
        # The multipart envelope and the CSRF token add a little to the file itself.
        length = request.META.get("CONTENT_LENGTH") or "0"
        if not length.isdigit() or int(length) > settings.PORTAL_VERIFY_MAX_BYTES + 16 * 1024:
            return self.refuse(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                _("The license file is too large: at most %(max)s KB.")
                % {"max": settings.PORTAL_VERIFY_MAX_BYTES // 1024},
            )
        if not ratelimit.consume(request, action="license_verify", user=request.user):
            return self.refuse(
                HTTPStatus.TOO_MANY_REQUESTS,
                _("You have checked many license files in a short time. Wait a minute and try again."),
            )
        form = VerifyForm(request.POST, request.FILES)
        context: dict[str, Any] = {"form": form}
        if form.is_valid():
            try:
                public_key = verifying_key()
            except VerifyingKeyUnavailable:
                form.add_error(None, _("License files cannot be verified here at the moment: no key is configured."))
            else:
                result, standing = license_file_check(text=form.content, public_key=public_key)
                context.update(
                    result=result,
                    standing=standing,
                    failures=[(failure.line, _failure_message(failure)) for failure in result.failures],
                )
        return self.render_to_response(self.get_context_data(**context))
