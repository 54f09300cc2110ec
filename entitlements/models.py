"""What customers bought: products and entitlement lines.

Writes go through ``entitlements.services`` (and ``activations.services`` for the activated
quantity, which it changes only under a row lock).
"""

from __future__ import annotations

import datetime

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Customer


class LicensingModel(models.TextChoices):
    FLEXNET = "flexnet", _("FlexNet")
    SHARED_WEB = "shared_web", _("Shared Web")
    ELASTIC = "elastic", _("Elastic")


feature_name_validator = RegexValidator(
    r"^[A-Za-z0-9_]{1,30}$", _("A FlexNet feature name is 1 to 30 letters, digits or underscores.")
)


class Product(models.Model):
    feature = models.CharField(
        _("feature name"),
        max_length=30,
        unique=True,
        validators=[feature_name_validator],
        help_text=_("The FlexNet feature, e.g. ansys, anshpc_pack, acfdsol3."),
    )
    name = models.CharField(_("display name"), max_length=200)
    licensing_model = models.CharField(_("licensing model"), max_length=20, choices=LicensingModel.choices)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.feature})"


class EntitlementStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    NOT_STARTED = "not_started", _("Not started")
    EXPIRED = "expired", _("Expired")


class Entitlement(models.Model):
    """A purchased line. ``activated`` is the quantity currently on license servers."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="entitlements")
    line_id = models.CharField(
        _("line"),
        max_length=40,
        unique=True,
        validators=[RegexValidator(r"^[0-9]{1,12}-[0-9]{1,8}$", _("A line id looks like 1001234-0003."))],
    )
    order_number = models.CharField(_("order number"), max_length=40, blank=True)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="entitlements")
    quantity = models.PositiveIntegerField(_("quantity"))
    activated = models.PositiveIntegerField(_("activated"), default=0)
    start_date = models.DateField(_("start"))
    end_date = models.DateField(_("end"), null=True, blank=True, help_text=_("Empty for a perpetual license."))
    tecs_end_date = models.DateField(_("TECS end"), null=True, blank=True, help_text=_("End of maintenance (TECS)."))
    borrowable = models.BooleanField(_("borrowable"), default=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("entitlement")
        verbose_name_plural = _("entitlements")
        ordering = ["customer", "line_id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="entitlement_quantity_positive"),
            # The last line of defence against oversubscription, whatever the code above does.
            models.CheckConstraint(condition=Q(activated__lte=F("quantity")), name="entitlement_not_oversubscribed"),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")),
                name="entitlement_end_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "line_id"], name="entitlement_customer_line"),
            models.Index(fields=["customer", "end_date"], name="entitlement_customer_end"),
            models.Index(fields=["customer", "product"], name="entitlement_customer_product"),
        ]

    def __str__(self) -> str:
        return f"{self.line_id} {self.product.feature} x{self.quantity}"

    @property
    def perpetual(self) -> bool:
        return self.end_date is None

    @property
    def available(self) -> int:
        return self.quantity - self.activated

    def status_on(self, day: datetime.date) -> EntitlementStatus:
        if self.start_date > day:
            return EntitlementStatus.NOT_STARTED
        if self.end_date is not None and self.end_date < day:
            return EntitlementStatus.EXPIRED
        return EntitlementStatus.ACTIVE

    @property
    def status(self) -> EntitlementStatus:
        return self.status_on(timezone.localdate())


# --- Shared Web -------------------------------------------------------------------------
# For a Shared Web entitlement, ``Entitlement.activated`` counts the seats reserved for
# groups, so the same check constraint stops seat assignments from exceeding the quantity.


class SharedWebUser(models.Model):
    """A person allowed to take the customer's Shared Web licenses."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="shared_web_users")
    email = models.EmailField(_("email address"))
    name = models.CharField(_("name"), max_length=150, blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("added"), default=timezone.now)

    class Meta:
        verbose_name = _("Shared Web user")
        verbose_name_plural = _("Shared Web users")
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint("customer", Lower("email"), name="shared_web_user_email_unique"),
        ]
        indexes = [models.Index(fields=["customer", "email"], name="shared_web_user_customer")]

    def __str__(self) -> str:
        return self.email


