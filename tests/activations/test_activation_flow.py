"""Activate -> review -> save, return, rehost, license files, verify, update from license."""

from __future__ import annotations

import datetime
import io
import json
import re
from http import HTTPStatus
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings
from django.urls import include, path, reverse
from django.utils import timezone

from accounts.models import AuditEvent
from accounts.roles import Role
from activations.licensefile import license_parse, license_verify
from activations.models import Activation, LicenseFile, LicenseServer, Rehost, RehostQuota
from activations.selectors import LineRequest, rehost_quota
from activations.services import (
    ActivationConflict,
    HostInput,
    activation_apply,
    activation_token_new,
    rehost_quota_set,
    server_create,
    server_rehost,
    server_return,
)
from activations.signing import verifying_key
from entitlements.models import Entitlement
from portal.errors import AccessDenied, PortalError
from portal.urls import urlpatterns as portal_urlpatterns
from tests.activations.helpers import activate, flex_customer, setup_server
from tests.factories import (
    ActivationFactory,
    CustomerFactory,
    EntitlementFactory,
    LicenseServerFactory,
    MembershipFactory,
    ProductFactory,
    UserFactory,
)

SAMPLES = Path(__file__).parent / "license_samples"
if not SAMPLES.exists():
    SAMPLES = Path("/work/shared/samples/licenses")

# portal/urls.py includes activations.urls_public at the root; this urlconf does the same
# so these tests do not depend on that line being there yet.
urlpatterns = [*portal_urlpatterns, path("", include("activations.urls_public"))]


@pytest.fixture
def asc(member_client):
    customer = flex_customer()
    client = member_client(role=Role.ASC, customer=customer)
    server, line = setup_server(customer, quantity=10, borrowable=True)
    client.customer, client.server, client.line = customer, server, line
    return client


def _review(client, quantities: dict[int, int], base: dict[int, int] | None = None, borrow=()):
    data = {}
    for pk, quantity in quantities.items():
        data[f"qty_{pk}"] = str(quantity)
        data[f"base_{pk}"] = str((base or {}).get(pk, 0))
    for pk in borrow:
        data[f"borrow_{pk}"] = "on"
    url = reverse("activations:activate", args=[client.customer.number, client.server.pk])
    return client.post(url, data)


def _apply_data(review_response) -> dict[str, object]:
    html = review_response.content.decode()
    form = html[html.index("activate/save/") :]
    data: dict[str, object] = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    # The recipients ticked by default (the customer's ASCs), as the browser would send them.
    data["recipients"] = re.findall(r'<input type="checkbox" name="recipients" value="([^"]+)"[^>]*checked', form)
    return data


def _apply(client, data, deliver="download"):
    """Saves the review as the browser does: the POST answers with the result page, and after
    Save & Download the browser fetches the file the result page links to."""
    url = reverse("activations:activate_apply", args=[client.customer.number, client.server.pk])
    response = client.post(url, {**data, "deliver": deliver})
    if response.status_code != HTTPStatus.FOUND:
        return response
    saved = client.get(response["Location"])
    assert saved.status_code == HTTPStatus.OK
    if deliver == "email":
        return saved
    download = re.search(r'href="([^"]+/download/)"', saved.content.decode())
    assert download, "the result page links the file"
    return client.get(download.group(1))


# --- Activate -------------------------------------------------------------------------------


def _assert_downloaded_with_4_borrowable(response, asc) -> None:
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Disposition"].startswith("attachment")
    parsed = license_parse(response.content.decode())
    (feature,) = [f for f in parsed.features if f.name == asc.line.product.feature]
    assert feature.count == 4
    assert feature.attribute("BORROW").value == "720"
    assert feature.attribute("VENDOR_STRING").value == f"customer:{int(asc.customer.number):08d}"


@pytest.mark.django_db
def test_activate_review_and_save_and_download(asc, django_capture_on_commit_callbacks) -> None:
    line = asc.line
    page = asc.get(reverse("activations:activate", args=[asc.customer.number, asc.server.pk]))
    assert page.status_code == HTTPStatus.OK
    assert f'name="qty_{line.pk}"' in page.content.decode()
    review = _review(asc, {line.pk: 4}, borrow=[line.pk])
    html = review.content.decode()
    assert review.status_code == HTTPStatus.OK
    assert "+4" in html
    assert "Save &amp; Download" in html.replace("& ", "&amp; ")
    assert "Save &amp; Email" in html.replace("& ", "&amp; ")
    assert not Activation.objects.exists()  # review saves nothing
    with django_capture_on_commit_callbacks(execute=True):
        response = _apply(asc, _apply_data(review))
    _assert_downloaded_with_4_borrowable(response, asc)
    line.refresh_from_db()
    assert line.activated == 4
    assert AuditEvent.objects.filter(customer=asc.customer, action="activation.changed").count() == 1
    # The ASC (the only one) is emailed about the activation.
    assert [m.subject for m in mail.outbox if "License server" in m.subject]


