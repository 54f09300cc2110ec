"""Every read of accounts data. Customer-scoped reads take the customer."""

from __future__ import annotations

import datetime
import enum
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from allauth.account.models import EmailAddress
from django.db import connection
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .audit_text import audit_kind_actions
from .models import AuditEvent, Customer, Invitation, Membership, User
from .roles import GRANTABLE_ROLES, Role


def _memberships_sql() -> tuple[str, list[str], list[str]]:
    """The statement and the field names of its columns, from the models (no user input)."""
    memberships, customers = Membership._meta.concrete_fields, Customer._meta.concrete_fields
    select = [f"m.{f.column}" for f in memberships] + [f"c.{f.column}" for f in customers]
    sql = (
        f"SELECT {', '.join(select)} FROM {Membership._meta.db_table} m "  # noqa: S608 - names from the models
        f"JOIN {Customer._meta.db_table} c ON c.id = m.customer_id WHERE m.user_id = %s ORDER BY c.number"
    )
    return sql, [f.attname for f in memberships], [f.attname for f in customers]


MEMBERSHIPS_FOR_USER_SQL, _MEMBERSHIP_FIELDS, _CUSTOMER_FIELDS = _memberships_sql()


def memberships_for_user(*, user: User) -> list[Membership]:
    """All the user's memberships with their customers, in the customer switcher's order: one
    query for a customer page's access check and its switcher (``accounts.context_processors``),
    and the access page's list.

    Every customer page runs it, so it is one SQL statement built from the models' fields at
    import rather than an ORM query compiled per request (0.2 ms instead of 1 ms, most of a
    cached page's time; docs/performance.md).
    """
    with connection.cursor() as cursor:
        cursor.execute(MEMBERSHIPS_FOR_USER_SQL, [user.pk])
        rows = cursor.fetchall()
    split = len(_MEMBERSHIP_FIELDS)
    memberships = []
    for row in rows:
        membership = Membership.from_db("default", _MEMBERSHIP_FIELDS, row[:split])
        membership.customer = Customer.from_db("default", _CUSTOMER_FIELDS, row[split:])
        membership.user = user
        memberships.append(membership)
    return memberships


def membership_list(*, customer: Customer) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(customer=customer)
        .select_related("user", "added_by", "customer")
        .order_by("user__email")
    )


def invitation_pending_list(*, customer: Customer) -> QuerySet[Invitation]:
    return (
        Invitation.objects.pending()
        .filter(customer=customer)
        .select_related("invited_by", "customer")
        .order_by("email")
    )


def invitations_for_invitee(*, user: User) -> QuerySet[Invitation]:
    """Pending invitations addressed to one of the user's *verified* addresses (the access
    page offers to accept or decline them). Not customer-scoped: the invitee is not a member."""
    emails = [
        email.lower() for email in EmailAddress.objects.filter(user=user, verified=True).values_list("email", flat=True)
    ]
    return (
        Invitation.objects.pending()
        .annotate(email_lower=Lower("email"))
        .filter(email_lower__in=emails)
        .select_related("customer", "invited_by")
        .order_by("customer__number")
    )


def invitation_for_invitee(*, user: User, pk: int) -> Invitation:
    """The pending invitation ``pk`` when it is addressed to one of the user's verified
    addresses; otherwise an unsaved stand-in, which the accept/decline services refuse with
    the same message (an id tells nothing about invitations that are not the user's)."""
    return invitations_for_invitee(user=user).filter(pk=pk).first() or Invitation(pk=pk)


# --- The audit log ----------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilters:
    action: str = ""
    actor: str = ""
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None
    denied_only: bool = False


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def audit_event_list(*, customer: Customer, filters: AuditFilters | None = None) -> QuerySet[AuditEvent]:
    """The customer's audit events, newest first, filtered.

    Always ``customer = ? ORDER BY created_at DESC, id DESC`` so PostgreSQL walks the
    ``audit_customer_time`` index (or ``audit_customer_action`` when filtering by action)
    and stops after one page. Dates are whole days in the portal's time zone, ``date_to``
    inclusive.
    """
    events = AuditEvent.objects.filter(customer=customer)
    filters = filters or AuditFilters()
    if filters.action:
        # A kind of event: its outcome and the refused attempts at it (accounts/audit_text.py).
        events = events.filter(action__in=audit_kind_actions(filters.action))
    if filters.actor:
        events = events.filter(actor_email__icontains=filters.actor)
    if filters.date_from:
        events = events.filter(created_at__gte=_day_start(filters.date_from))
    if filters.date_to:
        events = events.filter(created_at__lt=_day_start(filters.date_to + datetime.timedelta(days=1)))
    if filters.denied_only:
        events = events.filter(denied=True)
    return events.order_by("-created_at", "-id")


