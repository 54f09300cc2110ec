"""Every write to the Shared Web and Elastic settings.

Each service is keyword-only, checks the actor's permission through ``access.authorize``
before its transaction (so a denied attempt stays recorded), changes data atomically,
appends an audit event and tells the ASCs through the notification outbox on commit.

The Elastic PIN is a secret: it never enters an audit event, a notification or a log.
"""

from __future__ import annotations

import datetime
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.access import authorize, authorize_staff, console_authorize
from accounts.audit import audit_record
from accounts.emails import email_normalise
from accounts.models import Customer, User
from accounts.notifications import notification_queue, notification_recipients, notify_ascs
from accounts.roles import Permission
from portal.csv import csv_table_read
from portal.errors import PortalError
from portal.i18n import deferred
from portal.imports import PlanChanged

from ..models import (
    BudgetAlert,
    ElasticAccount,
    ElasticUsage,
    Entitlement,
    LicensingModel,
    Product,
    SeatAssignment,
    SharedWebGroup,
    SharedWebUser,
)
from .selectors import (
    SharedWebImportLine,
    SharedWebImportRequest,
    elastic_accounts_with_budget,
    elastic_consumed,
    month_start,
    shared_web_import_digest,
    shared_web_import_plan,
)

MANAGE = Permission.MANAGE_LICENSING_SETTINGS
logger = logging.getLogger(__name__)


def _authorize(*, actor: User, customer: Customer, action: str) -> None:
    authorize(actor=actor, customer=customer, permission=MANAGE, action=action)


def _notify(*, customer: Customer, actor: User | None, event: str, change: str) -> None:
    """Tells the ASCs about a settings change. ``change`` must never contain the PIN."""
    notify_ascs(
        customer=customer,
        event=event,
        template="licensing_changed",
        context={"actor": actor, "actor_name": actor.email if actor else gettext_lazy("support"), "change": change},
    )


def _customer_lock(customer: Customer) -> None:
    """Serialises list-wide changes of one customer's Shared Web users (adds, imports)."""
    Customer.objects.select_for_update().filter(pk=customer.pk).values_list("pk", flat=True).first()


# --- Shared Web users -------------------------------------------------------------------


def shared_web_email_normalise(email: str) -> str:
    """The portal's one address normalisation (``accounts.emails``), for Shared Web users too."""
    return email_normalise(email)


def _name_clean(name: str) -> str:
    name = " ".join((name or "").split())
    if len(name) > 150:
        raise PortalError(_("A name has at most 150 characters."), field="name")
    return name


def _email_taken(*, customer: Customer, email: str, exclude_pk: int | None = None) -> bool:
    users = SharedWebUser.objects.annotate(email_lower=Lower("email")).filter(customer=customer, email_lower=email)
    if exclude_pk is not None:
        users = users.exclude(pk=exclude_pk)
    return users.exists()


def shared_web_user_add(*, customer: Customer, actor: User, email: str, name: str = "") -> SharedWebUser:
    """Adds a person to the customer's Shared Web list (active). Emails are unique per
    customer, case-insensitively (database constraint). Audited; ASCs notified."""
    _authorize(actor=actor, customer=customer, action="shared_web.user_add")
    email = shared_web_email_normalise(email)
    name = _name_clean(name)
    try:
        with transaction.atomic():
            _customer_lock(customer)
            if _email_taken(customer=customer, email=email):
                raise PortalError(_("%(email)s is already on the Shared Web list.") % {"email": email}, field="email")
            user = SharedWebUser.objects.create(customer=customer, email=email, name=name)
            audit_record(
                customer=customer, actor=actor, action="shared_web.user_added", target=email, details={"name": name}
            )
            _notify(
                customer=customer,
                actor=actor,
                event="shared_web.user_added",
                change=deferred("%(actor)s added %(email)s to the Shared Web users.")
                % {"actor": actor.email, "email": email},
            )
            return user
    except IntegrityError:
        raise PortalError(_("%(email)s is already on the Shared Web list.") % {"email": email}, field="email") from None


def shared_web_user_update(*, shared_web_user: SharedWebUser, actor: User, email: str, name: str) -> SharedWebUser:
    """Changes a Shared Web user's email and name. Audited (old and new); ASCs notified."""
    customer = shared_web_user.customer
    _authorize(actor=actor, customer=customer, action="shared_web.user_update")
    email = shared_web_email_normalise(email)
    name = _name_clean(name)
    try:
        with transaction.atomic():
            locked = SharedWebUser.objects.select_for_update().get(pk=shared_web_user.pk, customer=customer)
            changes = {
                key: {"from": getattr(locked, key), "to": value}
                for key, value in (("email", email), ("name", name))
                if getattr(locked, key) != value
            }
            if not changes:
                return locked
            if "email" in changes and _email_taken(customer=customer, email=email, exclude_pk=locked.pk):
                raise PortalError(_("%(email)s is already on the Shared Web list.") % {"email": email}, field="email")
            locked.email, locked.name = email, name
            locked.save(update_fields=["email", "name"])
            audit_record(
                customer=customer, actor=actor, action="shared_web.user_updated", target=email, details=changes
            )
            _notify(
                customer=customer,
                actor=actor,
                event="shared_web.user_updated",
                change=deferred("%(actor)s changed the Shared Web user %(email)s.")
                % {"actor": actor.email, "email": email},
            )
            return locked
    except IntegrityError:
        raise PortalError(_("%(email)s is already on the Shared Web list.") % {"email": email}, field="email") from None


