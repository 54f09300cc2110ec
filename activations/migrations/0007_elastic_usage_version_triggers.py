"""Elastic usage raises Customer.data_version too: the entitlements page shows the Elastic
pool's consumption and balance on the Elastic lines (issue 14: the page and Settings agree),
so a usage import must refresh the cached page like any other change it shows. Same
triggers as 0002 (PostgreSQL, per statement) and 0004 (SQLite, per row)."""

from __future__ import annotations

import importlib

from django.db import migrations

TABLE = "entitlements_elasticusage"
_pg = importlib.import_module("activations.migrations.0002_customer_data_version_triggers")
_sqlite = importlib.import_module("activations.migrations.0004_customer_data_version_sqlite_triggers")


def forwards(apps, schema_editor) -> None:  # noqa: ANN001, ARG001
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(_pg._create(TABLE, "SELECT customer_id FROM changed_rows"))
    elif vendor == "sqlite":
        for event in _sqlite.EVENTS:
            schema_editor.execute(_sqlite._create(TABLE, "SELECT {row}.customer_id", event))


def backwards(apps, schema_editor) -> None:  # noqa: ANN001, ARG001
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(_pg._drop(TABLE))
    elif vendor == "sqlite":
        for event in _sqlite.EVENTS:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_{event.lower()}_bump_customer;")


class Migration(migrations.Migration):
    dependencies = [
        ("activations", "0006_rehost_indexes_online"),
        ("entitlements", "0002_shared_web_elastic"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
