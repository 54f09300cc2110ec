"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.utils import translation

from accounts.models import Customer, Membership, User
from accounts.roles import Role
from tests import logcapture
from tests.factories import CustomerFactory, MembershipFactory, UserFactory


def pytest_sessionstart(session: pytest.Session) -> None:
    # Every log record of the run goes to test-artifacts/test-run-log.jsonl (tests/logcapture.py).
    logcapture.start()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # A secret (password, PIN, token, session key, SECRET_KEY) in any log record fails the run.
    leaks = logcapture.finish()
    if leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = f"secrets in the logs of this run ({logcapture.ARTIFACT}): " + "; ".join(leaks[:50])
        if reporter:
            reporter.write_line(message, red=True, bold=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``slow`` (left out of ``make test-fast``) on what is slow by kind, so a new test of
    that kind is slow without anyone remembering to mark it: real-browser journeys, the
    outage drills and every hypothesis property run."""
    for item in items:
        path = Path(str(item.path))
        if (
            item.get_closest_marker("browser")
            or _BROWSER in path.parents
            or _DRILLS in path.parents
            or getattr(getattr(item, "obj", None), "is_hypothesis_test", False)
        ):
            item.add_marker(pytest.mark.slow)


_BROWSER = Path(__file__).parent / "browser"
_DRILLS = Path(__file__).parent / "drills"


@pytest.fixture(scope="module")
def module_db(django_db_setup, django_db_blocker) -> Iterator[None]:
    """One transaction around a test module, rolled back after its last test.

    Like ``TestCase.setUpTestData``: rows a module-scoped fixture writes here are made once,
    and the module's tests run in savepoints inside this transaction (pytest-django's ``db``
    nests), so each test still starts from the same rows and nothing it writes outlives it.
    For modules of many generated tests that share one expensive world."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield
        transaction.set_rollback(True)


@pytest.fixture(scope="module")
def demo_data(module_db) -> None:
    """The demo data (``seed_demo``), made once for a test module (see ``module_db``)."""
    call_command("seed_demo", verbosity=0)


@pytest.fixture(autouse=True)
def _clear_outbox() -> None:
    mail.outbox = []


@pytest.fixture(autouse=True)
def _reset_language() -> Iterator[None]:
    # A request through LocaleMiddleware leaves its language active in the thread; without
    # this, a Turkish request in one test turned the next tests' messages Turkish.
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    # The per-process cache (rate limits, page fragments) starts empty in every test.
    cache.clear()


@pytest.fixture
def customer(db: None) -> Customer:
    return CustomerFactory(number="1001234", name="Demo Mühendislik A.Ş.")


@pytest.fixture
def other_customer(db: None) -> Customer:
    return CustomerFactory(number="2005678", name="Other Industries Ltd.")


@pytest.fixture
def member_factory(db: None) -> Callable[..., Membership]:
    def make(*, role: Role = Role.VIEWER, customer: Customer | None = None, **user_fields: object) -> Membership:
        return MembershipFactory(
            role=role,
            customer=customer or CustomerFactory(),
            user=UserFactory(**user_fields),
        )

    return make


@pytest.fixture
def member_client(db: None, member_factory: Callable[..., Membership]) -> Callable[..., Client]:
    """``member_client(role=Role.ASC, customer=c)`` -> a logged-in Client; ``client.user`` and
    ``client.membership`` are attached for assertions."""

    def make(*, role: Role = Role.VIEWER, customer: Customer | None = None) -> Client:
        membership = member_factory(role=role, customer=customer)
        client = Client()
        client.force_login(membership.user)
        client.user = membership.user  # type: ignore[attr-defined]
        client.membership = membership  # type: ignore[attr-defined]
        return client

    return make


@pytest.fixture
def staff_user(db: None) -> User:
    return UserFactory(is_staff=True, is_superuser=True, email="support@example.com")
