"""The restore drill (issue 19): pgBackRest full backup and WAL archiving under continuous
writes, point-in-time restore into a fresh cluster, and the checks an operator needs before
opening the restored portal to customers.

Two clusters of our own (own ports and data directories, started and stopped here), a
pgBackRest repository in a temp dir, the portal schema migrated by ``manage.py migrate``, writes
through the portal's services from another process (tests/drills/restore_writer.py), and at the
end a real Celery worker with an SMTP sink resuming on the restored database. The same commands
are what ops/backup/ runs in production: the backup and the restore are taken by its scripts
(docs/operations.md, "Backups and restore").
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from activations.licensefile import license_verify
from activations.signing import verifying_key
from tests.celery_broker import broker
from tests.drills.pgcluster import BackRest, Cluster, chown_tree, free_port
from tests.drills.test_outages import RedisServer
from tests.smtp_sink import SmtpSink

ROOT = Path(__file__).resolve().parents[2]
BACKUP_SCRIPTS = ROOT / "ops" / "backup"
pytestmark = [pytest.mark.slow, pytest.mark.worker]
_MESSAGE_ID = re.compile(rb"^Message-ID:\s*<notification-(\d+)@", re.IGNORECASE | re.MULTILINE)


def _wait(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Writer:
    def __init__(self, control: Path, database_url: str) -> None:
        self.control = control
        self.output = control / "writer.out"
        env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "portal.settings.test"}
        env.pop("REDIS_URL", None)
        self.handle = self.output.open("w")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "drills" / "restore_writer.py"), str(control)],
            cwd=ROOT,
            env=env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
        )

    def lines(self) -> list[str]:
        return self.output.read_text().splitlines()

    def iterations(self) -> int:
        done = [int(line.split()[1]) for line in self.lines() if line.startswith("ITERATION ")]
        assert self.process.poll() is None or "STOPPED" in self.lines(), "\n".join(self.lines()[-30:])
        return max(done, default=0)

    def wait_iterations(self, count: int) -> None:
        target = self.iterations() + count
        _wait(lambda: self.iterations() >= target, 120, f"{count} more writer iterations")

    def pause(self) -> None:
        (self.control / "pause").touch()
        _wait(lambda: "PAUSED" in self.lines(), 60, "the writer to pause")

    def resume(self) -> None:
        (self.control / "pause").unlink()
        _wait(lambda: "RESUMED" in self.lines(), 60, "the writer to resume")

    def stop(self) -> None:
        (self.control / "stop").touch()
        try:
            self.process.wait(60)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self.handle.close()


def _snapshot(conn: psycopg.Connection) -> dict[str, object]:
    return {
        "audit": conn.execute("SELECT id, action, target FROM accounts_auditevent ORDER BY id").fetchall(),
        "entitlements": conn.execute("SELECT id, activated FROM entitlements_entitlement ORDER BY id").fetchall(),
        "activations": conn.execute(
            "SELECT server_id, entitlement_id, quantity FROM activations_activation ORDER BY 1, 2"
        ).fetchall(),
        "license_files": conn.execute(
            "SELECT id, server_id, version FROM activations_licensefile ORDER BY id"
        ).fetchall(),
        "memberships": conn.execute(
            "SELECT customer_id, user_id, role FROM accounts_membership ORDER BY 1, 2"
        ).fetchall(),
        "invitations": conn.execute("SELECT email FROM accounts_invitation ORDER BY email").fetchall(),
        "sent": conn.execute("SELECT id FROM accounts_notification WHERE sent_at IS NOT NULL ORDER BY id").fetchall(),
        "unsent": conn.execute("SELECT id FROM accounts_notification WHERE sent_at IS NULL ORDER BY id").fetchall(),
        "usage_uploads": conn.execute("SELECT id, status, name FROM usage_upload ORDER BY id").fetchall(),
        "usage_events": conn.execute("SELECT id, feature, kind FROM usage_usageevent ORDER BY id").fetchall(),
    }


def _migrate(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "portal.settings.test"}
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def drill_dir():
    # Under /tmp (not pytest's 0700 tmp_path): the postgres OS user must reach the data dirs.
    root = Path(tempfile.mkdtemp(prefix="restore-drill-", dir="/tmp"))
    os.chmod(root, 0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _source_with_archiving(source: Cluster, backrest: BackRest) -> None:
    source.initdb(
        wal_level="replica", archive_mode="on", archive_command=backrest.archive_command(), max_wal_senders="3"
    )
    source.start()
    with source.connect("postgres") as conn:
        conn.execute("CREATE DATABASE portal")
    backrest("stanza-create")
    backrest("check")


def _full_backup_under_writes(backrest: BackRest, writer: Writer) -> None:
    _wait(lambda: "READY" in writer.lines() or writer.process.poll() is not None, 120, "the writer")
    writer.wait_iterations(3)
    # The full backup runs while the writer keeps changing activations and users.
    before_backup = writer.iterations()
    backrest.script(BACKUP_SCRIPTS / "backup.sh", "once", "full")  # what the compose sidecar runs
    assert writer.iterations() > before_backup, "the writer made no change during the backup"
    info = backrest("info").stdout
    assert "full backup" in info, info


def _writes_around_a_target_time(source: Cluster, writer: Writer) -> tuple[object, dict, dict]:
    """Writes after the backup (only in the WAL archive), a pause to take the target time and
    the expected state, then writes after it that must not come back. Returns the target
    time, the state at it and the state at the end."""
    with source.connect() as conn:
        at_backup_end = conn.execute("SELECT count(*) FROM accounts_auditevent").fetchone()[0]
    writer.wait_iterations(4)  # changes only in the WAL archive, after the backup
    writer.pause()
    with source.connect() as conn:
        target = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        expected = _snapshot(conn)
    time.sleep(1.0)  # every later commit is strictly after the target time
    writer.resume()
    writer.wait_iterations(4)  # changes after the chosen moment: must not come back
    writer.stop()
    with source.connect() as conn:
        after = _snapshot(conn)
    assert len(expected["audit"]) > at_backup_end, "no change between the backup and the target time"
    assert len(after["audit"]) > len(expected["audit"]), "no change after the target time"
    assert expected["sent"], "the drill needs notifications sent before the target time"
    assert expected["unsent"], "the drill needs notifications unsent at the target time"
    return target, expected, after


def _restore_to(backrest: BackRest, restored: Cluster, target) -> None:
    """The operator's restore script, into a fresh data directory."""
    restored.data_dir.mkdir(mode=0o700)
    chown_tree(restored.data_dir)
    backrest.script(
        BACKUP_SCRIPTS / "restore.sh",
        target.isoformat(sep=" "),
        pg1_path=str(restored.data_dir),
        archive_mode="off",
        # In production the restore goes back into the data directory the config
        # names; the drill restores beside the source, so its WAL fetches say where.
        recovery_option=f"restore_command={backrest.binary} --config={backrest.config} "
        f"--stanza={backrest.stanza} --pg1-path={restored.data_dir} "
        'archive-get %f "%p"',
    )
    restored.start("-c archive_mode=off")
    restored.wait_promoted()


