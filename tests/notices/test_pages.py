"""Renewals tab, calendar feed, bell, notifications page, preferences, unsubscribe links."""

from __future__ import annotations

import csv
import datetime
import io
import re
from http import HTTPStatus

import icalendar
import pytest
import time_machine
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from accounts.roles import Role
from notices import services
from notices.models import Category, CustomerRenewalSettings, Frequency, NotificationPreference, PortalNotification
from notices.selectors import unread_count
from notices.unsubscribe import SALT, unsubscribe_token
from tests.factories import EntitlementFactory, MembershipFactory, ProductFactory, UserFactory

TODAY = datetime.date(2027, 1, 10)


@pytest.fixture
def clock():
    with time_machine.travel(datetime.datetime(2027, 1, 10, 9, 0, tzinfo=datetime.UTC), tick=False):
        yield


@pytest.fixture
def lines(customer):
    product = ProductFactory(feature="cfd_pro", name="CFD Pro")
    return [
        EntitlementFactory(
            customer=customer,
            product=product,
            line_id=f"{customer.number}-{i:04d}",
            quantity=4,
            activated=i % 4,
            start_date=TODAY - datetime.timedelta(days=300),
            end_date=TODAY + datetime.timedelta(days=30 * i),
            tecs_end_date=None,
        )
        for i in range(1, 15)
    ]


# --- Renewals tab ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role))
def test_every_role_sees_the_renewals_tab_by_month(role, customer, lines, member_client, clock) -> None:
    client = member_client(role=role, customer=customer)
    response = client.get(reverse("renewals:list", args=[customer.number]))
    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    horizon = datetime.date(2028, 1, 10)  # twelve months from TODAY, to the day
    shown = [line.line_id for line in lines if line.end_date <= horizon]
    hidden = [line.line_id for line in lines if line.end_date > horizon]
    assert all(line_id in html for line_id in shown)
    assert not any(line_id in html for line_id in hidden)
    assert "February 2027" in html
    assert "January 2028" in html
    assert "25 % (1 activated)" in html  # utilisation where known
    rotate = reverse("renewals:calendar_rotate", args=[customer.number])
    assert (rotate in html) == (role != Role.VIEWER)


@pytest.mark.django_db
def test_renewals_of_another_customer_are_404(customer, other_customer, lines, member_client) -> None:
    client = member_client(role=Role.ASC, customer=other_customer)
    assert client.get(reverse("renewals:list", args=[customer.number])).status_code == HTTPStatus.NOT_FOUND
    line_url = reverse("renewals:line_ics", args=[customer.number, lines[0].line_id])
    assert client.get(line_url).status_code == HTTPStatus.NOT_FOUND


@pytest.mark.django_db
def test_renewals_csv_is_spreadsheet_safe(customer, member_client, clock) -> None:
    EntitlementFactory(
        customer=customer,
        product=ProductFactory(feature="evil", name="=HYPERLINK(1)"),
        line_id=f"{customer.number}-0099",
        end_date=TODAY + datetime.timedelta(days=5),
        tecs_end_date=None,
    )
    client = member_client(role=Role.VIEWER, customer=customer)
    response = client.get(reverse("renewals:export", args=[customer.number]))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][0] == "Month"
    assert rows[1][4] == "'=HYPERLINK(1)"
    assert rows[1][1] == "2027-01-15"


@pytest.mark.django_db
@pytest.mark.parametrize("size", [5, 50])
def test_renewals_page_query_count_does_not_grow(size, customer, member_client, django_assert_max_num_queries) -> None:
    product = ProductFactory(feature="grow")
    for i in range(size):
        EntitlementFactory(
            customer=customer,
            product=product,
            line_id=f"{customer.number}-{i + 1000}",
            quantity=1 + i,
            end_date=timezone.localdate() + datetime.timedelta(days=10 + i),
        )
    client = member_client(role=Role.VIEWER, customer=customer)
    with django_assert_max_num_queries(8):
        assert client.get(reverse("renewals:list", args=[customer.number])).status_code == HTTPStatus.OK


