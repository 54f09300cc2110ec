"""``python manage.py seed_bench``: a large, realistic data set for the benchmarks (issue 7).

One big customer with ``--lines`` entitlement lines and ``--servers`` license servers (the
first, ``lic000``, carries 200 activated lines and a current signed license file), portal
users of every role with known credentials, a "renewal day" customer whose servers the
activation POST benchmark writes to, ``--customers - 1`` smaller customers, audit history,
and a staff user for the support console. Everything is written with ``bulk_create`` (no
services: seeding is not a user's action), so 10,000 lines take a few seconds.

Idempotent: when the big customer exists nothing is written. ``--reset`` empties every
portal table first and is refused unless the database name contains "bench".
"""

from __future__ import annotations

import datetime
import json
import random
import time
from typing import Any

from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts.models import AuditEvent, Customer, Membership, User
from accounts.roles import Role
from entitlements.models import Entitlement, LicensingModel, Product

from ...models import Activation, LicenseFile, LicenseFileReason, LicenseServer, ServerHost
from ...services import license_file_render

BENCH_PASSWORD = "bench-portal-2026"
BIG_NUMBER = "9100001"
RENEWAL_NUMBER = "9300001"
SMALL_BASE = 9200000
VIEWER_EMAIL = "bench-viewer@bench.example"
ADMIN_EMAIL = "bench-admin@bench.example"
ASC_EMAIL = "bench-asc@bench.example"
STAFF_EMAIL = "bench-staff@bench.example"
BIG_SERVER_LINES = 200
RENEWAL_SERVERS = 16
RENEWAL_SPREAD_LINES = 64

_FLEX_FEATURES = [
    ("ansys", "Mechanical Enterprise"),
    ("acfdsol3", "CFD Solver"),
    ("anshpc_pack", "HPC Pack"),
    ("cfd_base", "CFD Base"),
    ("dsdxm", "Design Modeler"),
    ("a_spaceclaim_dirmod", "SpaceClaim"),
    ("preppost", "Mechanical Pre/Post"),
    ("struct", "Structural"),
    ("emag", "Electronics Desktop"),
    ("fluent_pro", "Fluent Pro"),
    ("cfx_pre", "CFX Pre"),
    ("icemcfd", "ICEM CFD"),
    ("ls_dyna", "LS-DYNA"),
    ("optislang", "optiSLang"),
    ("sherlock", "Sherlock"),
    ("granta_mi", "Granta MI"),
    ("zemax_opt", "Zemax OpticStudio"),
    ("speos", "Speos"),
    ("discovery", "Discovery"),
    ("twin_builder", "Twin Builder"),
]
_SHARED_WEB = [("sw_mech", "Mechanical (Shared Web)"), ("sw_cfd", "CFD (Shared Web)")]
_ELASTIC = [("aeu_cloud", "Elastic Units"), ("aeu_hpc", "Elastic HPC Units")]
_ACTIONS = ["activation.changed", "license_file.downloaded", "user.added", "server.created", "access.denied"]


