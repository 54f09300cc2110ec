"""Every write of the usage app: uploads, ingest, rollups, agent keys, retention.

Ingest is the one long-running write: it streams a file of any size in batches, each batch its
own transaction (so the page can show progress and memory stays flat), and is idempotent (an
event already stored is never stored again), so an ingest that stops half way is simply run
again. Everything derived from an upload (its events, snapshots, and the rollups rebuilt from
the remaining events) goes when the upload is deleted.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Min, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.access import authorize
from accounts.audit import audit_record
from accounts.models import Customer, User
from accounts.roles import Permission
from activations.models import ServerHost
from portal.errors import PortalError

from . import parsers
from .models import (
    AgentKey,
    EventKind,
    Upload,
    UploadSource,
    UploadStatus,
    UsageCheckpoint,
    UsageEvent,
    UsageHour,
    UsagePersonDay,
    UsageSettings,
    UsageSnapshot,
)
from .rollups import HOUR_FIELDS, RollupBuilder

logger = logging.getLogger(__name__)

BATCH = 5000
BULK_BATCH = 50000
SKIPPED_KEPT = 200  # line numbers and reasons kept per upload (the count is exact)
MAX_FILES_PER_REQUEST = 10
MAX_REQUEST_BYTES = 2 * 1024**3  # per request (several files); the web server may set less
MAX_LMSTAT_CHARS = 2 * 1024**2
KIND_VALUES = {
    parsers.RESTART: EventKind.RESTART,
    parsers.IN: EventKind.CHECKIN,
    parsers.DEQUEUED: EventKind.DEQUEUED,
    parsers.OUT: EventKind.CHECKOUT,
    parsers.DENIED: EventKind.DENIED,
    parsers.QUEUED: EventKind.QUEUED,
    parsers.UNSUPPORTED: EventKind.UNSUPPORTED,
}
KIND_NAMES = {value: name for name, value in KIND_VALUES.items()}


def upload_dir() -> Path:
    path = Path(settings.VAR_DIR) / "usage"
    path.mkdir(parents=True, exist_ok=True)
    return path


def usage_settings_for(customer: Customer) -> UsageSettings:
    found, _created = UsageSettings.objects.get_or_create(customer=customer)
    return found


def _bump_data_version(customer: Customer) -> None:
    # The entitlements page (cached per data version) shows each line's recommendation.
    Customer.objects.filter(pk=customer.pk).update(data_version=F("data_version") + 1)


def _server_for(customer: Customer, server_name: str) -> int | None:
    if not server_name:
        return None
    host = ServerHost.objects.filter(customer=customer, host_name__iexact=server_name).values("server_id").first()
    return host["server_id"] if host else None


# --- uploads -------------------------------------------------------------------------------


def _store(chunks: Iterable[bytes]) -> tuple[str, int]:
    name = f"{uuid.uuid4().hex}.upload"
    size = 0
    with (upload_dir() / name).open("wb") as out:
        for chunk in chunks:
            size += len(chunk)
            out.write(chunk)
    return name, size


def _enqueue(upload: Upload) -> None:
    from .tasks import usage_upload_ingest_task

    def send() -> None:
        try:
            usage_upload_ingest_task.delay(upload.pk)
        except Exception:  # the broker is down: the periodic sweep picks the upload up
            logger.warning("could not enqueue usage upload %s", upload.pk, exc_info=True)

    transaction.on_commit(send)


def usage_uploads_create(
    *,
    customer: Customer,
    actor: User,
    files: list[tuple[str, Iterable[bytes]]],
    server_name: str = "",
    source: str = UploadSource.LOG,
) -> list[Upload]:
    """Stores each (name, chunks) file and queues its ingest. Needs CHANGE_LICENSE_SERVER;
    audited. ``server_name`` (a license server host) applies to logs that do not say."""
    authorize(actor=actor, customer=customer, permission=Permission.CHANGE_LICENSE_SERVER, action="usage.upload")
    if not files:
        raise PortalError(_("Choose at least one file."))
    if len(files) > MAX_FILES_PER_REQUEST:
        raise PortalError(_("At most %(n)s files at once.") % {"n": MAX_FILES_PER_REQUEST})
    stored = [(name, *_store(chunks)) for name, chunks in files]
    if sum(size for _name, _path, size in stored) > MAX_REQUEST_BYTES:
        for _name, path, _size in stored:
            (upload_dir() / path).unlink(missing_ok=True)
        raise PortalError(_("The files are too large together."))
    with transaction.atomic():
        uploads = [
            Upload.objects.create(
                customer=customer,
                source=source,
                name=name[:255],
                size=size,
                path=path,
                server_name=server_name[:255],
                license_server_id=_server_for(customer, server_name),
                created_by=actor,
            )
            for name, path, size in stored
        ]
        for upload in uploads:
            audit_record(
                customer=customer,
                actor=actor,
                action="usage.upload",
                target=upload.name,
                details={"upload": upload.pk, "source": source, "bytes": upload.size},
            )
            _enqueue(upload)
    return uploads


def usage_lmstat_create(*, customer: Customer, actor: User, text: str) -> Upload:
    if len(text) > MAX_LMSTAT_CHARS:
        raise PortalError(_("The lmstat output is too long."))
    return usage_uploads_create(
        customer=customer,
        actor=actor,
        files=[("lmstat -a", [text.encode()])],
        source=UploadSource.LMSTAT,
    )[0]


@transaction.atomic
def usage_upload_delete(*, customer: Customer, actor: User, upload: Upload) -> None:
    """Deletes an upload and everything derived from it: its events and snapshots, and the
    rollups of its server (rebuilt from the events other uploads brought). Audited."""
    authorize(actor=actor, customer=customer, permission=Permission.CHANGE_LICENSE_SERVER, action="usage.delete")
    if upload.customer_id != customer.pk:
        raise PortalError(_("No such upload."))
    derived = UsageEvent.objects.filter(upload=upload)
    servers = set(derived.values_list("server_name", flat=True).distinct())
    first = derived.order_by("time").values_list("time", flat=True).first()
    since = min(retention_watermark(customer), first) if first else None
    path = upload.path
    audit_record(
        customer=customer, actor=actor, action="usage.upload_deleted", target=upload.name, details={"upload": upload.pk}
    )
    upload.delete()
    for server_name in sorted(servers):
        usage_rollups_rebuild(customer=customer, server_name=server_name, since=since, changed_from=first)
    _bump_data_version(customer)
    if path:
        transaction.on_commit(lambda: (upload_dir() / path).unlink(missing_ok=True))


# --- ingest --------------------------------------------------------------------------------


def _count_lines(path: Path) -> int:
    with path.open("rb") as stream:
        head = stream.read(2)
        stream.seek(0)
        if head == b"\x1f\x8b":
            return 0  # unknown until read: the progress shows lines read
        count, last = 0, b"\n"
        while block := stream.read(1 << 22):
            count += block.count(b"\n")
            last = block[-1:]
        return count + (last != b"\n")


def event_key(server_name: str, event: parsers.Event, occurrence: int) -> int:
    text = "\x1f".join(
        (
            server_name,
            event.daemon,
            event.time.isoformat(),
            event.kind,
            event.feature,
            event.user,
            event.host,
            str(event.count),
            str(occurrence),
        )
    )
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)


def pseudonym(customer: Customer, name: str) -> str:
    digest = hmac.new(f"{settings.SECRET_KEY}:usage:{customer.pk}".encode(), name.encode(), hashlib.sha256)
    return "u-" + digest.hexdigest()[:10]


class _Progress:
    def __init__(self, upload: Upload) -> None:
        self.upload = upload
        self.summary = parsers.LogSummary()
        self.skipped: list[dict] = []

    def save(self, **extra: object) -> None:
        Upload.objects.filter(pk=self.upload.pk).update(
            lines_done=self.summary.lines_seen,
            events_read=self.summary.events,
            skipped_count=self.summary.skipped,
            skipped=self.skipped,
            **extra,
        )


def _lines(chunks: Iterable[bytes | str], progress: _Progress) -> Iterator[bytes | str]:
    """The chunks (lines or blocks), counting lines for the progress bar as they go by."""
    summary = progress.summary
    next_save = 200_000
    for chunk in chunks:
        summary.lines_seen += chunk.count(b"\n" if isinstance(chunk, bytes) else "\n")
        if summary.lines_seen >= next_save:
            progress.save()
            next_save = summary.lines_seen + 200_000
        yield chunk


EVENT_COLUMNS = (
    "customer_id",
    "upload_id",
    "server_name",
    "daemon",
    "kind",
    "time",
    "feature",
    "user",
    "host",
    "count",
    "occurrence",
    "key",
)
HOUR_COLUMNS = ("customer_id", "server_name", "license_server_id", "daemon", "feature", "hour", *HOUR_FIELDS)
PERSON_COLUMNS = (
    "customer_id",
    "server_name",
    "daemon",
    "feature",
    "day",
    "kind",
    "name",
    "license_seconds",
    "checkouts",
    "denials",
)


def _insert_rows(table: str, columns: tuple[str, ...], rows: list[tuple], *, skip_conflicts: bool = False) -> None:
    """Rows straight into ``table``: COPY on PostgreSQL, else (SQLite, or a conflict to skip)
    one prepared INSERT for all. Django's bulk_create prepares every value of every field in
    Python, which made it most of an ingest's time (docs/performance.md)."""
    if not rows:
        return
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    if connection.vendor == "postgresql" and not skip_conflicts:
        with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    conflict = " ON CONFLICT DO NOTHING" if skip_conflicts else ""
    placeholders = ", ".join(["%s"] * len(columns))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({quoted}) VALUES ({placeholders}){conflict}", rows)  # noqa: S608