def _assert_consistent_and_append_only(conn: psycopg.Connection, got: dict) -> None:
    # Every entitlement's activated equals the sum of its activation rows.
    mismatched = conn.execute(
        "SELECT e.id, e.activated, COALESCE(SUM(a.quantity), 0) FROM entitlements_entitlement e "
        "LEFT JOIN activations_activation a ON a.entitlement_id = e.id GROUP BY e.id "
        "HAVING e.activated <> COALESCE(SUM(a.quantity), 0)"
    ).fetchall()
    assert mismatched == []
    # Every stored license file still verifies against the portal's public key.
    public_key = verifying_key()
    files = conn.execute("SELECT id, content FROM activations_licensefile").fetchall()
    assert files
    failing = [pk for pk, content in files if not license_verify(content, public_key=public_key).valid]
    assert failing == []
    # The audit log is still append-only: the trigger refuses UPDATE and DELETE.
    first = got["audit"][0][0]
    with pytest.raises(psycopg.Error, match="append-only"):
        conn.execute("UPDATE accounts_auditevent SET action = 'tampered' WHERE id = %s", [first])
    with pytest.raises(psycopg.Error, match="append-only"):
        conn.execute("DELETE FROM accounts_auditevent WHERE id = %s", [first])


def _assert_restored_as_at_the_target(restored: Cluster, expected: dict) -> None:
    with restored.connect() as conn:
        got = _snapshot(conn)
        # Complete up to the chosen moment, and nothing after it.
        assert got["audit"] == expected["audit"]
        for key in (
            "entitlements",
            "activations",
            "license_files",
            "memberships",
            "invitations",
            "sent",
            "unsent",
            "usage_uploads",
            "usage_events",
        ):
            assert got[key] == expected[key], key
        _assert_consistent_and_append_only(conn, got)
        # The usage uploads and their events came back with the rest (in the snapshot).
        assert got["usage_uploads"], "the writer made usage uploads before the chosen moment"


