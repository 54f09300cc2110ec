"""Emergency licenses (#18): a member who may rehost asks for a temporary file for a new host
ID; a support manager approves and the file is issued, signed like any file, each line ending
within 14 days, marked EMERGENCY; one per server (a partial unique index, raced here with real
threads); the server's file versions and rehost allowance are left alone; both sides emailed."""

from __future__ import annotations

import datetime
import io
import threading
from http import HTTPStatus

import pytest
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.utils import timezone, translation

from accounts.models import AuditEvent, User
from accounts.roles import Role, StaffRole
from activations.licensefile import flexlm_date, license_parse, license_verify
from activations.models import EMERGENCY_FILE_VERSION, EmergencyLicense, LicenseFile, Rehost
from activations.selectors import rehost_allowance
from activations.services import HostInput, emergency_license_issue
from activations.signing import verifying_key
from portal.errors import AccessDenied, PortalError
from support import services
from support.models import RequestKind, RequestState, SupportRequest
from tests.factories import (
    ActivationFactory,
    CustomerFactory,
    EntitlementFactory,
    LicenseServerFactory,
    MembershipFactory,
    UserFactory,
)

from .conftest import staff_account

NEW_HOST = "00AABBCCDDEE"


@pytest.fixture
def world(db):
    today = timezone.localdate()
    customer = CustomerFactory(number="1001234", name="Demo Mühendislik A.Ş.", flexnet_managed=True)
    asc = MembershipFactory(customer=customer, role=Role.ASC, user=UserFactory(email="asc@demo.example")).user
    admin = MembershipFactory(
        customer=customer, role=Role.ADMINISTRATOR, user=UserFactory(email="admin@demo.example", language="tr")
    ).user
    viewer = MembershipFactory(customer=customer, role=Role.VIEWER, user=UserFactory(email="viewer@demo.example")).user
    server = LicenseServerFactory(customer=customer, name="lic01")
    # A lease ending in a year, a lease ending in 5 days, a perpetual line.
    for end in (today + datetime.timedelta(days=365), today + datetime.timedelta(days=5), None):
        ActivationFactory(server=server, entitlement=EntitlementFactory(customer=customer, end_date=end), quantity=2)
    return customer, asc, admin, viewer, server


def _file(world, **overrides):
    customer, _asc, admin, _viewer, server = world
    fields = {
        "customer": customer,
        "actor": admin,
        "kind": RequestKind.EMERGENCY_LICENSE,
        "reason": "The server's disk died; the new machine is up.",
        "server": server,
        "host": HostInput("new-lic01", "ETHER", "00:aa:bb:cc:dd:ee"),
        "emergency_days": 14,
    }
    return services.request_file(**{**fields, **overrides})


def _incr_expiries(content: str) -> list[datetime.date | None]:
    return [feature.expiration_date for feature in license_parse(content).features]


def _assert_filed(filed: SupportRequest) -> None:
    assert filed.state == RequestState.OPEN
    assert (filed.host_id, filed.hostid_type, filed.emergency_days) == (NEW_HOST, "ETHER", 10)
    assert filed.due_at == filed.created_at + datetime.timedelta(hours=24)  # the SLA clock like the others


def _assert_marked_for_the_new_host(content: str, filed: SupportRequest, emergency: EmergencyLicense) -> None:
    head = content.splitlines()[:4]
    assert head[0] == "# EMERGENCY LICENSE FILE - TEMPORARY"
    assert f"request #{filed.pk}" in head[1]
    assert flexlm_date(emergency.expires_on) in head[1]
    assert "EMERGENCY" in head[3]
    assert "(temporary)" in head[3]
    assert f"request #{filed.pk}" in head[3]
    parsed = license_parse(content)
    assert [s.host_id for s in parsed.servers] == [NEW_HOST]
    assert [s.host for s in parsed.servers] == ["new-lic01"]
    # Each line ends on the earlier of its own end and the emergency's: never after it.
    five_days = emergency.issued_on + datetime.timedelta(days=5)  # the lease ending in 5 days
    assert sorted(_incr_expiries(content)) == [five_days] + [emergency.expires_on] * 2
    assert [f.count for f in parsed.features] == [2, 2, 2]


