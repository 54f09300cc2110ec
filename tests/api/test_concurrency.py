"""Real threads against PostgreSQL: one Idempotency-Key applies once however many requests race."""

from __future__ import annotations

import threading
from http import HTTPStatus

import pytest
from django.db import connection
from django.test import Client

from accounts.models import AuditEvent
from accounts.roles import Role
from activations.models import LicenseFile
from tests.activations.helpers import flex_customer, setup_server


@pytest.mark.django_db(transaction=True)
def test_racing_requests_with_one_key_apply_once(api_client) -> None:
    customer = flex_customer("1001234")
    server, line = setup_server(customer, quantity=100)
    client = api_client(role=Role.ADMINISTRATOR, customer=customer)
    raw = client.raw
    url = f"/api/v1/customers/{customer.number}/servers/{server.pk}/activations/apply"
    body = {"lines": [{"entitlement_id": line.pk, "quantity": 7}]}
    results: list[dict] = []
    barrier = threading.Barrier(4)

    def call() -> None:
        try:
            barrier.wait()
            response = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").post(
                url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="same-key"
            )
            assert response.status_code == HTTPStatus.OK, response.content
            results.append(response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    assert sum(not r["already_applied"] for r in results) == 1
    assert {r["license_file_version"] for r in results} == {1}
    line.refresh_from_db()
    assert line.activated == 7
    assert LicenseFile.objects.filter(server=server).count() == 1
    assert AuditEvent.objects.filter(action="activation.changed").count() == 1