@pytest.mark.django_db
def test_lowering_returns_to_pool_and_nothing_changed_offers_generate(asc) -> None:
    line = asc.line
    _apply(asc, _apply_data(_review(asc, {line.pk: 6})))
    review = _review(asc, {line.pk: 2}, base={line.pk: 6})
    assert "-4" in review.content.decode()
    _apply(asc, _apply_data(review))
    line.refresh_from_db()
    assert line.activated == 2
    review = _review(asc, {line.pk: 2}, base={line.pk: 2})
    html = review.content.decode()
    assert "Generate" in html
    assert "Save & Download" not in html
    assert "Save &amp; Download" not in html
    versions = LicenseFile.objects.filter(server=asc.server).count()
    response = _apply(asc, _apply_data(review))
    assert response.status_code == HTTPStatus.OK
    assert LicenseFile.objects.filter(server=asc.server).count() == versions  # the current file, again


@pytest.mark.django_db
def test_lowering_a_line_to_zero_through_the_review_returns_it(asc) -> None:
    """Regression: the review used to drop a quantity of 0 from its hidden fields, so the
    save kept the licenses on the server while the review had shown them returned."""
    line = asc.line
    _apply(asc, _apply_data(_review(asc, {line.pk: 4})))
    review = _review(asc, {line.pk: 0}, base={line.pk: 4})
    assert "-4" in review.content.decode()
    assert _apply_data(review)[f"qty_{line.pk}"] == "0"
    _apply(asc, _apply_data(review))
    line.refresh_from_db()
    assert line.activated == 0
    assert not Activation.objects.filter(server=asc.server).exists()


@pytest.mark.django_db
def test_the_whole_table_of_a_large_customer_can_be_submitted(asc) -> None:
    """Step 1 posts every line (quantity, base, borrowable): 3,000 fields for 1,000 lines
    must not hit Django's field-count limit (settings.DATA_UPLOAD_MAX_NUMBER_FIELDS)."""
    product = ProductFactory(feature="bulk_feature")
    Entitlement.objects.bulk_create(
        Entitlement(
            customer=asc.customer,
            product=product,
            line_id=f"{asc.customer.number}-B{i:04d}",
            quantity=2,
            start_date=datetime.date(2020, 1, 1),
            borrowable=True,
        )
        for i in range(1_000)
    )
    # Built by hand: the page shows 100 lines at a time, but a client may post them all.
    data = {}
    for pk, borrowable in Entitlement.objects.filter(customer=asc.customer).values_list("pk", "borrowable"):
        data.update({f"qty_{pk}": "0", f"base_{pk}": "0", **({f"borrow_{pk}": "on"} if borrowable else {})})
    assert len(data) > 3_000
    data[f"qty_{asc.line.pk}"] = "3"
    url = reverse("activations:activate", args=[asc.customer.number, asc.server.pk])
    review = asc.post(url, data)
    assert review.status_code == HTTPStatus.OK
    assert "+3" in review.content.decode()


@pytest.mark.django_db
def test_save_and_email_sends_exactly_one_email_with_the_file(asc, django_capture_on_commit_callbacks) -> None:
    review = _review(asc, {asc.line.pk: 3})
    data = _apply_data(review)
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        response = _apply(asc, data, deliver="email")
    assert response.status_code == HTTPStatus.OK
    assert "data-emailed-to" in response.content.decode()
    to_user = [m for m in mail.outbox if m.to == [asc.user.email] and m.attachments]
    assert len(to_user) == 1
    filename, content, mimetype = to_user[0].attachments[0]
    assert filename.endswith(".lic")
    assert mimetype == "text/plain"
    assert license_verify(content, public_key=verifying_key()).valid
    # Submitting the same review again applies nothing and sends nothing.
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        again = _apply(asc, data, deliver="email")
    assert again.status_code == HTTPStatus.OK
    assert mail.outbox == []
    asc.line.refresh_from_db()
    assert asc.line.activated == 3


@pytest.mark.django_db
def test_double_submit_applies_once(asc) -> None:
    data = _apply_data(_review(asc, {asc.line.pk: 3}))
    first = _apply(asc, data)
    second = _apply(asc, data)
    assert first.status_code == second.status_code == HTTPStatus.OK
    assert first.content == second.content
    asc.line.refresh_from_db()
    assert asc.line.activated == 3
    assert LicenseFile.objects.filter(server=asc.server).count() == 1


@pytest.mark.django_db
def test_availability_changed_meanwhile_applies_nothing_and_names_the_line(asc) -> None:
    line = asc.line
    other_line = EntitlementFactory(customer=asc.customer, product=ProductFactory(feature="dsdxm"), quantity=5)
    data = _apply_data(_review(asc, {line.pk: 8, other_line.pk: 1}))
    # Someone else takes 5 of the 10 on another server in the meantime.
    other_server = LicenseServerFactory(customer=asc.customer)
    activate(other_server, UserFactory(is_staff=True), {line.pk: 5})
    response = _apply(asc, data)
    assert response.status_code == HTTPStatus.CONFLICT
    html = response.content.decode()
    assert line.line_id in html
    assert "Nothing was saved" in html
    assert not Activation.objects.filter(server=asc.server).exists()  # not even the other line
    line.refresh_from_db()
    assert line.activated == 5


