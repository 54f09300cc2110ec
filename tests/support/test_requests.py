"""Requests from customers: filing within the role matrix, the workflow (open -> approved /
rejected -> done), comments both ways, emails to both sides through the outbox, the SLA
clock, and approvals applied through the owning services."""

from __future__ import annotations

import datetime
from http import HTTPStatus

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import AuditEvent, Customer, Invitation, Notification
from accounts.roles import Role, StaffRole
from activations.models import RehostGrant
from activations.selectors import rehost_quota
from activations.services import HostInput, server_rehost
from portal.errors import AccessDenied, PortalError
from support import services
from support.models import RequestComment, RequestKind, RequestState, SupportRequest
from tests.factories import (
    ActivationFactory,
    CustomerFactory,
    EntitlementFactory,
    LicenseServerFactory,
    MembershipFactory,
    UserFactory,
)

from .conftest import staff_account


@pytest.fixture
def setup(db, settings):
    settings.PORTAL_REHOSTS_PER_YEAR = 1
    customer = CustomerFactory(number="1001234", flexnet_managed=True)
    asc = MembershipFactory(customer=customer, role=Role.ASC, user=UserFactory(email="asc@demo.example"))
    admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR, user=UserFactory(email="admin@demo.example"))
    viewer = MembershipFactory(customer=customer, role=Role.VIEWER)
    server = LicenseServerFactory(customer=customer, name="lic01")
    EntitlementFactory(customer=customer)  # owns FlexNet: the activations pages exist
    return customer, asc, admin, viewer, server


def _recipients(event: str) -> set[str]:
    return {r for n in Notification.objects.filter(event=f"support_request.{event}") for r in n.recipients}


@pytest.mark.parametrize("kind", list(RequestKind))
@pytest.mark.parametrize("role", list(Role))
def test_filing_needs_the_permission_of_the_underlying_action(setup, kind: RequestKind, role: Role) -> None:
    customer, *_, server = setup
    if kind == RequestKind.FLEXNET_ON:
        Customer.objects.filter(pk=customer.pk).update(flexnet_managed=False)
        customer.refresh_from_db()
    if kind == RequestKind.EMERGENCY_LICENSE:
        ActivationFactory(server=server, entitlement=EntitlementFactory(customer=customer))
    member = MembershipFactory(customer=customer, role=role)
    allowed = services.KIND_PERMISSION[kind] in __import__("accounts.roles").roles.ROLE_PERMISSIONS[role]
    call = lambda: services.request_file(  # noqa: E731
        customer=customer,
        actor=member.user,
        kind=kind,
        reason="please",
        server=server,
        asc_email="new@example.org",
        host=HostInput("", "ETHER", "00AABBCCDDEE"),
        emergency_days=7,
    )
    if allowed:
        assert call().state == RequestState.OPEN
    else:
        with pytest.raises(AccessDenied):
            call()
        assert AuditEvent.objects.filter(actor=member.user, action="support_request.file", denied=True).exists()


def test_viewer_reads_but_has_no_form_and_a_forged_post_is_403(setup, client) -> None:
    customer, _asc, admin, viewer, server = setup
    filed = services.request_file(customer=customer, actor=admin.user, kind="extra_rehost", reason="r", server=server)
    client.force_login(viewer.user)
    page = client.get(f"/c/{customer.number}/requests/")
    assert page.status_code == HTTPStatus.OK
    assert f"#{filed.pk}" in page.content.decode()
    assert "Send the request" not in page.content.decode()
    assert client.get(f"/c/{customer.number}/requests/{filed.pk}/").status_code == HTTPStatus.OK
    forged = client.post(
        f"/c/{customer.number}/requests/new/", {"kind": "extra_rehost", "server": server.pk, "reason": "x"}
    )
    assert forged.status_code == HTTPStatus.FORBIDDEN
    assert client.post(f"/c/{customer.number}/requests/{filed.pk}/comment/", {"body": "x"}).status_code == (
        HTTPStatus.FORBIDDEN
    )


def test_other_customers_requests_are_404(setup, member_client) -> None:
    customer, _asc, admin, _viewer, server = setup
    filed = services.request_file(customer=customer, actor=admin.user, kind="extra_rehost", reason="r", server=server)
    other = member_client(role=Role.ASC, customer=CustomerFactory())
    assert other.get(f"/c/{other.membership.customer.number}/requests/{filed.pk}/").status_code == (
        HTTPStatus.NOT_FOUND
    )


