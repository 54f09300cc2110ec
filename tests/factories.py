"""factory_boy factories for the whole suite."""

from __future__ import annotations

import datetime
from decimal import Decimal

import factory
from allauth.account.models import EmailAddress
from django.utils import timezone

from accounts.models import Customer, Invitation, Membership, User
from accounts.roles import Role
from entitlements.models import Entitlement, LicensingModel, Product

PASSWORD = "correct-horse-battery-9"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.org")
    name = factory.Faker("name")
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def verified(self, create: bool, extracted: bool | None, **kwargs: object) -> None:
        """A verified primary EmailAddress unless ``verified=False``."""
        if create:
            EmailAddress.objects.create(user=self, email=self.email, primary=True, verified=extracted is not False)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer
        django_get_or_create = ("number",)

    number = factory.Sequence(lambda n: f"{5000000 + n}")
    name = factory.Faker("company")
    flexnet_managed = True


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    customer = factory.SubFactory(CustomerFactory)
    role = Role.VIEWER


class InvitationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invitation

    customer = factory.SubFactory(CustomerFactory)
    email = factory.Sequence(lambda n: f"invitee{n}@example.org")
    role = Role.VIEWER


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ("feature",)

    feature = factory.Sequence(lambda n: f"feature_{n}")
    name = factory.Sequence(lambda n: f"Product {n}")
    licensing_model = LicensingModel.FLEXNET


class EntitlementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Entitlement

    customer = factory.SubFactory(CustomerFactory)
    product = factory.SubFactory(ProductFactory)
    line_id = factory.Sequence(lambda n: f"{n + 1:07d}-{n % 10000:04d}")
    order_number = factory.Sequence(lambda n: f"SO-{n:06d}")
    quantity = 10
    start_date = factory.LazyFunction(lambda: timezone.localdate() - datetime.timedelta(days=30))
    end_date = factory.LazyFunction(lambda: timezone.localdate() + datetime.timedelta(days=365))
    tecs_end_date = factory.LazyFunction(lambda: timezone.localdate() + datetime.timedelta(days=365))
    borrowable = False


# --- Activations (issue 4) -------------------------------------------------------------------

from activations.models import Activation, LicenseServer, ServerHost  # noqa: E402


