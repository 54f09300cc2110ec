"""The layers of docs/architecture.md hold: views read through selectors."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

APPS = ("accounts", "activations", "entitlements", "notices", "portal")
# ``Model.objects.none()`` is an empty placeholder, not a read.
_MANAGER_READ = re.compile(r"\b[A-Z]\w*\.objects\.(?!none\(\))\w+")


def _view_modules() -> list[Path]:
    root = Path(settings.BASE_DIR)
    return sorted(path for app in APPS for path in (root / app).rglob("*.py") if "views" in path.stem)


def test_views_read_through_selectors() -> None:
    modules = _view_modules()
    assert any(path.name == "views.py" for path in modules)
    offenders = [
        f"{path.name}:{number}: {line.strip()}"
        for path in modules
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if _MANAGER_READ.search(line)
    ]
    assert not offenders, offenders
