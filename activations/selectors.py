"""Every read of license servers, activations and license files, scoped by customer."""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.db.models import Count, Max, OuterRef, Prefetch, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from accounts.models import Customer, User
from entitlements.models import Entitlement, EntitlementStatus, LicensingModel
from entitlements.selectors import customer_has_flexnet, customers_with_flexnet, flexnet_entitlement_list
from portal.db import compiled_objects, compiled_rows
from portal.fragments import customer_value

from .hostids import hostid_detect, hostid_normalise
from .licensefile import FileIdentity, ParsedFeature, ParsedLicense, VerifyResult, license_verify
from .models import (
    EMERGENCY_FILE_VERSION,
    Activation,
    ActivationSubmission,
    EmergencyLicense,
    LicenseFile,
    LicenseServer,
    Rehost,
    RehostGrant,
    RehostQuota,
    ReturnedLicenses,
    ServerHost,
)

REHOST_WINDOW = datetime.timedelta(days=365)


# --- Visibility -----------------------------------------------------------------------------


class Unavailable:
    """Why a customer has no Activations section (DESIGN.md: the visibility rule)."""

    NO_FLEXNET = "no_flexnet"
    NOT_MANAGED = "not_managed"


def activations_unavailable_reason(*, customer: Customer, cached: bool = True, has_flexnet: bool = False) -> str | None:
    """The visibility rule, stated once (DESIGN.md): activations exist only for a customer
    that owns FlexNet entitlements AND whose FlexNet management support has enabled. None
    when activations are visible, else an ``Unavailable`` value saying why not.

    Asked by the navigation and by every activations page: computed once per version of the
    customer's data (``portal.fragments.customer_value``). ``cached=False`` for a write: every
    write raises that version, so the cached answer is gone by the next one and asking the
    cache (a miss, then a store nobody reads) cost twice the query itself. ``has_flexnet``:
    the caller has just read FlexNet lines of this customer, so only the flag is left to ask."""
    if has_flexnet:
        return _reason(has_flexnet=True, managed=customer.flexnet_managed)
    if not cached:
        return _unavailable_reason(customer)
    return customer_value(
        name="activations_unavailable", customer=customer, compute=lambda: _unavailable_reason(customer)
    )


def _reason(*, has_flexnet: bool, managed: bool) -> str | None:
    """The rule itself."""
    if not has_flexnet:
        return Unavailable.NO_FLEXNET
    if not managed:
        return Unavailable.NOT_MANAGED
    return None


def _unavailable_reason(customer: Customer) -> str | None:
    return _reason(has_flexnet=customer_has_flexnet(customer=customer), managed=customer.flexnet_managed)


def activations_unavailable_reasons(*, customers: Iterable[Customer]) -> dict[int, str | None]:
    """``activations_unavailable_reason`` for a list of customers (the access page), in one
    query: the same rule, asked once for all."""
    customers = list(customers)
    flexnet = customers_with_flexnet(customer_ids=[c.pk for c in customers])
    return {c.pk: _reason(has_flexnet=c.pk in flexnet, managed=c.flexnet_managed) for c in customers}


def activations_visible(*, customer: Customer) -> bool:
    return activations_unavailable_reason(customer=customer) is None


# --- Servers --------------------------------------------------------------------------------


def server_list(*, customer: Customer) -> QuerySet[LicenseServer]:
    """Servers with hosts prefetched and per-server totals (lines, licenses, latest license
    file version) as subqueries: two queries however many servers and activations there are.

    Subqueries rather than aggregates over joins: joining activations and license files at
    once would count every activation once per file version."""
    activations = Activation.objects.filter(server=OuterRef("pk")).order_by().values("server")
    return (
        LicenseServer.objects.filter(customer=customer, retired_at__isnull=True)
        .annotate(
            activation_lines=Coalesce(Subquery(activations.annotate(n=Count("pk")).values("n")), 0),
            activated_total=Coalesce(Subquery(activations.annotate(n=Sum("quantity")).values("n")), 0),
            latest_version=Subquery(
                LicenseFile.objects.filter(server=OuterRef("pk")).order_by("-version").values("version")[:1]
            ),
        )
        .prefetch_related(Prefetch("hosts", queryset=ServerHost.objects.order_by("position")))
        .order_by("name")
    )


