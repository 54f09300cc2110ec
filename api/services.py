"""Every write to API tokens and webhook endpoints. Keyword-only, atomic, audited.

Who may do what comes from the matrix (``accounts.roles``): any member (VIEW) keeps their
own tokens; seeing and revoking every token of the customer, and managing its webhook
endpoints, is ``Permission.MANAGE_API_ACCESS`` (the ASC, issue 16): a token's owner must not
be the only one who can stop it.
"""

from __future__ import annotations

import base64
import datetime
import secrets

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.access import authorize
from accounts.audit import audit_record
from accounts.models import Customer, Membership, User
from accounts.notifications import notify_ascs
from accounts.roles import Permission, Role, has_permission
from portal.errors import PortalError

from .models import ApiToken, WebhookDelivery, WebhookEndpoint
from .tokens import PREFIX_SHOWN, is_write_capable, role_within, token_generate, token_hash

OVERSIGHT_PERMISSION = Permission.MANAGE_API_ACCESS
TOKEN_MAX_DAYS = 365
TOKEN_DEFAULT_DAYS = 90


def _membership(actor: User, customer: Customer) -> Membership | None:
    membership = Membership.objects.filter(user=actor, customer=customer).first()
    if membership is not None:
        membership.user = actor
    return membership


def may_oversee_tokens(*, actor: User, customer: Customer) -> bool:
    return has_permission(_membership(actor, customer), OVERSIGHT_PERMISSION)


def api_token_create(
    *, customer: Customer, actor: User, name: str, role: Role | str, days: int = TOKEN_DEFAULT_DAYS
) -> tuple[ApiToken, str]:
    """Creates a token for the actor on ``customer`` and returns it with its secret, which is
    never stored (only its SHA-256) and so can be shown only now. The role may be no higher
    than the actor's own; expiry 1 to 365 days. Audited; when the token can write, the
    customer's ASCs are emailed (outbox, on commit)."""
    authorize(actor=actor, customer=customer, permission=Permission.VIEW, action="api_token.create")
    membership = _membership(actor, customer)
    name = " ".join(name.split())
    if not name or len(name) > 80:
        raise PortalError(_("Give the token a name of 1 to 80 characters."), field="name")
    try:
        role = Role(role)
    except ValueError:
        raise PortalError(_("Choose a role."), field="role") from None
    if membership is None or not role_within(role=role, of=membership.role):
        audit_record(
            customer=customer,
            actor=actor,
            action="api_token.create",
            denied=True,
            details={"reason": "role_above_own", "role": role.value},
        )
        raise PortalError(_("A token's role cannot be higher than your own role."), field="role")
    if not 1 <= days <= TOKEN_MAX_DAYS:
        raise PortalError(_("A token expires after 1 to 365 days."), field="days")
    return _api_token_create(customer=customer, actor=actor, name=name, role=role, days=days)


@transaction.atomic
def _api_token_create(*, customer: Customer, actor: User, name: str, role: Role, days: int) -> tuple[ApiToken, str]:
    raw = token_generate()
    now = timezone.now()
    token = ApiToken.objects.create(
        customer=customer,
        user=actor,
        name=name,
        role=role.value,
        prefix=raw[:PREFIX_SHOWN],
        token_hash=token_hash(raw),
        created_at=now,
        expires_at=now + datetime.timedelta(days=days),
    )
    audit_record(
        customer=customer,
        actor=actor,
        action="api_token.created",
        target=name,
        details={"prefix": token.prefix, "role": role.value, "expires": token.expires_at.date().isoformat()},
    )
    if is_write_capable(role):
        notify_ascs(
            customer=customer,
            event="api_token.created",
            template="api_token_created",
            context={"actor_email": actor.email, "token": token, "role_label": role.label},
        )
    return token, raw


def api_token_revoke(*, token: ApiToken, actor: User) -> ApiToken:
    """Revokes a token: its owner, or whoever oversees the customer's tokens (the ASC).
    Takes effect on the next request. Audited."""
    customer = token.customer
    if token.user_id != actor.pk:
        authorize(actor=actor, customer=customer, permission=OVERSIGHT_PERMISSION, action="api_token.revoke")
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.revoked_by = actor
            token.save(update_fields=["revoked_at", "revoked_by"])
            audit_record(
                customer=customer,
                actor=actor,
                action="api_token.revoked",
                target=token.name,
                details={"prefix": token.prefix, "owner": token.user.email},
            )
    return token


