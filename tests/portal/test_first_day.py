"""What a license administrator hits on a first day (issue 14): where people land, what a
refusal says, the portal's own 404, links in emails that follow the served port."""

from __future__ import annotations

import re
import subprocess
from http import HTTPStatus
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from accounts.roles import Role
from tests.factories import CustomerFactory, CustomerRenewalSettingsFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]


def test_make_run_on_another_port_links_emails_to_that_port() -> None:
    plan = subprocess.run(
        ["make", "-n", "run", "PORT=8123"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    serve = next(line for line in plan.splitlines() if "runserver" in line)
    assert "PORTAL_BASE_URL=http://127.0.0.1:8123 " in serve
    assert serve.endswith("runserver 127.0.0.1:8123")


def test_an_explicit_base_url_wins_over_the_port() -> None:
    plan = subprocess.run(
        ["make", "-n", "run", "PORT=8123", "PORTAL_BASE_URL=https://licenses.example.com"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "PORTAL_BASE_URL=https://licenses.example.com " in plan


def test_invitation_links_use_the_base_url(member_client, settings, mailoutbox, django_capture_on_commit_callbacks):
    settings.PORTAL_BASE_URL = "http://127.0.0.1:8123"
    customer = CustomerFactory()
    client = member_client(role=Role.ASC, customer=customer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("users:add", args=[customer.number]),
            {"email": "new.person@example.org", "role": Role.VIEWER.value},
        )
    assert response.status_code == HTTPStatus.FOUND
    bodies = [m.body for m in mailoutbox if "new.person@example.org" in m.to]
    assert bodies, "the invitation was not sent"
    assert "http://127.0.0.1:8123/" in bodies[0]
    assert "127.0.0.1:8000" not in bodies[0]


@pytest.mark.parametrize("debug", [True, False])
def test_an_unknown_customer_is_the_portals_own_404(client: Client, settings, debug: bool) -> None:
    settings.DEBUG = debug
    client.force_login(UserFactory())
    response = client.get("/c/9999999/entitlements/")
    assert response.status_code == HTTPStatus.NOT_FOUND
    html = response.content.decode()
    assert "Page not found" in html
    assert "Using the URLconf" not in html  # Django's technical page under DEBUG


def test_support_staff_land_in_the_console(client: Client) -> None:
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin:index")
    assert response.status_code == HTTPStatus.OK


def test_staff_who_are_also_members_land_on_their_access_page(client: Client) -> None:
    staff = UserFactory(is_staff=True)
    MembershipFactory(user=staff, role=Role.VIEWER)
    client.force_login(staff)
    assert client.get("/")["Location"] == reverse("access")


def test_the_access_page_points_staff_to_the_console(client: Client) -> None:
    client.force_login(UserFactory(is_staff=True))
    html = client.get(reverse("access")).content.decode()
    assert "data-staff-landing" in html
    assert reverse("admin:index") in html


def test_the_no_access_page_tells_a_would_be_asc_what_to_do(client: Client) -> None:
    client.force_login(UserFactory())
    html = client.get(reverse("access")).content.decode()
    assert "data-would-be-asc" in html
    assert "registered when the licenses were purchased" in html
    assert "data-staff-landing" not in html


@pytest.mark.parametrize("url_name", ["account_login", "account_signup"])
def test_login_and_signup_say_which_address_to_use(client: Client, url_name: str) -> None:
    html = client.get(reverse(url_name)).content.decode()
    assert "data-entrance-hint" in html
    assert "your company's Support Coordinator (ASC) has for you" in html


def test_a_viewer_is_told_to_ask_their_asc(member_client) -> None:
    customer = CustomerFactory()
    client = member_client(role=Role.VIEWER, customer=customer)
    response = client.get(reverse("users:bulk", args=[customer.number]))
    assert response.status_code == HTTPStatus.FORBIDDEN
    html = response.content.decode()
    assert 'data-403-advice="asc"' in html
    assert "This needs the permission" in html


@pytest.mark.parametrize("role", [Role.ASC, Role.ADMINISTRATOR])
def test_a_refusal_reserved_to_support_never_says_ask_your_asc(role, member_client) -> None:
    customer = CustomerFactory()
    client = member_client(role=role, customer=customer)
    target = MembershipFactory(customer=customer, role=Role.VIEWER)
    response = client.post(reverse("users:role", args=[customer.number, target.pk]), {"role": Role.ASC.value})
    assert response.status_code == HTTPStatus.FORBIDDEN
    html = response.content.decode()
    assert 'data-403-advice="support"' in html
    assert "ask your ASC" not in html.lower()
    assert "This needs the permission" not in html  # the role has the page's permission


# --- Why there is no Activations tab (item 1) -------------------------------------------------


def _customer(*, model: str, managed: bool):
    from entitlements.models import LicensingModel
    from tests.factories import EntitlementFactory, ProductFactory

    customer = CustomerFactory(flexnet_managed=managed)
    EntitlementFactory(customer=customer, product=ProductFactory(licensing_model=LicensingModel(model)))
    return customer


@pytest.mark.parametrize(
    ("model", "managed", "reason", "says"),
    [
        ("shared_web", True, "no_flexnet", "has no FlexNet products"),
        ("elastic", False, "no_flexnet", "has no FlexNet products"),
        ("flexnet", False, "not_managed", "contact your account manager or support"),
        ("flexnet", True, "", ""),
    ],
)
def test_the_entitlements_and_access_pages_say_why_activations_are_absent(
    member_client, model, managed, reason, says
) -> None:
    customer = _customer(model=model, managed=managed)
    client = member_client(role=Role.VIEWER, customer=customer)
    for url in (reverse("entitlements:list", args=[customer.number]), reverse("access")):
        html = client.get(url).content.decode()
        if reason:
            assert f'data-activations-absent="{reason}"' in html, url
            assert says in html, url
            assert "support@example.com" in html or reason == "no_flexnet"
        else:
            assert "data-activations-absent" not in html, url
    tabs = client.get(reverse("entitlements:list", args=[customer.number])).content.decode()
    assert (reverse("activations:list", args=[customer.number]) in tabs) == (not reason)


def test_the_explanation_follows_a_change_of_management(member_client, django_capture_on_commit_callbacks) -> None:
    from accounts.services import customer_update

    customer = _customer(model="flexnet", managed=False)
    client = member_client(role=Role.ASC, customer=customer)
    url = reverse("entitlements:list", args=[customer.number])
    assert 'data-activations-absent="not_managed"' in client.get(url).content.decode()
    customer_update(customer=customer, actor=UserFactory(is_staff=True), name=customer.name, flexnet_managed=True)
    assert "data-activations-absent" not in client.get(url).content.decode()


# --- Wording (item 14) --------------------------------------------------------------------------


def test_the_default_brand_name_is_translated_and_a_custom_one_kept(client: Client, settings) -> None:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "tr"
    assert "Lisans Portalı" in client.get(reverse("account_login")).content.decode()
    settings.PORTAL_BRAND_NAME = "Acme Licensing"
    html = client.get(reverse("account_login")).content.decode()
    assert "Acme Licensing" in html
    assert "Lisans Portalı<" not in html


def test_turkish_uses_one_word_for_rehost() -> None:
    from tests.portal.test_i18n import _po_entries

    rehost = [e for e in _po_entries() if "rehost" in e["msgid"].lower()]
    assert len(rehost) > 5
    other_words = [(e["msgid"], text) for e in rehost for text in e["msgstr"].values() if "taşı" not in text.lower()]
    assert not other_words, f"'rehost' is taşıma/taşımak in Turkish: {other_words}"


def test_dates_use_the_languages_short_format_everywhere() -> None:
    """No template formats a date its own way: days are SHORT_DATE(TIME)_FORMAT, months
    YEAR_MONTH_FORMAT, machine values "c" / ISO (portal/formats/<lang>/formats.py)."""
    allowed = {"SHORT_DATE_FORMAT", "SHORT_DATETIME_FORMAT", "YEAR_MONTH_FORMAT", "c", "Y-m-d"}
    found = []
    for template in (REPO / "templates").rglob("*.html"):
        for fmt in re.findall(r"""\|date:["']([^"']*)["']""", template.read_text()):
            if fmt not in allowed:
                found.append((str(template.relative_to(REPO)), fmt))
    assert not found, found


def test_the_verify_page_keeps_the_customer_context(member_client) -> None:
    from tests.activations.helpers import flex_customer

    customer = flex_customer()
    client = member_client(role=Role.VIEWER, customer=customer)
    listing = client.get(reverse("activations:list", args=[customer.number])).content.decode()
    link = f"{reverse('license_verify')}?customer={customer.number}"
    assert f'href="{link}"' in listing
    html = client.get(link).content.decode()
    assert reverse("entitlements:list", args=[customer.number]) in html  # the customer's tabs
    assert reverse("activations:list", args=[customer.number]) in html  # and breadcrumbs
    posted = client.post(link, {"text": "not a license"}).content.decode()
    assert reverse("entitlements:list", args=[customer.number]) in posted
    # Another customer's number shows the plain page, revealing nothing.
    other = CustomerFactory()
    plain = client.get(f"{reverse('license_verify')}?customer={other.number}").content.decode()
    assert reverse("entitlements:list", args=[other.number]) not in plain
    assert other.name not in plain


# --- Sign-up asks for a name (item 3) -----------------------------------------------------------


def test_sign_up_asks_for_a_name_and_optionally_a_company(client: Client, member_client) -> None:
    from accounts.models import User

    page = client.get(reverse("account_signup")).content.decode()
    assert 'name="name"' in page
    assert 'name="company"' in page
    missing = client.post(
        reverse("account_signup"),
        {"email": "ayse@example.org", "password1": "a-long-pass-2026!", "password2": "a-long-pass-2026!", "name": "  "},
    )
    assert missing.status_code == HTTPStatus.OK
    assert "This field is required." in missing.content.decode()
    assert not User.objects.filter(email="ayse@example.org").exists()
    client.post(
        reverse("account_signup"),
        {
            "email": "ayse@example.org",
            "password1": "a-long-pass-2026!",
            "password2": "a-long-pass-2026!",
            "name": " Ayşe   Yılmaz ",
            "company": "Demo A.Ş.",
        },
    )
    user = User.objects.get(email="ayse@example.org")
    assert (user.name, user.company) == ("Ayşe Yılmaz", "Demo A.Ş.")
    # Colleagues see the name (and company) on the users page.
    customer = CustomerFactory()
    MembershipFactory(customer=customer, user=user, role=Role.VIEWER)
    html = member_client(role=Role.ASC, customer=customer).get(reverse("users:list", args=[customer.number]))
    assert "Ayşe Yılmaz" in html.content.decode()
    assert "Demo A.Ş." in html.content.decode()


def test_the_not_managed_explanation_names_the_account_manager(member_client) -> None:
    customer = _customer(model="flexnet", managed=False)
    CustomerRenewalSettingsFactory(
        customer=customer, account_manager_name="Ayşe Satış", account_manager_email="ayse@reseller.example"
    )
    client = member_client(role=Role.ASC, customer=customer)
    html = client.get(reverse("entitlements:list", args=[customer.number])).content.decode()
    assert "Ayşe Satış" in html
    assert "mailto:ayse@reseller.example" in html
    assert "support@example.com" in html


def test_confirmation_emails_are_branded_with_the_served_address(client: Client, settings, mailoutbox) -> None:
    settings.PORTAL_BASE_URL = "https://licenses.example.com"
    client.post(
        reverse("account_signup"),
        {"email": "brand@example.org", "password1": "a-long-pass-2026!", "password2": "a-long-pass-2026!", "name": "B"},
    )
    [message] = [m for m in mailoutbox if "brand@example.org" in m.to]
    assert "Hello from License Portal!" in message.body
    assert "licenses.example.com" in message.body
    assert "testserver" not in message.body
    assert message.subject.startswith("[License Portal]")


def test_the_invitation_says_what_the_person_will_be_able_to_do(
    member_client, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    customer = CustomerFactory()
    client = member_client(role=Role.ASC, customer=customer)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("users:add", args=[customer.number]), {"email": "viewer@x.example", "role": "viewer"})
    [message] = [m for m in mailoutbox if m.to == ["viewer@x.example"]]
    assert "What you will be able to do:" in message.body
    assert "- Download existing license files" in message.body
    assert "Activate entitlements" not in message.body
