"""The two kinds of refusal: a ``PortalError`` is shown on the form, an ``AccessDenied``
raised anywhere below a customer view (services included) is a 403 and audited."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from accounts.access import authorize_staff
from accounts.models import AuditEvent
from accounts.roles import Role
from portal.errors import AccessDenied, DomainError, PortalError
from tests.activations.helpers import flex_customer
from tests.factories import UserFactory


def test_a_denial_is_not_a_portal_error() -> None:
    assert not issubclass(AccessDenied, PortalError)
    assert issubclass(AccessDenied, DomainError)
    assert issubclass(PortalError, DomainError)
    # Outside the customer pages Django's own 403 handler answers it.
    assert issubclass(AccessDenied, PermissionDenied)


def _server_form(name: str = "lic01") -> dict[str, str]:
    return {
        "name": name,
        "lmgrd_port": "1055",
        "hostid_type_1": "ETHER",
        "host_name_1": "lic01",
        "host_id_1": "001122AABBCC",
    }


@pytest.mark.django_db
@pytest.mark.parametrize("audited", [True, False])
def test_a_denial_raised_by_an_activation_service_is_403_and_audited(audited, member_client, monkeypatch) -> None:
    """Before, ``server_create`` refusing the actor became a form error (200)."""
    customer = flex_customer()
    client = member_client(role=Role.ASC, customer=customer)

    def refuse(**kwargs: object) -> None:
        if audited:
            authorize_staff(actor=kwargs["actor"], customer=customer, action="server.create")
        raise AccessDenied("refused")

    monkeypatch.setattr("activations.views.server_create", refuse)
    response = client.post(reverse("activations:server_add", args=[customer.number]), _server_form())
    assert response.status_code == HTTPStatus.FORBIDDEN
    denials = AuditEvent.objects.filter(customer=customer, actor=client.user, denied=True)
    assert denials.count() == 1  # recorded once: by the service, or else by the view
    assert denials.get().action == ("server.create" if audited else "access.denied")


@pytest.mark.django_db
def test_a_portal_error_stays_a_form_error(member_client, monkeypatch) -> None:
    customer = flex_customer()
    client = member_client(role=Role.ASC, customer=customer)

    def refuse(**kwargs: object) -> None:
        raise PortalError("That name is taken.", field="name")

    monkeypatch.setattr("activations.views.server_create", refuse)
    response = client.post(reverse("activations:server_add", args=[customer.number]), _server_form())
    assert response.status_code == HTTPStatus.OK
    assert "That name is taken." in response.content.decode()
    assert not AuditEvent.objects.filter(denied=True).exists()


@pytest.mark.django_db
def test_authorize_staff_lets_only_active_staff_through() -> None:
    authorize_staff(actor=UserFactory(is_staff=True), action="customer.create")
    for actor in (UserFactory(), UserFactory(is_staff=True, is_active=False)):
        with pytest.raises(AccessDenied) as denied:
            authorize_staff(actor=actor, action="customer.create", message="Only support.")
        assert denied.value.message == "Only support."
        assert denied.value.audited
        event = AuditEvent.objects.filter(actor=actor).get()
        assert event.denied
        assert event.details == {"reason": "staff_only"}