class SharedWebGroup(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="shared_web_groups")
    name = models.CharField(_("name"), max_length=100)
    members = models.ManyToManyField(SharedWebUser, related_name="groups", blank=True, verbose_name=_("members"))
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("Shared Web group")
        verbose_name_plural = _("Shared Web groups")
        ordering = ["name"]
        constraints = [models.UniqueConstraint("customer", Lower("name"), name="shared_web_group_name_unique")]

    def __str__(self) -> str:
        return self.name


class SeatAssignment(models.Model):
    """Seats of a Shared Web entitlement reserved for one group's members."""

    group = models.ForeignKey(SharedWebGroup, on_delete=models.CASCADE, related_name="seat_assignments")
    entitlement = models.ForeignKey(Entitlement, on_delete=models.CASCADE, related_name="seat_assignments")
    seats = models.PositiveIntegerField(_("seats"))

    class Meta:
        verbose_name = _("seat assignment")
        verbose_name_plural = _("seat assignments")
        constraints = [
            models.UniqueConstraint(fields=["group", "entitlement"], name="seat_assignment_unique"),
            models.CheckConstraint(condition=Q(seats__gt=0), name="seat_assignment_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.group}: {self.seats} x {self.entitlement.line_id}"


# --- Elastic ----------------------------------------------------------------------------


class ElasticAccount(models.Model):
    """The customer's Elastic (pay-per-use) account: cloud license server and budget.

    ``pin`` is a secret: only ASCs and Administrators see it; it never enters the audit log
    or an email."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="elastic_account")
    license_server_id = models.CharField(_("cloud license server ID"), max_length=64, unique=True)
    pin = models.CharField(_("PIN"), max_length=64)
    pin_changed_at = models.DateTimeField(_("PIN changed"), default=timezone.now)
    monthly_budget_units = models.PositiveIntegerField(_("monthly budget (Elastic units)"), null=True, blank=True)
    alert_thresholds = models.JSONField(_("alert thresholds (%)"), default=list, blank=True)
    alert_recipients = models.JSONField(_("extra alert recipients"), default=list, blank=True)

    class Meta:
        verbose_name = _("Elastic account")
        verbose_name_plural = _("Elastic accounts")

    def __str__(self) -> str:
        return f"{self.customer.number}: {self.license_server_id}"


class ElasticUsage(models.Model):
    """One usage transaction from the vendor's usage report (imported by support)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="elastic_usage")
    transaction_id = models.CharField(_("transaction"), max_length=64)
    started_at = models.DateTimeField(_("start"))
    ended_at = models.DateTimeField(_("end"))
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="elastic_usage")
    count = models.PositiveIntegerField(_("count"))
    hours = models.DecimalField(_("hours"), max_digits=12, decimal_places=3)
    cost = models.DecimalField(_("cost (Elastic units)"), max_digits=14, decimal_places=3)
    currency = models.CharField(_("currency"), max_length=16, default="AEU")
    user = models.CharField(_("user"), max_length=254, blank=True)

    class Meta:
        verbose_name = _("Elastic usage")
        verbose_name_plural = _("Elastic usage")
        ordering = ["-started_at"]
        constraints = [
            # Re-importing the same report is a no-op.
            models.UniqueConstraint(fields=["customer", "transaction_id"], name="elastic_usage_unique"),
            models.CheckConstraint(condition=Q(ended_at__gte=F("started_at")), name="elastic_usage_end_after_start"),
        ]
        indexes = [models.Index(fields=["customer", "-started_at"], name="elastic_usage_customer_time")]

    def __str__(self) -> str:
        return f"{self.transaction_id} {self.product.feature} {self.cost}"


class BudgetAlert(models.Model):
    """A threshold crossing already announced: at most one per threshold per month."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="budget_alerts")
    month = models.DateField(_("month"))
    threshold = models.PositiveSmallIntegerField(_("threshold (%)"))
    consumed = models.DecimalField(_("consumed"), max_digits=14, decimal_places=3)
    created_at = models.DateTimeField(_("sent"), default=timezone.now)

    class Meta:
        verbose_name = _("budget alert")
        verbose_name_plural = _("budget alerts")
        constraints = [
            models.UniqueConstraint(fields=["customer", "month", "threshold"], name="budget_alert_once_per_month"),
        ]

    def __str__(self) -> str:
        return f"{self.customer.number} {self.month:%Y-%m} {self.threshold}%"
