"""The usage agent (agent/portal_usage_agent.py), run as a process against the live test server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from accounts.models import AuditEvent, Customer
from accounts.roles import Role
from usage import services
from usage.models import Upload, UploadStatus, UsageEvent, UsageSnapshot
from usage.parsers import log_figures

SAMPLES = Path(__file__).parent / "samples"
AGENT = Path(__file__).resolve().parents[2] / "agent" / "portal_usage_agent.py"


def run_agent(live_server: Any, key: str, log: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PORTAL_USAGE_KEY": key}
    return subprocess.run(
        [
            sys.executable,
            str(AGENT),
            "--url",
            f"{live_server.url}/usage/agent/upload/",
            "--log",
            str(log),
            "--lmstat-command",
            f"cat {SAMPLES / 'lmstat_a.txt'}",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


@pytest.fixture
def agent_key(transactional_db: None, customer: Customer, member_factory: Callable) -> str:
    asc = member_factory(role=Role.ASC, customer=customer).user
    _key, raw = services.usage_agent_key_create(customer=customer, actor=asc, server_name="lic01")
    return raw


def test_agent_pushes_new_lines_and_lmstat_end_to_end(
    live_server: Any, agent_key: str, customer: Customer, tmp_path: Path
) -> None:
    lines = (SAMPLES / "single_daemon_restart.log").read_bytes().splitlines(keepends=True)
    log = tmp_path / "lmgrd.log"
    log.write_bytes(b"".join(lines[:70]))
    first = run_agent(live_server, agent_key, log)
    assert first.returncode == 0, first.stderr
    assert Upload.objects.filter(status=UploadStatus.DONE).count() == 2  # log + lmstat
    assert UsageSnapshot.objects.filter(customer=customer).exists()

    # More lines, then a rotation (rename + new file): the rest of the old file goes first.
    with log.open("ab") as handle:
        handle.write(b"".join(lines[70:120]))
    log.rename(tmp_path / "lmgrd.log.1")
    log.write_bytes(b"".join(lines[120:]))
    second = run_agent(live_server, agent_key, log, "--no-lmstat")
    assert second.returncode == 0, second.stderr
    third = run_agent(live_server, agent_key, log, "--no-lmstat")  # nothing new: nothing counted twice
    assert third.returncode == 0, third.stderr

    expected = log_figures(lines)
    stored = UsageEvent.objects.filter(customer=customer).exclude(kind=0).count()
    assert stored == sum(expected["events"].values())
    assert set(UsageEvent.objects.values_list("server_name", flat=True)) == {"lic01"}
    assert AuditEvent.objects.filter(action="usage.agent_upload", customer=customer).exists()


def test_agent_with_a_revoked_key_is_refused(
    live_server: Any, agent_key: str, customer: Customer, tmp_path: Path
) -> None:
    from usage.models import AgentKey

    AgentKey.objects.update(revoked_at="2026-01-01T00:00:00Z")
    log = tmp_path / "lmgrd.log"
    log.write_bytes((SAMPLES / "two_daemons_crlf_junk.log").read_bytes())
    result = run_agent(live_server, agent_key, log)
    assert result.returncode == 2
    assert "401" in result.stderr
    assert not Upload.objects.exists()
    # The offset did not move: the next run with a good key sends everything.
    assert not (tmp_path / "lmgrd.log.portal-agent.json").exists()


@pytest.mark.parametrize(("role", "accepted"), [(Role.ADMINISTRATOR, True), (Role.VIEWER, False)])
def test_agent_with_a_personal_access_token_uses_the_api(
    live_server: Any,
    transactional_db: None,
    customer: Customer,
    member_factory: Callable,
    tmp_path: Path,
    role: Role,
    accepted: bool,
) -> None:
    """The same agent, given an API token (issue 16) instead of an upload key, posts to
    /api/v1/customers/<n>/usage/uploads: one token system for scripts and the agent."""
    from api.services import api_token_create

    member = member_factory(role=role, customer=customer).user
    _token, raw = api_token_create(customer=customer, actor=member, name="usage agent", role=role)
    lines = (SAMPLES / "single_daemon_restart.log").read_bytes()
    log = tmp_path / "lmgrd.log"
    log.write_bytes(lines)
    env = {**os.environ, "PORTAL_USAGE_KEY": raw}
    url = f"{live_server.url}/api/v1/customers/{customer.number}/usage/uploads?server=lic01"
    result = subprocess.run(
        [
            sys.executable,
            str(AGENT),
            "--url",
            url,
            "--log",
            str(log),
            "--lmstat-command",
            f"cat {SAMPLES / 'lmstat_a.txt'}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    if not accepted:  # a Viewer's token may read, not upload
        assert result.returncode == 2
        assert "403" in result.stderr
        assert not Upload.objects.exists()
        return
    assert result.returncode == 0, result.stderr
    assert Upload.objects.filter(customer=customer, status=UploadStatus.DONE).count() == 2  # log + lmstat
    expected = log_figures(lines.splitlines(keepends=True))
    assert UsageEvent.objects.filter(customer=customer).exclude(kind=0).count() == sum(expected["events"].values())
    assert AuditEvent.objects.filter(action="usage.upload", customer=customer, actor=member).exists()