def _file_extra_rehost_through_the_page(client, customer, admin, server, settings) -> SupportRequest:
    client.force_login(admin.user)
    response = client.post(
        f"/c/{customer.number}/requests/new/", {"kind": "extra_rehost", "server": server.pk, "reason": "Mainboard died"}
    )
    filed = SupportRequest.objects.get()
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == f"/c/{customer.number}/requests/{filed.pk}/"
    assert filed.due_at == filed.created_at + datetime.timedelta(hours=24)
    assert _recipients("filed") == {"asc@demo.example", "admin@demo.example", settings.PORTAL_SUPPORT_EMAIL}
    return filed


def _assert_the_grant_is_used_up_by_one_rehost(admin, server) -> None:
    server_rehost(server=server, actor=admin.user, hosts=[HostInput("h", "ETHER", "0000000000B2")])
    assert RehostGrant.objects.get(server=server).used_at is not None
    assert rehost_quota(server=server).exhausted
    with pytest.raises(PortalError):
        server_rehost(server=server, actor=admin.user, hosts=[HostInput("h", "ETHER", "0000000000C3")])


def test_extra_rehost_end_to_end(setup, client, settings) -> None:
    customer, _asc, admin, _viewer, server = setup
    server_rehost(server=server, actor=admin.user, hosts=[HostInput("h", "ETHER", "0000000000A1")])
    assert rehost_quota(server=server).exhausted
    filed = _file_extra_rehost_through_the_page(client, customer, admin, server, settings)
    # Support comments, the customer answers: each side is emailed.
    agent = staff_account(StaffRole.AGENT)
    services.request_comment(request=filed, actor=agent, body="Which host ID?", as_support=True)
    assert _recipients("commented") == {"asc@demo.example", "admin@demo.example"}
    services.request_comment(request=filed, actor=admin.user, body="0000000000B2", as_support=False)
    assert settings.PORTAL_SUPPORT_EMAIL in _recipients("commented")
    # An agent may not approve; a manager approves and the grant is applied.
    with pytest.raises(AccessDenied):
        services.request_approve(request=filed, actor=agent)
    manager = staff_account(StaffRole.MANAGER)
    services.request_approve(request=filed, actor=manager, comment="Granted once.")
    filed.refresh_from_db()
    assert filed.state == RequestState.APPROVED
    assert RehostGrant.objects.get(server=server).used_at is None
    assert not rehost_quota(server=server).exhausted
    assert _recipients("approved") == {"asc@demo.example", "admin@demo.example", settings.PORTAL_SUPPORT_EMAIL}
    # The customer rehosts once more; the grant is used up.
    _assert_the_grant_is_used_up_by_one_rehost(admin, server)
    services.request_close(request=filed, actor=agent)
    filed.refresh_from_db()
    assert filed.state == RequestState.DONE
    assert list(
        AuditEvent.objects.filter(customer=customer, action__startswith="support_request.")
        .order_by("pk")
        .values_list("action", flat=True)
    ) == [
        "support_request.filed",
        "support_request.commented",
        "support_request.commented",
        "support_request.approve",
        "support_request.approved",
        "support_request.done",
    ]


def test_asc_change_is_confirmed_through_designate_asc(setup) -> None:
    customer, asc, _admin, _viewer, _server = setup
    filed = services.request_file(
        customer=customer, actor=asc.user, kind="asc_change", reason="I leave", asc_email="Successor@Demo.example"
    )
    services.request_approve(request=filed, actor=staff_account(StaffRole.MANAGER))
    invitation = Invitation.objects.get(customer=customer, email="successor@demo.example")
    assert invitation.role == Role.ASC
    assert AuditEvent.objects.filter(customer=customer, action="asc.designated").exists()


def test_flexnet_on_request(setup) -> None:
    customer, _asc, admin, _viewer, _server = setup
    with pytest.raises(PortalError):
        services.request_file(customer=customer, actor=admin.user, kind="flexnet_on", reason="r")
    Customer.objects.filter(pk=customer.pk).update(flexnet_managed=False)
    customer.refresh_from_db()
    filed = services.request_file(customer=customer, actor=admin.user, kind="flexnet_on", reason="r")
    services.request_approve(request=filed, actor=staff_account(StaffRole.MANAGER))
    assert Customer.objects.get(pk=customer.pk).flexnet_managed is True


def test_reject_needs_a_reason_and_one_decision_only(setup) -> None:
    customer, _asc, admin, _viewer, server = setup
    filed = services.request_file(customer=customer, actor=admin.user, kind="extra_rehost", reason="r", server=server)
    manager = staff_account(StaffRole.MANAGER)
    with pytest.raises(PortalError):
        services.request_reject(request=filed, actor=manager, comment=" ")
    services.request_reject(request=filed, actor=manager, comment="Quota is enough.")
    filed.refresh_from_db()
    assert filed.state == RequestState.REJECTED
    assert RequestComment.objects.filter(request=filed, from_support=True, body="Quota is enough.").exists()
    with pytest.raises(PortalError):
        services.request_approve(request=filed, actor=manager)
    assert not RehostGrant.objects.exists()


