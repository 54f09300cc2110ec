"""No function of the application above cyclomatic complexity 15 (radon), so importers keep
their parse -> plan -> apply steps and views stay thin. ``make complexity`` prints the report."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from radon.complexity import cc_visit

MAX_COMPLEXITY = 15
# Application code: every top-level folder holding Python, so a new app is checked without
# anyone adding it here. Migrations are generated; tests are checked by review.
NOT_APPLICATION = {"tests", "node_modules", "static", "templates", "locale", "docs", "var", "requirements"}


def _packages(root: Path) -> list[Path]:
    return sorted(
        path
        for path in root.iterdir()
        if path.is_dir()
        and not path.name.startswith(".")
        and path.name not in NOT_APPLICATION
        and any(path.glob("*.py"))
    )


def _functions() -> list[tuple[str, str, int]]:
    root = Path(settings.BASE_DIR)
    found = []
    for package in _packages(root):
        for path in sorted(package.rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for block in cc_visit(path.read_text(encoding="utf-8")):
                for item in [block, *getattr(block, "methods", [])]:
                    found.append((f"{path.relative_to(root)}:{item.lineno}", item.fullname, item.complexity))
    return found


def test_no_function_is_above_complexity_15() -> None:
    functions = _functions()
    assert len(functions) > 500  # it really read the code
    read = {where.split("/")[0] for where, _, _ in functions}
    assert {"accounts", "activations", "api", "entitlements", "support", "usage", "agent"} <= read
    too_complex = [
        f"{where} {name} ({complexity})" for where, name, complexity in functions if complexity > MAX_COMPLEXITY
    ]
    assert not too_complex, "split these (parse -> plan -> apply for importers):\n" + "\n".join(too_complex)
