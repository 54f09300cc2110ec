"""Demo customers and accounts (DESIGN.md, "Demo data"). Idempotent."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.db import transaction

from .models import Customer, Invitation, Membership, User
from .roles import Role

DEMO_PASSWORD = "portal-demo-2026"

CUSTOMERS = {
    "1001234": ("Demo Mühendislik A.Ş.", True),
    "2005678": ("Other Industries Ltd.", True),
    "3009012": ("Cloud Only GmbH", False),
    "4003456": ("Unmanaged Flex Inc.", False),
}

MEMBERS = [
    ("asc@demo.example", "Ayşe Yılmaz", "1001234", Role.ASC),
    ("admin@demo.example", "Mehmet Demir", "1001234", Role.ADMINISTRATOR),
    ("viewer@demo.example", "Zeynep Kaya", "1001234", Role.VIEWER),
    ("other-asc@other.example", "Olivia Other", "2005678", Role.ASC),
    ("cloud-asc@cloud.example", "Claudia Wolke", "3009012", Role.ASC),
    ("unmanaged-asc@unmanaged.example", "Ulrich Unmanaged", "4003456", Role.ASC),
]


def _user(email: str, name: str = "", *, staff: bool = False) -> User:
    user, created = User.objects.get_or_create(
        email=email, defaults={"name": name, "is_staff": staff, "is_superuser": staff}
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
    return user


@transaction.atomic
def seed_accounts() -> dict[str, Customer]:
    customers = {}
    for number, (name, managed) in CUSTOMERS.items():
        customers[number], _ = Customer.objects.update_or_create(
            number=number, defaults={"name": name, "flexnet_managed": managed}
        )
    support = _user("support@example.com", "Reseller Support", staff=True)
    for email, name, number, role in MEMBERS:
        Membership.objects.get_or_create(
            user=_user(email, name), customer=customers[number], defaults={"role": role, "added_by": support}
        )
    _user("nobody@demo.example", "Nora Nobody")
    if not Invitation.objects.pending().filter(customer=customers["1001234"], email="invitee@demo.example").exists():
        Invitation.objects.create(
            customer=customers["1001234"],
            email="invitee@demo.example",
            role=Role.VIEWER,
            invited_by=User.objects.get(email="asc@demo.example"),
        )
    return customers