@pytest.mark.django_db
def test_expired_lines_cannot_be_newly_activated_but_can_be_returned(asc) -> None:
    staff = UserFactory(is_staff=True)
    expired = EntitlementFactory(
        customer=asc.customer,
        product=ProductFactory(feature="old_feat"),
        quantity=4,
        start_date=datetime.date(2020, 1, 1),
        end_date=datetime.date(2021, 1, 1),
    )
    future = EntitlementFactory(
        customer=asc.customer,
        product=ProductFactory(feature="new_feat"),
        quantity=4,
        start_date=timezone.localdate() + datetime.timedelta(days=10),
    )
    with pytest.raises(ActivationConflict, match=expired.line_id):
        activate(asc.server, staff, {expired.pk: 1})
    with pytest.raises(ActivationConflict, match=future.line_id):
        activate(asc.server, staff, {future.pk: 1})
    # An activation made before it expired can be lowered.
    ActivationFactory(server=asc.server, entitlement=expired, quantity=3)  # keeps activated in step
    activate(asc.server, staff, {expired.pk: 1})
    expired.refresh_from_db()
    assert expired.activated == 1
    review = _review(asc, {expired.pk: 2}, base={expired.pk: 1})
    assert "has expired" in review.content.decode()


@pytest.mark.django_db
def test_borrowable_refused_for_a_line_that_is_not(asc) -> None:
    plain = EntitlementFactory(customer=asc.customer, product=ProductFactory(feature="plain"), borrowable=False)
    with pytest.raises(ActivationConflict, match="not borrowable"):
        activate(asc.server, asc.user, {plain.pk: 1}, borrow={plain.pk})


@pytest.mark.parametrize(
    "value",
    ["abc", "-1", "1e3", "99999999999999999999", "", " ", "1.5", "0x10", "11", "1001"],
)
@pytest.mark.django_db
def test_bad_quantities_are_form_errors(asc, value) -> None:
    response = _review(asc, {asc.line.pk: value})
    assert response.status_code == HTTPStatus.OK
    if value.strip():
        assert "errorlist" in response.content.decode() or "Review the changes" not in response.content.decode()
    assert not Activation.objects.exists()


@pytest.mark.django_db
def test_unknown_and_foreign_entitlement_ids_in_post_are_ignored_or_refused(asc) -> None:
    theirs = EntitlementFactory(customer=CustomerFactory(), product=ProductFactory(feature="foreign"))
    data = _apply_data(_review(asc, {asc.line.pk: 1}))
    data[f"qty_{theirs.pk}"] = "1"
    data["qty_999999999"] = "3"
    response = _apply(asc, data)
    assert response.status_code == HTTPStatus.OK
    theirs.refresh_from_db()
    assert theirs.activated == 0
    with pytest.raises(PortalError):
        activate(asc.server, asc.user, {theirs.pk: 1})
    # A forged token or deliver value is a form error, not a 500.
    bad = _apply(asc, {**data, "token": "not a token!"})
    assert bad.status_code in (HTTPStatus.OK, HTTPStatus.CONFLICT)
    bad = _apply(asc, {**data, "token": "b" * 32}, deliver="fax")
    assert bad.status_code == HTTPStatus.OK


# --- Servers --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_add_server_with_clear_errors_and_unique_host_ids(asc) -> None:
    url = reverse("activations:server_add", args=[asc.customer.number])
    bad = asc.post(
        url, {"name": "new", "lmgrd_port": "1055", "host_name_1": "h1", "hostid_type_1": "ETHER", "host_id_1": "12345"}
    )
    assert bad.status_code == HTTPStatus.OK
    assert "12 hexadecimal digits" in bad.content.decode()
    taken = asc.server.hosts.get().host_id
    dup = asc.post(
        url, {"name": "new", "lmgrd_port": "1055", "host_name_1": "h1", "hostid_type_1": "ETHER", "host_id_1": taken}
    )
    assert "already used by your license server" in dup.content.decode()
    for port in ("0", "70000", "x"):
        response = asc.post(
            url,
            {
                "name": "p",
                "lmgrd_port": port,
                "host_name_1": "h",
                "hostid_type_1": "ETHER",
                "host_id_1": "AABBCCDDEE01",
            },
        )
        assert response.status_code == HTTPStatus.OK
    ok = asc.post(
        url,
        {
            "name": "triad",
            "lmgrd_port": "27000",
            "triad": "on",
            "host_name_1": "a",
            "hostid_type_1": "ETHER",
            "host_id_1": "aa:bb:cc:dd:ee:01",
            "host_name_2": "b",
            "hostid_type_2": "DISK_SERIAL",
            "host_id_2": "0a1b-2c3d",
            "host_name_3": "c",
            "hostid_type_3": "FLEXID9",
            "host_id_3": "9-1a2b3c4d",
        },
    )
    assert ok.status_code == HTTPStatus.FOUND
    server = asc.customer.license_servers.get(name="triad")
    assert [h.host_id for h in server.hosts.all()] == ["AABBCCDDEE01", "0A1B2C3D", "FLEXID=9-1A2B3C4D"]
    # The same host ID may be used by another customer.
    other = flex_customer()
    server_create(
        customer=other, actor=UserFactory(is_staff=True), name="x", hosts=[HostInput("x", "ETHER", "AABBCCDDEE01")]
    )


