"""Benchmark data for the Usage page (``seed_bench --usage-events N``): 12 months, 50 features.

Generated as debug log lines, read by the same parser as an upload and stored in one ``COPY``
(``usage_log_bulk_load``: no per-batch check for events already stored, the server is new),
then the rollups come from the real rebuild, so the store holds what an upload of such a log
would (``tests/usage/test_store.py`` compares the two on a small log).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator

from django.utils import timezone

from accounts.models import Customer

from .generate import bench_loads, generate_log
from .models import Upload, UsageCheckpoint, UsageEvent, UsageHour, UsagePersonDay
from .services import usage_log_bulk_load

BENCH_UPLOAD = "bench: 12 months x 50 features (generated)"
BENCH_SERVER = "bench-lic01"


def blocks_of(lines: Iterable[str], size: int = 20000) -> Iterator[bytes]:
    """Generated lines joined into blocks (the parser reads blocks; a str per line is slow)."""
    block: list[str] = []
    for line in lines:
        block.append(line)
        if len(block) >= size:
            yield "".join(block).encode()
            block.clear()
    if block:
        yield "".join(block).encode()


def seed_usage_bench(*, customer_number: str, events: int, days: int = 365, seed: int = 7) -> Upload | None:
    customer = Customer.objects.filter(number=customer_number).first()
    if customer is None or events <= 0:
        return None
    found = Upload.objects.filter(customer=customer, name=BENCH_UPLOAD).first()
    if found is not None and found.events_new >= events / 2:
        return found
    if found is not None:  # a smaller bench customer from an earlier run: replaced, in SQL
        for model in (UsageEvent, UsageHour, UsagePersonDay, UsageCheckpoint):
            model.objects.filter(customer=customer, server_name=BENCH_SERVER)._raw_delete(model.objects.db)
        found.delete()
    start = timezone.localdate() - datetime.timedelta(days=days)
    lines = generate_log(
        start=start, days=days, loads=bench_loads(events=events, days=days), users=400, host=BENCH_SERVER, seed=seed
    )
    return usage_log_bulk_load(customer=customer, name=BENCH_UPLOAD, lines=blocks_of(lines), server_name=BENCH_SERVER)
