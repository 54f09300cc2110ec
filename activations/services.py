"""Every write to license servers, activations and license files.

Locking order, everywhere: the server row, then the entitlement rows in ascending id, then
the customer row. Two activations touching the same entitlements therefore queue instead of
deadlocking, and the entitlement's ``activated <= quantity`` constraint backs up the checks
made under the lock. The customer row comes last because every write to activations and
license files already updates it (the data-version triggers, activations/migrations/0002);
it is taken explicitly, before counting, by whatever uses the customer's rehost allowance
(a rehost, or an activation that moves returned licenses from another host), so that two
such changes on different servers cannot both take the last one. ``ReturnedLicenses`` rows
are read and written only under their entitlement's lock.
"""

from __future__ import annotations

import dataclasses
import datetime
import secrets
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from accounts.access import authorize, authorize_staff
from accounts.audit import audit_record
from accounts.models import Customer, User
from accounts.notifications import notification_queue, notify_ascs
from accounts.roles import Permission, StaffPermission
from accounts.selectors import membership_list
from entitlements.models import Entitlement, Product
from portal.db import compiled_objects, compiled_rows, row_update, rows_insert
from portal.errors import PortalError
from portal.i18n import deferred

from .hostids import HostIdError, HostIdType, hostid_normalise
from .licensefile import (
    FileIdentity,
    IncrementSpec,
    LicenseDocument,
    ServerSpec,
    ascii_text,
    flexlm_date,
    license_render,
)
from .models import (
    EMERGENCY_FILE_VERSION,
    EMERGENCY_LICENSE_MAX_DAYS,
    Activation,
    ActivationSubmission,
    EmergencyLicense,
    LicenseFile,
    LicenseFileReason,
    LicenseServer,
    Rehost,
    RehostGrant,
    RehostKind,
    RehostQuota,
    ReturnedLicenses,
    ServerHost,
    host_name_validator,
)
from .selectors import LicenseMove, LineRequest, license_moves, line_errors, rehost_allowance
from .signing import signatures_for, signing_key

BORROW_HOURS = 720
_TOKEN_LENGTH = 32


class ActivationConflict(PortalError):
    """Availability changed between review and save; nothing was applied."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(
            _("Nothing was saved: the entitlements changed since your review. %(lines)s")
            % {"lines": " ".join(problems)}
        )
        self.problems = problems


@dataclass(frozen=True)
class HostInput:
    host_name: str
    hostid_type: str
    host_id: str


@dataclass
class ActivationResult:
    license_file: LicenseFile
    changed: bool
    already_applied: bool = False
    changes: list[dict[str, Any]] = field(default_factory=list)
    token: str = ""


def activation_token_new() -> str:
    """A one-time token for a review form; saving twice with it applies once."""
    return secrets.token_hex(_TOKEN_LENGTH // 2)


# --- Rendering ------------------------------------------------------------------------------


def _version_string(date: datetime.date) -> str:
    return f"{date.year}.{date.month:02d}{date.day:02d}"


def vendor_string_for(customer: Customer) -> str:
    """``customer:01001234``: the customer number as issued, zero-padded to 8 digits
    (DESIGN.md); a number's own leading zeros are never dropped."""
    return f"customer:{customer.number.zfill(8)}"


# What a license line needs, read as plain rows: a 200-line file would otherwise build 600
# model instances (a quarter of its render time; docs/performance.md).
_INCREMENT_FIELDS = (
    "quantity",
    "borrowable",
    "entitlement__line_id",
    "entitlement__quantity",
    "entitlement__start_date",
    "entitlement__end_date",
    "entitlement__tecs_end_date",
    "entitlement__product__name",
    "entitlement__product__feature",
)


def _increment(row: tuple, *, vendor_string: str, today: datetime.date) -> IncrementSpec:
    quantity, borrowable, line_id, line_quantity, start, end, tecs_end, product_name, feature = row
    # The license file stays in the FlexLM dialect (English) whatever the user's language.
    term = "perpetual" if end is None else "lease"
    tecs = flexlm_date(tecs_end) if tecs_end else "none"
    comment = f"{product_name}: {quantity} of {line_quantity} task(s), {term}, TECS {tecs}, entitlement {line_id}"
    return IncrementSpec(
        feature=feature,
        version=_version_string(tecs_end or end or start),
        expiration=end,
        count=quantity,
        vendor_string=vendor_string,
        issued=today,
        start=start,
        borrow_hours=BORROW_HOURS if borrowable else None,
        comment=ascii_text(" ".join(comment.split())),
    )


def _server_hosts(server: LicenseServer) -> list[tuple[str, str]]:
    """(host name, host ID) of the server's hosts, in position order."""
    return compiled_rows(
        "activations.server_hosts",
        lambda server_id: (
            ServerHost.objects.filter(server_id=server_id).order_by("position").values_list("host_name", "host_id")
        ),
        server.pk,
    )


def _line_order(row: tuple) -> str:
    return row[2]  # entitlement__line_id in _INCREMENT_FIELDS


def license_file_render(
    *,
    server: LicenseServer,
    version: int,
    today: datetime.date | None = None,
    hosts: Sequence[tuple[str, str]] | None = None,
    rows: Sequence[tuple] | None = None,
    new_version: bool = False,
) -> str:
    """The server's license file as of now, in the DESIGN.md dialect, every INCREMENT signed
    and bound to this server and version (SN=). ``hosts`` (``_server_hosts``) and ``rows``
    (``_INCREMENT_FIELDS`` of every activation) are read from the database unless the caller
    has them already; the lines are in line-id order either way.

    ``new_version``: a version never rendered before. Its lines sign the version (SN=), so none
    of them can be among the remembered signatures (``signing.signatures_for``): they are
    signed directly, without asking the caches (two Redis round trips) or filling them."""
    today = today or timezone.localdate()
    customer = server.customer
    if hosts is None:
        hosts = _server_hosts(server)
    if rows is None:
        rows = Activation.objects.filter(server=server).order_by().values_list(*_INCREMENT_FIELDS)
    rows = sorted(rows, key=_line_order)
    header = (
        f"{settings.PORTAL_BRAND_NAME} license file for customer {customer.number} ({customer.name}), "
        f"server {server.name}, version {version}"
    )
    vendor_string = vendor_string_for(customer)
    document = LicenseDocument(
        header=ascii_text(" ".join(header.split())),
        servers=tuple(ServerSpec(host=name, host_id=host_id, port=server.lmgrd_port) for name, host_id in hosts),
        vendor=settings.PORTAL_VENDOR_DAEMON,
        vendor_port=server.vendor_port,
        increments=tuple(_increment(row, vendor_string=vendor_string, today=today) for row in rows),
        # Every line signs which file it belongs to (SN=), so that no line can be repeated,
        # dropped or carried into another version or server's file (licensefile docstring).
        identity=FileIdentity(customer=customer.number, server=server.pk, version=version),
    )
    return license_render(document, private_key=signing_key(), sign_many=None if new_version else signatures_for)