def server_get(*, customer: Customer, server_id: int, hosts: bool = True) -> LicenseServer | None:
    """One server of the customer (not retired); ``hosts=False`` skips the hosts' query for
    callers that only need the row (the API's writes)."""
    if not hosts:
        found = compiled_objects(
            "activations.server_get",
            LicenseServer,
            lambda customer_id, pk: LicenseServer.objects.filter(
                customer_id=customer_id, pk=pk, retired_at__isnull=True
            ).order_by(),
            customer.pk,
            server_id,
        )
        return found[0] if found else None
    servers = LicenseServer.objects.filter(customer=customer, pk=server_id, retired_at__isnull=True)
    servers = servers.prefetch_related(Prefetch("hosts", queryset=ServerHost.objects.order_by("position")))
    return servers.first()


def server_allocations(*, server: LicenseServer) -> dict[int, tuple[int, bool]]:
    """What the server has of each line: {entitlement id: (quantity, borrowable)}. One small
    query by the server's key (``portal.db.compiled_rows``), for the activate form's initial
    values; ``server_activations`` for the lines themselves."""
    rows = compiled_rows(
        "activations.server_allocations",
        lambda server_id: (
            Activation.objects.filter(server_id=server_id)
            .order_by()
            .values_list("entitlement_id", "quantity", "borrowable")
        ),
        server.pk,
    )
    return {entitlement_id: (quantity, borrowable) for entitlement_id, quantity, borrowable in rows}


def server_activations(*, server: LicenseServer) -> QuerySet[Activation]:
    return (
        Activation.objects.filter(server=server).select_related("entitlement__product").order_by("entitlement__line_id")
    )


def server_host_id_taken(*, customer: Customer, host_id: str, exclude_server: LicenseServer | None = None) -> bool:
    queryset = ServerHost.objects.filter(customer=customer, host_id=host_id)
    if exclude_server is not None and exclude_server.pk:
        queryset = queryset.exclude(server=exclude_server)
    return queryset.exists()


def server_by_host_id(*, customer: Customer, host_id: str) -> LicenseServer | None:
    host = ServerHost.objects.filter(customer=customer, host_id=host_id).select_related("server").first()
    return host.server if host else None


# --- License files --------------------------------------------------------------------------


def license_file_list(*, server: LicenseServer) -> QuerySet[LicenseFile]:
    return LicenseFile.objects.filter(server=server).select_related("created_by").defer("content").order_by("-version")


def license_file_get(*, customer: Customer, server_id: int, version: int) -> LicenseFile | None:
    return (
        LicenseFile.objects.filter(server__customer=customer, server_id=server_id, version=version)
        .select_related("server__customer", "created_by")
        .first()
    )


def emergency_license_list(*, server: LicenseServer, limit: int = 5) -> QuerySet[EmergencyLicense]:
    """The server's latest emergency files, newest first (its page offers the valid ones and
    shows the others as expired)."""
    return (
        EmergencyLicense.objects.filter(server=server)
        .select_related("server__customer")
        .defer("content")
        .order_by("-created_at", "-pk")[:limit]
    )


def emergency_license_get(*, customer: Customer, emergency_id: int) -> EmergencyLicense | None:
    return (
        EmergencyLicense.objects.filter(customer=customer, pk=emergency_id).select_related("server__customer").first()
    )


def license_file_latest(*, server: LicenseServer) -> LicenseFile | None:
    return LicenseFile.objects.filter(server=server).select_related("server__customer").order_by("-version").first()