@pytest.mark.django_db
def test_edit_server_names_and_ports_new_version(asc) -> None:
    activate(asc.server, asc.user, {asc.line.pk: 1})
    url = reverse("activations:server_edit", args=[asc.customer.number, asc.server.pk])
    assert asc.get(url).status_code == HTTPStatus.OK
    response = asc.post(url, {"name": "renamed", "lmgrd_port": "27001", "host_name_1": "newhost.example"})
    assert response.status_code == HTTPStatus.FOUND
    latest = LicenseFile.objects.filter(server=asc.server).order_by("-version").first()
    assert latest.version == 2
    assert "SERVER newhost.example" in latest.content
    assert " 27001" in latest.content
    assert license_verify(latest.content, public_key=verifying_key()).valid


# --- Return, rehost ------------------------------------------------------------------------


@pytest.mark.django_db
def test_return_gives_everything_back_to_the_pool(asc, django_capture_on_commit_callbacks) -> None:
    activate(asc.server, asc.user, {asc.line.pk: 7})
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        response = asc.post(reverse("activations:return", args=[asc.customer.number, asc.server.pk]))
    assert response.status_code == HTTPStatus.FOUND
    asc.line.refresh_from_db()
    assert asc.line.activated == 0
    assert not Activation.objects.filter(server=asc.server).exists()
    latest = LicenseFile.objects.filter(server=asc.server).order_by("-version").first()
    assert latest.reason == "return"
    assert "INCREMENT" not in latest.content
    assert AuditEvent.objects.filter(action="activation.returned", customer=asc.customer).exists()
    assert any("License server" in m.subject for m in mail.outbox)
    with pytest.raises(PortalError):
        server_return(server=asc.server, actor=asc.user)


@pytest.mark.django_db
def test_rehost_quota_rolling_window_and_override(asc, settings) -> None:
    settings.PORTAL_REHOSTS_PER_YEAR = 2
    activate(asc.server, asc.user, {asc.line.pk: 1})
    server_rehost(server=asc.server, actor=asc.user, hosts=[HostInput("h", "ETHER", "0000000000A1")])
    server_rehost(server=asc.server, actor=asc.user, hosts=[HostInput("h", "ETHER", "0000000000A2")])
    url = reverse("activations:rehost", args=[asc.customer.number, asc.server.pk])
    html = asc.get(url).content.decode()
    assert "No rehost left" in html
    assert settings.PORTAL_SUPPORT_EMAIL in html
    assert "next rehost is possible" in html
    with pytest.raises(PortalError, match="next rehost is possible"):
        server_rehost(server=asc.server, actor=asc.user, hosts=[HostInput("h", "ETHER", "0000000000A3")])
    # Rolling window: the oldest rehost leaves the window after 365 days.
    oldest = Rehost.objects.filter(server=asc.server).order_by("created_at").first()
    quota = rehost_quota(server=asc.server)
    assert quota.next_possible_at == oldest.created_at + datetime.timedelta(days=365)
    Rehost.objects.filter(pk=oldest.pk).update(created_at=timezone.now() - datetime.timedelta(days=366))
    assert rehost_quota(server=asc.server).remaining == 1
    server_rehost(server=asc.server, actor=asc.user, hosts=[HostInput("h", "ETHER", "0000000000A3")])
    # Support override per customer.
    with pytest.raises(AccessDenied):
        rehost_quota_set(customer=asc.customer, actor=asc.user, rehosts_per_year=5)
    rehost_quota_set(customer=asc.customer, actor=UserFactory(is_staff=True), rehosts_per_year=5)
    assert RehostQuota.objects.get(customer=asc.customer).rehosts_per_year == 5
    new_host = {"host_name_1": "moved.example", "hostid_type_1": "DISK_SERIAL", "host_id_1": "1234abcd"}
    files = LicenseFile.objects.filter(server=asc.server).count()
    review = asc.post(url, new_host)
    assert review.status_code == HTTPStatus.OK
    assert "data-rehost-review" in review.content.decode()
    assert LicenseFile.objects.filter(server=asc.server).count() == files  # the review changes nothing
    response = asc.post(url, {**new_host, "confirm": "1"})
    assert response.status_code == HTTPStatus.FOUND
    latest = LicenseFile.objects.filter(server=asc.server).order_by("-version").first()
    assert latest.reason == "rehost"
    assert "SERVER moved.example 1234ABCD" in latest.content
    assert license_verify(latest.content, public_key=verifying_key()).valid
    assert AuditEvent.objects.filter(action="server.rehosted", customer=asc.customer).count() == 4


@pytest.mark.django_db
def test_rehost_form_errors(asc) -> None:
    url = reverse("activations:rehost", args=[asc.customer.number, asc.server.pk])
    for host_id in ("zz", "", "0" * 100):
        response = asc.post(url, {"host_name_1": "h", "hostid_type_1": "ETHER", "host_id_1": host_id})
        assert response.status_code == HTTPStatus.OK
    same = asc.server.hosts.get().host_id
    response = asc.post(url, {"host_name_1": "h", "hostid_type_1": "ETHER", "host_id_1": same})
    assert "did not change" in response.content.decode()
    response = asc.post(url, {"host_name_1": "h", "hostid_type_1": "NOPE", "host_id_1": "AABBCCDDEEFF"})
    assert response.status_code == HTTPStatus.OK