def _new_version(*, server: LicenseServer, actor: User | None, reason: LicenseFileReason) -> LicenseFile:
    """Renders and stores the next version. The caller holds the server row lock."""
    version = _last_version(server) + 1
    content = license_file_render(server=server, version=version, new_version=True)
    return LicenseFile.objects.create(server=server, version=version, content=content, reason=reason, created_by=actor)


def _last_version(server: LicenseServer) -> int:
    """The number of the server's latest license file (0 before the first). Read in a statement
    of its own after the server lock is held: a subquery in the locking statement would see
    the snapshot taken before waiting for the lock, i.e. not the version the previous holder
    of the lock just committed (``test_support_imports_and_activations_on_the_same_lines_do_not_deadlock``
    caught it).

    The highest version by the (server, version) unique index, backwards, one entry: a
    ``MAX(version)`` aggregate was planned as a scan of every version of the server (their
    heap rows too) whenever the statistics counted few files per server, which the ones that
    change most outgrow between two analyses: 0.5-1.9 ms in PostgreSQL at 100-300 versions,
    growing with each, against 0.06 ms (docs/performance.md, "fourth pass")."""
    latest = compiled_rows(
        "activations.last_version",
        lambda server_id: (
            LicenseFile.objects.filter(server_id=server_id).order_by("-version").values_list("version")[:1]
        ),
        server.pk,
    )
    return latest[0][0] if latest else 0


def _lock_server(server: LicenseServer) -> LicenseServer:
    locked = compiled_objects(
        "activations.lock_server",
        LicenseServer,
        lambda server_id, customer_id: (
            LicenseServer.objects.select_for_update(of=("self",))
            .filter(pk=server_id, customer_id=customer_id, retired_at__isnull=True)
            .order_by()
        ),
        server.pk,
        server.customer_id,
        related=(("customer", Customer),),
    )
    if not locked:
        raise PortalError(_("This license server no longer exists."))
    return locked[0]


def _server_link(server: LicenseServer) -> str:
    from django.urls import reverse

    return settings.PORTAL_BASE_URL + reverse(
        "activations:server_detail", kwargs={"customer_number": server.customer.number, "server_id": server.pk}
    )


def _notify(*, server: LicenseServer, actor: User, event: str, summary: str, lines: Sequence[str] = ()) -> None:
    """The ASCs' email about a change of the server's activations, rendered by the worker that
    sends it (``render_in_worker``): the context is plain values."""
    notify_ascs(
        customer=server.customer,
        event=event,
        template="activation_changed",
        context={
            "actor_name": actor.email,
            "server": {"name": server.name},
            "summary": summary,
            "lines": list(lines),
            "server_url": _server_link(server),
        },
        render_in_worker=True,
    )


def _email_file(*, license_file: LicenseFile, actor: User, event: str, recipients: Sequence[str] | None = None) -> None:
    server = license_file.server
    notification_queue(
        customer=server.customer,
        event=event,
        template="license_file",
        context={"server": server, "license_file": license_file, "actor": actor, "server_url": _server_link(server)},
        recipients=list(recipients or [actor.email]),
        attachments=[{"filename": license_file.filename, "content": license_file.content, "mimetype": "text/plain"}],
    )


# --- Servers --------------------------------------------------------------------------------


def _clean_hosts(*, customer: Customer, hosts: Sequence[HostInput], server: LicenseServer | None) -> list[HostInput]:
    if len(hosts) not in (1, 3):
        raise PortalError(_("A license server has one host, or three for a redundant (triad) server."))
    cleaned = []
    for position, host in enumerate(hosts, start=1):
        name = host.host_name.strip()
        try:
            host_name_validator(name)
        except Exception:
            raise PortalError(
                _("Host %(n)s: a host name is letters, digits, dots, hyphens, underscores or colons.")
                % {"n": position},
                field=f"host_name_{position}",
            ) from None
        try:
            host_id = hostid_normalise(host.hostid_type, host.host_id)
        except HostIdError as error:
            raise PortalError(
                _("Host %(n)s: %(error)s") % {"n": position, "error": str(error)}, field=f"host_id_{position}"
            ) from None
        cleaned.append(HostInput(name, HostIdType(host.hostid_type).value, host_id))
    ids = [host.host_id for host in cleaned]
    if len(set(ids)) != len(ids):
        raise PortalError(_("The three hosts of a triad need three different host IDs."), field="host_id_2")
    taken = ServerHost.objects.filter(customer=customer, host_id__in=ids)
    if server is not None:
        taken = taken.exclude(server=server)
    clash = taken.select_related("server").first()
    if clash is not None:
        position = ids.index(clash.host_id) + 1
        raise PortalError(
            _("Host ID %(id)s is already used by your license server %(server)s.")
            % {"id": clash.host_id, "server": clash.server.name},
            field=f"host_id_{position}",
        )
    return cleaned


def _check_ports(lmgrd_port: int, vendor_port: int | None) -> None:
    if not 1 <= lmgrd_port <= 65535:
        raise PortalError(_("A port is a number from 1 to 65535."), field="lmgrd_port")
    if vendor_port is not None and not 1 <= vendor_port <= 65535:
        raise PortalError(_("A port is a number from 1 to 65535."), field="vendor_port")


# Unicode categories a server label may not contain: control characters (tab and line breaks
# included), format characters (the bidi controls U+202A..U+202E and U+2066..U+2069, marks such
# as U+200E/U+200F/U+061C, zero-width characters), line and paragraph separators, surrogates,
# private use and unassigned code points. A label is shown on pages, in emails and in file
# names, where such characters hide or reverse what a reader sees (``evil\u202ecil.exe``).
_LABEL_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def server_label_clean(name: str) -> str:
    """A server label as stored: runs of spaces folded, 1 to 60 characters, no control or
    invisible formatting character (PortalError on ``name`` otherwise). One rule for the
    form and the service."""
    for character in name:
        if unicodedata.category(character) in _LABEL_FORBIDDEN_CATEGORIES:
            raise PortalError(
                _(
                    "A label cannot contain control characters or invisible formatting characters such as "
                    "text direction marks (found U+%(code)s)."
                )
                % {"code": f"{ord(character):04X}"},
                field="name",
            )
    name = " ".join(name.split())
    if not name or len(name) > 60:
        raise PortalError(_("Give the server a label of 1 to 60 characters."), field="name")
    return name


