"""What customers bought: products and entitlement lines.

Writes go through ``entitlements.services`` (and ``activations.services`` for the activated
quantity, which it changes only under a row lock).
"""

from __future__ import annotations

import datetime

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
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
        _("feature name"), max_length=30, unique=True, validators=[feature_name_validator],
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
        _("line"), max_length=40, unique=True,
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
