"""The API tokens page (/c/<n>/api-tokens/) and the webhooks pages (/c/<n>/webhooks/)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View

from accounts.access import CustomerViewMixin
from accounts.roles import Permission, Role
from portal.errors import AccessDenied, PortalError
from portal.forms import form_error_from

from .forms import TokenCreateForm, WebhookEndpointForm
from .selectors import (
    api_token_get,
    api_token_list,
    webhook_delivery_get,
    webhook_delivery_recent,
    webhook_endpoint_get,
    webhook_endpoint_list,
)
from .services import (
    OVERSIGHT_PERMISSION,
    api_token_create,
    api_token_revoke,
    webhook_delivery_resend,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_update,
    webhook_secret_rotate,
)
from .tokens import role_within
from .webhooks import EVENT_TYPES


class TokenPageMixin(CustomerViewMixin):
    def page(
        self,
        request: HttpRequest,
        *,
        form: TokenCreateForm | None = None,
        created: str = "",
        status: int = HTTPStatus.OK,
    ) -> HttpResponse:
        oversee = self.access.has(OVERSIGHT_PERMISSION)
        own_role = self.access.role
        form = form or TokenCreateForm()
        form.fields["role"].choices = [(r.value, r.label) for r in Role if role_within(role=r, of=own_role)]
        tokens = api_token_list(customer=self.customer, user=None if oversee else request.user)
        return render(
            request,
            "api/tokens.html",
            {
                "customer": self.customer,
                "access": self.access,
                "can": self.access.can,
                "form": form,
                "tokens": tokens,
                "oversee": oversee,
                "created": created,
            },
            status=status,
        )


class TokenListView(TokenPageMixin, View):
    required_permission = Permission.VIEW

    def get(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        return self.page(request)

    def post(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        form = TokenCreateForm(request.POST)
        form.fields["role"].choices = Role.choices
        if form.is_valid():
            try:
                token, raw = api_token_create(
                    customer=self.customer,
                    actor=request.user,
                    name=form.cleaned_data["name"],
                    role=form.cleaned_data["role"],
                    days=form.cleaned_data["days"],
                )
            except AccessDenied:
                raise
            except PortalError as refused:
                form_error_from(form, refused)
            else:
                messages.success(
                    request, _("Token %(name)s created. Copy it now: it is not shown again.") % {"name": token.name}
                )
                # Shown in this response only; never stored, never put in a redirect or the session.
                return self.page(request, created=raw, status=HTTPStatus.CREATED)
        return self.page(request, form=form, status=HTTPStatus.BAD_REQUEST)


class TokenRevokeView(CustomerViewMixin, View):
    required_permission = Permission.VIEW

    def post(self, request: HttpRequest, customer_number: str, token_id: int) -> HttpResponse:
        token = api_token_get(customer=self.customer, token_id=token_id)
        if token is None or (token.user_id != request.user.pk and not self.access.has(OVERSIGHT_PERMISSION)):
            raise Http404
        api_token_revoke(token=token, actor=request.user)
        messages.success(request, _("Token %(name)s revoked.") % {"name": token.name})
        return redirect("api_tokens:list", customer_number=self.customer.number)


# --- Webhooks ----------------------------------------------------------------------------------


class WebhookMixin(CustomerViewMixin):
    required_permission = OVERSIGHT_PERMISSION

    def endpoint(self, endpoint_id: int) -> Any:
        endpoint = webhook_endpoint_get(customer=self.customer, endpoint_id=endpoint_id)
        if endpoint is None:
            raise Http404
        return endpoint

    def context(self, **extra: Any) -> dict[str, Any]:
        return {
            "customer": self.customer,
            "access": self.access,
            "can": self.access.can,
            "event_types": EVENT_TYPES,
            **extra,
        }


class WebhookListView(WebhookMixin, View):
    def get(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        return self.page(request, WebhookEndpointForm())

    def page(
        self, request: HttpRequest, form: WebhookEndpointForm, status: int = HTTPStatus.OK, secret: str = ""
    ) -> HttpResponse:
        return render(
            request,
            "api/webhooks.html",
            self.context(form=form, endpoints=webhook_endpoint_list(customer=self.customer), secret=secret),
            status=status,
        )

    def post(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        form = WebhookEndpointForm(request.POST)
        if form.is_valid():
            try:
                endpoint = webhook_endpoint_create(
                    customer=self.customer,
                    actor=request.user,
                    url=form.cleaned_data["url"],
                    description=form.cleaned_data["description"],
                    event_types=form.cleaned_data["event_types"],
                )
            except AccessDenied:
                raise
            except PortalError as refused:
                form_error_from(form, refused)
            else:
                messages.success(request, _("Webhook endpoint added."))
                return redirect("webhooks:detail", customer_number=self.customer.number, endpoint_id=endpoint.pk)
        return self.page(request, form, status=HTTPStatus.BAD_REQUEST)


class WebhookDetailView(WebhookMixin, View):
    def page(
        self, request: HttpRequest, endpoint: Any, form: WebhookEndpointForm | None = None, status: int = HTTPStatus.OK
    ) -> HttpResponse:
        form = form or WebhookEndpointForm(
            initial={
                "url": endpoint.url,
                "description": endpoint.description,
                "event_types": endpoint.event_types,
                "enabled": endpoint.enabled,
            }
        )
        return render(
            request,
            "api/webhook_detail.html",
            self.context(endpoint=endpoint, form=form, deliveries=webhook_delivery_recent(endpoint=endpoint)),
            status=status,
        )

    def get(self, request: HttpRequest, customer_number: str, endpoint_id: int) -> HttpResponse:
        return self.page(request, self.endpoint(endpoint_id))

    def post(self, request: HttpRequest, customer_number: str, endpoint_id: int) -> HttpResponse:
        endpoint = self.endpoint(endpoint_id)
        action = request.POST.get("action", "save")
        try:
            if action == "rotate":
                webhook_secret_rotate(endpoint=endpoint, actor=request.user)
                messages.success(request, _("New secret made. The previous one keeps signing for 24 hours."))
            elif action == "delete":
                webhook_endpoint_delete(endpoint=endpoint, actor=request.user)
                messages.success(request, _("Webhook endpoint deleted."))
                return redirect("webhooks:list", customer_number=self.customer.number)
            else:
                form = WebhookEndpointForm(request.POST)
                if not form.is_valid():
                    return self.page(request, endpoint, form, status=HTTPStatus.BAD_REQUEST)
                try:
                    webhook_endpoint_update(
                        endpoint=endpoint,
                        actor=request.user,
                        url=form.cleaned_data["url"],
                        description=form.cleaned_data["description"],
                        event_types=form.cleaned_data["event_types"],
                        enabled=form.cleaned_data["enabled"],
                    )
                except AccessDenied:
                    raise
                except PortalError as refused:
                    form_error_from(form, refused)
                    return self.page(request, endpoint, form, status=HTTPStatus.BAD_REQUEST)
                messages.success(request, _("Webhook endpoint saved."))
        except AccessDenied:
            raise
        return redirect("webhooks:detail", customer_number=self.customer.number, endpoint_id=endpoint.pk)


class WebhookResendView(WebhookMixin, View):
    def post(self, request: HttpRequest, customer_number: str, delivery_id: int) -> HttpResponse:
        delivery = webhook_delivery_get(customer=self.customer, delivery_id=delivery_id)
        if delivery is None:
            raise Http404
        webhook_delivery_resend(delivery=delivery, actor=request.user)
        messages.success(request, _("The event will be sent again."))
        return redirect("webhooks:detail", customer_number=self.customer.number, endpoint_id=delivery.endpoint_id)
