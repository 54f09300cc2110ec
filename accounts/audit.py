"""The audit core: every service that changes something records what it did here."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .models import AuditEvent, Customer

if TYPE_CHECKING:
    from .models import User

# Set per request by AuditContextMiddleware; None in Celery tasks and commands.
audit_ip: contextvars.ContextVar[str | None] = contextvars.ContextVar("audit_ip", default=None)

# Called with every event that is not a denied attempt, in the transaction that wrote it
# (apps further up register here, e.g. the API's webhooks; accounts does not import them).
_listeners: list[Callable[[AuditEvent], None]] = []


def audit_listener_register(listener: Callable[[AuditEvent], None]) -> None:
    """Registers ``listener(event)``; it runs inside the writer's transaction and must only
    write rows (an outbox) and schedule work ``on_commit``, never call out."""
    if listener not in _listeners:
        _listeners.append(listener)


def audit_record(
    *,
    customer: Customer | None,
    actor: User | None,
    action: str,
    target: str = "",
    details: dict[str, Any] | None = None,
    denied: bool = False,
) -> AuditEvent:
    """Appends one audit event. Secrets never go in ``details``: callers pass only what a
    Viewer of the customer may read."""
    event = AuditEvent.objects.create(
        customer=customer,
        actor=actor if actor is not None and actor.pk else None,
        actor_email=getattr(actor, "email", "") or "",
        action=action,
        target=str(target)[:255],
        details=details or {},
        ip_address=audit_ip.get(),
        denied=denied,
    )
    if not denied:
        for listener in _listeners:
            listener(event)
    return event


def audit_records_bulk(events: list[AuditEvent]) -> list[AuditEvent]:
    """Appends many events in one insert (a bulk add) and calls the listeners for each, as
    ``audit_record`` does, so no change is missed by them (e.g. the API's webhooks)."""
    created = AuditEvent.objects.bulk_create(events)
    for event in created:
        if not event.denied:
            for listener in _listeners:
                listener(event)
    return created