def audit_actions_used(*, customer: Customer) -> list[str]:
    """The distinct actions recorded for the customer (for the filter's choices)."""
    return sorted(AuditEvent.objects.filter(customer=customer).order_by().values_list("action", flat=True).distinct())


# --- Adding portal users: what would happen to each email --------------------------------


class AddOutcome(enum.Enum):
    ADD = "add"
    INVITE = "invite"
    ALREADY_MEMBER = "already_member"
    ALREADY_INVITED = "already_invited"
    DUPLICATE = "duplicate"
    INVALID = "invalid"
    ASC_REFUSED = "asc_refused"

    @property
    def label(self) -> str:
        return str(ADD_OUTCOME_LABELS[self])

    @property
    def tone(self) -> str:
        """The badge style the preview shows the outcome with."""
        return _ADD_OUTCOME_TONES[self]


ADD_OUTCOME_LABELS = {
    AddOutcome.ADD: gettext_lazy("Add"),
    AddOutcome.INVITE: gettext_lazy("Invite"),
    AddOutcome.ALREADY_MEMBER: gettext_lazy("Already a portal user"),
    AddOutcome.ALREADY_INVITED: gettext_lazy("Already invited"),
    AddOutcome.DUPLICATE: gettext_lazy("Duplicate in file"),
    AddOutcome.INVALID: gettext_lazy("Invalid"),
    AddOutcome.ASC_REFUSED: gettext_lazy("ASC role refused"),
}
_ADD_OUTCOME_TONES = {
    AddOutcome.ADD: "success",
    AddOutcome.INVITE: "info",
    AddOutcome.ALREADY_MEMBER: "muted",
    AddOutcome.ALREADY_INVITED: "muted",
    AddOutcome.DUPLICATE: "warning",
    AddOutcome.INVALID: "danger",
    AddOutcome.ASC_REFUSED: "danger",
}
# Lines that stop a bulk add from being applied at all (it is all-or-nothing).
BLOCKING_OUTCOMES = frozenset({AddOutcome.INVALID, AddOutcome.ASC_REFUSED})
APPLYING_OUTCOMES = frozenset({AddOutcome.ADD, AddOutcome.INVITE})


@dataclass(frozen=True)
class AddRequest:
    """One requested addition: a parsed input line. ``error`` is set when it did not parse."""

    number: int
    text: str
    email: str = ""
    role: Role | None = None
    error: str = ""


@dataclass(frozen=True)
class AddPlanLine:
    request: AddRequest
    outcome: AddOutcome
    reason: str = ""
    user_id: int | None = None

    @property
    def blocking(self) -> bool:
        return self.outcome in BLOCKING_OUTCOMES

    @property
    def applies(self) -> bool:
        return self.outcome in APPLYING_OUTCOMES


def user_add_plan(*, customer: Customer, requests: Sequence[AddRequest], allow_asc: bool = False) -> list[AddPlanLine]:
    """What adding each requested email would do, in three queries whatever the count.

    Order of precedence per line: unparsable -> ASC role (support only) -> repeated email
    in the same request -> already a portal user -> already invited -> add (an active user
    holds the address verified, support only) -> invite. The single add and the bulk add
    both use this, so they can never disagree. ``allow_asc`` is for support staff, who may
    grant the ASC role and add an existing account at once.

    For a portal user every address that is not already a member of this customer is
    *invited*, whether or not an account holds it: the plan (and so the preview, the single
    add and the digest) never tells a customer who has an account elsewhere, and nobody is
    added to a customer without accepting (``invitation_accept``).
    """
    known = _AddKnown.read(customer=customer, requests=requests)
    plan: list[AddPlanLine] = []
    first_seen: dict[str, AddRequest] = {}
    for request in requests:
        refused = _add_refusal(request, first_seen=first_seen, allow_asc=allow_asc)
        if refused is not None:
            plan.append(refused)
            continue
        first_seen[request.email] = request
        plan.append(known.line_for(request, add_at_once=allow_asc))
    return plan


