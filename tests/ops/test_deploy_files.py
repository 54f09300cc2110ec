"""The operator's files agree with the code: alert rules and the dashboard use metrics the
endpoint exposes (or that another app registers through the documented hook), compose uses the
probes and runs migrations once, the backup profile exists."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import pytest
import yaml
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "ops" / "monitoring"
# Registered by other apps with portal.metrics.register_gauge (docs/operations.md, "Metrics").
HOOKED = {"portal_usage_ingest_lag_seconds", "portal_webhook_delivery_failures_total"}
_METRIC = re.compile(r"\b(portal_[a-z_]+?)(?:_bucket|_count|_sum)?\b")


def _exposed(settings) -> set[str]:
    settings.PORTAL_METRICS_TOKEN = "deploy-files-token-123"
    settings.REDIS_URL = ""
    Client().get("/healthz")
    body = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer deploy-files-token-123").content.decode()
    return {line.split("{")[0].split(" ")[0] for line in body.splitlines() if line.startswith("portal_")} | {
        "portal_celery_queue_length",
        "portal_http_request_duration_seconds",
    }


def _used(text: str) -> set[str]:
    return set(_METRIC.findall(text))


@pytest.mark.django_db
def test_alerts_and_dashboard_use_exposed_metrics(settings) -> None:
    exposed = _exposed(settings) | HOOKED
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"][0]["rules"]
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    expressions = [rule["expr"] for rule in rules] + [
        target["expr"] for panel in dashboard["panels"] for target in panel["targets"]
    ]
    unknown = {name for expr in expressions for name in _used(expr)} - exposed
    assert unknown == set()
    by_name = {rule["alert"]: rule["expr"] for rule in rules}
    assert "> 300" in by_name["PortalNotificationOutboxStuck"]  # outbox older than 5 minutes
    assert 'status="5xx"' in by_name["PortalHighErrorRate"]
    assert "portal_usage_ingest_lag_seconds" in by_name["PortalUsageIngestLag"]


def test_compose_probes_migrate_once_and_backup_profile() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])
    assert services["migrate"]["command"] == "python manage.py migrate --noinput"
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert "migrate" not in str(services[name].get("command", ""))
    assert services["backup"]["profiles"] == ["backup"]
    assert "pgbackrest" in services["postgres"]["command"]
    conf = (ROOT / "ops" / "backup" / "pgbackrest.conf").read_text()
    assert "[portal]" in conf
    assert "--stanza=portal" in services["postgres"]["command"]


SCRIPT = """
import django
django.setup()
from django.test import Client
for path in ("/healthz", "/readyz", "/metrics", "/access/"):
    print(path, Client().get(path).status_code)
"""


@pytest.mark.django_db
def test_production_settings_probes_without_https_redirect_and_json_logs() -> None:
    from django.db import connection

    params = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.production",
        "DJANGO_SECRET_KEY": "x" * 50,
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "PORTAL_METRICS_TOKEN": "t" * 20,
        "DATABASE_URL": f"postgres://{params['USER'] or 'postgres'}@{params['HOST'] or '127.0.0.1'}:"
        f"{params['PORT'] or 5432}/{params['NAME']}",
    }
    env.pop("REDIS_URL", None)
    env.pop("PORTAL_LOG_FORMAT", None)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    status = dict(line.split() for line in result.stdout.splitlines())
    # Probes answer over plain HTTP inside the network; everything else redirects to HTTPS.
    assert status == {"/healthz": "200", "/readyz": "200", "/metrics": "401", "/access/": "301"}
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line["logger"] == "portal.request"]
    assert len(requests) == 4
    assert all(len(line["request_id"]) == 32 and line["duration_ms"] >= 0 for line in requests)
    assert {line["status"] for line in requests} == {200, 401, 301}


def test_healthz_answers(client) -> None:
    assert client.get("/healthz").status_code == HTTPStatus.OK


SENTRY_SCRIPT = """
import django
django.setup()
import sentry_sdk
from portal.requestlog import request_id_var
from portal.sentry import _scrub
request_id_var.set("sentry-0123456789")
client = sentry_sdk.get_client()
options = client.options if client.is_active() else {}
print(client.is_active(), options.get("send_default_pii"), options.get("max_request_body_size"),
      options.get("include_local_variables"), _scrub({}, {})["tags"]["request_id"])
