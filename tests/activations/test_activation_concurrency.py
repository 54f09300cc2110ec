"""Concurrent activations on PostgreSQL: real threads and real processes, real row locks."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection, connections

from activations.models import Activation, ActivationSubmission, LicenseFile
from activations.selectors import LineRequest
from activations.services import activation_apply, activation_token_new
from entitlements.models import Entitlement
from portal.errors import PortalError
from tests.factories import CustomerFactory, EntitlementFactory, LicenseServerFactory, ProductFactory, UserFactory

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks")

ROOT = Path(__file__).resolve().parents[2]
QUANTITY = 10
THREADS = 24
PROCESSES = 6

SCRIPT = """
import os, sys
import django
django.setup()
from accounts.models import User
from activations.models import LicenseServer
from activations.selectors import LineRequest
from activations.services import activation_apply, activation_token_new
from portal.errors import PortalError

user = User.objects.get(pk=int(sys.argv[2]))
results = []
for server_id in sys.argv[3].split(","):
    server = LicenseServer.objects.select_related("customer").get(pk=int(server_id))
    try:
        activation_apply(server=server, actor=user, token=activation_token_new(),
                         requests={int(sys.argv[1]): LineRequest(1, False)})
        results.append("OK")
    except PortalError as error:
        results.append("REFUSED:" + error.message.replace(chr(10), " "))