@dataclass(frozen=True)
class LicenseFileStanding:
    """What the portal knows of a file identity (customer, server, version) signed into a
    file's lines: whether it issued that version and the server's latest version."""

    identity: FileIdentity
    known: bool
    latest_version: int | None

    @property
    def emergency(self) -> bool:
        return self.identity.version == EMERGENCY_FILE_VERSION

    @property
    def superseded(self) -> bool:
        return self.known and self.latest_version is not None and self.latest_version > self.identity.version


def license_file_standing(*, identity: FileIdentity) -> LicenseFileStanding:
    """Looks the file up by its signed identity (scoped by the customer number it signs). An
    emergency file (``EMERGENCY_FILE_VERSION``) is known when the portal issued one for the
    server; it is never "superseded" (it is no version of the server's file)."""
    if identity.version == EMERGENCY_FILE_VERSION:
        known = EmergencyLicense.objects.filter(server_id=identity.server, customer__number=identity.customer).exists()
        return LicenseFileStanding(identity=identity, known=known, latest_version=None)
    files = LicenseFile.objects.filter(server_id=identity.server, server__customer__number=identity.customer)
    latest = files.aggregate(latest=Max("version"))["latest"]
    known = latest is not None and files.filter(version=identity.version).exists()
    return LicenseFileStanding(identity=identity, known=known, latest_version=latest)


def license_file_check(*, text: str, public_key: Ed25519PublicKey) -> tuple[VerifyResult, LicenseFileStanding | None]:
    """Verifies a license file (signatures and file identity, offline) and, when it is
    valid, looks up whether it is the server's current version."""
    result = license_verify(text, public_key=public_key)
    if not result.valid or result.identity is None:
        return result, None
    return result, license_file_standing(identity=result.identity)


# --- Activation plan -----------------------------------------------------------------------


@dataclass(frozen=True)
class LineRequest:
    quantity: int
    borrowable: bool


@dataclass
class PlanLine:
    entitlement: Entitlement
    current: int
    current_borrowable: bool
    wanted: int
    borrowable: bool
    errors: list[str] = field(default_factory=list)

    @property
    def delta(self) -> int:
        return self.wanted - self.current

    @property
    def changed(self) -> bool:
        return self.delta != 0 or (self.wanted > 0 and self.borrowable != self.current_borrowable)

    @property
    def available_after(self) -> int:
        return self.entitlement.quantity - self.entitlement.activated - self.delta


def line_errors(
    *, entitlement: Entitlement, current: int, wanted: int, borrowable: bool, today: datetime.date
) -> list[str]:
    """Why a requested quantity for one line cannot be applied (empty when it can).

    ``entitlement.activated`` must be fresh (read under the lock by the service)."""
    errors: list[str] = []
    line = entitlement.line_id
    if entitlement.product.licensing_model != LicensingModel.FLEXNET:
        return [_("Line %(line)s is not a FlexNet entitlement.") % {"line": line}]
    delta = wanted - current
    if delta > 0:
        status = entitlement.status_on(today)
        if status == EntitlementStatus.EXPIRED:
            errors.append(
                _("Line %(line)s has expired: its licenses can be returned but not newly activated.") % {"line": line}
            )
        elif status == EntitlementStatus.NOT_STARTED:
            errors.append(
                _("Line %(line)s starts on %(start)s: it cannot be activated before then.")
                % {"line": line, "start": formats.date_format(entitlement.start_date, "SHORT_DATE_FORMAT")}
            )
        available = entitlement.quantity - entitlement.activated
        if delta > available:
            errors.append(
                _("Line %(line)s: %(wanted)s more requested but only %(available)s available.")
                % {"line": line, "wanted": delta, "available": max(available, 0)}
            )
    if borrowable and wanted > 0 and not entitlement.borrowable:
        errors.append(_("Line %(line)s is not borrowable.") % {"line": line})
    return errors


