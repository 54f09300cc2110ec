"""``python manage.py verify_data``: the checks to run on a restored (or upgraded) database
before customers are let in. Exit 0 when all pass, 1 with what failed. Read-only.

- every migration is applied;
- every entitlement's ``activated`` equals the sum of its activation rows;
- every stored license file verifies against the portal's public key (the signing key file
  restored with the database must be the one the files were signed with);
- the audit log is still append-only (PostgreSQL: the trigger refuses an UPDATE, tried in a
  transaction that is rolled back);
- the notification outbox: how many emails are unsent and since when (reported; the worker's
  sweep sends them once it runs).

The restore drill (tests/drills/test_restore.py) runs it on the restored database.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.models import F, Min, Q, Sum, Value
from django.db.models.functions import Coalesce

from accounts.models import AuditEvent, Notification
from activations.licensefile import license_verify
from activations.models import LicenseFile
from activations.signing import verifying_key
from entitlements.models import Entitlement


class Command(BaseCommand):
    help = "Check a restored or upgraded database: migrations, activation sums, license files, audit log, outbox."

    def handle(self, *args: object, **options: object) -> None:
        failures: list[str] = []

        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        self._report(
            failures,
            not pending,
            "migrations applied",
            f"unapplied migrations: {', '.join(f'{m.app_label}.{m.name}' for m, _ in pending)}",
        )

        wrong = list(
            Entitlement.objects.annotate(total=Coalesce(Sum("activations__quantity"), Value(0)))
            .filter(~Q(activated=F("total")))
            .values_list("line_id", "activated", "total")[:20]
        )
        self._report(
            failures,
            not wrong,
            f"activated = sum of activations ({Entitlement.objects.count()} lines)",
            f"activated differs from the activations: {wrong}",
        )

        public_key = verifying_key()
        invalid, count = [], 0
        for pk, content in LicenseFile.objects.values_list("pk", "content").iterator(chunk_size=200):
            count += 1
            if not license_verify(content, public_key=public_key).valid:
                invalid.append(pk)
        self._report(
            failures,
            not invalid,
            f"license files verify ({count})",
            f"license files that do not verify (ids): {invalid[:50]}",
        )

        if connection.vendor == "postgresql" and (first := AuditEvent.objects.order_by("pk").first()):
            refused = False
            try:
                with transaction.atomic(using=DEFAULT_DB_ALIAS), connection.cursor() as cursor:
                    cursor.execute("UPDATE accounts_auditevent SET action = action WHERE id = %s", [first.pk])
            except DatabaseError:
                refused = True
            self._report(
                failures,
                refused,
                f"audit log append-only ({AuditEvent.objects.count()} events)",
                "the audit log accepted an UPDATE: the append-only trigger is missing",
            )

        unsent = Notification.objects.filter(sent_at__isnull=True)
        oldest = unsent.aggregate(oldest=Min("created_at"))["oldest"]
        self.stdout.write(
            f"outbox: {unsent.count()} unsent" + (f", oldest from {oldest:%Y-%m-%d %H:%M:%S %Z}" if oldest else "")
        )
        if failures:
            raise CommandError("; ".join(failures), returncode=1)
        self.stdout.write("verify_data: all checks passed")

    def _report(self, failures: list[str], ok: bool, passed: str, failed: str) -> None:
        if ok:
            self.stdout.write(f"ok: {passed}")
        else:
            self.stderr.write(f"FAILED: {failed}")
            failures.append(failed)
