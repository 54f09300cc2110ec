"""Property tests (hypothesis) for every CSV importer: the bulk add of portal users, the
support console's entitlement import, the Shared Web user import and the Elastic usage import.

Over random and hostile files (any unicode, NULs, BOMs, mixed line ends, fields over the csv
module's size limit, binary garbage, UTF-16 / Latin-1 / CP1254 bytes, formula-like cells such
as ``=cmd|' /C calc'!A0``, ``+1``, ``-1``, ``@SUM``), for each importer:

- nothing comes out but the importer's own refusal: no exception, no 5xx through the page,
  whatever the file and whichever hostile value stands in whichever column;
- a refused file changes no row (all or nothing); Elastic usage, which imports line by line,
  stores exactly the lines it reports as imported, and a check-only run stores none;
- generated valid rows round-trip: afterwards the database holds exactly those rows;
- importing the same file again adds nothing (no duplicate rows, or a clear refusal);
- where an export exists, export -> import changes nothing, and no exported cell starts
  like a formula (``portal.csv.csv_safe``);
- another customer's rows never change.

Real PostgreSQL, no mocks. Each example runs in a savepoint that is rolled back, so the
examples of one test do not see each other's rows.
"""

from __future__ import annotations

import csv
import datetime
import io
import string
import zoneinfo
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from http import HTTPStatus
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from accounts.forms import BulkAddForm, bulk_requests_parse
from accounts.models import AuditEvent, Customer, Invitation, Membership, Notification
from accounts.roles import GRANTABLE_ROLES, Role
from accounts.selectors import AddOutcome
from accounts.services import email_normalise
from entitlements.licensing.forms import SharedWebImportForm, shared_web_import_parse
from entitlements.licensing.selectors import ImportOutcome
from entitlements.licensing.services import (
    USAGE_COLUMNS,
    UsageOutcome,
    elastic_usage_import,
    shared_web_email_normalise,
)
from entitlements.models import ElasticUsage, Entitlement, LicensingModel, SharedWebUser
from entitlements.services import IMPORT_COLUMNS, entitlement_import, entitlement_import_plan
from portal.csv import FORMULA_PREFIXES, csv_safe, csv_unsafe
from portal.errors import PortalError
from tests.factories import (
    CustomerFactory,
    ElasticUsageFactory,
    EntitlementFactory,
    InvitationFactory,
    MembershipFactory,
    ProductFactory,
    SharedWebUserFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

PROPERTY = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PARSER_PROPERTY = settings(PROPERTY, max_examples=150)
ISTANBUL = zoneinfo.ZoneInfo("Europe/Istanbul")


# --- Hostile material -------------------------------------------------------------------------

FORMULAS = (
    "=cmd|' /C calc'!A0",
    "+1",
    "-1",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    '=HYPERLINK("https://evil.example")',
    "\t=1",
    "\r=1",
)
HOSTILE = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ufeff",
    "\u2028",
    "\x85",
    "\x0c",
    '"',
    '"open',
    'a"b',
    "'",
    "#",
    ",",
    ";",
    "\t",
    *FORMULAS,
    "١٢٣",
    "²",
    "1e999999",
    "1E+100",
    "-0",
    "NaN",
    "Infinity",
    "9" * 40,
    "0x10",
    "1_000",
    " 1 ",
    "1.5",
    "0001-01-01",
    "9999-12-31 23:59",
    "9999-12-31T23:59-14:00",
    "0001-01-01T00:00+14:00",
    "2026-02-30",
    "0000-00-00",
    "2026-11-01T08:00+99:00",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "../../etc/passwd",
    "x" * 300,
    "ß" * 255,
    "y" * 140_000,  # over csv.field_size_limit()
]
HOSTILE_CELLS = st.sampled_from(HOSTILE)
# For the tables below, which put every value in every column of an otherwise valid row: the
# values that refuse a whole file (NUL, a field over the csv limit) are left to the fuzzing.
TABLE_VALUES = [value for value in HOSTILE if "\x00" not in value and len(value) < 100_000]
CELLS = st.one_of(HOSTILE_CELLS, st.text(max_size=20))
LINE_ENDS = st.sampled_from(["\n", "\r\n", "\r", "\u2028"])
ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1254"])


