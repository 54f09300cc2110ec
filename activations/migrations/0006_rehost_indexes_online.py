"""The rehost allowance's indexes, built without blocking writes: CONCURRENTLY on PostgreSQL
(outside a transaction, so the running release keeps writing rehosts while it builds), plainly
on SQLite. Django's state gets the same indexes as the models declare."""

from __future__ import annotations

from django.db import migrations, models

INDEXES = {
    "rehost_customer_time": ("activations_rehost", ("customer_id", "created_at")),
    "returned_entitlement_time": ("activations_returnedlicenses", ("entitlement_id", "created_at")),
}


def forwards(apps, schema_editor) -> None:  # noqa: ANN001, ARG001
    online = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    for name, (table, columns) in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX {online}IF NOT EXISTS {name} ON {table} ({', '.join(columns)})")


def backwards(apps, schema_editor) -> None:  # noqa: ANN001, ARG001
    online = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX {online}IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("activations", "0005_rehost_allowance_per_customer_and_returned_licenses")]
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="rehost",
                    index=models.Index(fields=["customer", "created_at"], name="rehost_customer_time"),
                ),
                migrations.AddIndex(
                    model_name="returnedlicenses",
                    index=models.Index(fields=["entitlement", "created_at"], name="returned_entitlement_time"),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        )
    ]
