"""The support console (/admin/) under the portal's Content-Security-Policy.

Django's admin ships its own templates and JavaScript (changelist actions, filters, the
autocomplete widget, calendars, the theme toggle); the portal's CSP allows no inline script
or style. The demo staff user walks every page of the console: the index, each app, and for
every registered ModelAdmin (from ``admin.site._registry``, so a new one is covered without
editing this file) its changelist, its add form where it may add, every extra page it
registers (the CSV imports), and the change, history and delete pages of one object, using
the autocomplete and calendar widgets of the forms; then the select-all checkbox, a search and
a filter click on each changelist that has them. The ``page`` fixture fails the test on any
console error, CSP violation (``securitypolicyviolation``) or uncaught exception; each
response must also carry the policy itself.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from decimal import Decimal
from http import HTTPStatus
from typing import Any

import pytest
from allauth.mfa.models import Authenticator
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db.models import Model
from django.test import RequestFactory
from django.urls import NoReverseMatch, reverse
from playwright.sync_api import Page, Response, expect

from accounts.demo import DEMO_PASSWORD
from accounts.models import Customer, User
from accounts.roles import Role
from accounts.services import membership_add
from activations.models import RehostQuota
from entitlements.models import BudgetAlert, ElasticAccount
from tests.factories import BudgetAlertFactory

pytestmark = pytest.mark.browser

STAFF = "support@example.com"  # accounts/demo.py
REQUIRED_DIRECTIVES = {
    "default-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
}


def _policy(response: Response) -> dict[str, list[str]]:
    header = response.headers.get("content-security-policy")
    assert header, f"{response.url} has no Content-Security-Policy header"
    directives = {}
    for directive in header.split(";"):
        name, *values = directive.split()
        directives[name] = values
    return directives


def _assert_policy(response: Response) -> None:
    policy = _policy(response)
    for name, value in REQUIRED_DIRECTIVES.items():
        assert policy.get(name) == [value], f"{response.url}: {name} is {policy.get(name)}"
    script_src = policy.get("script-src", policy["default-src"])
    assert "'unsafe-inline'" not in script_src, f"{response.url}: script-src allows inline script"
    assert "'unsafe-eval'" not in script_src, f"{response.url}: script-src allows eval"


def _admin_pages(staff: User) -> Iterator[tuple[str, str]]:
    """(what, url) for every page of the console the staff user may open."""
    request = RequestFactory().get("/admin/")
    request.user = staff
    yield "index", reverse("admin:index")
    # admin:password_change is allauth's page now (tests/security/test_console_login.py).
    app_labels = sorted({model._meta.app_label for model in admin.site._registry})
    for app_label in app_labels:
        yield f"app {app_label}", reverse("admin:app_list", args=[app_label])
    for model, model_admin in sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label):
        if not model_admin.has_view_or_change_permission(request):
            continue
        label = model._meta.label
        for pattern in model_admin.get_urls():
            name = getattr(pattern, "name", None)
            if not name or name.endswith(("_autocomplete",)):
                continue
            if name.endswith("_add") and not model_admin.has_add_permission(request):
                continue
            try:
                url = reverse(f"admin:{name}")
            except NoReverseMatch:  # takes an object id: see below
                continue
            yield f"{label} {name}", url
        obj: Model | None = model_admin.get_queryset(request).order_by("pk").first()
        if obj is None:
            yield f"{label} object", ""  # reported by the test: every model needs one
            continue
        info = model._meta.app_label, model._meta.model_name
        yield f"{label} change", reverse("admin:{}_{}_change".format(*info), args=[obj.pk])
        yield f"{label} history", reverse("admin:{}_{}_history".format(*info), args=[obj.pk])
        if model_admin.has_delete_permission(request, obj):
            yield f"{label} delete", reverse("admin:{}_{}_delete".format(*info), args=[obj.pk])


@pytest.fixture
def console(transactional_db: None) -> User:
    """The demo data, plus the rows the demo leaves empty, so every model has an object."""
    call_command("seed_demo", verbosity=0)
    staff = User.objects.get(email=STAFF)
    customer = Customer.objects.get(number="1001234")
    # An invitation by support: an audit event and notifications, as the console shows them.
    membership_add(customer=customer, actor=staff, email="console-check@demo.example", role=Role.VIEWER)
    RehostQuota.objects.get_or_create(customer=customer, defaults={"rehosts_per_year": 6})
    Group.objects.get_or_create(name="Support")
    Authenticator.objects.get_or_create(
        user=User.objects.get(email="viewer@demo.example"),
        type=Authenticator.Type.TOTP,
        defaults={"data": {"secret": "x"}},
    )
    account = ElasticAccount.objects.order_by("pk").first()
    if account is not None and not BudgetAlert.objects.exists():
        BudgetAlertFactory(
            customer=account.customer, month=datetime.date(2026, 1, 1), threshold=80, consumed=Decimal(1)
        )
    return staff


def _goto(page: Page, what: str, url: str) -> Response:
    response = page.goto(url)
    assert response is not None, (what, url)
    assert response.status == HTTPStatus.OK, f"{what}: {url} answered {response.status}"
    _assert_policy(response)
    expect(page.locator("#content")).to_be_visible()
    return response


def _use_widgets(page: Page) -> set[str]:
    """Uses the admin's JavaScript widgets on a form once: the autocomplete (select2 and its
    JSON view) and the calendar shortcuts. Returns which ones the form had."""
    used = set()
    if page.locator(".select2-selection").count():
        page.locator(".select2-selection").first.click()
        expect(page.locator(".select2-results__option").first).to_be_visible()
        page.keyboard.press("Escape")
        used.add("autocomplete")
    if page.locator(".datetimeshortcuts a").count():
        page.locator(".datetimeshortcuts a").first.click()  # "Today" / "Now"
        used.add("calendar")
    return used


def _visit_every_page(page: Page, staff: User) -> tuple[dict[str, str], list[str], set[str]]:
    """Opens each console page once (using the widgets of the forms). Returns the pages
    visited (what -> url), the models without an object, and the widgets used."""
    visited: dict[str, str] = {}
    missing = []
    widgets: set[str] = set()
    for what, url in _admin_pages(staff):
        if not url:
            missing.append(what)
            continue
        if url in visited.values():
            continue
        _goto(page, what, url)
        if what.endswith(("_add", " change")):
            widgets |= _use_widgets(page)
        visited[what] = url
    return visited, missing, widgets


def _navigate(page: Page, what: str, act: Callable[[], None]) -> None:
    """A navigation the changelist's JavaScript or form makes: answered, under the CSP."""
    with page.expect_navigation() as navigation:
        act()
    assert navigation.value.status == HTTPStatus.OK, what
    _assert_policy(navigation.value)
    expect(page.locator("#content")).to_be_visible()


