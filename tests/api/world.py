"""Two customers with one of everything the API lists, and the API's operations."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from accounts.models import Customer, Invitation, Membership
from accounts.roles import Permission, Role
from activations.models import LicenseServer
from entitlements.models import ElasticAccount, Entitlement, LicensingModel, SharedWebGroup, SharedWebUser
from tests.activations.helpers import activate, flex_customer
from tests.factories import EntitlementFactory, InvitationFactory, MembershipFactory, ProductFactory, UserFactory


@dataclass
class Objects:
    customer: Customer
    entitlement: Entitlement
    server: LicenseServer
    member: Membership
    invitation: Invitation
    shared_web_user: SharedWebUser
    shared_web_group: SharedWebGroup
    shared_web_line: Entitlement

    def ids(self) -> dict[str, Any]:
        return {
            "number": self.customer.number,
            "entitlement_id": self.entitlement.pk,
            "server_id": self.server.pk,
            "version": 1,
            "member_id": self.member.pk,
            "invitation_id": self.invitation.pk,
            "user_id": self.shared_web_user.pk,
            "group_id": self.shared_web_group.pk,
        }


def objects(number: str, staff) -> Objects:
    from tests.activations.helpers import setup_server

    customer = flex_customer(number)
    server, line = setup_server(customer)
    activate(server, staff, {line.pk: 1})
    shared_line = EntitlementFactory(
        customer=customer,
        product=ProductFactory(feature="sharedweb", name="Shared Web", licensing_model=LicensingModel.SHARED_WEB),
    )
    EntitlementFactory(
        customer=customer,
        product=ProductFactory(feature="elastic", name="Elastic", licensing_model=LicensingModel.ELASTIC),
    )
    ElasticAccount.objects.create(
        customer=customer, license_server_id=f"cloud-{number}", pin="ABCDEFGHJKLM", alert_thresholds=[50, 80, 100]
    )
    member = MembershipFactory(customer=customer, role=Role.VIEWER, user=UserFactory())
    invitation = InvitationFactory(customer=customer)
    shared = SharedWebUser.objects.create(customer=customer, email=f"sw@{number}.example")
    group = SharedWebGroup.objects.create(customer=customer, name=f"Group {number}")
    group.members.add(shared)
    return Objects(customer, line, server, member, invitation, shared, group, shared_line)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    permission: Permission | None

    def url(self, ids: dict[str, Any]) -> str:
        return "/api/v1" + re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def operations() -> list[Operation]:
    """Every operation of /api/v1/, read from the API object: a new endpoint is enrolled in the
    generated tests the moment it is routed."""
    from api.v1 import api

    found = []
    for _prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            for op in path_view.operations:
                for method in op.methods:
                    found.append(Operation(method, path, getattr(op.view_func, "required_permission", None)))
    return found


# A valid body for each operation that takes one, so that the access check (not the body's
# validation) decides the answer. A new operation with a body must add one here.
BODIES: dict[str, dict[str, Any]] = {
    "POST /customers/{number}/servers/": {
        "name": "new",
        "hosts": [{"host_name": "h", "hostid_type": "ETHER", "host_id": "0A0B0C0D0E0F"}],
    },
    "PATCH /customers/{number}/servers/{server_id}": {"name": "renamed", "host_names": ["h1"]},
    "POST /customers/{number}/servers/{server_id}/rehost": {
        "hosts": [{"host_name": "h", "hostid_type": "ETHER", "host_id": "0A0B0C0D0E1F"}]
    },
    "POST /customers/{number}/servers/{server_id}/activations/plan": {"lines": [{"entitlement_id": 1, "quantity": 0}]},
    "POST /customers/{number}/servers/{server_id}/activations/apply": {"lines": [{"entitlement_id": 1, "quantity": 0}]},
    "POST /customers/{number}/license-files/verify": {"content": "x"},
    "POST /customers/{number}/members/": {"email": "someone@example.org", "role": "viewer"},
    "PATCH /customers/{number}/members/{member_id}": {"role": "viewer"},
    "POST /customers/{number}/member-import": {"csv": "bulk@example.org,viewer"},
    "PUT /customers/{number}/mfa-requirement": {"required": True},
    "POST /customers/{number}/shared-web/users/": {"email": "new-sw@example.org"},
    "PATCH /customers/{number}/shared-web/users/{user_id}": {"email": "renamed-sw@example.org", "name": "R"},
    "POST /customers/{number}/shared-web/user-import": {"csv": "imported@example.org,Imported"},
    "POST /customers/{number}/shared-web/groups/": {"name": "New group"},
    "PATCH /customers/{number}/shared-web/groups/{group_id}": {"name": "Renamed group"},
    "PUT /customers/{number}/shared-web/groups/{group_id}/members": {"member_ids": []},
    "PUT /customers/{number}/shared-web/groups/{group_id}/seats/{entitlement_id}": {"seats": 1},
    "PUT /customers/{number}/elastic/budget": {
        "monthly_budget_units": 1000,
        "alert_thresholds": [50, 100],
        "alert_recipients": [],
    },
}
HEADERS = {"HTTP_IDEMPOTENCY_KEY": "generated-test"}


def send(client, operation: Operation, ids: dict[str, Any]):
    body = BODIES.get(str(operation))
    kwargs: dict[str, Any] = dict(HEADERS)
    if body is not None:
        kwargs.update(data=body, content_type="application/json")
    return getattr(client, operation.method.lower())(operation.url(ids), **kwargs)
