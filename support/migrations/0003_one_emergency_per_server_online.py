"""One emergency license request (open, or approved with its file in use) per license server:
a partial unique index, built without blocking writes (CONCURRENTLY on PostgreSQL, outside a
transaction; plainly on SQLite), as activations/migrations/0006 does. Django's state gets the
constraint the model declares."""

from __future__ import annotations

from django.db import migrations, models

NAME = "support_request_one_emergency_per_server"
TABLE = "support_supportrequest"


def forwards(apps, schema_editor) -> None:  # noqa: ANN001, ARG001
    online = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(
        f"CREATE UNIQUE INDEX {online}IF NOT EXISTS {NAME} ON {TABLE} (server_id) "
        "WHERE kind = 'emergency_license' AND state IN ('open', 'approved')"
    )


def backwards(apps, schema_editor) -> None:  # noqa: ANN001, ARG001
    online = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f"DROP INDEX {online}IF EXISTS {NAME}")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("support", "0002_emergency_license_request")]
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddConstraint(
                    model_name="supportrequest",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(kind="emergency_license", state__in=["open", "approved"]),
                        fields=["server"],
                        name=NAME,
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        )
    ]