def _assert_post_restore_check_passes(restored: Cluster, expected: dict) -> None:
    """The operator's post-restore check (docs/operations.md) agrees."""
    env = {**os.environ, "DATABASE_URL": restored.url(), "DJANGO_SETTINGS_MODULE": "portal.settings.test"}
    env.pop("REDIS_URL", None)
    check = subprocess.run(
        [sys.executable, "manage.py", "verify_data"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "verify_data: all checks passed" in check.stdout
    assert f"outbox: {len(expected['unsent'])} unsent" in check.stdout


def _worker(restored: Cluster, redis_url: str, smtp_port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool", "solo", "--loglevel", "WARNING"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "portal.settings.dev",
            "DATABASE_URL": restored.url(),
            "REDIS_URL": redis_url,
            "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
            "DJANGO_DEBUG": "false",
        },
    )


def _redeliver_everything_and_wait(restored: Cluster, expected: dict) -> None:
    from portal.celery import app

    for (pk,) in expected["sent"] + expected["unsent"]:
        app.send_task("accounts.tasks.notification_send_task", args=[pk])
    app.send_task("accounts.tasks.notifications_send_pending")
    with restored.connect() as conn:
        _wait(
            lambda: conn.execute("SELECT count(*) FROM accounts_notification WHERE sent_at IS NULL").fetchone()[0] == 0,
            120,
            "the resumed worker to send the outbox",
        )
    time.sleep(1.0)  # let any duplicate arrive before counting


def _resume_a_worker(restored: Cluster, expected: dict) -> Counter:
    """A worker on the restored database, every task redelivered (what a broker that kept its
    queue would do). Returns how often each notification was delivered."""
    redis_server = RedisServer()
    redis_server.start()
    try:
        with SmtpSink() as sink, broker(redis_server.url):
            worker = _worker(restored, redis_server.url, sink.port)
            try:
                _redeliver_everything_and_wait(restored, expected)
            finally:
                worker.terminate()
                worker.wait(30)
            with sink.state.lock:
                return Counter(int(m.group(1)) for message in sink.state.messages if (m := _MESSAGE_ID.search(message)))
    finally:
        redis_server.stop()


def _assert_each_unsent_sent_once(restored: Cluster, expected: dict, delivered: Counter) -> None:
    """Every outbox row still unsent at the chosen moment is sent exactly once; none that was
    sent before is sent again."""
    assert sorted(delivered) == [pk for (pk,) in expected["unsent"]]
    assert set(delivered.values()) == {1}
    with restored.connect() as conn:
        total = conn.execute("SELECT count(*) FROM accounts_notification").fetchone()[0]
        assert total == len(expected["sent"]) + len(expected["unsent"])  # none lost, none made up


def test_point_in_time_restore_under_continuous_writes(drill_dir: Path) -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()
    sockets = drill_dir / "sock"
    sockets.mkdir()
    source = Cluster(drill_dir / "source", sockets, port=free_port(55432))
    restored = Cluster(drill_dir / "restored", sockets, port=free_port(source.port + 1))
    backrest = BackRest(drill_dir / "backrest", source)
    control = drill_dir / "control"
    control.mkdir()
    chown_tree(drill_dir)
    os.chmod(control, 0o777)
    writer: Writer | None = None
    try:
        _source_with_archiving(source, backrest)
        timings["cluster"] = time.monotonic() - started
        _migrate(source.url())
        timings["migrate"] = time.monotonic() - started
        writer = Writer(control, source.url())
        _full_backup_under_writes(backrest, writer)
        timings["backup"] = time.monotonic() - started
        target, expected, after = _writes_around_a_target_time(source, writer)
        backrest("check")  # switches WAL and waits until the last segment is archived
        source.stop()  # the disaster
        timings["writes"] = time.monotonic() - started

        _restore_to(backrest, restored, target)
        timings["restore"] = time.monotonic() - started
        _assert_restored_as_at_the_target(restored, expected)
        _assert_post_restore_check_passes(restored, expected)

        # A worker resumes on the restored database.
        delivered = _resume_a_worker(restored, expected)
        _assert_each_unsent_sent_once(restored, expected, delivered)
        timings["resume"] = time.monotonic() - started
        print(
            f"restore drill timings (s, cumulative): {timings}; audit events at target: "
            f"{len(expected['audit'])}, after: {len(after['audit'])}; outbox at target: "
            f"{len(expected['sent'])} sent, {len(expected['unsent'])} unsent"
        )
    finally:
        if writer is not None and writer.process.poll() is None:
            writer.stop()
        restored.stop()
        source.stop()
