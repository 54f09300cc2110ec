"""Reminders walked through every date with a frozen clock: exactly one email per recipient
per day and category, in the reader's language, whatever beat does twice."""

from __future__ import annotations

import datetime
import zoneinfo
from collections import Counter, defaultdict

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.utils import translation

from accounts.models import Notification
from accounts.roles import Role
from entitlements.models import LicensingModel
from notices.models import Category, DigestEmail, Frequency, NotificationPreference, PortalNotification
from notices.rules import REMINDER_STEPS
from notices.services import notices_daily_run, reminders_create
from notices.unsubscribe import unsubscribe_token
from tests.factories import (
    CustomerFactory,
    CustomerRenewalSettingsFactory,
    EntitlementFactory,
    MembershipFactory,
    ProductFactory,
    UserFactory,
)

ISTANBUL = zoneinfo.ZoneInfo("Europe/Istanbul")
END = datetime.date(2027, 6, 15)  # a Tuesday


def _at(day: datetime.date, hour: int = 6) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, day.day, hour, 0, tzinfo=ISTANBUL)


def _customer_mail() -> list:
    """What reached the customer's people (the reseller's digest goes to support)."""
    return [m for m in mail.outbox if m.to != [settings.RESELLER_DIGEST_EMAIL]]


def _days(start: datetime.date, end: datetime.date):
    day = start
    while day <= end:
        yield day
        day += datetime.timedelta(days=1)


@pytest.fixture
def company(db):
    customer = CustomerFactory()
    asc = MembershipFactory(customer=customer, role=Role.ASC, user=UserFactory(language="tr")).user
    admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR, user=UserFactory(language="en")).user
    viewer = MembershipFactory(customer=customer, role=Role.VIEWER).user
    product = ProductFactory(feature="mech_ent", name="Mechanical Enterprise")
    line = EntitlementFactory(
        customer=customer,
        product=product,
        quantity=5,
        start_date=datetime.date(2026, 6, 16),
        end_date=END,
        tecs_end_date=END,
    )
    return customer, asc, admin, viewer, line


def _walk(start: datetime.date, end: datetime.date) -> dict[str, list[datetime.date]]:
    """Every day from start to end, beat firing three times a day (hourly, and it may be
    restarted): the days each customer recipient was emailed."""
    sent: dict[str, list[datetime.date]] = defaultdict(list)
    for day in _days(start, end):
        before = len(mail.outbox)
        for hour in (0, 6, 23):
            with time_machine.travel(_at(day, hour), tick=False):
                notices_daily_run()
        for message in mail.outbox[before:]:
            if message.to == [settings.RESELLER_DIGEST_EMAIL]:
                continue
            sent[message.to[0]].append(day)
    return sent


@pytest.mark.django_db(transaction=True)
def test_a_line_walks_through_every_reminder_date_once_per_day_and_recipient(company) -> None:
    _customer, asc, admin, viewer, _line = company
    sent = _walk(END - datetime.timedelta(days=95), END + datetime.timedelta(days=7))

    reminder_days = sorted(END - datetime.timedelta(days=step) for step in REMINDER_STEPS)
    # ASC (immediately) and Administrator (immediately): one email on each reminder day.
    assert sent[asc.email] == reminder_days
    assert sent[admin.email] == reminder_days
    # The Viewer's default is the weekly digest: Mondays only, each reminder exactly once.
    assert all(day.weekday() == 0 for day in sent[viewer.email])
    viewer_items = PortalNotification.objects.filter(user=viewer)
    assert viewer_items.count() == 2 * len(REMINDER_STEPS)  # end + TECS, every step
    assert not viewer_items.filter(emailed_at__isnull=True).exists()
    # Every row of the outbox went out once; one digest row per person per day.
    assert not Notification.objects.filter(sent_at__isnull=True).exists()
    assert DigestEmail.objects.filter(user=asc).count() == len(REMINDER_STEPS)
    per_day = Counter((to, day) for to, days in sent.items() for day in days)
    assert max(per_day.values()) == 1


def _assert_the_english_email_says_it_all(english, line) -> None:
    assert "Mechanical Enterprise" in english.body
    assert line.line_id in english.body
    assert "ends on" in english.body
    assert "in 30 days" in english.body
    assert "reinstatement fee" in english.body  # TECS: the cost of lapsing
    assert "stop working" in english.body  # the lease
    assert "Ayşe Satış" in english.body
    assert "ayse@reseller.example" in english.body


@pytest.mark.django_db(transaction=True)
def test_email_says_what_ends_when_what_lapsing_costs_and_whom_to_contact_in_the_readers_language(company) -> None:
    customer, asc, admin, _viewer, line = company
    CustomerRenewalSettingsFactory(
        customer=customer, account_manager_name="Ayşe Satış", account_manager_email="ayse@reseller.example"
    )
    with time_machine.travel(_at(END - datetime.timedelta(days=30)), tick=False):
        notices_daily_run()
    by_recipient = {m.to[0]: m for m in mail.outbox}
    english = by_recipient[admin.email]
    _assert_the_english_email_says_it_all(english, line)
    turkish = by_recipient[asc.email]
    with translation.override("tr"):
        assert translation.gettext("To renew, contact your account manager:") in turkish.body
    assert "30 gün" in turkish.body
    assert turkish.subject != english.subject
    # RFC 8058 one-click unsubscribe, personal to each reader.
    assert english.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe_token(user=admin, category=Category.RENEWALS)[:20] in english.extra_headers["List-Unsubscribe"]
    assert english.extra_headers["Message-ID"].startswith("<notification-")


