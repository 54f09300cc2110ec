"""Seat reservations for Shared Web groups: never more than the line's quantity, also under
concurrent requests on PostgreSQL (real threads, real row locks)."""

from __future__ import annotations

import threading
from http import HTTPStatus

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import Sum
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, Customer, Notification
from accounts.roles import Role
from entitlements.licensing.selectors import shared_web_access_overview
from entitlements.licensing.services import (
    seat_assignment_set,
    shared_web_group_create,
    shared_web_group_delete,
)
from entitlements.models import Entitlement, LicensingModel, SeatAssignment, SharedWebGroup
from portal.errors import PortalError
from tests.factories import (
    CustomerFactory,
    EntitlementFactory,
    MembershipFactory,
    ProductFactory,
    SharedWebGroupFactory,
)


def _setup(quantity: int = 10) -> tuple[Customer, Entitlement, object]:
    customer = CustomerFactory()
    product = ProductFactory(feature="sw_seats", licensing_model=LicensingModel.SHARED_WEB)
    line = EntitlementFactory(customer=customer, product=product, quantity=quantity)
    asc = MembershipFactory(customer=customer, role=Role.ASC).user
    return customer, line, asc


def _reserved(line: Entitlement) -> int:
    return SeatAssignment.objects.filter(entitlement=line).aggregate(total=Sum("seats"))["total"] or 0


@pytest.mark.django_db
def test_seats_are_reserved_and_activated_kept_in_sync() -> None:
    customer, line, asc = _setup(10)
    a = shared_web_group_create(customer=customer, actor=asc, name="A")
    b = shared_web_group_create(customer=customer, actor=asc, name="B")
    seat_assignment_set(group=a, entitlement=line, actor=asc, seats=6)
    seat_assignment_set(group=b, entitlement=line, actor=asc, seats=4)
    line.refresh_from_db()
    assert line.activated == 10 == _reserved(line)
    with pytest.raises(PortalError, match="Only 4 of the 10 seats"):
        seat_assignment_set(group=b, entitlement=line, actor=asc, seats=5)
    seat_assignment_set(group=a, entitlement=line, actor=asc, seats=2)
    seat_assignment_set(group=b, entitlement=line, actor=asc, seats=8)
    line.refresh_from_db()
    assert line.activated == 10
    seat_assignment_set(group=b, entitlement=line, actor=asc, seats=0)
    assert not SeatAssignment.objects.filter(group=b).exists()
    line.refresh_from_db()
    assert line.activated == 2
    (row,) = shared_web_access_overview(customer=customer)
    assert (row.reserved, row.unreserved) == (2, 8)
    assert AuditEvent.objects.filter(customer=customer, action="shared_web.seats_changed").count() == 5


@pytest.mark.django_db
def test_deleting_a_group_releases_its_seats() -> None:
    customer, line, asc = _setup(10)
    group = shared_web_group_create(customer=customer, actor=asc, name="A")
    seat_assignment_set(group=group, entitlement=line, actor=asc, seats=7)
    shared_web_group_delete(group=group, actor=asc)
    line.refresh_from_db()
    assert line.activated == 0
    assert not SharedWebGroup.objects.filter(pk=group.pk).exists()


@pytest.mark.django_db
def test_negative_and_non_shared_web_lines_are_refused() -> None:
    customer, line, asc = _setup(10)
    group = shared_web_group_create(customer=customer, actor=asc, name="A")
    with pytest.raises(PortalError):
        seat_assignment_set(group=group, entitlement=line, actor=asc, seats=-1)
    flex = EntitlementFactory(customer=customer, product=ProductFactory(feature="flex_x"))
    with pytest.raises(PortalError):
        seat_assignment_set(group=group, entitlement=flex, actor=asc, seats=1)
    assert not SeatAssignment.objects.exists()


@pytest.mark.django_db
def test_the_database_refuses_oversubscription_whatever_the_code() -> None:
    _customer, line, _asc = _setup(3)
    with pytest.raises(IntegrityError), transaction.atomic():
        Entitlement.objects.filter(pk=line.pk).update(activated=4)


@pytest.mark.django_db
def test_view_refuses_more_seats_than_free(client: Client) -> None:
    customer, line, asc = _setup(5)
    group = shared_web_group_create(customer=customer, actor=asc, name="A")
    client.force_login(asc)
    url = reverse("licensing_settings:shared_web_group_seats", args=[customer.number, group.pk])
    response = client.post(url, {"entitlement": line.pk, "seats": "6"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Only 5 of the 5 seats" in response.content.decode()
    assert client.post(url, {"entitlement": line.pk, "seats": "5"}).status_code == HTTPStatus.FOUND
    line.refresh_from_db()
    assert line.activated == 5


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks")
@pytest.mark.django_db(transaction=True)
def test_concurrent_seat_requests_never_exceed_the_quantity() -> None:
    """20 threads, each a different group asking for 3 of 10 seats at the same moment:
    exactly 3 succeed, the others are refused, and activated matches the assignments."""
    customer, line, asc = _setup(10)
    groups = [SharedWebGroupFactory(customer=customer, name=f"G{i}") for i in range(20)]
    barrier = threading.Barrier(len(groups))
    results: list[str] = []
    lock = threading.Lock()

    def request(group: SharedWebGroup) -> None:
        try:
            barrier.wait()
            seat_assignment_set(group=group, entitlement=line, actor=asc, seats=3)
            outcome = "ok"
        except PortalError:
            outcome = "refused"
        except Exception as error:
            outcome = f"error: {error!r}"
        finally:
            connections.close_all()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=request, args=(group,)) for group in groups]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == ["ok"] * 3 + ["refused"] * 17, results
    line.refresh_from_db()
    assert line.activated == _reserved(line) == 9
    assert Notification.objects.filter(event="shared_web.seats_changed").exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks")
@pytest.mark.django_db(transaction=True)
def test_concurrent_http_requests_never_exceed_the_quantity() -> None:
    """The same race through the views: 20 clients post at once."""
    customer, line, asc = _setup(10)
    groups = [SharedWebGroupFactory(customer=customer, name=f"H{i}") for i in range(20)]
    barrier = threading.Barrier(len(groups))
    statuses: list[int] = []
    lock = threading.Lock()

    def post(group: SharedWebGroup) -> None:
        client = Client()
        client.force_login(asc)
        url = reverse("licensing_settings:shared_web_group_seats", args=[customer.number, group.pk])
        try:
            barrier.wait()
            status = client.post(url, {"entitlement": line.pk, "seats": "4"}).status_code
        finally:
            connections.close_all()
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=post, args=(group,)) for group in groups]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [HTTPStatus.FOUND] * 2 + [HTTPStatus.BAD_REQUEST] * 18, statuses
    line.refresh_from_db()
    assert line.activated == _reserved(line) == 8
