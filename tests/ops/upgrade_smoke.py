"""Run by tests/ops/test_upgrade.py with the PREVIOUS release's code (its tree first on
sys.path, its own settings) against a database migrated by the CURRENT code: the previous
release's writes and pages must keep working during an upgrade's roll.

    python upgrade_smoke.py OLD_TREE   (DATABASE_URL names the migrated database)
"""

from __future__ import annotations

import os
import sys
from http import HTTPStatus

sys.path.insert(0, sys.argv[1])
os.chdir(sys.argv[1])
os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings.test"

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from accounts.models import Customer, Membership, User  # noqa: E402
from accounts.roles import Role  # noqa: E402
from accounts.services import membership_add, membership_change_role, membership_remove  # noqa: E402
from activations.licensefile import license_verify  # noqa: E402
from activations.models import Activation, LicenseServer  # noqa: E402
from activations.selectors import LineRequest  # noqa: E402
from activations.services import activation_apply, activation_token_new  # noqa: E402
from activations.signing import verifying_key  # noqa: E402
from entitlements.models import Entitlement  # noqa: E402
from portal.errors import PortalError  # noqa: E402

assert os.path.realpath(sys.modules["portal"].__file__).startswith(os.path.realpath(sys.argv[1])), (
    "not the previous release's code"
)

call_command("seed_demo", verbosity=0)  # every kind of row, written by the old code
customer = Customer.objects.get(number="1001234")
asc = User.objects.get(email="asc@demo.example")

client = Client()
client.force_login(asc)
for path in (
    "/access/",
    "/c/1001234/entitlements/",
    "/c/1001234/activations/",
    "/c/1001234/users/",
    "/c/1001234/settings/",
    "/c/1001234/audit/",
    "/healthz",
):
    response = client.get(path)
    assert response.status_code == HTTPStatus.OK, (path, response.status_code)
    print("GET", path, response.status_code)

server = LicenseServer.objects.filter(customer=customer).first()
applied = None
refusals = []
for line in Entitlement.objects.filter(customer=customer).order_by("pk"):
    current = Activation.objects.filter(server=server, entitlement=line).first()
    try:
        applied = activation_apply(
            server=server,
            actor=asc,
            token=activation_token_new(),
            requests={line.pk: LineRequest((current.quantity if current else 0) + 1, False)},
        )
    except PortalError as error:
        refusals.append(f"{line.line_id}: {error.message}")
        continue  # expired, not started, fully used: the next line
    break
assert applied is not None, f"no activation could be applied: {refusals}"
assert applied.changed
assert license_verify(applied.license_file.content, public_key=verifying_key()).valid
print("activation applied, license file version", applied.license_file.version)

viewer = Membership.objects.get(customer=customer, user__email="viewer@demo.example")
membership_change_role(membership=viewer, actor=asc, role=Role.ADMINISTRATOR)
membership_remove(membership=Membership.objects.get(pk=viewer.pk), actor=asc)
membership_add(customer=customer, actor=asc, email="upgrade-invitee@example.org", role=Role.VIEWER)
print("user changes applied")
print("SMOKE OK")
