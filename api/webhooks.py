"""Webhook events and their delivery (Standard Webhooks, https://www.standardwebhooks.com/).

The outbox pattern of ``accounts.notifications``: a ``WebhookDelivery`` row is written in the
transaction of the change it reports, a Celery task is asked to send it once that
transaction commits, and a periodic sweep sends whatever is still due (a broker outage only
delays it). The row stays locked while it is sent, so two workers never send it at once;
each attempt carries the same ``webhook-id``, so delivery is at-least-once and a receiver
that remembers ids sees each event once.

Events come from the code path that causes them, in its transaction:
- ``webhook_events_from_audit``: registered as an audit listener (``api.apps``), it turns the
  audit events the services already write into webhook events (``AUDIT_EVENT_TYPES``): the
  activation, license file, rehost and member events, and ``usage.threshold`` from the Elastic
  budget alert (``elastic.budget_alert_sent``, the daily budget check);
- ``webhook_events_from_reminders``: registered as a reminder listener of the daily renewal
  run (``notices.services``), ``entitlement.expiring`` once per reminder (its ``webhook-id``
  is derived from the reminder's key, so a catch-up run repeats nothing);
- ``webhook_event_emit``: the writer both use, for any other producer.

SSRF: an endpoint's host is resolved at every attempt, every address must be public
(not private, loopback, link-local, multicast, reserved), and the connection goes to the
address that was checked (no second lookup an attacker's DNS could answer differently).
``PORTAL_WEBHOOK_ALLOW_PRIVATE`` (tests only) allows private addresses and plain HTTP.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import socket
import ssl
import time
import urllib.parse
import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import AuditEvent, Customer
from accounts.notifications import notify_ascs
from portal.db import compiled_rows
from portal.errors import PortalError

from .models import WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

# The event types an endpoint can subscribe to (stable strings, documented in docs/api.md).
EVENT_TYPES: dict[str, str] = {
    "activation.changed": "Licenses activated on or returned from a license server",
    "license_file.issued": "A new license file version was issued",
    "server.rehosted": "A license server moved to new host IDs",
    "member.added": "A portal user was added",
    "member.removed": "A portal user was removed",
    "member.role_changed": "A portal user's role changed",
    "entitlement.expiring": "An entitlement line ends soon",
    "usage.threshold": "Usage crossed a threshold",
}

# Audit action -> the webhook events it stands for.
AUDIT_EVENT_TYPES: dict[str, tuple[str, ...]] = {
    "activation.changed": ("activation.changed", "license_file.issued"),
    "activation.returned": ("activation.changed", "license_file.issued"),
    "license_file.generated": ("license_file.issued",),
    "server.rehosted": ("server.rehosted", "license_file.issued"),
    "membership.added": ("member.added",),
    # invitation.accepted and asc.designated: see _member_event_types (they may add no one).
    "membership.removed": ("member.removed",),
    "membership.role_changed": ("member.role_changed",),
    "elastic.budget_alert_sent": ("usage.threshold",),
}

MAX_ATTEMPTS = 8
# After this many consecutive failed attempts (over several events) the endpoint is disabled.
DISABLE_AFTER_FAILURES = 15
TIMEOUT_SECONDS = 10
TIMESTAMP_TOLERANCE = 5 * 60


def backoff(attempts: int) -> datetime.timedelta:
    """Delay before the next attempt: 30 s, 1, 2, 4 ... minutes, at most 6 hours."""
    return datetime.timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 6 * 3600))


# --- Writing events --------------------------------------------------------------------------


def webhook_event_emit(
    *, customer: Customer, event_type: str, data: dict[str, Any], message_id: str | None = None
) -> list[WebhookDelivery]:
    """Queues ``event_type`` with ``data`` for every enabled endpoint of the customer that
    subscribes to it. Call it inside the transaction of the change (the rows roll back with
    it); sending starts on commit. A ``message_id`` (``msg_`` and at most 36 characters) makes
    the event idempotent: an endpoint that already has a delivery with that id gets none."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"Unknown webhook event type {event_type!r}")
    endpoints = [e for e in WebhookEndpoint.objects.filter(customer=customer, enabled=True) if e.wants(event_type)]
    if message_id is not None and endpoints:
        done = set(
            WebhookDelivery.objects.filter(endpoint__in=endpoints, message_id=message_id).values_list(
                "endpoint_id", flat=True
            )
        )
        endpoints = [e for e in endpoints if e.pk not in done]
    if not endpoints:
        return []
    message_id = message_id or f"msg_{uuid.uuid4().hex}"
    payload = {
        "type": event_type,
        "timestamp": timezone.now().isoformat(),
        "data": {"customer": customer.number, **data},
    }
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(endpoint=endpoint, message_id=message_id, event_type=event_type, payload=payload)
        for endpoint in endpoints
    )
    delivery_enqueue_on_commit([d.pk for d in deliveries])
    return deliveries


def _member_event_types(event: AuditEvent) -> tuple[str, ...]:
    """An accepted invitation or an ASC designation adds a member, changes the role of one
    who already was (previous_role), or, for a designation still pending, nobody yet."""
    if event.details.get("pending"):
        return ()
    previous = event.details.get("previous_role")
    if previous is None:
        return ("member.added",)
    current = event.details.get("role", "asc" if event.action == "asc.designated" else previous)
    return ("member.role_changed",) if current != previous else ()