def _check_name(customer: Customer, name: str, server: LicenseServer | None) -> str:
    name = server_label_clean(name)
    others = LicenseServer.objects.filter(customer=customer, name=name)
    if server is not None:
        others = others.exclude(pk=server.pk)
    if others.exists():
        raise PortalError(_("You already have a license server called %(name)s.") % {"name": name}, field="name")
    return name


def server_create(
    *,
    customer: Customer,
    actor: User,
    name: str,
    hosts: Sequence[HostInput],
    lmgrd_port: int = 1055,
    vendor_port: int | None = None,
) -> LicenseServer:
    """Adds a license server (one host or a triad). Host IDs are normalised and unique per
    customer. Audited."""
    authorize(actor=actor, customer=customer, permission=Permission.ACTIVATE_ENTITLEMENTS, action="server.create")
    _check_ports(lmgrd_port, vendor_port)
    try:
        with transaction.atomic():
            Customer.objects.select_for_update().filter(pk=customer.pk).values_list("pk", flat=True).first()
            name = _check_name(customer, name, None)
            cleaned = _clean_hosts(customer=customer, hosts=hosts, server=None)
            server = LicenseServer.objects.create(
                customer=customer, name=name, lmgrd_port=lmgrd_port, vendor_port=vendor_port, created_by=actor
            )
            ServerHost.objects.bulk_create(
                ServerHost(
                    server=server,
                    customer=customer,
                    position=position,
                    host_name=host.host_name,
                    hostid_type=host.hostid_type,
                    host_id=host.host_id,
                )
                for position, host in enumerate(cleaned, start=1)
            )
            audit_record(
                customer=customer,
                actor=actor,
                action="server.created",
                target=name,
                details={"hosts": [[h.host_name, h.host_id] for h in cleaned], "port": lmgrd_port},
            )
            return server
    except IntegrityError:
        raise PortalError(_("That label or host ID was just taken by another license server.")) from None


@transaction.atomic
def _server_update(
    *,
    server: LicenseServer,
    actor: User,
    name: str,
    host_names: Sequence[str],
    hosts: Sequence[HostInput] | None,
    lmgrd_port: int,
    vendor_port: int | None,
) -> LicenseServer:
    server = _lock_server(server)
    customer = server.customer
    name = _check_name(customer, name, server)
    current = list(ServerHost.objects.filter(server=server).order_by("position"))
    has_file = LicenseFile.objects.filter(server=server).exists()
    if hosts is not None:
        cleaned = _clean_hosts(customer=customer, hosts=hosts, server=server)
        if has_file and [(h.hostid_type, h.host_id) for h in cleaned] != [(h.hostid_type, h.host_id) for h in current]:
            raise PortalError(_("This server has a license file: change its host IDs with Rehost."), field="host_id_1")
        if has_file and len(cleaned) != len(current):
            raise PortalError(_("This server has a license file: its number of hosts cannot change."))
    else:
        if len(host_names) != len(current):
            raise PortalError(_("Give a host name for each host of the server."))
        cleaned = _clean_hosts(
            customer=customer,
            hosts=[HostInput(n, h.hostid_type, h.host_id) for n, h in zip(host_names, current, strict=True)],
            server=server,
        )
    _check_ports(lmgrd_port, vendor_port)
    before = {
        "name": server.name,
        "port": server.lmgrd_port,
        "vendor_port": server.vendor_port,
        "hosts": [[h.host_name, h.host_id] for h in current],
    }
    after = {
        "name": name,
        "port": lmgrd_port,
        "vendor_port": vendor_port,
        "hosts": [[h.host_name, h.host_id] for h in cleaned],
    }
    if before == after:
        return server
    server.name, server.lmgrd_port, server.vendor_port = name, lmgrd_port, vendor_port
    server.save(update_fields=["name", "lmgrd_port", "vendor_port"])
    ServerHost.objects.filter(server=server).delete()
    ServerHost.objects.bulk_create(
        ServerHost(
            server=server,
            customer=customer,
            position=position,
            host_name=h.host_name,
            hostid_type=h.hostid_type,
            host_id=h.host_id,
        )
        for position, h in enumerate(cleaned, start=1)
    )
    audit_record(
        customer=customer, actor=actor, action="server.changed", target=name, details={"before": before, "after": after}
    )
    if has_file:
        # Host names and ports are not signed, but the file should say where the server is.
        _new_version(server=server, actor=actor, reason=LicenseFileReason.SERVER_CHANGED)
    return server


def server_update(
    *,
    server: LicenseServer,
    actor: User,
    name: str,
    host_names: Sequence[str] = (),
    hosts: Sequence[HostInput] | None = None,
    lmgrd_port: int = 1055,
    vendor_port: int | None = None,
) -> LicenseServer:
    """Changes a server's label, host names and ports (a new file version when it has one).
    Host IDs change here only before the first license file; afterwards through
    ``server_rehost``. Audited."""
    authorize(
        actor=actor, customer=server.customer, permission=Permission.CHANGE_LICENSE_SERVER, action="server.change"
    )
    try:
        return _server_update(
            server=server,
            actor=actor,
            name=name,
            host_names=host_names,
            hosts=hosts,
            lmgrd_port=lmgrd_port,
            vendor_port=vendor_port,
        )
    except IntegrityError:
        raise PortalError(_("That label or host ID was just taken by another license server.")) from None


# --- Activate -------------------------------------------------------------------------------


def _lock_entitlements(customer: Customer, ids: Sequence[int]) -> dict[int, Entitlement]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    locked = compiled_objects(
        ("activations.lock_entitlements", len(wanted)),
        Entitlement,
        lambda customer_id, *pks: (
            Entitlement.objects.select_for_update(of=("self",))
            .filter(customer_id=customer_id, pk__in=pks)
            .order_by("pk")
        ),
        customer.pk,
        *wanted,
        related=(("product", Product),),
    )
    return {entitlement.pk: entitlement for entitlement in locked}


def _change_lines(changes: Sequence[dict[str, Any]]) -> list[str]:
    return [
        f"{c['line']} {c['feature']}: {c['before']} -> {c['after']}"
        + (f" ({'+' if c['delta'] > 0 else ''}{c['delta']})" if c["delta"] else "")
        for c in changes
    ]


def _reviewed_moved(
    *,
    customer: Customer,
    current: Mapping[int, Activation],
    requests: Mapping[int, LineRequest],
    expected: Mapping[int, int] | None,
) -> tuple[list[int], list[str]]:
    """The requested lines whose allocation on the server is no longer what the user
    reviewed (``expected``), and a problem naming each."""
    moved = [
        pk
        for pk in requests
        if expected is not None and pk in expected and expected[pk] != (current[pk].quantity if pk in current else 0)
    ]
    problems: list[str] = []
    if moved:
        line_ids = dict(Entitlement.objects.filter(customer=customer, pk__in=moved).values_list("pk", "line_id"))
        for pk in moved:
            have = current[pk].quantity if pk in current else 0
            problems.append(
                _("Line %(line)s now has %(have)s on this server (you reviewed %(seen)s).")
                % {"line": line_ids.get(pk, pk), "have": have, "seen": expected[pk]}  # type: ignore[index]
            )
    return moved, problems