# --- Calendar -----------------------------------------------------------------------------------


def _assert_rfc5545(body: bytes) -> icalendar.Calendar:
    text = body.decode()
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", "")  # every line ends in CRLF
    for line in text.split("\r\n"):
        assert len(line.encode()) <= 75, line  # folded
    parsed = icalendar.Calendar.from_ical(body)
    assert parsed["VERSION"] == "2.0"
    assert parsed["PRODID"]
    for event in parsed.walk("VEVENT"):
        assert event["UID"]
        assert event["DTSTAMP"]
        assert type(event.decoded("DTSTART")) is datetime.date  # VALUE=DATE: all-day
        assert event.decoded("DTEND") - event.decoded("DTSTART") == datetime.timedelta(days=1)
        [alarm] = event.walk("VALARM")
        assert alarm["ACTION"] == "DISPLAY"
        assert alarm.decoded("TRIGGER") == datetime.timedelta(days=-7)
    return parsed


@pytest.mark.django_db
def test_calendar_feed_is_private_rotatable_and_rfc5545(customer, lines, member_client, clock) -> None:
    asc_client = member_client(role=Role.ASC, customer=customer)
    lines[0].tecs_end_date = TODAY + datetime.timedelta(days=45)
    lines[0].product.name = "Ürün, with; a very long name that will certainly need folding at seventy-five octets"
    lines[0].product.save()
    lines[0].save()
    rotate = reverse("renewals:calendar_rotate", args=[customer.number])
    assert asc_client.post(rotate, {"action": "rotate"}).status_code == HTTPStatus.FOUND
    token = CustomerRenewalSettings.objects.get(customer=customer).calendar_token
    page = asc_client.get(reverse("renewals:list", args=[customer.number])).content.decode()
    feed = reverse("notices:calendar_feed", args=[token])
    assert feed in page

    response = Client().get(feed)  # no login: the secret is the credential
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("text/calendar")
    parsed = _assert_rfc5545(response.content)
    events = parsed.walk("VEVENT")
    assert len(events) == len(lines) + 1  # every end date and the one TECS date
    assert len({str(e["UID"]) for e in events}) == len(events)
    assert any("Ürün, with; a very long name" in str(e["SUMMARY"]) for e in events)

    # Rotation revokes the old address.
    asc_client.post(rotate, {"action": "rotate"})
    assert Client().get(feed).status_code == HTTPStatus.NOT_FOUND
    asc_client.post(rotate, {"action": "revoke"})
    assert CustomerRenewalSettings.objects.get(customer=customer).calendar_token == ""
    assert AuditEvent.objects.filter(customer=customer, action="calendar.rotated").count() == 2


@pytest.mark.django_db
def test_viewer_cannot_rotate_the_calendar(customer, member_client) -> None:
    client = member_client(role=Role.VIEWER, customer=customer)
    response = client.post(reverse("renewals:calendar_rotate", args=[customer.number]))
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not CustomerRenewalSettings.objects.filter(customer=customer).exclude(calendar_token="").exists()


@pytest.mark.django_db
def test_one_line_downloads_as_ics(customer, lines, member_client, clock) -> None:
    client = member_client(role=Role.VIEWER, customer=customer)
    response = client.get(reverse("renewals:line_ics", args=[customer.number, lines[2].line_id]))
    parsed = _assert_rfc5545(response.content)
    [event] = parsed.walk("VEVENT")
    assert event.decoded("DTSTART") == lines[2].end_date


# --- Bell and notifications page ------------------------------------------------------------------


def _notify(user, n: int = 1, customer=None) -> None:
    PortalNotification.objects.bulk_create(
        PortalNotification(
            user=user,
            customer=customer,
            category=Category.SECURITY,
            kind="message",
            key=f"k{user.pk}-{i}-{PortalNotification.objects.count()}",
            data={"title": f"Event {i}", "body": ""},
        )
        for i in range(n)
    )


