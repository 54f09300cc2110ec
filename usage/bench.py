"""Benchmark data for the Usage page (``seed_bench --usage-events N``): 12 months, 50 features.

Generated as debug log lines and ingested through the real pipeline (parse, event keys,
rollups), so the store holds what an upload of such a log would.
"""

from __future__ import annotations

import datetime

from django.utils import timezone

from accounts.models import Customer

from .generate import FeatureLoad, generate_log
from .models import Upload
from .services import usage_log_ingest_lines

BENCH_UPLOAD = "bench: 12 months x 50 features (generated)"
EVENTS_PER_SESSION = 2.2  # OUT + IN, and a few denials / queue entries


def bench_loads(*, events: int, days: int, features: int = 50) -> list[FeatureLoad]:
    per_feature_day = events / EVENTS_PER_SESSION / days / features / (5 / 7 + 2 / 7 * 0.15)
    return [
        FeatureLoad(f"bench_feature_{i:02d}", capacity=max(2, int(per_feature_day * 0.35) + i % 5),
                    sessions_per_day=per_feature_day * (0.5 + (i % 10) / 10), mean_hours=1.5 + (i % 4) * 0.5,
                    max_count=1 + (i % 3))
        for i in range(features)
    ]


def seed_usage_bench(*, customer_number: str, events: int, days: int = 365, seed: int = 7) -> Upload | None:
    customer = Customer.objects.filter(number=customer_number).first()
    if customer is None or events <= 0:
        return None
    found = Upload.objects.filter(customer=customer, name=BENCH_UPLOAD).first()
    if found is not None:
        return found
    start = timezone.localdate() - datetime.timedelta(days=days)
    lines = generate_log(start=start, days=days, loads=bench_loads(events=events, days=days), users=400,
                         host="bench-lic01", seed=seed)
    return usage_log_ingest_lines(customer=customer, name=BENCH_UPLOAD, lines=lines, server_name="bench-lic01")
