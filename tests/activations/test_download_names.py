"""Server labels and download names (issue #12, item 6): any label that is accepted gives a
safe ``Content-Disposition`` (always ``attachment``, RFC 6266 ``filename*``, ``.lic`` kept),
and labels with control or bidi characters are refused with a clear message."""

from __future__ import annotations

import re
import unicodedata
from http import HTTPStatus
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Customer
from accounts.roles import Role
from activations.models import LicenseFile, LicenseServer
from activations.services import HostInput, server_create, server_label_clean, server_update
from activations.views import attachment_disposition
from portal.errors import PortalError
from tests.activations.helpers import activate, flex_customer, setup_server

_DISPOSITION = re.compile(r"attachment; filename=\"([A-Za-z0-9._-]+)\"; filename\*=UTF-8''([A-Za-z0-9%._~-]+)")
_BIDI_AND_CONTROLS = [
    *(chr(c) for c in range(0x202A, 0x202F)),  # LRE RLE PDF LRO RLO
    *(chr(c) for c in range(0x2066, 0x206A)),  # LRI RLI FSI PDI
    "\u200e",
    "\u200f",
    "\u061c",
    "\u200b",
    "\ufeff",  # marks, zero width, BOM
    "\x00",
    "\x1b",
    "\x7f",
    "\x85",
    "\t",
    "\n",
    "\r",
    "\u2028",
    "\u2029",
]


def _file(label: str, version: int = 3) -> LicenseFile:
    return LicenseFile(server=LicenseServer(name=label, customer=Customer(number="1001234")), version=version)


def _assert_safe(header: str, filename: str) -> None:
    match = _DISPOSITION.fullmatch(header)
    assert match, header
    fallback, encoded = match.groups()
    assert fallback.endswith(".lic")
    assert unquote(encoded, errors="strict") == filename
    assert filename.endswith(".lic")
    assert not set(filename) & {"/", "\\"}
    assert all(c == " " or unicodedata.category(c)[0] not in "CZ" for c in filename)


@settings(max_examples=300)
@given(label=st.text(max_size=80))
def test_any_label_is_refused_clearly_or_downloads_under_a_safe_name(label: str) -> None:
    forbidden = any(unicodedata.category(c) in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"} for c in label)
    if forbidden or not 1 <= len(" ".join(label.split())) <= 60:
        message = "control characters" if forbidden else "1 to 60 characters"
        with pytest.raises(PortalError, match=message) as refused:
            server_label_clean(label)
        assert refused.value.field == "name"
        return
    cleaned = server_label_clean(label)
    assert 1 <= len(cleaned) <= 60
    name = _file(cleaned).filename
    assert name.startswith("1001234_")
    assert name.endswith("_v3.lic")
    _assert_safe(attachment_disposition(name), name)


@settings(max_examples=200)
@given(label=st.text(min_size=1, max_size=60))
def test_labels_stored_before_the_rule_still_download_safely(label: str) -> None:
    name = _file(label, version=12).filename
    assert name.endswith("_v12.lic")
    _assert_safe(attachment_disposition(name), name)


@pytest.mark.parametrize("character", _BIDI_AND_CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_control_and_bidi_characters_are_refused_with_a_clear_message(character: str) -> None:
    with pytest.raises(PortalError, match="control characters or invisible formatting characters") as refused:
        server_label_clean(f"lic01{character}cil.exe")
    assert f"U+{ord(character):04X}" in refused.value.message


@pytest.mark.django_db
def test_the_server_form_shows_the_message_and_saves_nothing(member_client) -> None:
    customer = flex_customer()
    client = member_client(role=Role.ASC, customer=customer)
    url = f"/c/{customer.number}/activations/servers/add/"
    response = client.post(
        url,
        {
            "name": "prod\u202egnp.lic",
            "lmgrd_port": "1055",
            "host_name_1": "h",
            "hostid_type_1": "ETHER",
            "host_id_1": "0011223344AA",
        },
    )
    assert response.status_code == HTTPStatus.OK
    assert "invisible formatting characters" in response.content.decode()
    assert not LicenseServer.objects.filter(customer=customer).exists()


@pytest.mark.django_db
def test_the_services_refuse_them_too(member_client) -> None:
    customer = flex_customer()
    client = member_client(role=Role.ASC, customer=customer)
    with pytest.raises(PortalError, match="U\\+2066"):
        server_create(
            customer=customer, actor=client.user, name="a\u2066b", hosts=[HostInput("h", "ETHER", "0011223344AB")]
        )
    server, _ = setup_server(customer)
    with pytest.raises(PortalError, match="U\\+0007"):
        server_update(server=server, actor=client.user, name="bell\x07", host_names=["h"])


@pytest.mark.django_db
def test_download_of_a_label_with_quotes_slashes_and_non_ascii(member_client) -> None:
    customer = flex_customer()
    client = member_client(role=Role.ASC, customer=customer)
    server, line = setup_server(customer)
    server_update(server=server, actor=client.user, name='Prod "A"; b\\c/Müh ş', host_names=["h.example"])
    activate(server, client.user, {line.pk: 1})
    response = client.get(f"/c/{customer.number}/activations/servers/{server.pk}/files/1/download/")
    assert response.status_code == HTTPStatus.OK
    header = response["Content-Disposition"]
    _assert_safe(header, f'{customer.number}_Prod "A"; b_c_Müh ş_v1.lic')
    assert header.startswith(f'attachment; filename="{customer.number}_Prod_A_b_c_M_h__v1.lic"')


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(label=st.text(min_size=1, max_size=60))
@pytest.mark.django_db
def test_generated_labels_through_the_service(member_client, label: str) -> None:
    customer = Customer.objects.filter(number="1009999").first() or flex_customer("1009999")
    client = member_client(role=Role.ASC, customer=customer)
    hosts = [HostInput("h", "ETHER", f"{abs(hash(label)) % 2**48:012X}")]
    try:
        cleaned = server_label_clean(label)
    except PortalError:
        with pytest.raises(PortalError, match="label"):
            server_create(customer=customer, actor=client.user, name=label, hosts=hosts)
        return
    LicenseServer.objects.filter(customer=customer, name=cleaned).delete()
    server = server_create(customer=customer, actor=client.user, name=label, hosts=hosts)
    assert server.name == cleaned
    _assert_safe(attachment_disposition(_file(server.name).filename), _file(server.name).filename)
    server.delete()