def webhook_events_from_audit(event: AuditEvent) -> None:
    """Audit listener: the webhook events an audit event stands for (see AUDIT_EVENT_TYPES)."""
    if event.action in ("invitation.accepted", "asc.designated"):
        types = _member_event_types(event)
    else:
        types = AUDIT_EVENT_TYPES.get(event.action)
    if not types or event.customer_id is None:
        return
    # One indexed query for the common case of a customer without endpoints.
    has_endpoints = compiled_rows(
        "api.webhook_endpoints_exist",
        lambda customer_id: (
            WebhookEndpoint.objects.filter(customer_id=customer_id, enabled=True).order_by().values_list("pk")[:1]
        ),
        event.customer_id,
    )
    if not has_endpoints:
        return
    data = {"action": event.action, "target": event.target, "actor": event.actor_email, "details": event.details}
    if event.action == "elastic.budget_alert_sent":
        details = event.details
        data |= {
            "metric": "elastic_units_month",
            "month": event.target,
            "threshold": max(details.get("thresholds") or [0]),
            "thresholds": details.get("thresholds", []),
            "value": details.get("consumed"),
            "budget": details.get("budget"),
        }
    for event_type in types:
        webhook_event_emit(customer=event.customer, event_type=event_type, data=data)


def webhook_events_from_reminders(reminders: list[Any]) -> None:
    """Reminder listener (``notices.services.Reminder``): ``entitlement.expiring`` for each
    reminder of the daily renewal run, once per reminder key (the ``webhook-id`` is derived
    from it, so a catch-up day or a second run sends nothing new)."""
    customer_ids = {r.customer_id for r in reminders}
    if not customer_ids:
        return
    with_endpoints = set(
        WebhookEndpoint.objects.filter(customer_id__in=customer_ids, enabled=True).values_list("customer_id", flat=True)
    )
    if not with_endpoints:
        return
    customers = Customer.objects.in_bulk(with_endpoints)
    for reminder in reminders:
        if reminder.customer_id not in with_endpoints:
            continue
        data = reminder.data
        webhook_event_emit(
            customer=customers[reminder.customer_id],
            event_type="entitlement.expiring",
            data={
                "line_id": data["line_id"],
                "product": data["product"],
                "feature": data["feature"],
                "quantity": data["quantity"],
                "kind": reminder.kind,
                "end_date": data["date"],
                "days_left": data["step"],
            },
            message_id="msg_" + hashlib.sha256(reminder.key.encode()).hexdigest()[:36],
        )


def delivery_enqueue_on_commit(ids: list[int]) -> None:
    transaction.on_commit(lambda: _enqueue(ids), robust=True)


def _enqueue(ids: list[int], countdown: float | None = None) -> None:
    from .tasks import webhook_deliver_task

    for delivery_id in ids:
        try:
            webhook_deliver_task.apply_async((delivery_id,), countdown=countdown)
        except Exception:  # whatever the broker client raises: the sweep sends it later
            logger.warning("Broker unavailable; webhook deliveries %s left for the sweep", ids, exc_info=True)
            return