def _changing_ids(
    *, current: Mapping[int, Activation], requests: Mapping[int, LineRequest], moved: Sequence[int]
) -> list[int]:
    """The requested lines whose quantity or borrowing differs from the server's."""
    changing = []
    for pk, request in requests.items():
        if request.quantity < 0:
            raise PortalError(_("A quantity cannot be negative."))
        activation = current.get(pk)
        have = (activation.quantity, activation.borrowable) if activation else (0, False)
        if pk not in moved and (request.quantity, request.borrowable and request.quantity > 0) != have:
            changing.append(pk)
    return changing


def _activation_plan_locked(
    *,
    customer: Customer,
    current: Mapping[int, Activation],
    requests: Mapping[int, LineRequest],
    expected: Mapping[int, int] | None,
) -> list[dict[str, Any]]:
    """Plan (under the server lock): the changes to make, each line checked; the lines that
    change are locked. Raises ``ActivationConflict`` naming every line at fault."""
    today = timezone.localdate()
    moved, problems = _reviewed_moved(customer=customer, current=current, requests=requests, expected=expected)
    changing = _changing_ids(current=current, requests=requests, moved=moved)
    entitlements = _lock_entitlements(customer, changing)
    if set(changing) - set(entitlements):
        raise PortalError(_("Some of the lines are not entitlements of this customer."))
    changes: list[dict[str, Any]] = []
    for entitlement_id, entitlement in entitlements.items():
        request = requests[entitlement_id]
        activation = current.get(entitlement_id)
        have = activation.quantity if activation else 0
        wanted = request.quantity
        borrowable = request.borrowable and wanted > 0
        problems += line_errors(
            entitlement=entitlement, current=have, wanted=wanted, borrowable=borrowable, today=today
        )
        changes.append(
            {
                "entitlement": entitlement,
                "line": entitlement.line_id,
                "feature": entitlement.product.feature,
                "before": have,
                "after": wanted,
                "delta": wanted - have,
                "borrowable": borrowable,
            }
        )
    if problems:
        raise ActivationConflict(problems)
    return changes


def _activation_write(
    *, server: LicenseServer, current: Mapping[int, Activation], changes: Sequence[dict[str, Any]]
) -> None:
    """Apply: the planned activations written, and each line's activated total moved."""
    now = timezone.now()
    for change in changes:
        entitlement = change["entitlement"]
        activation = current.get(entitlement.pk)
        if change["after"] == 0:
            activation.delete()  # type: ignore[union-attr]
        elif activation is None:
            rows_insert(
                [
                    Activation(
                        server=server,
                        entitlement=entitlement,
                        quantity=change["after"],
                        borrowable=change["borrowable"],
                        updated_at=now,
                    )
                ]
            )
        else:
            activation.quantity = change["after"]
            activation.borrowable = change["borrowable"]
            activation.updated_at = now
            row_update(activation, ("quantity", "borrowable", "updated_at"))
        if change["delta"]:
            entitlement.activated += change["delta"]
            row_update(entitlement, ("activated",))


def _activation_moves_take(
    *, server: LicenseServer, actor: User, host_ids: Sequence[str], changes: Sequence[dict[str, Any]]
) -> list[LicenseMove]:
    """Which added licenses were returned on another host (``selectors.license_moves``):
    if any, the change uses one of the customer's rehost allowance (or is refused). The
    returned licenses taken again are marked so. Under the server and entitlement locks."""
    moves = license_moves(
        server=server,
        host_ids=host_ids,
        increases={
            c["entitlement"].pk: (c["delta"], c["entitlement"].quantity - c["entitlement"].activated)
            for c in changes
            if c["delta"] > 0
        },
    )
    moved = [move for move in moves if move.quantity]
    if moved:
        hosts = sorted({h for move in moved for h in move.host_ids})
        _use_rehost_allowance(
            server=server,
            actor=actor,
            kind=RehostKind.MOVE,
            new_host_ids=host_ids,
            old_host_ids=hosts,
            refusal=_(
                "Saving this would activate %(count)s license(s) returned on another host ID (%(hosts)s) on "
                "this server. Moving licenses to another host counts against your company's rehost "
                "allowance."
            )
            % {"count": sum(m.quantity for m in moved), "hosts": ", ".join(hosts)},
        )
    _take_returned(moves)
    return moved


def _issued_before_file_identities(license_file: LicenseFile) -> bool:
    """A file with INCREMENT lines but no SN=: it no longer verifies, so "Generate" issues a
    fresh version instead of handing it out again."""
    return "\nINCREMENT " in license_file.content and " SN=" not in license_file.content


def _activation_record(
    *,
    server: LicenseServer,
    actor: User,
    changes: Sequence[dict[str, Any]],
    latest: LicenseFile,
    deliver: str,
    recipients: Sequence[str],
    moved: Sequence[LicenseMove] = (),
) -> None:
    """The audit events, the ASCs' notification and the file's delivery of an apply."""
    customer = server.customer
    if changes:
        returned = sum(-c["delta"] for c in changes if c["delta"] < 0)
        added = sum(c["delta"] for c in changes if c["delta"] > 0)
        moves = {"moved_from": sorted({h for m in moved for h in m.host_ids}), "moved": sum(m.quantity for m in moved)}
        audit_record(
            customer=customer,
            actor=actor,
            action="activation.changed",
            target=server.name,
            details={
                "changes": list(changes),
                "version": latest.version,
                "added": added,
                "returned": returned,
                **(moves if moved else {}),
            },
        )
        _notify(
            server=server,
            actor=actor,
            event="activation.changed",
            summary=deferred(
                "%(actor)s changed the activations on license server %(server)s (license file version "
                "%(version)s): %(added)s activated, %(returned)s returned to the pool."
            )
            % {
                "actor": actor.email,
                "server": server.name,
                "version": latest.version,
                "added": added,
                "returned": returned,
            },
            lines=_change_lines(changes),
        )
    else:
        audit_record(
            customer=customer,
            actor=actor,
            action="license_file.generated",
            target=server.name,
            details={"version": latest.version},
        )
    if deliver == "email":
        _email_file(license_file=latest, actor=actor, event="license_file.emailed", recipients=recipients)
        audit_record(
            customer=customer,
            actor=actor,
            action="license_file.emailed",
            target=server.name,
            details={"version": latest.version, "to": list(recipients)},
        )
    # A download is audited when it happens (license_file_download, from the result page).


