"""The no-access journey and the sign-up -> verify -> linked journey, in a real browser."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.core import mail
from playwright.sync_api import Page, expect

from accounts.roles import Role
from tests.factories import PASSWORD, CustomerFactory, InvitationFactory, UserFactory

pytestmark = pytest.mark.browser

# Verification is by a code typed into the signing-up session (issue 12): no link is mailed.
VERIFICATION_CODE = re.compile(r"^([A-Z0-9]{4}-[A-Z0-9]{4})$", re.MULTILINE)


def test_user_without_customers_sees_how_to_get_access(page: Page, login, axe_check, screenshot) -> None:
    UserFactory(email="lonely@example.org")

    login(page, "lonely@example.org", PASSWORD)

    expect(page).to_have_url(re.compile(r"/access/$"))
    main = page.locator("main")
    expect(main.get_by_role("heading", name="You do not have License Portal access")).to_be_visible()
    blanks = main.locator("dl.facts dd.blank")
    expect(blanks).to_have_count(2)  # customer number and customer name, both blank
    for index in range(2):  # nothing visible in either (a visually hidden "blank" for screen readers is fine)
        assert blanks.nth(index).evaluate(
            "dd => [...dd.childNodes].every(n => n.nodeType === Node.TEXT_NODE"
            " ? !n.textContent.trim() : n.classList.contains('visually-hidden'))"
        )
    expect(main.get_by_role("link", name=settings.PORTAL_SUPPORT_EMAIL)).to_have_attribute(
        "href", f"mailto:{settings.PORTAL_SUPPORT_EMAIL}"
    )
    expect(main).to_contain_text("lonely@example.org")
    screenshot(page, "access-no-access.png")
    axe_check(page)


def test_sign_up_verify_and_land_linked_to_the_inviting_customer(page: Page, axe_check, screenshot) -> None:
    customer = CustomerFactory(number="7001234", name="Invited Engineering Ltd.")
    InvitationFactory(customer=customer, email="newbie@example.org", role=Role.VIEWER)

    page.goto("/accounts/signup/")
    axe_check(page)
    page.locator("#id_email").fill("newbie@example.org")
    page.locator("#id_password1").fill("Tulip-Orbit-4821")
    page.locator("#id_password2").fill("Tulip-Orbit-4821")
    screenshot(page, "signup.png")
    page.locator("form.form--signup [type=submit]").click()
    page.wait_for_url(lambda url: "/accounts/signup/" not in url)
    expect(page.locator("main h1")).to_be_visible()

    bodies = [message.body for message in mail.outbox if "newbie@example.org" in message.to]
    codes = [match.group(1) for body in bodies for match in VERIFICATION_CODE.finditer(body)]
    assert codes, f"no verification code was emailed to newbie@example.org: {[m.subject for m in mail.outbox]}"
    assert "/accounts/confirm-email/" in page.url, "the code is entered in the page that signed up"
    axe_check(page)
    page.locator("#id_code").fill(codes[-1])
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(lambda url: "/accounts/confirm-email/" not in url)

    page.goto("/access/")
    table = page.locator("main table")
    row = table.locator("tbody tr", has_text="7001234")
    expect(row).to_contain_text("Invited Engineering Ltd.")
    expect(row).to_contain_text("License Portal Viewer")
    axe_check(page)
    screenshot(page, "access-linked.png")