# --- Webhook endpoints -----------------------------------------------------------------------

SECRET_PREFIX = "whsec_"
# After a rotation, the old secret keeps signing this long, so receivers can switch over.
SECRET_OVERLAP = datetime.timedelta(hours=24)


def webhook_secret_new() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _clean_endpoint(*, url: str, event_types: list[str]) -> tuple[str, list[str]]:
    from .webhooks import EVENT_TYPES, webhook_url_check

    url = url.strip()
    webhook_url_check(url)
    unknown = sorted(set(event_types) - set(EVENT_TYPES))
    if unknown:
        raise PortalError(_("Unknown events: %(events)s") % {"events": ", ".join(unknown)}, field="event_types")
    return url, sorted(set(event_types))


def webhook_endpoint_create(
    *, customer: Customer, actor: User, url: str, description: str = "", event_types: list[str] | None = None
) -> WebhookEndpoint:
    """Registers an endpoint (ASC). The URL must be HTTPS and resolve to public addresses
    (unless ``PORTAL_WEBHOOK_ALLOW_PRIVATE``). Returns it with a fresh ``whsec_`` secret. Audited."""
    authorize(actor=actor, customer=customer, permission=OVERSIGHT_PERMISSION, action="webhook.create")
    url, types = _clean_endpoint(url=url, event_types=list(event_types or []))
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            customer=customer,
            url=url,
            description=description.strip()[:200],
            event_types=types,
            secret=webhook_secret_new(),
            created_by=actor,
        )
        audit_record(customer=customer, actor=actor, action="webhook.created", target=url, details={"events": types})
    return endpoint


def webhook_endpoint_update(
    *, endpoint: WebhookEndpoint, actor: User, url: str, description: str, event_types: list[str], enabled: bool
) -> WebhookEndpoint:
    """Changes an endpoint; enabling it again clears its failure count. Audited."""
    authorize(actor=actor, customer=endpoint.customer, permission=OVERSIGHT_PERMISSION, action="webhook.change")
    url, types = _clean_endpoint(url=url, event_types=event_types)
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint.url, endpoint.description, endpoint.event_types = url, description.strip()[:200], types
        if enabled and not endpoint.enabled:
            endpoint.consecutive_failures = 0
            endpoint.disabled_reason = ""
        endpoint.enabled = enabled
        endpoint.save()
        audit_record(
            customer=endpoint.customer,
            actor=actor,
            action="webhook.changed",
            target=url,
            details={"events": types, "enabled": enabled},
        )
    return endpoint


def webhook_secret_rotate(*, endpoint: WebhookEndpoint, actor: User) -> WebhookEndpoint:
    """A new secret; the previous one keeps signing (a second signature) for 24 hours. Audited."""
    authorize(actor=actor, customer=endpoint.customer, permission=OVERSIGHT_PERMISSION, action="webhook.rotate")
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = timezone.now() + SECRET_OVERLAP
        endpoint.secret = webhook_secret_new()
        endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
        audit_record(customer=endpoint.customer, actor=actor, action="webhook.secret_rotated", target=endpoint.url)
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor: User) -> None:
    authorize(actor=actor, customer=endpoint.customer, permission=OVERSIGHT_PERMISSION, action="webhook.delete")
    with transaction.atomic():
        audit_record(customer=endpoint.customer, actor=actor, action="webhook.deleted", target=endpoint.url)
        endpoint.delete()


def webhook_delivery_resend(*, delivery: WebhookDelivery, actor: User) -> WebhookDelivery:
    """Sends an event again to its endpoint: a new delivery with the same ``webhook-id``
    (a receiver that already processed it can drop it). Audited."""
    from .webhooks import delivery_enqueue_on_commit

    endpoint = delivery.endpoint
    authorize(actor=actor, customer=endpoint.customer, permission=OVERSIGHT_PERMISSION, action="webhook.resend")
    with transaction.atomic():
        again = WebhookDelivery.objects.create(
            endpoint=endpoint, message_id=delivery.message_id, event_type=delivery.event_type, payload=delivery.payload
        )
        audit_record(
            customer=endpoint.customer,
            actor=actor,
            action="webhook.resent",
            target=endpoint.url,
            details={"webhook_id": delivery.message_id, "event": delivery.event_type},
        )
        delivery_enqueue_on_commit([again.pk])
    return again
