"""Every activation view x action x role x own / other customer, from ROLE_PERMISSIONS."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.urls import resolve, reverse
from django.utils import timezone

from accounts.demo import seed_accounts
from accounts.models import AuditEvent
from accounts.roles import ROLE_PERMISSIONS, Role
from activations.demo import seed_activations
from activations.models import Activation, LicenseFile, LicenseServer, Rehost, ServerHost
from entitlements.demo import seed_entitlements
from entitlements.models import Entitlement
from tests.activations.helpers import activate, flex_customer, setup_server
from tests.factories import UserFactory

# url name -> (needs a server, needs a file version, GET status when allowed)
ROUTES = {
    "activations:list": (False, False, HTTPStatus.OK),
    "activations:server_add": (False, False, HTTPStatus.OK),
    "activations:import": (False, False, HTTPStatus.OK),
    "activations:server_detail": (True, False, HTTPStatus.OK),
    "activations:server_edit": (True, False, HTTPStatus.OK),
    "activations:activate": (True, False, HTTPStatus.OK),
    "activations:activate_apply": (True, False, HTTPStatus.FOUND),
    "activations:rehost": (True, False, HTTPStatus.OK),
    "activations:return": (True, False, HTTPStatus.OK),
    "activations:file_diff": (True, False, HTTPStatus.OK),
    "activations:file_detail": (True, True, HTTPStatus.OK),
    "activations:file_download": (True, True, HTTPStatus.OK),
    "entitlements:list": (False, False, HTTPStatus.OK),
    "entitlements:export": (False, False, HTTPStatus.OK),
}
POST_ROUTES = [
    "activations:server_add",
    "activations:import",
    "activations:server_edit",
    "activations:activate",
    "activations:activate_apply",
    "activations:rehost",
    "activations:return",
]


def _setup():
    customer = flex_customer()
    server, line = setup_server(customer)
    staff = UserFactory(is_staff=True)
    activate(server, staff, {line.pk: 2})
    return customer, server, line


def _url(name: str, customer, server, version: int = 1) -> str:
    needs_server, needs_file, _ = ROUTES[name]
    kwargs = {"customer_number": customer.number}
    if needs_server:
        kwargs["server_id"] = server.pk
    if needs_file:
        kwargs["version"] = version
    return reverse(name, kwargs=kwargs)


def _permission(name: str, url: str):
    return resolve(url).func.view_class.required_permission


def _snapshot():
    return (
        list(Activation.objects.values_list("pk", "quantity", "borrowable").order_by("pk")),
        list(Entitlement.objects.values_list("pk", "activated").order_by("pk")),
        LicenseServer.objects.count(),
        ServerHost.objects.count(),
        LicenseFile.objects.count(),
        Rehost.objects.count(),
    )


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("name", list(ROUTES))
def test_get_matrix(name, role, member_client) -> None:
    customer, server, _ = _setup()
    client = member_client(role=role, customer=customer)
    url = _url(name, customer, server)
    allowed = _permission(name, url) in ROLE_PERMISSIONS[role]
    response = client.get(url)
    assert response.status_code == (ROUTES[name][2] if allowed else HTTPStatus.FORBIDDEN), url


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("name", list(ROUTES))
def test_other_customers_pages_and_objects_are_404(name, role, member_client) -> None:
    theirs, their_server, _ = _setup()
    mine = flex_customer()
    setup_server(mine, feature="dsdxm")
    client = member_client(role=role, customer=mine)
    for method in ("get", "post"):
        # Their customer number: never revealed.
        assert getattr(client, method)(_url(name, theirs, their_server)).status_code == HTTPStatus.NOT_FOUND
    if ROUTES[name][0]:
        # My customer number with their server (or file) id.
        url = _url(name, mine, their_server)
        allowed = _permission(name, url) in ROLE_PERMISSIONS[role]
        expected = HTTPStatus.NOT_FOUND if allowed else HTTPStatus.FORBIDDEN
        assert client.get(url).status_code == expected
        if name in POST_ROUTES:
            assert client.post(url).status_code == expected
        else:  # read-only pages do not take POST at all
            assert client.post(url).status_code in (expected, HTTPStatus.METHOD_NOT_ALLOWED)


@pytest.mark.django_db
@pytest.mark.parametrize("name", POST_ROUTES)
def test_forged_posts_by_viewers_are_403_and_change_nothing(name, member_client) -> None:
    customer, server, line = _setup()
    # The premise, from the matrix: a viewer may not do what this route does.
    assert _permission(name, _url(name, customer, server)) not in ROLE_PERMISSIONS[Role.VIEWER]
    client = member_client(role=Role.VIEWER, customer=customer)
    before = _snapshot()
    data = {
        "name": "forged",
        "lmgrd_port": "1055",
        "host_name_1": "h",
        "hostid_type_1": "ETHER",
        "host_id_1": "AABBCCDDEEFF",
        f"qty_{line.pk}": "0",
        f"base_{line.pk}": "2",
        "token": "a" * 32,
        "deliver": "download",
    }
    response = client.post(_url(name, customer, server), data)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert _snapshot() == before
    assert AuditEvent.objects.filter(customer=customer, actor=client.user, denied=True).exists()


@pytest.mark.django_db
def test_viewer_sees_no_action_buttons_but_can_download(member_client) -> None:
    customer, server, _ = _setup()
    viewer = member_client(role=Role.VIEWER, customer=customer)
    html = viewer.get(reverse("activations:server_detail", args=[customer.number, server.pk])).content.decode()
    assert reverse("activations:activate", args=[customer.number, server.pk]) not in html
    assert reverse("activations:rehost", args=[customer.number, server.pk]) not in html
    assert reverse("activations:file_download", args=[customer.number, server.pk, 1]) in html
    asc = member_client(role=Role.ASC, customer=customer)
    html = asc.get(reverse("activations:server_detail", args=[customer.number, server.pk])).content.decode()
    assert reverse("activations:activate", args=[customer.number, server.pk]) in html
    assert reverse("activations:rehost", args=[customer.number, server.pk]) in html


# --- The four demo customers ----------------------------------------------------------------


@pytest.fixture
def demo(db):
    customers = seed_accounts()
    seed_entitlements(customers)
    seed_activations(customers)
    return customers


def _client_for(email: str):
    from django.test import Client

    from accounts.models import User

    client = Client()
    client.force_login(User.objects.get(email=email))
    return client


@pytest.mark.parametrize(
    ("email", "number", "visible", "explanation"),
    [
        ("asc@demo.example", "1001234", True, None),
        ("other-asc@other.example", "2005678", True, None),
        ("cloud-asc@cloud.example", "3009012", False, "Elastic / Shared Web only"),
        ("unmanaged-asc@unmanaged.example", "4003456", False, "FlexNet not managed in the portal"),
    ],
)
def test_demo_customers_activations_visibility(demo, settings, email, number, visible, explanation) -> None:
    client = _client_for(email)
    list_url = reverse("activations:list", args=[number])
    entitlements = client.get(reverse("entitlements:list", args=[number])).content.decode()
    assert (list_url in entitlements) is visible
    response = client.get(list_url)
    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    if visible:
        assert "lic01" in html if number == "1001234" else "flexlm-main" in html
        assert client.get(reverse("activations:server_add", args=[number])).status_code == HTTPStatus.OK
    else:
        assert explanation in html
        if number == "4003456":
            assert settings.PORTAL_SUPPORT_EMAIL in html
        action = client.get(reverse("activations:server_add", args=[number]))
        assert action.status_code == HTTPStatus.NOT_FOUND
        assert explanation in action.content.decode()


def test_demo_seed_is_idempotent_and_complete(demo) -> None:
    def state():
        return (
            sorted(Entitlement.objects.values_list("line_id", "quantity", "activated", "end_date")),
            sorted(LicenseServer.objects.values_list("customer__number", "name")),
            LicenseFile.objects.count(),
            Activation.objects.count(),
            AuditEvent.objects.count(),
        )

    first = state()
    customers = seed_accounts()
    seed_entitlements(customers)
    seed_activations(customers)
    assert state() == first
    lines = {e.line_id: e for e in Entitlement.objects.filter(customer__number="1001234")}
    today = timezone.localdate()
    assert any(e.end_date and e.end_date < today for e in lines.values())  # expired
    assert any(e.end_date is None for e in lines.values())  # perpetual
    assert any(0 < e.activated < e.quantity for e in lines.values())  # partly activated
    lic01 = LicenseServer.objects.get(customer__number="1001234", name="lic01")
    assert lic01.license_files.count() == 1
    assert "VENDOR_STRING=customer:01001234" in lic01.license_files.get().content
