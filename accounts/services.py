"""Every write to accounts, memberships and invitations.

Each service is keyword-only, checks the actor's permission through ``access.authorize``
(before its transaction, so a denied attempt stays recorded), changes data atomically,
appends an audit event and schedules the ASC notification on commit.
"""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.errors import PortalError

from .access import authorize, deny
from .audit import audit_record
from .models import Customer, Invitation, Membership, User
from .notifications import notification_queue, notify_ascs
from .roles import GRANTABLE_ROLES, Permission, Role


def email_normalise(email: str) -> str:
    """Lower-cased, trimmed and syntactically valid, or PortalError."""
    email = (email or "").strip().lower()
    if len(email) > 254:
        raise PortalError(_("An email address has at most 254 characters."), field="email")
    try:
        validate_email(email)
    except ValidationError:
        raise PortalError(_("Enter a valid email address."), field="email") from None
    return email


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
    return {"actor": actor, "actor_name": actor.email if actor else _("support"), "customer": customer, **extra}


def _check_grantable(*, actor: User, customer: Customer, role: Role, action: str, target: str) -> None:
    """Only support designates, promotes or demotes an ASC. A portal user asking for it
    (a forged form post) is refused and the attempt audited."""
    if role not in GRANTABLE_ROLES and not actor.is_staff:
        deny(actor=actor, customer=customer, action=action, reason="asc_role_reserved", details={"target": target})


# --- Linking by verified email ----------------------------------------------------------


def invitations_link_verified(*, user: User) -> list[Membership]:
    """Turns every pending invitation for one of the user's *verified* addresses into a
    membership (case-insensitive). Unverified addresses link nothing.

    Idempotent and safe under concurrent logins: the invitations are locked first. When the
    user already belongs to the customer, an ASC designation upgrades the role; any other
    invitation leaves the existing role as it is.
    """
    if not user.is_active:
        return []
    emails = [
        email.lower()
        for email in EmailAddress.objects.filter(user=user, verified=True).values_list("email", flat=True)
    ]
    if not emails:
        return []
    linked: list[Membership] = []
    with transaction.atomic():
        invitations = (
            Invitation.objects.pending()
            .select_for_update(of=("self",))
            .select_related("customer", "invited_by")
            .annotate(email_lower=Lower("email"))
            .filter(email_lower__in=emails)
            .order_by("pk")
        )
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
                    change=_("%(email)s accepted the invitation and now has the role %(role)s.")
                    % {"email": user.email, "role": membership.get_role_display()},
                ),
            )
            linked.append(membership)
    return linked


def email_verify_after_password_reset(*, user: User) -> None:
    """A completed password reset proves the user reads the mail sent to the account's
    address, so a sole unverified address becomes verified (and then links).

    This is what lets the real owner of an address take it back from someone who signed
    up with it first and never verified it.
    """
    addresses = list(EmailAddress.objects.filter(user=user))
    if len(addresses) == 1 and not addresses[0].verified and addresses[0].email.lower() == user.email.lower():
        address = addresses[0]
        if address.set_verified(commit=True):
            address.set_as_primary(conditional=True)
            audit_record(customer=None, actor=user, action="email.verified_by_password_reset", target=user.email)


# --- Portal users -----------------------------------------------------------------------


