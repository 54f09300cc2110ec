"""Demo Shared Web and Elastic settings for customers 1001234 and 3009012 (DESIGN.md,
"Demo data"). Idempotent: run it again and nothing is duplicated.

Call ``seed_licensing_demo()`` after the demo customers and entitlements exist (it uses
their Shared Web and Elastic lines; it creates no entitlement lines itself). Like the
other demo seeds it writes directly, without audit events or emails.
"""

from __future__ import annotations

import datetime
import random
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.models import Customer

from ..models import (
    ElasticAccount,
    ElasticUsage,
    Entitlement,
    LicensingModel,
    Product,
    SeatAssignment,
    SharedWebGroup,
    SharedWebUser,
)
from .services import pin_generate

ELASTIC_PRODUCTS = [
    ("elastic_mech", "Mechanical (Elastic)", Decimal("2.5")),
    ("elastic_cfd", "CFD Solver (Elastic)", Decimal("4.0")),
    ("elastic_hpc", "HPC (Elastic)", Decimal("0.8")),
]

DEMO = {
    "1001234": {
        "users": [
            ("ahmet.celik@demo.example", "Ahmet Çelik", True),
            ("elif.sahin@demo.example", "Elif Şahin", True),
            ("burak.ozturk@demo.example", "Burak Öztürk", True),
            ("selin.arslan@demo.example", "Selin Arslan", True),
            ("can.dogan@demo.example", "Can Doğan", True),
            ("deniz.koc@demo.example", "Deniz Koç", False),
        ],
        "group": ("CFD team", ["elif.sahin@demo.example", "burak.ozturk@demo.example", "selin.arslan@demo.example"], 5),
        "server": "ELS-1001234-IST1",
        "budget": 400,
        "daily": 12,
    },
    "3009012": {
        "users": [
            ("lena.berg@cloud.example", "Lena Berg", True),
            ("jonas.kraus@cloud.example", "Jonas Kraus", True),
            ("mia.hoffmann@cloud.example", "Mia Hoffmann", True),
        ],
        "group": ("Simulation", ["lena.berg@cloud.example", "jonas.kraus@cloud.example"], 2),
        "server": "ELS-3009012-FRA1",
        "budget": 200,
        "daily": 5,
    },
}

USAGE_DAYS = 180


def _usage(
    customer: Customer, products: list[tuple[Product, Decimal]], daily: int, users: list[str], today: datetime.date
) -> list[ElasticUsage]:
    """A few deterministic transactions a working day for the last USAGE_DAYS days. The
    transaction ids carry the date, so a later run only adds the newer days."""
    rows = []
    tz = timezone.get_current_timezone()
    for offset in range(USAGE_DAYS, -1, -1):
        day = today - datetime.timedelta(days=offset)
        rng = random.Random(f"{customer.number}-{day.isoformat()}")
        if day.weekday() >= 5 and rng.random() < 0.8:
            continue
        for index in range(rng.randint(1, 4)):
            product, rate = products[rng.randrange(len(products))]
            start = datetime.datetime.combine(
                day, datetime.time(rng.randint(7, 17), rng.choice((0, 15, 30, 45))), tzinfo=tz
            )
            hours = Decimal(rng.randint(1, 8 * 4)) / 4
            count = rng.randint(1, 4)
            cost = (hours * count * rate * Decimal(daily) / 40).quantize(Decimal("0.001"))
            rows.append(
                ElasticUsage(
                    customer=customer,
                    transaction_id=f"DEMO-{customer.number}-{day:%Y%m%d}-{index + 1}",
                    started_at=start,
                    ended_at=start + datetime.timedelta(hours=float(hours)),
                    product=product,
                    count=count,
                    hours=hours,
                    cost=cost,
                    currency="AEU",
                    user=rng.choice(users),
                )
            )
    return rows


@transaction.atomic
def seed_licensing_demo(today: datetime.date | None = None) -> None:
    today = today or timezone.localdate()
    products = []
    for feature, name, rate in ELASTIC_PRODUCTS:
        product, _created = Product.objects.get_or_create(
            feature=feature, defaults={"name": name, "licensing_model": LicensingModel.ELASTIC}
        )
        products.append((product, rate))
    for number, demo in DEMO.items():
        customer = Customer.objects.filter(number=number).first()
        if customer is None:
            continue
        users = {}
        for email, name, active in demo["users"]:
            users[email], _created = SharedWebUser.objects.get_or_create(
                customer=customer, email=email, defaults={"name": name, "active": active}
            )
        group_name, members, seats = demo["group"]
        group, _created = SharedWebGroup.objects.get_or_create(customer=customer, name=group_name)
        group.members.add(*(users[email] for email in members))
        line = (
            Entitlement.objects.select_for_update()
            .filter(customer=customer, product__licensing_model=LicensingModel.SHARED_WEB)
            .order_by("line_id")
            .first()
        )
        if line is not None:
            assignment = SeatAssignment.objects.filter(group=group, entitlement=line).first()
            if assignment is None:
                other = SeatAssignment.objects.filter(entitlement=line).aggregate(total=Sum("seats"))["total"] or 0
                if other + seats <= line.quantity:
                    SeatAssignment.objects.create(group=group, entitlement=line, seats=seats)
            reserved = SeatAssignment.objects.filter(entitlement=line).aggregate(total=Sum("seats"))["total"] or 0
            Entitlement.objects.filter(pk=line.pk).update(activated=reserved)
        ElasticAccount.objects.get_or_create(
            customer=customer,
            defaults={
                "license_server_id": demo["server"],
                "pin": pin_generate(),
                "monthly_budget_units": demo["budget"],
                "alert_thresholds": [50, 80, 100],
                "alert_recipients": [f"finance@{demo['users'][0][0].split('@')[1]}"],
            },
        )
        active_emails = [email for email, _name, active in demo["users"] if active]
        ElasticUsage.objects.bulk_create(
            _usage(customer, products, demo["daily"], active_emails, today), batch_size=1000, ignore_conflicts=True
        )