class LicenseServerFactory(factory.django.DjangoModelFactory):
    """A one-host server; ``host_id`` sets its Ethernet host ID."""

    class Meta:
        model = LicenseServer
        skip_postgeneration_save = True

    customer = factory.SubFactory(CustomerFactory)
    name = factory.Sequence(lambda n: f"lic{n:02d}")

    @factory.post_generation
    def host_id(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        if create:
            ServerHost.objects.create(
                server=self,
                customer=self.customer,
                position=1,
                host_name=f"{self.name}.example",
                hostid_type="ETHER",
                host_id=extracted or f"{0x001122000000 + self.pk:012X}",
            )


class ActivationFactory(factory.django.DjangoModelFactory):
    """An activation; keeps ``Entitlement.activated`` in step, as the services do."""

    class Meta:
        model = Activation

    server = factory.SubFactory(LicenseServerFactory)
    entitlement = factory.SubFactory(EntitlementFactory)
    quantity = 1

    @classmethod
    def _create(cls, model_class: type, *args: object, **kwargs: object) -> Activation:
        activation = super()._create(model_class, *args, **kwargs)
        entitlement = activation.entitlement
        Entitlement.objects.filter(pk=entitlement.pk).update(activated=entitlement.activated + activation.quantity)
        entitlement.refresh_from_db()
        return activation


# --- Shared Web and Elastic (entitlements/licensing/) ----------------------------------------

from entitlements.models import (  # noqa: E402
    BudgetAlert,
    ElasticAccount,
    ElasticUsage,
    SeatAssignment,
    SharedWebGroup,
    SharedWebUser,
)


class SharedWebUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SharedWebUser

    customer = factory.SubFactory(CustomerFactory)
    email = factory.Sequence(lambda n: f"shared{n}@example.org")
    name = factory.Faker("name")


class SharedWebGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SharedWebGroup

    customer = factory.SubFactory(CustomerFactory)
    name = factory.Sequence(lambda n: f"Group {n}")


class SeatAssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SeatAssignment

    group = factory.SubFactory(SharedWebGroupFactory)
    entitlement = factory.SubFactory(
        EntitlementFactory,
        customer=factory.SelfAttribute("..group.customer"),
        product__licensing_model=LicensingModel.SHARED_WEB,
    )
    seats = 1


class ElasticAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ElasticAccount

    customer = factory.SubFactory(CustomerFactory)
    license_server_id = factory.LazyAttribute(lambda account: f"ELS-{account.customer.number}")
    pin = "PIN-0000-TEST"


class ElasticUsageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ElasticUsage

    customer = factory.SubFactory(CustomerFactory)
    transaction_id = factory.Sequence(lambda n: f"T{n:06d}")
    started_at = factory.LazyFunction(timezone.now)
    ended_at = factory.LazyAttribute(lambda usage: usage.started_at)
    product = factory.SubFactory(ProductFactory, licensing_model=LicensingModel.ELASTIC)
    count = 1
    hours = Decimal("1.000")
    cost = Decimal("1.000")


class BudgetAlertFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BudgetAlert

    customer = factory.SubFactory(CustomerFactory)
    month = factory.LazyFunction(lambda: timezone.localdate().replace(day=1))
    threshold = 80
    consumed = Decimal("80.000")


# --- Rows the suite builds by hand in many places -------------------------------------------

from allauth.mfa.models import Authenticator  # noqa: E402

from accounts.models import AuditEvent, Notification  # noqa: E402
from notices.models import CustomerRenewalSettings  # noqa: E402
from usage.models import UsageHour  # noqa: E402


class EmailAddressFactory(factory.django.DjangoModelFactory):
    """A second, unverified address of a user (``UserFactory`` makes the verified primary one)."""

    class Meta:
        model = EmailAddress

    user = factory.SubFactory(UserFactory)
    email = factory.Sequence(lambda n: f"second{n}@example.org")
    verified = False
    primary = False


class TotpAuthenticatorFactory(factory.django.DjangoModelFactory):
    """A TOTP authenticator row: the user counts as enrolled in MFA (the secret is not usable)."""

    class Meta:
        model = Authenticator

    user = factory.SubFactory(UserFactory)
    type = Authenticator.Type.TOTP
    data = factory.LazyFunction(lambda: {"secret": "x"})


class AuditEventFactory(factory.django.DjangoModelFactory):
    """An audit row as the services write it, without the service (for pages that list them)."""

    class Meta:
        model = AuditEvent

    customer = factory.SubFactory(CustomerFactory)
    action = "membership.added"
    target = ""


class NotificationFactory(factory.django.DjangoModelFactory):
    """An outbox row, unsent unless ``sent_at`` is given."""

    class Meta:
        model = Notification

    event = "test"
    recipients = factory.LazyFunction(lambda: ["a@example.org"])
    subject = "s"
    body_text = "b"


class CustomerRenewalSettingsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomerRenewalSettings

    customer = factory.SubFactory(CustomerFactory)
    account_manager_name = factory.Faker("name")
    account_manager_email = factory.Sequence(lambda n: f"manager{n}@reseller.example")


class UsageHourFactory(factory.django.DjangoModelFactory):
    """One hour of one feature's usage on a license server (the usage app's rollup)."""

    class Meta:
        model = UsageHour

    customer = factory.SubFactory(CustomerFactory)
    server_name = "lic01"
    daemon = "ansyslmd"
    feature = "ansys"
    hour = factory.LazyFunction(lambda: timezone.now().replace(minute=0, second=0, microsecond=0))