def membership_add(*, customer: Customer, actor: User, email: str, role: Role | str) -> Membership | Invitation:
    """Adds a portal user by email, or invites one who has no verified account yet.

    Refuses the ASC role to everyone but support. A user who is already a member or already
    invited is refused with a clear message. Audited; ASCs are notified on commit; an
    invitation also emails the invitee.
    """
    authorize(actor=actor, customer=customer, permission=Permission.MANAGE_USERS, action="membership.add")
    email = email_normalise(email)
    try:
        role = Role(role)
    except ValueError:
        raise PortalError(_("Choose a valid role."), field="role") from None
    _check_grantable(actor=actor, customer=customer, role=role, action="membership.add", target=email)
    try:
        with transaction.atomic():
            # Serialise adds per customer so a double-submit cannot create two invitations.
            Customer.objects.select_for_update().filter(pk=customer.pk).first()
            user = verified_user_for_email(email)
            if user is not None:
                if Membership.objects.filter(user=user, customer=customer).exists():
                    raise PortalError(_("%(email)s is already a portal user of this customer.") % {"email": email}, field="email")
                membership = Membership.objects.create(user=user, customer=customer, role=role, added_by=actor)
                audit_record(customer=customer, actor=actor, action="membership.added", target=email, details={"role": role.value})
                notify_ascs(
                    customer=customer,
                    event="user.added",
                    template="user_changed",
                    context=_change_context(
                        actor=actor,
                        customer=customer,
                        change=_("%(actor)s added %(email)s as %(role)s.")
                        % {"actor": actor.email, "email": email, "role": role.label},
                    ),
                )
                return membership
            if Invitation.objects.pending().annotate(email_lower=Lower("email")).filter(customer=customer, email_lower=email).exists():
                raise PortalError(_("%(email)s has already been invited.") % {"email": email}, field="email")
            invitation = Invitation.objects.create(
                customer=customer, email=email, role=role, invited_by=actor, last_sent_at=timezone.now()
            )
            audit_record(customer=customer, actor=actor, action="invitation.created", target=email, details={"role": role.value})
            _invitation_email(invitation)
            notify_ascs(
                customer=customer,
                event="user.invited",
                template="user_changed",
                context=_change_context(
                    actor=actor,
                    customer=customer,
                    change=_("%(actor)s invited %(email)s as %(role)s.")
                    % {"actor": actor.email, "email": email, "role": role.label},
                ),
            )
            return invitation
    except IntegrityError:
        raise PortalError(_("%(email)s was added at the same moment by someone else.") % {"email": email}, field="email") from None


def _invitation_email(invitation: Invitation) -> None:
    notification_queue(
        customer=invitation.customer,
        event="invitation.sent",
        template="invitation",
        context={"invitation": invitation, "inviter": invitation.invited_by},
        recipients=[invitation.email],
    )


def membership_change_role(*, membership: Membership, actor: User, role: Role | str) -> Membership:
    """Changes a portal user's role between Administrator and Viewer.

    Nobody but support promotes to or demotes from ASC."""
    customer = membership.customer
    authorize(actor=actor, customer=customer, permission=Permission.MANAGE_USERS, action="membership.change_role")
    try:
        role = Role(role)
    except ValueError:
        raise PortalError(_("Choose a valid role."), field="role") from None
    target = membership.user.email
    if membership.role == Role.ASC:
        _check_grantable(actor=actor, customer=customer, role=Role.ASC, action="membership.change_role", target=target)
    _check_grantable(actor=actor, customer=customer, role=role, action="membership.change_role", target=target)
    with transaction.atomic():
        locked = Membership.objects.select_for_update().get(pk=membership.pk)
        previous = Role(locked.role)
        if previous == role:
            return locked
        locked.role = role
        locked.save(update_fields=["role"])
        audit_record(
            customer=customer, actor=actor, action="membership.role_changed", target=target,
            details={"from": previous.value, "to": role.value},
        )
        notify_ascs(
            customer=customer,
            event="user.role_changed",
            template="user_changed",
            context=_change_context(
                actor=actor,
                customer=customer,
                change=_("%(actor)s changed the role of %(email)s from %(old)s to %(new)s.")
                % {"actor": actor.email, "email": target, "old": previous.label, "new": role.label},
            ),
        )
        return locked


