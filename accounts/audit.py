"""The audit core: every service that changes something records what it did here."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction

from portal.db import rows_insert

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


def _event(
    *,
    customer: Customer | None,
    actor: User | None,
    action: str,
    target: str = "",
    details: dict[str, Any] | None = None,
    denied: bool = False,
) -> AuditEvent:
    return AuditEvent(
        customer=customer,
        actor=actor if actor is not None and actor.pk else None,
        actor_email=getattr(actor, "email", "") or "",
        action=action,
        target=str(target)[:255],
        details=details or {},
        ip_address=audit_ip.get(),
        denied=denied,
    )


class _Pending:
    """An event waiting for the request's write (``audit_with_next_write``)."""

    def __init__(self, event: AuditEvent) -> None:
        self.event = event
        self.inserted = False  # in a transaction that may still roll back
        self.committed = False

    def mark_committed(self) -> None:
        self.committed = True


_pending: contextvars.ContextVar[_Pending | None] = contextvars.ContextVar("audit_pending", default=None)


@contextlib.contextmanager
def audit_with_next_write(**fields: Any) -> Iterator[None]:
    """Records an event that goes with whatever the block writes (the API's ``api_token.used``
    beside the change the token made): it is inserted by the block's first ``audit_record``
    that runs in an outermost transaction, in the same statement, so the two share one commit
    (docs/performance.md). If that never happens (nothing audited, a savepoint, a refusal, a
    rollback), it is recorded on its own when the block ends: always exactly once."""
    pending = _Pending(_event(**fields))
    reset = _pending.set(pending)
    try:
        yield
    finally:
        _pending.reset(reset)
        if not pending.committed:
            pending.event.pk = None  # set by an insert that was rolled back
            rows_insert([pending.event])
            _notify_listeners([pending.event])


def _take_pending() -> _Pending | None:
    """The waiting event, if it can go into the current transaction: an outermost one (not a
    savepoint, whose rollback would drop it unseen), and not inserted already."""
    pending = _pending.get()
    if pending is None or pending.inserted or not connection.in_atomic_block or connection.savepoint_ids:
        return None
    pending.inserted = True
    transaction.on_commit(pending.mark_committed)
    return pending


def _notify_listeners(events: list[AuditEvent]) -> None:
    for event in events:
        if not event.denied:
            for listener in _listeners:
                listener(event)


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
    event = _event(customer=customer, actor=actor, action=action, target=target, details=details, denied=denied)
    pending = None if denied else _take_pending()
    events = [pending.event, event] if pending else [event]
    rows_insert(events)
    _notify_listeners(events)
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
