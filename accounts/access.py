"""Access decisions for customer pages and services, all derived from ``roles.py``.

``CustomerAccess`` is the one object that views, templates and navigation ask
(``{% if can.activate_entitlements %}``); ``authorize`` is what services call so that
Celery, the support console and any future API cannot bypass the matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from http import HTTPStatus
from typing import Any, ClassVar

from allauth.mfa.utils import is_mfa_enabled
from django.contrib import messages
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from portal.errors import AccessDenied
from portal.fragments import customer_value

from .audit import audit_record
from .models import Customer, Membership, User
from .roles import Permission, Role, has_permission, role_permissions


class PermissionFlags:
    """Template-friendly view of a permission set: ``can.activate_entitlements``."""

    def __init__(self, permissions: frozenset[Permission]) -> None:
        self._permissions = permissions

    def __getattr__(self, name: str) -> bool:
        try:
            return Permission(name) in self._permissions
        except ValueError:
            # A typo in a template must not silently grant or hide; fail loudly in tests.
            raise AttributeError(f"Unknown permission {name!r}") from None

    def __iter__(self):
        return iter(sorted(self._permissions, key=lambda p: list(Permission).index(p)))


@dataclass(frozen=True)
class CustomerAccess:
    customer: Customer
    membership: Membership

    @property
    def role(self) -> Role:
        return Role(self.membership.role)

    @cached_property
    def permissions(self) -> frozenset[Permission]:
        return role_permissions(self.role) if self.membership.user.is_active else frozenset()

    @cached_property
    def can(self) -> PermissionFlags:
        return PermissionFlags(self.permissions)

    @cached_property
    def activations_visible(self) -> bool:
        # Asked by every activations page: cached with the customer's data version.
        return customer_value(
            name="activations_visible", customer=self.customer, compute=lambda: self.customer.activations_visible
        )

    def has(self, permission: Permission) -> bool:
        return has_permission(self.membership, permission)


def _memberships_sql() -> tuple[str, list[str], list[str]]:
    """The statement and the field names of its columns, from the models (no user input)."""
    memberships, customers = Membership._meta.concrete_fields, Customer._meta.concrete_fields
    select = [f"m.{f.column}" for f in memberships] + [f"c.{f.column}" for f in customers]
    sql = (
        f"SELECT {', '.join(select)} FROM {Membership._meta.db_table} m "  # noqa: S608 - names from the models
        f"JOIN {Customer._meta.db_table} c ON c.id = m.customer_id WHERE m.user_id = %s ORDER BY c.number"
    )
    return sql, [f.attname for f in memberships], [f.attname for f in customers]


_MEMBERSHIPS_SQL, _MEMBERSHIP_FIELDS, _CUSTOMER_FIELDS = _memberships_sql()


def user_memberships(user: User) -> list[Membership]:
    """All the user's memberships with their customers, in the customer switcher's order: one
    query for a customer page's access check and its switcher (``accounts.context_processors``).

    Every customer page runs it, so it is one SQL statement built from the models' fields at
    import rather than an ORM query compiled per request (0.2 ms instead of 1 ms, most of a
    cached page's time; docs/performance.md). ``Customer.activations_visible`` stays lazy:
    the navigation that shows it is cached with the customer's data version.
    """
    with connection.cursor() as cursor:
        cursor.execute(_MEMBERSHIPS_SQL, [user.pk])
        rows = cursor.fetchall()
    split = len(_MEMBERSHIP_FIELDS)
    memberships = []
    for row in rows:
        membership = Membership.from_db("default", _MEMBERSHIP_FIELDS, row[:split])
        membership.customer = Customer.from_db("default", _CUSTOMER_FIELDS, row[split:])
        membership.user = user
        memberships.append(membership)
    return memberships


def customer_access_for(memberships: list[Membership], customer_number: str) -> CustomerAccess | None:
    """The access that a user's memberships (``user_memberships``) give to a customer, or None
    when they are not a member."""
    for membership in memberships:
        if membership.customer.number == customer_number:
            return CustomerAccess(customer=membership.customer, membership=membership)
    return None


def authorize(*, actor: User, customer: Customer, permission: Permission, action: str) -> None:
    """Raises AccessDenied (and records the denied attempt) unless the actor may act.

    Support staff (``is_staff``) act for every customer from the support console.
    Call it before opening the service's transaction so the denial record is kept.
    """
    if actor.is_active and actor.is_staff:
        return
    membership = Membership.objects.filter(user=actor, customer=customer).first()
    if membership is not None:
        membership.user = actor
        if has_permission(membership, permission):
            return
    deny(actor=actor, customer=customer, action=action, reason=permission.value)


def console_authorize(*, actor: User, action: str, permission: str, customer: Customer | None = None) -> None:
    """Support-console work (imports and the like): active support staff holding the Django
    model permission ``permission`` (e.g. ``"entitlements.add_entitlement"``; superusers hold
    every one). Raises AccessDenied and records the denied attempt otherwise. The console's
    views ask the same question through ``ModelAdmin.has_add_permission``."""
    if actor.is_active and actor.is_staff and actor.has_perm(permission):
        return
    deny(actor=actor, customer=customer, action=action,  # type: ignore[arg-type]
         reason="staff_only" if not actor.is_staff else "console_permission", details={"permission": permission})


def deny(*, actor: User, customer: Customer, action: str, reason: str, details: dict[str, Any] | None = None) -> None:
    audit_record(
        customer=customer,
        actor=actor,
        action=action,
        details={"reason": reason, **(details or {})},
        denied=True,
    )
    raise AccessDenied(_("Your role does not allow this action."))


def forbidden(request: HttpRequest, access: CustomerAccess, permission: Permission | None) -> HttpResponse:
    return render(
        request,
        "403.html",
        {"customer": access.customer, "access": access, "can": access.can, "missing_permission": permission},
        status=HTTPStatus.FORBIDDEN,
    )


class CustomerViewMixin:
    """Resolves ``/c/<customer_number>/`` for a view and enforces its declared permission.

    Non-members get 404 (the customer's existence is not revealed); members whose role
    lacks ``required_permission`` get 403, and the attempt is audited. Every view under
    ``/c/`` uses this mixin; a test walks the URL resolver to make sure of it.
    """

    required_permission: ClassVar[Permission | None] = None

    customer: Customer
    access: CustomerAccess

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if self.required_permission is None:
            raise TypeError(f"{type(self).__name__} declares no required_permission")
        if not request.user.is_authenticated:
            from django.contrib.auth.views import redirect_to_login

            return redirect_to_login(request.get_full_path())
        # The same rows feed the customer switcher, so a customer page costs one query here.
        request.my_memberships = memberships = user_memberships(request.user)
        access = customer_access_for(memberships, kwargs.get("customer_number", ""))
        if access is None:
            raise Http404(_("No such customer."))
        self.access = access
        self.customer = access.customer
        request.customer_access = access
        if access.customer.mfa_required and not is_mfa_enabled(request.user):
            messages.warning(
                request,
                _("%(customer)s requires two-factor authentication. Set it up to continue.")
                % {"customer": access.customer},
            )
            return redirect("mfa_index")
        if not access.has(self.required_permission):
            audit_record(
                customer=access.customer,
                actor=request.user,
                action="access.denied",
                target=request.path[:255],
                details={"method": request.method, "permission": self.required_permission.value},
                denied=True,
            )
            return forbidden(request, access, self.required_permission)
        try:
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        except AccessDenied:
            # A service refused (and audited) what the view's own check let through, e.g.
            # a forged request for the ASC role.
            return forbidden(request, access, self.required_permission)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)  # type: ignore[misc]
        context.update(customer=self.customer, access=self.access, can=self.access.can)
        return context