def activation_plan(
    *, server: LicenseServer, requests: Mapping[int, LineRequest], today: datetime.date | None = None
) -> list[PlanLine]:
    """What applying ``requests`` (entitlement id -> wanted quantity on this server) would
    change, line by line, with the reasons a line cannot be applied. Reads only; every
    FlexNet line of the customer is listed (unrequested lines keep their allocation)."""
    today = today or timezone.localdate()
    current = {activation.entitlement_id: activation for activation in server_activations(server=server)}
    plan = []
    for entitlement in flexnet_entitlement_list(customer=server.customer, today=today):
        activation = current.get(entitlement.pk)
        have = activation.quantity if activation else 0
        have_borrowable = activation.borrowable if activation else False
        request = requests.get(entitlement.pk, LineRequest(have, have_borrowable))
        line = PlanLine(
            entitlement=entitlement,
            current=have,
            current_borrowable=have_borrowable,
            wanted=request.quantity,
            borrowable=request.borrowable and request.quantity > 0,
        )
        line.errors = line_errors(
            entitlement=entitlement, current=have, wanted=line.wanted, borrowable=line.borrowable, today=today
        )
        plan.append(line)
    return plan


# --- Rehost allowance -----------------------------------------------------------------------


@dataclass(frozen=True)
class RehostQuotaStatus:
    """The customer's allowance of moves to another host ID in the rolling 12 months:
    rehosts of any of its servers and licenses returned on one host and activated on
    another (``Rehost`` rows of either kind)."""

    limit: int
    used: int
    next_possible_at: datetime.datetime | None
    # One-time extra moves granted by support (``RehostGrant``, an approved request) and not
    # used yet: the next move the allowance would refuse uses one.
    extra: int = 0

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0) + self.extra

    @property
    def exhausted(self) -> bool:
        return self.used >= self.limit and self.extra == 0


def rehost_limit(*, customer: Customer) -> int:
    override = RehostQuota.objects.filter(customer=customer).values_list("rehosts_per_year", flat=True).first()
    return settings.PORTAL_REHOSTS_PER_YEAR if override is None else override


def rehost_allowance(*, customer: Customer, now: datetime.datetime | None = None) -> RehostQuotaStatus:
    """Moves of the customer's licenses to another host ID in the rolling 12 months before
    ``now`` against its limit, and, when none is left, when the oldest counted one leaves
    the window."""
    now = now or timezone.now()
    limit = rehost_limit(customer=customer)
    times = list(
        Rehost.objects.filter(customer=customer, created_at__gt=now - REHOST_WINDOW)
        .order_by("created_at")
        .values_list("created_at", flat=True)
    )
    next_possible = None
    if len(times) >= limit:
        # The (used - limit + 1)-th oldest must leave the window before one is free again.
        index = len(times) - limit
        next_possible = times[index] + REHOST_WINDOW if limit > 0 and index < len(times) else None
    extra = RehostGrant.objects.filter(customer=customer, used_at__isnull=True).count()
    return RehostQuotaStatus(limit=limit, used=len(times), next_possible_at=next_possible, extra=extra)


def rehost_quota(*, server: LicenseServer, now: datetime.datetime | None = None) -> RehostQuotaStatus:
    """The allowance that a rehost of ``server`` uses: its customer's (``rehost_allowance``)."""
    return rehost_allowance(customer=server.customer, now=now)


@dataclass(frozen=True)
class LicenseMove:
    """Licenses of one entitlement that an activation would take from what was returned on
    other hosts: ``sources`` are (returned-licenses row id, quantity taken)."""

    entitlement_id: int
    quantity: int
    host_ids: tuple[str, ...]
    sources: tuple[tuple[int, int], ...]
    same_host: tuple[tuple[int, int], ...]


