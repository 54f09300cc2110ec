"""No query string or form value causes a 500, on any view, for any role.

A hypothesis walk over every view of the URL resolver (the support console and allauth's own
views excepted: ``tests/accounts/test_admin.py`` and allauth's suite cover those) and, for each,
every parameter it can read, derived, never listed by hand:

- the fields of every form the page renders (``name="..."`` in its HTML), for each role;
- the query parameters and form fields its code reads: ``request.GET.get("x")``,
  ``GET.getlist("x")``, ``POST["x"]``, and the fields of every form class it builds from
  ``request.GET`` / ``request.POST`` (read from the source of the view and its project bases).

Path parameters are filled with the ids of real objects of the member's customer where one
answers (so the walk reaches the form, not a 404). Values: hostile strings (non-ASCII digits,
huge numbers, NUL, unterminated quotes), random text, and license files with malformed lines
for the pasted-license forms. Each example runs in a transaction that is rolled back.

A view added later is walked as soon as it is routed. The walk is short by default (1 to 3
examples per view and role, about a minute); ``PORTAL_FUZZ_EXAMPLES=20`` makes a deep run.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from django import forms
from django.db import transaction
from django.test import Client
from django.urls import get_resolver
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accounts.models import Customer, Invitation, Membership
from accounts.roles import Role
from activations.models import LicenseFile, LicenseServer
from entitlements.models import LicensingModel, SharedWebGroup, SharedWebUser
from tests.activations.helpers import activate, flex_customer, setup_server
from tests.customer_urls import _walk
from tests.factories import (
    ElasticAccountFactory,
    ElasticUsageFactory,
    EntitlementFactory,
    InvitationFactory,
    MembershipFactory,
    ProductFactory,
    SharedWebGroupFactory,
    SharedWebUserFactory,
)

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "tests" / "activations" / "license_samples").glob("*.lic"))
SAMPLE_TEXTS = [path.read_text(encoding="utf-8") for path in SAMPLES]
EXAMPLES = int(os.environ.get("PORTAL_FUZZ_EXAMPLES", "3"))
SKIPPED_PREFIXES = ("admin/", "accounts/", "static/", "media/")
PROJECT_MODULES = ("accounts", "activations", "entitlements", "portal")


# --- the views and their parameters, derived -----------------------------------------------------


def _routes() -> list[tuple[str, str, Any]]:
    return [
        (route, name, callback)
        for route, name, callback in _walk(get_resolver().url_patterns)
        if not route.startswith(SKIPPED_PREFIXES)
    ]


ROUTES = _routes()
_READS = re.compile(r"""\b(?:GET|POST|FILES|data|query)\s*(?:\.get(?:list)?\(\s*|\[\s*)["']([A-Za-z_][\w\-]*)["']""")
_FORM_FROM_REQUEST = re.compile(r"\b([A-Z]\w*Form)\(\s*(?:self\.)?request\.(?:GET|POST)")


def _project_classes(view: Any) -> Iterator[Any]:
    target = getattr(view, "view_class", view)
    for klass in getattr(target, "__mro__", (target,)):
        if getattr(klass, "__module__", "").split(".")[0] in PROJECT_MODULES:
            yield klass


@functools.cache
def parameters_read_by_code(view: Any) -> frozenset[str]:
    """The query/form parameters a view's own code reads, and the fields of the forms it builds
    from the request."""
    names: set[str] = set()
    for klass in _project_classes(view):
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        names |= set(_READS.findall(source))
        module = inspect.getmodule(klass)
        for form_name in _FORM_FROM_REQUEST.findall(source):
            form = getattr(module, form_name, None)
            if isinstance(form, type) and issubclass(form, forms.BaseForm):
                names |= set(form.base_fields)
    return frozenset(names)


_FIELD = re.compile(r'<(?:input|select|textarea|button)\b[^>]*?\bname="([^"]+)"', re.IGNORECASE)


def parameters_in_page(html: str) -> set[str]:
    return {name for name in _FIELD.findall(html) if name != "csrfmiddlewaretoken"}


_NUMBERED = re.compile(r"^(.*?_)\d+$")
_PREFIX_READ = re.compile(r"""startswith\(\s*["']([A-Za-z_][\w\-]*_)["']""")
_ODD_NUMBERS = ("²", "١٢", "9" * 30, "0")


def with_odd_numbers(names: set[str], callback: Any) -> set[str]:
    """Numbered parameters (``qty_12``, or a ``q_`` prefix the code looks for) also with
    non-ASCII digits and huge numbers in their names."""
    prefixes = {match.group(1) for name in names if (match := _NUMBERED.match(name))} | _prefixes_read(callback)
    return names | {prefix + number for prefix in prefixes for number in _ODD_NUMBERS}


@functools.cache
def _prefixes_read(callback: Any) -> frozenset[str]:
    prefixes: set[str] = set()
    for klass in _project_classes(callback):
        try:
            prefixes |= set(_PREFIX_READ.findall(inspect.getsource(inspect.getmodule(klass))))
        except (OSError, TypeError):
            continue
    return frozenset(prefixes)


# --- values --------------------------------------------------------------------------------------

HOSTILE = [
    "",
    " ",
    "0",
    "-1",
    "²",
    "١٢٣",
    "١",
    "٣.٥",
    "⁵",
    "½",
    "Ⅻ",
    "９",
    "99999999999999999999999",
    "9" * 5000,
    "1e309",
    "-1e309",
    "NaN",
    "inf",
    "0x10",
    "1_000",
    " 1 ",
    "1.5",
    "-0",
    "\x00",
    "a\x00b",
    "%00",
    '"',
    "'",
    '"abc',
    "a=",
    "=b",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "=cmd|' /C calc'!A0",
    "../../etc/passwd",
    "a" * 10_000,
    "2026-02-30",
    "31-feb-2026",
    "9999-12-31",
    "0000-00-00",
    "2026-13-01",
    "\u202e",
    "İı",
    "ß",
    "\r\n",
    "\t",
    "asc",
    "viewer",
    "administrator",
    "on",
    "1",
    "2",
    "true",
    "[]",
    "{}",
    "x@example.org",
    "a@b",
]
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=120)
NUMBERS = st.integers(min_value=-(10**30), max_value=10**30).map(str)

_BAD_TOKENS = [
    "²",
    "١٢٣",
    "99999999999999999999999",
    "9" * 5000,
    '"unterminated',
    "PORT=",
    "PORT=²",
    "PORT=١٠٥٥",
    "PORT=99999999999999999999",
    "=",
    "A=B=C",
    'SIGN="',
    "\x00",
    "HOSTID=",
    "HOSTID=ID=",
    "FLEXID=9-²",
    "START=31-feb-2026",
    "31-xyz-2026",
    "permanent",
    "0",
    "-5",
    "1e309",
    "\\",
    " \\",
    "ISSUED=",
    "BORROW=²",
]


@st.composite
def license_texts(draw: st.DrawFn) -> str:
    """A real sample license file with some tokens replaced by malformed ones, lines dropped,
    repeated or cut."""
    lines = draw(st.sampled_from(SAMPLE_TEXTS)).splitlines()
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        if not lines:
            break
        index = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        tokens = lines[index].split(" ")
        position = draw(st.integers(min_value=0, max_value=len(tokens) - 1))
        action = draw(st.sampled_from(["replace", "append", "cut", "repeat", "drop"]))
        if action == "replace":
            tokens[position] = draw(st.sampled_from(_BAD_TOKENS))
        elif action == "append":
            tokens.append(draw(st.sampled_from(_BAD_TOKENS)))
        elif action == "cut":
            tokens = tokens[:position]
        elif action == "repeat":
            lines.insert(index, lines[index])
        else:
            lines.pop(index)
            continue
        lines[index] = " ".join(tokens)
    return "\n".join(lines)


VALUES = st.one_of(st.sampled_from(HOSTILE), TEXT, NUMBERS, license_texts())


def payloads(names: list[str]) -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(st.sampled_from(names), VALUES, max_size=6) if names else st.just({})


# --- the world -----------------------------------------------------------------------------------


def rich_customer() -> tuple[Customer, dict[str, Membership]]:
    """A customer with something behind every path parameter: servers with license files,
    members of each role, an invitation, Shared Web users and groups, an Elastic account."""

    customer = flex_customer()
    members = {role: MembershipFactory(customer=customer, role=role) for role in Role}
    server, line = setup_server(customer, quantity=10)
    activate(server, members[Role.ASC].user, {line.pk: 2})
    activate(server, members[Role.ASC].user, {line.pk: 3})
    InvitationFactory(customer=customer)
    for model in (LicensingModel.SHARED_WEB, LicensingModel.ELASTIC):
        EntitlementFactory(customer=customer, product=ProductFactory(feature=f"fz_{model}", licensing_model=model))
    user = SharedWebUserFactory(customer=customer, email="sam@example.org", name="Sam")
    SharedWebGroupFactory(customer=customer, name="Team").members.add(user)
    ElasticAccountFactory(customer=customer, pin="PIN0")
    ElasticUsageFactory(
        customer=customer, transaction_id="T1", product=ProductFactory(feature=f"fz_{LicensingModel.ELASTIC}")
    )
    return customer, members


def _ids(customer: Customer) -> dict[str, list[str]]:
    """The ids that could stand behind a path parameter of this customer's pages, by the
    parameter's name; ``""`` holds every id, for a parameter not named here."""
    servers = LicenseServer.objects.filter(customer=customer).values_list("pk", flat=True)
    versions = LicenseFile.objects.filter(server__customer=customer).values_list("version", flat=True)
    others = [
        *Membership.objects.filter(customer=customer).values_list("pk", flat=True),
        *Invitation.objects.filter(customer=customer).values_list("pk", flat=True),
        *SharedWebUser.objects.filter(customer=customer).values_list("pk", flat=True),
        *SharedWebGroup.objects.filter(customer=customer).values_list("pk", flat=True),
    ]
    by_name = {"server_id": sorted(set(servers)), "version": sorted(set(versions)), "pk": sorted(set(others))}
    by_name[""] = sorted({i for ids in by_name.values() for i in ids})
    return {name: [str(i) for i in ids] for name, ids in by_name.items()}


_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def concrete_path(route: str, client: Client, customer: Customer, ids: dict[str, list[str]]) -> str:
    """The route with the customer and, for other parameters, the first ids for which a GET
    is not a 404 (or the last tried)."""
    route = "/" + route.replace("<str:customer_number>", customer.number)
    names = [name for _, name in _PARAM.findall(route)]
    if not names:
        return route
    path = route
    for combination in itertools.product(*(ids.get(name, ids[""]) for name in names)):
        values = iter(combination)
        path = _PARAM.sub(lambda _, values=values: next(values), route)
        if client.get(path).status_code != HTTPStatus.NOT_FOUND:
            return path
    return path


@contextmanager
def rolled_back() -> Iterator[None]:
    """One example: whatever it writes is undone."""
    try:
        with transaction.atomic():
            yield
            raise _Rollback
    except _Rollback:
        pass


class _Rollback(Exception):
    pass


@pytest.fixture
def world(db) -> tuple[Customer, dict[Role, Membership], dict[str, list[str]]]:
    customer, members = rich_customer()
    return customer, members, _ids(customer)


def _client(membership: Membership | None) -> Client:
    client = Client(raise_request_exception=False)
    if membership is not None:
        client.force_login(membership.user)
    return client


def _request_all_ways(client: Client, path: str, payload: dict[str, str]) -> None:
    get_payload = {k: v for k, v in payload.items() if "\x00" not in v}  # a NUL cannot be in a URL
    for response in (client.get(path, get_payload), client.post(path, payload)):
        assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR, (path, payload, response.status_code)


def _walker(client: Client, path: str, names: list[str], examples: int) -> Any:
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(payload=payloads(names))
    def walk(payload: dict[str, str]) -> None:
        with rolled_back():
            _request_all_ways(client, path, payload)

    return walk


# ASCs may do everything, so their walk goes furthest; the other roles see other pages and forms.
# PORTAL_FUZZ_EXAMPLES=20 makes a deep run (each role's count x 20/3; about 4 minutes here).
EXAMPLES_PER_ROLE = {
    role: max(1, count * EXAMPLES // 3)
    for role, count in {None: 2, Role.VIEWER: 1, Role.ADMINISTRATOR: 1, Role.ASC: 3}.items()
}


def _walk_every_route(world: Any, role: Role | None, examples: int) -> None:
    """Every route, walked with hypothesis; all failures are reported together."""
    customer, members, ids = world
    client = _client(members[role] if role else None)
    failures = []
    for route, name, callback in ROUTES:
        if role is None and route.startswith("c/"):
            continue  # signed out, every customer page is the sign-in redirect
        path = concrete_path(route, client, customer, ids)
        page = client.get(path)
        html = "" if page.streaming else page.content.decode(errors="replace")
        names = sorted(
            with_odd_numbers(
                parameters_read_by_code(callback) | parameters_in_page(html) | {"page", "q", "sort", "next"},
                callback,
            )
        )
        try:
            _walker(client, path, names, examples)()
        except Exception as failure:  # every route is walked; all failures reported at the end
            failures.append((name or route, repr(failure)[:3000]))
    assert not failures, "\n".join(f"{name}: {failure}" for name, failure in failures)


@pytest.mark.slow  # a hypothesis property run (about a minute), as tests/conftest.py marks the others
@pytest.mark.parametrize("role", list(EXAMPLES_PER_ROLE), ids=lambda r: r.value if r else "anonymous")
def test_no_parameter_value_causes_a_server_error(world, role) -> None:
    _walk_every_route(world, role, EXAMPLES_PER_ROLE[role])


def test_the_walk_finds_each_views_parameters(world) -> None:
    """The derivation is only as good as what it finds: known parameters of known views."""
    customer, members, ids = world
    client = _client(members[Role.ASC])
    expected = {
        "entitlements:list": {"status", "model", "sort", "q", "page"},
        "licensing_settings:elastic_usage": {"preset", "date_from", "date_to", "per"},
        "activations:file_diff": {"from", "to"},
        "activations:import": {"text", "file"},
        "license_verify": {"text", "file"},
        "audit:list": {"action", "actor", "date_from", "date_to", "denied"},
        "activations:activate": {"q_²", "q_" + "9" * 30},
    }
    found = {}
    for route, name, callback in ROUTES:
        if name in expected:
            response = client.get(concrete_path(route, client, customer, ids))
            found[name] = with_odd_numbers(
                parameters_read_by_code(callback) | parameters_in_page(response.content.decode()), callback
            )
    for name, names in expected.items():
        assert names <= found[name], (name, names - found[name])


# --- regressions the walk found, pinned ------------------------------------------------------------


@pytest.fixture
def asc_world(world) -> tuple[Client, Customer, LicenseServer, str]:
    customer, members, _ = world
    server = LicenseServer.objects.filter(customer=customer).first()
    line = customer.entitlements.filter(product__licensing_model=LicensingModel.FLEXNET).order_by("pk").last()
    return _client(members[Role.ASC]), customer, server, str(line.pk)


def _no_server_error(response: Any) -> None:
    assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR, response.status_code


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(["{line}", "²", "١", "9" * 30, "9" * 5000]), value=st.sampled_from(HOSTILE))
@example(key="²", value="1")  # int("²"): "²".isdigit() is true
@example(key="{line}", value="²")
@example(key="9" * 5000, value="1")  # int() refuses more than 4,300 digits
@example(key="9" * 30, value="1")  # beyond a database integer
def test_activation_prefill_from_a_license_takes_ascii_numbers_only(asc_world, key, value) -> None:
    client, customer, server, line = asc_world
    url = f"/c/{customer.number}/activations/servers/{server.pk}/activate/"
    _no_server_error(client.get(url, {f"q_{key.format(line=line)}": value}))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.sampled_from(HOSTILE))
@example(value="9" * 5000)  # int() refuses more than 4,300 digits
def test_file_comparison_versions_take_ascii_numbers_only(asc_world, value) -> None:
    client, customer, server, _ = asc_world
    url = f"/c/{customer.number}/activations/servers/{server.pk}/files/compare/"
    _no_server_error(client.get(url, {"from": value, "to": value}))


_VENDOR_PORT_SAMPLE = next(path for path in SAMPLES if "PORT=" in path.read_text(encoding="utf-8"))


def _with_vendor_port(port: str) -> str:
    return re.sub(r"PORT=\S+", f"PORT={port}", _VENDOR_PORT_SAMPLE.read_text(encoding="utf-8"), count=1)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=license_texts())
@example(text=_with_vendor_port("²"))  # the parser refuses it (the import reads the vendor port with int())
@example(text=_with_vendor_port("9" * 5000))
def test_pasted_license_text_never_causes_a_server_error(asc_world, text) -> None:
    client, customer, _, _ = asc_world
    for url in (f"/c/{customer.number}/activations/update-from-license/", "/license-files/verify/"):
        _no_server_error(client.post(url, {"text": text}))
