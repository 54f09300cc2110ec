"""Customer.data_version on SQLite (the embedded ``make run`` default), as on PostgreSQL.

The cached page fragments (portal/fragments.py) are keyed by the customer's data version, so
the version must be raised by the database in the writing transaction on every engine, or the
embedded default would show a page up to ``PORTAL_FRAGMENT_CACHE_SECONDS`` old. PostgreSQL does
it with statement-level triggers (accounts 0005, activations 0002); SQLite has only row-level
triggers and cannot assign ``NEW`` in a ``BEFORE`` trigger, so here:

- one ``AFTER INSERT/UPDATE/DELETE ... FOR EACH ROW`` trigger per table the landing pages read,
  raising the version of the customer(s) the row belongs to (on UPDATE both the old and the
  new owner's, should a row move);
- an ``AFTER UPDATE`` trigger on the customer that, when an update did not raise the version
  (any save of the row, e.g. a rename, or a save from a stale instance), sets it past the old
  one. SQLite's ``recursive_triggers`` is off by default, and the ``WHEN`` clause is false for
  the trigger's own update anyway.

``tests/portal/test_fragment_versions.py`` checks from the SQL each cached fragment runs that
every table it reads has such a trigger, on both engines.
"""

from __future__ import annotations

from django.db import migrations

# table -> the customers a row (``{row}`` is NEW or OLD) belongs to
CUSTOMERS_OF_ROW = {
    "entitlements_entitlement": "SELECT {row}.customer_id",
    "entitlements_product": "SELECT e.customer_id FROM entitlements_entitlement e WHERE e.product_id = {row}.id",
    "activations_licenseserver": "SELECT {row}.customer_id",
    "activations_serverhost": "SELECT {row}.customer_id",
    "activations_activation": "SELECT s.customer_id FROM activations_licenseserver s WHERE s.id = {row}.server_id",
    "activations_licensefile": "SELECT s.customer_id FROM activations_licenseserver s WHERE s.id = {row}.server_id",
}
EVENTS = {"INSERT": ("NEW",), "UPDATE": ("OLD", "NEW"), "DELETE": ("OLD",)}

CUSTOMER_TRIGGER = """
CREATE TRIGGER accounts_customer_data_version AFTER UPDATE ON accounts_customer
FOR EACH ROW WHEN NEW.data_version <= OLD.data_version
BEGIN
    UPDATE accounts_customer SET data_version = OLD.data_version + 1 WHERE id = NEW.id;
END;
"""


def _create(table: str, customers: str, event: str) -> str:
    owners = " UNION ".join(customers.format(row=row) for row in EVENTS[event])
    return (  # table names from the constant above, no input
        f"CREATE TRIGGER {table}_{event.lower()}_bump_customer AFTER {event} ON {table} FOR EACH ROW "  # noqa: S608
        f"BEGIN UPDATE accounts_customer SET data_version = data_version + 1 WHERE id IN ({owners}); END;"
    )


def forwards(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "sqlite":
        return
    schema_editor.execute(CUSTOMER_TRIGGER)
    for table, customers in CUSTOMERS_OF_ROW.items():
        for event in EVENTS:
            schema_editor.execute(_create(table, customers, event))


def backwards(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "sqlite":
        return
    schema_editor.execute("DROP TRIGGER IF EXISTS accounts_customer_data_version;")
    for table in CUSTOMERS_OF_ROW:
        for event in EVENTS:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_{event.lower()}_bump_customer;")


class Migration(migrations.Migration):
    dependencies = [("activations", "0003_submission_result")]
    operations = [migrations.RunPython(forwards, backwards)]
