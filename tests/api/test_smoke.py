from __future__ import annotations

from http import HTTPStatus

import pytest

from accounts.roles import Role


@pytest.mark.django_db
def test_entitlements_list(api_client, flex_customer) -> None:
    client = api_client(role=Role.VIEWER, customer=flex_customer)
    response = client.get(f"/api/v1/customers/{flex_customer.number}/entitlements/")
    assert response.status_code == HTTPStatus.OK, response.content
    assert len(response.json()["results"]) == 3
    assert "RateLimit" in response.headers
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == HTTPStatus.OK
    print(response.json()["openapi"])
