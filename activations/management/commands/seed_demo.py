"""``python manage.py seed_demo``: the demo data of DESIGN.md. Safe to run again."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.module_loading import import_string

from accounts.demo import seed_accounts
from activations.demo import seed_activations
from entitlements.demo import seed_entitlements
from entitlements.licensing.demo import seed_licensing_demo


class Command(BaseCommand):
    help = "Create (or bring up to date) the demo customers, accounts and licenses."

    def handle(self, *args: object, **options: object) -> None:
        customers = seed_accounts()
        seed_entitlements(customers)
        seed_activations(customers)
        seed_licensing_demo()
        # Apps above this one (usage) add their demo data here; they are not imported (dependencies point one way).
        for seeder in settings.PORTAL_DEMO_SEEDERS:
            import_string(seeder)()
        self.stdout.write(self.style.SUCCESS(f"Demo data ready: {len(customers)} customers."))