def _file_recipients(*, customer: Customer, actor: User, recipients: Sequence[str] | None) -> list[str]:
    """Whom a license file may be emailed to: active members of the customer, nobody else
    (the file is the customer's). The actor when none are named."""
    if not recipients:
        return [actor.email]
    wanted = list(dict.fromkeys(email.strip().lower() for email in recipients if email.strip()))
    members = {m.user.email.lower(): m.user.email for m in membership_list(customer=customer) if m.user.is_active}
    if not wanted or any(email not in members for email in wanted):
        raise PortalError(_("A license file can be emailed only to portal users of this customer."))
    return [members[email] for email in wanted]


def _activations_locked(server: LicenseServer) -> tuple[dict[int, Activation], dict[int, tuple]]:
    """The server's activations, locked, by entitlement id, and the same lines as license file
    rows (``_INCREMENT_FIELDS``): one query for what the plan checks and what the file shows."""
    current: dict[int, Activation] = {}
    rows: dict[int, tuple] = {}
    locked = compiled_rows(
        "activations.activations_locked",
        lambda server_id: (
            Activation.objects.select_for_update(of=("self",))
            .filter(server_id=server_id)
            .order_by()
            .values_list("pk", "entitlement_id", *_INCREMENT_FIELDS)
        ),
        server.pk,
    )
    for pk, entitlement_id, *row in locked:
        activation = Activation(pk=pk, server=server, entitlement_id=entitlement_id, quantity=row[0], borrowable=row[1])
        activation._state.adding = False  # a row read from the database: save() updates it
        current[entitlement_id] = activation
        rows[entitlement_id] = tuple(row)
    return current, rows


def _rows_after(rows: Mapping[int, tuple], changes: Sequence[dict[str, Any]]) -> list[tuple]:
    """The license file rows as they are once ``changes`` are written."""
    after = dict(rows)
    for change in changes:
        entitlement = change["entitlement"]
        if change["after"] == 0:
            after.pop(entitlement.pk, None)
            continue
        product = entitlement.product
        after[entitlement.pk] = (
            change["after"],
            change["borrowable"],
            entitlement.line_id,
            entitlement.quantity,
            entitlement.start_date,
            entitlement.end_date,
            entitlement.tecs_end_date,
            product.name,
            product.feature,
        )
    return list(after.values())


@transaction.atomic
def _activation_apply(
    *,
    server: LicenseServer,
    actor: User,
    token: str,
    requests: Mapping[int, LineRequest],
    expected: Mapping[int, int] | None,
    deliver: str,
    recipients: Sequence[str],
) -> ActivationResult:
    # The server lock first: every writer of this server queues here. (Inserting the
    # submission first took a key-share lock on the server row through its foreign key, and
    # two confirms on one server then deadlocked upgrading it.) A second submit of the same
    # token waits here for the first one's commit; then its plan is refused (the lines moved
    # from what was reviewed) or it fails on the unique token of the submission inserted
    # last, which rolls back all it did: it can never apply twice (``activation_apply``).
    server = _lock_server(server)
    # Every writer of this server's activations holds the server lock taken above, so they
    # cannot change under us: what the user reviewed (``expected``) is checked against them
    # for every line, and only the lines that change are locked (a confirm on a customer
    # with thousands of lines locks a handful of rows, not all of them).
    current, rows = _activations_locked(server)
    changes = _activation_plan_locked(customer=server.customer, current=current, requests=requests, expected=expected)
    hosts = _server_hosts(server)
    host_ids = [host_id for _name, host_id in hosts]
    moved = _activation_moves_take(server=server, actor=actor, host_ids=host_ids, changes=changes)
    public_changes = [{k: v for k, v in c.items() if k != "entitlement"} for c in changes]
    latest = None if changes else LicenseFile.objects.filter(server=server).order_by("-version").first()
    issue = latest is None or _issued_before_file_identities(latest)
    # Everything up to here only read and locked rows of this server and of the changing lines.
    # The writes below raise the customer's data version (the triggers of
    # activations/migrations/0002), which holds the customer row until commit: every other
    # change of the customer waits for it. So the file and the emails are rendered, and the
    # audit events and the outbox rows written, first; then the writes, and the commit.
    if issue:
        version = (latest.version if latest else _last_version(server)) + 1
        latest = LicenseFile(
            server=server,
            version=version,
            content=license_file_render(
                server=server, version=version, hosts=hosts, rows=_rows_after(rows, changes), new_version=True
            ),
            reason=LicenseFileReason.ACTIVATION if changes else LicenseFileReason.GENERATED,
            created_by=actor,
        )
    latest.server = server
    _activation_record(
        server=server,
        actor=actor,
        changes=public_changes,
        latest=latest,
        deliver=deliver,
        recipients=recipients,
        moved=moved,
    )
    _activation_write(server=server, current=current, changes=changes)
    _record_returned(
        server=server, host_ids=host_ids, returned={c["entitlement"].pk: -c["delta"] for c in changes if c["delta"] < 0}
    )
    if issue:
        rows_insert([latest])
    rows_insert(
        [
            ActivationSubmission(
                token=token,
                customer_id=server.customer_id,
                server=server,
                license_file=latest,
                actor=actor,
                changes=public_changes,
                deliver=deliver,
                recipients=list(recipients) if deliver == "email" else [],
            )
        ]
    )
    return ActivationResult(license_file=latest, changed=bool(changes), changes=public_changes, token=token)


def activation_apply(
    *,
    server: LicenseServer,
    actor: User,
    token: str,
    requests: Mapping[int, LineRequest],
    expected: Mapping[int, int] | None = None,
    deliver: str = "download",
    recipients: Sequence[str] | None = None,
) -> ActivationResult:
    """Sets the quantities (and borrowing) of the requested entitlement lines on ``server``,
    all or nothing, then issues the next license file version (or, when nothing changed,
    the current one) for download, or by email to ``recipients`` (members of the customer;
    the actor when not given).

    Entitlements are locked in id order. A line whose allocation on this server differs from
    ``expected`` (what the user reviewed), that would exceed what is available, that is
    expired or not started (for increases) or not borrowable refuses the whole request with
    ``ActivationConflict`` naming the lines. ``token`` makes a repeated submit return the
    first result without applying again. Audited; ASCs are emailed about changes on commit.
    """
    authorize(
        actor=actor, customer=server.customer, permission=Permission.ACTIVATE_ENTITLEMENTS, action="activation.change"
    )
    if not token or len(token) > 64 or not token.isalnum():
        raise PortalError(_("This review is not valid any more. Review the changes again."))
    if deliver not in ("download", "email"):
        raise PortalError(_("Choose download or email."))
    to = _file_recipients(customer=server.customer, actor=actor, recipients=recipients) if deliver == "email" else []
    try:
        return _activation_apply(
            server=server,
            actor=actor,
            token=token,
            requests=requests,
            expected=expected,
            deliver=deliver,
            recipients=to,
        )
    except PortalError:
        # Refused: unless by a submit of the same review that was applied first (its lines no
        # longer what was reviewed, because that submit changed them).
        first = _applied_submission(server=server, token=token)
        if first is None:
            raise
        return first
    except IntegrityError:
        first = _applied_submission(server=server, token=token)
        if first is not None:
            return first
        # Only the database constraint can get here (the checks above run under the lock).
        raise ActivationConflict([_("Another activation took the licenses at the same moment.")]) from None