def _event_rows(
    upload: Upload, lines: Iterable[bytes | str], progress: _Progress, servers: dict[str, datetime.datetime]
) -> Iterator[tuple]:
    """The rows (``EVENT_COLUMNS``) of a log's events, keyed; skipped lines go to the progress
    and each server's earliest event to ``servers`` (what the rollups are rebuilt from)."""
    customer = upload.customer
    pseudonymise = usage_settings_for(customer).pseudonymise_users
    server_name = upload.server_name
    seen_in_second: dict[tuple, int] = {}
    second: datetime.datetime | None = None
    for item in parsers.parse_log(_lines(lines, progress), progress.summary):
        if isinstance(item, parsers.Skipped):
            if len(progress.skipped) < SKIPPED_KEPT:
                progress.skipped.append({"line": item.line, "reason": item.reason})
            continue
        name = server_name or progress.summary.server_host or ""
        if pseudonymise and item.user:
            item = item._replace(user=pseudonym(customer, item.user))
        if item.time != second:
            second, seen_in_second = item.time, {}
        identity = (name, item.daemon, item.kind, item.feature, item.user, item.host, item.count)
        occurrence = seen_in_second.get(identity, 0)
        seen_in_second[identity] = occurrence + 1
        if name not in servers or item.time < servers[name]:
            servers[name] = item.time
        yield (
            customer.pk,
            upload.pk,
            name[:255],
            item.daemon[:64],
            KIND_VALUES[item.kind],
            item.time.replace(tzinfo=datetime.UTC),
            item.feature[:255],
            item.user[:255],
            item.host[:255],
            min(item.count, 2**31 - 1),
            occurrence,
            event_key(name, item, occurrence),
        )


