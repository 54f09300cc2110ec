"""``/c/<n>/requests/``: a customer's requests to support, within the role matrix.

Reading needs VIEW; filing and commenting need the permission of the underlying action
(``services.KIND_PERMISSION``), checked by the services (a forged POST is a 403 through
``CustomerViewMixin``). The form offers only the kinds the member's role may file.
"""

from __future__ import annotations

from http import HTTPStatus

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from accounts.access import CustomerViewMixin
from accounts.roles import Permission
from activations.selectors import server_list
from activations.services import HostInput
from activations.views import attachment_disposition
from portal.errors import PortalError

from . import selectors, services
from .forms import CommentForm, RequestFileForm
from .models import RequestKind

REQUESTS_PER_PAGE = 25


class RequestsPageMixin(CustomerViewMixin):
    def file_form(self, data=None, initial=None) -> RequestFileForm:
        # A submitted form accepts every kind, so that a kind the role may not file reaches the
        # service and is refused as what it is (403, audited), not as a bad choice (400).
        kinds = list(RequestKind) if data is not None else services.request_kinds_for(self.access.has)
        return RequestFileForm(
            data,
            initial=initial,
            kinds=kinds,
            servers=server_list(customer=self.customer),
        )

    def list_page(self, form: RequestFileForm | None = None, status: int = HTTPStatus.OK) -> HttpResponse:
        kind = self.request.GET.get("kind", "")
        initial = {"kind": kind} if kind in RequestKind.values else None
        if self.request.GET.get("server", "").isdigit():
            initial = {**(initial or {}), "server": int(self.request.GET["server"])}
        can_file = bool(services.request_kinds_for(self.access.has)) and not self.access.support_view
        page = Paginator(selectors.request_list(customer=self.customer), REQUESTS_PER_PAGE).get_page(
            self.request.GET.get("page")
        )
        return self.render_page(
            "support/requests.html",
            status,
            page=page,
            requests=page.object_list,
            form=(form or self.file_form(initial=initial)) if can_file else None,
            can_file=can_file,
        )


class RequestListView(RequestsPageMixin, View):
    required_permission = Permission.VIEW

    def get(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        return self.list_page()


class RequestFileView(RequestsPageMixin, View):
    required_permission = Permission.VIEW

    def post(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        form = self.file_form(request.POST)
        servers = {server.pk: server for server in server_list(customer=self.customer)}
        return self.submit(
            form,
            lambda data: services.request_file(
                customer=self.customer,
                actor=request.user,
                kind=data["kind"],
                reason=data["reason"],
                server=servers.get(data["server"]),
                asc_email=data["asc_email"],
                host=HostInput(data["host_name"], data["hostid_type"], data["host_id"]),
                emergency_days=data["emergency_days"],
            ),
            success=lambda filed: _("Request #%(id)s sent to support.") % {"id": filed.pk},
            then=lambda filed: redirect("requests:detail", self.customer.number, filed.pk),
        ) or self.list_page(form, HTTPStatus.BAD_REQUEST)


class RequestDetailMixin(CustomerViewMixin):
    def support_request(self, pk: int):
        found = selectors.request_get(customer=self.customer, request_id=pk)
        if found is None:
            raise Http404(_("No such request."))
        return found

    def detail_page(self, found, form: CommentForm | None = None, status: int = HTTPStatus.OK) -> HttpResponse:
        return self.render_page(
            "support/request_detail.html",
            status,
            support_request=found,
            comments=selectors.request_comments(request=found),
            comment_form=form or CommentForm(),
            can_comment=self.access.has(services.KIND_PERMISSION[RequestKind(found.kind)])
            and not self.access.support_view,
            today=timezone.localdate(),
        )


class RequestDetailView(RequestDetailMixin, View):
    required_permission = Permission.VIEW

    def get(self, request: HttpRequest, customer_number: str, pk: int) -> HttpResponse:
        return self.detail_page(self.support_request(pk))


class RequestCommentView(RequestDetailMixin, View):
    required_permission = Permission.VIEW

    def post(self, request: HttpRequest, customer_number: str, pk: int) -> HttpResponse:
        found = self.support_request(pk)
        form = CommentForm(request.POST)
        return self.submit(
            form,
            lambda data: services.request_comment(
                request=found, actor=request.user, body=data["body"], as_support=False
            ),
            success=lambda comment: _("Comment sent to support."),
            then=lambda comment: redirect("requests:detail", self.customer.number, found.pk),
        ) or self.detail_page(found, form, HTTPStatus.BAD_REQUEST)


class RequestEmergencyFileView(RequestDetailMixin, View):
    """The emergency license file of an approved request, while it is valid (its own name,
    never a version's); before approval or once expired, back to the request with why."""

    required_permission = Permission.DOWNLOAD_LICENSE_FILES

    def get(self, request: HttpRequest, customer_number: str, pk: int) -> HttpResponse:
        found = self.support_request(pk)
        try:
            emergency = services.request_emergency_file(request=found, actor=request.user)
        except PortalError as refused:
            messages.error(request, refused.message)
            return redirect("requests:detail", self.customer.number, found.pk)
        response = HttpResponse(emergency.content, content_type="text/plain; charset=utf-8")
        response["Content-Disposition"] = attachment_disposition(emergency.filename)
        response["Cache-Control"] = "no-store"
        return response