class Command(BaseCommand):
    help = "Create the large benchmark data set (bulk inserts). Idempotent; --reset to start over."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=200, help="customers in all (1 big + N-1 small)")
        parser.add_argument("--lines", type=int, default=10_000, help="entitlement lines of the big customer")
        parser.add_argument("--servers", type=int, default=50, help="license servers of the big customer")
        parser.add_argument("--users", type=int, default=20, help="portal users of the big customer")
        parser.add_argument("--small-lines", type=int, default=20, help="lines of each smaller customer")
        parser.add_argument("--audit-events", type=int, default=5_000, help="audit history of the big customer")
        parser.add_argument("--reset", action="store_true", help="empty the portal tables first (bench DB only)")
        parser.add_argument("--seed", type=int, default=7, help="random seed (same data every run)")
        parser.add_argument(
            "--usage-events",
            type=int,
            default=0,
            help="give the big customer 12 months of usage over 50 features, about this many "
            "events (10000000 for the issue-15 figure); ingested through the usage app",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self._handle(options)
        if options["usage_events"]:
            self._usage(options)

    def _usage(self, options: dict[str, Any]) -> None:
        # The usage app sits above this one (dependencies point one way): named, not imported.
        seed_usage_bench = import_string("usage.bench.seed_usage_bench")
        started = time.perf_counter()
        upload = seed_usage_bench(customer_number=BIG_NUMBER, events=options["usage_events"], seed=options["seed"])
        if upload is not None:
            self.stdout.write(
                f"Usage: {upload.events_new} events from {upload.lines_done} lines "
                f"in {time.perf_counter() - started:.1f} s."
            )

    def _handle(self, options: dict[str, Any]) -> None:
        if options["lines"] < BIG_SERVER_LINES * 2 or options["servers"] < 1 or options["users"] < 3:
            raise CommandError(f"Need --lines >= {BIG_SERVER_LINES * 2}, --servers >= 1 and --users >= 3.")
        if options["reset"]:
            self._reset()
        elif Customer.objects.filter(number=BIG_NUMBER).exists():
            self.stdout.write("Benchmark data already present (use --reset to recreate).")
            self.stdout.write(json.dumps(bench_fixture()))
            return
        started = time.perf_counter()
        with transaction.atomic():
            _Seeder(options).run()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        self.stdout.write(self.style.SUCCESS(f"Benchmark data ready in {time.perf_counter() - started:.1f} s."))
        self.stdout.write(json.dumps(bench_fixture()))

    def _reset(self) -> None:
        name = connection.settings_dict["NAME"] or ""
        if "bench" not in name:
            raise CommandError(f"--reset empties every table; refused on database {name!r} (not a bench database).")
        tables = [t for t in connection.introspection.table_names() if t != "django_migrations"]
        with connection.cursor() as cursor:
            # TRUNCATE does not fire the audit log's append-only row trigger (it guards UPDATE/DELETE).
            cursor.execute("TRUNCATE {} RESTART IDENTITY CASCADE".format(", ".join(f'"{t}"' for t in tables)))


def bench_fixture() -> dict[str, Any]:
    """The ids and credentials the benchmark needs, read back from the database."""
    big = Customer.objects.get(number=BIG_NUMBER)
    renewal = Customer.objects.get(number=RENEWAL_NUMBER)
    big_server = LicenseServer.objects.get(customer=big, name="lic000")
    latest = LicenseFile.objects.filter(server=big_server).order_by("-version").first()
    hot = Entitlement.objects.get(line_id=f"{RENEWAL_NUMBER}-0001")
    servers = list(LicenseServer.objects.filter(customer=renewal).order_by("name").values_list("pk", flat=True))
    spread = list(
        Activation.objects.filter(server__customer=renewal)
        .exclude(entitlement=hot)
        .order_by("server__name", "entitlement__line_id")
        .values_list("server_id", "entitlement_id")
    )
    return {
        "password": BENCH_PASSWORD,
        "viewer": VIEWER_EMAIL,
        "admin": ADMIN_EMAIL,
        "asc": ASC_EMAIL,
        "staff": STAFF_EMAIL,
        "big_customer": BIG_NUMBER,
        "big_customer_id": big.pk,
        "big_lines": Entitlement.objects.filter(customer=big).count(),
        "big_server_id": big_server.pk,
        "big_server_lines": Activation.objects.filter(server=big_server).count(),
        "big_server_version": latest.version if latest else None,
        "renewal_customer": RENEWAL_NUMBER,
        "hot_entitlement_id": hot.pk,
        "hot_pairs": [[server_id, hot.pk] for server_id in servers],
        "spread_pairs": [list(pair) for pair in spread],
    }


class _Seeder:
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.random = random.Random(options["seed"])
        self.today = timezone.localdate()
        self.password = make_password(BENCH_PASSWORD)  # hashed once, shared: hashing is slow by design

    # --- helpers --------------------------------------------------------------------------

    def users(self, emails: list[str], *, staff: bool = False) -> list[User]:
        users = User.objects.bulk_create(
            User(
                email=email,
                name=email.split("@")[0].replace("-", " ").title(),
                password=self.password,
                is_staff=staff,
                is_superuser=staff,
            )
            for email in emails
        )
        EmailAddress.objects.bulk_create(
            EmailAddress(user=user, email=user.email, primary=True, verified=True) for user in users
        )
        return users

    def line(self, customer: Customer, number: int, product: Product, **fields: Any) -> Entitlement:
        rnd = self.random
        kind = rnd.random()
        start = self.today - datetime.timedelta(days=rnd.randint(30, 1200))
        end: datetime.date | None = self.today + datetime.timedelta(days=rnd.randint(30, 1000))
        if kind < 0.15:  # expired
            end = self.today - datetime.timedelta(days=rnd.randint(1, 25))
        elif kind < 0.25:  # perpetual
            end = None
        elif kind < 0.30:  # not started
            start = self.today + datetime.timedelta(days=rnd.randint(1, 90))
            end = start + datetime.timedelta(days=365)
        values: dict[str, Any] = {
            "customer": customer,
            "line_id": f"{customer.number}-{number:04d}",
            "order_number": f"SO-{customer.number}-{number // 7:05d}",
            "product": product,
            "quantity": rnd.choice([1, 2, 4, 5, 10, 16, 25, 50, 100]),
            "start_date": start,
            "end_date": end,
            "tecs_end_date": (end or self.today + datetime.timedelta(days=365)) if rnd.random() < 0.8 else None,
            "borrowable": rnd.random() < 0.3,
        }
        values.update(fields)
        return Entitlement(**values)

    def servers(self, customer: Customer, count: int, prefix: int) -> list[LicenseServer]:
        servers = LicenseServer.objects.bulk_create(
            LicenseServer(customer=customer, name=f"lic{i:03d}") for i in range(count)
        )
        ServerHost.objects.bulk_create(
            ServerHost(
                server=server,
                customer=customer,
                position=1,
                host_name=f"{server.name}.{customer.number}.example",
                hostid_type="ETHER",
                host_id=f"{prefix + i:012X}",
            )
            for i, server in enumerate(servers)
        )
        return servers

    # --- the data set ---------------------------------------------------------------------

    def run(self) -> None:
        products = self.products()
        flex = [p for p in products if p.licensing_model == LicensingModel.FLEXNET]
        other = [p for p in products if p.licensing_model != LicensingModel.FLEXNET]
        big = Customer.objects.create(number=BIG_NUMBER, name="Bench Heavy Industries A.Ş.", flexnet_managed=True)
        renewal = Customer.objects.create(number=RENEWAL_NUMBER, name="Bench Renewal Day Ltd.", flexnet_managed=True)
        smalls = Customer.objects.bulk_create(
            Customer(number=str(SMALL_BASE + i), name=f"Bench Customer {i:04d} GmbH", flexnet_managed=i % 3 != 0)
            for i in range(1, max(self.options["customers"] - 1, 0))
        )
        viewer, admin, asc, *others = self.users(
            [VIEWER_EMAIL, ADMIN_EMAIL, ASC_EMAIL]
            + [f"bench-user{i:03d}@bench.example" for i in range(self.options["users"] - 3)]
        )
        staff = self.users([STAFF_EMAIL], staff=True)[0]
        memberships = [
            Membership(user=viewer, customer=big, role=Role.VIEWER),
            Membership(user=admin, customer=big, role=Role.ADMINISTRATOR),
            Membership(user=asc, customer=big, role=Role.ASC),
            Membership(user=admin, customer=renewal, role=Role.ADMINISTRATOR),
            Membership(user=asc, customer=renewal, role=Role.ASC),
            *(
                Membership(user=u, customer=big, role=Role.VIEWER if i % 3 else Role.ADMINISTRATOR)
                for i, u in enumerate(others)
            ),
            # A realistic customer switcher: the viewer works for a few more customers.
            *(Membership(user=viewer, customer=c, role=Role.VIEWER) for c in smalls[:5]),
        ]
        small_ascs = self.users([f"asc{c.number}@bench.example" for c in smalls])
        memberships += [Membership(user=u, customer=c, role=Role.ASC) for u, c in zip(small_ascs, smalls, strict=True)]
        Membership.objects.bulk_create(memberships)

        self.big_customer(big, flex, other, admin)
        self.renewal_customer(renewal, flex, admin)
        lines = [
            self.line(c, n, self.random.choice(flex if n % 5 else other))
            for c in smalls
            for n in range(1, self.options["small_lines"] + 1)
        ]
        Entitlement.objects.bulk_create(lines, batch_size=5000)
        self.audit(big, [viewer, admin, asc, staff])

    def products(self) -> list[Product]:
        wanted = (
            [(f, n, LicensingModel.FLEXNET) for f, n in _FLEX_FEATURES]
            + [(f, n, LicensingModel.SHARED_WEB) for f, n in _SHARED_WEB]
            + [(f, n, LicensingModel.ELASTIC) for f, n in _ELASTIC]
        )
        existing = {p.feature: p for p in Product.objects.filter(feature__in=[w[0] for w in wanted])}
        Product.objects.bulk_create(
            Product(feature=f, name=n, licensing_model=m) for f, n, m in wanted if f not in existing
        )
        return list(Product.objects.filter(feature__in=[w[0] for w in wanted]).order_by("feature"))

    def big_customer(self, big: Customer, flex: list[Product], other: list[Product], admin: User) -> None:
        count = self.options["lines"]
        lines = [
            # 85 % FlexNet, the rest Shared Web / Elastic.
            self.line(big, n, self.random.choice(flex) if self.random.random() < 0.85 else self.random.choice(other))
            for n in range(1, count + 1)
        ]
        # The first 200 lines are active FlexNet lines (they go on lic000); so are a few
        # hundred more, spread over the other servers.
        for entitlement in lines[: BIG_SERVER_LINES * 2]:
            entitlement.product = self.random.choice(flex)
            entitlement.start_date = self.today - datetime.timedelta(days=400)
            entitlement.end_date = self.today + datetime.timedelta(days=self.random.randint(60, 900))
            entitlement.quantity = max(entitlement.quantity, 4)
        Entitlement.objects.bulk_create(lines, batch_size=5000)
        servers = self.servers(big, self.options["servers"], 0xB16000000000)
        activations = []
        for entitlement in lines[:BIG_SERVER_LINES]:
            activations.append(
                Activation(
                    server=servers[0],
                    entitlement=entitlement,
                    quantity=self.random.randint(1, entitlement.quantity // 2),
                    borrowable=entitlement.borrowable,
                )
            )
        pool = lines[BIG_SERVER_LINES : BIG_SERVER_LINES * 2]
        for server in servers[1:]:
            for entitlement in self.random.sample(pool, k=min(len(pool), self.random.randint(0, 6))):
                if entitlement.activated + 1 <= entitlement.quantity // 2:
                    activations.append(Activation(server=server, entitlement=entitlement, quantity=1))
                    entitlement.activated += 1
        for activation in activations[:BIG_SERVER_LINES]:
            activation.entitlement.activated += activation.quantity
        Activation.objects.bulk_create(activations, batch_size=5000)
        Entitlement.objects.bulk_update([a.entitlement for a in activations], ["activated"], batch_size=2000)
        with_files = {a.server_id for a in activations}
        for server in servers:
            if server.pk in with_files:
                server.customer = big
                LicenseFile.objects.create(
                    server=server,
                    version=1,
                    content=license_file_render(server=server, version=1),
                    reason=LicenseFileReason.ACTIVATION,
                    created_by=admin,
                )

    def renewal_customer(self, renewal: Customer, flex: list[Product], admin: User) -> None:
        """One hot line (quantity large enough for every server) and 64 lines of its own per
        pair (server, line), each already activated with 1 so the benchmark always changes."""
        active = {
            "start_date": self.today - datetime.timedelta(days=30),
            "end_date": self.today + datetime.timedelta(days=700),
            "borrowable": False,
        }
        hot = self.line(renewal, 1, flex[0], quantity=500_000, **active)
        spread = [
            self.line(renewal, n, self.random.choice(flex), quantity=500_000, **active)
            for n in range(2, RENEWAL_SPREAD_LINES + 2)
        ]
        Entitlement.objects.bulk_create([hot, *spread])
        servers = self.servers(renewal, RENEWAL_SERVERS, 0xC0FFEE000000)
        activations = [Activation(server=s, entitlement=hot, quantity=1) for s in servers]
        per_server = RENEWAL_SPREAD_LINES // RENEWAL_SERVERS
        for i, entitlement in enumerate(spread):
            activations.append(Activation(server=servers[i // per_server], entitlement=entitlement, quantity=1))
        Activation.objects.bulk_create(activations)
        hot.activated = RENEWAL_SERVERS
        for entitlement in spread:
            entitlement.activated = 1
        Entitlement.objects.bulk_update([hot, *spread], ["activated"])
        for server in servers:
            server.customer = renewal
            LicenseFile.objects.create(
                server=server,
                version=1,
                content=license_file_render(server=server, version=1),
                reason=LicenseFileReason.ACTIVATION,
                created_by=admin,
            )

    def audit(self, customer: Customer, actors: list[User]) -> None:
        now = timezone.now()
        AuditEvent.objects.bulk_create(
            (
                AuditEvent(
                    customer=customer,
                    actor=actor,
                    actor_email=actor.email,
                    action=self.random.choice(_ACTIONS),
                    target=f"lic{self.random.randint(0, 49):03d}",
                    details={"bench": True},
                    created_at=now - datetime.timedelta(minutes=7 * i),
                )
                for i, actor in ((i, self.random.choice(actors)) for i in range(self.options["audit_events"]))
            ),
            batch_size=5000,
        )