def _ingest_log(upload: Upload, lines: Iterable[bytes | str], progress: _Progress) -> dict[str, datetime.datetime]:
    """Stores the events of a log that are not stored yet, a batch per transaction; returns
    each server's earliest event in it."""
    customer = upload.customer
    servers: dict[str, datetime.datetime] = {}
    batch: list[tuple] = []
    new = 0

    def write() -> None:
        nonlocal new
        keys = [row[-1] for row in batch]
        with transaction.atomic():
            existing = set(UsageEvent.objects.filter(customer=customer, key__in=keys).values_list("key", flat=True))
            fresh = [row for row in batch if row[-1] not in existing]
            try:
                with transaction.atomic():
                    _insert_rows(UsageEvent._meta.db_table, EVENT_COLUMNS, fresh)
            except IntegrityError:  # another ingest of the same lines got there first
                _insert_rows(UsageEvent._meta.db_table, EVENT_COLUMNS, fresh, skip_conflicts=True)
        new += len(fresh)
        batch.clear()
        progress.save(events_new=new)

    for row in _event_rows(upload, lines, progress, servers):
        batch.append(row)
        if len(batch) >= BATCH:
            write()
    if batch:
        write()
    progress.save(events_new=new)
    return {name: time.replace(tzinfo=datetime.UTC) for name, time in servers.items()}


