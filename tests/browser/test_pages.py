"""Every page an ASC, an Administrator and a Viewer of customer 1001234 can reach, checked by
axe-core at desktop width, and the main pages at phone width (no sideways scrolling of the page;
wide tables scroll inside their .table-wrap).

The pages come from the navigation the user sees (customer nav, header, user menu), from the URL
resolver (every customer route that takes no object id, so a new page is checked without editing
this file), and from the demo objects (license server, file versions, Shared Web users and groups).
"""

from __future__ import annotations

from collections.abc import Iterator
from http import HTTPStatus

import pytest
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from playwright.sync_api import Page, expect

from accounts.models import User
from activations.models import LicenseServer
from activations.services import server_update
from entitlements.models import SharedWebGroup, SharedWebUser

pytestmark = pytest.mark.browser

PASSWORD = "portal-demo-2026"
CUSTOMER = "1001234"
ROLES = {"asc": "asc@demo.example", "administrator": "admin@demo.example", "viewer": "viewer@demo.example"}
# Files, not pages (CSV / JSON / PEM exports and downloads).
NOT_PAGES = (".csv", ".json", ".pem", ".py", ".ics", "/download/")
ACCOUNT_PAGES = [
    "/access/",
    "/help/roles/",
    "/license-files/verify/",
    "/accounts/email/",
    "/accounts/password/change/",
    "/accounts/2fa/",
    "/accounts/sessions/",
]
PHONE_PAGES = ["entitlements/", "activations/", "users/", "settings/", "audit/"]


def _customer_routes() -> Iterator[str]:
    """Every route under /c/<n>/ whose only argument is the customer number."""

    def walk(patterns, namespace: str | None) -> Iterator[tuple[URLPattern, str | None]]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, pattern.namespace or namespace)
            else:
                yield pattern, namespace

    for pattern, namespace in walk(get_resolver().url_patterns, None):
        name = f"{namespace}:{pattern.name}" if namespace else pattern.name
        if not name:
            continue
        try:
            url = reverse(name, kwargs={"customer_number": CUSTOMER})
        except Exception:  # needs an object id, or is not a customer route
            continue
        if url.startswith(f"/c/{CUSTOMER}/") and not url.endswith(NOT_PAGES):
            yield url


@pytest.fixture
def demo(transactional_db: None) -> dict[str, str]:
    """The demo data, plus a second license file version so the comparison shows a change."""
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
    base = f"/c/{CUSTOMER}/activations/servers/{server.pk}"
    pages = {
        "server": f"{base}/",
        "file": f"{base}/files/1/",
        "diff": f"{base}/files/compare/?from=1&to=2",
        "edit": f"{base}/edit/",
        "activate": f"{base}/activate/",
        "rehost": f"{base}/rehost/",
        "return": f"{base}/return/",
    }
    settings_base = f"/c/{CUSTOMER}/settings/shared-web"
    user = SharedWebUser.objects.filter(customer__number=CUSTOMER).first()
    group = SharedWebGroup.objects.filter(customer__number=CUSTOMER).first()
    if user is not None:
        pages["shared_web_user"] = f"{settings_base}/users/{user.pk}/"
    if group is not None:
        pages["shared_web_group"] = f"{settings_base}/groups/{group.pk}/"
        pages["shared_web_group_members"] = f"{settings_base}/groups/{group.pk}/members/"
        pages["shared_web_group_seats"] = f"{settings_base}/groups/{group.pk}/seats/"
    return pages


def _links(page: Page, selector: str) -> list[str]:
    return page.locator(selector).evaluate_all(
        "links => links.map(a => a.getAttribute('href')).filter(h => h && h.startsWith('/'))"
    )


def _urls_seen_by(page: Page, demo: dict[str, str]) -> list[str]:
    """The links of the navigation, header and breadcrumbs, the customer routes, the demo
    objects' pages and the account pages, each once."""
    page.goto(f"/c/{CUSTOMER}/")
    urls = [*_links(page, "nav.customer-nav a"), *_links(page, "header a"), *_links(page, ".breadcrumbs a")]
    urls += [*_customer_routes(), *demo.values(), *ACCOUNT_PAGES]
    return list(dict.fromkeys(urls))