@transaction.atomic
def _set_active(*, shared_web_user: SharedWebUser, actor: User, active: bool) -> SharedWebUser:
    customer = shared_web_user.customer
    locked = SharedWebUser.objects.select_for_update().get(pk=shared_web_user.pk, customer=customer)
    if locked.active == active:
        return locked
    locked.active = active
    locked.save(update_fields=["active"])
    action = "shared_web.user_reactivated" if active else "shared_web.user_deactivated"
    audit_record(customer=customer, actor=actor, action=action, target=locked.email)
    change = (
        deferred("%(actor)s reactivated the Shared Web user %(email)s.")
        if active
        else deferred("%(actor)s deactivated the Shared Web user %(email)s; they cannot take Shared Web licenses.")
    )
    _notify(customer=customer, actor=actor, event=action, change=change % {"actor": actor.email, "email": locked.email})
    return locked


def shared_web_user_set_active(*, shared_web_user: SharedWebUser, actor: User, active: bool) -> SharedWebUser:
    """Deactivates (keeps on the list, in its groups, without access) or reactivates."""
    _authorize(actor=actor, customer=shared_web_user.customer, action="shared_web.user_set_active")
    return _set_active(shared_web_user=shared_web_user, actor=actor, active=active)


def shared_web_user_remove(*, shared_web_user: SharedWebUser, actor: User) -> None:
    """Removes a person from the list and from every group. Audited; ASCs notified."""
    customer = shared_web_user.customer
    _authorize(actor=actor, customer=customer, action="shared_web.user_remove")
    with transaction.atomic():
        deleted, _rows = SharedWebUser.objects.filter(pk=shared_web_user.pk, customer=customer).delete()
        if not deleted:
            return
        audit_record(customer=customer, actor=actor, action="shared_web.user_removed", target=shared_web_user.email)
        _notify(
            customer=customer,
            actor=actor,
            event="shared_web.user_removed",
            change=deferred("%(actor)s removed %(email)s from the Shared Web users.")
            % {"actor": actor.email, "email": shared_web_user.email},
        )


class ImportPlanChanged(PlanChanged):
    """The list changed between the preview and the apply; nothing was applied."""

    def __init__(self, plan: list[SharedWebImportLine]) -> None:
        super().__init__(
            _(
                "The Shared Web users changed since the preview, so nothing was applied. "
                "Review the new preview and apply again."
            ),
            plan,
        )


NOTIFICATION_MAX_LINES = 200


def shared_web_user_import(
    *, customer: Customer, actor: User, requests: Sequence[SharedWebImportRequest], expected_digest: str
) -> list[SharedWebImportLine]:
    """Applies a previewed CSV import, all or nothing: adds new people, updates changed
    names. The plan is computed again under the customer lock and must equal the preview
    (``expected_digest``); a plan with invalid lines is refused. One audit event per change,
    one ASC email per import."""
    _authorize(actor=actor, customer=customer, action="shared_web.user_import")
    with transaction.atomic():
        _customer_lock(customer)
        plan, to_apply = _import_plan_checked(customer=customer, requests=requests, expected_digest=expected_digest)
        _import_write(customer=customer, requests=requests, to_apply=to_apply)
        _import_record(customer=customer, actor=actor, to_apply=to_apply)
        return plan


def _import_plan_checked(
    *, customer: Customer, requests: Sequence[SharedWebImportRequest], expected_digest: str
) -> tuple[list[SharedWebImportLine], list[SharedWebImportLine]]:
    """Plan (under the customer lock): the plan and its lines to apply, if it is still the preview."""
    plan = shared_web_import_plan(customer=customer, requests=requests)
    if shared_web_import_digest(plan) != expected_digest:
        raise ImportPlanChanged(plan)
    if any(line.blocking for line in plan):
        raise PortalError(_("Correct the invalid lines first; nothing was applied."))
    to_apply = [line for line in plan if line.applies]
    if not to_apply:
        raise PortalError(_("Nothing to add or update."))
    return plan, to_apply