@pytest.mark.django_db
def test_bell_count_is_right_on_a_cached_header(
    customer, lines, member_client, django_capture_on_commit_callbacks
) -> None:
    client = member_client(role=Role.ASC, customer=customer)
    url = reverse("entitlements:list", args=[customer.number])

    def bell() -> str:
        html = client.get(url).content.decode()
        return re.search(r'data-testid="bell">(.*?)</a>', html, re.S).group(1)

    assert "bell__count" not in bell()
    with django_capture_on_commit_callbacks(execute=True):
        services.notice_publish(
            customer=customer,
            users=[client.user],
            category=Category.SECURITY,
            key="token:1",
            title="A new API token was created",
        )
    assert '<span class="bell__count">1</span>' in bell()  # the header was cached; the bell is not
    with django_capture_on_commit_callbacks(execute=True):
        services.notice_publish(
            customer=customer, users=[client.user], category=Category.SECURITY, key="token:2", title="Another token"
        )
    assert '<span class="bell__count">2</span>' in bell()
    with django_capture_on_commit_callbacks(execute=True):
        services.notifications_mark_read(user=client.user)
    assert "bell__count" not in bell()


@pytest.mark.django_db
def test_notifications_page_paginates_and_marks_read(member_client, django_capture_on_commit_callbacks) -> None:
    client = member_client(role=Role.VIEWER)
    other = UserFactory()
    _notify(client.user, 30)
    _notify(other, 1)
    page1 = client.get(reverse("notices:list")).content.decode()
    assert page1.count('class="notification notification--unread"') == 25
    assert "Page 1 of 2" in page1
    mine = PortalNotification.objects.filter(user=client.user).first()
    theirs = PortalNotification.objects.get(user=other)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("notices:read"), {"notification": mine.pk})
        client.post(reverse("notices:read"), {"notification": theirs.pk})  # not theirs to mark
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.read_at is not None
    assert theirs.read_at is None
    assert unread_count(user=client.user) == 29
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("notices:read"))
    assert unread_count(user=client.user) == 0


@pytest.mark.django_db
def test_notifications_pages_need_login(client) -> None:
    for name in ("notices:list", "notices:settings"):
        response = client.get(reverse(name))
        assert response.status_code == HTTPStatus.FOUND
        assert "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_outbox_emails_appear_under_the_bell(customer) -> None:
    from accounts.services import membership_add

    asc = MembershipFactory(customer=customer, role=Role.ASC).user
    admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR).user
    membership_add(customer=customer, actor=admin, email="new@example.org", role=Role.VIEWER)
    assert services.outbox_mirror() == 1  # the ASC has an account; the invitee does not yet
    assert services.outbox_mirror() == 0
    assert PortalNotification.objects.get(user=asc).data["title"]
    # The mark moved past the invitee's email too: it is never read again.
    from accounts.models import Notification
    from notices.models import OutboxMirrorMark

    assert OutboxMirrorMark.objects.get().last_outbox_id == Notification.objects.latest("pk").pk


# --- Preferences and unsubscribe -------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "renewals"), [(Role.ASC, "immediately"), (Role.ADMINISTRATOR, "immediately"), (Role.VIEWER, "weekly")]
)
def test_preferences_page_shows_role_defaults_and_saves(role, renewals, member_client) -> None:
    client = member_client(role=role)
    html = client.get(reverse("notices:settings")).content.decode()
    checked = re.search(r'<input[^>]*name="renewals"[^>]*value="(\w+)"[^>]*checked', html)
    assert checked.group(1) == renewals
    assert ("cannot be switched off" in html) == (role == Role.ASC)
    response = client.post(reverse("notices:settings"), {"renewals": "daily", "usage": "never", "security": "weekly"})
    assert response.status_code == HTTPStatus.FOUND
    assert dict(NotificationPreference.objects.filter(user=client.user).values_list("category", "frequency")) == {
        "renewals": "daily",
        "usage": "never",
        "security": "weekly",
    }
    # The matrix emails are no category: there is nothing to post for them.
    assert (
        client.post(
            reverse("notices:settings"), {"renewals": "sometimes", "usage": "never", "security": "weekly"}
        ).status_code
        == HTTPStatus.OK
    )