# --- License files --------------------------------------------------------------------------


@pytest.mark.django_db
def test_round_trip_signature_and_tampering(asc) -> None:
    second = EntitlementFactory(
        customer=asc.customer, product=ProductFactory(feature="anshpc_pack"), quantity=8, end_date=None, borrowable=True
    )
    result = activate(asc.server, asc.user, {asc.line.pk: 3, second.pk: 8}, borrow={second.pk})
    content = result.license_file.content
    parsed = license_parse(content)
    assert [s.host_id for s in parsed.servers] == [asc.server.hosts.get().host_id]
    assert parsed.vendors[0].name == "ansyslmd"
    assert parsed.use_server
    by_name = {f.name: f for f in parsed.features}
    assert by_name["acfdsol3"].count == 3
    assert by_name["anshpc_pack"].count == 8
    assert by_name["anshpc_pack"].expiration == "permanent"
    line = asc.line
    assert by_name["acfdsol3"].version == f"{line.tecs_end_date.year}.{line.tecs_end_date:%m%d}"
    assert by_name["acfdsol3"].attribute("ISSUER").value == "PORTAL"
    assert by_name["acfdsol3"].attribute("START").value == line.start_date.strftime("%d-%b-%Y").lower()
    assert by_name["acfdsol3"].attribute("BORROW") is None
    assert license_verify(content, public_key=verifying_key()).valid
    tampered = content.replace(" 3 VENDOR_STRING", " 30 VENDOR_STRING")
    assert not license_verify(tampered, public_key=verifying_key()).valid
    renamed = content.replace(f"SERVER {asc.server.hosts.get().host_name}", "SERVER renamed-host")
    assert license_verify(renamed, public_key=verifying_key()).valid


@pytest.mark.django_db
def test_verify_license_command(asc, tmp_path) -> None:
    content = activate(asc.server, asc.user, {asc.line.pk: 2}).license_file.content
    good = tmp_path / "good.lic"
    good.write_text(content)
    out = io.StringIO()
    call_command("verify_license", str(good), stdout=out)
    assert out.getvalue().strip() == "valid"
    bad = tmp_path / "bad.lic"
    bad.write_text(content.replace(" 2 VENDOR_STRING", " 9 VENDOR_STRING"))
    err = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("verify_license", str(bad), stderr=err)
    assert raised.value.returncode == 1
    assert "line" in err.getvalue()
    assert "signature does not match" in err.getvalue()
    with pytest.raises(CommandError):
        call_command("verify_license", str(tmp_path / "missing.lic"))


@pytest.mark.django_db
def test_version_history_download_print_and_diff(asc) -> None:
    activate(asc.server, asc.user, {asc.line.pk: 1})
    activate(asc.server, asc.user, {asc.line.pk: 2})
    n, pk = asc.customer.number, asc.server.pk
    detail = asc.get(reverse("activations:server_detail", args=[n, pk])).content.decode()
    assert reverse("activations:file_download", args=[n, pk, 1]) in detail
    assert reverse("activations:file_download", args=[n, pk, 2]) in detail
    old = asc.get(reverse("activations:file_download", args=[n, pk, 1]))
    assert old.status_code == HTTPStatus.OK
    assert " 1 VENDOR_STRING" in old.content.decode()
    assert AuditEvent.objects.filter(action="license_file.downloaded", details__version=1).exists()
    printable = asc.get(reverse("activations:file_detail", args=[n, pk, 2]))
    assert 'class="license-file"' in printable.content.decode()
    diff = asc.get(reverse("activations:file_diff", args=[n, pk]) + "?from=1&to=2").content.decode()
    assert "<del>" in diff
    assert "<ins>" in diff
    assert " 2 VENDOR_STRING" in diff
    for query in ("?from=abc&to=2", "?from=99&to=-1", "?from=%00"):
        assert asc.get(reverse("activations:file_diff", args=[n, pk]) + query).status_code == HTTPStatus.OK
    assert asc.get(reverse("activations:file_download", args=[n, pk, 99])).status_code == HTTPStatus.NOT_FOUND


@override_settings(ROOT_URLCONF=__name__)
@pytest.mark.django_db
def test_verify_page_and_public_key(asc, client) -> None:
    content = activate(asc.server, asc.user, {asc.line.pk: 2}).license_file.content
    key = client.get("/license-public-key.pem")
    assert key.status_code == HTTPStatus.OK
    assert b"BEGIN PUBLIC KEY" in key.content
    url = reverse("license_verify")
    assert client.get(url).status_code == HTTPStatus.FOUND  # logged-in users only
    ok = asc.post(url, {"text": content}).content.decode()
    assert "Valid" in ok
    bad = asc.post(url, {"text": content.replace(" 2 VENDOR_STRING", " 3 VENDOR_STRING")}).content.decode()
    assert "Not valid" in bad
    assert "signature does not match" in bad
    upload = io.BytesIO(b"\xff\xfe\x00garbage")
    upload.name = "x.lic"
    assert "not a text file" in asc.post(url, {"file": upload}).content.decode()
    assert "Line 1" in asc.post(url, {"text": "GARBAGE line"}).content.decode()


