"""The role journeys of issue 6 in a real browser, on the demo data (``seed_demo``):

- the ASC adds a Viewer, makes them an Administrator, and sees the email and the audit entry
  (in English, and again in Turkish after switching with the header's language switcher);
- the Administrator adds a license server, activates quantities, reviews, saves and downloads
  the license file, then rehosts the server;
- the Viewer reads the entitlements, downloads a license file and is refused activation.

axe-core runs on every page visited; the main pages are saved as screenshots.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import translation
from playwright.sync_api import Page, expect

from accounts.roles import Role

pytestmark = pytest.mark.browser

PASSWORD = "portal-demo-2026"
CUSTOMER = "1001234"
BASE = f"/c/{CUSTOMER}"


@pytest.fixture
def demo(transactional_db: None) -> None:
    """The demo data; the emails the seeder may send are not part of the journey."""
    call_command("seed_demo", verbosity=0)
    mail.outbox.clear()


def translator(language: str) -> Callable[[str], str]:
    """What the page should show for an English msgid: the catalogue's translation (or the
    msgid itself while the catalogue lacks it), so the test checks the page against the .po."""

    def gettext(message: str) -> str:
        with translation.override(language):
            return translation.gettext(message)

    return gettext


# --- ASC --------------------------------------------------------------------------------------


def _asc_journey(page: Page, login, axe_check, screenshot, *, language: str) -> None:
    _ = translator(language)
    new_user = "nobody@demo.example"  # verified, not yet a member: becomes one at once

    if language != "en":
        page.goto("/accounts/login/")
        page.locator(f".language-switcher button[value={language}]").click()
        expect(page.locator("html")).to_have_attribute("lang", language)
    login(page, "asc@demo.example", PASSWORD)
    expect(page.locator("html")).to_have_attribute("lang", language)
    if "/access/" in page.url:  # more than one way in: the access page lists the customers
        axe_check(page)
        page.locator("main").get_by_role("link", name=re.compile(CUSTOMER)).first.click()

    nav = page.locator("nav.customer-nav")
    for label in ("Entitlements", "Activations", "Users", "Settings", "Audit log"):
        expect(nav.get_by_role("link", name=_(label), exact=True)).to_be_visible()
    axe_check(page)

    nav.get_by_role("link", name=_("Users"), exact=True).click()
    expect(page.locator("main h1")).to_have_text(_("Portal users"))
    axe_check(page)
    if language == "en":
        screenshot(page, "users.png")

    add = page.locator("section", has=page.locator("#add-title"))
    add.get_by_label(_("Email address")).fill(new_user)
    add.locator("select[name=role]").select_option(Role.VIEWER.value)
    add.get_by_role("button", name=_("Add user")).click()

    expect(page.locator(".messages")).to_contain_text(
        _("An invitation was emailed to %(email)s: they join when they accept it.") % {"email": new_user}
    )
    # The person accepts on their access page (#12 item 5: nobody is added without consent).
    from accounts.models import Invitation, User
    from accounts.services import invitation_accept

    invitation = Invitation.objects.pending().get(email=new_user)
    invitation_accept(invitation=invitation, actor=User.objects.get(email=new_user))
    page.reload()
    row = page.locator("main table tbody tr", has_text=new_user)
    with translation.override(language):
        viewer_label, admin_label = str(Role.VIEWER.label), str(Role.ADMINISTRATOR.label)
    expect(row).to_contain_text(viewer_label)
    axe_check(page)

    mail.outbox.clear()
    row.locator("select[name=role]").select_option(Role.ADMINISTRATOR.value)
    row.get_by_role("button", name=_("Change role")).click()
    expect(page.locator(".messages")).to_contain_text(
        _("%(email)s now has the role %(role)s.") % {"email": new_user, "role": admin_label}
    )
    expect(page.locator("main table tbody tr", has_text=new_user)).to_contain_text(admin_label)
    axe_check(page)

    notified = [m for m in mail.outbox if "asc@demo.example" in m.to]
    assert notified, f"the ASC was not emailed about the role change: {[(m.to, m.subject) for m in mail.outbox]}"
    assert any(new_user in m.body for m in notified), [m.body for m in notified]

    page.locator("nav.customer-nav").get_by_role("link", name=_("Audit log"), exact=True).click()
    expect(page.locator("main h1")).to_have_text(_("Audit log"))
    newest = page.locator("main table tbody tr").first
    expect(newest).to_contain_text(_("Role changed"))
    expect(newest).to_contain_text(new_user)
    expect(newest).to_contain_text("asc@demo.example")
    axe_check(page)
    screenshot(page, "audit.png" if language == "en" else f"audit-{language}.png")


def test_asc_adds_a_viewer_and_makes_them_administrator(demo, page: Page, login, axe_check, screenshot) -> None:
    _asc_journey(page, login, axe_check, screenshot, language="en")


def test_asc_journey_in_turkish(demo, page: Page, login, axe_check, screenshot) -> None:
    # Every label above was read through the Turkish catalogue, so the page shows what the .po says.
    _asc_journey(page, login, axe_check, screenshot, language="tr")


# --- Administrator ----------------------------------------------------------------------------


def _download_text(download) -> str:
    path = download.path()
    assert path, "the download did not complete"
    return Path(path).read_text(encoding="utf-8")


def test_administrator_adds_a_server_activates_downloads_and_rehosts(
    demo, page: Page, login, axe_check, screenshot
) -> None:
    login(page, "admin@demo.example", PASSWORD)
    page.goto(f"{BASE}/activations/")
    axe_check(page)
    screenshot(page, "activations.png")

    page.get_by_role("link", name="Add a license server").first.click()
    expect(page.locator("main h1")).to_have_text("Add a license server")
    axe_check(page)
    page.locator("#id_name").fill("lic02")
    page.locator("#id_host_name_1").fill("lic02.demo.example")
    page.locator("#id_hostid_type_1").select_option("ETHER")
    page.locator("#id_host_id_1").fill("0A1B2C3D4E5F")
    page.locator("main form [type=submit]").last.click()

    # Straight on to the activation table of the new server.
    expect(page.locator("main h1")).to_have_text("Activate entitlements on lic02")
    expect(page.locator(".messages")).to_contain_text("License server lic02 added")
    axe_check(page)
    page.get_by_label("Activated on this server, line 1001234-0001").fill("3")
    page.get_by_label("Activated on this server, line 1001234-0002").fill("8")
    screenshot(page, "activate.png")
    page.get_by_role("button", name="Review").click()

    expect(page.locator("main h1")).to_have_text("Review the changes on lic02")
    changes = page.locator("main table tbody tr")
    expect(changes).to_have_count(2)
    expect(changes.filter(has_text="1001234-0001")).to_contain_text("+3")
    expect(changes.filter(has_text="1001234-0002")).to_contain_text("+8")
    axe_check(page)
    screenshot(page, "review.png")

    with page.expect_download() as info:
        page.get_by_role("button", name="Save & Download").click()
    # The browser is on the result page (no live review form left behind) and the download
    # started by itself from there.
    expect(page).to_have_url(re.compile(r"/activate/saved/[0-9a-f]+/$"))
    expect(page.locator("[data-saved]")).to_contain_text("license file version 1")
    expect(page.get_by_role("link", name="Download license file version 1")).to_be_visible()
    axe_check(page)
    text = _download_text(info.value)
    assert text.startswith("# "), text[:200]
    assert f"license file for customer {CUSTOMER}" in text.splitlines()[0]
    assert "server lic02, version 1" in text.splitlines()[0]
    assert re.search(r"^SERVER lic02\.demo\.example 0A1B2C3D4E5F\b", text, re.MULTILINE), text
    increments = re.findall(r"^INCREMENT (\S+) ", text, re.MULTILINE)
    assert sorted(increments) == ["anshpc_pack", "ansys"], increments

    page.goto(f"{BASE}/activations/")
    page.get_by_role("link", name="lic02", exact=True).first.click()
    expect(page.locator("main h1")).to_have_text("License server lic02")
    files = page.locator("section", has=page.locator("#files-title")).locator("tbody tr")
    expect(files).to_have_count(1)
    axe_check(page)
    screenshot(page, "server-detail.png")

    page.locator(".page-header__actions").get_by_role("link", name="Rehost").click()
    expect(page.locator("main h1")).to_have_text("Rehost lic02")
    axe_check(page)
    page.locator("#id_host_id_1").fill("0A1B2C3D4E60")
    page.locator("main form").get_by_role("button", name="Review the rehost").click()
    # The review: old host -> new host and the allowance after it; nothing happened yet.
    review = page.locator("[data-rehost-review]")
    expect(review).to_contain_text("0A1B2C3D4E5F")
    expect(review).to_contain_text("0A1B2C3D4E60")
    expect(page.locator("[data-allowance-after]")).to_contain_text("rehosts left")
    axe_check(page)
    page.get_by_role("button", name="Confirm the rehost").click()

    expect(page.locator(".messages")).to_contain_text("Server rehosted: license file version 2")
    expect(files).to_have_count(2)
    expect(files.first).to_contain_text("2")
    expect(files.first).to_contain_text("current")
    expect(page.locator("main dl.facts")).to_contain_text("0A1B2C3D4E60")
    axe_check(page)
    with page.expect_download() as info:
        files.first.get_by_role("link", name="Download").click()
    rehosted = _download_text(info.value)
    assert "0A1B2C3D4E60" in rehosted
    assert "0A1B2C3D4E5F" not in rehosted
    assert "version 2" in rehosted.splitlines()[0]


# --- Viewer -----------------------------------------------------------------------------------


def test_viewer_reads_downloads_and_is_refused_activation(
    demo, page: Page, page_errors, login, axe_check, screenshot
) -> None:
    login(page, "viewer@demo.example", PASSWORD)
    page.goto(f"{BASE}/entitlements/")
    expect(page.locator("main h1")).to_have_text("Entitlements")
    table = page.locator("main table").filter(has=page.locator("caption", has_text="entitlement lines"))
    expect(table.locator("tbody tr")).to_have_count(6)
    expect(table.locator("tbody tr", has_text="1001234-0001")).to_contain_text("Mechanical Enterprise")

    usage = page.locator("figure.chart--usage svg[role=img]")
    expect(usage).to_be_visible()
    expect(usage).to_have_attribute("aria-labelledby", "usage-svg-title usage-svg-desc")
    expect(usage.locator("text.chart__label", has_text="Mechanical Enterprise")).to_have_count(1)
    expect(usage.locator("text.chart__value", has_text="4/10")).to_have_count(1)
    timeline = page.locator("figure.chart--timeline svg[role=img]")
    expect(timeline.locator("line.chart__today")).to_have_count(1)
    expect(timeline.locator("polygon.chart__bar--tecs").first).to_be_attached()
    page.get_by_text("Usage per product as a table").click()
    fallback = page.locator("details", has_text="Usage per product as a table").locator("table")
    expect(fallback.locator("tbody tr", has_text="Mechanical Enterprise")).to_contain_text("40%")
    axe_check(page)
    screenshot(page, "entitlements-viewer.png")

    page.locator("nav.customer-nav").get_by_role("link", name="Activations", exact=True).click()
    expect(page.locator("main")).not_to_contain_text("Add a license server")
    page.get_by_role("link", name="lic01", exact=True).first.click()
    expect(page.locator("main h1")).to_have_text("License server lic01")
    actions = page.locator(".page-header__actions")
    expect(actions.get_by_role("link", name="Activate entitlements")).to_have_count(0)
    expect(actions.get_by_role("link", name="Rehost")).to_have_count(0)
    axe_check(page)
    server_url = page.url

    with page.expect_download() as info:
        page.locator("section", has=page.locator("#files-title")).get_by_role("link", name="Download").first.click()
    text = _download_text(info.value)
    assert "server lic01" in text.splitlines()[0]
    assert re.search(r"^INCREMENT ansys ", text, re.MULTILINE), text

    page_errors.ignore("403")
    response = page.goto(server_url.rstrip("/") + "/activate/")
    assert response is not None
    assert response.status == HTTPStatus.FORBIDDEN
    expect(page.locator("main h1")).to_have_text("Your role does not allow this")
    expect(page.locator("main form input[type=number]")).to_have_count(0)
    axe_check(page)
    screenshot(page, "forbidden.png")
