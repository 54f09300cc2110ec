"""``make bench``: the portal under load, judged by ratios measured in one run (issue 7).

Steps: a dedicated PostgreSQL database (``portal_bench``) is migrated and seeded
(``seed_bench --reset``); gunicorn serves the portal with ``portal.settings.production`` on
127.0.0.1; real sessions are made by logging in through the login form; every HTTP scenario
is measured with wrk under the same concurrency, after a warm-up; rendering and signing a
200-line license file is timed in-process; a real Celery worker on Redis delivers
notifications to a local SMTP sink. A table is printed and ``bench/results/latest.json``
written.

Run it with the virtualenv's Python from the repository root: ``.venv/bin/python bench/run.py``.
"""

# ruff: noqa: S603 - the benchmark runs its own tools (manage.py, gunicorn, wrk, celery) by path.
from __future__ import annotations

import argparse
import contextlib
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from tests.smtp_sink import SmtpSink  # noqa: E402 - the drills' SMTP server

# --- Targets (issue 7): ratios measured in the same run ---------------------------------

TARGETS = {
    "entitlements_vs_floor": 0.15,
    "entitlements_vs_admin": 6.0,
    "activations_vs_floor": 0.12,
    "hot_vs_spread": 0.5,
    "render_floor_requests": 20.0,
    "notification_p95_s": 2.0,
    # Issue 16: the API read path, and the activation write path (web confirm and API apply).
    "api_entitlements_vs_floor": 0.2,
    "activate_spread_vs_floor": 0.05,
    "api_activate_vs_floor": 0.05,
    "activate_spread_p95_ms": 100.0,
    "api_activate_p95_ms": 100.0,
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S', time.gmtime())}Z] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- Environment ------------------------------------------------------------------------


def bench_env(args: argparse.Namespace, smtp_port: int) -> dict[str, str]:
    db = args.database
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings.production",
        DJANGO_SECRET_KEY="bench-only-secret-key-" + "x" * 40,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_DEBUG="0",
        DJANGO_LOG_LEVEL="WARNING",
        DATABASE_URL=f"{args.postgres}/{db}",
        REDIS_URL=args.redis,
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}",
        PORTAL_VAR_DIR=str(ROOT / "var" / "bench"),
        LICENSE_SIGNING_KEY_FILE=str(ROOT / "var" / "bench" / "license-signing-key.pem"),
        PYTHONUNBUFFERED="1",
        # The API scenarios send thousands of requests a minute with one token.
        PORTAL_API_RATE_LIMIT="100000000",
        # The staff user logs in with a password only (no TOTP device): production's default
        # would send it to the MFA setup page instead of the admin changelist.
        PORTAL_STAFF_MFA_REQUIRED="0",
    )
    return env


def run(cmd: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, cwd=ROOT, check=True, **kwargs)