# --- Update from license --------------------------------------------------------------------

GOOD_SAMPLES = sorted(p for p in SAMPLES.glob("*.lic") if (p.with_suffix(".expected.json")).exists())
BAD_SAMPLES = sorted(p for p in SAMPLES.glob("*.lic") if (SAMPLES / f"{p.stem}.expected-error.txt").exists())


def test_samples_found() -> None:
    assert GOOD_SAMPLES
    assert BAD_SAMPLES


@pytest.mark.parametrize("sample", GOOD_SAMPLES, ids=lambda p: p.stem)
@pytest.mark.django_db
def test_update_from_license_on_each_sample(sample, member_client) -> None:
    text = sample.read_text(encoding="utf-8")
    expected = json.loads(sample.with_suffix(".expected.json").read_text())
    numbers = re.findall(r"customer:0*(\d+)", text)
    number = numbers[0] if numbers else "7777777"
    customer = CustomerFactory(number=number, flexnet_managed=True)
    features = [f["name"] for f in expected["features"]]
    # The customer owns the first feature of the file (so one line matches), not the others.
    EntitlementFactory(
        customer=customer, product=ProductFactory(feature=features[0]), quantity=1000, line_id=f"{number}-0001"
    )
    client = member_client(role=Role.ADMINISTRATOR, customer=customer)
    upload = io.BytesIO(text.encode())
    upload.name = sample.name
    response = client.post(reverse("activations:import", args=[number]), {"file": upload})
    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    for server in expected["servers"]:
        assert f'value="{server["host"]}"' in html
        assert server["host_id"] in html
    if expected["servers"]:
        assert f'value="{expected["servers"][0]["port"]}"' in html
    if numbers and features[0] != "":
        first = expected["features"][0]
        if first.get("licenses"):
            assert f"{number}-0001" in html  # matched
    if len(set(features)) > 1:
        assert "Lines not matched" in html


@pytest.mark.parametrize("sample", BAD_SAMPLES, ids=lambda p: p.stem)
@pytest.mark.django_db
def test_broken_files_are_refused_with_line_and_reason(sample, member_client) -> None:
    customer = flex_customer()
    client = member_client(role=Role.ASC, customer=customer)
    expected = (SAMPLES / f"{sample.stem}.expected-error.txt").read_text().strip()
    line = re.match(r"line (\d+)", expected).group(1)
    response = client.post(reverse("activations:import", args=[customer.number]), {"text": sample.read_text()})
    assert response.status_code == HTTPStatus.OK
    assert f"Line {line}:" in response.content.decode()


@pytest.mark.django_db
def test_update_from_license_prefills_the_activation(member_client) -> None:
    customer = flex_customer(number="1001234")
    ent = Entitlement.objects.get(customer=customer)
    client = member_client(role=Role.ASC, customer=customer)
    text = (
        "SERVER myhost 001122AABBCC 1055\nVENDOR ansyslmd PORT=2325\nUSE_SERVER\n"
        'INCREMENT ansys ansyslmd 2027.1231 31-dec-2027 3 VENDOR_STRING=customer:01001234 SIGN="00"\n'
        'INCREMENT other ansyslmd 2027.1231 31-dec-2027 3 VENDOR_STRING=customer:01001234 SIGN="00"\n'
        'INCREMENT ansys ansyslmd 2027.1231 31-dec-2027 3 VENDOR_STRING=customer:09999999 SIGN="00"\n'
    )
    html = client.post(reverse("activations:import", args=["1001234"]), {"text": text}).content.decode()
    assert f'name="q_{ent.pk}" value="3"' in html
    assert 'value="2325"' in html
    assert "not this customer" in html
    assert "no FlexNet entitlement for feature other" in html
    response = client.post(
        reverse("activations:server_add", args=["1001234"]),
        {
            "name": "myhost",
            "lmgrd_port": "1055",
            "host_name_1": "myhost",
            "hostid_type_1": "ETHER",
            "host_id_1": "001122AABBCC",
            f"q_{ent.pk}": "3",
        },
    )
    assert response.status_code == HTTPStatus.FOUND
    assert f"q_{ent.pk}=3" in response["Location"]
    page = client.get(response["Location"]).content.decode()
    assert re.search(rf'name="qty_{ent.pk}" id="[^"]+" value="3"', page)
    # Uploading it again now points at the existing server.
    html = client.post(reverse("activations:import", args=["1001234"]), {"text": text}).content.decode()
    assert "This file belongs to your license server myhost" in html


@pytest.mark.django_db
def test_upload_limits(member_client, settings) -> None:
    settings.PORTAL_MAX_UPLOAD_BYTES = 100
    customer = flex_customer()
    client = member_client(role=Role.ASC, customer=customer)
    upload = io.BytesIO(b"#" * 500)
    upload.name = "big.lic"
    html = client.post(reverse("activations:import", args=[customer.number]), {"file": upload}).content.decode()
    assert "larger than" in html or "too large" in html
    assert client.post(reverse("activations:import", args=[customer.number]), {}).status_code == HTTPStatus.OK


@pytest.mark.django_db
def test_membership_helper_unused_guard() -> None:
    # MembershipFactory import kept for parity with other suites.
    assert MembershipFactory


