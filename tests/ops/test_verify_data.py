"""``manage.py verify_data`` passes on good data and names what is wrong otherwise."""

from __future__ import annotations

import re

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.roles import Role
from activations.models import LicenseFile
from tests.activations.helpers import activate, flex_customer, setup_server
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def _data():
    customer = flex_customer()
    admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR).user
    server, line = setup_server(customer, quantity=10)
    activate(server, admin, {line.pk: 4})
    return line


def test_passes_on_consistent_data(capsys) -> None:
    _data()
    call_command("verify_data")
    out = capsys.readouterr().out
    assert "verify_data: all checks passed" in out
    assert "ok: audit log append-only" in out


def test_names_a_wrong_activated_sum(capsys) -> None:
    line = _data()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE entitlements_entitlement SET activated = 7 WHERE id = %s", [line.pk])
    with pytest.raises(CommandError, match="activated differs"):
        call_command("verify_data")


def test_names_a_tampered_license_file() -> None:
    _data()
    tampered = LicenseFile.objects.first()
    content = re.sub(r"^(INCREMENT \S+ \S+ \S+ \S+) 4 ", r"\1 9 ", tampered.content, count=1, flags=re.MULTILINE)
    assert content != tampered.content
    LicenseFile.objects.filter(pk=tampered.pk).update(content=content)
    with pytest.raises(CommandError, match="do not verify"):
        call_command("verify_data")
