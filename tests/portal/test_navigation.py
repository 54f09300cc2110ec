"""The matrix decides everything: the navigation, staff decisions and template permission
names are all derived from ``accounts/roles.py`` and ``accounts/access.py``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.template import Context, Template
from django.template.utils import get_app_template_dirs
from django.urls import resolve, reverse

from accounts.access import CustomerAccess, CustomerViewMixin, UnknownPermission
from accounts.roles import ROLE_PERMISSIONS, Permission, Role
from portal.navigation import CUSTOMER_NAV, customer_nav
from tests.activations.helpers import flex_customer
from tests.factories import CustomerFactory, MembershipFactory

# --- Navigation ---------------------------------------------------------------------------


@pytest.mark.parametrize("item", CUSTOMER_NAV, ids=lambda item: item.url_name)
def test_every_tab_opens_a_customer_view_that_declares_its_permission(item) -> None:
    view_class = resolve(reverse(item.url_name, args=["1001234"])).func.view_class
    assert issubclass(view_class, CustomerViewMixin)
    assert item.permission is view_class.required_permission


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role))
def test_the_navigation_offers_exactly_what_the_role_may_open(role, member_client) -> None:
    customer = flex_customer()
    client = member_client(role=role, customer=customer)
    html = client.get(reverse("entitlements:list", args=[customer.number])).content.decode()
    nav = html[html.index('class="customer-nav"') : html.index("</nav>", html.index('class="customer-nav"'))]
    linked = re.findall(r'<a href="([^"]+)"', nav)
    expected = [
        reverse(item.url_name, args=[customer.number])
        for item in CUSTOMER_NAV
        if item.permission in ROLE_PERMISSIONS[role]
    ]
    assert linked == expected
    assert 'aria-current="page"' in nav.split(reverse("entitlements:list", args=[customer.number]))[1][:40]


@pytest.mark.django_db
def test_a_tab_whose_permission_the_role_lacks_is_not_offered(monkeypatch) -> None:
    """Today every tab needs only VIEW; a page for managers only is hidden from viewers."""
    customer = flex_customer()
    viewer = MembershipFactory(customer=customer, role=Role.VIEWER)
    asc = MembershipFactory(customer=customer, role=Role.ASC)
    monkeypatch.setattr(
        "portal.navigation.view_permission",
        lambda name: Permission.MANAGE_USERS if name == "users:list" else Permission.VIEW,
    )
    users_url = reverse("users:list", args=[customer.number])
    assert users_url not in [link.url for link in customer_nav(CustomerAccess(customer, viewer))]
    assert users_url in [link.url for link in customer_nav(CustomerAccess(customer, asc))]


@pytest.mark.django_db
def test_the_activations_tab_follows_the_visibility_rule(member_client) -> None:
    hidden = CustomerFactory(flexnet_managed=False)
    client = member_client(role=Role.ASC, customer=hidden)
    html = client.get(reverse("entitlements:list", args=[hidden.number])).content.decode()
    assert reverse("activations:list", args=[hidden.number]) not in html
    shown = flex_customer()
    client = member_client(role=Role.ASC, customer=shown)
    html = client.get(reverse("entitlements:list", args=[shown.number])).content.decode()
    assert reverse("activations:list", args=[shown.number]) in html


# --- Permission names in templates --------------------------------------------------------

_TAG = re.compile(r"{[{%](.*?)[%}]}", re.S)
_CAN = re.compile(r"(?<![\w.])(?:[\w.]+\.)?can\.(\w+)")


def _template_files() -> list[Path]:
    dirs = [Path(d) for engine in settings.TEMPLATES for d in engine.get("DIRS", [])]
    dirs += [Path(d) for d in get_app_template_dirs("templates")]
    return sorted(path for directory in dirs for path in directory.rglob("*") if path.is_file())


def test_every_template_names_only_existing_permissions() -> None:
    """Scans every template the engine can load (project, apps, third-party): a permission
    named in a tag or variable that is not in ``Permission`` fails here, by file and name."""
    files = _template_files()
    known = {permission.value for permission in Permission}
    used: dict[str, set[str]] = {}
    for path in files:
        for tag in _TAG.findall(path.read_text(encoding="utf-8", errors="replace")):
            for name in _CAN.findall(tag):
                used.setdefault(name, set()).add(str(path))
    unknown = {name: paths for name, paths in used.items() if name not in known}
    assert not unknown, f"templates name permissions that do not exist: {unknown}"
    # The scan really reads the project's templates (it would pass vacuously otherwise).
    assert Path(settings.BASE_DIR, "templates", "includes", "customer_nav.html") in files
    assert {"activate_entitlements", "manage_users", "manage_licensing_settings"} <= set(used)


def test_the_scan_catches_a_misspelt_permission() -> None:
    assert _CAN.findall(" if can.activate_entitelments ") == ["activate_entitelments"]
    assert _CAN.findall(" if access.can.manage_users and x ") == ["manage_users"]


@pytest.mark.django_db
def test_a_misspelt_permission_fails_the_page_instead_of_hiding_the_button() -> None:
    membership = MembershipFactory(role=Role.ASC)
    access = CustomerAccess(membership.customer, membership)
    context = Context({"can": access.can})
    assert Template("{% if can.activate_entitlements %}yes{% endif %}").render(context) == "yes"
    with pytest.raises(UnknownPermission, match="activate_entitelments"):
        Template("{% if can.activate_entitelments %}yes{% endif %}").render(context)


# --- Staff decisions ----------------------------------------------------------------------


def test_staff_decisions_go_through_authorize_staff() -> None:
    """No service, view or console module reads ``is_staff`` to decide: ``accounts.access``
    (``is_support_staff`` / ``authorize_staff``) is the one place."""
    root = Path(settings.BASE_DIR)
    pattern = re.compile(r"\b(?:actor|request\.user|self\.request\.user)\.is_staff\b")
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for app in ("accounts", "activations", "entitlements", "portal")
        for path in (root / app).rglob("*.py")
        if "migrations" not in path.parts and path.name != "access.py"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if pattern.search(line)
    ]
    assert not offenders
