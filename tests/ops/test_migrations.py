"""Safe upgrades: new migrations are linted for locking and backward-incompatible operations
(django-migration-linter, PostgreSQL analyser). Migrations released before the linter came are
listed in ops/migrations-baseline.txt and not linted; the list only ever shrinks by squashing.

A migration that must break the rule (the "contract" step of an expand/contract change, a
release after the code stopped using the column) says so in its own file with
``django_migration_linter.IgnoreMigration()`` and a comment; docs/operations.md, "Upgrades".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django_migration_linter import MigrationLinter

BASELINE = Path(settings.BASE_DIR) / "ops" / "migrations-baseline.txt"
pytestmark = pytest.mark.django_db


ROOT = Path(settings.BASE_DIR).resolve()


def _project_migrations(linter: MigrationLinter) -> dict[str, tuple[str, str]]:
    """``accounts/migrations/0001_initial`` -> ``("accounts", "0001_initial")`` for the project's
    own apps (not Django's, allauth's or any other installed package's)."""
    found = {}
    for label, name in linter.migration_loader.disk_migrations:
        app_path = Path(apps.get_app_config(label).path).resolve()
        if app_path.is_relative_to(ROOT) and ".venv" not in app_path.relative_to(ROOT).parts:
            found[f"{app_path.relative_to(ROOT)}/migrations/{name}"] = (label, name)
    return found


def _baseline() -> set[str]:
    return {line.strip() for line in BASELINE.read_text().splitlines() if line.strip() and not line.startswith("#")}


def _linter() -> MigrationLinter:
    return MigrationLinter(no_cache=True, analyser_string="postgresql", no_output=True)


def _lint(linter: MigrationLinter, keys: list[tuple[str, str]]) -> list[str]:
    failed = []
    for key in keys:
        migration = linter.migration_loader.disk_migrations[key]
        before = linter.nb_erroneous
        linter.lint_migration(migration)
        if linter.nb_erroneous > before:
            failed.append(".".join(key))
    return failed


def test_new_migrations_pass_the_linter() -> None:
    linter = _linter()
    project = _project_migrations(linter)
    new = sorted(key for path, key in project.items() if path not in _baseline())
    failed = _lint(linter, new)
    assert failed == [], (
        f"migrations that lock tables or break the running (previous) release: {failed}. Split them into "
        "expand and contract steps (docs/operations.md, 'Upgrades'); the linter's reasons: "
        "MigrationLinter(analyser_string='postgresql').lint_all_migrations() in `manage.py shell`."
    )


def test_baseline_names_only_existing_migrations() -> None:
    assert _baseline() <= set(_project_migrations(_linter()))


def test_the_linter_catches_a_backward_incompatible_migration() -> None:
    # accounts.0004 adds a NOT NULL column without a database default: the previous release,
    # still running during an upgrade, inserts users without it and fails. Baselined, but the
    # linter must see it, or the check above proves nothing.
    assert _lint(_linter(), [("accounts", "0004_user_language")]) == ["accounts.0004_user_language"]
