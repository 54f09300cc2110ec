"""Support's entitlement services and CSV import (preview, per-line errors, all or nothing)."""

from __future__ import annotations

import io
from http import HTTPStatus

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from accounts.roles import Role
from entitlements.models import Entitlement
from entitlements.services import entitlement_import, entitlement_import_plan
from portal.errors import AccessDenied, PortalError
from tests.factories import ActivationFactory, EntitlementFactory, ProductFactory, UserFactory

HEADER = "customer_number,line_id,order_number,feature,quantity,start_date,end_date,tecs_end_date,borrowable\n"


@pytest.fixture
def products(db):
    return [ProductFactory(feature="ansys"), ProductFactory(feature="acfdsol3")]


@pytest.mark.django_db
def test_plan_reports_errors_per_line(customer, products) -> None:
    text = HEADER + (
        "1001234,1001234-0001,SO-1,ansys,10,2026-01-01,,2027-12-31,yes\n"
        "9999999,1001234-0002,SO-1,ansys,10,2026-01-01,,,no\n"
        "1001234,bad,SO-1,nofeature,ten,2026-13-01,2025-01-01,,maybe\n"
        "1001234,1001234-0001,SO-1,ansys,10,2026-01-01,,,\n"
    )
    plan = entitlement_import_plan(text=text)
    assert [line.ok for line in plan] == [True, False, False, False]
    assert any("Unknown customer" in e for e in plan[1].errors)
    assert len(plan[2].errors) >= 4
    assert any("twice" in e for e in plan[3].errors)
    staff = UserFactory(is_staff=True, is_superuser=True)  # holds entitlements.add_entitlement
    with pytest.raises(PortalError, match="nothing was imported"):
        entitlement_import(actor=staff, text=text)
    assert not Entitlement.objects.exists()


@pytest.mark.django_db
def test_import_creates_and_updates_and_is_audited(customer, products) -> None:
    staff = UserFactory(is_staff=True, is_superuser=True)  # holds entitlements.add_entitlement
    existing = EntitlementFactory(customer=customer, product=products[0], line_id="1001234-0009", quantity=5)
    ActivationFactory(entitlement=existing, quantity=3)
    text = HEADER + (
        "1001234,1001234-0001,SO-1,ansys,10,2026-01-01,,2027-12-31,yes\n"
        "1001234,1001234-0009,SO-1,ansys,8,2026-01-01,2027-12-31,2027-12-31,no\n"
    )
    saved = entitlement_import(actor=staff, text=text)
    assert len(saved) == 2
    assert Entitlement.objects.get(line_id="1001234-0001").end_date is None
    assert Entitlement.objects.get(line_id="1001234-0009").quantity == 8
    assert AuditEvent.objects.filter(action__startswith="entitlement.", customer=customer).count() == 2
    below = HEADER + "1001234,1001234-0009,SO-1,ansys,2,2026-01-01,,,no\n"
    assert not entitlement_import_plan(text=below)[0].ok
    with pytest.raises(AccessDenied):
        entitlement_import(actor=UserFactory(), text=text)


@pytest.mark.django_db
def test_admin_import_preview_then_apply(customer, products, staff_user, client) -> None:
    client.force_login(staff_user)
    url = reverse("admin:entitlements_entitlement_import")
    assert client.get(url).status_code == HTTPStatus.OK
    text = HEADER + "1001234,1001234-0001,SO-1,ansys,10,2026-01-01,,,yes\n"
    upload = io.BytesIO(text.encode())
    upload.name = "lines.csv"
    preview = client.post(url, {"file": upload})
    assert preview.status_code == HTTPStatus.OK
    assert "Import these lines" in preview.content.decode()
    assert not Entitlement.objects.exists()
    applied = client.post(url, {"text": text, "apply": "1"})
    assert applied.status_code == HTTPStatus.FOUND
    assert Entitlement.objects.filter(line_id="1001234-0001").exists()
    bad = client.post(url, {"text": "garbage\n1,2"})
    assert bad.status_code == HTTPStatus.OK
    assert "lacks the column" in bad.content.decode()
    binary = io.BytesIO(b"\xff\xfe\xfa")
    binary.name = "x.csv"
    assert client.post(url, {"file": binary}).status_code == HTTPStatus.OK


@pytest.mark.django_db
def test_admin_pages_render(customer, products, staff_user, client) -> None:
    from tests.factories import LicenseServerFactory

    client.force_login(staff_user)
    server = LicenseServerFactory(customer=customer)
    EntitlementFactory(customer=customer, product=products[0])
    for name in (
        "entitlements_product",
        "entitlements_entitlement",
        "activations_licenseserver",
        "activations_licensefile",
        "activations_rehostquota",
    ):
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == HTTPStatus.OK
    assert client.get(reverse("admin:activations_licenseserver_change", args=[server.pk])).status_code == 200
    response = client.post(
        reverse("admin:activations_rehostquota_add"),
        {"customer": customer.pk, "rehosts_per_year": "7", "note": "big move"},
    )
    assert response.status_code == HTTPStatus.FOUND
    assert customer.rehost_quota.rehosts_per_year == 7
    assert AuditEvent.objects.filter(action="rehost_quota.set", customer=customer).exists()


@pytest.mark.django_db
def test_portal_users_cannot_reach_the_console(customer, member_client) -> None:
    client = member_client(role=Role.ASC, customer=customer)
    response = client.get(reverse("admin:entitlements_entitlement_import"))
    assert response.status_code == HTTPStatus.FOUND