@pytest.mark.django_db
def test_a_large_customer_works_through_its_lines_a_page_or_a_search_at_a_time(asc) -> None:
    product = ProductFactory(feature="paged_feature", name="Paged Product")
    Entitlement.objects.bulk_create(
        Entitlement(
            customer=asc.customer,
            product=product,
            line_id=f"{asc.customer.number}-P{i:04d}",
            quantity=2,
            start_date=datetime.date(2020, 1, 1),
        )
        for i in range(150)
    )
    url = reverse("activations:activate", args=[asc.customer.number, asc.server.pk])
    first = asc.get(url).content.decode()
    total = Entitlement.objects.filter(customer=asc.customer, product__licensing_model="flexnet").count()
    assert total > 150
    assert first.count('type="number"') == 100
    assert f"Lines 1–100 of {total}." in first
    second = asc.get(url, {"page": "2"}).content.decode()
    assert second.count('type="number"') == total - 100
    found = asc.get(url, {"q": "P0149"}).content.decode()
    assert found.count('type="number"') == 1
    assert f"{asc.customer.number}-P0149" in found

    # Saving the lines of one page leaves the others as they are.
    line = Entitlement.objects.get(line_id=f"{asc.customer.number}-P0149")
    data = dict(re.findall(r'name="((?:qty|base)_\d+)"[^>]*value="([^"]*)"', second))
    data[f"qty_{line.pk}"] = "2"
    _apply(asc, _apply_data(asc.post(url, data)))
    assert Activation.objects.get(server=asc.server).entitlement == line
    assert asc.customer.entitlements.filter(activated__gt=0).count() == 1


@pytest.mark.django_db
def test_prefilled_table_shows_each_line_once(asc) -> None:
    """A prefilled line that is also activated on other servers is one row, not one per server."""
    staff = UserFactory(is_staff=True)
    for _ in range(2):
        activate(LicenseServerFactory(customer=asc.customer), staff, {asc.line.pk: 1})
    activate(asc.server, staff, {asc.line.pk: 1})
    url = reverse("activations:activate", args=[asc.customer.number, asc.server.pk])
    page = asc.get(url, {f"q_{asc.line.pk}": "2"}).content.decode()
    assert page.count(f'name="qty_{asc.line.pk}"') == 1
    assert re.search(rf'name="qty_{asc.line.pk}" id="[^"]+" value="2"', page)


# --- The result page (issue 14 item 6) -------------------------------------------------------


@pytest.mark.django_db
def test_save_ends_on_a_result_page_not_on_the_review(asc) -> None:
    data = _apply_data(_review(asc, {asc.line.pk: 3}))
    url = reverse("activations:activate_apply", args=[asc.customer.number, asc.server.pk])
    response = asc.post(url, {**data, "deliver": "download"})
    assert response.status_code == HTTPStatus.FOUND
    saved = asc.get(response["Location"])
    html = saved.content.decode()
    assert "data-saved" in html
    assert "license file version 1" in html
    assert "+3" in html
    download = reverse("activations:file_download", args=[asc.customer.number, asc.server.pk, 1])
    assert f'href="{download}"' in html
    assert f'http-equiv="refresh" content="0;url={download}"' in html  # the download starts by itself
    # The same review sent again applies nothing and lands on the same result.
    again = asc.post(url, {**data, "deliver": "download"})
    assert again["Location"] == response["Location"]
    asc.line.refresh_from_db()
    assert asc.line.activated == 3


@pytest.mark.django_db
def test_only_the_person_who_saved_sees_the_result(asc, member_factory) -> None:
    data = _apply_data(_review(asc, {asc.line.pk: 2}))
    url = reverse("activations:activate_apply", args=[asc.customer.number, asc.server.pk])
    location = asc.post(url, {**data, "deliver": "download"})["Location"]
    colleague = member_factory(role=Role.ADMINISTRATOR, customer=asc.customer)
    other = Client()
    other.force_login(colleague.user)
    assert other.get(location).status_code == HTTPStatus.NOT_FOUND
    forged = location.replace(location.rstrip("/").rsplit("/", 1)[1], "0" * 32)
    assert asc.get(forged).status_code == HTTPStatus.NOT_FOUND


@pytest.mark.django_db
def test_save_and_email_goes_to_the_chosen_members(asc, member_factory, django_capture_on_commit_callbacks) -> None:
    admin = member_factory(role=Role.ADMINISTRATOR, customer=asc.customer)
    review = _review(asc, {asc.line.pk: 1})
    html = review.content.decode()
    # Every member is offered; the ASC is ticked.
    assert f'value="{admin.user.email}"' in html
    assert re.search(rf'value="{re.escape(asc.user.email)}"[^>]*checked', html)
    data = {**_apply_data(review), "recipients": [admin.user.email, asc.user.email]}
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        saved = _apply(asc, data, deliver="email")
    assert saved.status_code == HTTPStatus.OK
    with_file = sorted(m.to[0] for m in mail.outbox if m.attachments)
    assert with_file == sorted([admin.user.email, asc.user.email])
    event = AuditEvent.objects.get(customer=asc.customer, action="license_file.emailed")
    assert sorted(event.details["to"]) == with_file