def _import_write(
    *, customer: Customer, requests: Sequence[SharedWebImportRequest], to_apply: Sequence[SharedWebImportLine]
) -> None:
    """Apply: new people in one insert, changed names in one update."""
    now = timezone.now()
    adds = [line for line in to_apply if line.user_id is None]
    updates = [line for line in to_apply if line.user_id is not None]
    try:
        with transaction.atomic():
            SharedWebUser.objects.bulk_create(
                SharedWebUser(customer=customer, email=line.request.email, name=line.request.name, created_at=now)
                for line in adds
            )
    except IntegrityError:
        raise ImportPlanChanged(shared_web_import_plan(customer=customer, requests=requests)) from None
    if updates:
        users = {
            user.pk: user
            for user in SharedWebUser.objects.filter(customer=customer, pk__in=[line.user_id for line in updates])
        }
        for line in updates:
            users[line.user_id].name = line.request.name
        SharedWebUser.objects.bulk_update(users.values(), ["name"], batch_size=500)


def _import_record(*, customer: Customer, actor: User, to_apply: Sequence[SharedWebImportLine]) -> None:
    """One audit event per change and one ASC email for the whole import."""
    for line in to_apply:
        audit_record(
            customer=customer,
            actor=actor,
            action="shared_web.user_added" if line.user_id is None else "shared_web.user_updated",
            target=line.request.email,
            details={"name": line.request.name, "import": True},
        )
    changes = [
        (deferred("%(email)s added") if line.user_id is None else deferred("%(email)s renamed to %(name)s"))
        % {"email": line.request.email, "name": line.request.name}
        for line in to_apply
    ]
    added = sum(1 for line in to_apply if line.user_id is None)
    more = len(changes) - NOTIFICATION_MAX_LINES
    notify_ascs(
        customer=customer,
        event="shared_web.user_import",
        template="licensing_changed",
        context={
            "actor": actor,
            "actor_name": actor.email,
            "change": deferred("%(actor)s imported Shared Web users: %(added)d added, %(updated)d updated.")
            % {"actor": actor.email, "added": added, "updated": len(to_apply) - added},
            "lines": changes[:NOTIFICATION_MAX_LINES],
            "more": max(more, 0),
        },
    )


# --- Shared Web groups and seats --------------------------------------------------------