@pytest.mark.django_db
def test_unsubscribe_link_works_without_login_get_changes_nothing_one_click_post_does(db) -> None:
    user = UserFactory()
    MembershipFactory(user=user, role=Role.ASC)
    url = reverse("notices:unsubscribe", args=[unsubscribe_token(user=user, category=Category.RENEWALS)])
    anonymous = Client(enforce_csrf_checks=True)
    assert anonymous.get(url).status_code == HTTPStatus.OK
    assert not NotificationPreference.objects.exists()
    # RFC 8058: the mail client POSTs List-Unsubscribe=One-Click, no cookie, no CSRF token.
    response = anonymous.post(url, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == HTTPStatus.OK
    assert NotificationPreference.objects.get(user=user, category=Category.RENEWALS).frequency == Frequency.NEVER
    assert not NotificationPreference.objects.filter(category=Category.SECURITY).exists()


@pytest.mark.django_db
def test_forged_expired_and_cross_user_links_do_nothing_and_say_so(db) -> None:
    alice, bob = UserFactory(), UserFactory()
    token = unsubscribe_token(user=alice, category=Category.RENEWALS)
    forged = signing.dumps({"u": bob.pk, "c": "renewals", "e": "0" * 16}, salt="not-the-salt", compress=True)
    tampered = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    client = Client()
    for bad in (forged, tampered):
        response = client.post(reverse("notices:unsubscribe", args=[bad]))
        assert response.status_code == HTTPStatus.BAD_REQUEST
        assert "not valid" in response.content.decode()
    with time_machine.travel(datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(days=91)):
        response = client.post(reverse("notices:unsubscribe", args=[token]))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "expired" in response.content.decode()
    # Bob, signed in, cannot use Alice's link (and a link of an old address is dead).
    client.force_login(bob)
    response = client.post(reverse("notices:unsubscribe", args=[token]))
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "another account" in response.content.decode()
    alice.email = "alice-new@example.org"
    alice.save()
    response = Client().post(reverse("notices:unsubscribe", args=[token]))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not NotificationPreference.objects.exists()
    assert SALT == "notices.unsubscribe"


@pytest.mark.django_db(transaction=True)
def test_an_mfa_change_is_a_security_notification_emailed_at_once(db) -> None:
    from allauth.mfa.models import Authenticator
    from allauth.mfa.signals import authenticator_added
    from django.core import mail

    user = UserFactory(language="en")
    MembershipFactory(user=user, role=Role.VIEWER)
    authenticator = Authenticator(user=user, type=Authenticator.Type.TOTP, data={})
    authenticator_added.send(sender=Authenticator, request=None, user=user, authenticator=authenticator)
    [row] = PortalNotification.objects.filter(user=user, category=Category.SECURITY)
    assert "added" in row.data["title"]
    [message] = [m for m in mail.outbox if m.to == [user.email]]
    assert "two-factor" in message.body
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.django_db(transaction=True)
def test_an_asc_who_chose_never_everywhere_still_gets_the_matrix_emails(customer) -> None:
    from django.core import mail

    from accounts.services import membership_add

    asc = MembershipFactory(customer=customer, role=Role.ASC).user
    admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR).user
    services.preferences_set(user=asc, choices={c.value: Frequency.NEVER for c in Category})
    membership_add(customer=customer, actor=admin, email="colleague@example.org", role=Role.VIEWER)
    [message] = [m for m in mail.outbox if m.to == [asc.email]]
    assert "List-Unsubscribe" not in message.extra_headers  # not optional, so no unsubscribe link


@pytest.mark.django_db
def test_a_bad_link_says_so_in_the_readers_language(db) -> None:
    from django.utils import translation

    response = Client(HTTP_ACCEPT_LANGUAGE="tr").post(reverse("notices:unsubscribe", args=["not-a-token"]))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    with translation.override("tr"):
        expected = translation.gettext(
            "This unsubscribe link is not valid: it was changed or made up. Nothing was changed."
        )
    assert expected in response.content.decode()
    assert "Nothing was changed" not in response.content.decode()