print("\\n".join(results))
"""


def _run(fn, *args):
    try:
        return fn(*args)
    finally:
        connections.close_all()


def _activate_one(server, user, line_id: int, token: str | None = None) -> str:
    try:
        activation_apply(
            server=server, actor=user, token=token or activation_token_new(), requests={line_id: LineRequest(1, False)}
        )
        return "OK"
    except PortalError as error:
        return "REFUSED:" + error.message


def _database_url() -> str:
    settings = connection.settings_dict
    user = settings.get("USER") or "postgres"
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings['NAME']}"


def _check_invariants(line: Entitlement) -> None:
    line.refresh_from_db()
    total = sum(Activation.objects.filter(entitlement=line).values_list("quantity", flat=True))
    assert total == line.activated <= line.quantity


def _processes(line: Entitlement, staff, servers) -> list[subprocess.Popen]:
    """PROCESSES Python processes, each activating one license of the line on two servers."""
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "portal.settings.test",
        "PYTHONPATH": str(ROOT),
    }
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                SCRIPT,
                str(line.pk),
                str(staff.pk),
                ",".join(str(s.pk) for s in servers[i * 2 : (i + 1) * 2]),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]


def _threads(line: Entitlement, staff, servers) -> list[str]:
    """One thread per server, all released at once, each activating one license of the line."""
    barrier = threading.Barrier(THREADS)

    def worker(server):
        barrier.wait()
        return _activate_one(server, staff, line.pk)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(lambda s: _run(worker, s), servers))


def _outcomes(processes: list[subprocess.Popen]) -> list[str]:
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        results += out.split("\n")
    return [r for r in results if r]


@pytest.mark.django_db(transaction=True)
def test_threads_and_processes_never_oversubscribe() -> None:
    customer = CustomerFactory(flexnet_managed=True)
    line = EntitlementFactory(customer=customer, product=ProductFactory(feature="ansys"), quantity=QUANTITY)
    staff = UserFactory(is_staff=True)
    thread_servers = [LicenseServerFactory(customer=customer) for _ in range(THREADS)]
    process_servers = [LicenseServerFactory(customer=customer) for _ in range(PROCESSES * 2)]

    processes = _processes(line, staff, process_servers)
    results = _threads(line, staff, thread_servers) + _outcomes(processes)
    assert len(results) == THREADS + PROCESSES * 2
    assert results.count("OK") == QUANTITY
    losers = [r for r in results if r != "OK"]
    assert losers
    assert all(r.startswith("REFUSED:") for r in losers), losers
    assert all(line.line_id in r for r in losers), losers
    _check_invariants(line)
    assert line.activated == QUANTITY


@pytest.mark.django_db(transaction=True)
def test_concurrent_double_submit_of_one_review_applies_once() -> None:
    customer = CustomerFactory(flexnet_managed=True)
    line = EntitlementFactory(customer=customer, product=ProductFactory(feature="ansys"), quantity=QUANTITY)
    staff = UserFactory(is_staff=True)
    server = LicenseServerFactory(customer=customer)
    token = activation_token_new()
    barrier = threading.Barrier(THREADS)

    def worker(_):
        barrier.wait()
        activation_apply(
            server=server, actor=staff, token=token, requests={line.pk: LineRequest(3, False)}, expected={line.pk: 0}
        )
        return "OK"

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(lambda i: _run(worker, i), range(THREADS)))
    assert results == ["OK"] * THREADS  # every submit answers with the (one) result
    line.refresh_from_db()
    assert line.activated == 3
    assert ActivationSubmission.objects.filter(token=token).count() == 1
    assert LicenseFile.objects.filter(server=server).count() == 1


@pytest.mark.django_db(transaction=True)
def test_crossing_activations_on_two_lines_do_not_deadlock() -> None:
    customer = CustomerFactory(flexnet_managed=True)
    first = EntitlementFactory(customer=customer, product=ProductFactory(feature="ansys"), quantity=100)
    second = EntitlementFactory(customer=customer, product=ProductFactory(feature="acfdsol3"), quantity=100)
    staff = UserFactory(is_staff=True)
    servers = [LicenseServerFactory(customer=customer) for _ in range(20)]

    def worker(index):
        server = servers[index]
        # Half ask in one order, half in the other; locks are taken in id order anyway.
        requests = {first.pk: LineRequest(2, False), second.pk: LineRequest(3, False)}
        if index % 2:
            requests = dict(reversed(list(requests.items())))
        activation_apply(server=server, actor=staff, token=activation_token_new(), requests=requests)
        return "OK"

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda i: _run(worker, i), range(20)))
    assert results == ["OK"] * 20
    _check_invariants(first)
    _check_invariants(second)
    assert first.activated == 40
    assert second.activated == 60


@pytest.mark.django_db(transaction=True)
def test_a_confirm_locks_only_the_lines_it_changes() -> None:
    """Another transaction holds a row lock on a line this confirm also carries, unchanged
    (what the review posts back): the confirm neither waits for it nor changes it."""
    customer = CustomerFactory(flexnet_managed=True)
    changed = EntitlementFactory(customer=customer, product=ProductFactory(feature="ansys"), quantity=10)
    unchanged = EntitlementFactory(customer=customer, product=ProductFactory(feature="acfdsol3"), quantity=10)
    staff = UserFactory(is_staff=True)
    server = LicenseServerFactory(customer=customer)
    activation_apply(
        server=server, actor=staff, token=activation_token_new(), requests={unchanged.pk: LineRequest(2, False)}
    )
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        from django.db import transaction

        with transaction.atomic():
            Entitlement.objects.select_for_update().get(pk=unchanged.pk)
            locked.set()
            release.wait(30)

    holder = threading.Thread(target=_run, args=(hold_lock,))
    holder.start()
    try:
        assert locked.wait(10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '3s'")  # a wait on the held row fails the test
        result = activation_apply(
            server=server,
            actor=staff,
            token=activation_token_new(),
            requests={changed.pk: LineRequest(4, False), unchanged.pk: LineRequest(2, False)},
            expected={changed.pk: 0, unchanged.pk: 2},
        )
    finally:
        release.set()
        holder.join()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert [c["line"] for c in result.changes] == [changed.line_id]
    _check_invariants(changed)
    _check_invariants(unchanged)
    assert (changed.activated, unchanged.activated) == (4, 2)


@pytest.mark.django_db(transaction=True)
def test_a_line_changed_on_the_server_after_the_review_is_still_refused_without_a_lock() -> None:
    customer = CustomerFactory(flexnet_managed=True)
    changed = EntitlementFactory(customer=customer, product=ProductFactory(feature="ansys"), quantity=10)
    other = EntitlementFactory(customer=customer, product=ProductFactory(feature="acfdsol3"), quantity=10)
    staff = UserFactory(is_staff=True)
    server = LicenseServerFactory(customer=customer)
    # The user reviewed "other: 0"; meanwhile someone put 3 on this server.
    activation_apply(
        server=server, actor=staff, token=activation_token_new(), requests={other.pk: LineRequest(3, False)}
    )
    with pytest.raises(PortalError) as refused:
        activation_apply(
            server=server,
            actor=staff,
            token=activation_token_new(),
            requests={changed.pk: LineRequest(4, False), other.pk: LineRequest(0, False)},
            expected={changed.pk: 0, other.pk: 0},
        )
    assert other.line_id in str(refused.value.problems)
    changed.refresh_from_db()
    assert changed.activated == 0


@pytest.mark.django_db(transaction=True)
def test_support_imports_and_activations_on_the_same_lines_do_not_deadlock() -> None:
    """Both lock the lines they change in id order before their first write (which raises the
    customer's data version, a row lock on the customer): no lock cycle, whatever runs first."""
    from entitlements.services import entitlement_import

    customer = CustomerFactory(number="7001234", flexnet_managed=True)
    product = ProductFactory(feature="ansys")
    line = EntitlementFactory(
        customer=customer, product=product, line_id="7001234-0001", quantity=1_000, start_date="2020-01-01"
    )
    staff = UserFactory(is_staff=True, is_superuser=True)  # imports need the model permission (#12 item 13)
    servers = [LicenseServerFactory(customer=customer) for _ in range(6)]
    header = "customer_number,line_id,order_number,feature,quantity,start_date,end_date,tecs_end_date,borrowable\n"

    def importer(round_: int) -> str:
        # A new line first (its insert locks the customer row), then the line the activations use.
        text = header + (
            f"7001234,7001234-1{round_:03d},SO-9,ansys,5,2020-01-01,,,no\n"
            f"7001234,7001234-0001,SO-9,ansys,{1_000 + round_},2020-01-01,,,no\n"
        )
        entitlement_import(actor=staff, text=text)
        return "OK"

    def activator(round_: int) -> str:
        server = servers[round_ % len(servers)]
        activation_apply(
            server=server,
            actor=staff,
            token=activation_token_new(),
            requests={line.pk: LineRequest(1 + round_ // len(servers), False)},
        )
        return "OK"

    jobs = [(importer, i) for i in range(12)] + [(activator, i) for i in range(12)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda job: _run(*job), jobs))
    assert results == ["OK"] * len(jobs)
    _check_invariants(line)