def _check_page(page: Page, url: str, role: str, demo: dict[str, str], axe_check, buttons_contrast_check, screenshot):
    """Opens one page and checks it with axe (and, for the ASC, every button's contrast).
    Returns its status, or None for a POST-only endpoint."""
    if page.request.get(url, max_redirects=0).status == HTTPStatus.METHOD_NOT_ALLOWED:
        return None  # POST-only endpoint (its form lives on another page); Chromium shows no page
    response = page.goto(url)
    assert response is not None, url
    status = response.status
    assert status in (HTTPStatus.OK, HTTPStatus.FORBIDDEN), f"{role}: {url} answered {status}"
    expect(page.locator("main h1").first).to_be_visible()
    axe_check(page)
    if role == "asc":  # the role that sees every button: each one at rest and hovered
        buttons_contrast_check(page)
        shots = {demo["server"]: "server-detail-asc", demo["diff"]: "file-diff", demo["file"]: "file-detail"}
        if url in shots:
            screenshot(page, shots[url])
    return status


def _assert_sections_covered_and_refused_by_role(checked: dict[str, int], role: str, demo: dict[str, str]) -> None:
    """The walk really covered the sections (and the role decides what is refused)."""
    for must in ("/entitlements/", "/activations/", "/users/", "/settings/", "/audit/", demo["server"]):
        assert any(must in url and status == HTTPStatus.OK for url, status in checked.items()), (must, checked)
    refused = {url for url, status in checked.items() if status == HTTPStatus.FORBIDDEN}
    if role == "viewer":
        assert demo["activate"] in refused
        assert demo["rehost"] in refused
    else:
        assert not refused & {demo["activate"], demo["rehost"], demo["edit"]}, refused


@pytest.mark.parametrize("role", list(ROLES))
def test_every_page_passes_axe(
    demo, page: Page, page_errors, login, axe_check, buttons_contrast_check, screenshot, role: str
) -> None:
    page_errors.ignore("403")  # pages the role may not use answer with the (checked) 403 page
    login(page, ROLES[role], PASSWORD)
    checked: dict[str, int] = {}
    for url in _urls_seen_by(page, demo):
        if url.endswith(NOT_PAGES) or url in checked:
            continue
        status = _check_page(page, url, role, demo, axe_check, buttons_contrast_check, screenshot)
        if status is not None:
            checked[url] = status
    _assert_sections_covered_and_refused_by_role(checked, role, demo)
    if role == "asc":
        page.goto(f"/c/{CUSTOMER}/settings/")
        screenshot(page, "settings.png")
        page.goto("/access/")
        screenshot(page, "access.png")
        page.goto(f"/c/{CUSTOMER}/entitlements/")
        screenshot(page, "entitlements.png")


def _assert_no_page_overflow(page: Page, url: str) -> None:
    scroll_width, inner_width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll_width <= inner_width, f"{url} scrolls sideways at phone width: {scroll_width} > {inner_width}"


def test_main_pages_fit_a_phone(demo, page: Page, login, axe_check, screenshot) -> None:
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto("/accounts/login/")
    _assert_no_page_overflow(page, "/accounts/login/")
    login(page, ROLES["asc"], PASSWORD)
    # Every customer page (from the resolver, so a new one is covered) and the demo objects' pages.
    urls = [*(f"/c/{CUSTOMER}/{path}" for path in PHONE_PAGES), *_customer_routes(), *demo.values(), "/access/"]
    for url in dict.fromkeys(urls):
        if page.request.get(url, max_redirects=0).status == HTTPStatus.METHOD_NOT_ALLOWED:
            continue  # POST-only endpoint
        page.goto(url)
        expect(page.locator("main h1").first).to_be_visible()
        _assert_no_page_overflow(page, url)
        axe_check(page)
        if url.endswith("/entitlements/"):
            screenshot(page, "entitlements-phone.png")
        elif url == demo["server"]:
            screenshot(page, "server-detail-phone.png")
