"""The reseller's cockpit in a real browser: a queue down to a customer and its read-only
"see as customer" view, and one request type end to end (the customer files an extra rehost,
a support manager approves, the customer rehosts; both sides are emailed)."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.core import mail
from playwright.sync_api import Page, expect

from accounts.roles import Role
from activations.services import HostInput, server_rehost
from tests.factories import (
    PASSWORD,
    CustomerFactory,
    EntitlementFactory,
    LicenseServerFactory,
    MembershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.browser


def _manager():
    return UserFactory(email="manager@example.com", is_staff=True, is_superuser=True)


def test_queue_to_customer_to_read_only_view(page: Page, login, axe_check, screenshot) -> None:
    _manager()
    orphan = CustomerFactory(number="2005678", name="Other Industries Ltd.")
    EntitlementFactory(customer=orphan)
    MembershipFactory(customer=CustomerFactory(number="1001234"), role=Role.ASC)

    login(page, "manager@example.com", PASSWORD)
    page.goto("/support/")
    axe_check(page)
    queue = page.locator('[data-queue="no-asc"]')
    expect(queue.locator("[data-count]")).to_have_text("1")
    queue.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/support/queues/no-asc/$"))
    expect(page.locator("main table")).to_contain_text("Other Industries Ltd.")
    axe_check(page)
    page.get_by_role("link", name="2005678").click()
    expect(page.locator("main h1")).to_contain_text("2005678")
    axe_check(page)
    screenshot(page, "support-customer-360.png")

    page.locator('[data-action="view-as"] select').select_option("viewer")
    page.get_by_role("button", name="See as customer, read-only").click()
    expect(page).to_have_url(re.compile(r"/c/2005678/entitlements/$"))
    banner = page.locator("[data-support-view]")
    expect(banner).to_contain_text("Viewing 2005678 as License Portal Viewer, read-only")
    axe_check(page)
    screenshot(page, "support-view-as.png")
    banner.get_by_role("button", name="Stop viewing as customer").click()
    expect(page).to_have_url(re.compile(r"/support/customers/2005678/$"))
    expect(page.locator('[data-section="audit"]')).to_contain_text("Support viewed /c/2005678/entitlements/")


def test_extra_rehost_request_end_to_end(page: Page, login, axe_check, screenshot) -> None:
    customer = CustomerFactory(number="1001234", name="Demo Mühendislik A.Ş.")
    EntitlementFactory(customer=customer)
    admin = MembershipFactory(
        customer=customer, role=Role.ADMINISTRATOR, user=UserFactory(email="admin@demo.example")
    ).user
    server = LicenseServerFactory(customer=customer, name="lic01")
    for n in range(settings.PORTAL_REHOSTS_PER_YEAR):
        server_rehost(server=server, actor=admin, hosts=[HostInput("h", "ETHER", f"0000000000A{n}")])
    _manager()

    # The customer finds the rehost refused and asks support from the same page.
    login(page, "admin@demo.example", PASSWORD)
    page.goto(f"/c/1001234/activations/servers/{server.pk}/rehost/")
    expect(page.get_by_role("heading", name="No rehost left")).to_be_visible()
    page.get_by_role("link", name="Ask support for one more rehost").click()
    expect(page.locator("#id_kind")).to_have_value("extra_rehost")
    expect(page.locator("#id_server")).to_have_value(str(server.pk))
    page.locator("#id_reason").fill("The mainboard died; the new machine is ready.")
    axe_check(page)
    page.get_by_role("button", name="Send the request").click()
    expect(page).to_have_url(re.compile(r"/c/1001234/requests/\d+/$"))
    expect(page.locator("[data-state]")).to_have_text("Open")
    request_url = page.url
    filed = [m for m in mail.outbox if "filed" in m.subject]
    assert {address for m in filed for address in m.to} >= {"admin@demo.example", settings.PORTAL_SUPPORT_EMAIL}

    # A support manager approves it from the queue.
    page.context.clear_cookies()
    login(page, "manager@example.com", PASSWORD)
    page.goto("/support/")
    page.locator('[data-queue="requests-waiting"]').get_by_role("link").click()
    page.locator("main table a", has_text="One more rehost").click()
    axe_check(page)
    page.locator("#id_comment").fill("Granted once.")
    page.get_by_role("button", name="Approve and apply").click()
    expect(page.locator("[data-state]")).to_have_text("Approved")
    screenshot(page, "support-request-approved.png")
    approved = [m for m in mail.outbox if "approved" in m.subject]
    assert {address for m in approved for address in m.to} >= {"admin@demo.example", settings.PORTAL_SUPPORT_EMAIL}

    # The customer sees the answer and rehosts.
    page.context.clear_cookies()
    login(page, "admin@demo.example", PASSWORD)
    page.goto(request_url)
    expect(page.locator("[data-state]")).to_have_text("Approved")
    expect(page.locator("main")).to_contain_text("Granted once.")
    page.goto(f"/c/1001234/activations/servers/{server.pk}/rehost/")
    expect(page.get_by_role("heading", name="No rehost left")).to_have_count(0)
    page.locator("#id_host_id_1").fill("0000000000B7")
    page.locator("main form button[type=submit]").last.click()
    expect(page.locator("main")).to_contain_text("0000000000B7")
