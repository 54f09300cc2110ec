"""Demo usage for customer 1001234 (seed_demo): a month of generated debug log for lic01."""

from __future__ import annotations

import datetime

from django.utils import timezone

from accounts.models import Customer

from .generate import FeatureLoad, generate_log
from .models import Upload
from .services import usage_log_ingest_lines

DEMO_UPLOAD = "demo: lic01.demo.example lmgrd.log (generated)"
DEMO_LOADS = [
    FeatureLoad("ansys", capacity=10, sessions_per_day=14, mean_hours=2.5),  # 10 owned, ~5 used: fewer
    FeatureLoad("anshpc_pack", capacity=32, sessions_per_day=18, mean_hours=3.0, max_count=8),  # busy: denials
    FeatureLoad("acfdsol3", capacity=5, sessions_per_day=12, mean_hours=3.0),  # at capacity: denials
    FeatureLoad("cfd_base", capacity=2, sessions_per_day=3, mean_hours=1.5),  # not on any entitlement line
]


def seed_usage_demo() -> None:
    """Idempotent: once the demo upload exists, nothing is done (one query)."""
    customer = Customer.objects.filter(number="1001234").first()
    if customer is None or Upload.objects.filter(customer=customer, name=DEMO_UPLOAD).exists():
        return
    end = timezone.localdate()
    start = end - datetime.timedelta(days=30)
    lines = generate_log(start=start, days=30, loads=DEMO_LOADS, users=24, host="lic01.demo.example", seed=1001234)
    usage_log_ingest_lines(customer=customer, name=DEMO_UPLOAD, lines=lines, server_name="lic01.demo.example")