@pytest.mark.django_db
def test_a_license_file_is_never_emailed_outside_the_customer(asc, django_capture_on_commit_callbacks) -> None:
    data = {**_apply_data(_review(asc, {asc.line.pk: 1})), "recipients": ["attacker@evil.example"]}
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        response = _apply(asc, data, deliver="email")
    assert response.status_code == HTTPStatus.OK  # the table again, with the error
    assert "Select a valid choice" in response.content.decode()
    assert not [m for m in mail.outbox if m.attachments]
    asc.line.refresh_from_db()
    assert asc.line.activated == 0
    # The service refuses it too (API, admin, any caller).
    with pytest.raises(PortalError, match="only to portal users"):
        activation_apply(
            server=asc.server,
            actor=asc.user,
            token=activation_token_new(),
            requests={asc.line.pk: LineRequest(1, False)},
            deliver="email",
            recipients=["attacker@evil.example"],
        )


@pytest.mark.django_db
def test_save_and_email_needs_a_recipient(asc) -> None:
    data = {**_apply_data(_review(asc, {asc.line.pk: 1})), "recipients": []}
    response = _apply(asc, data, deliver="email")
    assert "Choose at least one person" in response.content.decode()
    asc.line.refresh_from_db()
    assert asc.line.activated == 0


# --- Rehost review (issue 14 item 7) ----------------------------------------------------------


@pytest.mark.django_db
def test_a_rehost_is_reviewed_before_it_happens(asc, settings) -> None:
    settings.PORTAL_REHOSTS_PER_YEAR = 3
    activate(asc.server, asc.user, {asc.line.pk: 1})
    old_id = asc.server.hosts.get().host_id
    url = reverse("activations:rehost", args=[asc.customer.number, asc.server.pk])
    versions = LicenseFile.objects.filter(server=asc.server).count()
    review = asc.post(url, {"host_name_1": "new.example", "hostid_type_1": "ETHER", "host_id_1": "a1b2c3d4e5f6"})
    html = review.content.decode()
    assert review.status_code == HTTPStatus.OK
    assert old_id in html  # old host ...
    assert "A1B2C3D4E5F6" in html  # ... -> new host, normalised
    assert "2 of 3 rehosts left" in html  # the allowance after it
    assert 'name="confirm"' in html
    # Nothing happened yet.
    assert asc.server.hosts.get().host_id == old_id
    assert LicenseFile.objects.filter(server=asc.server).count() == versions
    assert not Rehost.objects.filter(server=asc.server).exists()
    confirm = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    assert asc.post(url, confirm).status_code == HTTPStatus.FOUND
    assert asc.server.hosts.get().host_id == "A1B2C3D4E5F6"
    assert Rehost.objects.filter(server=asc.server).count() == 1


@pytest.mark.django_db
def test_the_review_refuses_what_the_rehost_would_refuse(asc, other_customer) -> None:
    url = reverse("activations:rehost", args=[asc.customer.number, asc.server.pk])
    same = asc.server.hosts.get().host_id
    response = asc.post(url, {"host_name_1": "h", "hostid_type_1": "ETHER", "host_id_1": same})
    assert "did not change" in response.content.decode()
    assert "data-rehost-review" not in response.content.decode()


@pytest.mark.django_db
def test_issued_files_are_ascii_with_supersede_and_the_number_as_issued(member_client) -> None:
    customer = flex_customer(number="00123456", name="Işık Mühendislik A.Ş.")
    client = member_client(role=Role.ASC, customer=customer)
    server, line = setup_server(customer, quantity=10)
    result = activate(server, client.user, {line.pk: 2})
    content = result.license_file.content
    assert content.isascii()
    assert "customer 00123456 (Isik Muhendislik A.S.)" in content.splitlines()[0]
    increments = list(license_parse(content).features)
    assert increments
    for feature in increments:
        assert feature.attribute("VENDOR_STRING").value == "customer:00123456"
        assert "SUPERSEDE" in [attribute.name for attribute in feature.attributes]
    assert license_verify(content, public_key=verifying_key()).valid


# --- Retiring a server (issue 14 item 8) ------------------------------------------------------


@pytest.mark.django_db
def test_a_server_is_retired_after_its_licenses_are_returned(asc) -> None:
    activate(asc.server, asc.user, {asc.line.pk: 2})
    url = reverse("activations:retire", args=[asc.customer.number, asc.server.pk])
    page = reverse("activations:server_detail", args=[asc.customer.number, asc.server.pk])
    assert "data-retire" not in asc.get(page).content.decode()  # licenses on it: return them first
    refused = asc.post(url, follow=True)
    assert LicenseServer.objects.filter(pk=asc.server.pk, retired_at__isnull=True).exists()
    assert refused.status_code in (HTTPStatus.OK, HTTPStatus.CONFLICT)
    server_return(server=asc.server, actor=asc.user)
    assert "data-retire" in asc.get(page).content.decode()
    response = asc.post(url)
    assert response["Location"] == reverse("activations:list", args=[asc.customer.number])
    assert LicenseServer.objects.get(pk=asc.server.pk).retired_at is not None
    listing = asc.get(response["Location"]).content.decode()
    assert page not in listing
    assert AuditEvent.objects.filter(customer=asc.customer, action="server.retired").exists()
