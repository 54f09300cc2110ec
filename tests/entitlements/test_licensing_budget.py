"""Elastic budget: validation, threshold alerts (each crossing once per month), the
periodic task, the forecast, the chart and the demo data."""

from __future__ import annotations

import datetime
import threading
from decimal import Decimal

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection, connections
from django.utils import timezone

from accounts.models import AuditEvent, Customer, Notification
from accounts.roles import Role
from entitlements.licensing.charts import elastic_usage_chart
from entitlements.licensing.selectors import Granularity, elastic_summary
from entitlements.licensing.services import budget_alert_check, elastic_budget_update
from entitlements.licensing.tasks import elastic_budget_alerts_check
from entitlements.models import BudgetAlert, ElasticAccount, ElasticUsage, LicensingModel, Product
from portal.errors import PortalError
from tests.factories import (
    CustomerFactory,
    ElasticAccountFactory,
    ElasticUsageFactory,
    EntitlementFactory,
    MembershipFactory,
    ProductFactory,
)

TODAY = datetime.date(2026, 11, 20)


def _setup(*, budget: int = 100, recipients: list[str] | None = None) -> tuple[Customer, ElasticAccount, Product]:
    customer = CustomerFactory()
    product = ProductFactory(feature="el_budget", name="Elastic Mech", licensing_model=LicensingModel.ELASTIC)
    EntitlementFactory(
        customer=customer,
        product=product,
        quantity=1000,
        start_date=datetime.date(2026, 1, 1),
        end_date=datetime.date(2027, 12, 31),
    )
    MembershipFactory(customer=customer, role=Role.ASC, user__email=f"asc-{customer.number}@example.org")
    MembershipFactory(customer=customer, role=Role.VIEWER)
    account = ElasticAccountFactory(
        customer=customer,
        pin="SECRETPIN123",
        monthly_budget_units=budget,
        alert_thresholds=[50, 80, 100],
        alert_recipients=recipients or [],
    )
    return customer, account, product


def _spend(customer: Customer, product: Product, cost: str, day: datetime.date, tid: str) -> None:
    moment = timezone.make_aware(datetime.datetime.combine(day, datetime.time(10)))
    ElasticUsageFactory(
        customer=customer,
        transaction_id=tid,
        started_at=moment,
        ended_at=moment,
        product=product,
        count=1,
        hours=Decimal(1),
        cost=Decimal(cost),
    )


def _alerts() -> list[Notification]:
    return list(Notification.objects.filter(event="elastic.budget_alert"))


@pytest.mark.django_db
def test_below_threshold_nothing_is_sent() -> None:
    customer, account, product = _setup()
    _spend(customer, product, "49.9", TODAY, "a")
    assert budget_alert_check(account=account, today=TODAY) == []
    assert not _alerts()
    assert not BudgetAlert.objects.exists()


def _check(django_capture_on_commit_callbacks, account, today: datetime.date) -> list[int]:
    """The budget check as the task runs it, its emails sent on commit."""
    with django_capture_on_commit_callbacks(execute=True):
        return budget_alert_check(account=account, today=today)


def _assert_80_and_100_crossed_in_one_email_each(django_capture_on_commit_callbacks, customer, account, product):
    """More consumption crosses 80 and 100 in one go: one email per recipient naming both."""
    _spend(customer, product, "50", TODAY, "b")
    assert _check(django_capture_on_commit_callbacks, account, TODAY) == [80, 100]
    assert len(mail.outbox) == 4
    assert "100 %" in mail.outbox[-1].subject
    assert sorted(BudgetAlert.objects.values_list("threshold", flat=True)) == [50, 80, 100]


