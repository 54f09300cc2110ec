"""The layout every page shares: role matrix help, responsive sign-in, language switcher."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from accounts.roles import ROLE_PERMISSIONS, Permission, Role
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.browser


def test_roles_help_renders_the_matrix_from_the_mapping(page: Page, login, axe_check, screenshot) -> None:
    UserFactory(email="reader@example.org")
    login(page, "reader@example.org", PASSWORD)

    page.goto("/help/roles/")

    matrix = page.locator("#role-matrix")
    expect(matrix.locator("thead th[data-role]")).to_have_count(len(Role))
    expect(matrix.locator("tbody tr[data-permission]")).to_have_count(len(Permission))
    roles = [
        Role(value)
        for value in matrix.locator("thead th[data-role]").evaluate_all("cells => cells.map(cell => cell.dataset.role)")
    ]
    for permission in Permission:
        cells = matrix.locator(f'tr[data-permission="{permission.value}"] td')
        granted = [cells.nth(i).locator(".yes").count() == 1 for i in range(len(roles))]
        assert granted == [permission in ROLE_PERMISSIONS[role] for role in roles], permission
    axe_check(page)
    screenshot(page, "roles-help.png")


@pytest.mark.parametrize(
    ("width", "height", "name"),
    [(375, 812, "login-phone.png"), (1280, 800, "login-desktop.png")],
)
def test_login_page_fits_the_screen(page: Page, axe_check, screenshot, width: int, height: int, name: str) -> None:
    page.set_viewport_size({"width": width, "height": height})
    page.goto("/accounts/login/")

    expect(page.locator("#id_login")).to_be_visible()
    scroll_width, inner_width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll_width <= inner_width, f"horizontal overflow at {width}px: {scroll_width} > {inner_width}"
    axe_check(page)
    screenshot(page, name)


def test_language_switcher_changes_the_language_and_remembers_it(page: Page) -> None:
    page.goto("/accounts/login/")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    page.locator(".language-switcher button[value=tr]").click()

    expect(page.locator("html")).to_have_attribute("lang", "tr")
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.locator(".language-switcher button[value=tr]")).to_have_attribute("aria-pressed", "true")
    assert any(cookie["name"] == "django_language" and cookie["value"] == "tr" for cookie in page.context.cookies())

    page.goto("/accounts/signup/")  # a fresh page load: the cookie, not the form post, decides
    expect(page.locator("html")).to_have_attribute("lang", "tr")


def test_account_menu_works_by_keyboard_and_closes_on_escape_or_outside_click(page: Page, login) -> None:
    UserFactory(email="menu@example.org")
    login(page, "menu@example.org", PASSWORD)
    menu = page.locator("details.user-menu")
    summary = menu.locator("summary")

    summary.focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("open", "")
    expect(menu.get_by_role("button", name="Sign out")).to_be_visible()
    page.keyboard.press("Escape")
    expect(menu).not_to_have_attribute("open", "")
    expect(summary).to_be_focused()

    summary.click()
    expect(menu).to_have_attribute("open", "")
    page.locator("main h1").click()
    expect(menu).not_to_have_attribute("open", "")


def test_harness_reports_csp_violations(page: Page, page_errors) -> None:
    """The CSP (script-src 'self') is enforced in these tests, and the page fixture sees violations."""
    page.goto("/accounts/login/")
    page.evaluate("document.body.append(Object.assign(document.createElement('script'), {textContent: '1'}))")
    page.wait_for_timeout(200)
    assert any("Content Security Policy" in message for message in page_errors.messages), page_errors.messages
    # Both signals: Chromium's console message and the securitypolicyviolation event.
    assert any(message.startswith("csp: ") for message in page_errors.messages), page_errors.messages
    page_errors.ignore("Content Security Policy")
