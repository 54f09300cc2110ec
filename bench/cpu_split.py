"""Where a scenario's CPU goes, per request: gunicorn, PostgreSQL, Redis, wrk, the rest.

    .venv/bin/python bench/cpu_split.py api_entitlements [floor api_apply confirm] --database portal_bench_apiperf

Starts gunicorn as ``bench/run.py`` does (its settings, seeded database: run that once with
``--database``), runs wrk on each scenario for ``--duration`` seconds after a warm-up, and
reads the CPU time (user + system, ``/proc``) of every process before and after: the
gunicorn master and workers, the PostgreSQL backends, redis-server, wrk itself, and the
machine's total (``/proc/stat``, which includes the kernel's network work done outside any of
them). Printed as milliseconds of CPU per request: load-independent enough to compare code
changes on a shared machine, unlike the request rate.
"""

# ruff: noqa: S603 - runs wrk, with arguments of its own.
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _groups(gunicorn_pgid: int, database: str) -> dict[str, list[int]]:
    """The gunicorn process group, the PostgreSQL backends connected to ``database`` (not the
    other databases' nor autovacuum), redis-server."""
    groups: dict[str, list[int]] = {"gunicorn": [], "postgres": [], "redis": []}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        cmd = _comm(pid)
        try:
            pgid = os.getpgid(pid)
        except OSError:
            continue
        if pgid == gunicorn_pgid:
            groups["gunicorn"].append(pid)
        elif cmd.startswith("postgres:") and f" {database} " in cmd:
            groups["postgres"].append(pid)
        elif cmd.startswith("redis-server"):
            groups["redis"].append(pid)
    return groups


def _machine() -> float:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / TICK


def _snapshot(groups: dict[str, list[int]]) -> dict[str, float]:
    snap = {name: sum(_cpu(pid) for pid in pids) for name, pids in groups.items()}
    snap["machine"] = _machine()
    return snap


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenarios", nargs="+", choices=["floor", "api_entitlements", "api_apply", "confirm"])
    parser.add_argument("--database", default="portal_bench")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    from bench import run as bench

    namespace = argparse.Namespace(
        database=args.database,
        postgres="postgres://postgres@127.0.0.1:5432",
        redis=args.redis,
        workers=4,
        threads=1,
        wrk_threads=2,
        connections=8,
        duration=args.duration,
    )
    env = bench.bench_env(namespace, smtp_port=2525)
    bench.django_setup(env)
    from django.urls import reverse

    from activations.management.commands.seed_bench import bench_fixture

    fixture = bench_fixture()
    server = bench.Server(namespace, env)
    try:
        viewer_token, admin_token = bench.api_tokens(fixture)
        admin = bench.login(server, fixture["admin"], fixture["password"])
        pairs = bench.interleave(fixture["spread_pairs"])
        pair_text = ",".join(f"{s}:{e}" for s, e in pairs)
        lua = {"BENCH_LUA_DIR": str(bench.BENCH / "wrk"), "BENCH_THREADS": "2"}
        confirm = reverse("activations:activate_apply", args=[fixture["renewal_customer"], 999999]).replace(
            "999999", "SERVER"
        )
        apply = f"/api/v1/customers/{fixture['renewal_customer']}/servers/SERVER/activations/apply"
        plans = {
            "floor": ("/healthz", "get.lua", {"BENCH_COOKIE": ""}),
            "api_entitlements": (
                f"/api/v1/customers/{fixture['big_customer']}/entitlements/?limit=100",
                "api_get.lua",
                {"BENCH_TOKEN": viewer_token},
            ),
            "api_apply": (apply, "api_activate.lua", {"BENCH_TOKEN": admin_token, "BENCH_PATH": apply}),
            "confirm": (
                confirm,
                "activate.lua",
                {"BENCH_COOKIE": bench.cookie_header(admin), "BENCH_CSRF": admin["csrftoken"], "BENCH_PATH": confirm},
            ),
        }
        for _ in range(args.repeat):
            for name in args.scenarios:
                path, script, extra = plans[name]
                url = f"http://127.0.0.1:{server.port}{path.replace('SERVER', str(pairs[0][0]))}"
                cmd = ["wrk", "-t2", "-c8", f"-d{args.duration}s", "--latency", "-s", str(bench.BENCH / "wrk" / script)]

                def wrk_env(extra: dict[str, str] = extra) -> dict[str, str]:
                    # A fresh base for every run: each write is a real change (bench/wrk/pairs.lua).
                    fresh = {"BENCH_PAIRS": pair_text, "BENCH_BASE": str(bench.next_base(pairs))}
                    return dict(os.environ, **lua, **extra, **fresh)

                subprocess.run([*cmd[:3], "-d2s", *cmd[4:], url], env=wrk_env(), capture_output=True, check=True)
                wenv = wrk_env()
                groups = _groups(os.getpgid(server.process.pid), args.database)
                before = _snapshot(groups)
                children = resource.getrusage(resource.RUSAGE_CHILDREN)
                out = subprocess.run([*cmd, url], env=wenv, capture_output=True, text=True, check=True).stdout
                after = _snapshot(groups)
                done = resource.getrusage(resource.RUSAGE_CHILDREN)
                wrk_cpu = (done.ru_utime + done.ru_stime) - (children.ru_utime + children.ru_stime)
                line = next(x for x in out.splitlines() if x.startswith("BENCH_JSON "))
                import json

                result = json.loads(line[len("BENCH_JSON ") :])
                n = result["requests"]
                parts = {k: (after[k] - before[k]) * 1000 / n for k in after}
                parts["wrk"] = wrk_cpu * 1000 / n
                parts["rest"] = parts["machine"] - sum(v for k, v in parts.items() if k != "machine")
                load = os.getloadavg()[0]
                print(
                    f"{name:<17} {result['rps']:8.1f} req/s p95 {result['p95_ms']:6.1f} ms load {load:4.1f}"
                    " | ms CPU/request: " + "  ".join(f"{k} {v:.3f}" for k, v in parts.items()),
                    flush=True,
                )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