def _search_and_filter(page: Page, url: str) -> tuple[bool, bool]:
    """Selects all rows, searches and filters one changelist. Returns (searched, filtered)."""
    _goto(page, "changelist", url)
    if page.locator("#action-toggle").count():
        page.locator("#action-toggle").check()  # actions.js: select all, the action bar appears
    searched = filtered = False
    if page.locator("#searchbar").count():
        page.locator("#searchbar").fill("demo")
        _navigate(page, f"search of {url}", lambda: page.locator("#searchbar").press("Enter"))
        searched = True
        _goto(page, "changelist", url)
    choice = page.locator("#changelist-filter li:not(.selected) a")
    if choice.count():
        _navigate(page, f"filter of {url}", lambda: choice.first.click())
        filtered = True
    return searched, filtered


def test_every_admin_page_runs_under_the_csp(console: User, page: Page, login: Any) -> None:
    login(page, STAFF, DEMO_PASSWORD)
    visited, missing, widgets = _visit_every_page(page, console)
    assert not missing, f"no object to open the change form of: {missing}"
    assert widgets == {"autocomplete", "calendar"}, widgets
    changelists = [url for what, url in visited.items() if what.endswith("_changelist")]
    covered = {what.split()[0] for what in visited if what.endswith("_changelist")}
    assert covered == {model._meta.label for model in admin.site._registry}, visited
    assert any("_import" in what for what in visited), "the CSV import pages were not reached"

    outcomes = [_search_and_filter(page, url) for url in changelists]
    assert any(searched for searched, _filtered in outcomes), "no changelist has a search box"
    assert any(filtered for _searched, filtered in outcomes), "no changelist has a filter"
