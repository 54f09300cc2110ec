"""Requests from customers to support: what a customer cannot do alone (DESIGN.md,
``/c/<n>/requests/``). A request is filed by a member, commented on by both sides and
decided by support; approving one applies it through the service that owns the change."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Customer
from activations.models import EmergencyLicense, LicenseServer


class RequestKind(models.TextChoices):
    EXTRA_REHOST = "extra_rehost", _("One more rehost than the yearly allowance")
    ASC_CHANGE = "asc_change", _("Change of Support Coordinator (ASC)")
    FLEXNET_ON = "flexnet_on", _("FlexNet management in the portal")
    EMERGENCY_LICENSE = "emergency_license", _("Emergency license for a new host (up to 14 days)")


class RequestState(models.TextChoices):
    OPEN = "open", _("Open")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    DONE = "done", _("Done")


# How long support has to decide a request (the SLA clock); the queue orders by it.
REQUEST_SLA = datetime.timedelta(hours=24)


class SupportRequest(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="support_requests")
    kind = models.CharField(_("request"), max_length=20, choices=RequestKind.choices)
    state = models.CharField(_("state"), max_length=10, choices=RequestState.choices, default=RequestState.OPEN)
    server = models.ForeignKey(
        LicenseServer,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("license server"),
    )
    asc_email = models.EmailField(_("email of the new ASC"), blank=True)
    reason = models.TextField(_("reason"), max_length=2000)
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("filed by")
    )
    created_at = models.DateTimeField(_("filed"), default=timezone.now)
    due_at = models.DateTimeField(_("due"))
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    # An emergency license: the new host and how many days (1..14) the file should run;
    # ``emergency_license`` is the file issued on approval. Database defaults: the previous
    # release inserts requests without these columns (expand/contract, docs/operations.md).
    host_name = models.CharField(_("host name"), max_length=255, blank=True, default="", db_default="")
    hostid_type = models.CharField(_("host ID type"), max_length=16, blank=True, default="", db_default="")
    host_id = models.CharField(_("new host ID"), max_length=32, blank=True, default="", db_default="")
    emergency_days = models.PositiveSmallIntegerField(_("days"), null=True, blank=True)
    emergency_license = models.ForeignKey(
        EmergencyLicense,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("emergency license"),
    )

    class Meta:
        verbose_name = _("request to support")
        verbose_name_plural = _("requests to support")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=RequestState.values), name="support_request_state_valid"),
            models.CheckConstraint(condition=Q(kind__in=RequestKind.values), name="support_request_kind_valid"),
            models.CheckConstraint(
                condition=~Q(kind=RequestKind.EXTRA_REHOST) | Q(server__isnull=False),
                name="support_request_rehost_has_server",
            ),
            # One emergency per server at a time: an open request, or an approved one whose
            # file is in use (it is marked done when the file expires or support closes it).
            # Built concurrently by migration 0003 (a partial unique index).
            models.UniqueConstraint(
                fields=["server"],
                condition=Q(kind="emergency_license", state__in=["open", "approved"]),
                name="support_request_one_emergency_per_server",
            ),
        ]
        indexes = [models.Index(fields=["state", "due_at"], name="support_request_state_due")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.customer.number} {self.kind} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state == RequestState.OPEN

    @property
    def overdue(self) -> bool:
        return self.is_open and timezone.now() > self.due_at

    @property
    def age(self) -> datetime.timedelta:
        return (self.closed_at or self.decided_at or timezone.now()) - self.created_at


class RequestComment(models.Model):
    request = models.ForeignKey(SupportRequest, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    author_email = models.CharField(max_length=254, blank=True)
    from_support = models.BooleanField(default=False)
    body = models.TextField(_("comment"), max_length=4000)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"#{self.request_id} {self.author_email}"
