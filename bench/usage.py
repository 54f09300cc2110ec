"""Usage benchmarks (issue 15): parse speed vs a bare read-and-split loop, ingest memory, and
the Usage page warm vs the /healthz floor. Ratios measured in the same run.

    .venv/bin/python bench/usage.py --log-mb 1024 --ingest-mb 32,160 --page-events 10000000
    make bench-usage BENCH_ARGS="--only parse"

Uses the ``portal_usage_bench`` database (created if missing) and Redis DB 14. Writes
``bench/results/usage.json`` (a partial ``--only`` run keeps the other figures). Not part of
``make test``.

1. parse: a generated debug log of ``--log-mb`` MB (kept under /tmp between runs) read (a) by
   a loop that only reads and splits its lines (the floor) and (b) by ``parse_log_blocks``;
   the ratio is floor time / parse time (target >= 0.3), by the wall clock and by CPU time.
2. ingest: for each ``--ingest-mb`` size, a separate process ingests a generated log (parse,
   event keys, insert, rollups) and reports its peak RSS (target < 200 MB whatever the size).
3. page: ``seed_bench --usage-events N`` data (12 months, 50 features; a smaller bench
   customer from an earlier run is replaced); the Usage page of the big customer (warm: the
   figures come from the Redis cache) and /healthz are requested through Django's test client
   in one process; ratio = page req/s / healthz req/s (>= 0.1); queries cold and warm.
"""

# ruff: noqa: S603, S607 - a benchmark runner: it starts this repository's own commands and psql/uptime
from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "usage.json"
DATABASE = "postgres://postgres@127.0.0.1:5432/portal_usage_bench"
REDIS = "redis://127.0.0.1:6379/14"


def log_file(megabytes: int, seed: int) -> Path:
    from usage.generate import bench_loads, generate_log

    path = Path(f"/tmp/portal-usage-bench-{megabytes}mb-{seed}.log")  # noqa: S108 - a scratch file, kept for reruns
    if path.exists() and path.stat().st_size >= megabytes * 1024 * 1024 * 0.95:
        return path
    target = megabytes * 1024 * 1024
    days = 365
    # ~85 bytes a line, ~1 event a line: events from the size wanted, over 12 months x 50 features.
    # Capacity limits keep a year below the size asked for past ~200 MB: the next year follows
    # (after an lmgrd restart, as a server's log does) until the size is reached.
    loads = bench_loads(events=target // 85, days=days)
    written, year = 0, 0
    with path.open("w", encoding="utf-8") as out:
        while written < target:
            start = datetime.date(2025, 12, 1) + datetime.timedelta(days=days * year)
            for line in generate_log(start=start, days=days, loads=loads, users=400, seed=seed + year):
                out.write(line)
                written += len(line)
                if written >= target:
                    break
            year += 1
    return path


def bench_parse(path: Path) -> dict:
    """Floor and parse of the same file, each timed by the wall clock and by this process's
    CPU time (on a shared machine the CPU ratio is the steadier one)."""
    from usage.parsers import LogSummary, open_blocks, parse_log_blocks

    def floor() -> int:
        count = 0
        with path.open("rb") as stream:
            for line in stream:
                count += len(line.split())
        return count

    def parse() -> int:
        summary = LogSummary()
        with path.open("rb") as stream:
            for _items in parse_log_blocks(open_blocks(stream, size=1 << 22), summary):
                pass
        return summary.events

    def timed(work: Callable[[], int]) -> tuple[float, float, int]:
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        return time.perf_counter() - wall, time.process_time() - cpu, result

    with path.open("rb") as stream:  # into the page cache first: neither timing pays the disk
        while stream.read(1 << 24):
            pass
    floor_wall, floor_cpu, _tokens = timed(floor)
    parse_wall, parse_cpu, events = timed(parse)
    return {
        "bytes": path.stat().st_size,
        "events": events,
        "floor_seconds": round(floor_wall, 2),
        "parse_seconds": round(parse_wall, 2),
        "floor_cpu_seconds": round(floor_cpu, 2),
        "parse_cpu_seconds": round(parse_cpu, 2),
        "events_per_second": round(events / parse_wall),
        "events_per_cpu_second": round(events / parse_cpu),
        "ratio": round(floor_wall / parse_wall, 3),
        "ratio_cpu": round(floor_cpu / parse_cpu, 3),
        "target": 0.3,
    }


INGEST = """
import os, resource, time, json, django
django.setup()
from accounts.models import Customer
from usage.models import Upload, UsageCheckpoint, UsageEvent, UsageHour, UsagePersonDay, UsageSnapshot
from usage.parsers import open_blocks
from usage.services import usage_log_ingest_lines
customer, _ = Customer.objects.get_or_create(number="7000001", defaults={"name": "Usage ingest bench"})
# A previous run's data goes first, in SQL (as a customer's deletion would), so the peak below
# is the ingest's own.
for model in (UsageEvent, UsageSnapshot, UsageHour, UsagePersonDay, UsageCheckpoint, Upload):
    model.objects.filter(customer=customer)._raw_delete(model.objects.db)
started = time.perf_counter()
with open(os.environ["BENCH_LOG"], "rb") as stream:
    upload = usage_log_ingest_lines(customer=customer, name="bench ingest", lines=open_blocks(stream),
                                    server_name="bench-ingest")
seconds = time.perf_counter() - started
print(json.dumps({"lines": upload.lines_done, "events": upload.events_new, "seconds": round(seconds, 1),
                  "events_per_second": round(upload.events_new / seconds),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "target_rss_mb": 200}))
"""

PAGE = """
import json, time, django
django.setup()
from django.core.cache import cache
from django.test import Client
from accounts.models import Membership
from accounts.roles import Role
from usage.models import UsageEvent, UsageHour
cache.clear()
membership = Membership.objects.select_related("user", "customer").filter(
    customer__number="9100001", role=Role.VIEWER).first()
client = Client()
client.force_login(membership.user)
url = f"/c/{membership.customer.number}/usage/"
def rate(path, n):
    client.get(path)
    started = time.perf_counter()
    for _ in range(n):
        assert client.get(path).status_code == 200
    return n / (time.perf_counter() - started)
from django.core import signals
from django.db import connection, reset_queries
from django.test.utils import CaptureQueriesContext
signals.request_started.disconnect(reset_queries)  # else each request empties the captured queries
cold_started = time.perf_counter(); cache.clear()
with CaptureQueriesContext(connection) as cold_queries:
    client.get(url)
cold = time.perf_counter() - cold_started
with CaptureQueriesContext(connection) as warm_queries:
    client.get(url)
healthz = rate("/healthz", 400)
page = rate(url, 200)
print(json.dumps({"events": UsageEvent.objects.filter(customer=membership.customer).count(),
                  "hour_rows": UsageHour.objects.filter(customer=membership.customer).count(),
                  "page_cold_seconds": round(cold, 2),
                  "queries_cold": len(cold_queries), "queries_warm": len(warm_queries),
                  "healthz_rps": round(healthz), "page_warm_rps": round(page),
                  "ratio": round(page / healthz, 3), "target": 0.1}))
"""


def django_env() -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": DATABASE,
        "REDIS_URL": REDIS,
        "DJANGO_SETTINGS_MODULE": "portal.settings.dev",
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
        "PORTAL_VAR_DIR": "/tmp/portal-usage-bench-var",  # noqa: S108
        "PYTHONPATH": str(ROOT),
    }


