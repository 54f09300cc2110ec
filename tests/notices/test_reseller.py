"""The reseller's daily digest and the support console's list of lines ending soon."""

from __future__ import annotations

import datetime
from http import HTTPStatus

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse

from notices.models import CustomerRenewalSettings, ResellerDigest
from notices.services import reseller_digest_send
from tests.factories import CustomerFactory, CustomerRenewalSettingsFactory, EntitlementFactory, ProductFactory

TODAY = datetime.date(2027, 2, 1)


@pytest.fixture
def book(db):
    """Two account managers' customers, lines at 90/30/7 days, one at 14 days, one renewed."""
    product = ProductFactory(feature="res_prod", name="Reseller Product")
    acme, globex = CustomerFactory(name="Acme"), CustomerFactory(name="Globex")
    CustomerRenewalSettingsFactory(
        customer=acme, account_manager_name="Ali Veli", account_manager_email="ali@reseller.example"
    )
    CustomerRenewalSettingsFactory(
        customer=globex, account_manager_name="Bea Sales", account_manager_email="bea@reseller.example"
    )
    lines = {}
    for customer, days in ((acme, 90), (acme, 7), (globex, 30), (globex, 14)):
        lines[(customer.name, days)] = EntitlementFactory(
            customer=customer,
            product=product,
            quantity=days,
            start_date=TODAY - datetime.timedelta(days=300),
            end_date=TODAY + datetime.timedelta(days=days),
            tecs_end_date=None,
        )
    renewed = EntitlementFactory(
        customer=globex,
        product=product,
        quantity=3,
        start_date=TODAY - datetime.timedelta(days=300),
        end_date=TODAY + datetime.timedelta(days=7),
        tecs_end_date=None,
    )
    EntitlementFactory(
        customer=globex,
        product=product,
        quantity=3,
        start_date=TODAY,
        end_date=TODAY + datetime.timedelta(days=400),
        tecs_end_date=None,
    )
    return lines, renewed


@pytest.mark.django_db(transaction=True)
def test_reseller_digest_lists_90_30_7_days_once_a_day(book, settings) -> None:
    settings.RESELLER_DIGEST_EMAIL = "sales@reseller.example"
    lines, renewed = book
    assert reseller_digest_send(today=TODAY) == 3
    assert reseller_digest_send(today=TODAY) == 0  # beat again: nothing more
    [message] = mail.outbox
    assert message.to == ["sales@reseller.example"]
    for key in (("Acme", 90), ("Acme", 7), ("Globex", 30)):
        assert lines[key].line_id in message.body
    assert lines[("Globex", 14)].line_id not in message.body
    assert renewed.line_id not in message.body
    assert "Ali Veli" in message.body
    assert ResellerDigest.objects.get(day=TODAY).lines == 3


@pytest.mark.django_db
def test_support_console_shows_the_same_list_filterable_by_account_manager(book, staff_user) -> None:
    lines, _renewed = book
    url = reverse("admin:notices_renewalline_changelist")
    with time_machine.travel(datetime.datetime(2027, 2, 1, 9, tzinfo=datetime.UTC), tick=False):
        client = Client()
        client.force_login(staff_user)  # signed in "today", so the session is fresh
        assert url in client.get(reverse("admin:index")).content.decode()
        html = client.get(url).content.decode()
        assert all(lines[k].line_id in html for k in (("Acme", 90), ("Acme", 7), ("Globex", 30)))
        assert lines[("Globex", 14)].line_id not in html
        only_ali = client.get(url, {"manager": "ali@reseller.example"}).content.decode()
        assert lines[("Acme", 90)].line_id in only_ali
        assert lines[("Globex", 30)].line_id not in only_ali
        only_7 = client.get(url, {"days": "7"}).content.decode()
        assert lines[("Acme", 7)].line_id in only_7
        assert lines[("Acme", 90)].line_id not in only_7


@pytest.mark.django_db
def test_support_console_list_is_staff_only(book, member_client) -> None:
    client = member_client()
    response = client.get(reverse("admin:notices_renewalline_changelist"))
    assert response.status_code == HTTPStatus.FOUND  # to the sign-in page


@pytest.mark.django_db
def test_staff_names_the_account_manager_through_the_service(staff_user) -> None:
    customer = CustomerFactory()
    client = Client()
    client.force_login(staff_user)
    response = client.post(
        reverse("admin:notices_customerrenewalsettings_add"),
        {
            "customer": customer.pk,
            "account_manager_name": "Cem",
            "account_manager_email": "CEM@Reseller.example",
            "account_manager_phone": "+90 212 000 00 00",
        },
    )
    assert response.status_code == HTTPStatus.FOUND
    assert CustomerRenewalSettings.objects.get(customer=customer).account_manager_email == "cem@reseller.example"
