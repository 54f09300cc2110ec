"""Writes of the cockpit. "See as customer" lives in the staff session (no table): starting
and ending it are audited on the customer, so its ASC reads who looked and as which role."""

from __future__ import annotations

from django.contrib.sessions.backends.base import SessionBase

from accounts.access import SUPPORT_VIEW_SESSION_KEY, authorize_staff
from accounts.audit import audit_record
from accounts.models import Customer, Invitation, Membership, User
from accounts.roles import Role, StaffPermission
from accounts.services import asc_designate, customer_update


def view_as_start(*, customer: Customer, actor: User, role: Role | str, session: SessionBase) -> None:
    """Starts support's read-only view of ``customer`` as ``role`` in this session (one
    customer at a time: a new start replaces the previous one). Needs ``VIEW_AS_CUSTOMER``.
    Audited on the customer."""
    role = Role(role)
    authorize_staff(
        actor=actor, customer=customer, action="support.view_as_start", permission=StaffPermission.VIEW_AS_CUSTOMER
    )
    view_as_end(actor=actor, session=session)
    session[SUPPORT_VIEW_SESSION_KEY] = {"customer": customer.number, "role": role.value}
    audit_record(
        customer=customer, actor=actor, action="support.view_as_started", target=customer.number,
        details={"role": role.value},
    )


def view_as_end(*, actor: User, session: SessionBase) -> str | None:
    """Ends the read-only view, if any; returns the customer number it showed. Audited."""
    state = session.pop(SUPPORT_VIEW_SESSION_KEY, None)
    if not isinstance(state, dict):
        return None
    customer = Customer.objects.filter(number=state.get("customer", "")).first()
    if customer is not None:
        audit_record(
            customer=customer, actor=actor, action="support.view_as_ended", target=customer.number,
            details={"role": state.get("role", "")},
        )
    return state.get("customer")


def customer_asc_designate(*, customer: Customer, actor: User, email: str) -> Membership | Invitation:
    """The cockpit's "designate ASC": ``MANAGE_CUSTOMERS`` first, then the existing service
    (``accounts.services.asc_designate``: audit, emails, invitation when no account yet)."""
    authorize_staff(actor=actor, customer=customer, action="asc.designate", permission=StaffPermission.MANAGE_CUSTOMERS)
    return asc_designate(customer=customer, actor=actor, email=email)


def customer_flexnet_set(*, customer: Customer, actor: User, managed: bool) -> Customer:
    """FlexNet management in the portal on or off for a customer, through
    ``accounts.services.customer_update`` (audited). Needs ``MANAGE_CUSTOMERS``."""
    authorize_staff(
        actor=actor, customer=customer, action="customer.update", permission=StaffPermission.MANAGE_CUSTOMERS
    )
    return customer_update(customer=customer, actor=actor, name=customer.name, flexnet_managed=managed)
