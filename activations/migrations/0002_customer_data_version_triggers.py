"""Raise Customer.data_version whenever a table shown on the customer's cached pages changes.

Statement-level triggers with transition tables: one UPDATE of the customer row per statement
(a bulk insert of 10,000 lines bumps once), whatever writes the rows (services, the support
console, imports, a SQL shell). The bump is part of the writing transaction, so a reader sees
the new version exactly when it sees the new rows (portal/fragments.py).
"""

from __future__ import annotations

from django.db import migrations

# table -> the customers whose data the changed rows (transition table ``changed_rows``) belong to
CUSTOMERS_OF = {
    "entitlements_entitlement": "SELECT customer_id FROM changed_rows",
    "entitlements_product": (
        "SELECT e.customer_id FROM entitlements_entitlement e WHERE e.product_id IN (SELECT id FROM changed_rows)"
    ),
    "activations_licenseserver": "SELECT customer_id FROM changed_rows",
    "activations_serverhost": "SELECT customer_id FROM changed_rows",
    "activations_activation": (
        "SELECT s.customer_id FROM activations_licenseserver s WHERE s.id IN (SELECT server_id FROM changed_rows)"
    ),
    "activations_licensefile": (
        "SELECT s.customer_id FROM activations_licenseserver s WHERE s.id IN (SELECT server_id FROM changed_rows)"
    ),
}
EVENTS = {"INSERT": "NEW", "UPDATE": "NEW", "DELETE": "OLD"}


def _create(table: str, customers: str) -> str:
    function = f"{table}_bump_customer"
    sql = [
        f"""
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger AS $$
BEGIN
    UPDATE accounts_customer SET data_version = data_version + 1 WHERE id IN ({customers});
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;"""
    ]
    for event, rows in EVENTS.items():
        sql.append(
            f"CREATE TRIGGER {table}_{event.lower()}_bump_customer AFTER {event} ON {table} "
            f"REFERENCING {rows} TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}();"
        )
    return "\n".join(sql)


def _drop(table: str) -> str:
    triggers = [f"DROP TRIGGER IF EXISTS {table}_{event.lower()}_bump_customer ON {table};" for event in EVENTS]
    return "\n".join([*triggers, f"DROP FUNCTION IF EXISTS {table}_bump_customer();"])


def forwards(apps, schema_editor) -> None:  # noqa: ANN001, ARG001
    if schema_editor.connection.vendor == "postgresql":
        for table, customers in CUSTOMERS_OF.items():
            schema_editor.execute(_create(table, customers))


def backwards(apps, schema_editor) -> None:  # noqa: ANN001, ARG001
    if schema_editor.connection.vendor == "postgresql":
        for table in CUSTOMERS_OF:
            schema_editor.execute(_drop(table))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_customer_data_version"),
        ("entitlements", "0002_shared_web_elastic"),
        ("activations", "0001_initial"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
