"""Throw-away PostgreSQL clusters and a pgBackRest repository for the restore drill.

Each cluster has its own data directory (under a temp dir) and its own port, is started with
``pg_ctl`` as the ``postgres`` OS user when the tests run as root (PostgreSQL refuses to run as
root), and is stopped by the test. Nothing touches the shared server on 5432.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

import psycopg


def pg_bindir() -> Path:
    if found := os.environ.get("PG_BINDIR"):
        return Path(found)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    if candidates:
        return Path(candidates[-1])
    initdb = shutil.which("initdb")
    assert initdb, "PostgreSQL server binaries (initdb, pg_ctl) are required for the restore drill"
    return Path(initdb).parent


def free_port(start: int = 55432) -> int:
    for port in range(start, start + 500):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def _owner() -> dict[str, object]:
    # PostgreSQL and pgBackRest refuse to run as root: run them as the postgres user.
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam("postgres")
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def chown_tree(path: Path) -> None:
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam("postgres")
    os.chown(path, entry.pw_uid, entry.pw_gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


def run(
    command: list[str], *, timeout: float = 300, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd="/tmp",
        env=env,
        **_owner(),  # type: ignore[arg-type]
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


class Cluster:
    def __init__(self, data_dir: Path, socket_dir: Path, *, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.socket_dir = socket_dir
        self.port = port or free_port()
        self.bin = pg_bindir()

    def initdb(self, **settings: str) -> None:
        run(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ]
        )
        lines = [
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.socket_dir}'",
            "fsync = off",  # a drill, not a crash test: the archive and the backup are what is tested
            "shared_buffers = 32MB",
            "max_connections = 40",
            *(f"{key} = {value}" for key, value in settings.items()),
        ]
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n".join(lines) + "\n")

    def start(self, *extra: str) -> None:
        options = " ".join([f"-p {self.port}", *extra])
        log = self.data_dir.parent / f"{self.data_dir.name}.log"
        result = run(
            [
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-o",
                options,
                "-l",
                str(log),
                "-w",
                "-t",
                "120",
                "start",
            ],
            check=False,
        )
        if result.returncode != 0:
            tail = log.read_text()[-3000:] if log.exists() else "(no log)"
            raise AssertionError(f"PostgreSQL did not start in {self.data_dir}:\n{result.stderr}\n{tail}")

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            run([str(self.bin / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"], check=False)

    def url(self, database: str = "portal") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "portal", **kwargs: object) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=database, autocommit=True, **kwargs
        )

    def wait_promoted(self, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                with self.connect("postgres") as conn:
                    if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                        return
            except psycopg.OperationalError:
                pass
            time.sleep(0.2)
        raise AssertionError("the restored cluster did not leave recovery")


class BackRest:
    """A pgBackRest repository in the temp dir, one stanza for the source cluster."""

    stanza = "drill"

    def __init__(self, root: Path, source: Cluster) -> None:
        self.root = root
        self.config = root / "pgbackrest.conf"
        self.binary = shutil.which("pgbackrest")
        assert self.binary, "pgbackrest is required for the restore drill (apt-get install pgbackrest)"
        for name in ("repo", "log", "lock", "spool"):
            (root / name).mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            "[global]\n"
            f"repo1-path={root / 'repo'}\n"
            "repo1-retention-full=2\n"
            f"log-path={root / 'log'}\n"
            f"lock-path={root / 'lock'}\n"
            f"spool-path={root / 'spool'}\n"
            "log-level-console=warn\n"
            "log-level-file=info\n"
            "compress-type=gz\n"
            "compress-level=1\n"
            "start-fast=y\n"
            "archive-timeout=60\n"
            f"\n[{self.stanza}]\n"
            f"pg1-path={source.data_dir}\n"
            f"pg1-port={source.port}\n"
            f"pg1-socket-path={source.socket_dir}\n"
            "pg1-user=postgres\n"
        )

    def archive_command(self) -> str:
        return f"'{self.binary} --config={self.config} --stanza={self.stanza} archive-push %p'"

    def __call__(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return run([self.binary, f"--config={self.config}", f"--stanza={self.stanza}", *args], timeout=timeout)

    def script(self, path: Path, *args: str, timeout: float = 600, **options: str) -> subprocess.CompletedProcess:
        """Runs one of the operator's scripts (ops/backup/) against this repository: pgBackRest
        reads PGBACKREST_* variables, so the script's own commands are used unchanged."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PGBACKREST_CONFIG": str(self.config),
            "PGBACKREST_STANZA": self.stanza,
            **{f"PGBACKREST_{key.upper()}": value for key, value in options.items()},
        }
        return run(["/bin/sh", str(path), *args], timeout=timeout, env=env)
