"""Usage from the customer's own FlexNet servers: uploads, raw events, and the rollups the
Usage page reads.

Storage strategy (docs/performance.md, "Usage"):

- ``UsageEvent`` holds one row per log event. Re-uploading a log never counts an event twice:
  each event has a 64-bit ``key`` (a hash of server, daemon, time, kind, feature, user, host,
  count and the occurrence of that same line within its second) unique per customer, and
  ingest inserts with ``ON CONFLICT DO NOTHING``. The only other index is (customer, server,
  time): the rollup rebuild reads one server's events in time order, the retention task
  deletes by time. Raw events are deleted after the customer's retention period.
- ``UsageHour`` (per server, daemon, feature and hour) and ``UsagePersonDay`` (per server,
  feature, day and user or host) are rebuilt from the events of a server after each ingest;
  the page reads only these, so its cost follows hours x features, not events. They are kept
  when raw events expire. At 12 months x 50 features a customer has at most ~440,000 hour
  rows; indexes (customer, hour) and (customer, feature, hour) serve the period filters.
  Partitioning the event table by month (PostgreSQL declarative partitioning) is the next
  step past ~100 million events; not needed at the sizes measured.

Times are the license server's wall clock (debug logs carry no time zone), stored as UTC
labels and shown as they are.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Customer
from activations.models import LicenseServer


class EventKind(models.IntegerChoices):
    # Stable values: stored, and part of the event key.
    RESTART = 0, _("lmgrd restart")
    CHECKIN = 1, _("checkin")
    DEQUEUED = 2, _("dequeued")
    CHECKOUT = 3, _("checkout")
    DENIED = 4, _("denied")
    QUEUED = 5, _("queued")
    UNSUPPORTED = 6, _("unsupported")


class UsageSettings(models.Model):
    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="usage_settings")
    retention_months = models.PositiveSmallIntegerField(_("keep raw events for (months)"), default=13)
    pseudonymise_users = models.BooleanField(
        _("pseudonymise user names at upload"),
        default=False,
        help_text=_("User names are replaced by a stable code before they are stored."),
    )

    class Meta:
        verbose_name = _("usage settings")
        verbose_name_plural = _("usage settings")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(retention_months__gte=1, retention_months__lte=120), name="usage_retention_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.retention_months} months"


class UploadSource(models.TextChoices):
    LOG = "log", _("debug log")
    LMSTAT = "lmstat", _("lmstat snapshot")
    AGENT = "agent", _("agent")


class UploadStatus(models.TextChoices):
    PENDING = "pending", _("waiting")
    RUNNING = "running", _("reading")
    DONE = "done", _("done")
    FAILED = "failed", _("failed")


class AgentKey(models.Model):
    """A per-server upload key for the usage agent. Only its SHA-256 is stored."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="usage_agent_keys")
    server_name = models.CharField(_("license server host"), max_length=255)
    prefix = models.CharField(max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("usage agent key")
        verbose_name_plural = _("usage agent keys")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.server_name})"


class Upload(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="usage_uploads")
    source = models.CharField(max_length=10, choices=UploadSource.choices)
    name = models.CharField(_("file"), max_length=255)
    size = models.BigIntegerField(default=0)
    path = models.CharField(max_length=255, blank=True, editable=False)  # under PORTAL_VAR_DIR/usage/
    server_name = models.CharField(_("license server host"), max_length=255, blank=True)
    license_server = models.ForeignKey(
        LicenseServer, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    agent_key = models.ForeignKey(AgentKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="uploads")
    status = models.CharField(max_length=10, choices=UploadStatus.choices, default=UploadStatus.PENDING)
    lines_total = models.BigIntegerField(default=0)
    lines_done = models.BigIntegerField(default=0)
    events_read = models.BigIntegerField(default=0)
    events_new = models.BigIntegerField(default=0)
    skipped_count = models.BigIntegerField(default=0)
    skipped = models.JSONField(default=list, blank=True)  # the first SKIPPED_KEPT {"line", "reason"}
    error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("usage upload")
        verbose_name_plural = _("usage uploads")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "-created_at"], name="usage_upload_customer")]

    def __str__(self) -> str:
        return self.name

    @property
    def percent(self) -> int:
        if self.status == UploadStatus.DONE:
            return 100
        return min(100, int(100 * self.lines_done / self.lines_total)) if self.lines_total else 0


class UsageEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="events")
    server_name = models.CharField(max_length=255)
    daemon = models.CharField(max_length=64)
    kind = models.PositiveSmallIntegerField(choices=EventKind.choices)
    time = models.DateTimeField()
    feature = models.CharField(max_length=255, blank=True)
    user = models.CharField(max_length=255, blank=True)
    host = models.CharField(max_length=255, blank=True)
    count = models.PositiveIntegerField(default=1)
    occurrence = models.PositiveIntegerField(default=0)
    key = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "key"], name="usage_event_key_unique")]
        indexes = [models.Index(fields=["customer", "server_name", "time"], name="usage_event_server_time")]

    def __str__(self) -> str:
        return f"{self.time} {self.feature} {self.get_kind_display()}"


class UsageHour(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    server_name = models.CharField(max_length=255)
    license_server = models.ForeignKey(
        LicenseServer, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    daemon = models.CharField(max_length=64)
    feature = models.CharField(max_length=255)
    hour = models.DateTimeField()
    peak = models.PositiveIntegerField(default=0)
    license_seconds = models.BigIntegerField(default=0)
    checkouts = models.PositiveIntegerField(default=0)
    denials = models.PositiveIntegerField(default=0)
    true_denials = models.PositiveIntegerField(default=0)
    queued = models.PositiveIntegerField(default=0)
    queue_wait_seconds = models.BigIntegerField(default=0)
    unsupported = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "server_name", "daemon", "feature", "hour"], name="usage_hour_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "hour"], name="usage_hour_customer_hour"),
            models.Index(fields=["customer", "feature", "hour"], name="usage_hour_feature_hour"),
        ]

    def __str__(self) -> str:
        return f"{self.hour} {self.feature} peak {self.peak}"


class PersonKind(models.TextChoices):
    USER = "user", _("user")
    HOST = "host", _("host")


class UsagePersonDay(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    server_name = models.CharField(max_length=255)
    daemon = models.CharField(max_length=64)
    feature = models.CharField(max_length=255)
    day = models.DateField()
    kind = models.CharField(max_length=4, choices=PersonKind.choices)
    name = models.CharField(max_length=255)
    license_seconds = models.BigIntegerField(default=0)
    checkouts = models.PositiveIntegerField(default=0)
    denials = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["customer", "day"], name="usage_person_customer_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.feature} {self.name}"


class UsageSnapshot(models.Model):
    """An ``lmstat -a`` snapshot: who holds what at one moment."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="snapshots")
    server_name = models.CharField(max_length=255, blank=True)
    taken_at = models.DateTimeField(null=True, blank=True)
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["-taken_at", "-id"]
        indexes = [models.Index(fields=["customer", "-taken_at"], name="usage_snapshot_customer")]

    def __str__(self) -> str:
        return f"{self.server_name} {self.taken_at}"


class UsageCheckpoint(models.Model):
    """The rollup replay's state for one server after every event before ``time`` (see
    ``usage.services.usage_rollups_rebuild``): a later rebuild whose new or deleted events all
    fall at or after ``time`` goes on from here instead of replaying the server's history.
    Rows before (``hour_cut``, ``day_cut``) were final when it was taken."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    server_name = models.CharField(max_length=255)
    time = models.DateTimeField()
    hour_cut = models.DateTimeField(null=True)
    day_cut = models.DateField(null=True)
    state = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "server_name", "time"], name="usage_checkpoint_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.server_name} {self.time}"
