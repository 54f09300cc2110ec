#!/usr/bin/env python3
"""License Portal usage agent: pushes new FlexNet debug log lines and an lmstat snapshot.

Runs on the license server from a systemd timer or a Windows scheduled task (every few
minutes; docs/usage-agent.md). Python 3.8+ standard library only, one file.

Each run:
1. reads the debug log from where the previous run stopped (the offset is kept in a state
   file; a rotated log is noticed by its inode/size and the rest of the old file is sent
   first), and posts the new complete lines, gzip-compressed. It re-sends from the last line
   that carries a date (TIMESTAMP / lmgrd start), so the portal can date every line; the
   portal stores each event once, so the overlap costs nothing but bytes;
2. runs ``lmutil lmstat -a`` and posts its output.

The offset only moves once the portal has accepted the lines, so nothing is lost while the
portal is unreachable.

Authentication: ``Authorization: Bearer <key>`` with the upload key created on the portal's
Usage page (or any token the portal accepts for uploads).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

__version__ = "1.0"
MAX_PUSH_BYTES = 64 * 1024 * 1024  # per request; a large backlog goes in several pushes
DATING = (b" TIMESTAMP ", b"started on ")


def load_state(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def save_state(path: str, state: dict) -> None:
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(state, handle)
    os.replace(temporary, path)


def post(url: str, key: str, kind: str, body: bytes, timeout: float = 60.0) -> dict:
    request = urllib.request.Request(  # noqa: S310 - the URL is the administrator's configuration
        f"{url}{'&' if '?' in url else '?'}kind={kind}",
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/octet-stream",
            "User-Agent": f"portal-usage-agent/{__version__}",
        },
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return json.loads(response.read().decode("utf-8") or "{}")


def _find_rotated(log_path: str, inode: int) -> str | None:
    """The file that was the log before rotation (same inode), if it is still there."""
    folder = os.path.dirname(os.path.abspath(log_path)) or "."
    base = os.path.basename(log_path)
    for name in sorted(os.listdir(folder)):
        if name.startswith(base) and name != base:
            candidate = os.path.join(folder, name)
            try:
                if os.stat(candidate).st_ino == inode:
                    return candidate
            except OSError:
                continue
    return None


def _read_from(path: str, start: int, limit: int) -> tuple[bytes, int, int, bytes]:
    """Complete lines from ``start`` (at most ``limit`` bytes): (data, end offset, offset of the
    last dating line among them or -1, that line)."""
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read(limit)
    cut = data.rfind(b"\n")
    data = data[: cut + 1] if cut >= 0 else b""
    dating, dating_line = -1, b""
    position = 0
    for line in data.splitlines(keepends=True):
        if any(marker in line for marker in DATING):
            dating, dating_line = start + position, line
        position += len(line)
    return data, start + len(data), dating, dating_line


def push_log(args: argparse.Namespace, state: dict) -> int:
    """Sends what is new in the log; returns the bytes of new lines sent."""
    try:
        info = os.stat(args.log)
    except OSError as error:
        print(f"cannot read {args.log}: {error}", file=sys.stderr)
        return 0
    sent = 0
    if state.get("inode") not in (None, info.st_ino) or info.st_size < state.get("offset", 0):
        # Rotated: finish the old file if it is still beside the log, then start the new one.
        old = _find_rotated(args.log, state["inode"]) if state.get("inode") is not None else None
        if old:
            sent += _push_file(args, state, old)
        state.update(inode=info.st_ino, offset=0, dating=0)
    state.setdefault("inode", info.st_ino)
    sent += _push_file(args, state, args.log)
    return sent


def _push_file(args: argparse.Namespace, state: dict, path: str) -> int:
    sent = 0
    while True:
        offset = state.get("offset", 0)
        resend_from = min(state.get("dating", offset), offset)
        data, end, dating, dating_line = _read_from(path, resend_from, MAX_PUSH_BYTES)
        if end <= offset:
            return sent
        known = state.get("dating_line", "").encode("utf-8", "surrogateescape")
        if known and not any(marker in data.split(b"\n", 1)[0] for marker in DATING):
            # A new file (rotation) or a backlog without a date yet: the last date seen first.
            data = known + data
        post(args.url, args.key, "log", gzip.compress(data))
        state.update(offset=end, dating=dating if dating >= 0 else resend_from)
        if dating_line:
            state["dating_line"] = dating_line.decode("utf-8", "surrogateescape")
        save_state(args.state, state)
        sent += end - offset


def push_lmstat(args: argparse.Namespace) -> bool:
    command = args.lmstat_command or [args.lmutil, "lmstat", "-a"] + (["-c", args.license] if args.license else [])
    if isinstance(command, str):
        command = command.split()
    try:
        output = subprocess.run(command, capture_output=True, timeout=120, check=False).stdout  # noqa: S603
    except (OSError, subprocess.SubprocessError) as error:
        print(f"lmstat failed: {error}", file=sys.stderr)
        return False
    if not output.strip():
        return False
    post(args.url, args.key, "lmstat", output)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url",
        default=os.environ.get("PORTAL_USAGE_URL"),
        help="the portal's upload address, e.g. https://portal.example.com/usage/agent/upload/",
    )
    parser.add_argument("--key", default=os.environ.get("PORTAL_USAGE_KEY"), help="upload key (or PORTAL_USAGE_KEY)")
    parser.add_argument("--key-file", help="a file holding the upload key (readable by the agent's user only)")
    parser.add_argument("--log", required=True, help="the lmgrd / vendor daemon debug log")
    parser.add_argument("--state", default=None, help="state file (default: <log>.portal-agent.json)")
    parser.add_argument("--lmutil", default="lmutil", help="path to lmutil (for lmstat -a)")
    parser.add_argument("--license", default=None, help="port@host or license file for lmstat -c")
    parser.add_argument("--lmstat-command", default=None, help="command printing lmstat -a output (overrides)")
    parser.add_argument("--no-lmstat", action="store_true", help="send log lines only")
    parser.add_argument("--loop", type=float, default=0, help="run every N seconds instead of once")
    args = parser.parse_args(argv)
    if args.key_file:
        with open(args.key_file, encoding="utf-8") as handle:
            args.key = handle.read().strip()
    if not args.url or not args.key:
        parser.error("--url and --key (or --key-file) are required")
    args.state = args.state or args.log + ".portal-agent.json"
    while True:
        state = load_state(args.state)
        status = 0
        try:
            sent = push_log(args, state)
            lmstat = False if args.no_lmstat else push_lmstat(args)
            print(f"sent {sent} new bytes of log{' and an lmstat snapshot' if lmstat else ''}")
        except urllib.error.HTTPError as error:
            print(f"portal refused the upload: HTTP {error.code} {error.reason}", file=sys.stderr)
            status = 2
        except (urllib.error.URLError, OSError) as error:
            print(f"portal unreachable: {error}", file=sys.stderr)
            status = 1
        if not args.loop:
            return status
        time.sleep(args.loop)


if __name__ == "__main__":
    sys.exit(main())
