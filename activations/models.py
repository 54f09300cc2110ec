"""License servers, what is activated on them, and their signed license files.

Every write goes through ``activations.services``; these classes hold data and constraints.
``Entitlement.activated`` is the sum of ``Activation.quantity`` over the entitlement's
servers; the services keep it so under a row lock, and the entitlement's check constraint
(``activated <= quantity``) is the last line of defence against oversubscription.
"""

from __future__ import annotations

import datetime
import unicodedata

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Customer
from entitlements.models import Entitlement

from .hostids import HostIdType

HOSTID_TYPE_CHOICES = [(kind.value, kind.label) for kind in HostIdType]

host_name_validator = RegexValidator(
    r"^[A-Za-z0-9_.:-]{1,255}$",
    _("A host name is letters, digits, dots, hyphens, underscores or colons, without spaces."),
)


class LicenseServer(models.Model):
    """A customer's FlexNet license server: one host, or three for a redundant triad.

    The hosts (name + host ID) are ``ServerHost`` rows, ordered 1..3.
    """

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="license_servers")
    name = models.CharField(_("label"), max_length=60)
    lmgrd_port = models.PositiveIntegerField(
        _("lmgrd port"), default=1055, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    vendor_port = models.PositiveIntegerField(
        _("vendor daemon port"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Set by ``server_retire`` once every license is returned: the server leaves every list,
    # frees its label (renamed "<label> (retired <id>)") and host IDs, keeps its license files.
    retired_at = models.DateTimeField(_("retired"), null=True, blank=True)

    class Meta:
        verbose_name = _("license server")
        verbose_name_plural = _("license servers")
        ordering = ["customer", "name"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "name"], name="license_server_name_unique"),
            models.CheckConstraint(condition=Q(lmgrd_port__gte=1, lmgrd_port__lte=65535), name="server_port_range"),
            models.CheckConstraint(
                condition=Q(vendor_port__isnull=True) | Q(vendor_port__gte=1, vendor_port__lte=65535),
                name="server_vendor_port_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer.number}: {self.name}"


class ServerHost(models.Model):
    """One host of a license server (position 1, or 1..3 for a triad).

    ``customer`` repeats the server's customer so that a host ID is unique per customer
    in the database, not only in the form."""

    server = models.ForeignKey(LicenseServer, on_delete=models.CASCADE, related_name="hosts")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField(_("position"))
    host_name = models.CharField(_("host name"), max_length=255, validators=[host_name_validator])
    hostid_type = models.CharField(_("host ID type"), max_length=16, choices=HOSTID_TYPE_CHOICES)
    host_id = models.CharField(_("host ID"), max_length=32)

    class Meta:
        verbose_name = _("server host")
        verbose_name_plural = _("server hosts")
        ordering = ["server", "position"]
        constraints = [
            models.UniqueConstraint(fields=["server", "position"], name="server_host_position_unique"),
            models.UniqueConstraint(fields=["customer", "host_id"], name="server_host_id_unique_per_customer"),
            models.CheckConstraint(condition=Q(position__gte=1, position__lte=3), name="server_host_position_range"),
        ]

    def __str__(self) -> str:
        return f"{self.host_name} {self.host_id}"


class Activation(models.Model):
    """How many licenses of one entitlement are on one server."""

    server = models.ForeignKey(LicenseServer, on_delete=models.CASCADE, related_name="activations")
    entitlement = models.ForeignKey(Entitlement, on_delete=models.PROTECT, related_name="activations")
    quantity = models.PositiveIntegerField(_("activated"))
    borrowable = models.BooleanField(_("borrowable"), default=False)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("activation")
        verbose_name_plural = _("activations")
        ordering = ["server", "entitlement__line_id"]
        constraints = [
            models.UniqueConstraint(fields=["server", "entitlement"], name="activation_server_entitlement_unique"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="activation_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.server_id}: {self.entitlement_id} x{self.quantity}"


class LicenseFileReason(models.TextChoices):
    ACTIVATION = "activation", _("Activations changed")
    GENERATED = "generated", _("Generated")
    RETURN = "return", _("All licenses returned")
    REHOST = "rehost", _("Rehosted")
    SERVER_CHANGED = "server_changed", _("Server details changed")


class LicenseFile(models.Model):
    """One version of a server's license file, exactly as it was issued. Never changed."""

    server = models.ForeignKey(LicenseServer, on_delete=models.CASCADE, related_name="license_files")
    version = models.PositiveIntegerField(_("version"))
    content = models.TextField(_("content"))
    reason = models.CharField(_("reason"), max_length=20, choices=LicenseFileReason.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("license file version")
        verbose_name_plural = _("license file versions")
        ordering = ["server", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["server", "version"], name="license_file_version_unique"),
            models.CheckConstraint(condition=Q(version__gte=1), name="license_file_version_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.server.name} v{self.version}"

    @property
    def filename(self) -> str:
        """``<customer>_<label>_v<version>.lic``. Characters of the label that a file name
        must not carry (path separators, control and invisible formatting characters, which
        labels refuse today but older ones may hold) become ``_``; it always ends in ``.lic``."""
        label = "".join(
            "_"
            if character in "/\\" or (unicodedata.category(character)[0] in "CZ" and character != " ")
            else character
            for character in self.server.name
        )
        return f"{self.server.customer.number}_{label}_v{self.version}.lic"


class ActivationSubmission(models.Model):
    """A reviewed activation that was applied, keyed by the review form's one-time token.

    A second submit of the same review (double click, browser retry, another tab) finds
    the token taken and gets the first result instead of applying the change again."""

    token = models.CharField(max_length=64, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    server = models.ForeignKey(LicenseServer, on_delete=models.CASCADE, related_name="+")
    license_file = models.ForeignKey(LicenseFile, on_delete=models.SET_NULL, null=True, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    # What the result page shows: the lines changed (line, feature, before, after, delta,
    # borrowable), how the file was delivered, and to whom it was emailed.
    # Database defaults too: the previous release, still running during an upgrade, inserts
    # submissions without these columns (expand/contract, docs/operations.md "Upgrades").
    changes = models.JSONField(default=list, db_default=[], blank=True)
    deliver = models.CharField(max_length=10, default="download", db_default="download")
    recipients = models.JSONField(default=list, db_default=[], blank=True)

    class Meta:
        verbose_name = _("activation submission")
        verbose_name_plural = _("activation submissions")

    def __str__(self) -> str:
        return f"{self.server_id} {self.created_at:%Y-%m-%d %H:%M}"


class RehostKind(models.TextChoices):
    REHOST = "rehost", _("Server rehosted")
    MOVE = "move", _("Licenses moved from another host")


class Rehost(models.Model):
    """Licenses moved from one host ID to another, counted against the customer's rolling
    12-month allowance (``selectors.rehost_allowance``): a rehost of ``server``, or licenses
    returned on another host and activated on ``server`` (kind ``move``)."""

    server = models.ForeignKey(LicenseServer, on_delete=models.CASCADE, related_name="rehosts")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    # db_default: the previous release inserts rows without it (expand/contract, docs/operations.md).
    kind = models.CharField(
        _("kind"), max_length=10, choices=RehostKind.choices, default=RehostKind.REHOST, db_default=RehostKind.REHOST
    )
    old_host_ids = models.JSONField(default=list)
    new_host_ids = models.JSONField(default=list)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(_("rehosted"), default=timezone.now)

    class Meta:
        verbose_name = _("rehost")
        verbose_name_plural = _("rehosts")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["server", "created_at"], name="rehost_server_time"),
            models.Index(fields=["customer", "created_at"], name="rehost_customer_time"),
        ]

    def __str__(self) -> str:
        return f"{self.server_id} {self.created_at:%Y-%m-%d}"


class ReturnedLicenses(models.Model):
    """Licenses of one entitlement returned to the pool from a host (a server and its host
    IDs), not yet taken again. Activating them on another host is a move that counts
    against the rehost allowance; ``remaining`` goes down as they are taken. Written and
    read only under the entitlement's row lock (services.py)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    entitlement = models.ForeignKey(Entitlement, on_delete=models.CASCADE, related_name="+")
    server = models.ForeignKey(LicenseServer, on_delete=models.CASCADE, related_name="+")
    host_ids = models.JSONField(default=list)
    quantity = models.PositiveIntegerField()
    remaining = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("returned licenses")
        verbose_name_plural = _("returned licenses")
        indexes = [models.Index(fields=["entitlement", "created_at"], name="returned_entitlement_time")]
        constraints = [
            models.CheckConstraint(condition=Q(remaining__lte=models.F("quantity")), name="returned_remaining_le_qty"),
        ]

    def __str__(self) -> str:
        return f"{self.entitlement_id}: {self.remaining}/{self.quantity} from {self.host_ids}"


class RehostGrant(models.Model):
    """One extra move beyond the customer's yearly rehost allowance, granted by support for a
    server (an approved customer request). The allowance is the customer's, so the grant is
    too: the next move of the customer's licenses the allowance would refuse uses it up."""

    server = models.ForeignKey(LicenseServer, on_delete=models.CASCADE, related_name="rehost_grants")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    note = models.CharField(_("note"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("granted"), default=timezone.now)
    used_at = models.DateTimeField(_("used"), null=True, blank=True)

    class Meta:
        verbose_name = _("extra rehost")
        verbose_name_plural = _("extra rehosts")
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["customer"], condition=models.Q(used_at__isnull=True), name="rehost_grant_unused")
        ]

    def __str__(self) -> str:
        return f"{self.server_id} +1 {self.created_at:%Y-%m-%d}"


class RehostQuota(models.Model):
    """The customer's rehost allowance, set by support (default ``PORTAL_REHOSTS_PER_YEAR``):
    moves of licenses to another host ID in a rolling 12 months, all servers together."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="rehost_quota")
    rehosts_per_year = models.PositiveSmallIntegerField(_("rehosts and moves per customer in 12 months"))
    note = models.CharField(_("note"), max_length=255, blank=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("rehost allowance")
        verbose_name_plural = _("rehost allowances")

    def __str__(self) -> str:
        return f"{self.customer.number}: {self.rehosts_per_year}"


# An emergency file signs this version in its lines' SN= (``FileIdentity``): a regular file's
# versions start at 1 (``license_file_version_positive``), so no emergency line can pass for a
# line of one of the server's versions, nor be mixed into one.
EMERGENCY_FILE_VERSION = 0
# The longest an emergency license may run, from the day it is issued (DESIGN.md, issue #18).
EMERGENCY_LICENSE_MAX_DAYS = 14


class EmergencyLicense(models.Model):
    """A temporary license file for a new host ID while a rehost is sorted out (a support
    manager approved the customer's emergency request): the server's activated lines, signed
    like any file, each expiring on ``expires_on`` at the latest (at most 14 days after issue).

    It is not a version of the server's file: the server's versions, its hosts and its rehost
    allowance are left as they are. ``reference`` is the number of the request it answers."""

    server = models.ForeignKey(LicenseServer, on_delete=models.CASCADE, related_name="emergency_licenses")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    reference = models.PositiveIntegerField(_("request"))
    host_name = models.CharField(_("host name"), max_length=255, validators=[host_name_validator])
    hostid_type = models.CharField(_("host ID type"), max_length=16, choices=HOSTID_TYPE_CHOICES)
    host_id = models.CharField(_("host ID"), max_length=32)
    content = models.TextField(_("content"))
    issued_on = models.DateField(_("issued"))
    expires_on = models.DateField(_("expires"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("emergency license")
        verbose_name_plural = _("emergency licenses")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_on__gte=models.F("issued_on"))
                & Q(expires_on__lte=models.F("issued_on") + datetime.timedelta(days=EMERGENCY_LICENSE_MAX_DAYS)),
                name="emergency_license_at_most_14_days",
            ),
        ]
        indexes = [models.Index(fields=["server", "expires_on"], name="emergency_license_server")]

    def __str__(self) -> str:
        return f"{self.server_id} emergency until {self.expires_on}"

    def valid_on(self, day: datetime.date) -> bool:
        """Usable on ``day``: its lines run to the end of ``expires_on``."""
        return self.issued_on <= day <= self.expires_on

    @property
    def valid(self) -> bool:
        return self.valid_on(timezone.localdate())

    @property
    def filename(self) -> str:
        """``<customer>_<label>_EMERGENCY_<request>_until_<yyyy-mm-dd>.lic``: never the name
        of one of the server's versions (``LicenseFile.filename``)."""
        label = "".join(
            "_"
            if character in "/\\" or (unicodedata.category(character)[0] in "CZ" and character != " ")
            else character
            for character in self.server.name
        )
        return f"{self.server.customer.number}_{label}_EMERGENCY_{self.reference}_until_{self.expires_on:%Y-%m-%d}.lic"
