"""Customer.data_version: raised by PostgreSQL whenever what the customer's pages show changes.

The version keys the cached page fragments (portal/fragments.py), so it must only ever go up:
a save from an instance read earlier (which carries an older value) still raises it, and a
cached fragment can never be served under a version it was not rendered for.
"""

from __future__ import annotations

from django.db import migrations, models

CREATE = """
CREATE OR REPLACE FUNCTION accounts_customer_data_version() RETURNS trigger AS $$
BEGIN
    IF NEW.data_version <= OLD.data_version THEN
        NEW.data_version := OLD.data_version + 1;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER accounts_customer_data_version
    BEFORE UPDATE ON accounts_customer
    FOR EACH ROW EXECUTE FUNCTION accounts_customer_data_version();
"""
DROP = """
DROP TRIGGER IF EXISTS accounts_customer_data_version ON accounts_customer;
DROP FUNCTION IF EXISTS accounts_customer_data_version();
"""


def forwards(apps, schema_editor) -> None:  # noqa: ANN001, ARG001
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor) -> None:  # noqa: ANN001, ARG001
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_user_language")]
    operations = [
        migrations.AddField(
            model_name="customer",
            name="data_version",
            field=models.BigIntegerField(default=0, editable=False, verbose_name="data version"),
        ),
        migrations.RunPython(forwards, backwards),
    ]
