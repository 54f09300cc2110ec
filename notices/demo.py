"""Demo account managers (``seed_demo`` through ``PORTAL_DEMO_SEEDERS``): the customers whose
pages name whom to contact (renewal reminders, "FlexNet is not managed here")."""

from __future__ import annotations

from accounts.models import Customer

from .models import CustomerRenewalSettings

DEMO_ACCOUNT_MANAGERS = {
    "1001234": ("Ayşe Satış", "ayse.satis@reseller.example"),
    "4003456": ("Mark Seller", "mark.seller@reseller.example"),
}


def seed_notices_demo() -> None:
    """Idempotent: creates the settings once, never overwrites what support changed."""
    for number, (name, email) in DEMO_ACCOUNT_MANAGERS.items():
        customer = Customer.objects.filter(number=number).first()
        if customer is not None:
            CustomerRenewalSettings.objects.get_or_create(
                customer=customer, defaults={"account_manager_name": name, "account_manager_email": email}
            )
