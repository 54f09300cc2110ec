"""The Shared Web and Elastic settings pages and actions, for every role, own customer and
another customer; and the secrecy of the Elastic PIN.

Expected outcomes come from ROLE_PERMISSIONS: a role may change the settings exactly when
its permissions include MANAGE_LICENSING_SETTINGS, and reads need VIEW.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from http import HTTPStatus
from typing import Any

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Customer, Notification
from accounts.roles import ROLE_PERMISSIONS, Permission, Role
from entitlements.licensing.services import elastic_pin_regenerate
from entitlements.models import (
    ElasticAccount,
    ElasticUsage,
    Entitlement,
    LicensingModel,
    SeatAssignment,
    SharedWebGroup,
    SharedWebUser,
)
from tests.factories import (
    CustomerFactory,
    ElasticAccountFactory,
    ElasticUsageFactory,
    EntitlementFactory,
    MembershipFactory,
    ProductFactory,
    SharedWebGroupFactory,
    SharedWebUserFactory,
)

pytestmark = pytest.mark.django_db

PIN = "PIN7XK4QZ9MW"  # distinctive, so a leak anywhere is found by a substring search


def licensed_customer(*, shared_web: bool = True, elastic: bool = True) -> Customer:
    """A customer with a Shared Web line (10 seats), an Elastic pool (1000 units), an
    Elastic account with a known PIN, one Shared Web user and one group."""
    customer = CustomerFactory()
    if shared_web:
        product = ProductFactory(feature="sw_mech", name="Mechanical SW", licensing_model=LicensingModel.SHARED_WEB)
        EntitlementFactory(customer=customer, product=product, quantity=10)
        SharedWebUserFactory(customer=customer, email=f"sw-{customer.number}@example.org", name="Sam")
        SharedWebGroupFactory(customer=customer, name="Team")
    if elastic:
        product = ProductFactory(feature="el_mech", name="Mechanical Elastic", licensing_model=LicensingModel.ELASTIC)
        EntitlementFactory(customer=customer, product=product, quantity=1000)
        # The first customer's account has PIN; another customer's a different one.
        pin = "OTHERPIN0000" if ElasticAccount.objects.filter(pin=PIN).exists() else PIN
        ElasticAccountFactory(customer=customer, pin=pin, alert_thresholds=[50, 80, 100])
        now = timezone.now()
        ElasticUsageFactory(
            customer=customer,
            transaction_id="T1",
            started_at=now,
            ended_at=now,
            product=product,
            count=1,
            hours=Decimal("1.5"),
            cost=Decimal("12.5"),
            user="=cmd|' /C calc'!A0",
        )
    return customer


def _sw_user(c: Customer) -> SharedWebUser:
    return SharedWebUser.objects.filter(customer=c).first()


def _group(c: Customer) -> SharedWebGroup:
    return SharedWebGroup.objects.filter(customer=c).first()


def _sw_line(c: Customer) -> Entitlement:
    return Entitlement.objects.get(customer=c, product__licensing_model=LicensingModel.SHARED_WEB)


def _account(c: Customer) -> ElasticAccount:
    return ElasticAccount.objects.get(customer=c)


@dataclass(frozen=True)
class Action:
    name: str
    url_name: str
    setup: Callable[[Customer], Any]
    data: Callable[[Customer, Any], dict[str, Any]]
    done: Callable[[Customer, Any], bool]
    success_status: int = HTTPStatus.FOUND
    needs: Permission = Permission.MANAGE_LICENSING_SETTINGS

    def url(self, customer: Customer, target: Any) -> str:
        kwargs: dict[str, Any] = {"customer_number": customer.number}
        if target is not None and hasattr(target, "pk") and not isinstance(target, ElasticAccount):
            kwargs["pk"] = target.pk
        return reverse(f"licensing_settings:{self.url_name}", kwargs=kwargs)


ACTIONS = [
    Action(
        "user_add",
        "shared_web_user_add",
        lambda c: None,
        lambda c, t: {"email": "new@example.org", "name": "New"},
        lambda c, t: SharedWebUser.objects.filter(customer=c, email="new@example.org").exists(),
    ),
    Action(
        "user_edit",
        "shared_web_user_edit",
        _sw_user,
        lambda c, t: {"email": t.email, "name": "Renamed"},
        lambda c, t: SharedWebUser.objects.get(pk=t.pk).name == "Renamed",
    ),
    Action(
        "user_deactivate",
        "shared_web_user_active",
        _sw_user,
        lambda c, t: {"active": "0"},
        lambda c, t: not SharedWebUser.objects.get(pk=t.pk).active,
    ),
    Action(
        "user_remove",
        "shared_web_user_remove",
        _sw_user,
        lambda c, t: {},
        lambda c, t: not SharedWebUser.objects.filter(pk=t.pk).exists(),
    ),
    Action(
        "import_preview",
        "shared_web_users_import",
        lambda c: None,
        lambda c, t: {"text": "imp@example.org,Imp", "preview": "1"},
        # A preview changes nothing; success is the preview page itself.
        lambda c, t: not SharedWebUser.objects.filter(email="imp@example.org").exists(),
        success_status=HTTPStatus.OK,
    ),
    Action(
        "group_create",
        "shared_web_group_create",
        lambda c: None,
        lambda c, t: {"name": "Crew"},
        lambda c, t: SharedWebGroup.objects.filter(customer=c, name="Crew").exists(),
    ),
    Action(
        "group_rename",
        "shared_web_group_rename",
        _group,
        lambda c, t: {"name": "Renamed team"},
        lambda c, t: SharedWebGroup.objects.get(pk=t.pk).name == "Renamed team",
    ),
    Action(
        "group_delete",
        "shared_web_group_delete",
        _group,
        lambda c, t: {},
        lambda c, t: not SharedWebGroup.objects.filter(pk=t.pk).exists(),
    ),
    Action(
        "group_members",
        "shared_web_group_members",
        _group,
        lambda c, t: {"members": [SharedWebUser.objects.filter(customer=t.customer).first().pk]},
        lambda c, t: SharedWebGroup.objects.get(pk=t.pk).members.exists(),
    ),
    Action(
        "group_seats",
        "shared_web_group_seats",
        _group,
        lambda c, t: {"entitlement": _sw_line(t.customer).pk, "seats": "3"},
        lambda c, t: SeatAssignment.objects.filter(group_id=t.pk, seats=3).exists(),
    ),
    Action(
        "pin_regenerate",
        "elastic_pin_regenerate",
        _account,
        lambda c, t: {},
        lambda c, t: ElasticAccount.objects.get(pk=t.pk).pin != t.pin,
    ),
    Action(
        "budget",
        "elastic_budget",
        _account,
        lambda c, t: {"monthly_budget_units": "500", "alert_thresholds": "80, 50", "alert_recipients": "f@x.org"},
        lambda c, t: ElasticAccount.objects.get(pk=t.pk).monthly_budget_units == 500,
    ),
]

PAGES = [
    # (url name, needs, takes a Shared Web user / group pk)
    ("index", Permission.VIEW, None),
    ("shared_web_users", Permission.VIEW, None),
    ("shared_web_user_edit", Permission.MANAGE_LICENSING_SETTINGS, _sw_user),
    ("shared_web_users_import", Permission.MANAGE_LICENSING_SETTINGS, None),
    ("shared_web_users_export", Permission.VIEW, None),
    ("shared_web_groups", Permission.VIEW, None),
    ("shared_web_group", Permission.VIEW, _group),
    ("shared_web_access", Permission.VIEW, None),
    ("elastic", Permission.VIEW, None),
    ("elastic_pin_export", Permission.MANAGE_LICENSING_SETTINGS, None),
    ("elastic_usage", Permission.VIEW, None),
    ("elastic_usage_export", Permission.VIEW, None),
]


def _page_url(name: str, customer: Customer, target: Any) -> str:
    kwargs: dict[str, Any] = {"customer_number": customer.number}
    if target is not None:
        kwargs["pk"] = target.pk
    return reverse(f"licensing_settings:{name}", kwargs=kwargs)


def _body(response: Any) -> str:
    if hasattr(response, "streaming_content"):
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def test_every_settings_route_is_in_this_matrix() -> None:
    from entitlements.licensing import urls as settings_urls

    covered = {action.url_name for action in ACTIONS} | {name for name, _needs, _t in PAGES}
    assert {pattern.name for pattern in settings_urls.urlpatterns} == covered


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(("name", "needs", "target"), PAGES, ids=[p[0] for p in PAGES])
def test_page_on_own_customer_follows_the_matrix(name, needs, target, role, member_client) -> None:
    customer = licensed_customer()
    client = member_client(role=role, customer=customer)
    response = client.get(_page_url(name, customer, target(customer) if target else None))
    if needs in ROLE_PERMISSIONS[role]:
        assert response.status_code == HTTPStatus.OK
    else:
        assert response.status_code == HTTPStatus.FORBIDDEN
        assert AuditEvent.objects.filter(customer=customer, actor=client.user, denied=True).count() == 1


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(("name", "needs", "target"), PAGES, ids=[p[0] for p in PAGES])
def test_page_of_another_customer_is_404(name, needs, target, role, member_client) -> None:
    mine, theirs = licensed_customer(), licensed_customer()
    client = member_client(role=role, customer=mine)
    their_target = target(theirs) if target else None
    assert client.get(_page_url(name, theirs, their_target)).status_code == HTTPStatus.NOT_FOUND
    if their_target is not None:
        # Their object through my customer's URL: looked up by customer, so 404 (or 403 first).
        expected = {HTTPStatus.NOT_FOUND} if needs in ROLE_PERMISSIONS[role] else {HTTPStatus.FORBIDDEN}
        assert client.get(_page_url(name, mine, their_target)).status_code in expected


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
def test_action_on_own_customer_follows_the_matrix(action, role, member_client) -> None:
    customer = licensed_customer()
    client = member_client(role=role, customer=customer)
    target = action.setup(customer)
    response = client.post(action.url(customer, target), action.data(customer, target))
    if action.needs in ROLE_PERMISSIONS[role]:
        assert response.status_code == action.success_status, response.content[:500]
        assert action.done(customer, target)
        assert not AuditEvent.objects.filter(actor=client.user, denied=True).exists()
    else:
        # A forged POST: refused, audited, nothing changed, nobody notified.
        assert response.status_code == HTTPStatus.FORBIDDEN
        if action.name != "import_preview":
            assert not action.done(customer, target)
        assert AuditEvent.objects.filter(customer=customer, actor=client.user, denied=True).count() == 1
        assert not Notification.objects.exists()


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
def test_action_on_another_customer_is_404(action, role, member_client) -> None:
    mine, theirs = licensed_customer(), licensed_customer()
    client = member_client(role=role, customer=mine)
    target = action.setup(theirs)
    response = client.post(action.url(theirs, target), action.data(theirs, target))
    assert response.status_code == HTTPStatus.NOT_FOUND
    if target is not None and not isinstance(target, ElasticAccount):
        response = client.post(action.url(mine, target), action.data(theirs, target))
        expected = {HTTPStatus.NOT_FOUND} if action.needs in ROLE_PERMISSIONS[role] else {HTTPStatus.FORBIDDEN}
        assert response.status_code in expected
    if action.name != "import_preview":
        assert not action.done(theirs, target)


def test_seats_of_another_customers_line_are_refused(member_client) -> None:
    mine, theirs = licensed_customer(), licensed_customer()
    client = member_client(role=Role.ASC, customer=mine)
    response = client.post(
        reverse("licensing_settings:shared_web_group_seats", args=[mine.number, _group(mine).pk]),
        {"entitlement": _sw_line(theirs).pk, "seats": "1"},
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not SeatAssignment.objects.exists()


def test_members_of_another_customer_are_refused(member_client) -> None:
    mine, theirs = licensed_customer(), licensed_customer()
    client = member_client(role=Role.ASC, customer=mine)
    response = client.post(
        reverse("licensing_settings:shared_web_group_members", args=[mine.number, _group(mine).pk]),
        {"members": [_sw_user(theirs).pk]},
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not _group(mine).members.exists()


# --- Sections ---------------------------------------------------------------------------


def test_settings_page_shows_only_the_sections_the_customer_owns(member_client) -> None:
    only_sw = licensed_customer(elastic=False)
    client = member_client(role=Role.ASC, customer=only_sw)
    page = client.get(reverse("licensing_settings:index", args=[only_sw.number])).content.decode()
    assert 'id="shared-web-title"' in page
    assert 'id="elastic-title"' not in page
    response = client.get(reverse("licensing_settings:elastic", args=[only_sw.number]))
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "owns no Elastic entitlements" in response.content.decode()


def test_settings_page_without_either_model_explains_it(member_client) -> None:
    customer = licensed_customer(shared_web=False, elastic=False)
    client = member_client(role=Role.ASC, customer=customer)
    page = client.get(reverse("licensing_settings:index", args=[customer.number])).content.decode()
    assert "Nothing to set up" in page
    assert 'id="shared-web-title"' not in page
    assert 'id="elastic-title"' not in page


def test_management_controls_only_for_managers(member_client) -> None:
    customer = licensed_customer()
    url = reverse("licensing_settings:shared_web_users", args=[customer.number])
    add = reverse("licensing_settings:shared_web_user_add", args=[customer.number])
    viewer_page = member_client(role=Role.VIEWER, customer=customer).get(url).content.decode()
    admin_page = member_client(role=Role.ADMINISTRATOR, customer=customer).get(url).content.decode()
    assert add not in viewer_page
    assert add in admin_page


def test_pages_have_no_inline_styles_or_scripts(member_client) -> None:
    customer = licensed_customer()
    client = member_client(role=Role.ASC, customer=customer)
    for name, _needs, target in PAGES:
        if name.endswith("export"):
            continue
        page = _body(client.get(_page_url(name, customer, target(customer) if target else None)))
        assert "style=" not in page, name
        assert "<script>" not in page, name
        assert "onclick" not in page, name


# --- The PIN ----------------------------------------------------------------------------


def _all_viewer_reachable(client: Any, customer: Customer) -> list[str]:
    bodies = []
    for name, _needs, target in PAGES:
        response = client.get(_page_url(name, customer, target(customer) if target else None))
        bodies.append(_body(response))
    return bodies


def test_pin_shown_and_exported_only_to_managers(member_client) -> None:
    customer = licensed_customer()
    for role in Role:
        client = member_client(role=role, customer=customer)
        page = client.get(reverse("licensing_settings:elastic", args=[customer.number])).content.decode()
        export = client.get(reverse("licensing_settings:elastic_pin_export", args=[customer.number]))
        if Permission.MANAGE_LICENSING_SETTINGS in ROLE_PERMISSIONS[role]:
            assert PIN in page
            assert export.status_code == HTTPStatus.OK
            assert json.loads(export.content) == {"license_server_id": f"ELS-{customer.number}", "pin": PIN}
            assert export["Content-Disposition"].startswith("attachment")
        else:
            assert PIN not in page
            assert "hidden" in page
            assert export.status_code == HTTPStatus.FORBIDDEN
            assert PIN not in export.content.decode()


def test_pin_never_reaches_a_viewer(member_client) -> None:
    customer = licensed_customer()
    client = member_client(role=Role.VIEWER, customer=customer)
    for body in _all_viewer_reachable(client, customer):
        assert PIN not in body


def _assert_pin_in_no_email(pin: str) -> None:
    for message in mail.outbox:
        assert pin not in message.subject
        assert pin not in message.body
        assert all(pin not in str(content) for content, _mime in getattr(message, "alternatives", []))


def _assert_pin_in_no_notification_or_audit_event(pin: str) -> None:
    for notification in Notification.objects.all():
        assert pin not in notification.subject + notification.body_text + notification.body_html
    for event in AuditEvent.objects.all():
        assert pin not in event.target
        assert pin not in json.dumps(event.details)


def test_pin_never_in_emails_notifications_or_audit(member_client, django_capture_on_commit_callbacks) -> None:
    customer = licensed_customer()
    MembershipFactory(customer=customer, role=Role.ASC)
    client = member_client(role=Role.ADMINISTRATOR, customer=customer)
    account = _account(customer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("licensing_settings:elastic_pin_regenerate", args=[customer.number]))
    assert response.status_code == HTTPStatus.FOUND
    new_pin = ElasticAccount.objects.get(pk=account.pk).pin
    assert new_pin != PIN
    assert len(new_pin) >= 8
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("licensing_settings:elastic_budget", args=[customer.number]),
            {"monthly_budget_units": "100", "alert_thresholds": "50", "alert_recipients": ""},
        )
    assert mail.outbox, "the ASC is notified of the new PIN (without it)"
    for pin in (PIN, new_pin):
        _assert_pin_in_no_email(pin)
        _assert_pin_in_no_notification_or_audit_event(pin)
    assert AuditEvent.objects.filter(customer=customer, action="elastic.pin_regenerated").exists()


def test_pin_regenerate_by_service_uses_a_fresh_random_pin(member_client) -> None:
    customer = licensed_customer()
    client = member_client(role=Role.ASC, customer=customer)
    pins = {elastic_pin_regenerate(account=_account(customer), actor=client.user).pin for _ in range(5)}
    assert len(pins) == 5


# --- Exports and the usage page ---------------------------------------------------------


def test_csv_exports_are_formula_safe(member_client) -> None:
    customer = licensed_customer()
    SharedWebUserFactory(customer=customer, email="evil@example.org", name='=HYPERLINK("x")')
    client = member_client(role=Role.VIEWER, customer=customer)
    users = _body(client.get(reverse("licensing_settings:shared_web_users_export", args=[customer.number])))
    assert "'=HYPERLINK" in users
    usage = _body(client.get(reverse("licensing_settings:elastic_usage_export", args=[customer.number])))
    assert "'=cmd" in usage
    assert "T1" in usage


@pytest.mark.parametrize("preset", ["last5days", "ytd", "last12months"])
def test_usage_presets(preset, member_client) -> None:
    customer = licensed_customer()
    client = member_client(role=Role.VIEWER, customer=customer)
    response = client.get(reverse("licensing_settings:elastic_usage", args=[customer.number]), {"preset": preset})
    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    assert "<svg" in page
    assert "<title" in page
    assert "<desc" in page
    assert "12.5" in page


@pytest.mark.parametrize(
    "query",
    [
        {"preset": "custom", "date_from": "2026-13-01", "date_to": "2026-01-01"},
        {"preset": "custom", "date_from": "2026-02-01", "date_to": "2026-01-01"},
        {"preset": "custom", "date_from": "", "date_to": ""},
        {"preset": "custom", "date_from": "1999-01-01", "date_to": "2026-01-01"},
        {"preset": "bogus"},
    ],
)
def test_bad_usage_ranges_are_form_errors(query, member_client) -> None:
    customer = licensed_customer()
    client = member_client(role=Role.VIEWER, customer=customer)
    response = client.get(reverse("licensing_settings:elastic_usage", args=[customer.number]), query)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert 'class="field-errors"' in response.content.decode()
    export = client.get(reverse("licensing_settings:elastic_usage_export", args=[customer.number]), query)
    assert export.status_code == HTTPStatus.BAD_REQUEST


def test_usage_custom_range_filters_and_paginates(member_client) -> None:
    customer = licensed_customer()
    product = ElasticUsage.objects.get(customer=customer).product
    start = timezone.make_aware(datetime.datetime(2026, 3, 1, 9))
    ElasticUsage.objects.bulk_create(
        ElasticUsage(
            customer=customer,
            transaction_id=f"R{i}",
            started_at=start + datetime.timedelta(hours=i),
            ended_at=start + datetime.timedelta(hours=i + 1),
            product=product,
            count=1,
            hours=Decimal(1),
            cost=Decimal(1),
        )
        for i in range(120)
    )
    client = member_client(role=Role.VIEWER, customer=customer)
    url = reverse("licensing_settings:elastic_usage", args=[customer.number])
    query = {"preset": "custom", "date_from": "2026-03-01", "date_to": "2026-03-31"}
    first = client.get(url, query)
    assert first.context["page_obj"].paginator.count == 120
    assert len(first.context["page_obj"].object_list) == 50
    third = client.get(url, {**query, "page": 3})
    assert len(third.context["page_obj"].object_list) == 20
    export = _body(client.get(reverse("licensing_settings:elastic_usage_export", args=[customer.number]), query))
    assert export.count("\n") == 121  # header + every filtered row, not one page


@pytest.mark.parametrize("size", [3, 30])
def test_list_pages_keep_a_constant_query_count(size, member_client, django_assert_max_num_queries) -> None:
    customer = licensed_customer()
    group = _group(customer)
    users = SharedWebUser.objects.bulk_create(
        SharedWebUser(customer=customer, email=f"u{i}@example.org") for i in range(size)
    )
    group.members.add(*users)
    client = member_client(role=Role.ASC, customer=customer)
    for name in ("shared_web_users", "shared_web_groups", "shared_web_access", "elastic_usage", "index"):
        with django_assert_max_num_queries(20):
            assert client.get(reverse(f"licensing_settings:{name}", args=[customer.number])).status_code == 200