def license_moves(
    *,
    server: LicenseServer,
    host_ids: Sequence[str],
    increases: Mapping[int, tuple[int, int]],
    now: datetime.datetime | None = None,
) -> list[LicenseMove]:
    """Which of the licenses an activation adds on ``server`` come from another host.

    ``increases`` maps entitlement id -> (licenses added on this server, licenses free in
    the pool before the change). The added licenses are taken first from those returned on
    this server or host IDs, then from licenses never activated (or returned over 12 months
    ago), and only then from licenses returned on another host: those are moved. Reads only;
    the service consumes the rows under the entitlement locks."""
    if not increases:
        return []
    returned = _returned_licenses(
        server=server, host_ids=host_ids, entitlement_ids=list(increases), since=(now or timezone.now()) - REHOST_WINDOW
    )
    moves = []
    for entitlement_id, (added, free) in increases.items():
        move = _move_for(entitlement_id, added, free, returned.get(entitlement_id, []))
        if move is not None:
            moves.append(move)
    return moves


# (row id, returned on this server or host IDs, the host IDs, licenses not yet taken again)
_Returned = tuple[int, bool, list[str], int]


def _returned_licenses(
    *, server: LicenseServer, host_ids: Sequence[str], entitlement_ids: list[int], since: datetime.datetime
) -> dict[int, list[_Returned]]:
    """An apply adds to a line or two: the statement is compiled once per number of lines
    (``portal.db.compiled_rows``), the host IDs read as the JSON text PostgreSQL sends."""
    ids = sorted(entitlement_ids)
    rows = compiled_rows(
        ("activations.returned_licenses", len(ids)),
        lambda customer_id, since, *entitlements: (
            ReturnedLicenses.objects.filter(
                customer_id=customer_id, entitlement_id__in=entitlements, remaining__gt=0, created_at__gt=since
            )
            .order_by("created_at", "pk")
            .values_list("pk", "entitlement_id", "server_id", "host_ids", "remaining")
        ),
        server.customer_id,
        since,
        *ids,
    )
    mine = sorted(host_ids)
    by_entitlement: dict[int, list[_Returned]] = {}
    for pk, entitlement_id, server_id, returned_from, remaining in rows:
        if isinstance(returned_from, str):
            returned_from = json.loads(returned_from)
        same = server_id == server.pk or sorted(returned_from) == mine
        by_entitlement.setdefault(entitlement_id, []).append((pk, same, returned_from, remaining))
    return by_entitlement


def _move_for(entitlement_id: int, added: int, free: int, returned: Sequence[_Returned]) -> LicenseMove | None:
    same_rows = [(pk, remaining) for pk, same, _, remaining in returned if same]
    other_rows = [(pk, remaining) for pk, same, _, remaining in returned if not same]
    never_activated = max(free - sum(r for _, r in same_rows) - sum(r for _, r in other_rows), 0)
    same_taken, left = _take(same_rows, added)
    moved, _ = _take(other_rows, max(left - never_activated, 0))
    if not (moved or same_taken):
        return None
    sources = {pk for pk, _ in moved}
    return LicenseMove(
        entitlement_id=entitlement_id,
        quantity=sum(q for _, q in moved),
        host_ids=tuple(sorted({h for pk, _, hosts, _ in returned if pk in sources for h in hosts})),
        sources=tuple(moved),
        same_host=tuple(same_taken),
    )


def _take(rows: Sequence[tuple[int, int]], wanted: int) -> tuple[list[tuple[int, int]], int]:
    """Take up to ``wanted`` from (id, available) rows in order: ([(id, taken)], still wanted)."""
    taken = []
    for pk, available in rows:
        if wanted <= 0:
            break
        amount = min(available, wanted)
        taken.append((pk, amount))
        wanted -= amount
    return taken, wanted


# --- Update from license -------------------------------------------------------------------

_CUSTOMER_IN_VENDOR_STRING = re.compile(r"customer:0*([0-9]{1,12})\b")


@dataclass
class MatchedLine:
    feature: ParsedFeature
    entitlement: Entitlement
    quantity: int


@dataclass
class UnmatchedLine:
    feature: ParsedFeature
    reason: str