"""


@pytest.mark.parametrize(
    ("dsn", "active"), [("", "False None None None"), ("https://public@127.0.0.1:9/1", "True False never False")]
)
def test_sentry_only_with_a_dsn_and_without_personal_data(dsn, active) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.production",
        "DJANGO_SECRET_KEY": "x" * 50,
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "SENTRY_DSN": dsn,
    }
    result = subprocess.run(
        [sys.executable, "-c", SENTRY_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [*active.split(), "sentry-0123456789"]


def _gunicorn_env(tmp_path: Path, port: int, token: str) -> dict[str, str]:
    """The image's environment: production settings, a metrics token, the multiprocess dir."""
    from django.db import connection

    params = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.production",
        "DJANGO_SECRET_KEY": "x" * 50,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "PORTAL_METRICS_TOKEN": token,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": f"postgres://{params['USER'] or 'postgres'}@{params['HOST'] or '127.0.0.1'}:"
        f"{params['PORT'] or 5432}/{params['NAME']}",
    }
    env.pop("REDIS_URL", None)
    return env


def _wait_until_serving(base: str, log: Path) -> None:
    import time
    import urllib.request

    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=2)
            return
        except OSError:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)


def _probe_and_scrape(base: str, token: str) -> str:
    """Probes (one with a secret in its query string), the metrics refused without the token,
    then scraped with it. Returns the metrics body."""
    import urllib.error
    import urllib.request

    for _ in range(4):
        urllib.request.urlopen(f"{base}/healthz?reset-key=leaky-key-123", timeout=5)
    ready = urllib.request.urlopen(f"{base}/readyz", timeout=10)
    assert json.loads(ready.read())["status"] == "ready"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{base}/metrics", timeout=5)
    assert refused.value.code == HTTPStatus.UNAUTHORIZED
    request = urllib.request.Request(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"})
    return urllib.request.urlopen(request, timeout=10).read().decode()


@pytest.mark.slow
@pytest.mark.django_db
def test_gunicorn_as_in_the_image_serves_probes_metrics_and_json_request_lines(tmp_path) -> None:
    """ops/gunicorn.conf.py with production settings and PROMETHEUS_MULTIPROC_DIR, as the
    Dockerfile runs it: no access log (raw paths), the portal's JSON request line instead."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = "g" * 24
    log = tmp_path / "gunicorn.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "portal.wsgi:application", "-c", "ops/gunicorn.conf.py"],
            cwd=ROOT,
            env=_gunicorn_env(tmp_path, port, token),
            stdout=output,
            stderr=output,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(base, log)
        body = _probe_and_scrape(base, token)
    finally:
        server.terminate()
        server.wait(30)
    # Counted in the shared directory (summed over the workers), not in whichever worker answered.
    healthz = re.search(r'portal_http_requests_total\{method="GET",status="2xx",view="healthz"\} (\d+)', body)
    assert healthz, body[:1500]
    assert int(healthz.group(1)) >= 5
    assert list(tmp_path.glob("counter_*.db"))
    output = log.read_text()
    assert "leaky-key-123" not in output  # no access log with raw paths
    request_lines = [
        json.loads(line) for line in output.splitlines() if line.startswith("{") and '"portal.request"' in line
    ]
    assert len(request_lines) >= 7


def test_the_image_builds_the_log_scanner_from_the_files_its_stage_copies(tmp_path: Path) -> None:
    """The Dockerfile's ``scanner`` stage copies only some files into an empty folder and
    compiles usage/_flexscan.c there: those files alone must build it (the image is not built
    in CI; this is the part of it that can break without the rest of the tree noticing)."""
    stage = (ROOT / "Dockerfile").read_text().split("FROM ", 2)[1]
    assert stage.startswith("python:3.11-slim-bookworm AS scanner")
    for line in stage.splitlines():
        if line.startswith("COPY "):
            *sources, target = line.split()[1:]
            for source in sources:
                destination = tmp_path / target / Path(source).name
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_bytes((ROOT / source).read_bytes())
    command = next(line for line in stage.splitlines() if "build_ext" in line).split("&& ", 1)[1]
    subprocess.run(command.replace("python ", f"{sys.executable} ", 1), shell=True, cwd=tmp_path, check=True)
    assert list((tmp_path / "usage").glob("_flexscan.*.so"))
    assert "COPY --from=scanner /build/usage/_flexscan.*.so usage/" in (ROOT / "Dockerfile").read_text()
