"""The reseller's cockpit in a real browser: a queue down to a customer and its read-only
"see as customer" view, and request types end to end (the customer files an extra rehost,
a support manager approves, the customer rehosts; the customer asks for an emergency license,
a manager approves, the customer downloads the file; both sides are emailed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from playwright.sync_api import Page, expect

from accounts.roles import Role
from activations.licensefile import license_parse, license_verify
from activations.services import HostInput, server_rehost
from activations.signing import verifying_key
from tests.factories import (
    PASSWORD,
    ActivationFactory,
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


def test_emergency_license_request_end_to_end(page: Page, login, axe_check, screenshot) -> None:
    """The customer asks from the server's page, a support manager approves, the customer
    downloads a signed, marked, temporary file; both sides are emailed at each step."""
    customer = CustomerFactory(number="1001234", name="Demo Mühendislik A.Ş.", flexnet_managed=True)
    admin = MembershipFactory(
        customer=customer, role=Role.ADMINISTRATOR, user=UserFactory(email="admin@demo.example")
    ).user
    server = LicenseServerFactory(customer=customer, name="lic01")
    ActivationFactory(server=server, entitlement=EntitlementFactory(customer=customer), quantity=3)
    _manager()

    login(page, admin.email, PASSWORD)
    page.goto(f"/c/1001234/activations/servers/{server.pk}/")
    page.get_by_role("link", name="Ask for an emergency license").click()
    expect(page.locator("#id_kind")).to_have_value("emergency_license")
    expect(page.locator("#id_server")).to_have_value(str(server.pk))
    page.locator("#id_hostid_type").select_option("ETHER")
    page.locator("#id_host_id").fill("00:aa:bb:cc:dd:ee")
    page.locator("#id_emergency_days").fill("10")
    page.locator("#id_reason").fill("The disk died; the new machine is up, the rehost needs a maintenance window.")
    axe_check(page)
    page.get_by_role("button", name="Send the request").click()
    expect(page).to_have_url(re.compile(r"/c/1001234/requests/\d+/$"))
    expect(page.locator("[data-state]")).to_have_text("Open")
    expect(page.locator("main")).to_contain_text("00AABBCCDDEE")
    request_url = page.url
    filed = [m for m in mail.outbox if "filed" in m.subject]
    assert {address for m in filed for address in m.to} >= {"admin@demo.example", settings.PORTAL_SUPPORT_EMAIL}

    page.context.clear_cookies()
    login(page, "manager@example.com", PASSWORD)
    page.goto("/support/")
    page.locator('[data-queue="requests-waiting"]').get_by_role("link").click()
    page.locator("main table a", has_text="Emergency license").click()
    axe_check(page)
    page.get_by_role("button", name="Approve and apply").click()
    expect(page.locator("[data-state]")).to_have_text("Approved")
    expect(page.locator("[data-emergency-file]")).to_contain_text("EMERGENCY")
    approved = [m for m in mail.outbox if "approved" in m.subject]
    assert {address for m in approved for address in m.to} >= {"admin@demo.example", settings.PORTAL_SUPPORT_EMAIL}
    assert all("/emergency-license/" in m.body for m in approved)

    page.context.clear_cookies()
    login(page, admin.email, PASSWORD)
    page.goto(request_url)
    expect(page.locator("[data-emergency-file] .badge")).to_have_text("EMERGENCY")
    axe_check(page)
    screenshot(page, "support-emergency-license.png")
    with page.expect_download() as download_info:
        page.locator("[data-emergency-file]").get_by_role("link", name="Download the emergency license").click()
    download = download_info.value
    assert "EMERGENCY" in download.suggested_filename
    content = Path(download.path()).read_text()
    assert content.startswith("# EMERGENCY LICENSE FILE - TEMPORARY")
    assert license_verify(content, public_key=verifying_key()).valid
    assert [s.host_id for s in license_parse(content).servers] == ["00AABBCCDDEE"]
    # The server's page offers it too, beside its own (untouched) file versions.
    page.goto(f"/c/1001234/activations/servers/{server.pk}/")
    expect(page.locator('[data-section="emergency-licenses"]')).to_contain_text("00AABBCCDDEE")