def membership_remove(*, membership: Membership, actor: User) -> None:
    """Removes a user's access to the customer. Anyone may remove their own access unless
    they are an ASC; ASCs are removed by support only. The removed user's sessions end."""
    customer = membership.customer
    target = membership.user.email
    if membership.user_id != actor.pk:
        authorize(actor=actor, customer=customer, permission=Permission.MANAGE_USERS, action="membership.remove")
    if membership.role == Role.ASC:
        _check_grantable(actor=actor, customer=customer, role=Role.ASC, action="membership.remove", target=target)
    with transaction.atomic():
        deleted, _rows = Membership.objects.filter(pk=membership.pk).delete()
        if not deleted:
            return
        audit_record(
            customer=customer, actor=actor, action="membership.removed", target=target,
            details={"role": membership.role},
        )
        notify_ascs(
            customer=customer,
            event="user.removed",
            template="user_changed",
            context=_change_context(
                actor=actor,
                customer=customer,
                change=_("%(actor)s removed %(email)s (%(role)s).")
                % {"actor": actor.email, "email": target, "role": membership.get_role_display()},
            ),
        )


def invitation_cancel(*, invitation: Invitation, actor: User) -> None:
    customer = invitation.customer
    authorize(actor=actor, customer=customer, permission=Permission.MANAGE_USERS, action="invitation.cancel")
    if invitation.role == Role.ASC:
        _check_grantable(actor=actor, customer=customer, role=Role.ASC, action="invitation.cancel", target=invitation.email)
    with transaction.atomic():
        updated = Invitation.objects.pending().filter(pk=invitation.pk).update(cancelled_at=timezone.now())
        if not updated:
            raise PortalError(_("This invitation is no longer pending."))
        audit_record(customer=customer, actor=actor, action="invitation.cancelled", target=invitation.email)
        notify_ascs(
            customer=customer,
            event="user.invitation_cancelled",
            template="user_changed",
            context=_change_context(
                actor=actor,
                customer=customer,
                change=_("%(actor)s cancelled the invitation of %(email)s.")
                % {"actor": actor.email, "email": invitation.email},
            ),
        )


def invitation_resend(*, invitation: Invitation, actor: User) -> None:
    customer = invitation.customer
    authorize(actor=actor, customer=customer, permission=Permission.MANAGE_USERS, action="invitation.resend")
    with transaction.atomic():
        updated = Invitation.objects.pending().filter(pk=invitation.pk).update(last_sent_at=timezone.now())
        if not updated:
            raise PortalError(_("This invitation is no longer pending."))
        audit_record(customer=customer, actor=actor, action="invitation.resent", target=invitation.email)
        _invitation_email(invitation)


# --- Support console --------------------------------------------------------------------


def asc_designate(*, customer: Customer, actor: User, email: str) -> Membership | Invitation:
    """Support records the ASC: the email registered at purchase.

    A verified account with that email becomes (or is promoted to) ASC at once; otherwise an
    ASC invitation waits until someone verifies that address. Staff only.
    """
    if not actor.is_staff:
        deny(actor=actor, customer=customer, action="asc.designate", reason="staff_only")
    email = email_normalise(email)
    with transaction.atomic():
        user = verified_user_for_email(email)
        if user is None:
            invitation = (
                Invitation.objects.pending().annotate(email_lower=Lower("email"))
                .filter(customer=customer, email_lower=email).select_for_update(of=("self",)).first()
            )
            if invitation is None:
                invitation = Invitation.objects.create(customer=customer, email=email, role=Role.ASC, invited_by=actor)
            elif invitation.role != Role.ASC:
                Invitation.objects.filter(pk=invitation.pk).update(role=Role.ASC)
                invitation.role = Role.ASC
            audit_record(customer=customer, actor=actor, action="asc.designated", target=email, details={"pending": True})
            result: Membership | Invitation = invitation
        else:
            membership, created = Membership.objects.select_for_update().get_or_create(
                user=user, customer=customer, defaults={"role": Role.ASC, "added_by": actor}
            )
            if not created and membership.role != Role.ASC:
                membership.role = Role.ASC
                membership.save(update_fields=["role"])
            audit_record(customer=customer, actor=actor, action="asc.designated", target=email, details={"pending": False})
            result = membership
        notify_ascs(
            customer=customer,
            event="user.asc_designated",
            template="user_changed",
            context=_change_context(
                actor=actor,
                customer=customer,
                change=_("Support designated %(email)s as Support Coordinator (ASC).") % {"email": email},
            ),
        )
        return result