def _group_name_clean(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise PortalError(_("Enter a group name."), field="name")
    if len(name) > 100:
        raise PortalError(_("A group name has at most 100 characters."), field="name")
    return name


def _group_name_taken(*, customer: Customer, name: str, exclude_pk: int | None = None) -> bool:
    groups = SharedWebGroup.objects.annotate(name_lower=Lower("name")).filter(
        customer=customer, name_lower=name.lower()
    )
    if exclude_pk is not None:
        groups = groups.exclude(pk=exclude_pk)
    return groups.exists()


def _group_taken_error(name: str) -> PortalError:
    return PortalError(_("There is already a group called %(name)s.") % {"name": name}, field="name")


def shared_web_group_create(*, customer: Customer, actor: User, name: str) -> SharedWebGroup:
    """Creates an empty group (names unique per customer, case-insensitively)."""
    _authorize(actor=actor, customer=customer, action="shared_web.group_create")
    name = _group_name_clean(name)
    try:
        with transaction.atomic():
            if _group_name_taken(customer=customer, name=name):
                raise _group_taken_error(name)
            group = SharedWebGroup.objects.create(customer=customer, name=name)
            audit_record(customer=customer, actor=actor, action="shared_web.group_created", target=name)
            _notify(
                customer=customer,
                actor=actor,
                event="shared_web.group_created",
                change=deferred("%(actor)s created the Shared Web group %(name)s.")
                % {"actor": actor.email, "name": name},
            )
            return group
    except IntegrityError:
        raise _group_taken_error(name) from None


def shared_web_group_rename(*, group: SharedWebGroup, actor: User, name: str) -> SharedWebGroup:
    customer = group.customer
    _authorize(actor=actor, customer=customer, action="shared_web.group_rename")
    name = _group_name_clean(name)
    try:
        with transaction.atomic():
            locked = SharedWebGroup.objects.select_for_update().get(pk=group.pk, customer=customer)
            if locked.name == name:
                return locked
            if _group_name_taken(customer=customer, name=name, exclude_pk=locked.pk):
                raise _group_taken_error(name)
            old = locked.name
            locked.name = name
            locked.save(update_fields=["name"])
            audit_record(
                customer=customer,
                actor=actor,
                action="shared_web.group_renamed",
                target=name,
                details={"from": old, "to": name},
            )
            _notify(
                customer=customer,
                actor=actor,
                event="shared_web.group_renamed",
                change=deferred("%(actor)s renamed the Shared Web group %(old)s to %(name)s.")
                % {"actor": actor.email, "old": old, "name": name},
            )
            return locked
    except IntegrityError:
        raise _group_taken_error(name) from None


def _lock_entitlements(*, customer: Customer, pks: Iterable[int]) -> dict[int, Entitlement]:
    """Locks Shared Web lines in primary-key order (a fixed order, so no deadlocks)."""
    return {
        entitlement.pk: entitlement
        for entitlement in Entitlement.objects.select_for_update()
        .filter(customer=customer, pk__in=sorted(set(pks)))
        .order_by("pk")
    }


def _sync_reserved(entitlement: Entitlement) -> None:
    """Sets ``activated`` (seats reserved) to the sum of the line's assignments; the row
    is locked. The check constraint refuses anything above the quantity."""
    reserved = SeatAssignment.objects.filter(entitlement=entitlement).aggregate(total=Sum("seats"))["total"] or 0
    if entitlement.activated != reserved:
        Entitlement.objects.filter(pk=entitlement.pk).update(activated=reserved)
        entitlement.activated = reserved


def shared_web_group_delete(*, group: SharedWebGroup, actor: User) -> None:
    """Deletes a group; its reserved seats go back to the unreserved pool."""
    customer = group.customer
    _authorize(actor=actor, customer=customer, action="shared_web.group_delete")
    with transaction.atomic():
        locked = SharedWebGroup.objects.select_for_update().filter(pk=group.pk, customer=customer).first()
        if locked is None:
            return
        entitlement_pks = list(SeatAssignment.objects.filter(group=locked).values_list("entitlement_id", flat=True))
        entitlements = _lock_entitlements(customer=customer, pks=entitlement_pks)
        released = {
            e.line_id: s
            for e, s in ((entitlements[a.entitlement_id], a.seats) for a in SeatAssignment.objects.filter(group=locked))
        }
        locked.delete()
        for entitlement in entitlements.values():
            _sync_reserved(entitlement)
        audit_record(
            customer=customer,
            actor=actor,
            action="shared_web.group_deleted",
            target=locked.name,
            details={"seats_released": released},
        )
        _notify(
            customer=customer,
            actor=actor,
            event="shared_web.group_deleted",
            change=deferred("%(actor)s deleted the Shared Web group %(name)s; its reserved seats are unreserved.")
            % {"actor": actor.email, "name": locked.name},
        )


def shared_web_group_set_members(*, group: SharedWebGroup, actor: User, member_ids: Iterable[int]) -> SharedWebGroup:
    """Makes the group's members exactly these Shared Web users of the same customer."""
    customer = group.customer
    _authorize(actor=actor, customer=customer, action="shared_web.group_members")
    wanted = set(member_ids)
    with transaction.atomic():
        locked = SharedWebGroup.objects.select_for_update().get(pk=group.pk, customer=customer)
        users = {user.pk: user for user in SharedWebUser.objects.filter(customer=customer, pk__in=wanted)}
        if set(users) != wanted:
            raise PortalError(_("Choose people from this customer's Shared Web users."), field="members")
        current = {user.pk: user for user in locked.members.all()}
        added = sorted(users[pk].email for pk in wanted - set(current))
        removed = sorted(current[pk].email for pk in set(current) - wanted)
        if not added and not removed:
            return locked
        locked.members.set(users.values())
        audit_record(
            customer=customer,
            actor=actor,
            action="shared_web.group_members_changed",
            target=locked.name,
            details={"added": added, "removed": removed},
        )
        _notify(
            customer=customer,
            actor=actor,
            event="shared_web.group_members_changed",
            change=deferred(
                "%(actor)s changed the members of the Shared Web group %(name)s: %(added)d added, %(removed)d removed."
            )
            % {"actor": actor.email, "name": locked.name, "added": len(added), "removed": len(removed)},
        )
        return locked


def seat_assignment_set(*, group: SharedWebGroup, entitlement: Entitlement, actor: User, seats: int) -> int:
    """Reserves ``seats`` of a Shared Web line for a group (0 removes the reservation).

    Seats reserved across all groups never exceed the line's quantity: the line is locked
    (``SELECT ... FOR UPDATE``) and its ``activated`` re-computed from the assignments, so
    concurrent requests are serialised and the database check constraint is the last line
    of defence. Returns the seats now reserved for the group. Audited; ASCs notified.
    """
    customer = group.customer
    _authorize(actor=actor, customer=customer, action="shared_web.seats_set")
    if entitlement.customer_id != customer.pk:
        raise PortalError(_("Choose one of this customer's Shared Web licenses."), field="entitlement")
    if seats < 0:
        raise PortalError(_("Enter zero or more seats."), field="seats")
    try:
        with transaction.atomic():
            locked_group = SharedWebGroup.objects.select_for_update().filter(pk=group.pk, customer=customer).first()
            if locked_group is None:
                raise PortalError(_("The group no longer exists."))
            locked = _lock_entitlements(customer=customer, pks=[entitlement.pk]).get(entitlement.pk)
            if (
                locked is None
                or not Product.objects.filter(pk=locked.product_id, licensing_model=LicensingModel.SHARED_WEB).exists()
            ):
                raise PortalError(_("Choose one of this customer's Shared Web licenses."), field="entitlement")
            assignment = SeatAssignment.objects.filter(group=locked_group, entitlement=locked).first()
            before = assignment.seats if assignment else 0
            if before == seats:
                return seats
            others = (
                SeatAssignment.objects.filter(entitlement=locked)
                .exclude(group=locked_group)
                .aggregate(total=Sum("seats"))["total"]
                or 0
            )
            if others + seats > locked.quantity:
                raise PortalError(
                    _("Only %(free)d of the %(quantity)d seats of %(line)s are free for this group.")
                    % {"free": max(locked.quantity - others, 0), "quantity": locked.quantity, "line": locked.line_id},
                    field="seats",
                )
            if seats == 0:
                SeatAssignment.objects.filter(pk=assignment.pk).delete()
            elif assignment is None:
                SeatAssignment.objects.create(group=locked_group, entitlement=locked, seats=seats)
            else:
                SeatAssignment.objects.filter(pk=assignment.pk).update(seats=seats)
            _sync_reserved(locked)
            audit_record(
                customer=customer,
                actor=actor,
                action="shared_web.seats_changed",
                target=f"{locked_group.name} / {locked.line_id}",
                details={"line": locked.line_id, "group": locked_group.name, "from": before, "to": seats},
            )
            _notify(
                customer=customer,
                actor=actor,
                event="shared_web.seats_changed",
                change=deferred(
                    "%(actor)s reserved %(seats)d seat(s) of %(line)s (%(product)s) for the group "
                    "%(group)s (before: %(before)d)."
                )
                % {
                    "actor": actor.email,
                    "seats": seats,
                    "line": locked.line_id,
                    "product": locked.product.name,
                    "group": locked_group.name,
                    "before": before,
                },
            )
            return seats
    except IntegrityError:
        # The check constraint caught an oversubscription the code above did not foresee.
        raise PortalError(_("Not enough free seats on this license."), field="seats") from None


# --- Elastic account --------------------------------------------------------------------

PIN_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed
PIN_LENGTH = 12


def pin_generate() -> str:
    return "".join(secrets.choice(PIN_ALPHABET) for _ in range(PIN_LENGTH))


def elastic_account_create(*, customer: Customer, actor: User, license_server_id: str) -> ElasticAccount:
    """Support opens a customer's Elastic account with its cloud license server ID and a
    fresh PIN. Staff only; audited without the PIN."""
    authorize_staff(
        actor=actor,
        customer=customer,
        action="elastic.account_create",
        message=_("Only support staff can open an Elastic account."),
    )
    license_server_id = (license_server_id or "").strip()
    if not license_server_id or len(license_server_id) > 64:
        raise PortalError(_("Enter the cloud license server ID (at most 64 characters)."), field="license_server_id")
    try:
        with transaction.atomic():
            if ElasticAccount.objects.filter(customer=customer).exists():
                raise PortalError(_("This customer already has an Elastic account."), field="customer")
            account = ElasticAccount.objects.create(
                customer=customer,
                license_server_id=license_server_id,
                pin=pin_generate(),
                alert_thresholds=[50, 80, 100],
            )
            audit_record(customer=customer, actor=actor, action="elastic.account_created", target=license_server_id)
            return account
    except IntegrityError:
        raise PortalError(
            _("Another account already uses this cloud license server ID."), field="license_server_id"
        ) from None


def elastic_pin_regenerate(*, account: ElasticAccount, actor: User) -> ElasticAccount:
    """Replaces the PIN with a new random one (``secrets``). The old PIN stops working.

    Audited and notified WITHOUT the PIN: the event says only that it changed."""
    customer = account.customer
    _authorize(actor=actor, customer=customer, action="elastic.pin_regenerate")
    with transaction.atomic():
        locked = ElasticAccount.objects.select_for_update().get(pk=account.pk, customer=customer)
        locked.pin = pin_generate()
        locked.pin_changed_at = timezone.now()
        locked.save(update_fields=["pin", "pin_changed_at"])
        audit_record(customer=customer, actor=actor, action="elastic.pin_regenerated", target=locked.license_server_id)
        _notify(
            customer=customer,
            actor=actor,
            event="elastic.pin_regenerated",
            change=deferred(
                "%(actor)s generated a new PIN for the cloud license server %(server)s. The old PIN no "
                "longer works; ASCs and administrators see the new one on the settings page."
            )
            % {"actor": actor.email, "server": locked.license_server_id},
        )
        return locked


def thresholds_clean(values: Iterable[int]) -> list[int]:
    values = list(values)
    if any(not isinstance(value, int) or not 1 <= value <= 100 for value in values):
        raise PortalError(_("Each threshold is a whole percentage from 1 to 100."), field="alert_thresholds")
    if len(set(values)) != len(values):
        raise PortalError(_("Each threshold may appear only once."), field="alert_thresholds")
    if len(values) > 10:
        raise PortalError(_("At most 10 thresholds."), field="alert_thresholds")
    return sorted(values)


def recipients_clean(values: Iterable[str]) -> list[str]:
    cleaned: list[str] = []
    for value in values:
        try:
            email = shared_web_email_normalise(value)
        except PortalError:
            raise PortalError(
                _("“%(value)s” is not a valid email address.") % {"value": value[:60]}, field="alert_recipients"
            ) from None
        if email not in cleaned:
            cleaned.append(email)
    if len(cleaned) > 20:
        raise PortalError(_("At most 20 extra recipients."), field="alert_recipients")
    return cleaned


def elastic_budget_update(
    *,
    account: ElasticAccount,
    actor: User,
    monthly_budget_units: int | None,
    alert_thresholds: Iterable[int],
    alert_recipients: Iterable[str],
) -> ElasticAccount:
    """Sets the monthly budget (Elastic units; None for none), the alert thresholds
    (1..100 %, unique, stored sorted) and the extra alert recipients (valid emails)."""
    customer = account.customer
    _authorize(actor=actor, customer=customer, action="elastic.budget_update")
    if monthly_budget_units is not None and not 1 <= monthly_budget_units <= 1_000_000_000:
        raise PortalError(
            _("The budget is a whole number of Elastic units from 1 upwards."), field="monthly_budget_units"
        )
    thresholds = thresholds_clean(alert_thresholds)
    recipients = recipients_clean(alert_recipients)
    with transaction.atomic():
        locked = ElasticAccount.objects.select_for_update().get(pk=account.pk, customer=customer)
        changes = {
            key: {"from": getattr(locked, key), "to": value}
            for key, value in (
                ("monthly_budget_units", monthly_budget_units),
                ("alert_thresholds", thresholds),
                ("alert_recipients", recipients),
            )
            if getattr(locked, key) != value
        }
        if not changes:
            return locked
        locked.monthly_budget_units = monthly_budget_units
        locked.alert_thresholds = thresholds
        locked.alert_recipients = recipients
        locked.save(update_fields=["monthly_budget_units", "alert_thresholds", "alert_recipients"])
        audit_record(
            customer=customer,
            actor=actor,
            action="elastic.budget_changed",
            target=locked.license_server_id,
            details=changes,
        )
        _notify(
            customer=customer,
            actor=actor,
            event="elastic.budget_changed",
            change=deferred(
                "%(actor)s changed the Elastic budget: %(budget)s units a month, alerts at "
                "%(thresholds)s, extra recipients: %(recipients)s."
            )
            % {
                "actor": actor.email,
                "budget": monthly_budget_units if monthly_budget_units is not None else gettext_lazy("no budget"),
                "thresholds": ", ".join(f"{t} %" for t in thresholds) or gettext_lazy("none"),
                "recipients": ", ".join(recipients) or gettext_lazy("none"),
            },
        )
        return locked


# --- Budget alerts (periodic) -----------------------------------------------------------


def budget_alert_check(*, account: ElasticAccount, today: datetime.date | None = None) -> list[int]:
    """Emails the thresholds this month's consumption has newly crossed, once per month.

    The BudgetAlert rows are inserted first, in the same transaction as the email's outbox
    row: the unique constraint (customer, month, threshold) makes a second run, even one
    overlapping this one, insert nothing and so send nothing. Returns the thresholds
    announced by this call. System action (no actor)."""
    today = today or timezone.localdate()
    budget = account.monthly_budget_units
    if not budget or not account.alert_thresholds:
        return []
    month = month_start(today)
    consumed = elastic_consumed(customer=account.customer, start=month, end=today)
    percent = consumed * 100 / budget
    crossed = sorted(t for t in account.alert_thresholds if percent >= t)
    if not crossed:
        return []
    customer = account.customer
    with transaction.atomic():
        new: list[int] = []
        for threshold in crossed:
            try:
                with transaction.atomic():
                    BudgetAlert.objects.create(customer=customer, month=month, threshold=threshold, consumed=consumed)
            except IntegrityError:
                continue  # announced already this month (maybe by an overlapping run)
            new.append(threshold)
        if not new:
            return []
        audit_record(
            customer=customer,
            actor=None,
            action="elastic.budget_alert_sent",
            target=f"{month:%Y-%m}",
            details={"thresholds": new, "consumed": str(consumed), "budget": budget},
        )
        recipients = set(notification_recipients(customer=customer)) | set(account.alert_recipients)
        notification_queue(
            customer=customer,
            event="elastic.budget_alert",
            template="budget_alert",
            context={
                "threshold": max(new),
                "thresholds": new,
                "consumed": consumed,
                "budget": budget,
                "percent": int(percent),
                "month": month,
            },
            recipients=recipients,
        )
        return new


def budget_alerts_check_all(*, today: datetime.date | None = None) -> int:
    """Runs ``budget_alert_check`` for every account with a budget; returns how many
    accounts were alerted. One account's failure does not stop the others."""
    alerted = 0
    for account in elastic_accounts_with_budget():
        try:
            if budget_alert_check(account=account, today=today):
                alerted += 1
        except Exception:  # one broken account must not hide the others' alerts
            logger.exception("Budget check failed for Elastic account %s", account.pk)
    return alerted


# --- Elastic usage import (support console) ---------------------------------------------

USAGE_COLUMNS = (
    "customer_number",
    "transaction_id",
    "started_at",
    "ended_at",
    "feature",
    "count",
    "hours",
    "cost",
    "currency",
    "user",
)
USAGE_REQUIRED = ("customer_number", "transaction_id", "started_at", "ended_at", "feature", "count", "hours", "cost")
MAX_USAGE_LINES = 100_000
_USAGE_EARLIEST, _USAGE_LATEST = datetime.date(2000, 1, 1), datetime.date(2999, 12, 31)
USAGE_CHUNK = 2000


class UsageOutcome:
    IMPORTED = "imported"
    WOULD_IMPORT = "would_import"
    ALREADY_IMPORTED = "already_imported"
    DUPLICATE = "duplicate"
    INVALID = "invalid"


@dataclass
class UsageLine:
    number: int
    outcome: str
    reason: str = ""
    customer_number: str = ""
    transaction_id: str = ""


@dataclass
class UsageImportResult:
    lines: list[UsageLine] = field(default_factory=list)
    dry_run: bool = False

    def count(self, outcome: str) -> int:
        return sum(1 for line in self.lines if line.outcome == outcome)

    @property
    def counts(self) -> dict[str, int]:
        keys = (
            UsageOutcome.WOULD_IMPORT if self.dry_run else UsageOutcome.IMPORTED,
            UsageOutcome.ALREADY_IMPORTED,
            UsageOutcome.DUPLICATE,
            UsageOutcome.INVALID,
        )
        return {key: self.count(key) for key in keys}


def _parse_moment(value: str) -> datetime.datetime | None:
    value = value.strip()
    try:
        moment = parse_datetime(value.replace(" ", "T", 1)) if len(value) > 10 else None
    except ValueError:
        return None
    if moment is None:
        try:
            day = parse_date(value)
        except ValueError:
            return None
        if day is None:
            return None
        moment = datetime.datetime.combine(day, datetime.time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _parse_decimal(value: str, *, places: int, digits: int) -> Decimal | None:
    try:
        number = Decimal(value.strip())
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite() or number < 0:
        return None
    try:
        number = number.quantize(Decimal(1).scaleb(-places))
    except InvalidOperation:  # too many digits for the context (e.g. 1E+100)
        return None
    if len(number.as_tuple().digits) > digits:
        return None
    return number


def elastic_usage_import(*, actor: User, text: str, dry_run: bool = False) -> UsageImportResult:
    """Imports the vendor's usage report (CSV with ``USAGE_COLUMNS`` as header).

    Each line is validated (customer number, transaction id, ISO dates with end >= start,
    a known Elastic product feature, whole count, non-negative hours and cost); invalid lines
    are reported and skipped, valid ones imported. De-duplicated on (customer, transaction
    id): within the file (later copies reported as duplicates) and against what is stored
    (reported as already imported), so importing the same report again changes nothing.
    Inserts in chunks with ``bulk_create(ignore_conflicts=True)`` (a concurrent import of
    the same rows cannot fail). Support staff with the import permission only; one audit
    event per customer touched.
    """
    console_authorize(
        actor=actor,
        action="elastic.usage_import",
        permission="entitlements.add_elasticusage",
        message=_("Only support staff with the import permission can import Elastic usage."),
    )
    result = UsageImportResult(dry_run=dry_run)
    rows = csv_table_read(text, required=USAGE_REQUIRED, expected=USAGE_COLUMNS, max_rows=MAX_USAGE_LINES).rows
    customers, products = _usage_known(rows)
    valid = _usage_plan(rows, customers=customers, products=products, result=result)
    with transaction.atomic():
        _usage_apply(valid, customers=customers, actor=actor, dry_run=dry_run)
    result.lines.sort(key=lambda line: line.number)
    return result


def _usage_known(rows: Sequence[tuple[int, dict[str, str]]]) -> tuple[dict[str, Customer], dict[str, Product]]:
    """The customers (by number) and products (by lower-case feature) the rows name."""

    def column_values(name: str) -> set[str]:
        return {row[name] for _n, row in rows if name in row}

    customers = {c.number: c for c in Customer.objects.filter(number__in=column_values("customer_number"))}
    features = {value.lower() for value in column_values("feature")}
    products = {p.feature.lower(): p for p in Product.objects.all() if p.feature.lower() in features}
    return customers, products


def _usage_plan(
    rows: Sequence[tuple[int, dict[str, str]]],
    *,
    customers: dict[str, Customer],
    products: dict[str, Product],
    result: UsageImportResult,
) -> list[tuple[UsageLine, ElasticUsage]]:
    """Plan: every row reported in ``result`` (invalid, or a duplicate of an earlier row);
    the valid ones returned with their usage, to be applied."""
    valid: list[tuple[UsageLine, ElasticUsage]] = []
    seen: dict[tuple[int, str], int] = {}
    for number, row in rows:

        def cell(name: str, row: dict[str, str] = row) -> str:
            return row.get(name, "")

        line = UsageLine(
            number, UsageOutcome.INVALID, customer_number=cell("customer_number"), transaction_id=cell("transaction_id")
        )
        result.lines.append(line)
        error = _usage_row_error(line, cell, customers=customers, products=products)
        if isinstance(error, str):
            line.reason = error
            continue
        usage = error
        key = (usage.customer_id, usage.transaction_id)
        if key in seen:
            line.outcome = UsageOutcome.DUPLICATE
            line.reason = _("Same transaction as line %(line)d; ignored.") % {"line": seen[key]}
            continue
        seen[key] = number
        valid.append((line, usage))
    return valid


def _usage_apply(
    valid: Sequence[tuple[UsageLine, ElasticUsage]], *, customers: dict[str, Customer], actor: User, dry_run: bool
) -> None:
    """Apply: per customer, the transactions not stored yet inserted in chunks (none on a
    dry run), each line's outcome set, one audit event per customer touched."""
    by_customer: dict[int, list[tuple[UsageLine, ElasticUsage]]] = {}
    for line, usage in valid:
        by_customer.setdefault(usage.customer_id, []).append((line, usage))
    for customer_id, entries in by_customer.items():
        imported = sum(
            _usage_apply_chunk(entries[start : start + USAGE_CHUNK], customer_id=customer_id, dry_run=dry_run)
            for start in range(0, len(entries), USAGE_CHUNK)
        )
        if imported and not dry_run:
            customer = next(c for c in customers.values() if c.pk == customer_id)
            audit_record(
                customer=customer, actor=actor, action="elastic.usage_imported", details={"transactions": imported}
            )


def _usage_apply_chunk(chunk: Sequence[tuple[UsageLine, ElasticUsage]], *, customer_id: int, dry_run: bool) -> int:
    stored = set(
        ElasticUsage.objects.filter(
            customer_id=customer_id, transaction_id__in=[usage.transaction_id for _l, usage in chunk]
        ).values_list("transaction_id", flat=True)
    )
    new = []
    for line, usage in chunk:
        if usage.transaction_id in stored:
            line.outcome = UsageOutcome.ALREADY_IMPORTED
            line.reason = _("Imported before; unchanged.")
        else:
            line.outcome = UsageOutcome.WOULD_IMPORT if dry_run else UsageOutcome.IMPORTED
            new.append(usage)
    if new and not dry_run:
        ElasticUsage.objects.bulk_create(new, batch_size=1000, ignore_conflicts=True)
    return len(new)


def _usage_row_error(
    line: UsageLine, cell: Any, *, customers: dict[str, Customer], products: dict[str, Product]
) -> str | ElasticUsage:
    """The parsed usage of one line, or why it is invalid."""
    empty = [column for column in USAGE_REQUIRED if not cell(column)]
    if empty:
        return _("Missing: %(columns)s.") % {"columns": ", ".join(empty)}
    customer = customers.get(line.customer_number)
    if customer is None:
        return _("Unknown customer number %(number)s.") % {"number": line.customer_number[:20]}
    if len(line.transaction_id) > 64:
        return _("The transaction id has more than 64 characters.")
    started, ended = _parse_moment(cell("started_at")), _parse_moment(cell("ended_at"))
    if started is None or ended is None:
        return _("Dates must look like 2026-11-28 14:05 (ISO 8601).")
    if ended < started:
        return _("The end is before the start.")
    if started.date() < _USAGE_EARLIEST or ended.date() > _USAGE_LATEST:
        # Years 1 and 9999 shifted to UTC leave Python's range: the row could be stored but never read.
        return _("Enter a date between 2000 and 2999.")
    product = products.get(cell("feature").lower())
    if product is None:
        return _("Unknown product feature %(feature)s.") % {"feature": cell("feature")[:30]}
    if product.licensing_model != LicensingModel.ELASTIC:
        return _("%(feature)s is not an Elastic product.") % {"feature": product.feature}
    amounts = _usage_row_amounts(cell)
    if isinstance(amounts, str):
        return amounts
    return ElasticUsage(
        customer=customer,
        transaction_id=line.transaction_id,
        started_at=started,
        ended_at=ended,
        product=product,
        **amounts,
    )


def _usage_row_amounts(cell: Any) -> str | dict[str, Any]:
    """Count, hours, cost, currency and user of a usage row, or why they are invalid."""
    count_text = cell("count")
    # isascii: "²".isdigit() is true but int("²") fails; seven digits keep int() cheap.
    count = int(count_text) if count_text.isascii() and count_text.isdigit() and len(count_text) <= 7 else 0
    if not 0 < count <= 1_000_000:
        return _("The count must be a whole number from 1 to 1000000.")
    hours = _parse_decimal(cell("hours"), places=3, digits=12)
    cost = _parse_decimal(cell("cost"), places=3, digits=14)
    if hours is None:
        return _("The hours must be a non-negative number.")
    if cost is None:
        return _("The cost must be a non-negative number.")
    currency = cell("currency") or "AEU"
    if len(currency) > 16:
        return _("The currency has more than 16 characters.")
    user = cell("user")
    if len(user) > 254:
        return _("The user has more than 254 characters.")
    return {"count": count, "hours": hours, "cost": cost, "currency": currency, "user": user}
