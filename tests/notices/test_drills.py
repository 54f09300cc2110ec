"""The reminder run against real processes: a Celery worker over Redis, killed in the middle
of sending a reminder, beat firing again the same day, and a fresh worker. Walked through
every reminder date with a frozen clock: exactly one email per recipient per date, each in
the reader's language."""

from __future__ import annotations

import datetime
import email
import email.header
import os
import signal
import time
import zoneinfo

import pytest
import time_machine
from django.utils import translation

from accounts.models import Notification
from accounts.roles import Role
from accounts.tasks import notifications_send_pending
from notices.models import DigestEmail
from notices.rules import REMINDER_STEPS
from notices.services import notices_daily_run
from tests.celery_broker import broker
from tests.drills.test_outages import _database_url, _wait, _worker, own_redis  # noqa: F401 - fixture
from tests.factories import CustomerFactory, EntitlementFactory, MembershipFactory, ProductFactory, UserFactory
from tests.smtp_sink import SmtpSink

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]
ISTANBUL = zoneinfo.ZoneInfo("Europe/Istanbul")
END = datetime.date(2027, 6, 15)


def _subject(message: bytes) -> str:
    parsed = email.message_from_bytes(message)
    return str(email.header.make_header(email.header.decode_header(parsed["Subject"])))


def _day(day: datetime.date, hour: int = 6):
    # The clock ticks from that hour of the day, so the outbox sweep sees the rows as old enough.
    return time_machine.travel(datetime.datetime(day.year, day.month, day.day, hour, tzinfo=ISTANBUL), tick=True)


def _all_sent() -> bool:
    return not Notification.objects.filter(sent_at__isnull=True).exists()


def _kill_the_worker_while_it_sends(sink: SmtpSink, redis_url: str, first_day: datetime.date) -> None:
    worker = _worker(database=_database_url(), redis_url=redis_url, smtp_port=sink.port)
    try:
        with _day(first_day):
            notices_daily_run()
        assert sink.state.stalled.wait(60), "the worker never reached the SMTP server"
        os.killpg(worker.pid, signal.SIGKILL)  # killed in the middle of sending a reminder
        worker.wait(10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    sink.state.release.set()


def _walk_with_a_fresh_worker(sink: SmtpSink, redis_url: str, days: list[datetime.date], queued: int) -> None:
    worker = _worker(database=_database_url(), redis_url=redis_url, smtp_port=sink.port)
    try:
        for day in days:
            with _day(day, hour=7):
                # Beat fires again (restarted) the same day: nothing new is queued.
                notices_daily_run()
                notices_daily_run()
                if day == days[0]:
                    assert Notification.objects.count() == queued
                notifications_send_pending()  # what beat's outbox sweep does
            assert _wait(_all_sent, 60), f"unsent on {day}"
        time.sleep(1)  # give any duplicate a chance to arrive before counting
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)


def _assert_one_email_per_date_in_the_readers_language(sink: SmtpSink, asc, admin, reseller_email: str) -> None:
    customer_mail = {address: sink.messages_to(address) for address in (asc.email, admin.email)}
    for address, messages in customer_mail.items():
        assert len(messages) == len(REMINDER_STEPS), (address, [_subject(m) for m in messages])
        assert len({email.message_from_bytes(m)["Message-ID"] for m in messages}) == len(REMINDER_STEPS)
    assert DigestEmail.objects.filter(user=asc).count() == len(REMINDER_STEPS)
    with translation.override("tr"):
        turkish = translation.gettext("Renewals and expiry reminders")
    assert all(_subject(m).startswith(turkish) for m in customer_mail[asc.email])
    assert all(_subject(m).startswith("Renewals and expiry reminders") for m in customer_mail[admin.email])
    assert len(sink.messages_to(reseller_email)) >= 1


def test_reminder_walk_survives_a_killed_worker_and_beat_restarts(own_redis, settings) -> None:  # noqa: F811
    customer = CustomerFactory()
    asc = MembershipFactory(customer=customer, role=Role.ASC, user=UserFactory(language="tr")).user
    admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR, user=UserFactory(language="en")).user
    EntitlementFactory(
        customer=customer,
        product=ProductFactory(feature="drill"),
        quantity=3,
        start_date=datetime.date(2026, 6, 16),
        end_date=END,
        tecs_end_date=END,
    )
    settings.PORTAL_NOTIFICATION_SWEEP_AFTER = datetime.timedelta(0)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    days = [END - datetime.timedelta(days=step) for step in REMINDER_STEPS]
    with SmtpSink(stall_first=True) as sink, broker(own_redis.url):
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
        _kill_the_worker_while_it_sends(sink, own_redis.url, days[0])
        assert not _all_sent()
        _walk_with_a_fresh_worker(sink, own_redis.url, days, queued=Notification.objects.count())

    _assert_one_email_per_date_in_the_readers_language(sink, asc, admin, settings.RESELLER_DIGEST_EMAIL)
