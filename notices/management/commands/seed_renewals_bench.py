"""``python manage.py seed_renewals_bench``: the load of the daily reminder run's benchmark.

``--customers`` customers (default 10,000), each with an ASC, an Administrator and a Viewer,
and ``--lines`` entitlement lines in all (default 1,000,000) whose end and TECS dates are
spread over three years around today, so every reminder date has its share (about 900 lines
end on any given day). Written with PostgreSQL COPY (seeding is not a user's action).

Refused unless the database name contains "bench"; ``--reset`` empties the tables it fills.
"""

from __future__ import annotations

import datetime
import io
import random
import time

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Customer, Membership, User
from accounts.roles import Role
from entitlements.models import Entitlement, LicensingModel, Product

NUMBER_BASE = 7_000_000
PRODUCTS = 24


class Command(BaseCommand):
    help = "Seed 10,000 customers with 1,000,000 entitlement lines for the reminder run benchmark."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=10_000)
        parser.add_argument("--lines", type=int, default=1_000_000)
        parser.add_argument("--reset", action="store_true")
        parser.add_argument("--seed", type=int, default=17)

    def handle(self, *args: object, customers: int, lines: int, reset: bool, seed: int, **options: object) -> None:
        if "bench" not in connection.settings_dict["NAME"]:
            raise CommandError("Refused: the database name must contain 'bench'.")
        started = time.monotonic()
        rng = random.Random(seed)
        today = timezone.localdate()
        with transaction.atomic():
            if reset:
                _reset()
            if Customer.objects.filter(number=str(NUMBER_BASE)).exists():
                self.stdout.write("Already seeded.")
                return
            models = [LicensingModel.FLEXNET] * 20 + [LicensingModel.SHARED_WEB] * 2 + [LicensingModel.ELASTIC] * 2
            products = [
                Product.objects.get_or_create(
                    feature=f"rb_feature_{i}", defaults={"name": f"Bench product {i}", "licensing_model": models[i]}
                )[0]
                for i in range(PRODUCTS)
            ]
            created = Customer.objects.bulk_create(
                Customer(number=str(NUMBER_BASE + i), name=f"Renewals bench {i}") for i in range(customers)
            )
            password = make_password("bench-portal-2026")
            languages = ["en", "tr", ""]
            users = User.objects.bulk_create(
                User(email=f"{role}{i}@renewals-bench.example", password=password, language=languages[i % 3])
                for i in range(customers)
                for role in ("asc", "admin", "viewer")
            )
            Membership.objects.bulk_create(
                Membership(user=users[3 * i + k], customer=c, role=role)
                for i, c in enumerate(created)
                for k, role in enumerate((Role.ASC, Role.ADMINISTRATOR, Role.VIEWER))
            )
            _lines_copy(created, products, lines=lines, rng=rng, today=today)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE entitlements_entitlement")
        self.stdout.write(
            f"Seeded {customers} customers, {Entitlement.objects.count()} lines in {time.monotonic() - started:.0f} s."
        )


def _reset() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE notices_portalnotification, notices_digestemail, notices_resellerdigest, "
            "accounts_notification, entitlements_entitlement, accounts_membership CASCADE"
        )
        cursor.execute("DELETE FROM accounts_user WHERE email LIKE %s", ["%@renewals-bench.example"])
        cursor.execute("DELETE FROM accounts_customer WHERE number::bigint >= %s", [NUMBER_BASE])


def _lines_copy(
    customers: list[Customer], products: list[Product], *, lines: int, rng: random.Random, today: datetime.date
) -> None:
    """``lines`` lines spread evenly over the customers, end and TECS dates over three years
    around today (a fifth perpetual, with TECS only), written with COPY."""
    buffer = io.StringIO()
    per_customer, extra = divmod(lines, len(customers))
    start = today - datetime.timedelta(days=400)
    created_at = timezone.now().isoformat()
    for i, c in enumerate(customers):
        for j in range(per_customer + (i < extra)):
            product = products[rng.randrange(len(products))]
            date = today + datetime.timedelta(days=rng.randrange(-365, 730))
            perpetual = rng.random() < 0.2
            end = None if perpetual else date
            tecs = date if (perpetual or rng.random() < 0.7) else None
            buffer.write(
                "\t".join(
                    (
                        str(c.pk),
                        f"{c.number}-{j:05d}",
                        f"SO-{i}",
                        str(product.pk),
                        str(rng.choice((1, 2, 5, 10))),
                        "0",
                        start.isoformat(),
                        end.isoformat() if end else r"\N",
                        tecs.isoformat() if tecs else r"\N",
                        "f",
                        created_at,
                    )
                )
                + "\n"
            )
    buffer.seek(0)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(
            "COPY entitlements_entitlement (customer_id, line_id, order_number, product_id, quantity, activated, "
            "start_date, end_date, tecs_end_date, borrowable, created_at) FROM STDIN"
        ) as copy,
    ):
        while data := buffer.read(1 << 20):
            copy.write(data)
