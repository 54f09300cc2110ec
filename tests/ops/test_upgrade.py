"""Expand/contract: the previous release's code keeps working against the schema the current
code migrates to, because during an upgrade the old web and worker processes run on after
``migrate`` until they are rolled (docs/operations.md, "Upgrades").

The previous release (ops/previous-release) is extracted with ``git archive``, a fresh database
is migrated by the CURRENT code, and the OLD code then writes demo data through its services,
renders the customer pages, applies an activation (its license file verifies) and changes users
(tests/ops/upgrade_smoke.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def _previous_release() -> str:
    lines = [
        line
        for line in (ROOT / "ops" / "previous-release").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return lines[0].strip()


def _env(database_url: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "portal.settings.test"}
    for name in ("REDIS_URL", "PYTHONPATH"):
        env.pop(name, None)
    return env


def test_previous_release_runs_against_the_new_schema() -> None:
    commit = _previous_release()
    known = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True)
    assert known.returncode == 0, f"previous release {commit} is not in this clone (a shallow clone? fetch it)"
    params = connection.settings_dict
    dsn = {"host": params["HOST"] or "127.0.0.1", "port": params["PORT"] or 5432, "user": params["USER"] or "postgres"}
    name = f"{params['NAME']}_upgrade"[:63]
    url = f"postgres://{dsn['user']}@{dsn['host']}:{dsn['port']}/{name}"
    old_tree = Path(tempfile.mkdtemp(prefix="previous-release-"))
    with psycopg.connect(**dsn, dbname="postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", commit], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(old_tree)], input=archive.stdout, check=True)

        migrated = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=ROOT,
            env=_env(url),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr

        smoke = subprocess.run(
            [sys.executable, str(ROOT / "tests" / "ops" / "upgrade_smoke.py"), str(old_tree)],
            cwd=old_tree,
            env=_env(url),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert smoke.returncode == 0, smoke.stdout + smoke.stderr
        assert "SMOKE OK" in smoke.stdout
    finally:
        shutil.rmtree(old_tree, ignore_errors=True)
        with psycopg.connect(**dsn, dbname="postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