def manage(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], env=django_env(), check=True, capture_output=True, text=True
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--log-mb", type=int, default=1024)
    parser.add_argument("--ingest-mb", default="32,160", help="log sizes, comma-separated: peak RSS per size")
    parser.add_argument("--page-events", type=int, default=10_000_000)
    parser.add_argument("--only", default="parse,ingest,page")
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()
    only = set(args.only.split(","))
    # A partial run (--only) keeps the other figures of the last one.
    results: dict = json.loads(RESULTS.read_text()) if RESULTS.exists() and only != {"parse", "ingest", "page"} else {}
    results["uptime_before"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    if "parse" in only:
        results["parse"] = bench_parse(log_file(args.log_mb, seed=1))
        print(json.dumps({"parse": results["parse"]}), flush=True)
    if {"ingest", "page"} & only:
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", "CREATE DATABASE portal_usage_bench"],
            capture_output=True,
            check=False,
        )
        manage("migrate", "--noinput")
    if "ingest" in only:
        results["ingest"] = []
        for megabytes in (int(size) for size in args.ingest_mb.split(",")):
            env = {**django_env(), "BENCH_LOG": str(log_file(megabytes, seed=2))}
            output = subprocess.run([sys.executable, "-c", INGEST], env=env, check=True, capture_output=True, text=True)
            results["ingest"].append({"log_mb": megabytes, **json.loads(output.stdout.strip().splitlines()[-1])})
            print(json.dumps({"ingest": results["ingest"][-1]}), flush=True)
    if "page" in only:
        seed = ["seed_bench", "--customers", "20", "--lines", "2000", "--usage-events", str(args.page_events)]
        started = time.perf_counter()
        seeded = manage(*seed, *(["--reset"] if args.reseed else []))
        results["page_seed_output"] = seeded.stdout.strip().splitlines()[-3:]
        results["page_seed_seconds"] = round(time.perf_counter() - started, 1)
        output = subprocess.run(
            [sys.executable, "-c", PAGE], env=django_env(), check=True, capture_output=True, text=True
        )
        results["page"] = json.loads(output.stdout.strip().splitlines()[-1])
        print(json.dumps({"page": results["page"]}), flush=True)
    results["uptime_after"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
