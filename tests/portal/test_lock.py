"""The hashed locks (``make lock``) hold every requirement of the human-edited files, so an
addition to requirements/*.txt without a new lock fails here rather than at install time."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

REQUIREMENTS = Path(settings.BASE_DIR) / "requirements"
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


def _names(path: Path, *, locked: bool = False) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-", "--")):
            continue
        match = _NAME.match(line)
        if match and (not locked or "==" in line):
            names.add(re.sub(r"[-_.]+", "-", match.group(1)).lower())
    return names


def _required(path: Path) -> set[str]:
    """The names a requirements file asks for, following ``-r`` includes."""
    names = _names(path)
    for include in re.findall(r"^-r\s+(\S+)", path.read_text(), re.M):
        names |= _required(path.parent / include)
    return names


@pytest.mark.parametrize(
    ("source", "lock"), [("base.txt", "lock-base.txt"), ("dev.txt", "lock-dev.txt"), ("bench.txt", "lock-bench.txt")]
)
def test_every_requirement_is_locked_with_hashes(source: str, lock: str) -> None:
    locked = _names(REQUIREMENTS / lock, locked=True)
    missing = _required(REQUIREMENTS / source) - locked
    assert not missing, f"not in requirements/{lock}: {sorted(missing)} (run make lock)"
    text = (REQUIREMENTS / lock).read_text()
    assert all("--hash=sha256:" in block for block in re.split(r"\n(?=[a-z0-9])", text) if "==" in block)
