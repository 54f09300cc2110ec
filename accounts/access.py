"""Access decisions for customer pages and services, all derived from ``roles.py``.

``CustomerAccess`` is the one object that views, templates and navigation ask
(``{% if can.activate_entitlements %}``); ``authorize`` is what services call so that
Celery, the support console and any future API cannot bypass the matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from http import HTTPStatus
from typing import Any, ClassVar, TypeVar

from allauth.mfa.utils import is_mfa_enabled
from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from portal.errors import AccessDenied, PortalError
from portal.forms import form_error_from

from .audit import audit_record
from .models import Customer, Membership, User
from .roles import Permission, Role, StaffPermission, has_permission, has_staff_permission, role_permissions
from .selectors import memberships_for_user

T = TypeVar("T")


class UnknownPermission(Exception):
    """A template (or code) asked ``can.<name>`` for a name that is no ``Permission``.

    Not an AttributeError: Django templates swallow those and render the typo as False, so
    ``{% if can.activate_entitelments %}`` would silently hide the button. This one is not
    swallowed: the page fails to render (and the template scan in the tests names the typo)."""


class PermissionFlags:
    """Template-friendly view of a permission set: ``can.activate_entitlements``."""

    def __init__(self, permissions: frozenset[Permission]) -> None:
        self._permissions = permissions

    def __getattr__(self, name: str) -> bool:
        if name.startswith("_"):
            raise AttributeError(name)  # Python's protocols (copy, pickle, __html__) ask for these
        try:
            return Permission(name) in self._permissions
        except ValueError:
            raise UnknownPermission(f"Unknown permission {name!r}; known: {[p.value for p in Permission]}") from None

    def __iter__(self):
        return iter(sorted(self._permissions, key=lambda p: list(Permission).index(p)))


@dataclass(frozen=True)
class CustomerAccess:
    customer: Customer
    membership: Membership
    # True in support's "see as customer" mode: ``membership`` is an unsaved stand-in for the
    # chosen role, the pages say so in a banner, and every non-GET request is refused.
    support_view: bool = False

    @property
    def role(self) -> Role:
        return Role(self.membership.role)

    @cached_property
    def permissions(self) -> frozenset[Permission]:
        return role_permissions(self.role) if self.membership.user.is_active else frozenset()

    @cached_property
    def can(self) -> PermissionFlags:
        return PermissionFlags(self.permissions)

    def has(self, permission: Permission) -> bool:
        return has_permission(self.membership, permission)

    def page_context(self, **extra: Any) -> dict[str, Any]:
        """What every customer page's template starts from (the header, the navigation, the
        breadcrumbs and ``{% if can.<permission> %}`` read it): the one place it is built."""
        return {"customer": self.customer, "access": self, "can": self.can, **extra}


def customer_access_for(memberships: list[Membership], customer_number: str) -> CustomerAccess | None:
    """The access that a user's memberships (``selectors.memberships_for_user``) give to a customer, or None
    when they are not a member."""
    for membership in memberships:
        if membership.customer.number == customer_number:
            return CustomerAccess(customer=membership.customer, membership=membership)
    return None


# "See as customer": support's session flag, scoped to one customer and one role. Started and
# ended only by the services in ``support.services``; read here, in the access resolution of
# every customer page, so no view can forget it.
SUPPORT_VIEW_SESSION_KEY = "support_view_as"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def support_view_state(request: HttpRequest) -> dict[str, str] | None:
    """The "see as customer" flag of this session, ``{"customer": number, "role": value}``, or None."""
    session = getattr(request, "session", None)
    state = session.get(SUPPORT_VIEW_SESSION_KEY) if session is not None else None
    return state if isinstance(state, dict) else None


def support_view_access(request: HttpRequest, customer_number: str) -> CustomerAccess | None:
    """The read-only access support staff get to ``customer_number`` when their session views
    it as a role: a CustomerAccess whose membership is an unsaved stand-in carrying that role
    (so the matrix decides what the pages show, as for a real member). None unless the flag
    names this customer and the staff role still carries ``VIEW_AS_CUSTOMER``."""
    state = support_view_state(request)
    if state is None or state.get("customer") != customer_number or state.get("role") not in Role.values:
        return None
    if not has_staff_permission(request.user, StaffPermission.VIEW_AS_CUSTOMER):
        return None
    customer = Customer.objects.filter(number=customer_number).first()
    if customer is None:
        return None
    stand_in = Membership(user=request.user, customer=customer, role=Role(state["role"]))
    return CustomerAccess(customer=customer, membership=stand_in, support_view=True)


def is_support_staff(user: User) -> bool:
    """The one rule for the reseller's support staff: an active ``is_staff`` account."""
    return bool(user.is_active and user.is_staff)


