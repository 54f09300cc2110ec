"""Customer 360: what support reads of one customer, and its actions through the services."""

from __future__ import annotations

import datetime
from http import HTTPStatus

from django.utils import timezone

from accounts.models import AuditEvent, Customer, Invitation
from accounts.roles import Role, StaffRole
from tests.factories import CustomerFactory, EntitlementFactory, LicenseServerFactory, MembershipFactory, UserFactory


def test_page_shows_members_servers_renewals_and_audit(staff_client, db) -> None:
    customer = CustomerFactory(number="1001234")
    MembershipFactory(customer=customer, role=Role.ASC, user=UserFactory(email="asc@demo.example"))
    LicenseServerFactory(customer=customer, name="lic01")
    EntitlementFactory(
        customer=customer, line_id="1001234-0007", end_date=timezone.localdate() + datetime.timedelta(days=200)
    )
    client = staff_client(StaffRole.AGENT)
    client.post(f"/support/customers/{customer.number}/view-as/", {"role": "viewer"})
    response = client.get(f"/support/customers/{customer.number}/")
    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    for expected in ("asc@demo.example", "lic01", "1001234-0007", "Support started viewing the portal"):
        assert expected in page


def test_unknown_customer_is_404(staff_client, db) -> None:
    assert staff_client(StaffRole.AGENT).get("/support/customers/9999999/").status_code == HTTPStatus.NOT_FOUND


def test_designate_asc_through_the_service(staff_client, db) -> None:
    customer = CustomerFactory()
    client = staff_client(StaffRole.AGENT)
    response = client.post(f"/support/customers/{customer.number}/asc/", {"email": "new-asc@example.org"})
    assert response.status_code == HTTPStatus.FOUND
    assert Invitation.objects.get(customer=customer, email="new-asc@example.org").role == Role.ASC
    assert AuditEvent.objects.filter(customer=customer, action="asc.designated", actor=client.user).exists()


def test_designate_asc_bad_email_is_400(staff_client, db) -> None:
    customer = CustomerFactory()
    response = staff_client(StaffRole.AGENT).post(f"/support/customers/{customer.number}/asc/", {"email": "nope"})
    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_toggle_flexnet_management(staff_client, db) -> None:
    customer = CustomerFactory(flexnet_managed=True)
    client = staff_client(StaffRole.AGENT)
    client.post(f"/support/customers/{customer.number}/flexnet/", {})
    assert Customer.objects.get(pk=customer.pk).flexnet_managed is False
    client.post(f"/support/customers/{customer.number}/flexnet/", {"managed": "on"})
    assert Customer.objects.get(pk=customer.pk).flexnet_managed is True
    assert AuditEvent.objects.filter(customer=customer, action="customer.updated").count() == 2