def _assert_signed_as_the_emergency_file(emergency: EmergencyLicense, server, tmp_path) -> None:
    # Signed like any file: the portal's own verification accepts it, as the emergency file.
    result = license_verify(emergency.content, public_key=verifying_key())
    assert result.valid, result.failures
    assert (result.identity.server, result.identity.version) == (server.pk, EMERGENCY_FILE_VERSION)
    path = tmp_path / emergency.filename
    path.write_text(emergency.content)
    out = io.StringIO()
    call_command("verify_license", str(path), stdout=out)
    assert out.getvalue().splitlines()[-1] == "valid"
    assert "emergency license file" in out.getvalue()
    assert "EMERGENCY" in emergency.filename
    assert not emergency.filename.endswith("_v1.lic")


def _assert_both_sides_emailed(customer, filed: SupportRequest) -> None:
    """Filed, then approved with the download link (Turkish for the filer)."""
    filed_mail = [
        m for m in mail.outbox if f"#{filed.pk}" in m.subject and ("filed" in m.subject or "açıldı" in m.subject)
    ]
    assert {a for m in filed_mail for a in m.to} >= {
        "admin@demo.example",
        "asc@demo.example",
        settings.PORTAL_SUPPORT_EMAIL,
    }
    approved = {m.to[0]: m for m in mail.outbox if "onaylandı" in m.subject or "approved" in m.subject}
    link = f"/c/{customer.number}/requests/{filed.pk}/emergency-license/"
    assert link in approved["asc@demo.example"].body
    assert "EMERGENCY" in approved["asc@demo.example"].body
    assert link in approved["admin@demo.example"].body
    assert "ACİL" in approved["admin@demo.example"].body
    assert settings.PORTAL_SUPPORT_EMAIL in approved


def test_manager_approval_issues_a_signed_marked_file_that_disturbs_nothing(
    world, django_capture_on_commit_callbacks, tmp_path
) -> None:
    customer, _asc, _admin, _viewer, server = world
    today = timezone.localdate()
    versions_before = list(LicenseFile.objects.values_list("pk", "version", "content"))
    allowance_before = rehost_allowance(customer=customer)
    with django_capture_on_commit_callbacks(execute=True):
        filed = _file(world, emergency_days=10)
    _assert_filed(filed)
    manager = staff_account(StaffRole.MANAGER)
    with django_capture_on_commit_callbacks(execute=True):
        services.request_approve(request=filed, actor=manager, comment="Until the rehost is done.")
    filed.refresh_from_db()
    emergency = filed.emergency_license
    assert filed.state == RequestState.APPROVED
    assert emergency is not None
    assert (emergency.issued_on, emergency.expires_on) == (today, today + datetime.timedelta(days=10))
    _assert_marked_for_the_new_host(emergency.content, filed, emergency)
    _assert_signed_as_the_emergency_file(emergency, server, tmp_path)
    # Nothing of the server's own files, hosts or rehost allowance moved.
    assert list(LicenseFile.objects.values_list("pk", "version", "content")) == versions_before
    assert list(server.hosts.values_list("host_id", flat=True)) != [NEW_HOST]
    assert Rehost.objects.count() == 0
    assert rehost_allowance(customer=customer) == allowance_before
    # Audited, and both sides emailed.
    actions = list(AuditEvent.objects.filter(customer=customer).order_by("pk").values_list("action", flat=True))
    assert actions[-3:] == ["support_request.filed", "license.emergency_issued", "support_request.approved"]
    _assert_both_sides_emailed(customer, filed)


def test_rejection_is_emailed_to_both_sides(world, django_capture_on_commit_callbacks) -> None:
    filed = _file(world)
    with django_capture_on_commit_callbacks(execute=True):
        services.request_reject(request=filed, actor=staff_account(StaffRole.MANAGER), comment="Rehost today instead.")
    rejected = [m for m in mail.outbox if "rejected" in m.subject or "reddedildi" in m.subject]
    assert {a for m in rejected for a in m.to} >= {"admin@demo.example", settings.PORTAL_SUPPORT_EMAIL}
    assert EmergencyLicense.objects.count() == 0


def test_only_a_manager_issues(world, staff_client) -> None:
    filed = _file(world)
    agent = staff_client(StaffRole.AGENT)
    response = agent.post(f"/support/requests/{filed.pk}/approve/", {"comment": ""})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert AuditEvent.objects.filter(actor=agent.user, action="access.denied", denied=True).exists()
    with pytest.raises(AccessDenied):
        services.request_approve(request=filed, actor=agent.user)
    with pytest.raises(AccessDenied):
        emergency_license_issue(
            server=filed.server, actor=agent.user, host=HostInput("h", "ETHER", "00AABBCCDD01"), days=3, reference=1
        )
    assert AuditEvent.objects.filter(
        actor=agent.user, action="license.emergency_issue", denied=True, details__reason="issue_emergency_licenses"
    ).exists()
    assert EmergencyLicense.objects.count() == 0
    manager = staff_client(StaffRole.MANAGER)
    assert manager.post(f"/support/requests/{filed.pk}/approve/", {"comment": ""}).status_code == HTTPStatus.FOUND
    assert EmergencyLicense.objects.count() == 1