@pytest.mark.django_db(transaction=True)
def test_renewed_lines_are_not_reminded(company) -> None:
    customer, _asc, _admin, _viewer, line = company
    EntitlementFactory(
        customer=customer,
        product=line.product,
        quantity=line.quantity,
        start_date=END,
        end_date=END + datetime.timedelta(days=365),
        tecs_end_date=END + datetime.timedelta(days=365),
    )
    with time_machine.travel(_at(END - datetime.timedelta(days=30)), tick=False):
        notices_daily_run()
    assert _customer_mail() == []
    assert not PortalNotification.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_later_line_of_another_quantity_is_not_a_renewal(company) -> None:
    customer, asc, admin, _viewer, line = company
    EntitlementFactory(
        customer=customer,
        product=line.product,
        quantity=line.quantity + 1,
        start_date=END,
        end_date=END + datetime.timedelta(days=365),
        tecs_end_date=None,
    )
    with time_machine.travel(_at(END - datetime.timedelta(days=30)), tick=False):
        notices_daily_run()
    assert {m.to[0] for m in _customer_mail()} == {asc.email, admin.email}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("model", "phrase"),
    [(LicensingModel.ELASTIC, "Elastic credit"), (LicensingModel.SHARED_WEB, "Shared Web tokens")],
)
def test_elastic_credit_and_shared_web_tokens_are_reminded_in_their_own_words(model, phrase, db) -> None:
    customer = CustomerFactory()
    asc = MembershipFactory(customer=customer, role=Role.ASC, user=UserFactory(language="en")).user
    EntitlementFactory(
        customer=customer,
        product=ProductFactory(feature=f"p_{model}", licensing_model=model),
        start_date=datetime.date(2026, 6, 1),
        end_date=END,
        tecs_end_date=None,
    )
    with time_machine.travel(_at(END - datetime.timedelta(days=7)), tick=False):
        notices_daily_run()
    [message] = _customer_mail()
    assert message.to == [asc.email]
    assert phrase in message.body
    assert "in 7 days" in message.body


@pytest.mark.django_db(transaction=True)
def test_never_sends_no_email_but_keeps_the_bell(company) -> None:
    _customer, _asc, admin, _viewer, _line = company
    NotificationPreference.objects.create(user=admin, category=Category.RENEWALS, frequency=Frequency.NEVER)
    with time_machine.travel(_at(END - datetime.timedelta(days=14)), tick=False):
        notices_daily_run()
    assert admin.email not in {m.to[0] for m in mail.outbox}
    assert PortalNotification.objects.filter(user=admin).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_missed_day_is_caught_up_once(company) -> None:
    """Beat down on the 30-days day: the reminder goes out the next day, once."""
    _customer, asc, admin, _viewer, _line = company
    for days_left in (29, 28, 27):
        with time_machine.travel(_at(END - datetime.timedelta(days=days_left)), tick=False):
            notices_daily_run()
    received = [m.to[0] for m in _customer_mail() if m.to[0] in (asc.email, admin.email)]
    assert sorted(received) == sorted([asc.email, admin.email])
    assert "in 29 days" in next(m for m in mail.outbox if m.to == [admin.email]).body


@pytest.mark.django_db
def test_reminders_are_keyed_so_a_second_run_adds_nothing(company) -> None:
    with time_machine.travel(_at(END - datetime.timedelta(days=90)), tick=False):
        first = reminders_create(today=END - datetime.timedelta(days=90))
        count = PortalNotification.objects.count()
        reminders_create(today=END - datetime.timedelta(days=90))
    assert first.reminders == count == 3 * 2  # three members, end and TECS
    assert PortalNotification.objects.count() == count


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_still_send_one_email_per_person(company) -> None:
    """Two workers run the day at the same moment (beat restarted while a run was going):
    row locks (skip locked) and the keyed digest insert leave exactly one email each."""
    import threading

    from django.db import connection

    _customer, asc, admin, _viewer, _line = company
    day = END - datetime.timedelta(days=7)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(10)
            notices_daily_run()
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    with time_machine.travel(_at(day), tick=False):  # the clock is process-wide: both threads see it
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert not errors, errors
    received = Counter(m.to[0] for m in _customer_mail())
    assert received[asc.email] == 1
    assert received[admin.email] == 1
    assert DigestEmail.objects.filter(day=day).count() == 2 + (day.weekday() == 0)


@pytest.mark.django_db(transaction=True)
def test_plain_text_part_is_not_html_escaped(company) -> None:
    customer, _asc, admin, _viewer, _line = company
    customer.name = "O'Neil & Sons <Ltd>"
    customer.save()
    with time_machine.travel(_at(END - datetime.timedelta(days=7)), tick=False):
        notices_daily_run()
    message = next(m for m in mail.outbox if m.to == [admin.email])
    assert "O'Neil & Sons <Ltd>" in message.body
    assert "&amp;" not in message.body
    html = message.alternatives[0][0]
    assert "O&#x27;Neil &amp; Sons &lt;Ltd&gt;" in html