def _ingest_lmstat(upload: Upload, lines: Iterable[bytes | str], progress: _Progress) -> dict[str, datetime.datetime]:
    result = parsers.parse_lmstat(_lines(lines, progress))
    taken = result.get("snapshot_time")
    server = result.get("server", {}).get("host", "") or upload.server_name
    UsageSnapshot.objects.create(
        customer=upload.customer,
        upload=upload,
        server_name=server[:255],
        data=result,
        taken_at=datetime.datetime.fromisoformat(taken).replace(tzinfo=datetime.UTC) if taken else None,
    )
    progress.summary.events = sum(len(f["users"]) for f in result["features"].values())
    if not result["features"]:
        progress.summary.skipped += 1
        progress.skipped.append({"line": 0, "reason": "no 'Users of FEATURE:' line found"})
    return {}


def usage_upload_ingest(*, upload_id: int) -> Upload | None:
    """Reads a stored upload into events (or a snapshot), then rebuilds the rollups of the
    servers it touched. Idempotent; safe to run again after a crash."""
    with transaction.atomic():
        upload = Upload.objects.select_for_update(skip_locked=True).filter(pk=upload_id).first()
        if upload is None or upload.status == UploadStatus.DONE:
            return upload
        path = upload_dir() / upload.path
        Upload.objects.filter(pk=upload.pk).update(
            status=UploadStatus.RUNNING,
            lines_total=_count_lines(path) if path.exists() else 0,
        )
    progress = _Progress(upload)
    try:
        with path.open("rb") as stream:
            if upload.source == UploadSource.LMSTAT:
                servers = _ingest_lmstat(upload, parsers.open_lines(stream), progress)
            else:
                servers = _ingest_log(upload, parsers.open_blocks(stream), progress)
    except (parsers.UnreadableLog, OSError) as error:
        progress.save(status=UploadStatus.FAILED, error=str(error)[:255], finished_at=timezone.now())
        logger.info("usage upload %s unreadable: %s", upload.pk, error)
        stored = UsageEvent.objects.filter(upload=upload).values("server_name").annotate(first=Min("time"))
        for row in stored.order_by("server_name"):
            usage_rollups_rebuild(customer=upload.customer, server_name=row["server_name"], changed_from=row["first"])
        return upload
    with transaction.atomic():
        for server_name, first in sorted(servers.items()):
            usage_rollups_rebuild(customer=upload.customer, server_name=server_name, changed_from=first)
        progress.summary.lines_seen = progress.summary.lines  # the last line may lack its newline
        progress.save(status=UploadStatus.DONE, finished_at=timezone.now(), lines_total=progress.summary.lines)
        _bump_data_version(upload.customer)
    upload.refresh_from_db()
    return upload