@pytest.mark.parametrize("role", [Role.VIEWER])
def test_filing_needs_change_license_server(world, role) -> None:
    customer, *_ = world
    member = MembershipFactory(customer=customer, role=role).user
    with pytest.raises(AccessDenied):
        _file(world, actor=member)
    assert AuditEvent.objects.filter(actor=member, action="support_request.file", denied=True).exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"host": HostInput("", "ETHER", "00AABBCCDD")}, "host_id"),  # 10 digits
        ({"host": HostInput("", "FLEXID9", "12345")}, "host_id"),
        ({"host": HostInput("", "", "")}, "host_id"),
        ({"host": HostInput("bad host", "ETHER", NEW_HOST)}, "host_name"),
        ({"emergency_days": 15}, "emergency_days"),
        ({"emergency_days": 0}, "emergency_days"),
        ({"emergency_days": None}, "emergency_days"),
        ({"server": None}, "server"),
    ],
)
def test_bad_input_is_refused_on_its_field(world, overrides, field) -> None:
    with pytest.raises(PortalError) as refused:
        _file(world, **overrides)
    assert refused.value.field == field
    assert SupportRequest.objects.count() == 0


def test_the_host_must_be_new(world) -> None:
    *_, server = world
    own = server.hosts.get().host_id
    with pytest.raises(PortalError, match="already a host ID"):
        _file(world, host=HostInput("", "ETHER", own))


def test_nothing_activated_nothing_to_issue(world) -> None:
    customer, *_ = world
    empty = LicenseServerFactory(customer=customer, name="lic02")
    with pytest.raises(PortalError, match="Nothing is activated"):
        _file(world, server=empty)


def test_issue_caps_at_14_days_in_the_service_and_the_database(world) -> None:
    *_, server = world
    manager = staff_account(StaffRole.MANAGER)
    with pytest.raises(PortalError):
        emergency_license_issue(
            server=server, actor=manager, host=HostInput("", "ETHER", NEW_HOST), days=15, reference=1
        )
    issued = emergency_license_issue(
        server=server, actor=manager, host=HostInput("", "ETHER", NEW_HOST), days=14, reference=1
    )
    assert issued.expires_on - issued.issued_on == datetime.timedelta(days=14)
    assert max(_incr_expiries(issued.content)) == issued.expires_on
    with pytest.raises(IntegrityError), transaction.atomic():
        EmergencyLicense.objects.filter(pk=issued.pk).update(expires_on=issued.issued_on + datetime.timedelta(days=15))


def test_one_emergency_per_server(world) -> None:
    customer, _asc, _admin, _viewer, server = world
    first = _file(world)
    with pytest.raises(PortalError, match="already has an emergency license request open"):
        _file(world, host=HostInput("", "ETHER", "00AABBCCDD02"))
    # Another server of the customer is not held up.
    other = LicenseServerFactory(customer=customer, name="lic02")
    ActivationFactory(server=other, entitlement=EntitlementFactory(customer=customer))
    _file(world, server=other)
    # Approved, its file valid: still one. Expired: the server may have a new one.
    services.request_approve(request=first, actor=staff_account(StaffRole.MANAGER))
    with pytest.raises(PortalError):
        _file(world)
    past = timezone.localdate() - datetime.timedelta(days=20)
    EmergencyLicense.objects.filter(server=server).update(issued_on=past, expires_on=past + datetime.timedelta(days=14))
    second = _file(world)
    first.refresh_from_db()
    assert first.state == RequestState.DONE
    assert second.state == RequestState.OPEN
    assert AuditEvent.objects.filter(action="support_request.done", target=f"#{first.pk}", actor=None).exists()
    # Rejected: free again.
    services.request_reject(request=second, actor=staff_account(StaffRole.MANAGER), comment="no")
    assert _file(world).state == RequestState.OPEN


def test_a_file_still_valid_holds_the_server_even_when_its_request_is_marked_done(world) -> None:
    """Two valid emergency files for one server would let their lines be combined; marking the
    request done while its file runs must not free the server."""
    _customer, _asc, _admin, _viewer, server = world
    first = _file(world)
    manager = staff_account(StaffRole.MANAGER)
    services.request_approve(request=first, actor=manager)
    services.request_close(request=first, actor=manager)
    first.refresh_from_db()
    assert first.state == RequestState.DONE
    with pytest.raises(PortalError, match="emergency license in use"):
        _file(world)
    assert EmergencyLicense.objects.filter(server=server).count() == 1


