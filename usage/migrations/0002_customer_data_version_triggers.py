"""Raise Customer.data_version when the usage rollups or snapshots change (the Usage page and
the entitlements page's recommendations are cached per data version: portal/fragments.py).

As activations 0002 (PostgreSQL: statement-level triggers with transition tables, so a COPY of
thousands of rollup rows raises the version once) and activations 0004 (SQLite: row-level).
Raw events and uploads are not read by any cached fragment and carry no trigger.
"""

from __future__ import annotations

from django.db import migrations

TABLES = ("usage_usagehour", "usage_usagepersonday", "usage_usagesnapshot")
EVENTS = {"INSERT": ("NEW",), "UPDATE": ("OLD", "NEW"), "DELETE": ("OLD",)}
PG_ROWS = {"INSERT": "NEW", "UPDATE": "NEW", "DELETE": "OLD"}


def _postgresql(table: str) -> str:
    function = f"{table}_bump_customer"
    sql = [f"""
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger AS $$
BEGIN
    UPDATE accounts_customer SET data_version = data_version + 1
    WHERE id IN (SELECT DISTINCT customer_id FROM changed_rows);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;"""]
    for event, rows in PG_ROWS.items():
        sql.append(
            f"CREATE TRIGGER {table}_{event.lower()}_bump_customer AFTER {event} ON {table} "
            f"REFERENCING {rows} TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}();"
        )
    return "\n".join(sql)


def _sqlite(table: str, event: str) -> str:
    owners = " UNION ".join(f"SELECT {row}.customer_id" for row in EVENTS[event])
    return (  # table names from the constant above, no input
        f"CREATE TRIGGER {table}_{event.lower()}_bump_customer AFTER {event} ON {table} FOR EACH ROW "  # noqa: S608
        f"BEGIN UPDATE accounts_customer SET data_version = data_version + 1 WHERE id IN ({owners}); END;"
    )


def forwards(apps, schema_editor) -> None:  # noqa: ANN001, ARG001
    vendor = schema_editor.connection.vendor
    for table in TABLES:
        if vendor == "postgresql":
            schema_editor.execute(_postgresql(table))
        elif vendor == "sqlite":
            for event in EVENTS:
                schema_editor.execute(_sqlite(table, event))


def backwards(apps, schema_editor) -> None:  # noqa: ANN001, ARG001
    vendor = schema_editor.connection.vendor
    for table in TABLES:
        if vendor == "postgresql":
            for event in PG_ROWS:
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_{event.lower()}_bump_customer ON {table};")
            schema_editor.execute(f"DROP FUNCTION IF EXISTS {table}_bump_customer();")
        elif vendor == "sqlite":
            for event in EVENTS:
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_{event.lower()}_bump_customer;")


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0001_initial"),
        ("activations", "0004_customer_data_version_sqlite_triggers"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
