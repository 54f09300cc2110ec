"""Pure parts: iCalendar folding and escaping (property-based), reminder windows, defaults,
and the optional usage recommendations."""

from __future__ import annotations

import datetime
import re

import icalendar
import pytest
import time_machine
from django.core import mail
from hypothesis import example, given
from hypothesis import strategies as st

from accounts.roles import Role
from notices.ical import CalendarEvent, calendar, escape_text, fold
from notices.models import Category, Frequency
from notices.rules import REMINDER_STEPS, default_frequency, digest_due, reminder_window
from notices.services import notices_daily_run
from tests.factories import CustomerFactory, EntitlementFactory, MembershipFactory, ProductFactory, UserFactory


@given(st.text(min_size=0, max_size=400))
def test_folding_keeps_every_line_within_75_octets_and_unfolds_to_the_original(text) -> None:
    line = "SUMMARY:" + escape_text(text)
    folded = fold(line)
    assert all(len(part.encode()) <= 75 for part in folded.split("\r\n"))
    assert folded.replace("\r\n ", "") == line


_RFC5545_ESCAPE = re.compile(r"\\([\\;,nN])")


def _rfc5545_text(value: str) -> str:
    """An RFC 5545 TEXT value (3.3.11) decoded in one left-to-right pass: ``\\\\`` is a backslash,
    ``\\;`` ``\\,`` their characters, ``\\n``/``\\N`` a line break."""
    return _RFC5545_ESCAPE.sub(lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=200))
@example("\\,")
@example("a\\\\;b\\nc")
def test_any_summary_survives_a_real_parser(summary) -> None:
    body = calendar(
        name="x",
        stamp=datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC),
        events=[CalendarEvent(uid="u-1@example", date=datetime.date(2027, 3, 1), summary=summary, description=summary)],
    )
    [event] = icalendar.Calendar.from_ical(body.encode()).walk("VEVENT")
    [line] = [line for line in body.replace("\r\n ", "").split("\r\n") if line.startswith("SUMMARY:")]
    assert _rfc5545_text(line.removeprefix("SUMMARY:")) == summary
    # icalendar 6.3 undoes escapes one kind after another, so an escaped backslash followed by
    # ``;`` ``,`` ``n`` or a backslash comes back wrong (the summary backslash-comma, written
    # as three backslashes and a comma, reads as a comma): its reading is compared where that
    # cannot happen, the one-pass reading above everywhere.
    if not re.search(r"\\[\\;,nN]", summary):
        assert str(event["SUMMARY"]) == summary


def test_reminder_window_covers_each_step_and_two_days_of_catch_up() -> None:
    today = datetime.date(2027, 1, 1)
    window = reminder_window(today)
    for step in REMINDER_STEPS:
        assert window[today + datetime.timedelta(days=step)] == step
        assert window[today + datetime.timedelta(days=step - 2)] == step
        assert (
            today + datetime.timedelta(days=step - 3) not in window
            or window[today + datetime.timedelta(days=step - 3)] != step
        )


def test_defaults_follow_the_strongest_role_and_weekly_means_monday() -> None:
    assert default_frequency(roles={"viewer", "asc"}, category=Category.RENEWALS) == Frequency.IMMEDIATELY
    assert default_frequency(roles={"viewer"}, category=Category.USAGE) == Frequency.NEVER
    assert default_frequency(roles=set(), category=Category.SECURITY) == Frequency.IMMEDIATELY
    monday, tuesday = datetime.date(2027, 1, 4), datetime.date(2027, 1, 5)
    assert digest_due(frequency=Frequency.WEEKLY, today=monday)
    assert not digest_due(frequency=Frequency.WEEKLY, today=tuesday)
    assert not digest_due(frequency=Frequency.NEVER, today=monday)


@pytest.mark.django_db(transaction=True)
def test_the_usage_recommendation_is_in_the_email() -> None:
    """The renewal reminder quotes what the usage app recommends for the line, from a real
    debug log ingested for the customer (the same selector as the entitlements page)."""
    from usage.selectors import entitlement_recommendations
    from usage.services import usage_log_ingest_lines

    customer = CustomerFactory()
    asc = MembershipFactory(customer=customer, role=Role.ASC, user=UserFactory(language="en")).user
    end = datetime.date(2027, 5, 1)
    line = EntitlementFactory(
        customer=customer,
        product=ProductFactory(feature="rec"),
        quantity=5,
        start_date=datetime.date(2026, 5, 1),
        end_date=end,
        tecs_end_date=None,
    )
    log = [" 8:00:00 (lmgrd) started on lic01 (linux) (3/20/2027)", " 8:00:01 (ansyslmd) TIMESTAMP 3/20/2027"]
    for hour in range(9, 17):
        log += [
            f' {hour}:00:00 (ansyslmd) OUT: "rec" ali@ws-1  (2 licenses)',
            f' {hour}:50:00 (ansyslmd) IN: "rec" ali@ws-1  (2 licenses)',
        ]
    usage_log_ingest_lines(customer=customer, name="lic01.log", lines=[f"{text}\n" for text in log])
    with time_machine.travel(datetime.datetime(2027, 4, 1, 9, tzinfo=datetime.UTC), tick=False):
        expected = entitlement_recommendations(customer=customer, entitlements=[line], today=datetime.date(2027, 4, 1))
        notices_daily_run()
    assert line.pk in expected
    [message] = [m for m in mail.outbox if m.to == [asc.email]]
    assert str(expected[line.pk].text) in message.body


@pytest.mark.django_db
def test_the_beat_task_waits_for_the_morning(settings) -> None:
    from notices.models import DigestEmail
    from notices.tasks import notices_daily_run as task

    settings.NOTICES_DAILY_RUN_HOUR = 6
    customer = CustomerFactory()
    MembershipFactory(customer=customer, role=Role.ASC)
    EntitlementFactory(
        customer=customer, end_date=datetime.date(2027, 4, 8), tecs_end_date=None, start_date=datetime.date(2026, 4, 8)
    )
    istanbul = datetime.timezone(datetime.timedelta(hours=3))
    with time_machine.travel(datetime.datetime(2027, 4, 1, 5, 59, tzinfo=istanbul), tick=False):
        assert task() == {}
    with time_machine.travel(datetime.datetime(2027, 4, 1, 6, 0, tzinfo=istanbul), tick=False):
        assert task()["reminders"] == 1
    assert DigestEmail.objects.count() == 1