def _generated_upload_start(*, customer: Customer, name: str, server_name: str) -> Upload:
    """The upload row of generated lines (demo and benchmark data), already running."""
    return Upload.objects.create(
        customer=customer,
        source=UploadSource.LOG,
        name=name[:255],
        server_name=server_name,
        license_server_id=_server_for(customer, server_name),
        status=UploadStatus.RUNNING,
    )


def usage_log_ingest_lines(
    *, customer: Customer, name: str, lines: Iterable[bytes | str], server_name: str = ""
) -> Upload:
    """Ingests generated lines (demo and benchmark data) as one upload, in this process."""
    upload = _generated_upload_start(customer=customer, name=name, server_name=server_name)
    progress = _Progress(upload)
    servers = _ingest_log(upload, lines, progress)
    with transaction.atomic():
        for server, first in sorted(servers.items()):
            usage_rollups_rebuild(customer=customer, server_name=server, changed_from=first)
        progress.summary.lines_seen = progress.summary.lines
        progress.save(status=UploadStatus.DONE, finished_at=timezone.now(), lines_total=progress.summary.lines)
        _bump_data_version(customer)
    upload.refresh_from_db()
    return upload


@transaction.atomic
def usage_log_bulk_load(*, customer: Customer, name: str, lines: Iterable[bytes | str], server_name: str) -> Upload:
    """Generated lines (the benchmark's millions of events) for a server with no events yet:
    ``COPY`` in batches of ``BULK_BATCH``, one transaction, without the upload's check for
    events already stored (the unique key still refuses a duplicate, and then nothing is
    kept), then the same rollup rebuild as an upload."""
    if UsageEvent.objects.filter(customer=customer, server_name=server_name).exists():
        raise PortalError(_("This server already has usage events."))
    upload = _generated_upload_start(customer=customer, name=name, server_name=server_name)
    progress = _Progress(upload)
    servers: dict[str, datetime.datetime] = {}
    batch: list[tuple] = []
    new = 0
    for row in _event_rows(upload, lines, progress, servers):
        batch.append(row)
        if len(batch) >= BULK_BATCH:
            _insert_rows(UsageEvent._meta.db_table, EVENT_COLUMNS, batch)
            new += len(batch)
            batch.clear()
    _insert_rows(UsageEvent._meta.db_table, EVENT_COLUMNS, batch)
    new += len(batch)
    for server, first in sorted(servers.items()):
        usage_rollups_rebuild(customer=customer, server_name=server, changed_from=first)
    progress.summary.lines_seen = progress.summary.lines
    progress.save(
        status=UploadStatus.DONE, finished_at=timezone.now(), lines_total=progress.summary.lines, events_new=new
    )
    _bump_data_version(customer)
    upload.refresh_from_db()
    return upload


def usage_uploads_pending_ids(*, older_than: datetime.timedelta = datetime.timedelta(minutes=2)) -> list[int]:
    cutoff = timezone.now() - older_than
    return list(Upload.objects.filter(status=UploadStatus.PENDING, created_at__lt=cutoff).values_list("pk", flat=True))


# --- rollups -------------------------------------------------------------------------------

REPLAY_ORDER = ("time", "kind", "daemon", "feature", "user", "host", "occurrence")


def _stored_events(events: QuerySet) -> Iterator[parsers.Event]:
    rows = (
        events.order_by(*REPLAY_ORDER)
        .values_list("time", "daemon", "kind", "feature", "user", "host", "count")
        .iterator(chunk_size=20000)
    )
    for time, daemon, kind, feature, user, host, count in rows:
        yield parsers.Event(0, time.replace(tzinfo=None), daemon, KIND_NAMES[kind], feature, user, host, count)


