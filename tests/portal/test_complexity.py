"""No function above cyclomatic complexity 15 (radon), the tests included: importers keep
their parse -> plan -> apply steps, views stay thin, and a long test is split into named
arrange / act / assert steps (or a table of cases). ``make complexity`` prints the report."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from radon.complexity import cc_visit

MAX_COMPLEXITY = 15
# Every top-level folder holding Python (the apps, bench, agent, tests), so a new one is checked
# without anyone adding it here. Migrations are generated.
NOT_CODE = {"node_modules", "static", "templates", "locale", "docs", "var", "requirements"}


def _packages(root: Path) -> list[Path]:
    return sorted(
        path
        for path in root.iterdir()
        if path.is_dir() and not path.name.startswith(".") and path.name not in NOT_CODE and any(path.glob("*.py"))
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


def _above_the_limit() -> dict[tuple[str, str], str]:
    """(file, function) -> "file:line function (complexity)" for each function above 15."""
    return {
        (where.split(":")[0], name): f"{where} {name} ({complexity})"
        for where, name, complexity in _functions()
        if complexity > MAX_COMPLEXITY
    }


def test_no_function_is_above_complexity_15() -> None:
    functions = _functions()
    assert len(functions) > 1500  # it really read the code, the tests included
    read = {where.split("/")[0] for where, _, _ in functions}
    assert {"accounts", "activations", "api", "entitlements", "support", "usage", "agent", "tests"} <= read
    assert any(where.startswith("tests/browser/") for where, _, _ in functions)
    too_complex = sorted(_above_the_limit().values())
    assert not too_complex, (
        "split these (parse -> plan -> apply for importers; named arrange / act / assert steps for tests):\n"
        + "\n".join(too_complex)
    )
