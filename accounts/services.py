"""Every write to accounts, memberships and invitations.

Each service is keyword-only, checks the actor's permission through ``access.authorize``
(before its transaction, so a denied attempt stays recorded), changes data atomically,
appends an audit event and schedules the ASC notification on commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal.errors import PortalError
from portal.i18n import deferred
from portal.imports import PlanChanged

from .access import authorize, authorize_staff, deny, is_support_staff
from .audit import audit_ip, audit_record, audit_records_bulk
from .emails import email_normalise
from .models import AuditEvent, Customer, Invitation, Membership, Notification, User
from .notifications import TRANSIENT_SEND_ERRORS, notification_queue, notification_send, notify_ascs
from .roles import GRANTABLE_ROLES, Permission, Role
from .selectors import AddOutcome, AddPlanLine, AddRequest, user_add_plan, user_add_plan_digest
from .sessions import user_sessions_end


def verified_user_for_email(email: str) -> User | None:
    """The active user who holds ``email`` *verified*; None when nobody does."""
    address = (
        EmailAddress.objects.annotate(email_lower=Lower("email"))
        .filter(email_lower=email.lower(), verified=True, user__is_active=True)
        .select_related("user")
        .first()
    )
    return address.user if address else None


def _change_context(*, actor: User | None, customer: Customer, **extra: Any) -> dict[str, Any]:
    actor_name = actor.email if actor else gettext_lazy("support")
    return {"actor": actor, "actor_name": actor_name, "customer": customer, **extra}


def _check_grantable(*, actor: User, customer: Customer, role: Role, action: str, target: str) -> None:
    """Only support designates, promotes or demotes an ASC. A portal user asking for it
    (a forged form post) is refused and the attempt audited."""
    if role not in GRANTABLE_ROLES and not is_support_staff(actor):
        deny(actor=actor, customer=customer, action=action, reason="asc_role_reserved", details={"target": target})


# --- Linking by verified email ----------------------------------------------------------


def _invitations_accept(*, user: User, invitations: Any) -> list[Membership]:
    """Turns locked pending invitations into memberships of ``user``. When the user already
    belongs to the customer, an ASC designation upgrades the role; any other invitation
    leaves the existing role as it is. Audited; ASCs notified on commit."""
    linked: list[Membership] = []
    for invitation in invitations:
        membership, created = Membership.objects.get_or_create(
            user=user,
            customer=invitation.customer,
            defaults={"role": invitation.role, "added_by": invitation.invited_by},
        )
        previous_role = None if created else membership.role
        if not created and invitation.role == Role.ASC and membership.role != Role.ASC:
            membership.role = Role.ASC
            membership.save(update_fields=["role"])
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        audit_record(
            customer=invitation.customer,
            actor=user,
            action="invitation.accepted",
            target=user.email,
            details={"email": invitation.email, "role": membership.role, "previous_role": previous_role},
        )
        notify_ascs(
            customer=invitation.customer,
            event="user.joined",
            template="user_changed",
            context=_change_context(
                actor=user,
                customer=invitation.customer,
                change=deferred("%(email)s accepted the invitation and now has the role %(role)s.")
                % {"email": user.email, "role": membership.get_role_display()},
            ),
        )
        linked.append(membership)
    return linked


def _verified_emails(user: User) -> list[str]:
    return [
        email.lower() for email in EmailAddress.objects.filter(user=user, verified=True).values_list("email", flat=True)
    ]


def invitations_accept_for_address(*, user: User, email: str) -> list[Membership]:
    """Accepts every pending invitation for ``email`` on behalf of ``user``, who has just
    proved control of that address *and* holds the account's password: by typing the
    verification code into the session that signed up or added the address (links are not
    used, see ``ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED``), or by setting a new password
    through a reset sent to it. Nothing else links automatically: an invitation to an address
    that was verified already is accepted (or declined) by its holder on the access page.

    Only an address the user holds *verified* links (case-insensitive). Idempotent and safe
    under concurrency: the invitations are locked first.
    """
    email = email.lower()
    if not user.is_active or email not in _verified_emails(user):
        return []
    with transaction.atomic():
        invitations = (
            Invitation.objects.pending()
            .select_for_update(of=("self",))
            .select_related("customer", "invited_by")
            .annotate(email_lower=Lower("email"))
            .filter(email_lower=email)
            .order_by("pk")
        )
        return _invitations_accept(user=user, invitations=invitations)


def _invitation_for_invitee(*, invitation: Invitation, actor: User) -> Invitation:
    """The pending invitation, locked, when it is addressed to one of the actor's verified
    addresses; PortalError otherwise (the same message either way: it reveals nothing)."""
    locked = (
        Invitation.objects.pending()
        .select_for_update(of=("self",))
        .select_related("customer", "invited_by")
        .annotate(email_lower=Lower("email"))
        .filter(pk=invitation.pk, email_lower__in=_verified_emails(actor))
        .first()
    )
    if locked is None or not actor.is_active:
        raise PortalError(_("This invitation is no longer pending."))
    return locked


def invitation_accept(*, invitation: Invitation, actor: User) -> Membership:
    """The invitee accepts an invitation on the access page. Only the holder of the invited
    address (verified) may; being added to a customer is never done without their consent.
    Audited; ASCs notified on commit."""
    with transaction.atomic():
        locked = _invitation_for_invitee(invitation=invitation, actor=actor)
        (membership,) = _invitations_accept(user=actor, invitations=[locked])
        return membership


def invitation_decline(*, invitation: Invitation, actor: User) -> None:
    """The invitee declines an invitation: it links nothing, ever. Audited; ASCs notified
    on commit (so they know the person said no)."""
    with transaction.atomic():
        locked = _invitation_for_invitee(invitation=invitation, actor=actor)
        Invitation.objects.filter(pk=locked.pk).update(cancelled_at=timezone.now())
        audit_record(
            customer=locked.customer,
            actor=actor,
            action="invitation.declined",
            target=locked.email,
            details={"role": locked.role},
        )
        _change_notify(
            customer=locked.customer,
            actor=actor,
            event="user.invitation_declined",
            change=deferred("%(email)s declined the invitation.") % {"email": locked.email},
        )


def email_verify_after_password_reset(*, user: User) -> None:
    """A completed password reset proves that the person who set the new password reads the
    mail sent to the account's address, so a sole unverified address becomes verified and its
    invitations are accepted, and every session of the account ends (a squatter who signed up
    with the address first loses whatever they had).

    This is what lets the real owner of an address take it back from someone who signed
    up with it first and never verified it. Only the account's sole address qualifies: the
    reset form (``accounts.forms.PasswordResetForm``) sends no reset to an unverified address
    that sits beside others.
    """
    user_sessions_end(user=user)
    addresses = list(EmailAddress.objects.filter(user=user))
    if len(addresses) == 1 and not addresses[0].verified and addresses[0].email.lower() == user.email.lower():
        address = addresses[0]
        if address.set_verified(commit=True):
            address.set_as_primary(conditional=True)
            audit_record(customer=None, actor=user, action="email.verified_by_password_reset", target=user.email)
            invitations_accept_for_address(user=user, email=address.email)


# --- Portal users -----------------------------------------------------------------------


def _change_notify(*, customer: Customer, actor: User, event: str, change: str) -> None:
    notify_ascs(
        customer=customer,
        event=event,
        template="user_changed",
        context=_change_context(actor=actor, customer=customer, change=change),
    )


def _role_parse(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise PortalError(_("Choose a valid role."), field="role") from None


def _customer_lock(customer: Customer) -> None:
    """Serialises the user changes of one customer (adds, bulk adds), so a double-submit
    or two colleagues adding the same person cannot both pass the "already there" checks."""
    Customer.objects.select_for_update().filter(pk=customer.pk).values_list("pk", flat=True).first()


def membership_add(*, customer: Customer, actor: User, email: str, role: Role | str) -> Membership | Invitation:
    """Invites a portal user by email; support adds an existing verified account at once.

    A portal user's add is always an invitation, whether or not the address has an account,
    so the answer reveals nothing about other companies' people and nobody joins a customer
    without accepting. Refuses the ASC role to everyone but support (audited as denied). A
    user who is already a member or already invited is refused with a clear message.
    Audited; ASCs are notified on commit; the invitation emails the invitee.
    """
    authorize(actor=actor, customer=customer, permission=Permission.MANAGE_USERS, action="membership.add")
    email = email_normalise(email)
    role = _role_parse(role)
    _check_grantable(actor=actor, customer=customer, role=role, action="membership.add", target=email)
    request = AddRequest(number=1, text=email, email=email, role=role)
    try:
        with transaction.atomic():
            _customer_lock(customer)
            # Support may add an ASC directly; _check_grantable refused everyone else above.
            (line,) = user_add_plan(customer=customer, requests=[request], allow_asc=is_support_staff(actor))
            if line.outcome == AddOutcome.ALREADY_MEMBER:
                raise PortalError(
                    _("%(email)s is already a portal user of this customer.") % {"email": email}, field="email"
                )
            if line.outcome == AddOutcome.ALREADY_INVITED:
                raise PortalError(
                    _("%(email)s has already been invited. Resend or cancel the pending invitation instead.")
                    % {"email": email},
                    field="email",
                )
            if line.outcome == AddOutcome.ADD:
                membership = Membership.objects.create(
                    user_id=line.user_id, customer=customer, role=role, added_by=actor
                )
                audit_record(
                    customer=customer,
                    actor=actor,
                    action="membership.added",
                    target=email,
                    details={"role": role.value},
                )
                _change_notify(
                    customer=customer,
                    actor=actor,
                    event="user.added",
                    change=deferred("%(actor)s added %(email)s as %(role)s.")
                    % {"actor": actor.email, "email": email, "role": role.label},
                )
                return membership
            invitation = Invitation.objects.create(
                customer=customer, email=email, role=role, invited_by=actor, last_sent_at=timezone.now()
            )
            audit_record(
                customer=customer,
                actor=actor,
                action="invitation.created",
                target=email,
                details={"role": role.value},
            )
            _invitation_email(invitation)
            _change_notify(
                customer=customer,
                actor=actor,
                event="user.invited",
                change=deferred("%(actor)s invited %(email)s as %(role)s.")
                % {"actor": actor.email, "email": email, "role": role.label},
            )
            return invitation
    except IntegrityError:
        # A concurrent login linked the same person between the check and the insert.
        raise PortalError(
            _("%(email)s was added at the same moment by someone else.") % {"email": email}, field="email"
        ) from None


def _invitation_email(invitation: Invitation) -> None:
    notification_queue(
        customer=invitation.customer,
        event="invitation.sent",
        template="invitation",
        context={"invitation": invitation, "inviter": invitation.invited_by},
        recipients=[invitation.email],
        languages={},  # an invitee has no account yet: the inviter's language
    )


class BulkPlanChanged(PlanChanged):
    """The data changed between the preview and the apply; nothing was applied."""

    def __init__(self, plan: list[AddPlanLine]) -> None:
        super().__init__(
            _(
                "Portal users changed since the preview, so nothing was applied. "
                "Review the new preview and apply again."
            ),
            plan,
        )


# The ASC notification of a bulk add lists at most this many changes (the audit log has all).
BULK_NOTIFICATION_MAX_LINES = 200


def membership_bulk_add(
    *, customer: Customer, actor: User, requests: Sequence[AddRequest], expected_digest: str
) -> list[AddPlanLine]:
    """Applies a previewed bulk add, all or nothing.

    The plan is computed again under the customer lock; unless it equals the preview
    (``expected_digest``, from ``user_add_plan_digest``) nothing is applied and
    ``BulkPlanChanged`` carries the new plan. A plan with invalid lines is refused; a line
    asking for the ASC role is refused and audited as denied, like a forged single add.

    Writes use bulk inserts (memberships, invitations, one audit event per added or invited
    email). Each invitee gets their invitation email; each ASC gets ONE email per bulk add
    listing the changes (not one per line).
    """
    authorize(actor=actor, customer=customer, permission=Permission.MANAGE_USERS, action="membership.bulk_add")
    asc_lines = [request for request in requests if request.role is not None and request.role not in GRANTABLE_ROLES]
    if asc_lines:
        deny(
            actor=actor,
            customer=customer,
            action="membership.bulk_add",
            reason="asc_role_reserved",
            details={"lines": [request.number for request in asc_lines][:50]},
        )
    with transaction.atomic():
        _customer_lock(customer)
        to_apply = _bulk_plan_checked(customer=customer, requests=requests, expected_digest=expected_digest)
        invitations = _bulk_write(customer=customer, actor=actor, requests=requests, to_apply=to_apply)
        for invitation in invitations:
            invitation.customer = customer
            invitation.invited_by = actor
            _invitation_email(invitation)
        _bulk_notify(customer=customer, actor=actor, to_apply=to_apply)
        return to_apply


def _bulk_plan_checked(
    *, customer: Customer, requests: Sequence[AddRequest], expected_digest: str
) -> list[AddPlanLine]:
    """Plan (under the customer lock): the lines to apply, if the plan is still the preview."""
    plan = user_add_plan(customer=customer, requests=requests)
    if user_add_plan_digest(plan) != expected_digest:
        raise BulkPlanChanged(plan)
    if any(line.blocking for line in plan):
        raise PortalError(_("Correct the invalid lines first; nothing was applied."))
    to_apply = [line for line in plan if line.applies]
    if not to_apply:
        raise PortalError(_("There is nobody to add or invite."))
    return to_apply


def _bulk_write(
    *, customer: Customer, actor: User, requests: Sequence[AddRequest], to_apply: Sequence[AddPlanLine]
) -> list[Invitation]:
    """Apply: the memberships, invitations and their audit events, in bulk inserts."""
    now = timezone.now()
    adds = [line for line in to_apply if line.outcome == AddOutcome.ADD]
    invites = [line for line in to_apply if line.outcome == AddOutcome.INVITE]
    try:
        with transaction.atomic():
            Membership.objects.bulk_create(
                Membership(
                    user_id=line.user_id, customer=customer, role=line.request.role, added_by=actor, created_at=now
                )
                for line in adds
            )
            invitations = Invitation.objects.bulk_create(
                Invitation(
                    customer=customer,
                    email=line.request.email,
                    role=line.request.role,
                    invited_by=actor,
                    created_at=now,
                    last_sent_at=now,
                )
                for line in invites
            )
    except IntegrityError:
        # A concurrent login linked someone in the list: let the user look again.
        raise BulkPlanChanged(user_add_plan(customer=customer, requests=requests)) from None
    # Bulk insert rather than one audit_record per line: same fields, one statement.
    ip_address = audit_ip.get()
    audit_records_bulk(
        [
            AuditEvent(
                customer=customer,
                actor=actor,
                actor_email=actor.email,
                action="membership.added" if line.outcome == AddOutcome.ADD else "invitation.created",
                target=line.request.email[:255],
                details={"role": line.request.role.value, "bulk": True},
                ip_address=ip_address,
                created_at=now,
            )
            for line in to_apply
        ]
    )
    return invitations


def _bulk_notify(*, customer: Customer, actor: User, to_apply: Sequence[AddPlanLine]) -> None:
    """ONE notification to the ASCs listing the changes of a bulk add."""
    changes = [
        (
            deferred("%(email)s added as %(role)s")
            if line.outcome == AddOutcome.ADD
            else deferred("%(email)s invited as %(role)s")
        )
        % {"email": line.request.email, "role": line.request.role.label}
        for line in to_apply
    ]
    notify_ascs(
        customer=customer,
        event="user.bulk_added",
        template="users_bulk_changed",
        context={
            **_change_context(actor=actor, customer=customer),
            "changes": changes[:BULK_NOTIFICATION_MAX_LINES],
            "more": max(0, len(changes) - BULK_NOTIFICATION_MAX_LINES),
            "added": sum(1 for line in to_apply if line.outcome == AddOutcome.ADD),
            "invited": sum(1 for line in to_apply if line.outcome == AddOutcome.INVITE),
        },
    )


def membership_change_role(*, membership: Membership, actor: User, role: Role | str) -> Membership:
    """Changes a portal user's role between Administrator and Viewer.

    Nobody but support promotes to or demotes from ASC: a portal user asking for it is
    refused and the attempt audited. The role is checked on the locked row, so a
    designation made by support a moment earlier is respected."""
    customer = membership.customer
    authorize(actor=actor, customer=customer, permission=Permission.MANAGE_USERS, action="membership.change_role")
    role = _role_parse(role)
    target = membership.user.email
    _check_grantable(actor=actor, customer=customer, role=role, action="membership.change_role", target=target)
    if _current_role(membership) == Role.ASC:
        _check_grantable(actor=actor, customer=customer, role=Role.ASC, action="membership.change_role", target=target)
    with transaction.atomic():
        locked = _membership_lock(membership, actor=actor)
        previous = Role(locked.role)
        if previous == role:
            return locked
        locked.role = role
        locked.save(update_fields=["role"])
        audit_record(
            customer=customer,
            actor=actor,
            action="membership.role_changed",
            target=target,
            details={"from": previous.value, "to": role.value},
        )
        _change_notify(
            customer=customer,
            actor=actor,
            event="user.role_changed",
            change=deferred("%(actor)s changed the role of %(email)s from %(old)s to %(new)s.")
            % {"actor": actor.email, "email": target, "old": previous.label, "new": role.label},
        )
        return locked


def _current_role(membership: Membership) -> str | None:
    """The role as stored now (the caller's object may be stale)."""
    return (
        Membership.objects.filter(pk=membership.pk, customer_id=membership.customer_id)
        .values_list("role", flat=True)
        .first()
    )


def _membership_lock(membership: Membership, *, actor: User) -> Membership:
    """Locks the membership for a change; refuses when it is gone or became an ASC's since
    the caller's check (support designated it a moment ago)."""
    locked = Membership.objects.select_for_update().filter(pk=membership.pk, customer_id=membership.customer_id).first()
    if locked is None:
        raise PortalError(
            _("%(email)s is no longer a portal user of this customer.") % {"email": membership.user.email}
        )
    if locked.role == Role.ASC and not is_support_staff(actor):
        raise PortalError(
            _("%(email)s is now a Support Coordinator (ASC); only support can change that.")
            % {"email": membership.user.email}
        )
    return locked


def membership_remove(*, membership: Membership, actor: User) -> None:
    """Removes a user's access to the customer.

    Anyone may remove their own access unless they are an ASC; ASCs are removed by support
    only (a portal user's attempt is audited as denied). The person's sessions stay: they may
    work for other customers, and ``CustomerViewMixin`` checks the membership on every
    request, so this customer's pages are closed to them at once (404) without logging them
    out everywhere (which any customer's administrator could otherwise repeat at will)."""
    customer = membership.customer
    target = membership.user.email
    if membership.user_id != actor.pk:
        authorize(actor=actor, customer=customer, permission=Permission.MANAGE_USERS, action="membership.remove")
    if _current_role(membership) == Role.ASC:
        _check_grantable(actor=actor, customer=customer, role=Role.ASC, action="membership.remove", target=target)
    with transaction.atomic():
        locked = _membership_lock(membership, actor=actor)
        role = Role(locked.role)
        locked.delete()
        audit_record(
            customer=customer,
            actor=actor,
            action="membership.removed",
            target=target,
            details={"role": role.value, "self": membership.user_id == actor.pk},
        )
        if membership.user_id == actor.pk:
            change = deferred("%(email)s removed their own access (%(role)s).") % {"email": target, "role": role.label}
        else:
            change = deferred("%(actor)s removed %(email)s (%(role)s).") % {
                "actor": actor.email,
                "email": target,
                "role": role.label,
            }
        _change_notify(customer=customer, actor=actor, event="user.removed", change=change)


def invitation_cancel(*, invitation: Invitation, actor: User) -> None:
    """Cancels a pending invitation; it will link nothing. ASC designations are cancelled by
    support only. Audited; ASCs are notified on commit."""
    customer = invitation.customer
    authorize(actor=actor, customer=customer, permission=Permission.MANAGE_USERS, action="invitation.cancel")
    if invitation.role == Role.ASC:
        _check_grantable(
            actor=actor, customer=customer, role=Role.ASC, action="invitation.cancel", target=invitation.email
        )
    with transaction.atomic():
        updated = (
            Invitation.objects.pending().filter(pk=invitation.pk, customer=customer).update(cancelled_at=timezone.now())
        )
        if not updated:
            raise PortalError(_("This invitation is no longer pending."))
        audit_record(
            customer=customer,
            actor=actor,
            action="invitation.cancelled",
            target=invitation.email,
            details={"role": invitation.role},
        )
        _change_notify(
            customer=customer,
            actor=actor,
            event="user.invitation_cancelled",
            change=deferred("%(actor)s cancelled the invitation of %(email)s.")
            % {"actor": actor.email, "email": invitation.email},
        )


# A resend within this many seconds of the last one is refused, so the button cannot be
# used to flood someone's mailbox.
INVITATION_RESEND_INTERVAL = timedelta(minutes=1)


def invitation_resend(*, invitation: Invitation, actor: User) -> None:
    """Emails the invitation again (at most once a minute). Not a change to the customer's
    users, so the ASCs are not notified; audited."""
    customer = invitation.customer
    authorize(actor=actor, customer=customer, permission=Permission.MANAGE_USERS, action="invitation.resend")
    if invitation.role == Role.ASC:
        _check_grantable(
            actor=actor, customer=customer, role=Role.ASC, action="invitation.resend", target=invitation.email
        )
    now = timezone.now()
    with transaction.atomic():
        pending = Invitation.objects.pending().filter(pk=invitation.pk, customer=customer)
        updated = pending.filter(
            Q(last_sent_at__isnull=True) | Q(last_sent_at__lte=now - INVITATION_RESEND_INTERVAL)
        ).update(last_sent_at=now)
        if not updated:
            if pending.exists():
                raise PortalError(_("This invitation was sent less than a minute ago. Try again later."))
            raise PortalError(_("This invitation is no longer pending."))
        audit_record(customer=customer, actor=actor, action="invitation.resent", target=invitation.email)
        _invitation_email(invitation)


# --- Support console --------------------------------------------------------------------


def asc_designate(*, customer: Customer, actor: User, email: str) -> Membership | Invitation:
    """Support records the ASC: the email registered at purchase.

    A verified account with that email becomes (or is promoted to) ASC at once; otherwise an
    ASC invitation waits until someone verifies that address, and that address is emailed
    how to sign up. Staff only. Audited; the customer's ASCs (the new one included) are
    notified on commit.
    """
    authorize_staff(actor=actor, customer=customer, action="asc.designate")
    email = email_normalise(email)
    with transaction.atomic():
        _customer_lock(customer)
        user = verified_user_for_email(email)
        if user is None:
            invitation = (
                Invitation.objects.pending()
                .annotate(email_lower=Lower("email"))
                .filter(customer=customer, email_lower=email)
                .select_for_update(of=("self",))
                .first()
            )
            if invitation is None:
                invitation = Invitation.objects.create(
                    customer=customer, email=email, role=Role.ASC, invited_by=actor, last_sent_at=timezone.now()
                )
            else:
                Invitation.objects.filter(pk=invitation.pk).update(role=Role.ASC, last_sent_at=timezone.now())
                invitation.role = Role.ASC
            audit_record(
                customer=customer, actor=actor, action="asc.designated", target=email, details={"pending": True}
            )
            _invitation_email(invitation)
            result: Membership | Invitation = invitation
        else:
            membership, created = Membership.objects.select_for_update().get_or_create(
                user=user, customer=customer, defaults={"role": Role.ASC, "added_by": actor}
            )
            previous = None if created else membership.role
            if not created and membership.role != Role.ASC:
                membership.role = Role.ASC
                membership.save(update_fields=["role"])
            audit_record(
                customer=customer,
                actor=actor,
                action="asc.designated",
                target=email,
                details={"pending": False, "previous_role": previous},
            )
            result = membership
        _change_notify(
            customer=customer,
            actor=actor,
            event="user.asc_designated",
            change=deferred("Support designated %(email)s as Support Coordinator (ASC).") % {"email": email},
        )
        return result


def customer_create(*, actor: User, number: str, name: str, flexnet_managed: bool) -> Customer:
    """Support creates a customer. Staff only; audited."""
    authorize_staff(actor=actor, customer=None, action="customer.create")
    with transaction.atomic():
        customer = Customer(number=number, name=name, flexnet_managed=flexnet_managed)
        customer.full_clean()
        customer.save()
        audit_record(
            customer=customer,
            actor=actor,
            action="customer.created",
            target=number,
            details={"name": name, "flexnet_managed": flexnet_managed},
        )
        return customer


def customer_update(*, customer: Customer, actor: User, name: str, flexnet_managed: bool) -> Customer:
    """Support renames a customer or switches FlexNet management in the portal. The
    customer number never changes. Staff only; audited when something changed."""
    authorize_staff(actor=actor, customer=customer, action="customer.update")
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        changes = {
            field: {"from": getattr(locked, field), "to": value}
            for field, value in (("name", name), ("flexnet_managed", flexnet_managed))
            if getattr(locked, field) != value
        }
        if not changes:
            return locked
        locked.name = name
        locked.flexnet_managed = flexnet_managed
        locked.full_clean()
        locked.save(update_fields=["name", "flexnet_managed"])
        audit_record(customer=locked, actor=actor, action="customer.updated", target=locked.number, details=changes)
        return locked


def user_profile_set(*, user: User, name: str, company: str) -> User:
    """The name and company a person gives about themselves (sign-up). Not audited: it grants
    nothing and belongs to no customer."""
    user.name = " ".join(name.split())[:150]
    user.company = " ".join(company.split())[:150]
    user.save(update_fields=["name", "company"])
    return user


def user_update(*, user: User, actor: User, name: str, is_active: bool, is_staff: bool, is_superuser: bool) -> User:
    """Support edits a user: name, active flag and support-console rights.

    Only superusers grant or revoke ``is_staff``/``is_superuser``; nobody deactivates or
    demotes themselves (so the console cannot lock its last user out). Deactivating a user
    ends all their sessions at once and is recorded in the audit log of every customer they belong to, whose
    ASCs are notified. Staff only.
    """
    authorize_staff(actor=actor, customer=None, action="user.update")
    _user_update_check(user=user, actor=actor, is_active=is_active, is_staff=is_staff, is_superuser=is_superuser)
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        changes = {
            field: {"from": getattr(locked, field), "to": value}
            for field, value in (
                ("name", name),
                ("is_active", is_active),
                ("is_staff", is_staff),
                ("is_superuser", is_superuser),
            )
            if getattr(locked, field) != value
        }
        if not changes:
            return locked
        for field, change in changes.items():
            setattr(locked, field, change["to"])
        locked.save(update_fields=list(changes))
        action = "user.updated"
        if "is_active" in changes:
            action = "user.activated" if is_active else "user.deactivated"
        audit_record(customer=None, actor=actor, action=action, target=locked.email, details=changes)
        if "is_active" in changes:
            _user_active_changed(user=locked, actor=actor, action=action)
        return locked


def _user_update_check(*, user: User, actor: User, is_active: bool, is_staff: bool, is_superuser: bool) -> None:
    if (is_staff != user.is_staff or is_superuser != user.is_superuser) and not actor.is_superuser:
        raise PortalError(_("Only a superuser can change support-console rights."), field="is_staff")
    if user.pk == actor.pk and (not is_active or not is_staff or (user.is_superuser and not is_superuser)):
        raise PortalError(_("You cannot deactivate or demote yourself."), field="is_active")


def _user_active_changed(*, user: User, actor: User, action: str) -> None:
    """A (re)activated or deactivated account: sessions ended when deactivated, and an audit
    event and the ASCs' notification at every customer the user belongs to."""
    if not user.is_active:
        user_sessions_end(user=user)
    for membership in Membership.objects.filter(user=user).select_related("customer"):
        audit_record(
            customer=membership.customer,
            actor=actor,
            action=action,
            target=user.email,
            details={"role": membership.role},
        )
        _change_notify(
            customer=membership.customer,
            actor=actor,
            event=f"user.{action.split('.')[1]}",
            change=(
                deferred("Support reactivated the account of %(email)s.")
                if user.is_active
                else deferred("Support deactivated the account of %(email)s; it has no access until reactivated.")
            )
            % {"email": user.email},
        )


def notification_send_now(*, notification: Notification, actor: User) -> bool:
    """Support sends an unsent notification at once (e.g. after fixing SMTP). Returns False
    when it had been sent already: an email is never sent twice. Staff only; audited.

    Not one transaction: ``notification_send`` holds its own row lock while handing the
    email to SMTP.
    """
    authorize_staff(actor=actor, customer=notification.customer, action="notification.send_now")
    try:
        sent = notification_send(notification_id=notification.pk)
    except TRANSIENT_SEND_ERRORS as exc:
        raise PortalError(_("Sending failed: %(error)s") % {"error": exc}) from None
    if sent:
        audit_record(
            customer=notification.customer,
            actor=actor,
            action="notification.sent_by_support",
            target=f"notification {notification.pk}",
            details={"event": notification.event},
        )
    return sent


def customer_set_mfa_required(*, customer: Customer, actor: User, required: bool) -> None:
    """Requires (or stops requiring) two-factor authentication of every member of the customer.

    Members without it are sent to set it up before any customer page. Anyone who manages
    users may require it; only an ASC (``Permission.TURN_OFF_MFA_REQUIREMENT``; support too)
    may stop requiring it, and a refused attempt is audited. Audited; ASCs notified (outbox)."""
    permission = Permission.MANAGE_USERS if required else Permission.TURN_OFF_MFA_REQUIREMENT
    authorize(actor=actor, customer=customer, permission=permission, action="customer.mfa_required")
    with transaction.atomic():
        updated = Customer.objects.filter(pk=customer.pk).exclude(mfa_required=required).update(mfa_required=required)
        if not updated:
            return
        customer.mfa_required = required
        audit_record(customer=customer, actor=actor, action="customer.mfa_required", details={"required": required})
        notify_ascs(
            customer=customer,
            event="customer.mfa_required",
            template="user_changed",
            context=_change_context(
                actor=actor,
                customer=customer,
                change=(
                    deferred("%(actor)s now requires two-factor authentication for every portal user.")
                    if required
                    else deferred("%(actor)s no longer requires two-factor authentication.")
                )
                % {"actor": actor.email},
            ),
        )


def user_language_set(*, user: User, language: str) -> None:
    """Remembers the user's language for the portal on every device and for their emails."""
    if language not in dict(settings.LANGUAGES) or user.language == language:
        return
    User.objects.filter(pk=user.pk).update(language=language)
    user.language = language
    audit_record(customer=None, actor=user, action="user.language_set", details={"language": language})