def _applied_submission(*, server: LicenseServer, token: str) -> ActivationResult | None:
    """The result of the submit that applied ``token`` first, if one did."""
    submission = (
        ActivationSubmission.objects.filter(token=token, customer_id=server.customer_id, server=server)
        .select_related("license_file__server__customer")
        .first()
    )
    if submission is None or submission.license_file is None:
        return None
    return ActivationResult(
        license_file=submission.license_file,
        changed=False,
        already_applied=True,
        changes=submission.changes,
        token=token,
    )


# --- Return, rehost -------------------------------------------------------------------------


@transaction.atomic
def _server_return(*, server: LicenseServer, actor: User) -> LicenseFile:
    server = _lock_server(server)
    activations = list(Activation.objects.filter(server=server).select_related("entitlement__product"))
    if not activations:
        raise PortalError(_("Nothing is activated on this server."))
    entitlements = _lock_entitlements(server.customer, [a.entitlement_id for a in activations])
    lines = []
    for activation in sorted(activations, key=lambda a: a.entitlement.line_id):
        entitlement = entitlements[activation.entitlement_id]
        entitlement.activated -= activation.quantity
        entitlement.save(update_fields=["activated"])
        lines.append(f"{entitlement.line_id} {entitlement.product.feature}: {activation.quantity} -> 0")
    Activation.objects.filter(server=server).delete()
    _record_returned(
        server=server, host_ids=_host_ids(server), returned={a.entitlement_id: a.quantity for a in activations}
    )
    license_file = _new_version(server=server, actor=actor, reason=LicenseFileReason.RETURN)
    total = sum(a.quantity for a in activations)
    audit_record(
        customer=server.customer,
        actor=actor,
        action="activation.returned",
        target=server.name,
        details={"lines": lines, "returned": total, "version": license_file.version},
    )
    _notify(
        server=server,
        actor=actor,
        event="activation.returned",
        summary=deferred("%(actor)s returned all %(count)s licenses of license server %(server)s to the pool.")
        % {"actor": actor.email, "count": total, "server": server.name},
        lines=lines,
    )
    return license_file


def server_return(*, server: LicenseServer, actor: User) -> LicenseFile:
    """Returns every license on the server to the pool and issues a file version without
    INCREMENT lines. Audited; ASCs are emailed."""
    authorize(
        actor=actor, customer=server.customer, permission=Permission.CHANGE_LICENSE_SERVER, action="activation.return"
    )
    return _server_return(server=server, actor=actor)


def rehost_quota_message(*, server: LicenseServer) -> str:
    """Why no rehost (or move of licenses to another host ID) is possible now."""
    quota = rehost_allowance(customer=server.customer)
    when = (
        formats.date_format(timezone.localtime(quota.next_possible_at), "SHORT_DATETIME_FORMAT")
        if quota.next_possible_at
        else "-"
    )
    return _(
        "Your company has moved licenses to another host ID %(used)s time(s) in the last 12 months (rehosts, and "
        "licenses returned on one server and activated on another), the most allowed (%(limit)s). "
        "The next rehost is possible from %(when)s. To rehost sooner, ask support at %(email)s. "
        "Returning licenses is always possible."
    ) % {"used": quota.used, "limit": quota.limit, "when": when, "email": settings.PORTAL_SUPPORT_EMAIL}


def _host_ids(server: LicenseServer) -> list[str]:
    return list(ServerHost.objects.filter(server=server).order_by("position").values_list("host_id", flat=True))


def _use_rehost_allowance(
    *,
    server: LicenseServer,
    actor: User,
    kind: RehostKind,
    old_host_ids: Sequence[str],
    new_host_ids: Sequence[str],
    refusal: str = "",
) -> Rehost:
    """Counts one move of licenses to another host ID against the customer's rolling
    12-month allowance, or refuses (PortalError) when none is left. Takes the customer row
    lock before counting (the last lock in the order above), so concurrent moves on
    different servers queue here and only one can take the last allowance."""
    Customer.objects.select_for_update().filter(pk=server.customer_id).values_list("pk", flat=True).first()
    allowance = rehost_allowance(customer=server.customer)
    if allowance.exhausted:
        raise PortalError(f"{refusal} {rehost_quota_message(server=server)}".strip())
    if allowance.used >= allowance.limit:
        # Beyond the allowance: use up one extra move granted by support (``rehost_grant_extra``),
        # under the customer lock taken above.
        grant = RehostGrant.objects.filter(customer=server.customer, used_at__isnull=True).order_by("pk").first()
        RehostGrant.objects.filter(pk=grant.pk).update(used_at=timezone.now())
    return Rehost.objects.create(
        server=server,
        customer=server.customer,
        kind=kind,
        old_host_ids=list(old_host_ids),
        new_host_ids=list(new_host_ids),
        actor=actor,
    )


def _record_returned(*, server: LicenseServer, host_ids: Sequence[str], returned: Mapping[int, int]) -> None:
    """Remembers licenses returned from this server's host, for ``license_moves``. The
    caller holds the entitlements' locks."""
    ReturnedLicenses.objects.bulk_create(
        ReturnedLicenses(
            customer_id=server.customer_id,
            entitlement_id=pk,
            server=server,
            host_ids=list(host_ids),
            quantity=quantity,
            remaining=quantity,
            created_at=timezone.now(),
        )
        for pk, quantity in sorted(returned.items())
        if quantity > 0
    )


def _take_returned(moves: Sequence[LicenseMove]) -> None:
    """Marks returned licenses as taken again (same host or moved). Under the entitlement locks."""
    taken: dict[int, int] = {}
    for move in moves:
        for pk, quantity in (*move.same_host, *move.sources):
            taken[pk] = taken.get(pk, 0) + quantity
    for pk, quantity in sorted(taken.items()):
        ReturnedLicenses.objects.filter(pk=pk).update(remaining=F("remaining") - quantity)


@dataclass(frozen=True)
class RehostPlan:
    """What a rehost would do: the server's hosts now and the cleaned new ones (the review
    page shows it; the rehost itself applies the same plan under the server lock)."""

    current: list[ServerHost]
    hosts: list[HostInput]

    @property
    def old_ids(self) -> list[str]:
        return [h.host_id for h in self.current]

    @property
    def new_ids(self) -> list[str]:
        return [h.host_id for h in self.hosts]


