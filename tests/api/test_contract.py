"""Schemathesis against the live app (a real HTTP server), from the served OpenAPI document,
once per role's token: no 500s, and every response matches the document (status, content
type, body schema). Bounded examples per operation; marked ``slow``."""

from __future__ import annotations

import json
import urllib.request

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.roles import Role
from api.services import api_token_create
from tests.api.world import objects
from tests.factories import MembershipFactory, UserFactory

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 15


@pytest.fixture
def live_world(live_server, django_user_model):
    staff = UserFactory(is_staff=True, is_superuser=True)
    own = objects("1001234", staff)
    objects("2005678", staff)
    return live_server, own


@pytest.fixture(params=list(Role), ids=lambda role: role.value)
def role_token(request, live_world) -> tuple[str, str, dict]:
    live_server, own = live_world
    membership = MembershipFactory(customer=own.customer, role=request.param, user=UserFactory())
    _token, raw = api_token_create(customer=own.customer, actor=membership.user, name="contract", role=request.param)
    return live_server.url, raw, own.ids()


def _document() -> dict:
    from api.v1 import api

    return json.loads(json.dumps(api.get_openapi_schema(), default=str))


# The document the app generates; test_served_document_is_the_generated_one checks that the
# live server serves exactly this at /api/v1/openapi.json.
schema = schemathesis.openapi.from_dict(_document())


@pytest.mark.django_db(transaction=True)
def test_served_document_is_the_generated_one(live_server) -> None:
    with urllib.request.urlopen(f"{live_server.url}/api/v1/openapi.json") as response:
        served = json.load(response)
    assert served["openapi"] == "3.1.0"
    assert served == _document()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_contract_for_each_role(case, role_token) -> None:
    base_url, raw, ids = role_token
    # Most examples target the token's own customer and its real objects; the rest stay random.
    if "number" in (case.path_parameters or {}):
        case.path_parameters["number"] = ids["number"]
    response = case.call(base_url=base_url, headers={"Authorization": f"Bearer {raw}"})
    case.validate_response(response, checks=CHECKS)
