"""Issue 14 in a real browser: what a new administrator sees on a phone and at 1280 px, the
contrast of every button state on the "Update from license" result, the triad-only host rows,
the coloured diff, and the explanations where people land."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from accounts.models import User
from activations.models import LicenseServer
from activations.services import server_update
from tests.browser.conftest import CONTRAST_JS

pytestmark = pytest.mark.browser

PASSWORD = "portal-demo-2026"
CUSTOMER = "1001234"


@pytest.fixture
def demo(transactional_db: None) -> LicenseServer:
    call_command("seed_demo", verbosity=0)
    server = LicenseServer.objects.get(customer__number=CUSTOMER, name="lic01")
    server_update(
        server=server,
        actor=User.objects.get(email="asc@demo.example"),
        name=server.name,
        host_names=[h.host_name for h in server.hosts.all()],
        lmgrd_port=server.lmgrd_port,
        vendor_port=2055,
    )
    return server


def test_update_from_license_result_buttons_keep_their_contrast(
    demo, page: Page, login, axe_check, buttons_contrast_check
) -> None:
    login(page, "asc@demo.example", PASSWORD)
    page.goto(f"/c/{CUSTOMER}/activations/servers/{demo.pk}/files/1/")
    license_text = page.locator("pre.license-file").inner_text()
    page.goto(f"/c/{CUSTOMER}/activations/update-from-license/")
    page.locator("textarea").first.fill(license_text)
    page.locator("main form [type=submit]").last.click()
    continue_button = page.get_by_role("link", name="Continue to activation with these quantities")
    expect(continue_button).to_be_visible()
    axe_check(page)
    buttons_contrast_check(page)


def test_phone_activation_shows_every_quantity_input(demo, page: Page, login) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, "asc@demo.example", PASSWORD)
    page.goto(f"/c/{CUSTOMER}/activations/servers/{demo.pk}/activate/")
    inputs = page.locator("table input[type=number]")
    assert inputs.count() >= 3
    for index in range(inputs.count()):
        box = inputs.nth(index).bounding_box()
        assert box is not None
        assert box["x"] >= 0, f"quantity input {index} is off screen: {box}"
        assert box["x"] + box["width"] <= 390, f"quantity input {index} is off screen: {box}"
    # Each card says what the number is.
    expect(page.locator("td.stack-input").first).to_have_attribute("data-label", "Activated")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_phone_server_page_shows_download_and_counts(demo, page: Page, login) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, "viewer@demo.example", PASSWORD)
    page.goto(f"/c/{CUSTOMER}/activations/servers/{demo.pk}/")
    download = page.get_by_role("link", name="Download").first
    expect(download).to_be_visible()
    box = download.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= 390
    activated = page.locator("td[data-label='Activated']").first
    expect(activated).to_be_visible()
    assert activated.bounding_box()["x"] + activated.bounding_box()["width"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_host_rows_two_and_three_only_for_a_triad(demo, page: Page, login) -> None:
    login(page, "admin@demo.example", PASSWORD)
    page.goto(f"/c/{CUSTOMER}/activations/servers/add/")
    host_two = page.locator("fieldset[data-triad-only]").first
    expect(page.locator("fieldset").first).to_be_visible()
    expect(host_two).to_be_hidden()
    page.get_by_label("Redundant (triad) server with three hosts").check()
    expect(host_two).to_be_visible()
    expect(page.locator("fieldset[data-triad-only]").nth(1)).to_be_visible()
    page.get_by_label("Redundant (triad) server with three hosts").uncheck()
    expect(host_two).to_be_hidden()


def test_editing_a_single_host_server_offers_no_triad_rows(demo, page: Page, login) -> None:
    login(page, "admin@demo.example", PASSWORD)
    page.goto(f"/c/{CUSTOMER}/activations/servers/{demo.pk}/edit/")
    expect(page.locator("fieldset")).to_have_count(1)


def test_the_diff_marks_changes_with_colour_and_text(demo, page: Page, login) -> None:
    login(page, "viewer@demo.example", PASSWORD)
    page.goto(f"/c/{CUSTOMER}/activations/servers/{demo.pk}/files/compare/?from=1&to=2")
    added = page.locator(".diff-add").first
    removed = page.locator(".diff-del").first
    expect(added).to_be_visible()
    expect(removed).to_be_visible()
    assert added.inner_text().startswith("+")
    assert removed.inner_text().startswith("-")
    added_bg = added.evaluate("e => getComputedStyle(e).backgroundColor")
    removed_bg = removed.evaluate("e => getComputedStyle(e).backgroundColor")
    plain_bg = page.locator("pre.diff").evaluate("e => getComputedStyle(e).backgroundColor")
    assert len({added_bg, removed_bg, plain_bg}) == 3
    assert added.evaluate(CONTRAST_JS) >= 4.5
    assert removed.evaluate(CONTRAST_JS) >= 4.5
    assert page.locator("pre.diff").evaluate("e => getComputedStyle(e).whiteSpace") == "pre-wrap"


def test_login_page_says_which_address_to_use(demo, page: Page) -> None:
    page.goto("/accounts/login/")
    expect(page.locator("[data-entrance-hint]")).to_contain_text("Support Coordinator (ASC) has for you")


def test_support_staff_land_in_the_console(demo, page: Page, login) -> None:
    login(page, "support@example.com", PASSWORD)
    expect(page).to_have_url("/admin/")


def test_unknown_customer_is_the_portals_404(demo, page: Page, page_errors, login) -> None:
    page_errors.ignore("404")
    login(page, "asc@demo.example", PASSWORD)
    response = page.goto("/c/9999999/entitlements/")
    assert response is not None
    assert response.status == HTTPStatus.NOT_FOUND
    expect(page.locator("main h1")).to_have_text("Page not found")


def test_save_and_email_to_chosen_members_ends_on_a_result_page(demo, page: Page, login) -> None:
    login(page, "admin@demo.example", PASSWORD)
    page.goto(f"/c/{CUSTOMER}/activations/servers/{demo.pk}/activate/")
    quantity = page.locator("table input[type=number]").first
    quantity.fill(str(int(quantity.input_value()) + 1))
    page.get_by_role("button", name="Review").click()
    asc_box = page.get_by_label(re.compile(r"asc@demo\.example\)? · Support Coordinator"))
    expect(asc_box).to_be_checked()  # the ASC by default
    page.get_by_label(re.compile(r"viewer@demo\.example\)? · License Portal Viewer")).check()
    page.get_by_role("button", name="Save & Email").click()
    expect(page).to_have_url(re.compile(r"/activate/saved/[0-9a-f]+/$"))
    emailed = page.locator("[data-emailed-to]")
    expect(emailed).to_contain_text("asc@demo.example")
    expect(emailed).to_contain_text("viewer@demo.example")
    expect(page.get_by_role("link", name=re.compile(r"Download license file version \d+"))).to_be_visible()
    # Back does not offer a live review form: the result page replaced it.
    expect(page.get_by_role("button", name="Save & Email")).to_have_count(0)


def test_the_entitlements_table_fits_1280_px(demo, page: Page, login) -> None:
    login(page, "viewer@demo.example", PASSWORD)
    page.goto(f"/c/{CUSTOMER}/entitlements/?status=all")
    table = page.get_by_role("table", name=re.compile(r"entitlement lines"))
    expect(table).to_be_visible()
    scroll, client = table.locator("xpath=..").evaluate("w => [w.scrollWidth, w.clientWidth]")
    assert scroll <= client, f"the entitlements table scrolls sideways at 1280 px: {scroll} > {client}"
    headers = table.locator("thead th").all_inner_texts()
    for name in ("Line", "Product", "Quantity", "Activated", "Available", "Usage", "Term", "TECS end", "Model"):
        assert name in headers, headers
    # What collapsed is still there: the status under the line, the feature under the product,
    # both dates of the term, the usage recommendation under the bar.
    first = table.locator("tbody tr").first
    expect(first.locator("th .badge")).to_be_visible()
    expect(first.locator("code.feature")).to_be_visible()
    expect(first.locator("td.term")).to_contain_text("–")
    expect(table.locator("p.recommendation").first).to_be_visible()


def test_an_administrator_returns_then_retires_a_server(demo, page: Page, login) -> None:
    login(page, "admin@demo.example", PASSWORD)
    page.goto(f"/c/{CUSTOMER}/activations/servers/{demo.pk}/")
    expect(page.locator("[data-retire]")).to_have_count(0)  # licenses first
    page.get_by_role("link", name="Return all licenses").click()
    page.locator("main form").get_by_role("button").last.click()
    expect(page.locator(".messages")).to_contain_text("returned to the pool")
    page.locator("[data-retire] summary").click()
    page.get_by_role("button", name="Yes, retire it").click()
    expect(page).to_have_url(f"/c/{CUSTOMER}/activations/")
    expect(page.locator(".messages")).to_contain_text("is retired")
    expect(page.get_by_role("link", name="lic01", exact=True)).to_have_count(0)


def test_confirmation_dialogs_are_not_clipped_on_a_phone(demo, page: Page, login) -> None:
    """A confirmation opens in the flow of the page, inside the viewport, whole and usable."""
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, "asc@demo.example", PASSWORD)
    page.goto(f"/c/{CUSTOMER}/users/")
    confirm = page.locator("details.confirm").first
    confirm.locator("summary").click()
    button = confirm.get_by_role("button")
    expect(button).to_be_visible()
    box = confirm.locator("form").bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 390, box
    # Whole: the dialog's own width is not cut by a scrolling frame around it.
    assert confirm.locator("form").evaluate("f => f.scrollWidth <= f.clientWidth + 1")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
