"""Benchmark data for the Usage page (``seed_bench --usage-events N``): 12 months, 50 features.

Generated as debug log lines and ingested through the real pipeline (parse, event keys,
rollups), so the store holds what an upload of such a log would.
"""

from __future__ import annotations

import datetime

from django.utils import timezone

from accounts.models import Customer

from .generate import bench_loads, generate_log
from .models import Upload
from .services import usage_log_ingest_lines

BENCH_UPLOAD = "bench: 12 months x 50 features (generated)"


def seed_usage_bench(*, customer_number: str, events: int, days: int = 365, seed: int = 7) -> Upload | None:
    customer = Customer.objects.filter(number=customer_number).first()
    if customer is None or events <= 0:
        return None
    found = Upload.objects.filter(customer=customer, name=BENCH_UPLOAD).first()
    if found is not None:
        return found
    start = timezone.localdate() - datetime.timedelta(days=days)
    lines = generate_log(
        start=start, days=days, loads=bench_loads(events=events, days=days), users=400, host="bench-lic01", seed=seed
    )
    return usage_log_ingest_lines(customer=customer, name=BENCH_UPLOAD, lines=lines, server_name="bench-lic01")
