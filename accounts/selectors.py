"""Every read of accounts data. Customer-scoped reads take the customer."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import AuditEvent, Customer, Invitation, Membership, User


def memberships_for_user(*, user: User) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("customer").order_by("customer__number")


def membership_list(*, customer: Customer) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(customer=customer)
        .select_related("user", "added_by")
        .order_by("user__email")
    )


def invitation_pending_list(*, customer: Customer) -> QuerySet[Invitation]:
    return Invitation.objects.pending().filter(customer=customer).select_related("invited_by").order_by("email")


def audit_event_list(*, customer: Customer) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(customer=customer).order_by("-created_at", "-id")