@dataclass
class LicenseImportMatch:
    parsed: ParsedLicense
    matched: list[MatchedLine]
    unmatched: list[UnmatchedLine]
    existing_server: LicenseServer | None

    def quantities(self) -> dict[int, int]:
        totals: dict[int, int] = {}
        for line in self.matched:
            totals[line.entitlement.pk] = totals.get(line.entitlement.pk, 0) + line.quantity
        return totals


def vendor_string_customer(feature: ParsedFeature) -> str | None:
    """The customer number in a line's VENDOR_STRING (``customer:01001234`` -> ``1001234``)."""
    attribute = feature.attribute("VENDOR_STRING")
    if attribute is None or not attribute.value:
        return None
    match = _CUSTOMER_IN_VENDOR_STRING.search(attribute.value)
    return str(int(match.group(1))) if match else None


def _import_unmatched_reason(
    feature: ParsedFeature, *, customer_number: str, entitlements: Mapping[str, list[Entitlement]]
) -> str | None:
    """Why a line of an uploaded file cannot be matched at all; None when it may be."""
    number = vendor_string_customer(feature)
    if number is None:
        return _("no customer number in VENDOR_STRING")
    if number != customer_number:
        return _("issued for customer %(number)s, not this customer") % {"number": number}
    if not entitlements.get(feature.name):
        return _("no FlexNet entitlement for feature %(f)s") % {"f": feature.name}
    if feature.count is None:
        return _("uncounted (node-locked) lines cannot be activated here")
    return None


def license_import_match(*, customer: Customer, parsed: ParsedLicense) -> LicenseImportMatch:
    """Matches the INCREMENT/FEATURE lines of an uploaded file to the customer's FlexNet
    entitlements by feature name and the customer number in VENDOR_STRING. A line's count
    is spread over the customer's lines of that feature (active ones first)."""
    entitlements: dict[str, list[Entitlement]] = {}
    for entitlement in flexnet_entitlement_list(customer=customer):
        entitlements.setdefault(entitlement.product.feature, []).append(entitlement)
    for lines in entitlements.values():
        lines.sort(key=lambda e: (e.status_value != EntitlementStatus.ACTIVE, e.line_id))
    room = {e.pk: e.quantity for lines in entitlements.values() for e in lines}
    matched: list[MatchedLine] = []
    unmatched: list[UnmatchedLine] = []
    customer_number = str(int(customer.number))
    for feature in parsed.features:
        reason = _import_unmatched_reason(feature, customer_number=customer_number, entitlements=entitlements)
        if reason is not None:
            unmatched.append(UnmatchedLine(feature, reason))
            continue
        candidates = entitlements[feature.name]
        left = feature.count or 0
        for entitlement in candidates:
            take = min(left, room[entitlement.pk])
            if take > 0:
                matched.append(MatchedLine(feature, entitlement, take))
                room[entitlement.pk] -= take
                left -= take
            if not left:
                break
        if left:
            unmatched.append(
                UnmatchedLine(feature, _("%(count)s more than the entitlements of this feature hold") % {"count": left})
            )
    existing = None
    for server in parsed.servers:
        host_id = hostid_normalise(hostid_detect(server.host_id), server.host_id)
        existing = existing or server_by_host_id(customer=customer, host_id=host_id)
    return LicenseImportMatch(parsed=parsed, matched=matched, unmatched=unmatched, existing_server=existing)


def rehost_history(*, server: LicenseServer) -> QuerySet[Rehost]:
    return Rehost.objects.filter(server=server).select_related("actor").order_by("-created_at")


def activation_submission_get(*, server: LicenseServer, token: str, actor: User) -> ActivationSubmission | None:
    """The saved activation behind a result page: only the person who saved it sees it."""
    if not token.isalnum() or len(token) > 64:
        return None
    return (
        ActivationSubmission.objects.filter(server=server, customer_id=server.customer_id, token=token, actor=actor)
        .select_related("license_file")
        .first()
    )
