"""Real-browser journeys of the notices app: the bell in the (cached) header, the
notifications page, the preferences page and the renewals tab."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.roles import Role
from notices import services
from notices.models import Category, NotificationPreference
from tests.factories import PASSWORD, CustomerFactory, EntitlementFactory, MembershipFactory, ProductFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def asc(transactional_db):
    customer = CustomerFactory(number="6600001", name="Bell Test Ltd.")
    membership = MembershipFactory(customer=customer, role=Role.ASC)
    product = ProductFactory(feature="bell_prod", name="Bell Product")
    today = timezone.localdate()
    for i, days in enumerate((20, 75, 200)):
        EntitlementFactory(
            customer=customer,
            product=product,
            line_id=f"6600001-{i:04d}",
            quantity=2 + i,
            activated=1,
            end_date=today + datetime.timedelta(days=days),
            tecs_end_date=None,
        )
    return membership.user, customer


def test_bell_counts_unread_and_mark_read_clears_it(asc, page: Page, login, axe_check) -> None:
    user, customer = asc
    login(page, user.email, PASSWORD)
    page.goto(f"/c/{customer.number}/entitlements/")
    bell = page.get_by_test_id("bell")
    expect(bell).to_be_visible()
    expect(page.locator(".bell__count")).to_have_count(0)
    services.notice_publish(
        customer=customer,
        users=[user],
        category=Category.SECURITY,
        key="browser:1",
        title="A new API token was created",
    )
    page.reload()  # the header is cached for this user; the bell is filled in per request
    expect(page.locator(".bell__count")).to_have_text("1")
    bell.click()
    expect(page.locator("main h1")).to_have_text("Notifications")
    expect(page.get_by_text("A new API token was created")).to_be_visible()
    axe_check(page)
    page.get_by_role("button", name="Mark read").click()
    expect(page.locator(".bell__count")).to_have_count(0)


def test_preferences_page_saves_a_choice(asc, page: Page, login, axe_check) -> None:
    user, _customer = asc
    login(page, user.email, PASSWORD)
    page.goto("/notifications/settings/")
    expect(page.get_by_text("cannot be switched off")).to_be_visible()  # the ASC's matrix emails
    axe_check(page)
    page.locator("fieldset", has_text="Renewals and expiry reminders").get_by_label("Weekly digest").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Your notification settings are saved.")).to_be_visible()
    assert NotificationPreference.objects.get(user=user, category=Category.RENEWALS).frequency == "weekly"
    expect(
        page.locator("fieldset", has_text="Renewals and expiry reminders").get_by_label("Weekly digest")
    ).to_be_checked()


def test_renewals_tab_lists_by_month_and_turns_on_the_calendar(asc, page: Page, login, axe_check) -> None:
    user, customer = asc
    login(page, user.email, PASSWORD)
    page.goto(f"/c/{customer.number}/entitlements/")
    page.locator("nav.customer-nav").get_by_role("link", name="Renewals").click()
    expect(page.locator("main h1")).to_have_text("Renewals")
    tables = page.locator("main table")
    expect(tables).to_have_count(3)  # three months
    expect(page.get_by_text("6600001-0000")).to_be_visible()
    expect(page.get_by_role("link", name="Export as CSV")).to_be_visible()
    axe_check(page)
    page.get_by_role("button", name="Turn on the calendar feed").click()
    feed = page.locator("#feed-url")
    expect(feed).to_have_value(f"{page.url.split('/c/')[0]}/calendar/" + feed.input_value().split("/calendar/")[1])
    response = page.request.get(feed.input_value())
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/calendar")
    assert "BEGIN:VEVENT" in response.text()
