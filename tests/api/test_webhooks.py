"""Webhooks: Standard Webhooks signatures, the outbox (retries, sweep, no loss without the
broker), exactly-once per event id at a real receiver on loopback, disabling, SSRF."""

from __future__ import annotations

import datetime
import socket
from http import HTTPStatus

import pytest
from django.core import mail
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from accounts.roles import Role
from accounts.services import membership_change_role
from api import webhooks
from api.models import WebhookDelivery, WebhookEndpoint
from api.services import (
    webhook_delivery_resend,
    webhook_endpoint_create,
    webhook_endpoint_update,
    webhook_secret_rotate,
)
from api.tasks import webhook_deliveries_send_due
from portal.errors import AccessDenied, PortalError
from tests.activations.helpers import activate, setup_server
from tests.api.receiver import receiver_verify
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def _member_event(customer, admin) -> None:
    """One member event: a colleague's role changed (adding by email now invites)."""
    colleague = MembershipFactory(customer=customer, role=Role.VIEWER)
    membership_change_role(membership=colleague, actor=admin, role=Role.ADMINISTRATOR)


def _make_due() -> None:
    """Moves every pending delivery's clock past its backoff and the sweep's grace period."""
    past = timezone.now() - datetime.timedelta(minutes=1)
    WebhookDelivery.objects.filter(delivered_at__isnull=True).update(next_attempt_at=past, created_at=past)


def test_activation_emits_signed_events_processed_once(
    webhook_setup, receiver, django_capture_on_commit_callbacks
) -> None:
    customer, _asc, admin, endpoint = webhook_setup
    server, line = setup_server(customer)
    with django_capture_on_commit_callbacks(execute=True):
        activate(server, admin, {line.pk: 2})
    types = sorted(event["type"] for event in receiver.processed.values())
    assert types == ["activation.changed", "license_file.issued"]
    for request in receiver.requests:
        assert receiver_verify(endpoint.secret, request["headers"], request["body"])
        assert webhooks.verify(secret=endpoint.secret, headers=request["headers"], body=request["body"])
        assert request["headers"]["webhook-signature"].startswith("v1,")
    event = next(e for e in receiver.processed.values() if e["type"] == "activation.changed")
    assert event["data"]["customer"] == "1001234"
    assert event["data"]["target"] == server.name
    assert WebhookDelivery.objects.filter(delivered_at__isnull=False).count() == 2


def test_tampered_body_or_old_timestamp_fails_verification(webhook_setup) -> None:
    _customer, _asc, _admin, endpoint = webhook_setup
    now = int(timezone.now().timestamp())
    body = b'{"type":"x"}'
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(now),
        "webhook-signature": webhooks.sign(secret=endpoint.secret, message_id="msg_1", timestamp=now, body=body),
    }
    assert webhooks.verify(secret=endpoint.secret, headers=headers, body=body)
    assert not webhooks.verify(secret=endpoint.secret, headers=headers, body=b'{"type":"y"}')
    assert not webhooks.verify(secret=endpoint.secret, headers=headers, body=body, now=now + 3600)


def test_retries_with_backoff_then_exactly_once(webhook_setup, receiver, django_capture_on_commit_callbacks) -> None:
    customer, _asc, admin, _endpoint = webhook_setup
    receiver.fail_next = 2
    with django_capture_on_commit_callbacks(execute=True):
        _member_event(customer, admin)
    delivery = WebhookDelivery.objects.get(event_type="member.role_changed")
    _assert_failed_once_and_backed_off(delivery)
    _assert_delivered_on_the_third_attempt_with_one_id(delivery, receiver)
    # "Send again" repeats the same id: the receiver drops the duplicate.
    with django_capture_on_commit_callbacks(execute=True):
        webhook_delivery_resend(delivery=delivery, actor=_asc)
    assert len(receiver.requests) == 4
    assert list(receiver.processed) == [delivery.message_id]
    assert AuditEvent.objects.filter(action="webhook.resent").exists()


def _assert_failed_once_and_backed_off(delivery: WebhookDelivery) -> None:
    assert delivery.status == "pending"
    assert delivery.attempts == 1
    assert delivery.last_status == HTTPStatus.INTERNAL_SERVER_ERROR
    assert delivery.next_attempt_at > timezone.now() + datetime.timedelta(seconds=20)
    # Not due yet: the sweep leaves it alone.
    assert webhook_deliveries_send_due() == 0