# The attribute of a request's user object holding the memberships its access check read.
_READ_THIS_REQUEST = "_memberships_read_this_request"


def memberships_read(*, user: User, memberships: list[Membership]) -> None:
    """Remembers, on this request's user object, the memberships the request's access check
    has just read from the database (a customer page's ``memberships_for_user``, an API
    token's owner membership), so that ``authorize`` in the service the request calls does not
    read the same row again a few milliseconds later. The object lives as long as the request;
    Celery tasks and the support console build their own and always query."""
    setattr(user, _READ_THIS_REQUEST, {m.customer_id: m for m in memberships})


def _membership(actor: User, customer: Customer) -> Membership | None:
    read = getattr(actor, _READ_THIS_REQUEST, None)
    if read is not None and customer.pk in read:
        return read[customer.pk]
    return Membership.objects.filter(user=actor, customer=customer).first()


def authorize(*, actor: User, customer: Customer, permission: Permission, action: str) -> None:
    """Raises AccessDenied (and records the denied attempt) unless the actor may act.

    Support staff (``is_support_staff``) act for every customer from the support console.
    Call it before opening the service's transaction so the denial record is kept. The role
    is the one the request's own access check read (``memberships_read``), else it is read.
    """
    if is_support_staff(actor):
        return
    membership = _membership(actor, customer)
    if membership is not None:
        membership.user = actor
        if has_permission(membership, permission):
            return
    deny(actor=actor, customer=customer, action=action, reason=permission.value)


def authorize_staff(
    *,
    actor: User,
    action: str,
    customer: Customer | None = None,
    message: str | None = None,
    permission: StaffPermission | None = None,
) -> None:
    """Raises AccessDenied (and records the denied attempt) unless the actor is support staff:
    the one check for everything only support may do. With ``permission``, the actor's staff
    role (``roles.staff_role``) must also carry it, from ``STAFF_ROLE_PERMISSIONS`` (reason:
    the permission's value); without, any active staff account passes (reason ``staff_only``),
    as the support console's older services ask. ``message`` says what was refused when the
    generic one would not. Like ``authorize``, call it before the service's transaction opens
    so the denial record is kept."""
    if not is_support_staff(actor):
        deny(actor=actor, customer=customer, action=action, reason="staff_only", message=message)
    if permission is not None and not has_staff_permission(actor, permission):
        deny(actor=actor, customer=customer, action=action, reason=permission.value, message=message)


def console_authorize(
    *, actor: User, action: str, permission: str, customer: Customer | None = None, message: str | None = None
) -> None:
    """Support-console work (imports and the like): support staff (``authorize_staff``) who
    also hold the Django model permission ``permission`` (e.g. ``"entitlements.add_entitlement"``;
    superusers hold every one). Raises AccessDenied and records the denied attempt otherwise.
    The console's views ask the same question through ``ModelAdmin.has_add_permission``."""
    authorize_staff(actor=actor, action=action, customer=customer, message=message)
    if not actor.has_perm(permission):
        deny(
            actor=actor,
            customer=customer,
            action=action,
            reason="console_permission",
            details={"permission": permission},
            message=message,
        )


def deny(
    *,
    actor: User,
    customer: Customer | None,
    action: str,
    reason: str,
    details: dict[str, Any] | None = None,
    message: str | None = None,
) -> None:
    """Records the denied attempt and raises ``AccessDenied`` (marked as audited)."""
    audit_record(
        customer=customer,
        actor=actor,
        action=action,
        details={"reason": reason, **(details or {})},
        denied=True,
    )
    raise AccessDenied(message or _("Your role does not allow this action."), audited=True)