def _add_refusal(request: AddRequest, *, first_seen: dict[str, AddRequest], allow_asc: bool) -> AddPlanLine | None:
    """The plan line of a request that cannot apply whatever the data: unparsable, the ASC
    role, or an email already requested on an earlier line. None for the others."""
    if request.error or request.role is None:
        return AddPlanLine(request, AddOutcome.INVALID, request.error or _("Choose a valid role."))
    if request.role not in GRANTABLE_ROLES and not allow_asc:
        reason = _("Only support can designate a Support Coordinator (ASC).")
        return AddPlanLine(request, AddOutcome.ASC_REFUSED, reason)
    earlier = first_seen.get(request.email)
    if earlier is None:
        return None
    if earlier.role == request.role:
        reason = _("Same as line %(line)d; this line is ignored.") % {"line": earlier.number}
        return AddPlanLine(request, AddOutcome.DUPLICATE, reason)
    reason = _("Line %(line)d gives this email a different role.") % {"line": earlier.number}
    return AddPlanLine(request, AddOutcome.INVALID, reason)


@dataclass
class _AddKnown:
    """What the database knows about the requested emails (three queries)."""

    verified: dict[str, int] = field(default_factory=dict)  # email -> id of the active user holding it verified
    member_ids: set[int] = field(default_factory=set)
    member_emails: set[str] = field(default_factory=set)
    invited: set[str] = field(default_factory=set)

    @classmethod
    def read(cls, *, customer: Customer, requests: Sequence[AddRequest]) -> _AddKnown:
        known = cls()
        emails = sorted({request.email for request in requests if request.email and not request.error})
        if not emails:
            return known
        for email_lower, user_id in (
            EmailAddress.objects.annotate(email_lower=Lower("email"))
            .filter(email_lower__in=emails, verified=True, user__is_active=True)
            .order_by("pk")
            .values_list("email_lower", "user_id")
        ):
            known.verified.setdefault(email_lower, user_id)
        for user_id, email_lower in (
            Membership.objects.filter(customer=customer)
            .annotate(email_lower=Lower("user__email"))
            .values_list("user_id", "email_lower")
        ):
            known.member_ids.add(user_id)
            known.member_emails.add(email_lower)
        known.invited = set(
            Invitation.objects.pending()
            .filter(customer=customer)
            .annotate(email_lower=Lower("email"))
            .filter(email_lower__in=emails)
            .values_list("email_lower", flat=True)
        )
        return known

    def line_for(self, request: AddRequest, *, add_at_once: bool) -> AddPlanLine:
        """``add_at_once`` (support only) adds an existing verified account directly; for
        everyone else an account or none makes the same invitation (nothing is revealed)."""
        user_id = self.verified.get(request.email)
        if request.email in self.member_emails or (user_id is not None and user_id in self.member_ids):
            return AddPlanLine(request, AddOutcome.ALREADY_MEMBER, _("Already a portal user of this customer."))
        if request.email in self.invited:
            return AddPlanLine(request, AddOutcome.ALREADY_INVITED, _("An invitation is already pending."))
        if user_id is not None and add_at_once:
            return AddPlanLine(request, AddOutcome.ADD, _("Has a verified account: added at once."), user_id)
        reason = _("An invitation is emailed; access begins when it is accepted.")
        return AddPlanLine(request, AddOutcome.INVITE, reason)


def user_add_plan_digest(plan: Sequence[AddPlanLine]) -> str:
    """A fingerprint of a plan: equal digests mean applying would do exactly what was shown."""
    payload = [
        [
            line.request.number,
            line.request.email,
            line.request.role.value if line.request.role else "",
            line.outcome.value,
            line.user_id,
        ]
        for line in plan
    ]
    return hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode()).hexdigest()