def prepare_database(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [args.database]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{args.database}"')
    python = str(VENV_BIN / "python")
    run([python, "manage.py", "migrate", "--noinput", "-v0"], env)
    run([python, "manage.py", "collectstatic", "--noinput", "-v0"], env)
    out = run(
        [
            python,
            "manage.py",
            "seed_bench",
            "--reset",
            "--customers",
            str(args.customers),
            "--lines",
            str(args.lines),
            "--servers",
            str(args.servers),
            "--users",
            str(args.users),
        ],
        env,
        capture_output=True,
        text=True,
    ).stdout
    log(out.strip().splitlines()[0])
    # Vacuum and analyse what was just written, so that autovacuum does not wake up and share
    # the two cores with the first scenarios (it made the floor and page figures swing 2x).
    with psycopg.connect(f"{args.postgres}/{args.database}", autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    return json.loads(out.strip().splitlines()[-1])


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


# --- gunicorn and HTTP ------------------------------------------------------------------


class Server:
    def __init__(self, args: argparse.Namespace, env: dict[str, str]) -> None:
        self.port = free_port()
        cmd = [
            str(VENV_BIN / "gunicorn"),
            "portal.wsgi:application",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
        ]
        if args.threads > 1:
            cmd += ["--worker-class", "gthread", "--threads", str(args.threads)]
        self.describe = f"gunicorn {args.workers} worker(s)" + (
            f" x {args.threads} threads (gthread)" if args.threads > 1 else " (sync)"
        )
        self.log = open(BENCH / "results" / "gunicorn.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            cmd, env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start; see bench/results/gunicorn.log")

    def request(
        self, method: str, path: str, *, cookies: dict[str, str] | None = None, form: dict[str, str] | None = None
    ) -> tuple[int, dict[str, list[str]], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Host": "127.0.0.1"}
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        received: dict[str, list[str]] = {}
        for name, value in response.getheaders():
            received.setdefault(name.lower(), []).append(value)
        conn.close()
        return response.status, received, data

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()


def _set_cookies(headers: dict[str, list[str]], jar: dict[str, str]) -> None:
    for header in headers.get("set-cookie", []):
        cookie = SimpleCookie()
        cookie.load(header)
        for name, morsel in cookie.items():
            jar[name] = morsel.value


def login(server: Server, email: str, password: str) -> dict[str, str]:
    """Logs in through allauth's login form, like a browser: a real session in the
    production session engine, plus the CSRF cookie."""
    from django.urls import reverse

    jar: dict[str, str] = {}
    status, headers, body = server.request("GET", reverse("account_login"))
    _set_cookies(headers, jar)
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    if status != 200 or token is None:
        raise RuntimeError(f"login page: {status}")
    status, headers, body = server.request(
        "POST",
        reverse("account_login"),
        cookies=jar,
        form={"csrfmiddlewaretoken": token.group(1).decode(), "login": email, "password": password},
    )
    _set_cookies(headers, jar)
    if status != 302 or "sessionid" not in jar:
        raise RuntimeError(f"login as {email} failed: {status} {body[:300]!r}")
    return jar


def cookie_header(jar: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in jar.items())


# --- wrk --------------------------------------------------------------------------------


def wrk(
    args: argparse.Namespace,
    server: Server,
    path: str,
    *,
    script: str = "get.lua",
    env_extra: dict[str, str] | None = None,
    duration: int | None = None,
) -> dict[str, Any]:
    env = dict(os.environ, BENCH_LUA_DIR=str(BENCH / "wrk"), BENCH_THREADS=str(args.wrk_threads), **(env_extra or {}))
    cmd = [
        "wrk",
        f"-t{args.wrk_threads}",
        f"-c{args.connections}",
        f"-d{duration or args.duration}s",
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(BENCH / "wrk" / script),
        f"http://127.0.0.1:{server.port}{path}",
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    line = next((x for x in out.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    return json.loads(line[len("BENCH_JSON ") :])


def measure(args: argparse.Namespace, server: Server, name: str, path: str, **kwargs: Any) -> dict[str, Any]:
    wrk(args, server, path, duration=args.warmup, **kwargs)
    result = wrk(args, server, path, **kwargs)
    result["path"] = path
    flag = f"  ({result['non_200']} non-200: {result['non_200_seen'].strip()})" if result["non_200"] else ""
    log(
        f"{name:<22} {result['rps']:9.1f} req/s  p50 {result['p50_ms']:7.1f} ms  p95 {result['p95_ms']:7.1f} ms"
        f"  p99 {result['p99_ms']:7.1f} ms{flag}"
    )
    return result


def api_tokens(fixture: dict[str, Any]) -> tuple[str, str]:
    """A Viewer token on the big customer and an Administrator token on the renewal customer,
    made by the service (so the hash, the prefix and the audit are the real ones)."""
    from accounts.models import Customer, User
    from accounts.roles import Role
    from api.services import api_token_create

    viewer = User.objects.get(email=fixture["viewer"])
    admin = User.objects.get(email=fixture["admin"])
    _t, viewer_token = api_token_create(
        customer=Customer.objects.get(number=fixture["big_customer"]), actor=viewer, name="bench", role=Role.VIEWER
    )
    _t, admin_token = api_token_create(
        customer=Customer.objects.get(number=fixture["renewal_customer"]),
        actor=admin,
        name="bench",
        role=Role.ADMINISTRATOR,
    )
    return viewer_token, admin_token


def api_scenarios(
    args: argparse.Namespace,
    server: Server,
    fixture: dict[str, Any],
    only: set[str],
    paths: dict[str, str],
    viewer_token: str,
    admin_token: str,
) -> dict[str, Any]:
    """Issue 16: the API's list read and its activation apply (token auth)."""
    scenarios: dict[str, Any] = {}
    # The list's first page (kept per data version), and a page after a cursor (read from the
    # database on every request; informational).
    for name in ("api_entitlements", "api_entitlements_later"):
        if not only or name in only:
            scenarios[name] = measure(
                args, server, name, paths[name], script="api_get.lua", env_extra={"BENCH_TOKEN": viewer_token}
            )
    if not only or "api_activate_spread" in only:
        scenarios["api_activate_spread"] = post_scenario(
            args, server, "api_activate_spread", fixture, interleave(fixture["spread_pairs"]), None, token=admin_token
        )
    return scenarios


def later_page(fixture: dict[str, Any], first_page: str) -> str:
    """The list's page after the big customer's 5,000th line (a cursor, as clients walk it)."""
    from api.http import _cursor_encode
    from entitlements.models import Entitlement

    ids = Entitlement.objects.filter(customer__number=fixture["big_customer"]).order_by("pk")
    return f"{first_page}&cursor={_cursor_encode(ids.values_list('pk', flat=True)[5000])}"


def check_api(server: Server, path: str, token: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    body = response.read()
    if response.status != 200 or body.count(b'"line_id"') != 100:
        raise RuntimeError(f"{path}: expected 200 with 100 lines, got {response.status}: {body[:200]!r}")


def check_page(server: Server, path: str, jar: dict[str, str] | None, marker: bytes) -> None:
    status, _, body = server.request("GET", path, cookies=jar)
    if status != 200 or marker not in body:
        raise RuntimeError(f"{path}: expected 200 containing {marker!r}, got {status}")


# --- In-process measurements ------------------------------------------------------------


def django_setup(env: dict[str, str]) -> None:
    os.environ.update(
        {k: v for k, v in env.items() if k.startswith(("DJANGO", "DATABASE", "REDIS", "EMAIL", "PORTAL", "LICENSE"))}
    )
    import django

    django.setup()


def render_cost(fixture: dict[str, Any], repetitions: int) -> dict[str, Any]:
    """Median time of ``license_file_render`` for the 200-line server, twice: as it runs when
    a file is re-issued (the signatures of unchanged lines reused, activations/signing.py) and
    cold (every line signed: the first file of the day, since a line signs its issue date)."""
    from django.core.cache import cache

    from activations import signing
    from activations.models import LicenseServer
    from activations.services import license_file_render

    server = LicenseServer.objects.select_related("customer").get(pk=fixture["big_server_id"])
    content = license_file_render(server=server, version=2)  # warm: key loaded, templates compiled
    lines = content.count("\nINCREMENT ")

    def timed(forget: bool) -> list[float]:
        timings = []
        for _ in range(repetitions):
            if forget:
                signing._recent.clear()
                cache.delete_pattern("licsig:*")
            started = time.perf_counter()
            license_file_render(server=server, version=2)
            timings.append(time.perf_counter() - started)
        return timings

    reissue, cold = timed(forget=False), timed(forget=True)
    return {
        "increments": lines,
        "repetitions": repetitions,
        "median_ms": statistics.median(reissue) * 1000,
        "min_ms": min(reissue) * 1000,
        "cold_median_ms": statistics.median(cold) * 1000,
        "cold_min_ms": min(cold) * 1000,
        "bytes": len(content),
    }


def activation_changes(customer_number: str, since: datetime.datetime) -> dict[str, int]:
    from accounts.models import AuditEvent

    events = AuditEvent.objects.filter(customer__number=customer_number, created_at__gte=since)
    return {
        "changed": events.filter(action="activation.changed").count(),
        "unchanged": events.filter(action="license_file.generated").count(),
    }


def next_base(pairs: list[list[int]]) -> int:
    from django.db.models import Max

    from activations.models import Activation

    highest = 0
    for server_id, entitlement_id in pairs:
        value = (
            Activation.objects.filter(server_id=server_id, entitlement_id=entitlement_id).aggregate(m=Max("quantity"))[
                "m"
            ]
            or 0
        )
        highest = max(highest, value)
    return highest + 1


def interleave(pairs: list[list[int]]) -> list[list[int]]:
    """Round-robin over servers, so requests in flight at once hit different servers."""
    by_server: dict[int, list[list[int]]] = {}
    for pair in pairs:
        by_server.setdefault(pair[0], []).append(pair)
    out = []
    while any(by_server.values()):
        for server_id in list(by_server):
            if by_server[server_id]:
                out.append(by_server[server_id].pop(0))
    return out


def post_scenario(
    args: argparse.Namespace,
    server: Server,
    name: str,
    fixture: dict[str, Any],
    pairs: list[list[int]],
    jar: dict[str, str] | None,
    token: str = "",
) -> dict[str, Any]:
    """The web confirm (``jar``: a session) or, with ``token``, the API's apply."""
    from django.urls import reverse
    from django.utils import timezone

    if token:
        path = f"/api/v1/customers/{fixture['renewal_customer']}/servers/SERVER/activations/apply"
    else:
        path = reverse("activations:activate_apply", args=[fixture["renewal_customer"], 999999]).replace(
            "999999", "SERVER"
        )
    pair_text = ",".join(f"{s}:{e}" for s, e in pairs)
    results = []
    for duration in (args.warmup, args.duration):
        since = timezone.now()
        if token:
            script, extra = "api_activate.lua", {"BENCH_TOKEN": token}
        else:
            script, extra = "activate.lua", {"BENCH_COOKIE": cookie_header(jar), "BENCH_CSRF": jar["csrftoken"]}
        extra.update(BENCH_PATH=path, BENCH_PAIRS=pair_text, BENCH_BASE=str(next_base(pairs)))
        result = wrk(
            args, server, path.replace("SERVER", str(pairs[0][0])), script=script, env_extra=extra, duration=duration
        )
        result.update(activation_changes(fixture["renewal_customer"], since))
        results.append(result)
    result = results[-1]
    result["path"] = path
    result["changes_per_s"] = result["changed"] / result["duration_s"]
    flag = f"  ({result['non_200']} non-200: {result['non_200_seen'].strip()})" if result["non_200"] else ""
    log(
        f"{name:<22} {result['rps']:9.1f} req/s  p50 {result['p50_ms']:7.1f} ms  p95 {result['p95_ms']:7.1f} ms"
        f"  p99 {result['p99_ms']:7.1f} ms  committed changes {result['changed']}, no-op {result['unchanged']}{flag}"
    )
    return result


def big_customer_confirm(server: Server, fixture: dict[str, Any], jar: dict[str, str], repeat: int) -> dict[str, Any]:
    """Sequential activation confirms on the 10,000-line customer (informational: the form
    and the locks cover every FlexNet line of the customer, docs/performance.md)."""
    import secrets

    from django.urls import reverse

    from activations.models import LicenseServer
    from entitlements.models import Entitlement

    target = LicenseServer.objects.get(customer__number=fixture["big_customer"], name="lic049")
    line = Entitlement.objects.get(line_id=f"{fixture['big_customer']}-0350")
    path = reverse("activations:activate_apply", args=[fixture["big_customer"], target.pk])
    timings, statuses = [], []
    for i in range(repeat):
        form = {
            "csrfmiddlewaretoken": jar["csrftoken"],
            "token": secrets.token_hex(16),
            "deliver": "download",
            f"qty_{line.pk}": str(1 + i % 2),
        }
        started = time.perf_counter()
        status, _, _ = server.request("POST", path, cookies=jar, form=form)
        timings.append(time.perf_counter() - started)
        statuses.append(status)
    result = {
        "repeat": repeat,
        "median_ms": statistics.median(timings) * 1000,
        "max_ms": max(timings) * 1000,
        "non_200": sum(1 for s in statuses if s >= 400),
    }  # saved: 302 to the result page
    log(f"{'activate big customer':<22} {result['median_ms']:9.0f} ms per confirm (sequential, {repeat} POSTs)")
    return result


def notification_latency(
    args: argparse.Namespace, env: dict[str, str], sink: SmtpSink, fixture: dict[str, Any]
) -> dict[str, Any]:
    from accounts.models import Customer, Notification, User
    from accounts.roles import Role
    from accounts.services import membership_add
    from portal.celery import app

    # The activation benchmark queued thousands of emails for the renewal customer's ASC;
    # they are not what this measures, so the queue starts empty.
    app.control.purge()
    worker_log = open(BENCH / "results" / "celery.log", "w")  # noqa: SIM115
    worker = subprocess.Popen(
        [
            str(VENV_BIN / "celery"),
            "-A",
            "portal",
            "worker",
            "--loglevel=WARNING",
            "--concurrency=2",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"bench-{os.getpid()}@%h",
        ],
        env=env,
        cwd=ROOT,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=0.5):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError("the Celery worker did not start; see bench/results/celery.log")
        customer = Customer.objects.get(number=fixture["big_customer"])
        actor = User.objects.get(email=fixture["admin"])
        first_id = Notification.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        for i in range(args.notifications):
            # A real service: invites a new address; the invitee and every ASC get an email.
            membership_add(
                customer=customer, actor=actor, email=f"bench-invitee-{os.getpid()}-{i}@bench.example", role=Role.VIEWER
            )
            time.sleep(args.notification_gap)
        rows = list(Notification.objects.filter(pk__gt=first_id).values_list("pk", "created_at"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(pk not in sink.received for pk, _ in rows):
            time.sleep(0.05)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        worker_log.close()
    received = sink.received
    latencies = sorted(received[pk] - created.timestamp() for pk, created in rows if pk in received)
    missing = sum(1 for pk, _ in rows if pk not in received)
    if not latencies:
        return {"count": 0, "missing": missing}
    return {
        "count": len(latencies),
        "missing": missing,
        "p50_s": percentile(latencies, 50),
        "p95_s": percentile(latencies, 95),
        "max_s": latencies[-1],
        "triggers": args.notifications,
        "gap_s": args.notification_gap,
    }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


# --- Report -----------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), cpu)
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "platform": platform.platform()}


def verdicts(results: dict[str, Any]) -> dict[str, Any]:
    s = results["scenarios"]
    floor = s["floor"]["rps"]
    ratios = {
        "entitlements_vs_floor": s["entitlements"]["rps"] / floor,
        "entitlements_vs_admin": s["entitlements"]["rps"] / s["admin_changelist"]["rps"],
        "activations_vs_floor": s["activations"]["rps"] / floor,
        "download_vs_floor": s["license_download"]["rps"] / floor,
        "hot_vs_spread": s["activate_hot"]["changes_per_s"] / max(s["activate_spread"]["changes_per_s"], 1e-9),
        "api_entitlements_vs_floor": s["api_entitlements"]["rps"] / floor,
        "api_later_page_vs_floor": s["api_entitlements_later"]["rps"] / floor,
        "activate_spread_vs_floor": s["activate_spread"]["rps"] / floor,
        "api_activate_vs_floor": s["api_activate_spread"]["rps"] / floor,
        "activate_spread_p95_ms": s["activate_spread"]["p95_ms"],
        "api_activate_p95_ms": s["api_activate_spread"]["p95_ms"],
        "render_floor_requests": results["render"]["median_ms"] / 1000 * floor,
        "render_cold_floor_requests": results["render"]["cold_median_ms"] / 1000 * floor,
        "notification_p95_s": results["notifications"].get("p95_s", float("inf")),
    }
    judged = {}
    for key, target in TARGETS.items():
        value = ratios[key]
        lower_is_better = key in ("render_floor_requests", "notification_p95_s") or key.endswith("_p95_ms")
        ok = value <= target if lower_is_better else value >= target
        judged[key] = {"value": value, "target": target, "pass": ok}
    return {"ratios": ratios, "targets": judged}


def table(results: dict[str, Any]) -> str:
    s = results["scenarios"]
    rows = [
        ("floor /healthz", s["floor"]),
        ("entitlements (Viewer)", s["entitlements"]),
        ("activations (Viewer)", s["activations"]),
        ("license file download", s["license_download"]),
        ("admin changelist", s["admin_changelist"]),
        ("activate POST hot", s["activate_hot"]),
        ("activate POST spread", s["activate_spread"]),
        ("API entitlements (token)", s["api_entitlements"]),
        ("API later page (cursor)", s["api_entitlements_later"]),
        ("API apply spread (token)", s["api_activate_spread"]),
    ]
    lines = [f"{'scenario':<24}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'non-200':>9}", "-" * 69]
    for label, r in rows:
        lines.append(
            f"{label:<24}{r['rps']:>9.1f}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['non_200']:>9}"
        )
    render = results["render"]
    notes = results["notifications"]
    lines += [
        "-" * 69,
        f"render+sign {render['increments']} lines in-process, re-issue (unchanged lines' signatures reused): "
        f"median {render['median_ms']:.1f} ms (min {render['min_ms']:.1f} ms, {render['repetitions']} runs)",
        f"render+sign {render['increments']} lines in-process, cold (every line signed): "
        f"median {render['cold_median_ms']:.1f} ms (min {render['cold_min_ms']:.1f} ms)",
        f"activation changes committed (audit log): hot {s['activate_hot']['changed']} "
        f"({s['activate_hot']['changes_per_s']:.1f}/s, no-op {s['activate_hot']['unchanged']}), spread "
        f"{s['activate_spread']['changed']} ({s['activate_spread']['changes_per_s']:.1f}/s, no-op "
        f"{s['activate_spread']['unchanged']}); in-flight POSTs at the end of a run commit after wrk stops counting",
        f"notifications: {notes.get('count', 0)} delivered ({notes.get('missing', 0)} missing), commit -> SMTP "
        f"p50 {notes.get('p50_s', float('nan')):.3f} s, p95 {notes.get('p95_s', float('nan')):.3f} s",
        f"activation confirm on the 10,000-line customer (sequential): median "
        f"{s['activate_big_customer']['median_ms']:.0f} ms",
        "",
        f"{'ratio':<34}{'value':>10}{'target':>10}  verdict",
        "-" * 62,
    ]
    labels = {
        "entitlements_vs_floor": ("entitlements / floor", ">="),
        "entitlements_vs_admin": ("entitlements / admin changelist", ">="),
        "activations_vs_floor": ("activations / floor", ">="),
        "hot_vs_spread": ("hot / spread (committed changes/s)", ">="),
        "render_floor_requests": ("render+sign re-issue, floor requests", "<="),
        "notification_p95_s": ("notification p95 (s)", "<"),
        "api_entitlements_vs_floor": ("API entitlements / floor", ">="),
        "activate_spread_vs_floor": ("web confirm spread / floor", ">="),
        "api_activate_vs_floor": ("API apply spread / floor", ">="),
        "activate_spread_p95_ms": ("web confirm spread p95 (ms)", "<"),
        "api_activate_p95_ms": ("API apply spread p95 (ms)", "<"),
    }
    for key, verdict in results["verdicts"]["targets"].items():
        label, op = labels[key]
        lines.append(
            f"{label:<34}{verdict['value']:>10.3f}{op + format(verdict['target'], 'g'):>10}  "
            f"{'PASS' if verdict['pass'] else 'MISS'}"
        )
    ratios = results["verdicts"]["ratios"]
    lines.append(
        f"{'(render+sign cold, floor requests)':<34}{ratios['render_cold_floor_requests']:>10.3f}"
        "      (not judged: 200 Ed25519 signatures alone)"
    )
    lines.append(f"{'(download / floor, not a target)':<34}{ratios['download_vs_floor']:>10.3f}")
    lines.append(
        f"{'(API later page / floor)':<34}{ratios['api_later_page_vs_floor']:>10.3f}"
        "      (not judged: a cursor page, read on every request; the target's first page is kept)"
    )
    return "\n".join(lines)


# --- Main -------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--database", default="portal_bench")
    parser.add_argument(
        "--redis",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"),
        help="a Redis DB number of its own: it is flushed",
    )
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--servers", type=int, default=50)
    parser.add_argument("--users", type=int, default=20)
    # What the Dockerfile runs: 4 sync workers. With gthread, wrk's keep-alive connections
    # stick to whichever process accepted them first, and runs came out in two modes (all
    # connections on one process: half the throughput), docs/performance.md.
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_GUNICORN_WORKERS", "4")))
    parser.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("BENCH_GUNICORN_THREADS", "1")),
        help="gunicorn threads per worker (gthread); 1 = sync workers",
    )
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--render-repetitions", type=int, default=30)
    parser.add_argument("--notifications", type=int, default=40, help="service calls (2 emails each)")
    parser.add_argument("--notification-gap", type=float, default=0.1)
    parser.add_argument("--only", default="", help="comma-separated scenario names (for profiling runs)")
    parser.add_argument("--output", default=str(BENCH / "results" / "latest.json"))
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk).", file=sys.stderr)
        return 2

    (BENCH / "results").mkdir(exist_ok=True)
    (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with SmtpSink() as sink:
        env = bench_env(args, sink.port)
        log(f"database {args.database}: migrate, collectstatic, seed_bench")
        fixture = prepare_database(args, env)
        flush_redis(args.redis)
        django_setup(env)
        from django.urls import reverse

        server = Server(args, env)
        log(
            f"{server.describe} on 127.0.0.1:{server.port}; wrk -t{args.wrk_threads} -c{args.connections} "
            f"-d{args.duration}s after a {args.warmup}s warm-up"
        )
        try:
            viewer = login(server, fixture["viewer"], fixture["password"])
            admin = login(server, fixture["admin"], fixture["password"])
            staff = login(server, fixture["staff"], fixture["password"])
            paths = {
                "floor": reverse("healthz"),
                "entitlements": reverse("entitlements:list", args=[fixture["big_customer"]]),
                "activations": reverse("activations:list", args=[fixture["big_customer"]]),
                "license_download": reverse(
                    "activations:file_download",
                    args=[fixture["big_customer"], fixture["big_server_id"], fixture["big_server_version"]],
                ),
                "admin_changelist": reverse("admin:entitlements_entitlement_changelist")
                + f"?customer__id__exact={fixture['big_customer_id']}",
            }
            viewer_token, admin_token = api_tokens(fixture)
            paths["api_entitlements"] = f"/api/v1/customers/{fixture['big_customer']}/entitlements/?limit=100"
            check_api(server, paths["api_entitlements"], viewer_token)
            paths["api_entitlements_later"] = later_page(fixture, paths["api_entitlements"])
            check_api(server, paths["api_entitlements_later"], viewer_token)
            check_page(server, paths["entitlements"], viewer, b"entitlement lines")
            check_page(server, paths["activations"], viewer, b"lic000")
            check_page(server, paths["license_download"], viewer, b"INCREMENT")
            check_page(server, paths["admin_changelist"], staff, b"Bench Heavy Industries")
            only = set(filter(None, args.only.split(",")))
            scenarios: dict[str, Any] = {}
            for name, jar in (
                ("floor", None),
                ("entitlements", viewer),
                ("activations", viewer),
                ("license_download", viewer),
                ("admin_changelist", staff),
            ):
                if not only or name in only:
                    extra = {"BENCH_COOKIE": cookie_header(jar) if jar else ""}
                    scenarios[name] = measure(args, server, name, paths[name], env_extra=extra)
            scenarios.update(api_scenarios(args, server, fixture, only, paths, viewer_token, admin_token))
            if not only or "activate_hot" in only:
                scenarios["activate_hot"] = post_scenario(
                    args, server, "activate_hot", fixture, fixture["hot_pairs"], admin
                )
            if not only or "activate_spread" in only:
                scenarios["activate_spread"] = post_scenario(
                    args, server, "activate_spread", fixture, interleave(fixture["spread_pairs"]), admin
                )
            if not only:
                scenarios["activate_big_customer"] = big_customer_confirm(server, fixture, admin, 5)
        finally:
            server.stop()
        if only:
            print(json.dumps(scenarios, indent=2))
            return 0
        log("render + sign the 200-line license file in-process")
        render = render_cost(fixture, args.render_repetitions)
        log("notifications: Celery worker on Redis -> SMTP sink")
        notifications = notification_latency(args, env, sink, fixture)
    results: dict[str, Any] = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "config": {
            "server": server.describe,
            "wrk": f"-t{args.wrk_threads} -c{args.connections} -d{args.duration}s (warm-up {args.warmup}s)",
            "customers": args.customers,
            "lines": fixture["big_lines"],
            "servers": args.servers,
            "users": args.users,
            "big_server_lines": fixture["big_server_lines"],
        },
        "scenarios": scenarios,
        "render": render,
        "notifications": notifications,
    }
    results["verdicts"] = verdicts(results)
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(
        f"{results['machine']['nproc']} CPU(s): {results['machine']['cpu']}; {server.describe}; "
        f"wrk {results['config']['wrk']}"
    )
    print(table(results))
    print(f"\nwritten to {os.path.relpath(args.output, ROOT)} in {results['elapsed_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
