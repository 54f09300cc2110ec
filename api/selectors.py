"""Every read of tokens and webhook endpoints, always scoped by customer."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Customer, User

from .models import ApiToken, WebhookDelivery, WebhookEndpoint


def api_token_list(*, customer: Customer, user: User | None) -> QuerySet[ApiToken]:
    """The customer's tokens, newest first: one person's (``user``) or everyone's (None)."""
    tokens = ApiToken.objects.filter(customer=customer).select_related("user", "revoked_by")
    if user is not None:
        tokens = tokens.filter(user=user)
    return tokens.order_by("-created_at", "-id")


def api_token_get(*, customer: Customer, token_id: int) -> ApiToken | None:
    return ApiToken.objects.filter(customer=customer, pk=token_id).select_related("user", "customer").first()


def webhook_endpoint_list(*, customer: Customer) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(customer=customer).order_by("created_at", "id")


def webhook_endpoint_get(*, customer: Customer, endpoint_id: int) -> WebhookEndpoint | None:
    return WebhookEndpoint.objects.filter(customer=customer, pk=endpoint_id).select_related("customer").first()


def webhook_delivery_recent(*, endpoint: WebhookEndpoint, limit: int = 25) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.filter(endpoint=endpoint).order_by("-created_at", "-id")[:limit])


def webhook_delivery_get(*, customer: Customer, delivery_id: int) -> WebhookDelivery | None:
    return (
        WebhookDelivery.objects.filter(endpoint__customer=customer, pk=delivery_id)
        .select_related("endpoint__customer")
        .first()
    )
