"""Demo products and entitlements (DESIGN.md, "Demo data"). Idempotent: lines are keyed by
their line id and brought back to the demo values on every run."""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import Customer

from .models import Entitlement, LicensingModel, Product

PRODUCTS = [
    ("ansys", "Mechanical Enterprise", LicensingModel.FLEXNET),
    ("anshpc_pack", "HPC Pack", LicensingModel.FLEXNET),
    ("acfdsol3", "CFD Solver", LicensingModel.FLEXNET),
    ("dsdxm", "DesignXplorer", LicensingModel.FLEXNET),
    ("shared_web_mech", "Mechanical Shared Web", LicensingModel.SHARED_WEB),
    ("elastic_units", "Elastic Units", LicensingModel.ELASTIC),
]


def _lines(
    today: datetime.date,
) -> list[tuple[str, str, str, int, datetime.date, datetime.date | None, datetime.date | None, bool]]:
    year = today.year
    start = datetime.date(year, 1, 1)
    end = datetime.date(year + 1, 12, 31)
    # line id, order, feature, quantity, start, end (None = perpetual), TECS end, borrowable
    return [
        ("1001234-0001", "SO-100001", "ansys", 10, start, end, end, True),
        ("1001234-0002", "SO-100001", "anshpc_pack", 32, start, end, end, False),
        ("1001234-0003", "SO-100002", "acfdsol3", 5, datetime.date(year - 3, 1, 1), None, end, True),
        (
            "1001234-0004",
            "SO-090001",
            "dsdxm",
            4,
            datetime.date(year - 2, 1, 1),
            datetime.date(year - 1, 6, 30),
            datetime.date(year - 1, 6, 30),
            False,
        ),
        ("1001234-0005", "SO-100003", "shared_web_mech", 20, start, end, end, False),
        ("1001234-0006", "SO-100004", "elastic_units", 5000, start, end, None, False),
        ("2005678-0001", "SO-200001", "ansys", 3, start, end, end, False),
        ("2005678-0002", "SO-200001", "anshpc_pack", 8, start, end, end, False),
        ("3009012-0001", "SO-300001", "shared_web_mech", 10, start, end, end, False),
        ("3009012-0002", "SO-300002", "elastic_units", 2000, start, end, None, False),
        ("4003456-0001", "SO-400001", "ansys", 6, start, end, end, False),
        ("4003456-0002", "SO-400001", "acfdsol3", 2, start, None, end, False),
    ]


@transaction.atomic
def seed_entitlements(customers: dict[str, Customer]) -> list[Entitlement]:
    products = {}
    for feature, name, model in PRODUCTS:
        products[feature], _ = Product.objects.update_or_create(
            feature=feature, defaults={"name": name, "licensing_model": model}
        )
    lines = []
    for line_id, order, feature, quantity, start, end, tecs, borrowable in _lines(timezone.localdate()):
        customer = customers[line_id.split("-")[0]]
        entitlement, _ = Entitlement.objects.update_or_create(
            line_id=line_id,
            defaults={
                "customer": customer,
                "order_number": order,
                "product": products[feature],
                "quantity": quantity,
                "start_date": start,
                "end_date": end,
                "tecs_end_date": tecs,
                "borrowable": borrowable,
            },
        )
        lines.append(entitlement)
    return lines
