"""Continuous writes through the portal's services, for the restore drill (a separate process).

    python tests/drills/restore_writer.py CONTROL_DIR

Environment: DATABASE_URL (the drill's source cluster), DJANGO_SETTINGS_MODULE. Each iteration
changes activations on a server and a portal user (add, change role, remove; invitations), all
through ``activations.services`` and ``accounts.services``, as the views would. Half of the
iterations publish their notifications to a broker that is down, so their outbox rows stay
unsent (what a broker outage leaves behind); the others are sent at once (eager tasks,
locmem mail), so the restored outbox holds both kinds.

Control files in CONTROL_DIR: ``pause`` (finish the iteration, print ``PAUSED``, wait until the
file is gone), ``stop`` (finish and exit). Every iteration prints ``ITERATION <n>``.
"""

from __future__ import annotations

import datetime
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.test")

import django  # noqa: E402

django.setup()

from accounts.models import Invitation, Membership  # noqa: E402
from accounts.roles import Role  # noqa: E402
from accounts.services import (  # noqa: E402
    invitation_accept,
    membership_add,
    membership_change_role,
    membership_remove,
)
from activations.selectors import LineRequest  # noqa: E402
from activations.services import activation_apply, activation_token_new  # noqa: E402
from portal.errors import PortalError  # noqa: E402
from tests.celery_broker import broker  # noqa: E402
from tests.factories import (  # noqa: E402
    CustomerFactory,
    EntitlementFactory,
    LicenseServerFactory,
    MembershipFactory,
    ProductFactory,
    UserFactory,
)
from usage.services import usage_uploads_create  # noqa: E402

DOWN_BROKER = "redis://127.0.0.1:1/0"  # nothing listens: publishing fails at once


def say(line: str) -> None:
    print(line, flush=True)


def setup():
    customer = CustomerFactory(flexnet_managed=True)
    MembershipFactory(customer=customer, role=Role.ASC)
    admin = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR).user
    lines = [
        EntitlementFactory(
            customer=customer, product=ProductFactory(feature=f"drill{n}", name=f"Drill {n}"), quantity=40
        )
        for n in range(3)
    ]
    servers = [LicenseServerFactory(customer=customer) for _ in range(2)]
    # People who exist and are verified: adding them makes memberships, not invitations.
    people = [UserFactory(email=f"drill-person{n}@drill.example") for n in range(4)]
    return customer, admin, lines, servers, people


def iteration(n: int, *, customer, admin, lines, servers, people, rng: random.Random) -> None:
    server = servers[n % len(servers)]
    requests = {line.pk: LineRequest(rng.randint(0, 12), False) for line in rng.sample(lines, 2)}
    try:
        activation_apply(server=server, actor=admin, token=activation_token_new(), requests=requests)
    except PortalError as error:  # the other server holds too many: a legitimate refusal
        say(f"REFUSED {error.message}")
    person = people[n % len(people)]
    membership = Membership.objects.filter(customer=customer, user=person).first()
    if membership is None:
        # Adding someone invites them; they accept (the consent of #12 item 5).
        invitation = Invitation.objects.pending().filter(customer=customer, email=person.email).first()
        if invitation is None:
            membership_add(customer=customer, actor=admin, email=person.email, role=Role.VIEWER)
        else:
            invitation_accept(invitation=invitation, actor=person)
    elif membership.role == Role.VIEWER:
        membership_change_role(membership=membership, actor=admin, role=Role.ADMINISTRATOR)
    else:
        membership_remove(membership=membership, actor=admin)
    if n % 3 == 0:
        membership_add(customer=customer, actor=admin, email=f"invitee{n}@drill.example", role=Role.VIEWER)
    # A usage upload: a few debug log lines of its own minute, ingested (in-process: no broker
    # here) into events and rollups, so the restore must bring uploads and events back too.
    now = datetime.datetime.now()
    log = [
        f" 0:00:00 (lmgrd) started on drill-lic (linux) ({now.month}/{now.day}/{now.year})",
        f" 0:00:01 (ansyslmd) TIMESTAMP {now.month}/{now.day}/{now.year}",
        f' {n % 24}:{n % 60:02d}:00 (ansyslmd) OUT: "drill{n % 3}" user{n}@ws-{n}',
        f' {n % 24}:{n % 60:02d}:30 (ansyslmd) IN: "drill{n % 3}" user{n}@ws-{n}',
    ]
    usage_uploads_create(customer=customer, actor=admin, files=[(f"drill-{n}.log", ["\n".join(log).encode()])])


def main() -> None:
    control = Path(sys.argv[1])
    rng = random.Random(19)
    state = dict(zip(("customer", "admin", "lines", "servers", "people"), setup(), strict=True))
    say("READY")
    n = 0
    while not (control / "stop").exists():
        n += 1
        if n % 2:
            with broker(DOWN_BROKER):
                iteration(n, rng=rng, **state)
        else:
            iteration(n, rng=rng, **state)
        say(f"ITERATION {n}")
        if (control / "pause").exists():
            say("PAUSED")
            while (control / "pause").exists() and not (control / "stop").exists():
                time.sleep(0.05)
            say("RESUMED")
        time.sleep(0.05)
    say("STOPPED")


if __name__ == "__main__":
    main()