@pytest.mark.django_db
def test_each_crossing_is_emailed_once_per_month(django_capture_on_commit_callbacks) -> None:
    customer, account, product = _setup(recipients=["finance@example.org"])
    _spend(customer, product, "55", TODAY, "a")
    assert _check(django_capture_on_commit_callbacks, account, TODAY) == [50]
    recipients = sorted(n.recipients[0] for n in _alerts())
    assert recipients == sorted([f"asc-{customer.number}@example.org", "finance@example.org"])
    assert len(mail.outbox) == 2
    assert "50 %" in mail.outbox[0].subject
    # The task runs again: nothing new.
    assert _check(django_capture_on_commit_callbacks, account, TODAY) == []
    assert len(mail.outbox) == 2
    _assert_80_and_100_crossed_in_one_email_each(django_capture_on_commit_callbacks, customer, account, product)
    assert _check(django_capture_on_commit_callbacks, account, TODAY + datetime.timedelta(days=1)) == []
    assert len(mail.outbox) == 4
    assert not [message for message in mail.outbox if "SECRETPIN123" in message.body]
    assert AuditEvent.objects.filter(customer=customer, action="elastic.budget_alert_sent").count() == 2


@pytest.mark.django_db
def test_a_new_month_alerts_again() -> None:
    customer, account, product = _setup()
    _spend(customer, product, "60", TODAY, "a")
    assert budget_alert_check(account=account, today=TODAY) == [50]
    december = datetime.date(2026, 12, 3)
    assert budget_alert_check(account=account, today=december) == []  # December has no usage yet
    _spend(customer, product, "51", december, "b")
    assert budget_alert_check(account=account, today=december) == [50]
    assert BudgetAlert.objects.filter(month=datetime.date(2026, 12, 1), threshold=50).exists()


@pytest.mark.django_db
def test_no_budget_no_alert() -> None:
    customer, account, product = _setup()
    account.monthly_budget_units = None
    account.save()
    _spend(customer, product, "500", TODAY, "a")
    assert budget_alert_check(account=account, today=TODAY) == []


@pytest.mark.django_db
def test_the_periodic_task_is_scheduled_and_checks_every_account(monkeypatch) -> None:
    assert any(entry["task"] == elastic_budget_alerts_check.name for entry in settings.CELERY_BEAT_SCHEDULE.values())
    import entitlements.tasks  # noqa: F401 - autodiscovery imports this module

    customer, _account, product = _setup()
    _spend(customer, product, "90", timezone.localdate(), "a")
    assert elastic_budget_alerts_check() == 1
    assert elastic_budget_alerts_check() == 0
    assert sorted(BudgetAlert.objects.values_list("threshold", flat=True)) == [50, 80]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_overlapping_runs_alert_once() -> None:
    customer, account, product = _setup()
    _spend(customer, product, "85", TODAY, "a")
    barrier = threading.Barrier(8)
    results: list[list[int]] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(budget_alert_check(account=ElasticAccount.objects.get(pk=account.pk), today=TODAY))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(t for r in results for t in r) == [50, 80]
    assert BudgetAlert.objects.count() == 2
    # One outbox row per recipient (the ASC) per newly crossed set, however many runs.
    assert Notification.objects.filter(event="elastic.budget_alert").count() == len([r for r in results if r])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("thresholds", "recipients"),
    [([0], []), ([101], []), ([50, 50], []), ([50], ["not-an-email"])],
)
def test_budget_settings_are_validated(thresholds, recipients) -> None:
    customer, account, _product = _setup()
    asc = customer.memberships.get(role=Role.ASC).user
    with pytest.raises(PortalError):
        elastic_budget_update(
            account=account,
            actor=asc,
            monthly_budget_units=100,
            alert_thresholds=thresholds,
            alert_recipients=recipients,
        )


@pytest.mark.django_db
def test_budget_update_sorts_and_audits(django_capture_on_commit_callbacks) -> None:
    customer, account, _product = _setup()
    asc = customer.memberships.get(role=Role.ASC).user
    with django_capture_on_commit_callbacks(execute=True):
        saved = elastic_budget_update(
            account=account,
            actor=asc,
            monthly_budget_units=300,
            alert_thresholds=[100, 25, 75],
            alert_recipients=["A@Example.org"],
        )
    assert saved.alert_thresholds == [25, 75, 100]
    assert saved.alert_recipients == ["a@example.org"]
    assert AuditEvent.objects.filter(customer=customer, action="elastic.budget_changed").count() == 1
    assert Notification.objects.filter(event="elastic.budget_changed").count() == 1


