"""Verifying issued files in the portal (issue #12): superseded versions, file identity on the
verify page and in ``verify_license``, the checker's size and rate limits, and a command
that never creates a signing key."""

from __future__ import annotations

import io
from http import HTTPStatus
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from accounts.roles import Role
from activations.licensefile import license_verify, public_key_pem
from activations.models import LicenseFile
from activations.services import server_return
from activations.signing import signing_key, verifying_key
from tests.activations.helpers import activate, flex_customer, setup_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def asc(member_client):
    customer = flex_customer()
    client = member_client(role=Role.ASC, customer=customer)
    server, line = setup_server(customer, quantity=10)
    client.customer, client.server, client.line = customer, server, line
    return client


def _duplicated(content: str) -> str:
    """The file with its INCREMENT block pasted a second time (10 seats become 20)."""
    lines = content.rstrip("\n").split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("INCREMENT")) - 1
    return "\n".join(lines + lines[start : start + 4]) + "\n"


def _command(path: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_license", str(path), stdout=out, stderr=err)
    except CommandError as error:
        return error.returncode, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


# --- verify_license -------------------------------------------------------------------------


def test_command_says_superseded_for_an_old_version_and_valid_for_the_current(asc, tmp_path) -> None:
    first = activate(asc.server, asc.user, {asc.line.pk: 2}).license_file
    second = activate(asc.server, asc.user, {asc.line.pk: 3}).license_file
    (tmp_path / "v1.lic").write_text(first.content)
    (tmp_path / "v2.lic").write_text(second.content)
    code, out, _ = _command(tmp_path / "v1.lic")
    assert code == 3
    assert "superseded by version 2" in out
    assert _command(tmp_path / "v2.lic")[:2] == (0, "valid\n")
    # Returning every license issues an empty version 3: version 2 is superseded too.
    server_return(server=asc.server, actor=asc.user)
    code, out, _ = _command(tmp_path / "v2.lic")
    assert code == 3
    assert "superseded by version 3" in out


def test_command_names_a_repeated_block(asc, tmp_path) -> None:
    content = activate(asc.server, asc.user, {asc.line.pk: 2}).license_file.content
    (tmp_path / "twice.lic").write_text(_duplicated(content))
    code, _, err = _command(tmp_path / "twice.lic")
    assert code == 1
    assert "repeats line" in err
    assert "FlexLM would add its count again" in err


def test_command_never_creates_a_key_and_fails_clearly_without_one(asc, tmp_path, settings) -> None:
    content = activate(asc.server, asc.user, {asc.line.pk: 2}).license_file.content
    license_path = tmp_path / "file.lic"
    license_path.write_text(content)
    keys = tmp_path / "keys"
    keys.mkdir()
    settings.LICENSE_SIGNING_KEY_FILE = keys / "license-signing-key.pem"
    settings.LICENSE_PUBLIC_KEY_FILE = None
    code, _, _ = _command(license_path)
    assert code == 2
    assert list(keys.iterdir()) == []  # no key was made
    with pytest.raises(CommandError, match=r"no license key at .*license-signing-key\.pem"):
        call_command("verify_license", str(license_path))
    assert list(keys.iterdir()) == []


def test_command_verifies_with_the_public_key_alone(asc, tmp_path, settings) -> None:
    content = activate(asc.server, asc.user, {asc.line.pk: 2}).license_file.content
    (tmp_path / "file.lic").write_text(content)
    public = tmp_path / "public.pem"
    public.write_text(public_key_pem(signing_key()))
    settings.LICENSE_SIGNING_KEY_FILE = tmp_path / "absent" / "key.pem"
    settings.LICENSE_PUBLIC_KEY_FILE = str(public)
    assert _command(tmp_path / "file.lic")[:2] == (0, "valid\n")
    assert not (tmp_path / "absent").exists()
    # A public key that is not the portal's: every line fails, nothing is created.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = tmp_path / "other.pem"
    other.write_text(public_key_pem(Ed25519PrivateKey.generate()))
    settings.LICENSE_PUBLIC_KEY_FILE = str(other)
    code, _, err = _command(tmp_path / "file.lic")
    assert code == 1
    assert "signature does not match" in err
    settings.LICENSE_PUBLIC_KEY_FILE = str(tmp_path / "missing.pem")
    assert _command(tmp_path / "file.lic")[0] == 2


# --- the verify page ------------------------------------------------------------------------


def test_verify_page_says_current_superseded_or_which_line_is_repeated(asc) -> None:
    first = activate(asc.server, asc.user, {asc.line.pk: 2}).license_file
    second = activate(asc.server, asc.user, {asc.line.pk: 3}).license_file
    url = reverse("license_verify")
    current = asc.post(url, {"text": second.content}).content.decode()
    assert "current version (2)" in current
    old = asc.post(url, {"text": first.content}).content.decode()
    assert "Superseded by version 2" in old
    assert "Valid</strong>" not in old
    twice = asc.post(url, {"text": _duplicated(second.content)}).content.decode()
    assert "Not valid" in twice
    assert "repeats line" in twice


def test_verify_page_in_turkish_names_the_reason(asc) -> None:
    second = activate(asc.server, asc.user, {asc.line.pk: 3}).license_file
    response = asc.post(reverse("license_verify"), {"text": _duplicated(second.content)}, HTTP_ACCEPT_LANGUAGE="tr")
    html = response.content.decode()
    assert "FlexLM" in html
    assert "would add its count again" not in html  # said in Turkish


def test_verify_page_refuses_large_pastes_and_uploads_with_a_clear_message(asc, settings) -> None:
    settings.PORTAL_VERIFY_MAX_BYTES = 4096
    url = reverse("license_verify")
    pasted = asc.post(url, {"text": "#" * 5000})
    assert pasted.status_code == HTTPStatus.OK
    assert "too large: at most 4 KB" in pasted.content.decode()
    upload = io.BytesIO(b"#" * 5000)
    upload.name = "big.lic"
    assert "larger than 4 KB" in asc.post(url, {"file": upload}).content.decode()
    # A request far over the limit is answered before its body is read.
    huge = asc.post(url, {"text": "#" * 200_000})
    assert huge.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert "too large: at most 4 KB" in huge.content.decode()


def test_verify_page_is_rate_limited_per_user(asc) -> None:
    content = activate(asc.server, asc.user, {asc.line.pk: 2}).license_file.content
    url = reverse("license_verify")
    statuses = [asc.post(url, {"text": content}).status_code for _ in range(12)]
    assert statuses[:10] == [HTTPStatus.OK] * 10
    assert statuses[10:] == [HTTPStatus.TOO_MANY_REQUESTS] * 2
    limited = asc.post(url, {"text": content}).content.decode()
    assert "Wait a minute" in limited
    assert asc.get(url).status_code == HTTPStatus.OK  # reading the page costs nothing


def test_generate_reissues_a_file_issued_before_file_identities(asc) -> None:
    first = activate(asc.server, asc.user, {asc.line.pk: 2}).license_file
    legacy = "\n".join(
        line.replace(f" SN={first.content.split(' SN=')[1].split()[0]}", "") for line in first.content.split("\n")
    )
    LicenseFile.objects.filter(pk=first.pk).update(content=legacy)
    assert [f.code for f in license_verify(legacy, public_key=verifying_key()).failures] == ["signature"]
    again = activate(asc.server, asc.user, {})
    assert again.license_file.version == 2
    assert license_verify(again.license_file.content, public_key=verifying_key()).valid
    assert activate(asc.server, asc.user, {}).license_file.version == 2  # no new version after that


def test_a_paste_over_the_request_limit_is_a_clean_client_error(asc) -> None:
    response = asc.post(reverse("license_verify"), {"text": "#" * (6 * 1024 * 1024)})
    assert response.status_code in (HTTPStatus.BAD_REQUEST, HTTPStatus.REQUEST_ENTITY_TOO_LARGE)


def test_verify_page_without_any_key_says_so_and_creates_none(asc, tmp_path, settings) -> None:
    content = activate(asc.server, asc.user, {asc.line.pk: 2}).license_file.content
    settings.LICENSE_SIGNING_KEY_FILE = tmp_path / "keys" / "license-signing-key.pem"
    settings.LICENSE_PUBLIC_KEY_FILE = None
    response = asc.post(reverse("license_verify"), {"text": content})
    assert response.status_code == HTTPStatus.OK
    assert "no key is configured" in response.content.decode()
    assert not (tmp_path / "keys").exists()
