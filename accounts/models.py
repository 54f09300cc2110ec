"""People, the customers they work for, and how they are linked.

Every write goes through ``accounts.services``; these classes hold data and constraints.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .emails import email_normalise
from .roles import Role


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **fields: object) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=email_normalise(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **fields: object) -> User:
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields: object) -> User:
        fields["is_staff"] = True
        fields["is_superuser"] = True
        return self._create(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in with an email address. Access to customers comes from memberships."""

    email = models.EmailField(_("email address"), unique=True)
    name = models.CharField(_("name"), max_length=150, blank=True)
    # As given at sign-up (optional, for the colleagues and support who read it); a company's
    # access comes from memberships, never from this text. db_default: the previous release
    # creates users without it (expand/contract, docs/operations.md).
    company = models.CharField(_("company"), max_length=150, blank=True, default="", db_default="")
    is_staff = models.BooleanField(_("support staff"), default=False, help_text=_("May use the support console."))
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)
    language = models.CharField(
        _("language"),
        max_length=8,
        blank=True,
        help_text=_("The language of the portal and of the emails this person receives."),
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return self.name or self.email


customer_number_validator = RegexValidator(r"^[0-9]{1,12}$", _("A customer number is 1 to 12 digits."))


class Customer(models.Model):
    """A company that bought licenses from the reseller."""

    number = models.CharField(_("customer number"), max_length=12, unique=True, validators=[customer_number_validator])
    name = models.CharField(_("name"), max_length=200)
    flexnet_managed = models.BooleanField(
        _("FlexNet licenses are managed in the portal"),
        default=False,
        help_text=_("Set by support. Without it the customer sees entitlements but no activations."),
    )
    mfa_required = models.BooleanField(
        _("two-factor authentication required"),
        default=False,
        help_text=_("Members must set up two-factor authentication before they can open this customer's pages."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # Raised by PostgreSQL triggers whenever the customer, its entitlement lines, products,
    # servers, activations or license files change (migrations accounts 0005, activations
    # 0002): the key of the cached page fragments (portal/fragments.py). Never set by code.
    data_version = models.BigIntegerField(_("data version"), default=0, editable=False)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["number"]
        constraints = [
            models.CheckConstraint(condition=models.Q(number__regex=r"^[0-9]{1,12}$"), name="customer_number_digits")
        ]

    def __str__(self) -> str:
        return f"{self.number} ({self.name})"


class Membership(models.Model):
    """A user's access to one customer, with exactly one role."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(_("since"), default=timezone.now)
    added_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("added by")
    )

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        ordering = ["customer__number", "user__email"]
        constraints = [
            models.UniqueConstraint(fields=["user", "customer"], name="membership_user_customer_unique"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="membership_role_valid"),
        ]
        indexes = [models.Index(fields=["customer", "role"])]

    def __str__(self) -> str:
        return f"{self.user} @ {self.customer.number} ({self.get_role_display()})"


class InvitationQuerySet(models.QuerySet["Invitation"]):
    def pending(self) -> InvitationQuerySet:
        return self.filter(accepted_at__isnull=True, cancelled_at__isnull=True)


class Invitation(models.Model):
    """A pending membership for an email address.

    It becomes a membership when its address is verified by the account's own session (code,
    password reset) or when the address's verified holder accepts it on the access page; it
    never links on login alone. An ASC designation recorded by support is an invitation with
    the ASC role.
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(_("email address"))
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    invited_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("invited by")
    )
    created_at = models.DateTimeField(_("invited"), default=timezone.now)
    last_sent_at = models.DateTimeField(_("last sent"), null=True, blank=True)
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("accepted by")
    )
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                "customer",
                Lower("email"),
                condition=models.Q(accepted_at__isnull=True, cancelled_at__isnull=True),
                name="invitation_pending_unique",
            ),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="invitation_role_valid"),
        ]
        indexes = [models.Index(Lower("email"), name="invitation_email_ci")]

    def __str__(self) -> str:
        return f"{self.email} → {self.customer.number} ({self.get_role_display()})"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.cancelled_at is None


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: object) -> int:
        raise TypeError("Audit events are append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise TypeError("Audit events are append-only.")


class AuditEvent(models.Model):
    """One thing that happened, recorded by the service that did it. Append-only.

    On PostgreSQL a trigger refuses UPDATE and DELETE as well (migration 0002), so not even
    raw SQL from the application can rewrite history.
    """

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_events")
    # The actor is kept by id and by email: the event outlives the user's row and its changes.
    actor = models.ForeignKey(
        User, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+"
    )
    actor_email = models.CharField(_("actor"), max_length=254, blank=True)
    action = models.CharField(_("action"), max_length=64)
    target = models.CharField(_("target"), max_length=255, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    denied = models.BooleanField(_("denied attempt"), default=False)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "-created_at", "-id"], name="audit_customer_time"),
            models.Index(fields=["customer", "action", "-created_at"], name="audit_customer_action"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_email or '-'} {self.action} {self.target}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None and not self._state.adding:
            raise TypeError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise TypeError("Audit events are append-only.")


class Notification(models.Model):
    """An email waiting to be sent: the outbox row, written in the same transaction as the
    change it reports. Sent at most once (``sent_at``); retried until it is."""

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    event = models.CharField(max_length=64)
    recipients = models.JSONField(default=list)
    subject = models.CharField(max_length=255)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    # [{"filename": ..., "content": <text>, "mimetype": ...}], e.g. a license file.
    attachments = models.JSONField(default=list, blank=True)
    # Extra headers of this recipient's email, e.g. RFC 8058 List-Unsubscribe (notices app).
    # Nullable: the previous release inserts notifications without it (expand/contract).
    headers = models.JSONField(default=dict, blank=True, null=True)
    # Rendered by the worker that sends it (``accounts.notifications.notification_queue``,
    # ``render_in_worker``): the template, its context as JSON, and the recipient's language;
    # subject and bodies stay empty until then. Database defaults: the previous release inserts
    # notifications without these columns (expand/contract).
    template = models.CharField(max_length=100, blank=True, default="", db_default="")
    context = models.JSONField(null=True, blank=True, default=None)
    language = models.CharField(max_length=16, blank=True, default="", db_default="")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["created_at"], condition=models.Q(sent_at__isnull=True), name="notification_unsent")
        ]

    def __str__(self) -> str:
        return f"{self.event}: {self.subject}"

    @property
    def message_id(self) -> str:
        # Stable per notification, so a mail server can drop a duplicate delivery.
        return f"<notification-{self.pk}@license-portal>"
