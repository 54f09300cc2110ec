"""Every webhook event type is emitted by the code path that causes it (the service or the
periodic run, in its transaction) and reaches a real receiver on loopback, signed."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Invitation
from accounts.roles import Role
from accounts.services import (
    asc_designate,
    invitation_accept,
    membership_add,
    membership_change_role,
    membership_remove,
)
from activations.services import HostInput, server_rehost, server_return
from api.models import WebhookDelivery
from api.webhooks import EVENT_TYPES
from entitlements.licensing.services import budget_alert_check
from entitlements.models import LicensingModel
from notices.services import reminders_create
from tests.activations.helpers import activate, setup_server
from tests.api.receiver import receiver_verify
from tests.factories import (
    ElasticAccountFactory,
    ElasticUsageFactory,
    EntitlementFactory,
    MembershipFactory,
    ProductFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(webhook_setup, staff_user):
    return (*webhook_setup, staff_user)


def _received(receiver, endpoint) -> list[dict]:
    for request in receiver.requests:
        assert receiver_verify(endpoint.secret, request["headers"], request["body"])
    return list(receiver.processed.values())


def _types(receiver, endpoint) -> list[str]:
    return sorted(event["type"] for event in _received(receiver, endpoint))


def test_every_documented_event_type_is_tested_here() -> None:
    tested = {
        "activation.changed",
        "license_file.issued",
        "server.rehosted",
        "member.added",
        "member.removed",
        "member.role_changed",
        "entitlement.expiring",
        "usage.threshold",
    }
    assert set(EVENT_TYPES) == tested


def test_return_of_licenses_is_an_activation_change_with_a_new_file(
    world, receiver, django_capture_on_commit_callbacks
) -> None:
    customer, _asc, admin, endpoint, _staff = world
    server, line = setup_server(customer)
    activate(server, admin, {line.pk: 2})
    WebhookDelivery.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        license_file = server_return(server=server, actor=admin)
    assert _types(receiver, endpoint) == ["activation.changed", "license_file.issued"]
    issued = next(e for e in _received(receiver, endpoint) if e["type"] == "license_file.issued")
    assert issued["data"]["details"]["version"] == license_file.version


def test_rehost_emits_server_rehosted_and_the_new_file(world, receiver, django_capture_on_commit_callbacks) -> None:
    customer, _asc, admin, endpoint, _staff = world
    server, line = setup_server(customer)
    activate(server, admin, {line.pk: 1})
    WebhookDelivery.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        server_rehost(server=server, actor=admin, hosts=[HostInput("new-host", "ETHER", "0A0B0C0D0E99")])
    assert _types(receiver, endpoint) == ["license_file.issued", "server.rehosted"]
    rehosted = next(e for e in _received(receiver, endpoint) if e["type"] == "server.rehosted")
    assert rehosted["data"]["target"] == server.name


def test_member_added_when_the_invitation_is_accepted_not_before(
    world, receiver, django_capture_on_commit_callbacks
) -> None:
    customer, _asc, admin, endpoint, _staff = world
    invitee = UserFactory(email="new-colleague@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        invitation = membership_add(customer=customer, actor=admin, email=invitee.email, role=Role.VIEWER)
    assert isinstance(invitation, Invitation)
    assert _types(receiver, endpoint) == []  # invited: nobody joined yet
    with django_capture_on_commit_callbacks(execute=True):
        invitation_accept(invitation=invitation, actor=invitee)
    (event,) = _received(receiver, endpoint)
    assert event["type"] == "member.added"
    assert event["data"]["target"] == "new-colleague@example.org"
    assert event["data"]["details"]["role"] == "viewer"


def test_role_changed_and_removed(world, receiver, django_capture_on_commit_callbacks) -> None:
    customer, _asc, admin, endpoint, _staff = world
    colleague = MembershipFactory(customer=customer, role=Role.VIEWER)
    with django_capture_on_commit_callbacks(execute=True):
        membership_change_role(membership=colleague, actor=admin, role=Role.ADMINISTRATOR)
        membership_remove(membership=colleague, actor=admin)
    assert _types(receiver, endpoint) == ["member.removed", "member.role_changed"]


def test_asc_designation_adds_or_promotes_but_a_pending_one_adds_nobody(
    world, receiver, django_capture_on_commit_callbacks
) -> None:
    customer, _asc, _admin, endpoint, staff = world
    viewer = MembershipFactory(customer=customer, role=Role.VIEWER).user
    with django_capture_on_commit_callbacks(execute=True):
        asc_designate(customer=customer, actor=staff, email="nobody-yet@example.org")
    assert _types(receiver, endpoint) == []
    with django_capture_on_commit_callbacks(execute=True):
        asc_designate(customer=customer, actor=staff, email=viewer.email)
    assert _types(receiver, endpoint) == ["member.role_changed"]


def test_entitlement_expiring_from_the_daily_reminders_once_per_reminder(
    world, receiver, django_capture_on_commit_callbacks
) -> None:
    customer, _asc, _admin, endpoint, _staff = world
    end = datetime.date(2031, 6, 15)
    line = EntitlementFactory(
        customer=customer,
        product=ProductFactory(feature="mech_ent", name="Mechanical Enterprise"),
        line_id="L-EXPIRING",
        start_date=datetime.date(2030, 6, 16),
        end_date=end,
    )
    with django_capture_on_commit_callbacks(execute=True):
        reminders_create(today=end - datetime.timedelta(days=30))
    events = [e for e in _received(receiver, endpoint) if e["data"].get("line_id") == "L-EXPIRING"]
    assert [e["type"] for e in events] == ["entitlement.expiring"]
    data = events[0]["data"]
    assert (data["end_date"], data["days_left"], data["kind"]) == (end.isoformat(), 30, "line_end")
    assert (data["product"], data["quantity"]) == ("Mechanical Enterprise", line.quantity)
    # A second run that day and the catch-up days after it repeat nothing.
    with django_capture_on_commit_callbacks(execute=True):
        reminders_create(today=end - datetime.timedelta(days=30))
        reminders_create(today=end - datetime.timedelta(days=29))
    assert (
        WebhookDelivery.objects.filter(event_type="entitlement.expiring", payload__data__line_id="L-EXPIRING").count()
        == 1
    )
    assert len([e for e in receiver.processed.values() if e["data"].get("line_id") == "L-EXPIRING"]) == 1


def test_usage_threshold_from_the_elastic_budget_check(world, receiver, django_capture_on_commit_callbacks) -> None:
    customer, _asc, _admin, endpoint, _staff = world
    today = datetime.date(2026, 11, 20)
    product = ProductFactory(feature="el_hook", name="Elastic Mech", licensing_model=LicensingModel.ELASTIC)
    EntitlementFactory(customer=customer, product=product, quantity=1000)
    account = ElasticAccountFactory(customer=customer, monthly_budget_units=100, alert_thresholds=[50, 80])
    moment = timezone.make_aware(datetime.datetime.combine(today, datetime.time(10)))
    ElasticUsageFactory(
        customer=customer,
        transaction_id="t1",
        started_at=moment,
        ended_at=moment,
        product=product,
        count=1,
        hours=Decimal(1),
        cost=Decimal("85"),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert budget_alert_check(account=account, today=today) == [50, 80]
        assert budget_alert_check(account=account, today=today) == []  # once per crossing and month
    (event,) = _received(receiver, endpoint)
    assert event["type"] == "usage.threshold"
    data = event["data"]
    assert (data["metric"], data["threshold"], data["thresholds"], data["budget"]) == (
        "elastic_units_month",
        80,
        [50, 80],
        100,
    )
    assert Decimal(data["value"]) == Decimal("85")