@pytest.mark.django_db
def test_budget_form_errors_are_shown(client) -> None:
    customer, _account, _product = _setup()
    client.force_login(customer.memberships.get(role=Role.ASC).user)
    from django.urls import reverse

    response = client.post(
        reverse("licensing_settings:elastic_budget", args=[customer.number]),
        {"monthly_budget_units": "100", "alert_thresholds": "50, 150, x", "alert_recipients": "ok@example.org, nope"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "whole percentage" in page
    assert "not a valid email" in page


@pytest.mark.django_db
def test_forecast_at_the_recent_burn_rate() -> None:
    customer, account, product = _setup()
    for i in range(30):
        _spend(customer, product, "10", TODAY - datetime.timedelta(days=i), f"f{i}")
    summary = elastic_summary(customer=customer, account=account, today=TODAY)
    assert summary.pool == 1000
    assert summary.consumed == Decimal("300")
    assert summary.balance == Decimal("700")
    assert summary.burn_rate == Decimal("10")
    assert summary.runs_out_in_days == 70
    assert summary.runs_out_on == TODAY + datetime.timedelta(days=70)
    assert summary.month_consumed == Decimal("200")
    assert summary.budget_percent == 200


@pytest.mark.django_db
def test_no_consumption_no_run_out_date() -> None:
    customer, account, _product = _setup()
    summary = elastic_summary(customer=customer, account=account, today=TODAY)
    assert summary.runs_out_on is None
    assert summary.burn_rate == 0


@pytest.mark.django_db
def test_chart_stacks_products_per_month_and_day() -> None:
    customer, _account, product = _setup()
    other = ProductFactory(feature="el_other", name="Elastic CFD", licensing_model=LicensingModel.ELASTIC)
    _spend(customer, product, "10", datetime.date(2026, 10, 5), "a")
    _spend(customer, other, "5", datetime.date(2026, 10, 6), "b")
    _spend(customer, product, "20", datetime.date(2026, 11, 5), "c")
    chart = elastic_usage_chart(
        customer=customer, start=datetime.date(2026, 1, 1), end=TODAY, granularity=Granularity.MONTH
    )
    assert [s.name for s in chart.series] == ["Elastic Mech", "Elastic CFD"]
    table = {bucket: (values, total) for bucket, values, total in chart.table}
    assert table[datetime.date(2026, 10, 1)] == ([Decimal(10), Decimal(5)], Decimal(15))
    assert table[datetime.date(2026, 11, 1)][1] == Decimal(20)
    assert len(chart.rects) == 3
    assert all(rect.height > 0 and rect.y >= chart.plot_top for rect in chart.rects)
    daily = elastic_usage_chart(
        customer=customer,
        start=datetime.date(2026, 10, 1),
        end=datetime.date(2026, 10, 31),
        granularity=Granularity.DAY,
    )
    assert len(daily.buckets) == 31
    assert len(daily.rects) == 2


@pytest.mark.django_db
def test_demo_data_is_idempotent() -> None:
    from accounts.demo import seed_accounts
    from entitlements.demo import seed_entitlements
    from entitlements.licensing.demo import seed_licensing_demo
    from entitlements.models import SeatAssignment, SharedWebUser

    customers = seed_accounts()
    seed_entitlements(customers)
    seed_licensing_demo()
    counts = (
        SharedWebUser.objects.count(),
        SeatAssignment.objects.count(),
        ElasticUsage.objects.count(),
        ElasticAccount.objects.count(),
    )
    pins = dict(ElasticAccount.objects.values_list("customer__number", "pin"))
    seed_licensing_demo()
    assert counts == (
        SharedWebUser.objects.count(),
        SeatAssignment.objects.count(),
        ElasticUsage.objects.count(),
        ElasticAccount.objects.count(),
    )
    assert pins == dict(ElasticAccount.objects.values_list("customer__number", "pin"))
    for number in ("1001234", "3009012"):
        customer = customers[number]
        assert ElasticAccount.objects.get(customer=customer).monthly_budget_units
        months = {u.started_at.strftime("%Y-%m") for u in ElasticUsage.objects.filter(customer=customer)}
        assert len(months) >= 4
        summary = elastic_summary(customer=customer, account=customer.elastic_account)
        assert summary.pool > 0
        assert summary.balance > 0