def forbidden(request: HttpRequest, access: CustomerAccess, permission: Permission | None) -> HttpResponse:
    if permission is not None and access.has(permission):
        # A service refused something the role does carry (e.g. the ASC role, which only
        # support grants): name no permission the reader already has.
        permission = None
    return render(
        request,
        "403.html",
        access.page_context(missing_permission=permission),
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
        request.my_memberships = memberships = memberships_for_user(user=request.user)
        memberships_read(user=request.user, memberships=memberships)
        number = kwargs.get("customer_number", "")
        # Support's read-only view comes first: staff who are also members see what they chose.
        access = support_view_access(request, number) or customer_access_for(memberships, number)
        if access is None:
            raise Http404(_("No such customer."))
        self.access = access
        self.customer = access.customer
        request.customer_access = access
        if access.support_view:
            refused = self.support_view_check(request, access)
            if refused is not None:
                return refused
        if access.customer.mfa_required and not is_mfa_enabled(request.user):
            messages.warning(
                request,
                _("%(customer)s requires two-factor authentication. Set it up to continue.")
                % {"customer": access.customer},
            )
            return redirect("mfa_index")
        if not access.has(self.required_permission):
            self.denied_record(request, self.required_permission)
            return forbidden(request, access, self.required_permission)
        try:
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        except AccessDenied as denial:
            # Raised anywhere below (a service refusing what the view's own check let
            # through, e.g. a forged request for the ASC role): always 403, never a form
            # error. ``deny`` has recorded it; a denial raised without it is recorded here.
            if not denial.audited:
                self.denied_record(request, self.required_permission)
            return forbidden(request, access, self.required_permission)

    def support_view_check(self, request: HttpRequest, access: CustomerAccess) -> HttpResponse | None:
        """Support's "see as customer" mode: MFA first (when staff must have it), then every
        request is audited for the customer (its ASC reads it in the audit log); anything but
        GET/HEAD/OPTIONS is refused with 403 before the view runs, so no service is reached."""
        from django.conf import settings

        if settings.PORTAL_STAFF_MFA_REQUIRED and not is_mfa_enabled(request.user):
            messages.warning(request, _("Support staff must set up two-factor authentication first."))
            return redirect("mfa_index")
        details = {"role": access.role.value, "method": request.method}
        if request.method not in SAFE_METHODS:
            audit_record(
                customer=access.customer,
                actor=request.user,
                action="support.view_as_write",
                target=request.path[:255],
                details=details,
                denied=True,
            )
            return forbidden(request, access, None)
        audit_record(
            customer=access.customer,
            actor=request.user,
            action="support.view_as_page",
            target=request.path[:255],
            details=details,
        )
        return None

    def denied_record(self, request: HttpRequest, permission: Permission) -> None:
        audit_record(
            customer=self.access.customer,
            actor=request.user,
            action="access.denied",
            target=request.path[:255],
            details={"method": request.method, "permission": permission.value},
            denied=True,
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)  # type: ignore[misc]
        context.update(self.access.page_context())
        return context

    def submit(
        self,
        form: forms.Form,
        action: Callable[[dict[str, Any]], T],
        *,
        success: Callable[[T], str],
        then: Callable[[T], HttpResponse],
    ) -> HttpResponse | None:
        """The one write flow of a customer page: for a valid form, runs ``action(cleaned_data)``
        (one service call), flashes ``success(result)`` and answers ``then(result)``.

        A service's refusal (``PortalError``) becomes the form's error; a denial
        (``AccessDenied``) is not a refusal and passes on to ``dispatch`` (403). None means:
        show the form again, with its errors::

            return self.submit(form, lambda data: thing_add(customer=..., actor=..., **data),
                               success=lambda thing: _("Added."), then=lambda thing: redirect(...),
                               ) or self.render_page("form.html", HTTPStatus.BAD_REQUEST, form=form)
        """
        if not form.is_valid():
            return None
        try:
            result = action(form.cleaned_data)
        except PortalError as refused:
            form_error_from(form, refused)
            return None
        messages.success(self.request, success(result))
        return then(result)

    def refused(self, error: PortalError) -> None:
        """A refusal of a write without a form (a button): shown as an error message."""
        messages.error(self.request, error.message)

    def render_page(self, template_name: str, status: int = HTTPStatus.OK, **extra: Any) -> HttpResponse:
        """``template_name`` rendered with the customer-page context and ``extra``."""
        return render(self.request, template_name, self.access.page_context(**extra), status=status)
