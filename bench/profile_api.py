"""Profile the API's list and the activation write path in-process, against the benchmark database.

    .venv/bin/python bench/profile_api.py api_entitlements [--repeat 50] [--sql | --flat]
    .venv/bin/python bench/profile_api.py api_apply        # POST .../activations/apply (token)
    .venv/bin/python bench/profile_api.py confirm          # POST .../activate/save/ (session)

The same settings and seeded data as ``bench/run.py`` (run it once with ``--database``; the
default is ``portal_bench``). Each POST is a real committed change of one line of the renewal
customer (the bench's spread pairs, increasing quantities). Prints, per request: the wall time
(median), the queries, and the commits (transactions that wrote: each is an fsync of the WAL),
then with ``--sql`` every query of one request, with ``--flat`` a cProfile by own time.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_WRITES = ("INSERT", "UPDATE", "DELETE")


class Counter:
    """Queries and commits (those of atomic blocks are counted by ``main``; here the writes
    run in autocommit mode, each a transaction of its own)."""

    def __init__(self) -> None:
        self.queries: list[tuple[float, str]] = []
        self.commits = 0

    def __call__(self, execute: Callable, sql: str, params: Any, many: bool, context: dict) -> Any:
        from django.db import connection

        if not connection.in_atomic_block and sql.lstrip().upper().startswith(_WRITES):
            self.commits += 1
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.queries.append((time.perf_counter() - started, sql))


def _client_and_requests(page: str) -> tuple[Any, Callable[[], Any]]:
    from django.test import Client
    from django.urls import reverse

    from accounts.models import User
    from activations.management.commands.seed_bench import bench_fixture
    from activations.models import Activation
    from bench.run import api_tokens, interleave, next_base

    fixture = bench_fixture()
    client = Client(HTTP_HOST="127.0.0.1")
    viewer_token, admin_token = api_tokens(fixture)
    if page == "api_entitlements":
        path = f"/api/v1/customers/{fixture['big_customer']}/entitlements/?limit=100"
        return client, lambda: client.get(path, HTTP_AUTHORIZATION=f"Bearer {viewer_token}")
    pairs = interleave(fixture["spread_pairs"])
    base = next_base(pairs)
    counter = itertools.count()
    if page == "api_apply":

        def api_apply() -> Any:
            i = next(counter)
            server_id, line = pairs[i % len(pairs)]
            return client.post(
                f"/api/v1/customers/{fixture['renewal_customer']}/servers/{server_id}/activations/apply",
                {"lines": [{"entitlement_id": line, "quantity": base + i // len(pairs)}]},
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {admin_token}",
                HTTP_IDEMPOTENCY_KEY=f"profile-{os.getpid()}-{i}",
            )

        return client, api_apply
    client.force_login(User.objects.get(email=fixture["admin"]))
    assert Activation.objects.exists()

    def confirm() -> Any:
        i = next(counter)
        server_id, line = pairs[i % len(pairs)]
        path = reverse("activations:activate_apply", args=[fixture["renewal_customer"], server_id])
        return client.post(
            path, {"token": f"p{os.getpid()}x{i}", "deliver": "download", f"qty_{line}": base + i // len(pairs)}
        )

    return client, confirm


def _backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _cpu_rounds(send: Callable[[], Any], repeat: int) -> None:
    """CPU milliseconds per request of this process (``time.process_time``) and of the
    connection's PostgreSQL backend (``/proc``, clock ticks: use a few hundred requests),
    and the Python function calls: three rounds, the least of each."""
    import gc
    import sys as _sys

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    rounds = []
    for _ in range(3):
        gc.collect()
        cpu, pg = time.process_time(), _backend_cpu(backend)
        for _ in range(repeat):
            send()
        rounds.append(((time.process_time() - cpu) / repeat * 1000, (_backend_cpu(backend) - pg) / repeat * 1000))
    calls = [0]

    def count(frame: Any, event: str, arg: Any) -> None:
        if event in ("call", "c_call"):
            calls[0] += 1

    _sys.setprofile(count)
    send()
    _sys.setprofile(None)
    print(
        f"CPU per request ({repeat} x 3): Django process min {min(r[0] for r in rounds):.2f} ms "
        f"(rounds {', '.join(f'{r[0]:.2f}' for r in rounds)}), its PostgreSQL backend min "
        f"{min(r[1] for r in rounds):.2f} ms; Python calls {calls[0]:,}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("page", choices=["api_entitlements", "api_apply", "confirm"])
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--sql", action="store_true", help="every query of one request, with its time")
    parser.add_argument("--flat", action="store_true", help="cProfile, functions by own time and cumulative")
    parser.add_argument(
        "--cpu", action="store_true", help="CPU per request: this process and its PostgreSQL backend (min of 3 rounds)"
    )
    parser.add_argument("--database", default="portal_bench")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args()

    from bench.run import bench_env

    namespace = argparse.Namespace(
        database=args.database, postgres="postgres://postgres@127.0.0.1:5432", redis=args.redis
    )
    os.environ.update(bench_env(namespace, smtp_port=2525))
    import django

    django.setup()
    from django.db import connection

    _client, send = _client_and_requests(args.page)
    expected = {"api_entitlements": 200, "api_apply": 200, "confirm": 302}[args.page]
    for _ in range(3):  # warm: templates compiled, key loaded, caches filled
        response = send()
        assert response.status_code == expected, (response.status_code, response.content[:500])
    counter = Counter()
    commit = connection._commit

    def counted_commit() -> None:
        counter.commits += 1
        commit()

    connection._commit = counted_commit  # the commits of atomic blocks
    with connection.execute_wrapper(counter):
        response = send()
    connection._commit = commit
    assert response.status_code == expected, response.status_code
    print(f"{args.page}: {len(counter.queries)} queries, {counter.commits} commit(s)")
    if args.sql:
        for seconds, sql in counter.queries:
            print(f"{seconds * 1000:7.2f} ms  {sql[:260]}")
        return
    if args.cpu:
        _cpu_rounds(send, args.repeat)
        return
    profile = None
    if args.flat:
        import cProfile

        profile = cProfile.Profile(time.process_time)  # CPU, not waits on PostgreSQL
        profile.enable()
    timings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        send()
        timings.append(time.perf_counter() - started)
    if profile is not None:
        import pstats

        profile.disable()
        stats = pstats.Stats(profile)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(60)
    print(
        f"{args.page}: median {statistics.median(timings) * 1000:.1f} ms, min {min(timings) * 1000:.1f} ms "
        f"per request ({args.repeat} requests{', profiled' if profile else ''})"
    )


if __name__ == "__main__":
    main()
