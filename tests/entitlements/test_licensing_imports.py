"""CSV imports: Shared Web users (portal, preview then all-or-nothing apply) and Elastic
usage (support console, per-line results, de-duplicated, idempotent, 10,000 rows)."""

from __future__ import annotations

import datetime
import io
import time
from decimal import Decimal
from http import HTTPStatus

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, Customer, Notification
from accounts.roles import Role
from entitlements.licensing.forms import shared_web_import_parse
from entitlements.licensing.selectors import ImportOutcome, shared_web_import_digest, shared_web_import_plan
from entitlements.licensing.services import (
    ImportPlanChanged,
    UsageOutcome,
    elastic_usage_import,
    shared_web_user_import,
)
from entitlements.models import ElasticUsage, LicensingModel, SharedWebUser
from portal.errors import AccessDenied, PortalError
from tests.factories import (
    CustomerFactory,
    EntitlementFactory,
    MembershipFactory,
    ProductFactory,
    SharedWebUserFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def _sw_customer() -> tuple[Customer, object]:
    customer = CustomerFactory()
    product = ProductFactory(feature="sw_imp", licensing_model=LicensingModel.SHARED_WEB)
    EntitlementFactory(customer=customer, product=product)
    asc = MembershipFactory(customer=customer, role=Role.ASC).user
    return customer, asc


# --- Shared Web users -------------------------------------------------------------------

LINES = """email,name
new@example.org,New Person
known@example.org,Known Renamed
same@example.org,Same Name
NEW@example.org,Again
not-an-email,Broken
a,b,c

# a comment
bare@example.org
"""


def test_preview_reports_every_line() -> None:
    customer, _asc = _sw_customer()
    SharedWebUserFactory(customer=customer, email="known@example.org", name="Known")
    SharedWebUserFactory(customer=customer, email="same@example.org", name="Same Name")
    plan = shared_web_import_plan(customer=customer, requests=shared_web_import_parse(LINES))
    outcomes = [(line.request.number, line.outcome) for line in plan]
    assert outcomes == [
        (2, ImportOutcome.ADD),
        (3, ImportOutcome.UPDATE),
        (4, ImportOutcome.UNCHANGED),
        (5, ImportOutcome.DUPLICATE),
        (6, ImportOutcome.INVALID),
        (7, ImportOutcome.INVALID),
        (10, ImportOutcome.ADD),
    ]
    assert "line 2" in plan[3].reason


def test_import_with_invalid_lines_applies_nothing() -> None:
    customer, asc = _sw_customer()
    requests = shared_web_import_parse(LINES)
    plan = shared_web_import_plan(customer=customer, requests=requests)
    with pytest.raises(PortalError, match="invalid"):
        shared_web_user_import(
            customer=customer, actor=asc, requests=requests, expected_digest=shared_web_import_digest(plan)
        )
    assert not SharedWebUser.objects.filter(customer=customer).exists()


def test_import_applies_adds_and_updates_and_notifies_once(django_capture_on_commit_callbacks) -> None:
    customer, asc = _sw_customer()
    SharedWebUserFactory(customer=customer, email="known@example.org", name="Known")
    text = "new@example.org,New\nknown@example.org,Renamed\nknown@example.org,Renamed\nthird@example.org,"
    requests = shared_web_import_parse(text)
    plan = shared_web_import_plan(customer=customer, requests=requests)
    with django_capture_on_commit_callbacks(execute=True):
        shared_web_user_import(
            customer=customer, actor=asc, requests=requests, expected_digest=shared_web_import_digest(plan)
        )
    assert sorted(SharedWebUser.objects.filter(customer=customer).values_list("email", "name")) == [
        ("known@example.org", "Renamed"),
        ("new@example.org", "New"),
        ("third@example.org", ""),
    ]
    assert Notification.objects.filter(event="shared_web.user_import").count() == 1
    assert AuditEvent.objects.filter(customer=customer, action__startswith="shared_web.user_").count() == 3
    # Importing the same lines again: nothing to do.
    again = shared_web_import_plan(customer=customer, requests=requests)
    assert {line.outcome for line in again} == {ImportOutcome.UNCHANGED, ImportOutcome.DUPLICATE}


def test_import_refuses_a_stale_preview() -> None:
    customer, asc = _sw_customer()
    requests = shared_web_import_parse("late@example.org,Late")
    digest = shared_web_import_digest(shared_web_import_plan(customer=customer, requests=requests))
    SharedWebUserFactory(customer=customer, email="late@example.org", name="Someone")
    with pytest.raises(ImportPlanChanged):
        shared_web_user_import(customer=customer, actor=asc, requests=requests, expected_digest=digest)


def test_import_through_the_pages_upload_then_apply(client: Client) -> None:
    customer, asc = _sw_customer()
    client.force_login(asc)
    url = reverse("licensing_settings:shared_web_users_import", args=[customer.number])
    upload = SimpleUploadedFile("people.csv", "email,name\r\nup@example.org,Up Loaded\r\n".encode("utf-8-sig"))
    preview = client.post(url, {"file": upload, "preview": "1"})
    assert preview.status_code == HTTPStatus.OK
    assert "up@example.org" in preview.content.decode()
    apply_form = preview.context["apply_form"]
    response = client.post(
        url, {"apply": "1", "content": apply_form.initial["content"], "token": apply_form.initial["token"]}
    )
    assert response.status_code == HTTPStatus.FOUND
    assert SharedWebUser.objects.filter(customer=customer, email="up@example.org", name="Up Loaded").exists()


def test_a_forged_apply_is_refused(client: Client) -> None:
    customer, _asc = _sw_customer()
    client.force_login(MembershipFactory(customer=customer, role=Role.ADMINISTRATOR).user)
    url = reverse("licensing_settings:shared_web_users_import", args=[customer.number])
    response = client.post(url, {"apply": "1", "content": "x@example.org,X", "token": "forged"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not SharedWebUser.objects.exists()


# --- Elastic usage (support console) ----------------------------------------------------

HEADER = "customer_number,transaction_id,started_at,ended_at,feature,count,hours,cost,currency,user\n"


@pytest.fixture
def elastic_setup() -> tuple[Customer, object]:
    customer = CustomerFactory(number="3009012")
    ProductFactory(feature="el_cfd", name="CFD Elastic", licensing_model=LicensingModel.ELASTIC)
    ProductFactory(feature="flex_only", licensing_model=LicensingModel.FLEXNET)
    staff = UserFactory(is_staff=True, is_superuser=True)
    return customer, staff


def test_usage_import_validates_each_line(elastic_setup) -> None:
    customer, staff = elastic_setup
    text = (
        HEADER
        + "\n".join(
            [
                "3009012,T1,2026-11-01 08:00,2026-11-01 10:00,el_cfd,2,2,8.5,AEU,ann",
                "3009012,T2,2026-11-01 08:00,2026-11-01 07:00,el_cfd,1,1,1,AEU,",  # end before start
                "3009012,T3,2026-31-01 08:00,2026-11-01 10:00,el_cfd,1,1,1,AEU,",  # bad date
                "3009012,T4,2026-11-01 08:00,2026-11-01 10:00,nope,1,1,1,AEU,",  # unknown feature
                "3009012,T5,2026-11-01 08:00,2026-11-01 10:00,flex_only,1,1,1,AEU,",  # not Elastic
                "9999999,T6,2026-11-01 08:00,2026-11-01 10:00,el_cfd,1,1,1,AEU,",  # unknown customer
                "3009012,T7,2026-11-01 08:00,2026-11-01 10:00,el_cfd,x,1,1,AEU,",  # bad count
                "3009012,T8,2026-11-01 08:00,2026-11-01 10:00,el_cfd,1,-1,1,AEU,",  # negative hours
                "3009012,T9,2026-11-01 08:00,2026-11-01 10:00,el_cfd,1,1,abc,AEU,",  # bad cost
                "3009012,,2026-11-01 08:00,2026-11-01 10:00,el_cfd,1,1,1,AEU,",  # no transaction
                "3009012,T1,2026-11-01 08:00,2026-11-01 10:00,el_cfd,2,2,8.5,AEU,ann",  # duplicate in file
                "3009012,T10,2026-11-02,2026-11-02,el_cfd,1,0.5,1.25,,",
            ]
        )
        + "\n"
    )
    result = elastic_usage_import(actor=staff, text=text)
    outcomes = {line.number: line.outcome for line in result.lines}
    assert outcomes == {
        2: UsageOutcome.IMPORTED,
        3: UsageOutcome.INVALID,
        4: UsageOutcome.INVALID,
        5: UsageOutcome.INVALID,
        6: UsageOutcome.INVALID,
        7: UsageOutcome.INVALID,
        8: UsageOutcome.INVALID,
        9: UsageOutcome.INVALID,
        10: UsageOutcome.INVALID,
        11: UsageOutcome.INVALID,
        12: UsageOutcome.DUPLICATE,
        13: UsageOutcome.IMPORTED,
    }
    reasons = {line.number: line.reason for line in result.lines}
    assert "before the start" in reasons[3]
    assert "Unknown product feature nope" in reasons[5]
    assert "not an Elastic product" in reasons[6]
    assert "Unknown customer number 9999999" in reasons[7]
    assert "line 2" in reasons[12]
    t10 = ElasticUsage.objects.get(customer=customer, transaction_id="T10")
    assert (t10.currency, t10.cost, t10.hours) == ("AEU", Decimal("1.250"), Decimal("0.500"))
    assert ElasticUsage.objects.count() == 2
    assert AuditEvent.objects.filter(customer=customer, action="elastic.usage_imported").count() == 1


def test_usage_import_needs_the_columns_and_staff(elastic_setup) -> None:
    customer, staff = elastic_setup
    with pytest.raises(PortalError, match="lacks the column"):
        elastic_usage_import(actor=staff, text="customer_number,transaction_id\n3009012,T1\n")
    with pytest.raises(AccessDenied):
        elastic_usage_import(actor=MembershipFactory(customer=customer, role=Role.ASC).user, text=HEADER)


def _big_report(number: str, rows: int) -> str:
    out = io.StringIO()
    out.write(HEADER)
    start = datetime.datetime(2026, 1, 1, 8)
    for i in range(rows):
        moment = start + datetime.timedelta(minutes=37 * i)
        out.write(
            f"{number},TX{i:06d},{moment:%Y-%m-%d %H:%M},{moment + datetime.timedelta(hours=1):%Y-%m-%d %H:%M},"
            f"el_cfd,1,1,{(i % 7) + 0.5},AEU,user{i % 13}@example.org\n"
        )
    return out.getvalue()


def test_ten_thousand_usage_rows_import_quickly_and_reimport_is_idempotent(
    elastic_setup, django_assert_max_num_queries
) -> None:
    customer, staff = elastic_setup
    text = _big_report(customer.number, 10_000)
    started = time.monotonic()
    with django_assert_max_num_queries(60):
        result = elastic_usage_import(actor=staff, text=text)
    assert time.monotonic() - started < 30
    assert result.count(UsageOutcome.IMPORTED) == 10_000
    assert ElasticUsage.objects.filter(customer=customer).count() == 10_000
    again = elastic_usage_import(actor=staff, text=text)
    assert again.count(UsageOutcome.ALREADY_IMPORTED) == 10_000
    assert again.count(UsageOutcome.IMPORTED) == 0
    assert ElasticUsage.objects.filter(customer=customer).count() == 10_000


def test_dry_run_imports_nothing(elastic_setup) -> None:
    customer, staff = elastic_setup
    result = elastic_usage_import(actor=staff, text=_big_report(customer.number, 5), dry_run=True)
    assert result.count(UsageOutcome.WOULD_IMPORT) == 5
    assert not ElasticUsage.objects.exists()


def test_admin_usage_import_page(elastic_setup, client: Client) -> None:
    customer, staff = elastic_setup
    client.force_login(staff)
    url = reverse("admin:entitlements_elasticusage_import")
    assert client.get(url).status_code == HTTPStatus.OK
    report = _big_report(customer.number, 3) + "3009012,BAD,yesterday,today,el_cfd,1,1,1,AEU,\n"
    response = client.post(url, {"file": SimpleUploadedFile("usage.csv", report.encode())})
    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    assert "Dates must look like" in page
    assert ElasticUsage.objects.count() == 3
    response = client.post(url, {"file": SimpleUploadedFile("usage.csv", report.encode())})
    assert "already imported" in response.content.decode()
    assert ElasticUsage.objects.count() == 3
