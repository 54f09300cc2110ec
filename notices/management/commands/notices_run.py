"""``python manage.py notices_run [--today YYYY-MM-DD]``: the daily reminder run, by hand or
for the benchmark (prints how long it took and how many queries it issued)."""

from __future__ import annotations

import datetime
import time

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notices.services import notices_daily_run


class Command(BaseCommand):
    help = "Run the day's reminders, digests and the reseller's digest (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--today", type=datetime.date.fromisoformat, default=None)

    def handle(self, *args: object, today: datetime.date | None, **options: object) -> None:
        started = time.monotonic()
        with CaptureQueriesContext(connection) as queries:
            result = notices_daily_run(today=today)
        seconds = time.monotonic() - started
        self.stdout.write(
            f"customers={result.customers} reminders={result.reminders} emails={result.emails} "
            f"reseller_lines={result.reseller_lines} queries={len(queries)} seconds={seconds:.1f}"
        )
