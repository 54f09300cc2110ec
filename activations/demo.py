"""Demo license servers, activations and license files (DESIGN.md, "Demo data").

Idempotent: a server that already exists is left exactly as it is, so running the seeder
again changes nothing (and a demo user's own changes survive it). Demo data is written
directly, not through the services: seeding is not a user's action and should neither
email the ASCs nor fill the audit log.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from accounts.models import Customer
from entitlements.models import Entitlement

from .models import Activation, LicenseFileReason, LicenseServer, ServerHost
from .services import _new_version

# customer, server label, [(host name, host ID type, host ID)], {line id: (quantity, borrowable)}
SERVERS = [
    (
        "1001234",
        "lic01",
        [("lic01.demo.example", "ETHER", "001122AABBCC")],
        {"1001234-0001": (4, True), "1001234-0002": (16, False), "1001234-0003": (2, False)},
    ),
    ("2005678", "flexlm-main", [("flexlm.other.example", "ETHER", "A1B2C3D4E5F6")], {"2005678-0001": (3, False)}),
]


@transaction.atomic
def seed_activations(customers: dict[str, Customer]) -> list[LicenseServer]:
    servers = []
    for number, name, hosts, activations in SERVERS:
        customer = customers[number]
        server = LicenseServer.objects.filter(customer=customer, name=name).first()
        if server is not None:
            servers.append(server)
            continue
        server = LicenseServer.objects.create(customer=customer, name=name)
        for position, (host_name, kind, host_id) in enumerate(hosts, start=1):
            ServerHost.objects.create(
                server=server,
                customer=customer,
                position=position,
                host_name=host_name,
                hostid_type=kind,
                host_id=host_id,
            )
        for line_id, (quantity, borrowable) in activations.items():
            entitlement = Entitlement.objects.select_for_update().get(line_id=line_id, customer=customer)
            free = entitlement.quantity - entitlement.activated
            quantity = min(quantity, free)
            if quantity <= 0:
                continue
            Activation.objects.create(
                server=server,
                entitlement=entitlement,
                quantity=quantity,
                borrowable=borrowable and entitlement.borrowable,
            )
            Entitlement.objects.filter(pk=entitlement.pk).update(activated=F("activated") + quantity)
        server.customer = customer
        _new_version(server=server, actor=None, reason=LicenseFileReason.ACTIVATION)
        servers.append(server)
    return servers