def test_the_beat_task_closes_approved_requests_whose_file_expired(world) -> None:
    from support.tasks import emergency_requests_expired_close

    _customer, _asc, _admin, _viewer, server = world
    request = _file(world)
    services.request_approve(request=request, actor=staff_account(StaffRole.MANAGER))
    assert emergency_requests_expired_close() == 0  # still valid: left alone
    request.refresh_from_db()
    assert request.state == RequestState.APPROVED
    past = timezone.localdate() - datetime.timedelta(days=20)
    EmergencyLicense.objects.filter(server=server).update(issued_on=past, expires_on=past + datetime.timedelta(days=14))
    assert emergency_requests_expired_close() == 1
    request.refresh_from_db()
    assert request.state == RequestState.DONE
    assert AuditEvent.objects.filter(action="support_request.done", target=f"#{request.pk}", actor=None).exists()
    assert any(
        entry["task"] == emergency_requests_expired_close.name for entry in settings.CELERY_BEAT_SCHEDULE.values()
    )


def test_the_database_holds_one_open_emergency_per_server(world) -> None:
    customer, _asc, _admin, _viewer, server = world
    fields = {"customer": customer, "kind": RequestKind.EMERGENCY_LICENSE, "server": server, "reason": "r"}
    SupportRequest.objects.create(**fields, due_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        SupportRequest.objects.create(**fields, due_at=timezone.now(), state=RequestState.APPROVED)
    # Closed ones do not count.
    SupportRequest.objects.create(**fields, due_at=timezone.now(), state=RequestState.REJECTED)
    SupportRequest.objects.create(**fields, due_at=timezone.now(), state=RequestState.DONE)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_filings_give_one_request() -> None:
    """Two real threads, each with its own PostgreSQL connection, file at the same moment."""
    customer = CustomerFactory(number="1009876", flexnet_managed=True)
    server = LicenseServerFactory(customer=customer, name="race01")
    ActivationFactory(server=server, entitlement=EntitlementFactory(customer=customer))
    admins = [MembershipFactory(customer=customer, role=Role.ADMINISTRATOR).user for _ in range(2)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def file(actor: User, host_id: str) -> None:
        try:
            barrier.wait(timeout=10)
            services.request_file(
                customer=customer,
                actor=actor,
                kind=RequestKind.EMERGENCY_LICENSE,
                reason="race",
                server=server,
                host=HostInput("", "ETHER", host_id),
                emergency_days=7,
            )
            outcomes.append("filed")
        except PortalError as refused:
            outcomes.append(f"refused: {refused.message}")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=file, args=(admin, host))
        for admin, host in zip(admins, ["00AABBCC0001", "00AABBCC0002"], strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(o.split(":")[0] for o in outcomes) == ["filed", "refused"], outcomes
    assert SupportRequest.objects.filter(server=server, kind=RequestKind.EMERGENCY_LICENSE).count() == 1


def _assert_offered_and_downloaded(client: Client, customer, server, filed: SupportRequest, viewer: User) -> None:
    page = f"/c/{customer.number}/requests/{filed.pk}/"
    download = f"{page}emergency-license/"
    emergency = EmergencyLicense.objects.get()
    html = client.get(page).content.decode()
    assert "data-emergency-file" in html
    assert download in html
    assert "EMERGENCY" in html
    server_page = client.get(f"/c/{customer.number}/activations/servers/{server.pk}/").content.decode()
    assert 'data-section="emergency-licenses"' in server_page
    assert download in server_page
    response = client.get(download)
    assert response.status_code == HTTPStatus.OK
    assert response.content.decode() == emergency.content
    assert "EMERGENCY" in response["Content-Disposition"]
    assert emergency.filename in response["Content-Disposition"]
    assert response["Cache-Control"] == "no-store"
    assert AuditEvent.objects.filter(actor=viewer, action="license.emergency_downloaded").exists()


def _assert_shown_expired_and_refused(client: Client, customer, server, filed: SupportRequest) -> None:
    page = f"/c/{customer.number}/requests/{filed.pk}/"
    download = f"{page}emergency-license/"
    html = client.get(page).content.decode()
    assert "data-expired" in html
    assert download not in html
    assert download not in client.get(f"/c/{customer.number}/activations/servers/{server.pk}/").content.decode()
    refused = client.get(download, follow=True)
    assert "can no longer be downloaded" in refused.content.decode()
    assert not refused.content.decode().startswith("# EMERGENCY")


def test_customer_downloads_while_valid_then_sees_it_expired(world, client) -> None:
    customer, asc, _admin, viewer, server = world
    filed = _file(world, actor=asc)
    page = f"/c/{customer.number}/requests/{filed.pk}/"
    client.force_login(asc)
    # Before approval: back to the request, with why.
    before = client.get(f"{page}emergency-license/")
    assert before.status_code == HTTPStatus.FOUND
    assert before["Location"] == page
    services.request_approve(request=filed, actor=staff_account(StaffRole.MANAGER))
    client = Client()
    client.force_login(viewer)  # a Viewer downloads license files too
    _assert_offered_and_downloaded(client, customer, server, filed, viewer)
    # Expired: shown as such, no link, the download refused.
    past = timezone.localdate() - datetime.timedelta(days=15)
    EmergencyLicense.objects.update(issued_on=past, expires_on=past + datetime.timedelta(days=14))
    _assert_shown_expired_and_refused(client, customer, server, filed)


def test_the_server_page_and_the_rehost_page_offer_the_request(world, client, settings) -> None:
    customer, asc, _admin, viewer, server = world
    client.force_login(asc)
    url = f"/c/{customer.number}/requests/?kind=emergency_license&amp;server={server.pk}#file-title"
    assert url in client.get(f"/c/{customer.number}/activations/servers/{server.pk}/").content.decode()
    # Where the rehost is refused (no allowance left), the page offers it beside the extra rehost.
    settings.PORTAL_REHOSTS_PER_YEAR = 0
    rehost_page = client.get(f"/c/{customer.number}/activations/servers/{server.pk}/rehost/").content.decode()
    assert "Ask support for one more rehost" in rehost_page
    assert url in rehost_page
    form = client.get(f"/c/{customer.number}/requests/?kind=emergency_license&server={server.pk}").content.decode()
    assert '<option value="emergency_license" selected>' in form
    viewer_client = Client()
    viewer_client.force_login(viewer)
    assert url not in viewer_client.get(f"/c/{customer.number}/activations/servers/{server.pk}/").content.decode()


def test_the_form_answers_bad_input_with_a_message(world, client) -> None:
    customer, asc, _admin, _viewer, server = world
    client.force_login(asc)
    data = {"kind": "emergency_license", "server": server.pk, "reason": "r", "hostid_type": "ETHER"}
    bad = client.post(f"/c/{customer.number}/requests/new/", {**data, "host_id": "nope", "emergency_days": 3})
    assert bad.status_code == HTTPStatus.BAD_REQUEST
    assert "12 hexadecimal digits" in bad.content.decode()
    too_long = client.post(f"/c/{customer.number}/requests/new/", {**data, "host_id": NEW_HOST, "emergency_days": 30})
    assert too_long.status_code == HTTPStatus.BAD_REQUEST
    ok = client.post(f"/c/{customer.number}/requests/new/", {**data, "host_id": NEW_HOST, "emergency_days": 3})
    assert ok.status_code == HTTPStatus.FOUND
    again = client.post(f"/c/{customer.number}/requests/new/", {**data, "host_id": "00AABBCCDD03", "emergency_days": 3})
    assert again.status_code == HTTPStatus.BAD_REQUEST
    assert "already has an emergency license request open" in again.content.decode()


def test_see_as_customer_cannot_file(world, staff_client) -> None:
    customer, *_, server = world
    client = staff_client(StaffRole.MANAGER)
    client.post(f"/support/customers/{customer.number}/view-as/", {"role": Role.ASC.value})
    response = client.post(
        f"/c/{customer.number}/requests/new/",
        {"kind": "emergency_license", "server": server.pk, "reason": "r", "hostid_type": "ETHER", "host_id": NEW_HOST},
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert SupportRequest.objects.count() == 0
    # The page shows no form in this mode.
    assert "Send the request" not in client.get(f"/c/{customer.number}/requests/").content.decode()


def test_requests_waiting_queue_lists_it(world, staff_client) -> None:
    filed = _file(world)
    page = staff_client(StaffRole.AGENT).get("/support/queues/requests-waiting/").content.decode()
    assert f"#{filed.pk} Emergency license" in page
    with translation.override("en"):
        assert str(RequestKind.EMERGENCY_LICENSE.label).startswith("Emergency license")
