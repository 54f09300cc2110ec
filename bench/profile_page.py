"""Profile one page in-process with pyinstrument, against the benchmark database.

    .venv/bin/python bench/profile_page.py entitlements [--repeat 50] [--sql]

Uses the same settings as ``bench/run.py`` (production, PostgreSQL ``portal_bench``, Redis
DB 13) and the seeded users; run ``make bench`` (or ``seed_bench``) once first. ``--sql``
prints each query with its time instead of the profile.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("page", choices=["entitlements", "activations", "download", "admin", "healthz"])
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--sql", action="store_true")
    parser.add_argument("--flat", action="store_true", help="cProfile, functions by own time")
    parser.add_argument("--database", default="portal_bench")
    args = parser.parse_args()

    from bench.run import bench_env

    env = bench_env(
        argparse.Namespace(
            database=args.database, postgres="postgres://postgres@127.0.0.1:5432", redis="redis://127.0.0.1:6379/13"
        ),
        smtp_port=2525,
    )
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from accounts.models import User
    from activations.management.commands.seed_bench import bench_fixture

    fixture = bench_fixture()
    staff = args.page == "admin"
    user = User.objects.get(email=fixture["staff" if staff else "viewer"])
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    path = {
        "entitlements": reverse("entitlements:list", args=[fixture["big_customer"]]),
        "activations": reverse("activations:list", args=[fixture["big_customer"]]),
        "download": reverse(
            "activations:file_download",
            args=[fixture["big_customer"], fixture["big_server_id"], fixture["big_server_version"]],
        ),
        "admin": reverse("admin:entitlements_entitlement_changelist")
        + f"?customer__id__exact={fixture['big_customer_id']}",
        "healthz": reverse("healthz"),
    }[args.page]
    assert client.get(path).status_code == 200
    if args.sql:
        with CaptureQueriesContext(connection) as queries:
            client.get(path)
        for q in queries.captured_queries:
            print(f"{float(q['time']) * 1000:7.2f} ms  {q['sql'][:300]}")
        print(f"{len(queries)} queries")
        return
    if args.flat:
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.repeat):
            client.get(path)
        profile.disable()
        stats = pstats.Stats(profile)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(45)
        return
    from pyinstrument import Profiler

    started = time.perf_counter()
    with Profiler(interval=0.0005) as profiler:
        for _ in range(args.repeat):
            client.get(path)
    elapsed = (time.perf_counter() - started) / args.repeat
    print(profiler.output_text(unicode=True, color=False, show_all=os.environ.get("PROFILE_ALL") == "1"))
    print(f"{args.page}: {elapsed * 1000:.1f} ms per request (profiled, {args.repeat} requests)")


if __name__ == "__main__":
    main()