def _assert_delivered_on_the_third_attempt_with_one_id(delivery: WebhookDelivery, receiver) -> None:
    _make_due()
    assert webhook_deliveries_send_due() == 0  # second failure
    _make_due()
    assert webhook_deliveries_send_due() == 1
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert delivery.attempts == 3
    ids = {r["headers"]["webhook-id"] for r in receiver.requests}
    assert ids == {delivery.message_id}  # every attempt carries the same id
    assert len(receiver.requests) == 3
    assert list(receiver.processed) == [delivery.message_id]


def test_no_loss_when_the_broker_is_down(
    webhook_setup, receiver, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    customer, _asc, admin, _endpoint = webhook_setup
    from api.tasks import webhook_deliver_task

    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("redis is down")

    monkeypatch.setattr(webhook_deliver_task, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        _member_event(customer, admin)
    assert receiver.requests == []
    assert WebhookDelivery.objects.get().status == "pending"
    _make_due()
    assert webhook_deliveries_send_due() == 1
    assert len(receiver.processed) == 1


def test_rolled_back_change_sends_nothing(webhook_setup, receiver) -> None:
    from django.db import transaction

    customer, _asc, admin, _endpoint = webhook_setup

    def change_then_fail() -> None:
        with transaction.atomic():
            _member_event(customer, admin)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        change_then_fail()
    assert not WebhookDelivery.objects.exists()


def test_endpoint_failing_repeatedly_is_disabled_and_asc_told(
    webhook_setup, receiver, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    customer, asc, admin, endpoint = webhook_setup
    monkeypatch.setattr(webhooks, "DISABLE_AFTER_FAILURES", 3)
    receiver.fail_next = 100
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            _member_event(customer, admin)
    endpoint.refresh_from_db()
    assert endpoint.enabled is False
    assert "HTTP 500" in endpoint.disabled_reason
    assert AuditEvent.objects.filter(action="webhook.disabled").exists()
    assert any("disabled" in m.subject and m.to == [asc.email] for m in mail.outbox)
    # A disabled endpoint gets no new events; enabling it again resets the count.
    before = WebhookDelivery.objects.count()
    _member_event(customer, admin)
    assert WebhookDelivery.objects.count() == before
    webhook_endpoint_update(
        endpoint=endpoint, actor=asc, url=endpoint.url, description="", event_types=[], enabled=True
    )
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0


def test_gives_up_after_max_attempts(webhook_setup, receiver, monkeypatch, django_capture_on_commit_callbacks) -> None:
    customer, _asc, admin, _endpoint = webhook_setup
    monkeypatch.setattr(webhooks, "MAX_ATTEMPTS", 2)
    receiver.fail_next = 100
    with django_capture_on_commit_callbacks(execute=True):
        _member_event(customer, admin)
    _make_due()
    webhook_deliveries_send_due()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed"
    _make_due()
    assert webhook_deliveries_send_due() == 0


def test_rotation_signs_with_both_secrets_during_the_overlap(
    webhook_setup, receiver, django_capture_on_commit_callbacks
) -> None:
    customer, asc, admin, endpoint = webhook_setup
    old = endpoint.secret
    endpoint = webhook_secret_rotate(endpoint=endpoint, actor=asc)
    assert endpoint.secret != old
    assert endpoint.secret.startswith("whsec_")
    receiver.secret = old  # a receiver that has not switched yet still verifies
    with django_capture_on_commit_callbacks(execute=True):
        _member_event(customer, admin)
    request = receiver.requests[-1]
    assert len(request["headers"]["webhook-signature"].split()) == 2
    assert receiver_verify(old, request["headers"], request["body"])
    assert receiver_verify(endpoint.secret, request["headers"], request["body"])
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(previous_secret_expires_at=timezone.now())
    endpoint.refresh_from_db()
    header = webhooks.signature_header(endpoint, message_id="m", timestamp=1, body=b"")
    assert len(header.split()) == 1


def test_subscriptions_filter_event_types(webhook_setup, receiver, django_capture_on_commit_callbacks) -> None:
    customer, asc, admin, endpoint = webhook_setup
    webhook_endpoint_update(
        endpoint=endpoint, actor=asc, url=endpoint.url, description="", event_types=["server.rehosted"], enabled=True
    )
    with django_capture_on_commit_callbacks(execute=True):
        _member_event(customer, admin)
    assert receiver.requests == []


def test_only_the_asc_manages_endpoints(webhook_setup) -> None:
    customer, _asc, admin, _endpoint = webhook_setup
    with pytest.raises(AccessDenied):
        webhook_endpoint_create(customer=customer, actor=admin, url="https://hooks.example.com/x")
    assert AuditEvent.objects.filter(action="webhook.create", denied=True).exists()


def test_entitlement_expiring_can_be_emitted_by_others(
    webhook_setup, receiver, django_capture_on_commit_callbacks
) -> None:
    customer, *_ = webhook_setup
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.webhook_event_emit(
            customer=customer,
            event_type="entitlement.expiring",
            data={"line_id": "L1", "product": "P", "end_date": "2027-01-01", "days_left": 30},
        )
    (event,) = receiver.processed.values()
    assert event["type"] == "entitlement.expiring"
    assert event["data"]["days_left"] == 30
    with pytest.raises(ValueError, match="Unknown webhook event type"):
        webhooks.webhook_event_emit(customer=customer, event_type="nonsense", data={})


# --- SSRF ------------------------------------------------------------------------------------------


@override_settings(PORTAL_WEBHOOK_ALLOW_PRIVATE=False)
@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",  # not HTTPS
        "https://127.0.0.1/x",
        "https://10.1.2.3/x",
        "https://192.168.0.5/x",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://user:pass@hooks.example.com/x",
    ],
)
def test_private_and_unsafe_urls_refused_in_production(url: str) -> None:
    with pytest.raises(PortalError):
        webhooks.webhook_url_check(url)


@override_settings(PORTAL_WEBHOOK_ALLOW_PRIVATE=False)
def test_every_resolved_address_is_checked(monkeypatch) -> None:
    def resolve(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.8", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(webhooks.UnsafeDestination, match="non-public"):
        webhooks.resolve_checked("rebind.example", 443)
    with pytest.raises(webhooks.UnsafeDestination):
        webhooks.post("https://rebind.example/x", body=b"{}", headers={})


def test_connection_is_pinned_to_the_checked_address(receiver, monkeypatch) -> None:
    """The host is resolved once, checked, and the connection goes to that address (a second
    lookup, which a rebinding DNS server could answer differently, never happens)."""
    calls = []
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        calls.append(host)
        return real("127.0.0.1", port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    receiver.secret = "whsec_" + "A" * 44
    status = webhooks.post(
        f"http://hooks.example:{receiver.port}/hooks",
        body=b"{}",
        headers={"webhook-id": "m", "webhook-timestamp": "0", "webhook-signature": "v1,x"},
    )
    assert status == HTTPStatus.UNAUTHORIZED  # reached the receiver, which refused the bad signature
    assert [host for host in calls if host != "127.0.0.1"] == ["hooks.example"]  # an IP literal is no lookup
    assert receiver.requests[-1]["headers"]["host"] == f"hooks.example:{receiver.port}"


# --- Pages -----------------------------------------------------------------------------------------


def test_webhooks_page_add_and_send_again(webhook_setup, receiver, django_capture_on_commit_callbacks) -> None:
    customer, asc, admin, endpoint = webhook_setup
    client = Client()
    client.force_login(asc)
    url = reverse("webhooks:list", kwargs={"customer_number": customer.number})
    assert client.get(url).status_code == HTTPStatus.OK
    response = client.post(
        url, {"url": receiver.url + "/2", "description": "ops", "event_types": ["member.role_changed"]}
    )
    assert response.status_code == HTTPStatus.FOUND
    with django_capture_on_commit_callbacks(execute=True):
        _member_event(customer, admin)
    delivery = WebhookDelivery.objects.filter(endpoint=endpoint).first()
    detail = client.get(
        reverse("webhooks:detail", kwargs={"customer_number": customer.number, "endpoint_id": endpoint.pk})
    )
    assert delivery.message_id in detail.content.decode()
    resend = reverse("webhooks:resend", kwargs={"customer_number": customer.number, "delivery_id": delivery.pk})
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(resend).status_code == HTTPStatus.FOUND
    assert WebhookDelivery.objects.filter(endpoint=endpoint, message_id=delivery.message_id).count() == 2
    admin_client = Client()
    admin_client.force_login(admin)
    assert admin_client.get(url).status_code == HTTPStatus.FORBIDDEN
