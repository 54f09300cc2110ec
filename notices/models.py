"""What the portal tells people, and what they asked to be told.

Writes go through ``notices.services``; these classes hold data and the unique keys that
make every reminder and every digest email happen once, whatever beat or a worker does.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Customer
from accounts.models import Notification as OutboxEmail
from entitlements.models import Entitlement


class Category(models.TextChoices):
    """What a member may choose to hear about (stable values: stored, and signed into
    unsubscribe links). The ASC's matrix emails (activations, user changes) are not a
    category: nobody may switch them off."""

    RENEWALS = "renewals", _("Renewals and expiry reminders")
    USAGE = "usage", _("Usage thresholds")
    SECURITY = "security", _("Security events (new tokens, two-factor changes)")


class Frequency(models.TextChoices):
    IMMEDIATELY = "immediately", _("Immediately")
    DAILY = "daily", _("Daily digest")
    WEEKLY = "weekly", _("Weekly digest")
    NEVER = "never", _("Never")


class CustomerRenewalSettings(models.Model):
    """Per customer: who at the reseller to contact, and the secret of the calendar feed.

    Kept here rather than on ``accounts.Customer`` so that renewals add no column to a table
    every page reads (and no migration to accounts)."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="renewal_settings")
    account_manager_name = models.CharField(_("account manager"), max_length=150, blank=True)
    account_manager_email = models.EmailField(_("account manager email"), blank=True)
    account_manager_phone = models.CharField(_("account manager phone"), max_length=40, blank=True)
    # The calendar feed's secret: empty means no feed; rotating it revokes every old URL.
    calendar_token = models.CharField(max_length=64, blank=True, editable=False)
    calendar_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("renewal settings")
        verbose_name_plural = _("renewal settings")
        constraints = [
            models.UniqueConstraint(
                fields=["calendar_token"], condition=~Q(calendar_token=""), name="renewal_calendar_token_unique"
            )
        ]
        indexes = [models.Index(fields=["account_manager_email"], name="renewal_account_manager")]

    def __str__(self) -> str:
        return f"{self.customer.number}: {self.account_manager_name or '-'}"


class NotificationPreference(models.Model):
    """A member's choice for one category; no row means the role's default
    (``notices.preferences.DEFAULTS``)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notice_preferences")
    category = models.CharField(_("category"), max_length=20, choices=Category.choices)
    frequency = models.CharField(_("frequency"), max_length=20, choices=Frequency.choices)
    updated_at = models.DateTimeField(_("changed"), default=timezone.now)

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")
        constraints = [
            models.UniqueConstraint(fields=["user", "category"], name="notice_preference_unique"),
            models.CheckConstraint(condition=Q(category__in=Category.values), name="notice_preference_category"),
            models.CheckConstraint(condition=Q(frequency__in=Frequency.values), name="notice_preference_frequency"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.category}: {self.frequency}"


class Kind(models.TextChoices):
    """What a notification says; its words are rendered in the reader's language when shown."""

    LINE_END = "line_end", _("License end")
    TECS_END = "tecs_end", _("TECS end")
    ELASTIC_CREDIT = "elastic_credit", _("Elastic credit expiry")
    SHARED_WEB_TOKENS = "shared_web_tokens", _("Shared Web token expiry")
    MESSAGE = "message", _("Message")


class PortalNotification(models.Model):
    """One event for one person: the bell's row, and the unit the digest emails carry.

    ``key`` makes an event happen once per person (a reminder's key names the line, the date
    kind and the reminder step). ``emailed_at`` is set in the transaction that queued the email
    carrying it (or decided it sends none): a row is emailed at most once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="portal_notifications")
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, null=True, blank=True, related_name="portal_notifications"
    )
    category = models.CharField(max_length=20)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    key = models.CharField(max_length=200)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    # The outbox email this row mirrors (``services.outbox_mirror``): its high-water mark.
    outbox_id = models.BigIntegerField(null=True, blank=True, db_index=True)

    class Meta:
        verbose_name = _("portal notification")
        verbose_name_plural = _("portal notifications")
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="portal_notification_once")]
        indexes = [
            models.Index(fields=["user", "-created_at", "-id"], name="portal_notification_user"),
            models.Index(fields=["user"], condition=Q(read_at__isnull=True), name="portal_notification_unread"),
            models.Index(
                fields=["category", "user"], condition=Q(emailed_at__isnull=True), name="portal_notification_unmailed"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.key}"


class DigestEmail(models.Model):
    """The one email a person gets per category per day: the unique key is the guarantee,
    whatever runs the digest twice (beat restarted, two workers, a retry)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    category = models.CharField(max_length=20)
    day = models.DateField()
    email = models.ForeignKey(OutboxEmail, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    items = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("digest email")
        verbose_name_plural = _("digest emails")
        constraints = [models.UniqueConstraint(fields=["user", "category", "day"], name="digest_email_once_a_day")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.category} {self.day}"


class ResellerDigest(models.Model):
    """The reseller's daily list of lines ending in 90/30/7 days: sent once per day."""

    day = models.DateField(unique=True)
    email = models.ForeignKey(OutboxEmail, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    lines = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("reseller digest")
        verbose_name_plural = _("reseller digests")

    def __str__(self) -> str:
        return str(self.day)


class RenewalLine(Entitlement):
    """The support console's view of lines ending soon (no table: a proxy for the admin)."""

    class Meta:
        proxy = True
        verbose_name = _("line ending soon")
        verbose_name_plural = _("lines ending soon (reseller digest)")


class OutboxMirrorMark(models.Model):
    """How far ``services.outbox_mirror`` has read the outbox (a single row): it advances past
    emails to addresses without an account too, so those are never read again."""

    last_outbox_id = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("outbox mirror mark")
        verbose_name_plural = _("outbox mirror marks")

    def __str__(self) -> str:
        return str(self.last_outbox_id)