def test_one_open_request_per_kind_and_server(setup) -> None:
    customer, asc, admin, _viewer, server = setup
    services.request_file(customer=customer, actor=admin.user, kind="extra_rehost", reason="r", server=server)
    with pytest.raises(PortalError):
        services.request_file(customer=customer, actor=asc.user, kind="extra_rehost", reason="r", server=server)
    other_server = LicenseServerFactory(customer=customer)
    services.request_file(customer=customer, actor=asc.user, kind="extra_rehost", reason="r", server=other_server)


def test_a_server_of_another_customer_is_refused(setup) -> None:
    customer, _asc, admin, _viewer, _server = setup
    theirs = LicenseServerFactory(customer=CustomerFactory())
    with pytest.raises(PortalError):
        services.request_file(customer=customer, actor=admin.user, kind="extra_rehost", reason="r", server=theirs)


def test_sla_clock_and_requests_waiting_queue(setup, staff_client) -> None:
    customer, _asc, admin, _viewer, server = setup
    filed = services.request_file(customer=customer, actor=admin.user, kind="extra_rehost", reason="r", server=server)
    assert not filed.overdue
    SupportRequest.objects.filter(pk=filed.pk).update(due_at=timezone.now() - datetime.timedelta(minutes=1))
    filed.refresh_from_db()
    assert filed.overdue
    client = staff_client(StaffRole.AGENT)
    assert f"#{filed.pk}" in client.get("/support/queues/requests-waiting/").content.decode()
    page = client.get(f"/support/requests/{filed.pk}/").content.decode()
    assert "overdue" in page
    assert "A support manager decides this request." in page


def test_support_pages_approve_through_the_views(setup, staff_client) -> None:
    customer, _asc, admin, _viewer, server = setup
    filed = services.request_file(customer=customer, actor=admin.user, kind="extra_rehost", reason="r", server=server)
    manager = staff_client(StaffRole.MANAGER)
    response = manager.post(f"/support/requests/{filed.pk}/approve/", {"comment": "ok"})
    assert response.status_code == HTTPStatus.FOUND
    filed.refresh_from_db()
    assert filed.state == RequestState.APPROVED
    again = manager.post(f"/support/requests/{filed.pk}/approve/", {"comment": "ok"})
    assert again.status_code == HTTPStatus.BAD_REQUEST


def test_emails_are_sent(setup) -> None:
    customer, _asc, admin, _viewer, server = setup
    services.request_file(customer=customer, actor=admin.user, kind="extra_rehost", reason="r", server=server)
    assert (
        any("Request #" in m.subject for m in mail.outbox)
        or Notification.objects.filter(event="support_request.filed").exists()
    )


def test_requests_tab_in_the_navigation(setup, client) -> None:
    customer, _asc, _admin, viewer, _server = setup
    client.force_login(viewer.user)
    page = client.get(f"/c/{customer.number}/entitlements/").content.decode()
    assert f'href="/c/{customer.number}/requests/"' in page


def test_contact_support_texts_are_buttons_where_the_role_can_file(setup, client, settings) -> None:
    customer, _asc, admin, viewer, server = setup
    server_rehost(server=server, actor=admin.user, hosts=[HostInput("h", "ETHER", "0000000000A1")])
    client.force_login(admin.user)
    rehost = client.get(f"/c/{customer.number}/activations/servers/{server.pk}/rehost/").content.decode()
    assert f"/c/{customer.number}/requests/?kind=extra_rehost&amp;server={server.pk}" in rehost
    users = client.get(f"/c/{customer.number}/users/").content.decode()
    assert f"/c/{customer.number}/requests/?kind=asc_change" in users
    form = client.get(f"/c/{customer.number}/requests/?kind=extra_rehost&server={server.pk}").content.decode()
    assert 'value="extra_rehost" selected' in form
    client.force_login(viewer.user)
    assert "kind=asc_change" not in client.get(f"/c/{customer.number}/users/").content.decode()


def test_flexnet_off_page_offers_the_request(setup, client) -> None:
    customer, _asc, admin, _viewer, _server = setup
    Customer.objects.filter(pk=customer.pk).update(flexnet_managed=False)
    client.force_login(admin.user)
    page = client.get(f"/c/{customer.number}/activations/").content.decode()
    assert f"/c/{customer.number}/requests/?kind=flexnet_on" in page
