"""The cockpit's views: thin, each declaring the staff permission it needs.

``SupportViewMixin`` is the cockpit's ``CustomerViewMixin``: anyone not support staff gets
404 (the cockpit's existence is not advertised), a staff role lacking
``required_staff_permission`` gets 403 (audited), staff without MFA are sent to set it up
when ``PORTAL_STAFF_MFA_REQUIRED`` (production). A test walks the URL resolver over
``/support/`` and the staff matrix, so a new view is enrolled without anyone remembering.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, ClassVar

from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from accounts.access import is_support_staff
from accounts.audit import audit_record
from accounts.audit_text import audit_sentence
from accounts.models import Customer
from accounts.roles import StaffPermission, has_staff_permission, staff_role
from accounts.selectors import invitation_pending_list, membership_list
from portal.errors import DomainError, PortalError
from portal.forms import form_error_from

from . import selectors, services
from .forms import AscDesignateForm, CommentForm, CustomerSearchForm, DecisionForm, FlexnetForm, ViewAsForm
from .models import SupportRequest


class SupportViewMixin:
    required_staff_permission: ClassVar[StaffPermission | None] = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if self.required_staff_permission is None:
            raise TypeError(f"{type(self).__name__} declares no required_staff_permission")
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_support_staff(request.user):
            raise Http404(_("Page not found."))
        if settings.PORTAL_STAFF_MFA_REQUIRED and not is_mfa_enabled(request.user):
            messages.warning(request, _("Support staff must set up two-factor authentication first."))
            return redirect("mfa_index")
        if not has_staff_permission(request.user, self.required_staff_permission):
            audit_record(
                customer=None,
                actor=request.user,
                action="access.denied",
                target=request.path[:255],
                details={"method": request.method, "staff_permission": self.required_staff_permission.value},
                denied=True,
            )
            return render(
                request,
                "403.html",
                {"missing_staff_permission": self.required_staff_permission},
                status=HTTPStatus.FORBIDDEN,
            )
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]

    def page(self, template_name: str, status: int = HTTPStatus.OK, **extra: Any) -> HttpResponse:
        role = staff_role(self.request.user)
        context = {"staff_role": role, "can_staff": _StaffFlags(role), **extra}
        return render(self.request, template_name, context, status=status)


class _StaffFlags:
    """``{% if can_staff.manage_customers %}`` for cockpit templates, from the staff matrix."""

    def __init__(self, role: Any) -> None:
        from accounts.roles import STAFF_ROLE_PERMISSIONS

        self._permissions = STAFF_ROLE_PERMISSIONS.get(role, frozenset()) if role else frozenset()

    def __getattr__(self, name: str) -> bool:
        if name.startswith("_"):
            raise AttributeError(name)
        return StaffPermission(name) in self._permissions


class HomeView(SupportViewMixin, View):
    required_staff_permission = StaffPermission.VIEW_CUSTOMERS

    def get(self, request: HttpRequest) -> HttpResponse:
        search = CustomerSearchForm(request.GET or None)
        found = None
        if search.is_valid() and search.cleaned_data["q"]:
            found = list(selectors.customer_search(query=search.cleaned_data["q"]))
        return self.page(
            "support/home.html",
            queues=selectors.queue_counts(),
            usage_hook=not selectors.usage_denials_installed(),
            search=search,
            found=found,
        )


class QueueView(SupportViewMixin, View):
    required_staff_permission = StaffPermission.VIEW_CUSTOMERS

    def get(self, request: HttpRequest, slug: str) -> HttpResponse:
        queue = selectors.queue_get(slug)
        if queue is None:
            raise Http404(_("No such queue."))
        page, rows = selectors.queue_page(queue, request.GET.get("page"))
        return self.page("support/queue.html", queue=queue, page=page, rows=rows)


class _CustomerMixin(SupportViewMixin):
    def customer_or_404(self, number: str) -> Customer:
        customer = selectors.customer_get(number=number)
        if customer is None:
            raise Http404(_("No such customer."))
        return customer

    def customer_page(self, customer: Customer, status: int = HTTPStatus.OK, **forms: Any) -> HttpResponse:
        return self.page(
            "support/customer.html",
            status,
            customer_360=customer,
            members=membership_list(customer=customer),
            invitations=invitation_pending_list(customer=customer),
            servers=selectors.customer_servers(customer=customer),
            files=selectors.customer_latest_files(customer=customer),
            renewals=selectors.customer_renewals(customer=customer),
            open_requests=selectors.customer_open_requests(customer=customer),
            audit_events=[
                (
                    event,
                    audit_sentence(
                        action=event.action, target=event.target, details=event.details, denied=event.denied
                    ),
                )
                for event in selectors.customer_recent_audit(customer=customer)
            ],
            view_as_form=forms.get("view_as_form") or ViewAsForm(),
            asc_form=forms.get("asc_form") or AscDesignateForm(),
            import_url=reverse("admin:entitlements_entitlement_import"),
        )


class CustomerView(_CustomerMixin, View):
    required_staff_permission = StaffPermission.VIEW_CUSTOMERS

    def get(self, request: HttpRequest, number: str) -> HttpResponse:
        customer = self.customer_or_404(number)
        return self.customer_page(customer)


class ViewAsStartView(_CustomerMixin, View):
    required_staff_permission = StaffPermission.VIEW_AS_CUSTOMER

    def post(self, request: HttpRequest, number: str) -> HttpResponse:
        customer = self.customer_or_404(number)
        form = ViewAsForm(request.POST)
        if not form.is_valid():
            return self.customer_page(customer, HTTPStatus.BAD_REQUEST, view_as_form=form)
        services.view_as_start(
            customer=customer, actor=request.user, role=form.cleaned_data["role"], session=request.session
        )
        return redirect("customer_home", customer.number)


class ViewAsEndView(SupportViewMixin, View):
    required_staff_permission = StaffPermission.VIEW_CUSTOMERS

    def post(self, request: HttpRequest) -> HttpResponse:
        number = services.view_as_end(actor=request.user, session=request.session)
        messages.success(request, _("You no longer see the portal as a customer."))
        return redirect("support:customer", number) if number else redirect("support:home")


class AscDesignateView(_CustomerMixin, View):
    required_staff_permission = StaffPermission.MANAGE_CUSTOMERS

    def post(self, request: HttpRequest, number: str) -> HttpResponse:
        customer = self.customer_or_404(number)
        form = AscDesignateForm(request.POST)
        if form.is_valid():
            try:
                services.customer_asc_designate(customer=customer, actor=request.user, email=form.cleaned_data["email"])
            except DomainError as refused:
                form.add_error(None, refused.message)
            else:
                messages.success(request, _("%(email)s is designated ASC.") % {"email": form.cleaned_data["email"]})
                return redirect("support:customer", customer.number)
        return self.customer_page(customer, HTTPStatus.BAD_REQUEST, asc_form=form)


class FlexnetSetView(_CustomerMixin, View):
    required_staff_permission = StaffPermission.MANAGE_CUSTOMERS

    def post(self, request: HttpRequest, number: str) -> HttpResponse:
        customer = self.customer_or_404(number)
        form = FlexnetForm(request.POST)
        form.is_valid()
        managed = bool(form.cleaned_data.get("managed"))
        services.customer_flexnet_set(customer=customer, actor=request.user, managed=managed)
        messages.success(
            request,
            _("FlexNet management in the portal is on.") if managed else _("FlexNet management in the portal is off."),
        )
        return redirect("support:customer", customer.number)


# --- Requests from customers -----------------------------------------------------------------


class _RequestMixin(SupportViewMixin):
    def support_request(self, pk: int) -> SupportRequest:
        found = selectors.request_get_any(request_id=pk)
        if found is None:
            raise Http404(_("No such request."))
        return found

    def request_page(self, found: SupportRequest, status: int = HTTPStatus.OK, **forms: Any) -> HttpResponse:
        return self.page(
            "support/request.html",
            status,
            support_request=found,
            today=timezone.localdate(),
            comments=selectors.request_comments(request=found),
            comment_form=forms.get("comment_form") or CommentForm(),
            decision_form=forms.get("decision_form") or DecisionForm(),
        )

    def act(self, found: SupportRequest, form: Any, action: Any, success: str, form_name: str) -> HttpResponse:
        """The one write flow of a request page: valid form -> one service -> message -> redirect."""
        if form.is_valid():
            try:
                action(form.cleaned_data)
            except PortalError as refused:
                form_error_from(form, refused)
            else:
                messages.success(self.request, success)
                return redirect("support:request", found.pk)
        return self.request_page(found, HTTPStatus.BAD_REQUEST, **{form_name: form})


class RequestView(_RequestMixin, View):
    required_staff_permission = StaffPermission.VIEW_CUSTOMERS

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self.request_page(self.support_request(pk))


class _RequestActionView(_RequestMixin, View):
    """A support action on one request (POST only): ``form_class`` -> ``perform`` (one service
    call) -> the ``success`` message, through ``act``."""

    form_class: ClassVar[type] = DecisionForm
    form_name: ClassVar[str] = "decision_form"
    success: ClassVar[Any]

    def perform(self, found: SupportRequest, data: dict[str, Any]) -> object:
        raise NotImplementedError

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        found = self.support_request(pk)
        form = self.form_class(request.POST)
        return self.act(found, form, lambda data: self.perform(found, data), str(self.success), self.form_name)


class RequestCommentView(_RequestActionView):
    required_staff_permission = StaffPermission.HANDLE_REQUESTS
    form_class = CommentForm
    form_name = "comment_form"
    success = gettext_lazy("Comment sent to the customer.")

    def perform(self, found: SupportRequest, data: dict[str, Any]) -> object:
        return services.request_comment(request=found, actor=self.request.user, body=data["body"], as_support=True)


class RequestApproveView(_RequestActionView):
    required_staff_permission = StaffPermission.APPROVE_REQUESTS
    success = gettext_lazy("Request approved and applied.")

    def perform(self, found: SupportRequest, data: dict[str, Any]) -> object:
        return services.request_approve(request=found, actor=self.request.user, comment=data["comment"])


class RequestRejectView(_RequestActionView):
    required_staff_permission = StaffPermission.APPROVE_REQUESTS
    success = gettext_lazy("Request rejected.")

    def perform(self, found: SupportRequest, data: dict[str, Any]) -> object:
        return services.request_reject(request=found, actor=self.request.user, comment=data["comment"])


class RequestDoneView(_RequestActionView):
    required_staff_permission = StaffPermission.HANDLE_REQUESTS
    success = gettext_lazy("Request marked done.")

    def perform(self, found: SupportRequest, data: dict[str, Any]) -> object:
        return services.request_close(request=found, actor=self.request.user)
