"""Writes of the cockpit. "See as customer" lives in the staff session (no table): starting
and ending it are audited on the customer, so its ASC reads who looked and as which role."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.access import SUPPORT_VIEW_SESSION_KEY, authorize, authorize_staff
from accounts.audit import audit_record
from accounts.models import Customer, Invitation, Membership, User
from accounts.notifications import notification_queue, notification_recipients
from accounts.roles import Permission, Role, StaffPermission
from accounts.services import asc_designate, customer_update
from activations.models import EMERGENCY_LICENSE_MAX_DAYS, EmergencyLicense, LicenseServer
from activations.selectors import server_activations
from activations.services import (
    EmergencyHost,
    HostInput,
    emergency_days_clean,
    emergency_host_clean,
    emergency_license_download,
    emergency_license_issue,
    rehost_grant_extra,
)
from portal.errors import PortalError

from .models import REQUEST_SLA, RequestComment, RequestKind, RequestState, SupportRequest


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
        customer=customer,
        actor=actor,
        action="support.view_as_started",
        target=customer.number,
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
            customer=customer,
            actor=actor,
            action="support.view_as_ended",
            target=customer.number,
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


# --- Requests from customers ------------------------------------------------------------
#
# Filing needs the permission the underlying action needs (``KIND_PERMISSION``), reading needs
# VIEW, deciding needs the staff matrix. Approving applies the change through the service
# that owns it (``rehost_grant_extra``, ``asc_designate``, ``customer_update``) in the same
# transaction as the state change. Every step is audited on the customer and emailed to the
# other side through the outbox: the customer side is the filer and the customer's ASCs, the
# support side ``PORTAL_SUPPORT_EMAIL``.

KIND_PERMISSION: Mapping[RequestKind, Permission] = {
    RequestKind.EXTRA_REHOST: Permission.CHANGE_LICENSE_SERVER,
    RequestKind.ASC_CHANGE: Permission.MANAGE_USERS,
    RequestKind.FLEXNET_ON: Permission.MANAGE_LICENSING_SETTINGS,
    # A temporary file for a new host while a rehost is sorted out: who may rehost the server
    # may ask for it (the matrix's "Change / rehost license server"; no new permission).
    RequestKind.EMERGENCY_LICENSE: Permission.CHANGE_LICENSE_SERVER,
}

# Kinds that name one of the customer's license servers.
SERVER_KINDS = frozenset({RequestKind.EXTRA_REHOST, RequestKind.EMERGENCY_LICENSE})


def request_kinds_for(access_has: Callable[[Permission], bool]) -> list[RequestKind]:
    """The kinds a member may file, from the matrix (``access.has``)."""
    return [kind for kind in RequestKind if access_has(KIND_PERMISSION[kind])]


def _request_notify(
    *, request: SupportRequest, event: str, to_customer: bool, to_support: bool, comment: str = ""
) -> None:
    recipients: list[str] = []
    if to_customer:
        recipients += notification_recipients(customer=request.customer)
        if request.filed_by is not None and request.filed_by.is_active:
            recipients.append(request.filed_by.email)
    if to_support:
        recipients.append(settings.PORTAL_SUPPORT_EMAIL)
    notification_queue(
        customer=request.customer,
        event=f"support_request.{event}",
        template="support_request",
        context={
            "request": request,
            "event": event,
            "comment": comment,
            "kind_label": RequestKind(request.kind).label,
            "emergency": request.emergency_license if event == "approved" else None,
        },
        recipients=recipients,
    )


def _request_lock(request: SupportRequest) -> SupportRequest:
    return (
        SupportRequest.objects.select_for_update(of=("self",))
        .select_related("customer", "server__customer", "filed_by", "emergency_license")
        .get(pk=request.pk)
    )


@dataclass(frozen=True)
class _Filing:
    kind: RequestKind
    reason: str
    server: LicenseServer | None
    asc_email: str
    host: EmergencyHost | None
    emergency_days: int | None


def _filing_clean(
    *,
    customer: Customer,
    kind: RequestKind,
    reason: str,
    server: LicenseServer | None,
    asc_email: str,
    host: HostInput | None,
    emergency_days: int | None,
) -> _Filing:
    """What is filed, checked for its kind (PortalError on the field at fault)."""
    reason = reason.strip()
    if not reason:
        raise PortalError(_("Say why you need it."), field="reason")
    if kind in SERVER_KINDS:
        if server is None or server.customer_id != customer.pk or server.retired_at is not None:
            raise PortalError(_("Choose the license server."), field="server")
    else:
        server = None
    if kind == RequestKind.ASC_CHANGE and not asc_email:
        raise PortalError(_("Give the email of the new Support Coordinator (ASC)."), field="asc_email")
    if kind == RequestKind.FLEXNET_ON and customer.flexnet_managed:
        raise PortalError(_("FlexNet management in the portal is already on."), field="kind")
    clean_host, days = None, None
    if kind == RequestKind.EMERGENCY_LICENSE:
        clean_host, days = _emergency_clean(server=server, host=host, emergency_days=emergency_days)
    return _Filing(
        kind=kind,
        reason=reason[:2000],
        server=server,
        asc_email=asc_email.lower() if kind == RequestKind.ASC_CHANGE else "",
        host=clean_host,
        emergency_days=days,
    )


def _emergency_clean(
    *, server: LicenseServer, host: HostInput | None, emergency_days: int | None
) -> tuple[EmergencyHost, int]:
    """The new host (``hostids``, not one of the customer's) and the days (1..14) of an
    emergency request; the server must have something activated to put in the file."""
    days = emergency_days_clean(emergency_days)
    clean_host = emergency_host_clean(server=server, host=host or HostInput("", "", ""))
    if not server_activations(server=server).exists():
        raise PortalError(_("Nothing is activated on this license server: there is nothing to put in the file."))
    return clean_host, days


def emergency_requests_expired_close(*, server: LicenseServer | None = None) -> int:
    """Approved emergency requests whose file has expired are done (by no one: the expiry
    closes them, audited without an actor), for ``server`` or for every server (the daily
    beat task ``support.tasks.emergency_requests_expired_close``): the server may have a new
    emergency (the one-per-server index counts open and approved). Returns how many closed."""
    today = timezone.localdate()
    expired = SupportRequest.objects.select_for_update().filter(
        kind=RequestKind.EMERGENCY_LICENSE,
        state=RequestState.APPROVED,
        emergency_license__expires_on__lt=today,
    )
    if server is not None:
        expired = expired.filter(server=server)
    closed = 0
    for request in expired:
        closed += 1
        _request_done(request, actor=None, expired=True)
    return closed


def _request_done(request: SupportRequest, *, actor: User | None, **details: object) -> SupportRequest:
    """The request is done (by ``actor``, or by no one when its emergency file expired). Audited."""
    request.state = RequestState.DONE
    request.closed_at = timezone.now()
    request.save(update_fields=["state", "closed_at"])
    audit_record(
        customer=request.customer,
        actor=actor,
        action="support_request.done",
        target=f"#{request.pk}",
        details={"kind": request.kind, **details},
    )
    return request


def request_file(
    *,
    customer: Customer,
    actor: User,
    kind: RequestKind | str,
    reason: str,
    server: LicenseServer | None = None,
    asc_email: str = "",
    host: HostInput | None = None,
    emergency_days: int | None = None,
) -> SupportRequest:
    """A member asks support for something the portal cannot do alone. Needs the permission
    of the underlying action. One open request per kind (and server) at a time; for an
    emergency license one open or approved (file still valid) per server, which a partial
    unique index also holds against concurrent filings. Audited; support and the customer's
    ASCs (and the filer) are emailed on commit."""
    try:
        kind = RequestKind(kind)
    except ValueError:
        raise PortalError(_("Choose what you need."), field="kind") from None
    authorize(actor=actor, customer=customer, permission=KIND_PERMISSION[kind], action="support_request.file")
    filing = _filing_clean(
        customer=customer,
        kind=kind,
        reason=reason,
        server=server,
        asc_email=asc_email,
        host=host,
        emergency_days=emergency_days,
    )
    try:
        with transaction.atomic():
            return _request_create(customer=customer, actor=actor, filing=filing)
    except IntegrityError:
        # Another filing of an emergency for this server committed first (the unique index).
        raise PortalError(_one_emergency(), field="kind") from None


def _one_emergency() -> str:
    return _(
        "This license server already has an emergency license request open or an emergency license in use; "
        "add a comment to that request instead."
    )


def _request_create(*, customer: Customer, actor: User, filing: _Filing) -> SupportRequest:
    Customer.objects.select_for_update().filter(pk=customer.pk).values_list("pk", flat=True).first()
    kind, server = filing.kind, filing.server
    if kind == RequestKind.EMERGENCY_LICENSE:
        emergency_requests_expired_close(server=server)
        if (
            SupportRequest.objects.filter(
                kind=kind, server=server, state__in=[RequestState.OPEN, RequestState.APPROVED]
            ).exists()
            # A file still valid counts even when support has marked its request done.
            or EmergencyLicense.objects.filter(server=server, expires_on__gte=timezone.localdate()).exists()
        ):
            raise PortalError(_one_emergency(), field="kind")
    elif SupportRequest.objects.filter(customer=customer, kind=kind, server=server, state=RequestState.OPEN).exists():
        raise PortalError(_("A request of this kind is already open; add a comment to it instead."), field="kind")
    now = timezone.now()
    host = filing.host
    request = SupportRequest.objects.create(
        customer=customer,
        kind=kind,
        server=server,
        asc_email=filing.asc_email,
        reason=filing.reason,
        filed_by=actor,
        created_at=now,
        due_at=now + REQUEST_SLA,
        host_name=host.host_name if host else "",
        hostid_type=host.hostid_type if host else "",
        host_id=host.host_id if host else "",
        emergency_days=filing.emergency_days,
    )
    audit_record(
        customer=customer,
        actor=actor,
        action="support_request.filed",
        target=f"#{request.pk}",
        details={
            "kind": kind.value,
            **({"server": server.name} if server else {}),
            **({"asc_email": request.asc_email} if request.asc_email else {}),
            **({"host_id": host.host_id, "days": filing.emergency_days} if host else {}),
        },
    )
    _request_notify(request=request, event="filed", to_customer=True, to_support=True)
    return request


def request_comment(*, request: SupportRequest, actor: User, body: str, as_support: bool) -> RequestComment:
    """A comment, from the customer's side (the filing permission) or support's
    (``HANDLE_REQUESTS``); the other side is emailed. Audited."""
    if as_support:
        authorize_staff(
            actor=actor,
            customer=request.customer,
            action="support_request.comment",
            permission=StaffPermission.HANDLE_REQUESTS,
        )
    else:
        authorize(
            actor=actor,
            customer=request.customer,
            permission=KIND_PERMISSION[RequestKind(request.kind)],
            action="support_request.comment",
        )
    body = body.strip()
    if not body:
        raise PortalError(_("Write a comment."), field="body")
    with transaction.atomic():
        request = _request_lock(request)
        comment = RequestComment.objects.create(
            request=request, author=actor, author_email=actor.email, from_support=as_support, body=body[:4000]
        )
        audit_record(
            customer=request.customer,
            actor=actor,
            action="support_request.commented",
            target=f"#{request.pk}",
            details={"from_support": as_support},
        )
        _request_notify(
            request=request, event="commented", to_customer=as_support, to_support=not as_support, comment=comment.body
        )
        return comment


def _request_decide(*, request: SupportRequest, actor: User, state: RequestState, comment: str) -> SupportRequest:
    request.state = state
    request.decided_at = timezone.now()
    request.decided_by = actor
    request.save(update_fields=["state", "decided_at", "decided_by"])
    if comment.strip():
        RequestComment.objects.create(
            request=request, author=actor, author_email=actor.email, from_support=True, body=comment.strip()[:4000]
        )
    audit_record(
        customer=request.customer,
        actor=actor,
        action=f"support_request.{state.value}",
        target=f"#{request.pk}",
        details={"kind": request.kind},
    )
    _request_notify(request=request, event=state.value, to_customer=True, to_support=True, comment=comment.strip())
    return request


def request_approve(*, request: SupportRequest, actor: User, comment: str = "") -> SupportRequest:
    """Support approves an open request and applies it, in one transaction: an extra rehost
    of the server (``rehost_grant_extra``), the new ASC (``asc_designate``), FlexNet
    management on (``customer_update``), or an emergency file (``emergency_license_issue``,
    which also needs ``ISSUE_EMERGENCY_LICENSES``). Needs ``APPROVE_REQUESTS``. Audited; both
    sides emailed (for an emergency, with the link to download the file)."""
    authorize_staff(
        actor=actor,
        customer=request.customer,
        action="support_request.approve",
        permission=StaffPermission.APPROVE_REQUESTS,
    )
    if request.kind == RequestKind.EMERGENCY_LICENSE:
        authorize_staff(
            actor=actor,
            customer=request.customer,
            action="license.emergency_issue",
            permission=StaffPermission.ISSUE_EMERGENCY_LICENSES,
        )
    with transaction.atomic():
        request = _request_lock(request)
        if not request.is_open:
            raise PortalError(_("This request has already been decided."))
        kind = RequestKind(request.kind)
        if kind == RequestKind.EXTRA_REHOST:
            rehost_grant_extra(server=request.server, actor=actor, note=f"request #{request.pk}")
        elif kind == RequestKind.ASC_CHANGE:
            asc_designate(customer=request.customer, actor=actor, email=request.asc_email)
        elif kind == RequestKind.EMERGENCY_LICENSE:
            request.emergency_license = emergency_license_issue(
                server=request.server,
                actor=actor,
                host=HostInput(request.host_name, request.hostid_type, request.host_id),
                days=request.emergency_days or EMERGENCY_LICENSE_MAX_DAYS,
                reference=request.pk,
            )
            request.save(update_fields=["emergency_license"])
        else:
            customer_update(customer=request.customer, actor=actor, name=request.customer.name, flexnet_managed=True)
        return _request_decide(request=request, actor=actor, state=RequestState.APPROVED, comment=comment)


def request_reject(*, request: SupportRequest, actor: User, comment: str) -> SupportRequest:
    """Support refuses an open request, saying why. Needs ``APPROVE_REQUESTS``. Audited; both sides emailed."""
    authorize_staff(
        actor=actor,
        customer=request.customer,
        action="support_request.reject",
        permission=StaffPermission.APPROVE_REQUESTS,
    )
    if not comment.strip():
        raise PortalError(_("Say why the request is rejected."), field="comment")
    with transaction.atomic():
        request = _request_lock(request)
        if not request.is_open:
            raise PortalError(_("This request has already been decided."))
        return _request_decide(request=request, actor=actor, state=RequestState.REJECTED, comment=comment)


def request_close(*, request: SupportRequest, actor: User) -> SupportRequest:
    """Support marks an approved request done (the customer has what it asked for).
    Needs ``HANDLE_REQUESTS``. Audited."""
    authorize_staff(
        actor=actor,
        customer=request.customer,
        action="support_request.close",
        permission=StaffPermission.HANDLE_REQUESTS,
    )
    with transaction.atomic():
        request = _request_lock(request)
        if request.state != RequestState.APPROVED:
            raise PortalError(_("Only an approved request can be marked done."))
        return _request_done(request, actor=actor)


def request_emergency_file(*, request: SupportRequest, actor: User) -> EmergencyLicense:
    """The emergency file issued for ``request``, to download (``DOWNLOAD_LICENSE_FILES``,
    audited): refused (PortalError) before approval and once it has expired."""
    if request.emergency_license is None:
        raise PortalError(_("No emergency license has been issued for this request."))
    return emergency_license_download(emergency=request.emergency_license, actor=actor)