def retention_watermark(customer: Customer, now: datetime.datetime | None = None) -> datetime.datetime:
    """Raw events before this are deleted (retention); rollups before it are kept as they are."""
    months = UsageSettings.objects.filter(customer=customer).values_list("retention_months", flat=True).first()
    months = months or UsageSettings._meta.get_field("retention_months").default
    now = now or timezone.now()
    return (now - datetime.timedelta(days=round(months * 30.44))).replace(minute=0, second=0, microsecond=0)


FLUSH_EVERY = 5000  # events between flushes of final rows: memory follows this, and what is open
CHECKPOINT_RECENT_DAYS = 3  # a checkpoint at every midnight this close to the server's last event
_DAY = datetime.timedelta(days=1)


def _midnight(time: datetime.datetime) -> datetime.datetime:
    return time.replace(hour=0, minute=0, second=0, microsecond=0)


def _serialize_rebuild(customer: Customer, server_name: str) -> None:
    """One rebuild of a server at a time (two ingests of the same server may finish together)."""
    if connection.vendor == "postgresql":
        key = int.from_bytes(
            hashlib.blake2b(f"usage:{customer.pk}:{server_name}".encode(), digest_size=8).digest(), "big", signed=True
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _rollup_writer(customer: Customer, server_name: str, since: datetime.datetime) -> Callable[[tuple], int]:
    naive_since = since.replace(tzinfo=None)
    license_server_id = _server_for(customer, server_name)

    def write(flushed: tuple[list, list]) -> int:
        hour_rows = [row for row in flushed[0] if row[0][2] >= naive_since]
        person_rows = [row for row in flushed[1] if row[0][2] >= naive_since.date()]
        _insert_rows(
            UsageHour._meta.db_table,
            HOUR_COLUMNS,
            [
                (
                    customer.pk,
                    server_name,
                    license_server_id,
                    daemon,
                    feature,
                    hour.replace(tzinfo=datetime.UTC),
                    *values,
                )
                for (daemon, feature, hour), values in hour_rows
            ],
        )
        _insert_rows(
            UsagePersonDay._meta.db_table,
            PERSON_COLUMNS,
            [
                (customer.pk, server_name, daemon, feature, day, kind, name[:255], *values)
                for (daemon, feature, day, kind, name), values in person_rows
            ],
        )
        return len(hour_rows)

    return write


def usage_rollups_rebuild(
    *,
    customer: Customer,
    server_name: str,
    since: datetime.datetime | None = None,
    changed_from: datetime.datetime | None = None,
) -> int:
    """Replaces the server's rollups from ``since`` (default: the retention watermark) with
    those of its stored events. Older rollups stay: their raw events may have expired. Returns
    the number of events replayed.

    Incremental: when every event added or deleted since the last rebuild is at or after
    ``changed_from``, the replay goes on from the latest checkpoint at or before it (the
    replay's state after all earlier events, ``UsageCheckpoint``) and replaces only the rows
    that were not final then; with no such checkpoint (or ``changed_from`` None) it replays
    every event. Either way the rows are those a replay of all events gives (the property
    ``tests/usage/test_store.py`` checks). Checkpoints after the starting point are dropped
    and taken again on the way: at each midnight of the last ``CHECKPOINT_RECENT_DAYS`` days
    of the server's events (where the agent's pushes land) and at each first of a month."""
    since = (since or retention_watermark(customer)).replace(minute=0, second=0, microsecond=0)
    _serialize_rebuild(customer, server_name)
    checkpoints = UsageCheckpoint.objects.filter(customer=customer, server_name=server_name)
    start = checkpoints.filter(time__lte=changed_from).order_by("-time").first() if changed_from else None
    events = UsageEvent.objects.filter(customer=customer, server_name=server_name)
    builder, hour_from, day_from = RollupBuilder(), since, since.date()
    if start is None:
        checkpoints.delete()
    else:
        checkpoints.filter(time__gt=start.time).delete()
        builder = RollupBuilder.from_state(bytes(start.state))
        hour_from = max(since, start.hour_cut or since)
        day_from = max(since.date(), start.day_cut or since.date())
        events = events.filter(time__gte=start.time)
    UsageHour.objects.filter(customer=customer, server_name=server_name, hour__gte=hour_from).delete()
    UsagePersonDay.objects.filter(customer=customer, server_name=server_name, day__gte=day_from).delete()
    write = _rollup_writer(customer, server_name, since)
    replayed = _replay(builder, events, start.time if start else None, write, customer, server_name)
    write(builder.flush(final=True))
    return replayed


def _replay(
    builder: RollupBuilder,
    events: QuerySet,
    start: datetime.datetime | None,
    write: Callable[[tuple], int],
    customer: Customer,
    server_name: str,
) -> int:
    """Feeds ``events`` (those from the checkpoint at ``start``, or all) to the builder,
    writing rows as they become final and taking checkpoints on the way; old ones pruned."""
    last = events.order_by("-time").values_list("time", flat=True).first()
    if last is None:
        return 0
    recent = _midnight(last.replace(tzinfo=None)) - datetime.timedelta(days=CHECKPOINT_RECENT_DAYS)
    next_midnight = _midnight(start.replace(tzinfo=None)) + _DAY if start else None
    replayed = 0
    for event in _stored_events(events):
        if next_midnight is None or event.time >= next_midnight:
            midnight = _midnight(event.time)
            if next_midnight is not None and (midnight >= recent or midnight.day == 1):
                write(builder.flush())
                _checkpoint(customer, server_name, midnight, builder)
            next_midnight = midnight + _DAY
        builder.feed(event)
        replayed += 1
        if replayed % FLUSH_EVERY == 0:
            write(builder.flush())
    UsageCheckpoint.objects.filter(
        customer=customer, server_name=server_name, time__lt=recent.replace(tzinfo=datetime.UTC)
    ).exclude(time__day=1).delete()
    return replayed


def _checkpoint(customer: Customer, server_name: str, midnight: datetime.datetime, builder: RollupBuilder) -> None:
    cut = builder.cut()
    UsageCheckpoint.objects.create(
        customer=customer,
        server_name=server_name,
        time=midnight.replace(tzinfo=datetime.UTC),
        hour_cut=cut[0].replace(tzinfo=datetime.UTC) if cut else None,
        day_cut=cut[1] if cut else None,
        state=builder.state(),
    )


# --- agent keys ----------------------------------------------------------------------------

AGENT_KEY_PREFIX = "lpu_"


def _hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def usage_agent_key_create(*, customer: Customer, actor: User, server_name: str) -> tuple[AgentKey, str]:
    """A new upload key for the agent on one license server. The key is returned once, only
    its hash is stored. Audited."""
    authorize(
        actor=actor, customer=customer, permission=Permission.CHANGE_LICENSE_SERVER, action="usage.agent_key_create"
    )
    server_name = server_name.strip()
    if not server_name or len(server_name) > 255 or any(c.isspace() for c in server_name):
        raise PortalError(_("Enter the license server's host name."), field="server_name")
    raw = AGENT_KEY_PREFIX + secrets.token_urlsafe(32)
    key = AgentKey.objects.create(
        customer=customer, server_name=server_name, prefix=raw[:10], key_hash=_hash_key(raw), created_by=actor
    )
    audit_record(
        customer=customer,
        actor=actor,
        action="usage.agent_key_created",
        target=key.prefix,
        details={"server": server_name},
    )
    return key, raw


@transaction.atomic
def usage_agent_key_revoke(*, customer: Customer, actor: User, key: AgentKey) -> None:
    authorize(
        actor=actor, customer=customer, permission=Permission.CHANGE_LICENSE_SERVER, action="usage.agent_key_revoke"
    )
    if key.customer_id != customer.pk:
        raise PortalError(_("No such key."))
    AgentKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    audit_record(
        customer=customer,
        actor=actor,
        action="usage.agent_key_revoked",
        target=key.prefix,
        details={"server": key.server_name},
    )


def usage_agent_key_by_header(*, authorization: str) -> AgentKey | None:
    """The live key named by an ``Authorization: Bearer <key>`` header, or None. The key
    names its customer and server; only its hash is compared."""
    scheme, _sep, raw = authorization.partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw.startswith(AGENT_KEY_PREFIX) or len(raw) > 200:
        return None
    key = AgentKey.objects.select_related("customer").filter(key_hash=_hash_key(raw), revoked_at__isnull=True).first()
    if key is not None:
        AgentKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    return key


def usage_agent_upload(*, key: AgentKey, log: Iterable[bytes] | None, lmstat: str | None) -> list[Upload]:
    """What the agent pushed: new debug log lines and/or an lmstat snapshot, for its server."""
    customer = key.customer
    uploads = []
    with transaction.atomic():
        for source, name, chunks in (
            (UploadSource.AGENT, "agent: debug log", log),
            (UploadSource.LMSTAT, "agent: lmstat -a", [lmstat.encode()] if lmstat else None),
        ):
            if chunks is None:
                continue
            path, size = _store(chunks)
            upload = Upload.objects.create(
                customer=customer,
                source=source,
                name=name,
                size=size,
                path=path,
                server_name=key.server_name,
                license_server_id=_server_for(customer, key.server_name),
                agent_key=key,
            )
            audit_record(
                customer=customer,
                actor=None,
                action="usage.agent_upload",
                target=key.prefix,
                details={"upload": upload.pk, "bytes": size, "server": key.server_name},
            )
            _enqueue(upload)
            uploads.append(upload)
    return uploads


# --- settings and retention ----------------------------------------------------------------


@transaction.atomic
def usage_settings_update(
    *, customer: Customer, actor: User, retention_months: int, pseudonymise_users: bool
) -> UsageSettings:
    authorize(actor=actor, customer=customer, permission=Permission.CHANGE_LICENSE_SERVER, action="usage.settings")
    if not 1 <= retention_months <= 120:
        raise PortalError(_("Keep raw events between 1 and 120 months."), field="retention_months")
    found = usage_settings_for(customer)
    found.retention_months, found.pseudonymise_users = retention_months, pseudonymise_users
    found.save()
    audit_record(
        customer=customer,
        actor=actor,
        action="usage.settings",
        details={"retention_months": retention_months, "pseudonymise_users": pseudonymise_users},
    )
    return found


def usage_retention_enforce(*, now: datetime.datetime | None = None) -> int:
    """Deletes raw events (and snapshots) older than each customer's retention period;
    rollups stay. Customers without settings keep the default 13 months."""
    now = now or timezone.now()
    deleted = 0
    default = UsageSettings._meta.get_field("retention_months").default
    configured = dict(UsageSettings.objects.values_list("customer_id", "retention_months"))
    customer_ids = set(UsageEvent.objects.values_list("customer_id", flat=True).distinct()) | set(configured)
    for customer_id in sorted(customer_ids):
        months = configured.get(customer_id, default)
        cutoff = now - datetime.timedelta(days=round(months * 30.44))
        with transaction.atomic():
            count, _detail = UsageEvent.objects.filter(customer_id=customer_id, time__lt=cutoff).delete()
            UsageSnapshot.objects.filter(customer_id=customer_id, taken_at__lt=cutoff).delete()
            UsageCheckpoint.objects.filter(customer_id=customer_id, time__lt=cutoff).delete()
            if count:
                audit_record(
                    customer=Customer.objects.get(pk=customer_id),
                    actor=None,
                    action="usage.retention",
                    details={"events_deleted": count, "before": cutoff.date().isoformat()},
                )
        deleted += count
    return deleted