def rehost_plan(*, server: LicenseServer, hosts: Sequence[HostInput]) -> RehostPlan:
    """Checks a rehost without doing it: one host per host of the server, valid and free
    host IDs, and at least one host ID that changes. Raises PortalError."""
    current = list(ServerHost.objects.filter(server=server).order_by("position"))
    if len(hosts) != len(current):
        raise PortalError(_("Give a host name and host ID for each host of the server."))
    plan = RehostPlan(current=current, hosts=_clean_hosts(customer=server.customer, hosts=hosts, server=server))
    if plan.old_ids == plan.new_ids:
        raise PortalError(
            _("The host ID did not change. To change only host names or ports, edit the server."), field="host_id_1"
        )
    return plan


@transaction.atomic
def _server_rehost(*, server: LicenseServer, actor: User, hosts: Sequence[HostInput]) -> LicenseFile:
    server = _lock_server(server)
    plan = rehost_plan(server=server, hosts=hosts)
    cleaned, old_ids, new_ids = plan.hosts, plan.old_ids, plan.new_ids
    _use_rehost_allowance(
        server=server, actor=actor, kind=RehostKind.REHOST, old_host_ids=old_ids, new_host_ids=new_ids
    )
    ServerHost.objects.filter(server=server).delete()
    ServerHost.objects.bulk_create(
        ServerHost(
            server=server,
            customer=server.customer,
            position=position,
            host_name=h.host_name,
            hostid_type=h.hostid_type,
            host_id=h.host_id,
        )
        for position, h in enumerate(cleaned, start=1)
    )
    license_file = _new_version(server=server, actor=actor, reason=LicenseFileReason.REHOST)
    audit_record(
        customer=server.customer,
        actor=actor,
        action="server.rehosted",
        target=server.name,
        details={"old": old_ids, "new": new_ids, "version": license_file.version},
    )
    _notify(
        server=server,
        actor=actor,
        event="server.rehosted",
        summary=deferred(
            "%(actor)s rehosted license server %(server)s from %(old)s to %(new)s (license file version %(version)s)."
        )
        % {
            "actor": actor.email,
            "server": server.name,
            "old": ", ".join(old_ids),
            "new": ", ".join(new_ids),
            "version": license_file.version,
        },
    )
    return license_file


def server_rehost(*, server: LicenseServer, actor: User, hosts: Sequence[HostInput]) -> LicenseFile:
    """Moves the server to new host IDs (and names), within the customer's rolling 12-month
    rehost allowance (``PORTAL_REHOSTS_PER_YEAR`` or what support set; shared with moves of
    returned licenses, ``_use_rehost_allowance``), and issues a new file version. Audited;
    ASCs are emailed."""
    authorize(
        actor=actor, customer=server.customer, permission=Permission.CHANGE_LICENSE_SERVER, action="server.rehost"
    )
    try:
        return _server_rehost(server=server, actor=actor, hosts=hosts)
    except IntegrityError:
        raise PortalError(_("That host ID was just taken by another license server.")) from None


@transaction.atomic
def _server_retire(*, server: LicenseServer, actor: User) -> LicenseServer:
    server = _lock_server(server)
    if Activation.objects.filter(server=server).exists():
        raise PortalError(_("Return the licenses of this server before retiring it."))
    hosts = list(ServerHost.objects.filter(server=server).order_by("position").values_list("host_name", "host_id"))
    ServerHost.objects.filter(server=server).delete()
    label = server.name
    # The label becomes free for a new server; the old one stays recognisable in the history.
    server.name = f"{label[:40]} (retired {server.pk})"
    server.retired_at = timezone.now()
    server.save(update_fields=["name", "retired_at"])
    audit_record(
        customer=server.customer,
        actor=actor,
        action="server.retired",
        target=label,
        details={"hosts": [list(h) for h in hosts]},
    )
    return server


def server_retire(*, server: LicenseServer, actor: User) -> LicenseServer:
    """Retires a server that holds no licenses (``server_return`` first): it leaves the
    server lists, its label and host IDs become free, its license files stay. Audited."""
    authorize(
        actor=actor, customer=server.customer, permission=Permission.CHANGE_LICENSE_SERVER, action="server.retire"
    )
    return _server_retire(server=server, actor=actor)


# --- Files ----------------------------------------------------------------------------------


def license_file_download(*, license_file: LicenseFile, actor: User) -> LicenseFile:
    """Records a download (any role holding DOWNLOAD_LICENSE_FILES)."""
    server = license_file.server
    authorize(
        actor=actor,
        customer=server.customer,
        permission=Permission.DOWNLOAD_LICENSE_FILES,
        action="license_file.download",
    )
    audit_record(
        customer=server.customer,
        actor=actor,
        action="license_file.downloaded",
        target=server.name,
        details={"version": license_file.version},
    )
    return license_file


@transaction.atomic
def rehost_quota_set(*, customer: Customer, actor: User, rehosts_per_year: int | None, note: str = "") -> None:
    """Support overrides the rehost quota of one customer (None: back to the default)."""
    authorize_staff(
        actor=actor,
        customer=customer,
        action="rehost_quota.set",
        message=_("Only support staff can change the rehost quota."),
    )
    if rehosts_per_year is None:
        RehostQuota.objects.filter(customer=customer).delete()
    else:
        if not 0 <= rehosts_per_year <= 1000:
            raise PortalError(_("The quota is a number from 0 to 1000."), field="rehosts_per_year")
        RehostQuota.objects.update_or_create(
            customer=customer,
            defaults={"rehosts_per_year": rehosts_per_year, "note": note[:255], "updated_at": timezone.now()},
        )
    audit_record(
        customer=customer,
        actor=actor,
        action="rehost_quota.set",
        details={"rehosts_per_year": rehosts_per_year, "note": note[:255]},
    )


def rehost_grant_extra(*, server: LicenseServer, actor: User, note: str = "") -> RehostGrant:
    """Support grants one extra rehost of ``server`` beyond the yearly allowance (an approved
    customer request): the next rehost the allowance would refuse uses it up. Needs the staff
    permission ``APPROVE_REQUESTS``. Audited on the customer."""
    authorize_staff(
        actor=actor, customer=server.customer, action="rehost.grant_extra", permission=StaffPermission.APPROVE_REQUESTS
    )
    with transaction.atomic():
        grant = RehostGrant.objects.create(server=server, customer=server.customer, granted_by=actor, note=note[:255])
        audit_record(
            customer=server.customer,
            actor=actor,
            action="rehost.extra_granted",
            target=server.name,
            details={"note": note[:255]},
        )
        return grant