# --- Signing ---------------------------------------------------------------------------------


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` (Standard Webhooks)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()


def signature_header(endpoint: WebhookEndpoint, *, message_id: str, timestamp: int, body: bytes) -> str:
    """Space-separated signatures: the current secret, and the previous one during its overlap."""
    secrets = [endpoint.secret]
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_expires_at
        and (endpoint.previous_secret_expires_at > timezone.now())
    ):
        secrets.append(endpoint.previous_secret)
    return " ".join(sign(secret=s, message_id=message_id, timestamp=timestamp, body=body) for s in secrets)


def verify(*, secret: str, headers: dict[str, str], body: bytes, now: float | None = None) -> bool:
    """What a receiver does (docs/api.md shows the same in Python): any listed signature
    made with ``secret`` over this id, timestamp and body, and a timestamp within 5 minutes."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        message_id, timestamp = lowered["webhook-id"], int(lowered["webhook-timestamp"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > TIMESTAMP_TOLERANCE:
        return False
    expected = sign(secret=secret, message_id=message_id, timestamp=timestamp, body=body)
    return any(hmac.compare_digest(expected, s) for s in lowered.get("webhook-signature", "").split())


# --- Where a delivery may go (SSRF) ----------------------------------------------------------


class UnsafeDestination(PortalError):
    pass


def _allow_private() -> bool:
    return bool(getattr(settings, "PORTAL_WEBHOOK_ALLOW_PRIVATE", False))


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local or ip.is_loopback)


def webhook_url_check(url: str) -> urllib.parse.SplitResult:
    """The parsed URL when its form is acceptable: HTTPS (HTTP only where private addresses
    are allowed, i.e. tests), a host, no credentials. Addresses are checked at delivery."""
    parts = urllib.parse.urlsplit(url)
    schemes = ("https", "http") if _allow_private() else ("https",)
    if parts.scheme not in schemes or not parts.hostname or parts.username or parts.password or len(url) > 500:
        raise UnsafeDestination(_("Give an https:// address without a user name or password."), field="url")
    if not _allow_private():
        try:
            if not _public(parts.hostname):
                raise UnsafeDestination(_("Webhooks cannot be sent to private or local addresses."), field="url")
        except ValueError:
            pass  # a host name: resolved and checked at each delivery
    return parts


def resolve_checked(host: str, port: int) -> str:
    """One address of ``host`` after checking that *every* address it resolves to is public."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise UnsafeDestination(f"cannot resolve {host}: {error}") from None
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise UnsafeDestination(f"{host} has no address")
    if not _allow_private():
        bad = [a for a in addresses if not _public(a)]
        if bad:
            raise UnsafeDestination(f"{host} resolves to a non-public address ({', '.join(sorted(set(bad)))})")
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to the checked address; TLS still verifies the certificate for the host name."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, *, body: bytes, headers: dict[str, str]) -> int:
    """POSTs to ``url`` over a connection pinned to a checked address; returns the status.
    Redirects are not followed (a redirect could lead anywhere)."""
    parts = webhook_url_check(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = resolve_checked(parts.hostname, port)
    cls = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = cls(parts.hostname, port, address=address, timeout=TIMEOUT_SECONDS)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(65536)
        return response.status
    finally:
        connection.close()


# --- Delivering ------------------------------------------------------------------------------


def delivery_body(delivery: WebhookDelivery) -> bytes:
    return json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()


def webhook_deliver(*, delivery_id: int) -> str:
    """Makes one attempt at a due delivery. Returns "delivered", "retry", "failed" or "skipped"
    (already delivered, given up, not due, or being sent by another worker).

    The delivery row is locked for the attempt. A failure schedules the next attempt with
    backoff; after MAX_ATTEMPTS the delivery is given up. An endpoint with
    DISABLE_AFTER_FAILURES consecutive failed attempts is disabled and the ASCs are emailed.
    """
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint__customer")
            .filter(pk=delivery_id, delivered_at__isnull=True, failed_at__isnull=True)
            .first()
        )
        if delivery is None:
            return "skipped"
        endpoint = delivery.endpoint
        now = timezone.now()
        if not endpoint.enabled:
            return "skipped"
        if delivery.next_attempt_at > now + datetime.timedelta(seconds=1):
            return "skipped"
        body = delivery_body(delivery)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"{settings.PORTAL_BRAND_NAME} webhooks",
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(
                endpoint, message_id=delivery.message_id, timestamp=timestamp, body=body
            ),
        }
        delivery.attempts += 1
        status, error = None, ""
        try:
            status = post(endpoint.url, body=body, headers=headers)
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except (OSError, http.client.HTTPException, UnsafeDestination) as exc:
            error = f"{type(exc).__name__}: {exc}"
        delivery.last_status, delivery.last_error = status, error[:500]
        if not error:
            delivery.delivered_at = timezone.now()
            delivery.save(update_fields=["attempts", "last_status", "last_error", "delivered_at"])
            if endpoint.consecutive_failures:
                WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=0)
            return "delivered"
        outcome = "retry"
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.failed_at = timezone.now()
            outcome = "failed"
        else:
            delivery.next_attempt_at = timezone.now() + backoff(delivery.attempts)
        delivery.save(update_fields=["attempts", "last_status", "last_error", "failed_at", "next_attempt_at"])
        _endpoint_failed(endpoint_id=endpoint.pk, error=error)
    if outcome == "retry":
        _enqueue([delivery_id], countdown=backoff(delivery.attempts).total_seconds())
    return outcome


def _endpoint_failed(*, endpoint_id: int, error: str) -> None:
    endpoint = WebhookEndpoint.objects.select_for_update(of=("self",)).select_related("customer").get(pk=endpoint_id)
    endpoint.consecutive_failures += 1
    fields = ["consecutive_failures"]
    if endpoint.enabled and endpoint.consecutive_failures >= DISABLE_AFTER_FAILURES:
        from accounts.audit import audit_record

        endpoint.enabled = False
        endpoint.disabled_reason = error[:255]
        fields += ["enabled", "disabled_reason"]
        audit_record(
            customer=endpoint.customer,
            actor=None,
            action="webhook.disabled",
            target=endpoint.url,
            details={"failures": endpoint.consecutive_failures, "error": error[:255]},
        )
        notify_ascs(
            customer=endpoint.customer,
            event="webhook.disabled",
            template="webhook_disabled",
            context={"endpoint": endpoint, "error": error[:255]},
        )
    endpoint.save(update_fields=fields)


def webhook_deliveries_due_ids(*, limit: int = 200) -> list[int]:
    """Deliveries due whose own task should have run: the sweep's work list."""
    cutoff = timezone.now() - settings.PORTAL_NOTIFICATION_SWEEP_AFTER
    return list(
        WebhookDelivery.objects.filter(
            delivered_at__isnull=True,
            failed_at__isnull=True,
            next_attempt_at__lte=timezone.now(),
            created_at__lte=cutoff,
            endpoint__enabled=True,
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
