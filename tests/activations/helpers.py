"""Shared set-ups for the activation tests."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from accounts.models import Customer
from activations.selectors import LineRequest
from activations.services import activation_apply, activation_token_new
from tests.factories import CustomerFactory, EntitlementFactory, LicenseServerFactory, ProductFactory


def flex_customer(number: str | None = None, **fields: Any) -> Customer:
    """A customer whose activations are visible: managed, with a FlexNet line."""
    customer = (
        CustomerFactory(number=number, flexnet_managed=True, **fields)
        if number
        else CustomerFactory(flexnet_managed=True, **fields)
    )
    EntitlementFactory(
        customer=customer,
        product=ProductFactory(feature="ansys", name="Mechanical Enterprise"),
        line_id=f"{customer.number}-9999",
        quantity=5,
    )
    return customer


def setup_server(customer: Customer, *, quantity: int = 10, borrowable: bool = False, **entitlement: Any):
    product = ProductFactory(feature=entitlement.pop("feature", "acfdsol3"), name="CFD Solver")
    line = EntitlementFactory(
        customer=customer, product=product, quantity=quantity, borrowable=borrowable, **entitlement
    )
    server = LicenseServerFactory(customer=customer)
    return server, line


def activate(
    server,
    actor,
    quantities: dict[int, int],
    *,
    deliver: str = "download",
    token: str | None = None,
    borrow: set[int] | None = None,
    expected: dict[int, int] | None = None,
):
    requests = {pk: LineRequest(q, pk in (borrow or set())) for pk, q in quantities.items()}
    return activation_apply(
        server=server,
        actor=actor,
        token=token or activation_token_new(),
        requests=requests,
        expected=expected,
        deliver=deliver,
    )


TODAY = timezone.localdate()