def _mutated(rows: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    """A valid row with one or two cells replaced, dropped or added."""

    @st.composite
    def mutate(draw: st.DrawFn) -> list[str]:
        cells = list(draw(rows))
        for _ in range(draw(st.integers(1, 2))):
            action = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
            position = draw(st.integers(0, max(len(cells) - 1, 0)))
            if action == "replace" and cells:
                cells[position] = draw(CELLS)
            elif action == "drop" and cells:
                del cells[position]
            else:
                cells.insert(position, draw(CELLS))
        return cells

    return mutate()


def hostile_table(row: list[str], *, key: int | None = None) -> tuple[str, int]:
    """Rows of ``row`` with each cell in turn replaced by each of ``TABLE_VALUES`` (quoted as
    needed, so each value lands in its column); column ``key`` gets a unique value elsewhere.
    Returns the CSV body (no header) and its number of rows."""
    out = io.StringIO()
    writer = csv.writer(out)  # "\r\n" ends rows, so a cell holding "\r" gets quoted
    count = 0
    for column in range(len(row)):
        for value in TABLE_VALUES:
            cells = list(row)
            if key is not None and column != key:
                cells[key] = f"{count + 1}-{count}"
            cells[column] = value
            writer.writerow(cells)
            count += 1
    return out.getvalue(), count


@st.composite
def hostile_texts(draw: st.DrawFn, header: list[str], valid_row: st.SearchStrategy[list[str]]) -> str:
    """A CSV-ish text: the real header (or a damaged one) and a mix of valid, damaged and
    garbage rows; cells written raw or quoted, any delimiter and line end, maybe a BOM."""
    rows = st.one_of(valid_row, _mutated(valid_row), st.lists(CELLS, max_size=12))
    # Mostly the real header, so that the rows get read at all.
    first = draw(
        st.sampled_from([st.just(header)] * 3 + [_mutated(st.just(header)), st.lists(CELLS, max_size=12)]).flatmap(
            lambda strategy: strategy
        )
    )
    lines = [first, *draw(st.lists(rows, max_size=6))]
    delimiter = draw(st.sampled_from([",", ",", ",", ";", "\t"]))
    if draw(st.booleans()):
        out = io.StringIO()
        csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(lines)
        rendered = out.getvalue().split("\n")[:-1]
    else:
        rendered = [delimiter.join(line) for line in lines]
    text = rendered[0] if rendered else ""
    for line in rendered[1:]:
        text += draw(LINE_ENDS) + line
    if draw(st.booleans()):
        text += draw(LINE_ENDS)
    return ("\ufeff" if draw(st.booleans()) else "") + text


def hostile_inputs(texts: st.SearchStrategy[str]) -> st.SearchStrategy[str | bytes]:
    """Text as it is, text in some encoding, arbitrary text, or binary garbage."""
    encoded = st.tuples(texts, ENCODINGS).map(lambda pair: pair[0].encode(pair[1], errors="replace"))
    return st.one_of(texts, texts, encoded, st.text(max_size=300), st.binary(max_size=600))


def _upload(content: str | bytes) -> SimpleUploadedFile:
    data = content.encode("utf-8", errors="replace") if isinstance(content, str) else content
    return SimpleUploadedFile("import.csv", data, content_type="text/csv")


def _paste_or_upload(content: str | bytes) -> dict[str, Any]:
    """Text goes into the textarea, bytes are uploaded."""
    return {"text": content} if isinstance(content, str) else {"file": _upload(content)}


def _cells_safe(csv_text: str) -> None:
    """No cell of an export starts like a formula."""
    for row in csv.reader(io.StringIO(csv_text.lstrip("\ufeff"))):
        for cell in row:
            assert not cell.startswith(FORMULA_PREFIXES), (cell, row)


def _body(response: Any) -> str:
    assert response.status_code == HTTPStatus.OK, response.status_code
    return b"".join(response.streaming_content).decode("utf-8")


@contextmanager
def rolled_back() -> Iterator[None]:
    """One hypothesis example: whatever it writes is undone afterwards."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


# --- Generated valid values -------------------------------------------------------------------

# Local parts Django accepts, starting with formula characters too (=x@..., -x@..., +x@...).
_ATOM = st.text(alphabet=string.ascii_letters + string.digits + "_+=-", min_size=1, max_size=8)
EMAILS = st.builds(
    lambda atoms, domain: ".".join(atoms) + "@" + domain,
    st.lists(_ATOM, min_size=1, max_size=2),
    st.sampled_from(["example.org", "Example.COM", "örnek.com.tr", "sub.example.net"]),
)
# Names as the portal stores them: whitespace-normalised, no control characters.
NAMES = (
    st.text(st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=60)
    .map(lambda text: " ".join(text.split()))
    .filter(lambda name: len(name) <= 150 and not name.startswith("'"))
)


def _unique_by(key: Callable[[Any], Any]) -> Callable[[list[Any]], list[Any]]:
    def unique(items: list[Any]) -> list[Any]:
        seen: set[Any] = set()
        return [item for item in items if not (key(item) in seen or seen.add(key(item)))]

    return unique


# --- The world: our customer, another customer, their data --------------------------------------


@pytest.fixture
def world(db: None) -> dict[str, Any]:
    ours = CustomerFactory(number="1001234")
    other = CustomerFactory(number="2005678")
    flex = ProductFactory(feature="prop_flex", licensing_model=LicensingModel.FLEXNET)
    shared_web = ProductFactory(feature="prop_sw", licensing_model=LicensingModel.SHARED_WEB)
    elastic = ProductFactory(feature="prop_el", licensing_model=LicensingModel.ELASTIC)
    for customer in (ours, other):
        for product in (flex, shared_web, elastic):
            EntitlementFactory(customer=customer, product=product)
    # Verified accounts that are not our members: a bulk add adds them instead of inviting.
    known = [UserFactory(email=f"known{i}@example.org") for i in range(3)]
    asc = MembershipFactory(customer=ours, role=Role.ASC, user=UserFactory(email="asc@ours.invalid")).user
    MembershipFactory(customer=other, role=Role.ASC, user=known[0])
    InvitationFactory(customer=other, email="pending@example.org", role=Role.VIEWER)
    for email, name in (("known1@example.org", "Other's Known"), ("shared@example.org", "Other's Shared")):
        SharedWebUserFactory(customer=other, email=email, name=name)
    start = datetime.datetime(2026, 3, 1, 9, tzinfo=ISTANBUL)
    for number in range(3):
        ElasticUsageFactory(
            customer=other,
            transaction_id=f"T{number}",
            started_at=start,
            ended_at=start,
            product=elastic,
            count=1,
            hours=Decimal("1.000"),
            cost=Decimal("2.500"),
            user="other@example.org",
        )
    staff = UserFactory(is_staff=True, is_superuser=True, email="support@staff.invalid")
    return {
        "ours": ours,
        "other": other,
        "asc": _client(asc),
        "staff": _client(staff),
        "staff_user": staff,
        "known": [user.email for user in known],
    }


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def snapshot(customer: Customer) -> dict[str, Any]:
    """Every row an importer may write for ``customer`` (denied-attempt audit events aside)."""
    return {
        "members": sorted(Membership.objects.filter(customer=customer).values_list("user__email", "role")),
        "invitations": sorted(
            Invitation.objects.filter(customer=customer).values_list("email", "role", "cancelled_at")
        ),
        "entitlements": sorted(
            Entitlement.objects.filter(customer=customer).values_list(
                "line_id",
                "order_number",
                "product__feature",
                "quantity",
                "start_date",
                "end_date",
                "tecs_end_date",
                "borrowable",
            )
        ),
        "shared_web": sorted(SharedWebUser.objects.filter(customer=customer).values_list("email", "name", "active")),
        "usage": sorted(
            ElasticUsage.objects.filter(customer=customer).values_list(
                "transaction_id",
                "started_at",
                "ended_at",
                "product__feature",
                "count",
                "hours",
                "cost",
                "currency",
                "user",
            )
        ),
        "audit": AuditEvent.objects.filter(customer=customer, denied=False).count(),
        "notifications": Notification.objects.filter(customer=customer).count(),
    }


def snapshots(world: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return snapshot(world["ours"]), snapshot(world["other"])


# --- 1. Bulk add of portal users (/c/<n>/users/bulk/) ------------------------------------------

BULK_ROLE_WORDS = {
    Role.ADMINISTRATOR: ["administrator", "ADMINISTRATOR", " Administrator ", "License Portal Administrator"],
    Role.VIEWER: ["viewer", "Viewer", "license portal viewer"],
}
KNOWN = [f"known{i}@example.org" for i in range(3)]
BULK_ROWS = st.tuples(
    EMAILS | st.sampled_from(KNOWN),
    st.sampled_from(["administrator", "viewer", "asc", "Viewer"]),
).map(list)


def _bulk_url(world: dict[str, Any]) -> str:
    return reverse("users:bulk", args=[world["ours"].number])


def _bulk_apply(client: Client, url: str, preview: Any) -> Any:
    initial = preview.context["apply_form"].initial
    return client.post(url, {"apply": "1", "content": initial["content"], "token": initial["token"]})


@PARSER_PROPERTY
@given(content=hostile_texts(["email", "role"], BULK_ROWS))
def test_bulk_add_parser_explains_every_line_and_never_raises(content: str) -> None:
    for request in bulk_requests_parse(content):
        if not request.error:  # a line either explains itself or is a clean request
            assert email_normalise(request.email) == request.email, request
            assert request.role in Role, request
    form = BulkAddForm({"text": content})
    if not form.is_valid():
        assert form.errors


@PROPERTY
@given(content=hostile_inputs(hostile_texts(["email", "role"], BULK_ROWS)))
def test_bulk_add_any_file_is_refused_cleanly_or_applied_whole(world, content) -> None:
    client, url = world["asc"], _bulk_url(world)
    with rolled_back():
        before, other_before = snapshots(world)
        preview = client.post(url, {"preview": "1", **_paste_or_upload(content)})
        assert preview.status_code in (HTTPStatus.OK, HTTPStatus.BAD_REQUEST)
        assert snapshots(world) == (before, other_before), "a preview writes nothing"
        event(f"preview {preview.status_code}")
        if preview.status_code != HTTPStatus.OK:
            return
        plan = preview.context["plan"]
        applied = _bulk_apply(client, url, preview)
        event(f"apply {applied.status_code}")
        assert applied.status_code in (HTTPStatus.FOUND, HTTPStatus.BAD_REQUEST, HTTPStatus.FORBIDDEN)
        assert snapshot(world["other"]) == other_before
        after = snapshot(world["ours"])
        if applied.status_code != HTTPStatus.FOUND:
            assert after == before, "a refused bulk add writes nothing"
            return
        assert not any(line.blocking for line in plan)
        added = {(line.request.email, line.request.role.value) for line in plan if line.outcome == AddOutcome.ADD}
        invited = {(line.request.email, line.request.role.value) for line in plan if line.outcome == AddOutcome.INVITE}
        assert set(after["members"]) - set(before["members"]) == added
        assert {(email, role) for email, role, _c in after["invitations"]} - {
            (email, role) for email, role, _c in before["invitations"]
        } == invited


TABLE = settings(PROPERTY, max_examples=4)


@TABLE
@given(row=st.tuples(EMAILS | st.sampled_from(KNOWN), st.sampled_from(["administrator", "viewer"])).map(list))
def test_bulk_add_every_hostile_value_in_every_column_is_explained(world, row) -> None:
    body, _count = hostile_table(row)
    client, url = world["asc"], _bulk_url(world)
    with rolled_back():
        before, other_before = snapshots(world)
        preview = client.post(url, {"preview": "1", "text": body})
        assert preview.status_code == HTTPStatus.OK
        assert all(line.reason for line in preview.context["plan"] if line.blocking)
        assert _bulk_apply(client, url, preview).status_code in (HTTPStatus.BAD_REQUEST, HTTPStatus.FORBIDDEN)
        assert snapshots(world) == (before, other_before)


@st.composite
def bulk_files(draw: st.DrawFn) -> tuple[str, dict[str, Role]]:
    """A valid bulk add file in any of the accepted spellings, and what it asks for."""
    people = draw(
        st.lists(
            st.tuples(EMAILS | st.sampled_from(KNOWN), st.sampled_from(GRANTABLE_ROLES)),
            min_size=1,
            max_size=8,
        ).map(_unique_by(lambda person: person[0].lower()))
    )
    lines = ["email,role"] if draw(st.booleans()) else []
    for email, role in people:
        spelled = draw(st.sampled_from([email, email.upper(), f"  {email} "]))
        separator = draw(st.sampled_from([",", ";", "\t", " , "]))
        word = draw(st.sampled_from(BULK_ROLE_WORDS[role]))
        if separator.strip() == separator and draw(st.booleans()):
            lines.append(f'"{spelled}"{separator}"{word}"')
        else:
            lines.append(f"{spelled}{separator}{word}")
        if draw(st.integers(0, 4)) == 0:
            lines.append(draw(st.sampled_from(["", "   ", "# a comment, viewer"])))
    text = "".join(draw(LINE_ENDS) + line for line in lines).lstrip("\r\n\u2028")
    return text, {email.lower(): role for email, role in people}


@PROPERTY
@given(file=bulk_files(), upload=st.booleans())
def test_bulk_add_valid_lines_round_trip_and_a_second_apply_adds_nothing(world, file, upload) -> None:
    text, wanted = file
    client, url, known = world["asc"], _bulk_url(world), set(world["known"])
    ours = world["ours"]
    with rolled_back():
        before, other_before = snapshots(world)
        data = {"file": _upload(text.encode("utf-8-sig"))} if upload else {"text": text}
        preview = client.post(url, {"preview": "1", **data})
        assert preview.status_code == HTTPStatus.OK
        assert _bulk_apply(client, url, preview).status_code == HTTPStatus.FOUND
        # Known accounts are invited like anyone else: they join only by accepting (issue 12).
        assert known
        expected_members: set[tuple[str, str]] = set()
        expected_invites = {(email, role.value) for email, role in wanted.items()}
        after = snapshot(ours)
        assert set(after["members"]) - set(before["members"]) == expected_members
        assert len(after["members"]) == len(before["members"]) + len(expected_members)
        pending = set(Invitation.objects.pending().filter(customer=ours).values_list("email", "role"))
        assert pending == expected_invites
        assert snapshot(world["other"]) == other_before
        # The same apply once more (a double submit) and the same file again change nothing.
        assert _bulk_apply(client, url, preview).status_code == HTTPStatus.CONFLICT
        again = client.post(url, {"preview": "1", "text": text})
        assert {line.outcome for line in again.context["plan"]} <= {
            AddOutcome.ALREADY_MEMBER,
            AddOutcome.ALREADY_INVITED,
        }
        assert _bulk_apply(client, url, again).status_code == HTTPStatus.BAD_REQUEST
        assert snapshot(ours) == after


# --- 2. Entitlement import (support console) -----------------------------------------------------

_DATES = st.dates(datetime.date(2000, 1, 1), datetime.date(2100, 12, 31))
_ORDER_NUMBERS = st.text(alphabet=string.ascii_letters + string.digits + " -/._#=+@ÇŞİçşı", max_size=40).map(str.strip)


@st.composite
def entitlement_rows(draw: st.DrawFn, customer_number: str = "1001234") -> dict[str, Any]:
    start = draw(_DATES)
    return {
        "customer_number": customer_number,
        # 9-digit order part: never one of the factories' line ids.
        "line_id": f"{draw(st.integers(800_000_000, 899_999_999))}-{draw(st.integers(0, 99_999_999)):04d}",
        "order_number": draw(_ORDER_NUMBERS),
        "feature": draw(st.sampled_from(["prop_flex", "prop_sw", "prop_el"])),
        "quantity": draw(st.integers(1, 1_000_000)),
        "start_date": start,
        "end_date": draw(st.none() | st.dates(start, datetime.date(2100, 12, 31))),
        "tecs_end_date": draw(st.none() | _DATES),
        "borrowable": draw(st.booleans()),
    }


def _entitlement_cells(row: dict[str, Any], draw: st.DrawFn) -> dict[str, str]:
    yes, no = draw(st.sampled_from([("yes", "no"), ("1", "0"), ("TRUE", "false"), ("y", ""), ("x", "n")]))
    return {
        **{key: str(value) for key, value in row.items()},
        "quantity": draw(st.sampled_from(["{}", "{:03d}"])).format(row["quantity"]),
        "start_date": row["start_date"].isoformat(),
        "end_date": row["end_date"].isoformat() if row["end_date"] else draw(st.sampled_from(["", "perpetual", "-"])),
        "tecs_end_date": row["tecs_end_date"].isoformat() if row["tecs_end_date"] else "",
        "borrowable": yes if row["borrowable"] else no,
    }


@st.composite
def entitlement_files(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]]]:
    """A valid import file (columns in any order, header in any case) and its rows."""
    rows = draw(st.lists(entitlement_rows(), min_size=1, max_size=6).map(_unique_by(lambda row: row["line_id"])))
    columns = draw(st.permutations(IMPORT_COLUMNS))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow([draw(st.sampled_from([column, column.upper(), f" {column} "])) for column in columns])
    for row in rows:
        cells = _entitlement_cells(row, draw)
        writer.writerow([cells[column] for column in columns])
    return out.getvalue(), rows


ENTITLEMENT_ROWS = st.builds(
    lambda row, order: [
        row["customer_number"],
        row["line_id"],
        order,
        row["feature"],
        str(row["quantity"]),
        row["start_date"].isoformat(),
        "",
        "",
        "no",
    ],
    entitlement_rows() | entitlement_rows("9999999"),
    _ORDER_NUMBERS,
)


def _entitlement_state() -> list[tuple[Any, ...]]:
    return sorted(
        Entitlement.objects.values_list(
            "customer__number",
            "line_id",
            "order_number",
            "product__feature",
            "quantity",
            "start_date",
            "end_date",
            "tecs_end_date",
            "borrowable",
            "activated",
        )
    )


@PARSER_PROPERTY
@given(content=hostile_texts(list(IMPORT_COLUMNS), ENTITLEMENT_ROWS))
def test_entitlement_import_refuses_bad_files_whole(world, content) -> None:
    with rolled_back():
        before, audit = _entitlement_state(), AuditEvent.objects.filter(denied=False).count()
        try:
            plan = entitlement_import_plan(text=content)
        except PortalError:
            plan = None
        saved, refused = None, None
        try:
            saved = entitlement_import(actor=world["staff_user"], text=content)
        except PortalError as error:
            refused = error
        event("refused" if refused is not None else "imported")
        if refused is not None:
            assert refused.message
            assert plan is None or not all(line.ok for line in plan)
            assert _entitlement_state() == before, "a refused import writes nothing"
            assert AuditEvent.objects.filter(denied=False).count() == audit
        else:
            assert plan is not None
            assert all(line.ok for line in plan)
            assert len(saved) == len(plan)
        assert snapshot(world["other"])["entitlements"] == [row[1:-1] for row in before if row[0] == "2005678"]


@TABLE
@given(row=entitlement_rows())
def test_entitlement_import_explains_every_hostile_value_in_every_column(world, row) -> None:
    cells = [str(row[column] if row[column] is not None else "") for column in IMPORT_COLUMNS]
    body, count = hostile_table(cells, key=IMPORT_COLUMNS.index("line_id"))
    text = ",".join(IMPORT_COLUMNS) + "\n" + body
    with rolled_back():
        before = _entitlement_state()
        plan = entitlement_import_plan(text=text)
        assert len(plan) == count
        for line in plan:
            assert all(line.errors) if line.errors else line.data is not None
            if line.ok:  # an accepted value is taken as written
                assert (line.data.customer.number, line.data.line_id) == (
                    line.raw["customer_number"],
                    line.raw["line_id"],
                )
                assert line.data.quantity == int(line.raw["quantity"])
        with pytest.raises(PortalError, match="nothing was imported"):
            entitlement_import(actor=world["staff_user"], text=text)
        assert _entitlement_state() == before


@PROPERTY
@given(content=hostile_inputs(hostile_texts(list(IMPORT_COLUMNS), ENTITLEMENT_ROWS)))
def test_entitlement_import_page_never_fails(world, content) -> None:
    client, url = world["staff"], reverse("admin:entitlements_entitlement_import")
    with rolled_back():
        before, other_before = _entitlement_state(), snapshot(world["other"])
        preview = client.post(url, _paste_or_upload(content))
        assert preview.status_code == HTTPStatus.OK
        assert _entitlement_state() == before
        applied = client.post(url, {**_paste_or_upload(content), "apply": "1"})
        event(f"apply {applied.status_code}")
        assert applied.status_code in (HTTPStatus.OK, HTTPStatus.FOUND)
        if applied.status_code == HTTPStatus.OK:
            assert _entitlement_state() == before, "a refused import writes nothing"
        else:
            assert preview.context["plan_ok"]
        assert snapshot(world["other"]) == other_before


def _expected_entitlements(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(
        (
            row["line_id"],
            row["order_number"],
            row["feature"],
            row["quantity"],
            row["start_date"],
            row["end_date"],
            row["tecs_end_date"],
            row["borrowable"],
        )
        for row in rows
    )


def _entitlement_export_as_import(world: dict[str, Any]) -> str:
    """The customer's entitlements export, its columns renamed to the import's."""
    exported = _body(world["asc"].get(reverse("entitlements:export", args=[world["ours"].number])))
    _cells_safe(exported)
    columns = {
        "Line": "line_id",
        "Order": "order_number",
        "Feature": "feature",
        "Quantity": "quantity",
        "Start": "start_date",
        "End": "end_date",
        "TECS end": "tecs_end_date",
        "Borrowable": "borrowable",
    }
    rows = list(csv.DictReader(io.StringIO(exported.removeprefix("\ufeff"))))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["customer_number", *columns.values()])
    for row in rows:
        writer.writerow([world["ours"].number, *(csv_unsafe(row[name]) for name in columns)])
    return out.getvalue()


@PROPERTY
@given(file=entitlement_files(), upload=st.booleans())
def test_entitlement_import_round_trips_and_export_import_is_stable(world, file, upload) -> None:
    text, rows = file
    client, url, ours = world["staff"], reverse("admin:entitlements_entitlement_import"), world["ours"]
    with rolled_back():
        before, other_before = snapshots(world)
        data = {"file": _upload(text.encode("utf-8-sig"))} if upload else {"text": text}
        assert client.post(url, {**data, "apply": "1"}).status_code == HTTPStatus.FOUND
        imported = {row[0] for row in _expected_entitlements(rows)}
        after = snapshot(ours)
        assert [row for row in after["entitlements"] if row[0] in imported] == _expected_entitlements(rows)
        assert [row for row in after["entitlements"] if row[0] not in imported] == before["entitlements"]
        assert snapshot(world["other"]) == other_before
        # Importing the same file again updates the same lines to the same values: no new row.
        entitlement_import(actor=world["staff_user"], text=text)
        assert snapshot(ours)["entitlements"] == after["entitlements"]
        # The customer's export, fed back to the import, changes nothing.
        entitlement_import(actor=world["staff_user"], text=_entitlement_export_as_import(world))
        assert snapshot(ours)["entitlements"] == after["entitlements"]
        assert snapshot(world["other"]) == other_before


# --- 3. Shared Web user import (/c/<n>/settings/shared-web/users/import/) ----------------------

SHARED_WEB_ROWS = st.tuples(EMAILS | st.just("shared@example.org"), NAMES).map(list)


def _shared_web_url(world: dict[str, Any], name: str = "shared_web_users_import") -> str:
    return reverse(f"licensing_settings:{name}", args=[world["ours"].number])


@PARSER_PROPERTY
@given(content=hostile_texts(["email", "name"], SHARED_WEB_ROWS))
def test_shared_web_parser_explains_every_line_and_never_raises(content: str) -> None:
    for request in shared_web_import_parse(content):
        if not request.error:  # a line either explains itself or is a clean request
            assert shared_web_email_normalise(request.email) == request.email, request
            assert len(request.name) <= 150, request
            assert request.name == " ".join(request.name.split()), request
    form = SharedWebImportForm({"text": content})
    if not form.is_valid():
        assert form.errors


@PROPERTY
@given(content=hostile_inputs(hostile_texts(["email", "name"], SHARED_WEB_ROWS)))
def test_shared_web_import_any_file_is_refused_cleanly_or_applied_whole(world, content) -> None:
    client, url = world["asc"], _shared_web_url(world)
    with rolled_back():
        SharedWebUserFactory(customer=world["ours"], email="shared@example.org", name="Ours")
        before, other_before = snapshots(world)
        preview = client.post(url, {"preview": "1", **_paste_or_upload(content)})
        assert preview.status_code in (HTTPStatus.OK, HTTPStatus.BAD_REQUEST)
        assert snapshots(world) == (before, other_before), "a preview writes nothing"
        event(f"preview {preview.status_code}")
        if preview.status_code != HTTPStatus.OK:
            return
        plan, initial = preview.context["plan"], preview.context["apply_form"].initial
        applied = client.post(url, {"apply": "1", "content": initial["content"], "token": initial["token"]})
        event(f"apply {applied.status_code}")
        assert applied.status_code in (HTTPStatus.FOUND, HTTPStatus.BAD_REQUEST)
        assert snapshot(world["other"]) == other_before
        after = snapshot(world["ours"])
        if applied.status_code != HTTPStatus.FOUND:
            assert after == before, "a refused import writes nothing"
            return
        assert not any(line.blocking for line in plan)
        changed = {(line.request.email, line.request.name) for line in plan if line.applies}
        assert {(email, name) for email, name, _a in after["shared_web"]} - {
            (email, name) for email, name, _a in before["shared_web"]
        } == changed


@TABLE
@given(row=SHARED_WEB_ROWS)
def test_shared_web_import_explains_every_hostile_value_in_every_column(world, row) -> None:
    body, _count = hostile_table(row)
    client, url = world["asc"], _shared_web_url(world)
    with rolled_back():
        before, other_before = snapshots(world)
        preview = client.post(url, {"preview": "1", "text": body})
        assert preview.status_code == HTTPStatus.OK
        assert all(line.reason for line in preview.context["plan"] if line.blocking)
        initial = preview.context["apply_form"].initial
        applied = client.post(url, {"apply": "1", "content": initial["content"], "token": initial["token"]})
        assert applied.status_code == HTTPStatus.BAD_REQUEST
        assert snapshots(world) == (before, other_before)


@st.composite
def shared_web_files(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    people = draw(
        st.lists(st.tuples(EMAILS | st.just("shared@example.org"), NAMES), min_size=1, max_size=8).map(
            _unique_by(lambda person: person[0].lower())
        )
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    if draw(st.booleans()):
        writer.writerow(["email", "name"])
    for email, name in people:
        writer.writerow([draw(st.sampled_from([email, email.upper(), f" {email} "])), name])
    return out.getvalue(), {email.lower(): name for email, name in people}


@PROPERTY
@given(file=shared_web_files(), upload=st.booleans())
def test_shared_web_import_round_trips_and_export_import_is_stable(world, file, upload) -> None:
    text, wanted = file
    client, url, ours = world["asc"], _shared_web_url(world), world["ours"]

    def preview_and_apply(data: dict[str, Any]) -> tuple[Any, Any]:
        preview = client.post(url, {"preview": "1", **data})
        assert preview.status_code == HTTPStatus.OK
        initial = preview.context["apply_form"].initial
        return preview, client.post(url, {"apply": "1", "content": initial["content"], "token": initial["token"]})

    with rolled_back():
        other_before = snapshot(world["other"])
        data = {"file": _upload(text.encode("utf-8-sig"))} if upload else {"text": text}
        _preview, applied = preview_and_apply(data)
        assert applied.status_code == HTTPStatus.FOUND
        after = snapshot(ours)
        assert after["shared_web"] == sorted((email, name, True) for email, name in wanted.items())
        assert snapshot(world["other"]) == other_before
        # The same file again: every line unchanged, nothing to apply.
        again, refused = preview_and_apply({"text": text})
        assert {line.outcome for line in again.context["plan"]} == {ImportOutcome.UNCHANGED}
        assert refused.status_code == HTTPStatus.BAD_REQUEST
        # The users page's export, uploaded as it is, is the same list: nothing to apply either.
        exported = _body(client.get(_shared_web_url(world, "shared_web_users_export")))
        _cells_safe(exported)
        exported_rows = list(csv.reader(io.StringIO(exported.lstrip("\ufeff"))))
        assert exported_rows[0] == ["email", "name", "active", "groups"]
        assert sorted(row[:2] for row in exported_rows[1:]) == sorted(
            [csv_safe(email), csv_safe(name)] for email, name in wanted.items()
        )
        again, refused = preview_and_apply({"file": _upload(exported.encode("utf-8"))})
        assert {line.outcome for line in again.context["plan"]} == {ImportOutcome.UNCHANGED}
        assert refused.status_code == HTTPStatus.BAD_REQUEST
        assert snapshot(ours) == after
        assert snapshot(world["other"]) == other_before


# --- 4. Elastic usage import (support console) ---------------------------------------------------

_MOMENTS = st.datetimes(datetime.datetime(2020, 1, 1), datetime.datetime(2030, 12, 31)).map(
    lambda moment: moment.replace(microsecond=0)
)
_TRANSACTION_IDS = st.text(alphabet=string.ascii_letters + string.digits + "-_=+@/.:", min_size=1, max_size=64)
_USAGE_USERS = st.one_of(st.just(""), EMAILS, NAMES.map(lambda name: name[:254]))


@st.composite
def usage_rows(draw: st.DrawFn, customer_number: str = "1001234") -> dict[str, Any]:
    start = draw(_MOMENTS).replace(tzinfo=draw(st.sampled_from([ISTANBUL, datetime.UTC])))
    return {
        "customer_number": customer_number,
        "transaction_id": draw(_TRANSACTION_IDS),
        "started_at": start,
        "ended_at": start + datetime.timedelta(seconds=draw(st.integers(0, 3 * 86_400))),
        "feature": draw(st.sampled_from(["prop_el", "PROP_EL", "Prop_El"])),
        "count": draw(st.integers(1, 1_000_000)),
        "hours": draw(st.decimals(0, 999_999_999, places=3)),
        "cost": draw(st.decimals(0, 99_999_999_999, places=3)),
        "currency": draw(st.sampled_from(["", "AEU", "EUR", "units"])),
        "user": draw(_USAGE_USERS),
    }


def _moment_text(moment: datetime.datetime, draw: st.DrawFn) -> str:
    if moment.tzinfo is ISTANBUL and moment.second == 0 and draw(st.booleans()):
        return moment.strftime(draw(st.sampled_from(["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"])))
    return moment.isoformat()


def _usage_cells(row: dict[str, Any], draw: st.DrawFn) -> dict[str, str]:
    return {
        **{key: str(value) for key, value in row.items()},
        "started_at": _moment_text(row["started_at"], draw),
        "ended_at": _moment_text(row["ended_at"], draw),
    }


@st.composite
def usage_files(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]]]:
    rows = draw(st.lists(usage_rows(), min_size=1, max_size=6).map(_unique_by(lambda row: row["transaction_id"])))
    columns = draw(st.permutations(USAGE_COLUMNS))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(columns)
    for row in rows:
        cells = _usage_cells(row, draw)
        writer.writerow([cells[column] for column in columns])
    return out.getvalue(), rows


USAGE_ROWS = st.builds(
    lambda row: [
        row["customer_number"],
        row["transaction_id"],
        row["started_at"].isoformat(),
        row["ended_at"].isoformat(),
        row["feature"],
        str(row["count"]),
        str(row["hours"]),
        str(row["cost"]),
        row["currency"],
        row["user"],
    ],
    usage_rows() | usage_rows("9999999"),
)


def _expected_usage(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(
        (
            row["transaction_id"],
            row["started_at"],
            row["ended_at"],
            "prop_el",
            row["count"],
            row["hours"],
            row["cost"],
            row["currency"] or "AEU",
            row["user"],
        )
        for row in rows
    )


@PARSER_PROPERTY
@given(content=hostile_texts(list(USAGE_COLUMNS), USAGE_ROWS), dry_run=st.booleans())
def test_elastic_usage_import_stores_exactly_the_lines_it_reports(world, content, dry_run) -> None:
    with rolled_back():
        before, other_before = snapshots(world)
        result, refused = None, None
        try:
            result = elastic_usage_import(actor=world["staff_user"], text=content, dry_run=dry_run)
        except PortalError as error:
            refused = error
        if refused is not None:
            event(f"refused: {refused.message[:30]}")
            assert refused.message
            assert snapshots(world) == (before, other_before), "a refused file writes nothing"
            return
        imported = {line.transaction_id for line in result.lines if line.outcome == UsageOutcome.IMPORTED}
        event("some lines imported" if imported else "no line imported")
        assert not (dry_run and imported)
        stored = {row[0] for row in snapshot(world["ours"])["usage"]} - {row[0] for row in before["usage"]}
        assert stored == imported
        assert all(line.reason for line in result.lines if line.outcome == UsageOutcome.INVALID)
        assert snapshot(world["other"]) == other_before


@TABLE
@given(row=usage_rows())
def test_elastic_usage_import_explains_every_hostile_value_in_every_column(world, row) -> None:
    cells = [
        row[column].isoformat() if isinstance(row[column], datetime.datetime) else str(row[column])
        for column in USAGE_COLUMNS
    ]
    body, count = hostile_table(cells, key=USAGE_COLUMNS.index("transaction_id"))
    with rolled_back():
        before, other_before = snapshots(world)
        result = elastic_usage_import(actor=world["staff_user"], text=",".join(USAGE_COLUMNS) + "\n" + body)
        assert len(result.lines) == count
        assert all(line.reason for line in result.lines if line.outcome == UsageOutcome.INVALID)
        imported = {line.transaction_id for line in result.lines if line.outcome == UsageOutcome.IMPORTED}
        stored = {row[0] for row in snapshot(world["ours"])["usage"]} - {row[0] for row in before["usage"]}
        assert stored == imported
        assert snapshot(world["other"]) == other_before


@PROPERTY
@given(content=hostile_inputs(hostile_texts(list(USAGE_COLUMNS), USAGE_ROWS)), dry_run=st.booleans())
def test_elastic_usage_import_page_never_fails(world, content, dry_run) -> None:
    client, url = world["staff"], reverse("admin:entitlements_elasticusage_import")
    with rolled_back():
        before, other_before = snapshots(world)
        data = {"file": _upload(content)}
        if dry_run:
            data["dry_run"] = "on"
        response = client.post(url, data)
        assert response.status_code == HTTPStatus.OK
        result = response.context["result"]
        event("refused" if result is None else f"{result.count(UsageOutcome.IMPORTED)} imported")
        new = len(snapshot(world["ours"])["usage"]) - len(before["usage"])
        assert new == (result.count(UsageOutcome.IMPORTED) if result is not None else 0)
        assert not (dry_run and new)
        assert snapshot(world["other"]) == other_before


def _usage_export_as_import(world: dict[str, Any]) -> str:
    """The customer's usage export (every day), with the customer number the import needs."""
    url = reverse("licensing_settings:elastic_usage_export", args=[world["ours"].number])
    exported = _body(world["asc"].get(url, {"preset": "custom", "date_from": "2000-01-01", "date_to": "2999-12-31"}))
    _cells_safe(exported)
    out = io.StringIO()
    writer = csv.writer(out)
    for number, row in enumerate(csv.reader(io.StringIO(exported.lstrip("\ufeff")))):
        writer.writerow(["customer_number" if number == 0 else world["ours"].number, *map(csv_unsafe, row)])
    return out.getvalue()


@PROPERTY
@given(file=usage_files())
def test_elastic_usage_import_round_trips_is_idempotent_and_export_import_is_stable(world, file) -> None:
    text, rows = file
    staff, ours = world["staff_user"], world["ours"]
    with rolled_back():
        before, other_before = snapshots(world)
        checked = elastic_usage_import(actor=staff, text=text, dry_run=True)
        assert checked.count(UsageOutcome.WOULD_IMPORT) == len(rows)
        assert snapshots(world) == (before, other_before), "a check-only run writes nothing"
        result = elastic_usage_import(actor=staff, text=text)
        assert result.count(UsageOutcome.IMPORTED) == len(rows), [line.reason for line in result.lines]
        assert snapshot(ours)["usage"] == _expected_usage(rows)
        # Importing the same report again changes nothing.
        again = elastic_usage_import(actor=staff, text=text)
        assert again.count(UsageOutcome.ALREADY_IMPORTED) == len(rows)
        assert snapshot(ours)["usage"] == _expected_usage(rows)
        # The customer's export, given the customer number, is the same report.
        report = _usage_export_as_import(world)
        assert elastic_usage_import(actor=staff, text=report).count(UsageOutcome.ALREADY_IMPORTED) == len(rows)
        ElasticUsage.objects.filter(customer=ours).delete()
        assert elastic_usage_import(actor=staff, text=report).count(UsageOutcome.IMPORTED) == len(rows)
        assert snapshot(ours)["usage"] == _expected_usage(rows)
        assert snapshot(world["other"]) == other_before


# --- All importers: a NUL byte anywhere --------------------------------------------------------


def _nul_refused(world: dict[str, Any], importer: str, text: str) -> None:
    """PostgreSQL text cannot hold NUL: each importer refuses such a file whole, cleanly."""
    upload = _upload(text.encode("utf-8"))
    if importer in ("bulk_add", "shared_web"):
        url = _bulk_url(world) if importer == "bulk_add" else _shared_web_url(world)
        assert world["asc"].post(url, {"preview": "1", "file": upload}).status_code == HTTPStatus.BAD_REQUEST
    elif importer == "entitlements":
        url = reverse("admin:entitlements_entitlement_import")
        response = world["staff"].post(url, {"file": upload, "apply": "1"})
        assert response.status_code == HTTPStatus.OK
        assert response.context["form"].non_field_errors()
    else:  # the usage page refuses NUL in its form already; the service must too
        with pytest.raises(PortalError):
            elastic_usage_import(actor=world["staff_user"], text=text)


NUL_FILES = {
    "bulk_add": bulk_files(),
    "shared_web": shared_web_files(),
    "entitlements": entitlement_files(),
    "elastic_usage": usage_files(),
}


@pytest.mark.parametrize("importer", NUL_FILES)
@PROPERTY
@given(data=st.data())
def test_a_nul_anywhere_refuses_the_whole_file(world, importer, data) -> None:
    text, _rows = data.draw(NUL_FILES[importer], label="file")
    position = data.draw(st.integers(0, len(text)), label="position")
    with rolled_back():
        before = snapshots(world)
        _nul_refused(world, importer, text[:position] + "\x00" + text[position:])
        assert snapshots(world) == before
