"""Issue 12, item 13: staff without the right Django permission reach no import of the
support console; only an ASC turns off a customer's MFA requirement, and the ASCs are told."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission as DjangoPermission
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, Customer, Notification
from accounts.roles import ROLE_PERMISSIONS, Permission, Role
from accounts.services import customer_set_mfa_required
from entitlements.licensing.services import elastic_usage_import
from entitlements.models import ElasticUsage, Entitlement
from entitlements.services import entitlement_import
from portal.errors import AccessDenied
from tests.factories import CustomerFactory, MembershipFactory, TotpAuthenticatorFactory, UserFactory

pytestmark = pytest.mark.django_db


def _import_url_names() -> list[tuple[str, str]]:
    """(url name, the permission its ModelAdmin's add stands for) of every console import."""
    found = []
    for model, model_admin in admin.site._registry.items():
        for pattern in model_admin.get_urls():
            name = getattr(pattern, "name", None) or ""
            if name.endswith("_import"):
                found.append((name, f"{model._meta.app_label}.add_{model._meta.model_name}"))
    return sorted(found)


IMPORTS = _import_url_names()


def test_the_console_imports_are_found() -> None:
    names = {name for name, _perm in IMPORTS}
    assert {"entitlements_entitlement_import", "entitlements_elasticusage_import"} <= names


@pytest.mark.parametrize(("name", "permission"), IMPORTS)
def test_staff_without_the_permission_cannot_open_or_post_an_import(name, permission) -> None:
    staff = UserFactory(email="helpdesk@support.example", is_staff=True)
    client = Client()
    client.force_login(staff)
    url = reverse(f"admin:{name}")
    assert client.get(url).status_code != HTTPStatus.OK
    response = client.post(url, {"text": "x", "content": "x", "apply": "1"})
    assert response.status_code != HTTPStatus.OK
    # With exactly that permission the page opens.
    app_label, codename = permission.split(".")
    staff.user_permissions.add(DjangoPermission.objects.get(content_type__app_label=app_label, codename=codename))
    staff = type(staff).objects.get(pk=staff.pk)  # permissions are cached per object
    client.force_login(staff)
    assert client.get(url).status_code == HTTPStatus.OK


def test_the_import_services_check_the_permission_too() -> None:
    staff = UserFactory(email="helpdesk@support.example", is_staff=True)
    with pytest.raises(AccessDenied):
        entitlement_import(actor=staff, text="customer_number\n")
    with pytest.raises(AccessDenied):
        elastic_usage_import(actor=staff, text="customer_number\n")
    assert not Entitlement.objects.exists()
    assert not ElasticUsage.objects.exists()
    denied = set(AuditEvent.objects.filter(denied=True).values_list("action", flat=True))
    assert denied == {"entitlement.import", "elastic.usage_import"}


def test_only_an_asc_may_turn_the_mfa_requirement_off() -> None:
    assert {role for role in Role if Permission.TURN_OFF_MFA_REQUIREMENT in ROLE_PERMISSIONS[role]} == {Role.ASC}


@pytest.mark.parametrize("role", list(Role))
def test_turning_off_the_mfa_requirement_from_the_users_page(role, member_client, django_capture_on_commit_callbacks):
    customer = CustomerFactory(mfa_required=True)
    other_asc = MembershipFactory(customer=customer, role=Role.ASC).user
    client = member_client(role=role, customer=customer)
    mail.outbox.clear()
    # Members must have MFA to open the pages of this customer at all.
    TotpAuthenticatorFactory(user=client.user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("users:mfa", args=[customer.number]), {"required": "false"})
    customer.refresh_from_db()
    if role == Role.ASC:
        assert response.status_code == HTTPStatus.FOUND
        assert not customer.mfa_required
        # The ASCs are told, through the outbox.
        notifications = Notification.objects.filter(customer=customer, event="customer.mfa_required")
        assert any(other_asc.email in notification.recipients for notification in notifications)
        assert any(message.to == [other_asc.email] for message in mail.outbox)
    else:
        assert response.status_code == HTTPStatus.FORBIDDEN
        assert customer.mfa_required
        assert not Notification.objects.filter(customer=customer, event="customer.mfa_required").exists()
        if Permission.MANAGE_USERS in ROLE_PERMISSIONS[role]:  # refused by the service: audited
            assert AuditEvent.objects.filter(customer=customer, action="customer.mfa_required", denied=True).exists()


def test_an_administrator_may_require_mfa_and_the_ascs_are_told(django_capture_on_commit_callbacks) -> None:
    customer = CustomerFactory()
    asc = MembershipFactory(customer=customer, role=Role.ASC).user
    administrator = MembershipFactory(customer=customer, role=Role.ADMINISTRATOR).user
    with django_capture_on_commit_callbacks(execute=True):
        customer_set_mfa_required(customer=customer, actor=administrator, required=True)
    assert Customer.objects.get(pk=customer.pk).mfa_required
    assert any(message.to == [asc.email] for message in mail.outbox)
    with pytest.raises(AccessDenied):
        customer_set_mfa_required(customer=customer, actor=administrator, required=False)
    assert Customer.objects.get(pk=customer.pk).mfa_required


def test_the_users_page_offers_turning_it_off_only_to_an_asc(member_client) -> None:
    customer = CustomerFactory(mfa_required=True)
    for role in (Role.ASC, Role.ADMINISTRATOR):
        client = member_client(role=role, customer=customer)
        TotpAuthenticatorFactory(user=client.user)
        html = client.get(reverse("users:list", args=[customer.number])).content.decode()
        assert ("Stop requiring two-factor authentication" in html) == (role == Role.ASC)