# --- Emergency licenses ---------------------------------------------------------------------
#
# A temporary file for a new host ID while a rehost is sorted out: the server's activated
# lines, signed like any file (SN= with ``EMERGENCY_FILE_VERSION``), each line ending on the
# emergency's last day at the latest. Issued by a support manager (``ISSUE_EMERGENCY_LICENSES``)
# for an approved customer request; it writes no ``LicenseFile`` version, no host and no
# ``Rehost`` (the allowance is untouched).


@dataclass(frozen=True)
class EmergencyHost:
    host_name: str
    hostid_type: str
    host_id: str


def emergency_host_clean(*, server: LicenseServer, host: HostInput) -> EmergencyHost:
    """The new host of an emergency file, checked like any host (``hostids``) and new: not a
    host ID of any of the customer's servers (the server's own file serves its own hosts).
    An empty host name takes the name of the server's first host. Raises PortalError."""
    try:
        host_id = hostid_normalise(host.hostid_type, host.host_id)
    except HostIdError as error:
        raise PortalError(str(error), field="host_id") from None
    name = host.host_name.strip() or next(
        iter(ServerHost.objects.filter(server=server).order_by("position").values_list("host_name", flat=True)),
        "localhost",
    )
    try:
        host_name_validator(name)
    except Exception:
        raise PortalError(
            _("A host name is letters, digits, dots, hyphens, underscores or colons, without spaces."),
            field="host_name",
        ) from None
    if ServerHost.objects.filter(customer_id=server.customer_id, host_id=host_id).exists():
        raise PortalError(
            _(
                "%(host_id)s is already a host ID of one of your license servers; "
                "an emergency license is for a new host."
            )
            % {"host_id": host_id},
            field="host_id",
        )
    return EmergencyHost(host_name=name, hostid_type=HostIdType(host.hostid_type).value, host_id=host_id)


def emergency_days_clean(days: int | None) -> int:
    if days is None or isinstance(days, bool) or not 1 <= days <= EMERGENCY_LICENSE_MAX_DAYS:
        raise PortalError(
            _("An emergency license runs from 1 to %(max)s days.") % {"max": EMERGENCY_LICENSE_MAX_DAYS},
            field="emergency_days",
        )
    return days


def emergency_license_render(
    *, server: LicenseServer, host: EmergencyHost, expires_on: datetime.date, reference: int, today: datetime.date
) -> str:
    """The emergency file: the server's activated lines for ``host``, each expiring on the
    earlier of its own end and ``expires_on``; signed and bound (SN=) to the server and
    ``EMERGENCY_FILE_VERSION``; its header says EMERGENCY, temporary, until when, for which request."""
    customer = server.customer
    rows = Activation.objects.filter(server=server).order_by("entitlement__line_id").values_list(*_INCREMENT_FIELDS)
    vendor_string = vendor_string_for(customer)
    until = flexlm_date(expires_on)
    increments = []
    for row in rows:
        line = _increment(row, vendor_string=vendor_string, today=today)
        expiration = expires_on if line.expiration is None else min(line.expiration, expires_on)
        increments.append(
            dataclasses.replace(line, expiration=expiration, comment=f"EMERGENCY until {until}: {line.comment}")
        )
    if not increments:
        raise PortalError(_("Nothing is activated on this license server: there is nothing to put in the file."))
    header = (
        f"EMERGENCY {settings.PORTAL_BRAND_NAME} license file (temporary) for customer {customer.number} "
        f"({customer.name}), server {server.name}, request #{reference}, expires {until}"
    )
    document = LicenseDocument(
        header=ascii_text(" ".join(header.split())),
        servers=(ServerSpec(host=host.host_name, host_id=host.host_id, port=server.lmgrd_port),),
        vendor=settings.PORTAL_VENDOR_DAEMON,
        vendor_port=server.vendor_port,
        increments=tuple(increments),
        identity=FileIdentity(customer=customer.number, server=server.pk, version=EMERGENCY_FILE_VERSION),
    )
    rendered = license_render(document, private_key=signing_key(), sign_many=signatures_for)
    notice = [
        "# EMERGENCY LICENSE FILE - TEMPORARY",
        f"# Issued {flexlm_date(today)} for request #{reference}; every line expires on {until} at the latest.",
        f"# It does not replace the license file of server {ascii_text(server.name)}: "
        f"rehost the server before {until}.",
    ]
    return "\n".join(notice) + "\n" + rendered


def emergency_license_issue(
    *, server: LicenseServer, actor: User, host: HostInput, days: int, reference: int
) -> EmergencyLicense:
    """Issues an emergency file for ``server`` on a new host, valid ``days`` (1..14) from
    today. Needs the staff permission ``ISSUE_EMERGENCY_LICENSES``. Audited on the customer;
    the server's file versions, hosts and rehost allowance are not touched."""
    authorize_staff(
        actor=actor,
        customer=server.customer,
        action="license.emergency_issue",
        permission=StaffPermission.ISSUE_EMERGENCY_LICENSES,
    )
    days = emergency_days_clean(days)
    with transaction.atomic():
        server = _lock_server(server)
        clean = emergency_host_clean(server=server, host=host)
        today = timezone.localdate()
        expires_on = today + datetime.timedelta(days=days)
        emergency = EmergencyLicense.objects.create(
            server=server,
            customer=server.customer,
            reference=reference,
            host_name=clean.host_name,
            hostid_type=clean.hostid_type,
            host_id=clean.host_id,
            content=emergency_license_render(
                server=server, host=clean, expires_on=expires_on, reference=reference, today=today
            ),
            issued_on=today,
            expires_on=expires_on,
            created_by=actor,
        )
        audit_record(
            customer=server.customer,
            actor=actor,
            action="license.emergency_issued",
            target=server.name,
            details={"host_id": clean.host_id, "expires": expires_on.isoformat(), "request": reference},
        )
        return emergency


def emergency_license_download(*, emergency: EmergencyLicense, actor: User) -> EmergencyLicense:
    """Records a download of a valid emergency file (DOWNLOAD_LICENSE_FILES); an expired one
    is refused (PortalError)."""
    authorize(
        actor=actor,
        customer=emergency.customer,
        permission=Permission.DOWNLOAD_LICENSE_FILES,
        action="license.emergency_download",
    )
    if not emergency.valid:
        raise PortalError(
            _("This emergency license expired on %(date)s; it can no longer be downloaded.")
            % {"date": formats.date_format(emergency.expires_on, "SHORT_DATE_FORMAT")}
        )
    audit_record(
        customer=emergency.customer,
        actor=actor,
        action="license.emergency_downloaded",
        target=emergency.server.name,
        details={"request": emergency.reference, "expires": emergency.expires_on.isoformat()},
    )
    return emergency
