"""The rehost allowance (issue #12, item 4): every path that moves licenses from one host ID to
another counts against one rolling 12-month allowance per customer, stated on the pages;
returns stay possible; two concurrent moves cannot both take the last allowance."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

import pytest
from django.db import connection, connections
from django.urls import reverse

from accounts.roles import Role
from activations.models import Activation, Rehost, RehostKind
from activations.selectors import rehost_allowance
from activations.services import HostInput, rehost_quota_set, server_create, server_rehost, server_return
from portal.errors import AccessDenied, PortalError
from tests.activations.helpers import activate, flex_customer, setup_server
from tests.factories import EntitlementFactory, LicenseServerFactory, ProductFactory, UserFactory


@pytest.fixture
def asc(member_client):
    customer = flex_customer()
    client = member_client(role=Role.ASC, customer=customer)
    server, line = setup_server(customer, quantity=10)
    client.customer, client.server, client.line = customer, server, line
    return client


def _moves(customer) -> list[str]:
    return list(Rehost.objects.filter(customer=customer).order_by("created_at").values_list("kind", flat=True))


def _on(server) -> dict[int, int]:
    return dict(Activation.objects.filter(server=server).values_list("entitlement_id", "quantity"))


# --- each path ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_return_then_activate_on_another_host_is_a_move_and_is_refused_when_none_is_left(asc, settings) -> None:
    settings.PORTAL_REHOSTS_PER_YEAR = 1
    old_host = asc.server.hosts.get().host_id
    activate(asc.server, asc.user, {asc.line.pk: 10})
    server_return(server=asc.server, actor=asc.user)
    other = LicenseServerFactory(customer=asc.customer)
    activate(other, asc.user, {asc.line.pk: 10})  # the bypass of the report: now counted
    move = Rehost.objects.get(customer=asc.customer)
    assert move.kind == RehostKind.MOVE
    assert move.server == other
    assert move.old_host_ids == [old_host]
    assert rehost_allowance(customer=asc.customer).remaining == 0
    # Back to the first server: another move, and none is left. Nothing is applied.
    server_return(server=other, actor=asc.user)  # returns stay possible with no allowance left
    with pytest.raises(PortalError, match="returned on another host ID") as refused:
        activate(asc.server, asc.user, {asc.line.pk: 3})
    assert settings.PORTAL_SUPPORT_EMAIL in refused.value.message
    assert "Returning licenses is always possible" in refused.value.message
    assert _on(asc.server) == {}
    assert _moves(asc.customer) == ["move"]


@pytest.mark.django_db
def test_taking_licenses_back_on_the_same_server_or_fresh_licenses_is_not_a_move(asc, settings) -> None:
    settings.PORTAL_REHOSTS_PER_YEAR = 0
    activate(asc.server, asc.user, {asc.line.pk: 6})
    activate(asc.server, asc.user, {asc.line.pk: 2})  # 4 returned
    activate(asc.server, asc.user, {asc.line.pk: 6})  # and taken back on the same host
    server_return(server=asc.server, actor=asc.user)
    activate(asc.server, asc.user, {asc.line.pk: 10})  # all of them, and the 4 never activated
    other = LicenseServerFactory(customer=asc.customer)
    fresh = EntitlementFactory(customer=asc.customer, product=ProductFactory(feature="anshpc"), quantity=3)
    activate(other, asc.user, {fresh.pk: 3})  # never activated anywhere
    assert _moves(asc.customer) == []


@pytest.mark.django_db
def test_only_returned_licenses_count_as_moved_never_activated_ones_first(asc, settings) -> None:
    settings.PORTAL_REHOSTS_PER_YEAR = 1
    line = EntitlementFactory(customer=asc.customer, product=ProductFactory(feature="acfd"), quantity=20)
    activate(asc.server, asc.user, {line.pk: 10})
    other = LicenseServerFactory(customer=asc.customer)
    activate(other, asc.user, {line.pk: 10})  # the 10 never activated: no move
    assert _moves(asc.customer) == []
    activate(asc.server, asc.user, {line.pk: 6})  # 4 returned on the first server
    settings.PORTAL_REHOSTS_PER_YEAR = 0
    with pytest.raises(PortalError, match="activate 1 license"):
        activate(other, asc.user, {line.pk: 11})
    settings.PORTAL_REHOSTS_PER_YEAR = 1
    activate(other, asc.user, {line.pk: 14})
    assert _moves(asc.customer) == ["move"]
    assert _on(other) == {line.pk: 14}


@pytest.mark.django_db
def test_rehosts_and_moves_share_one_allowance_per_customer(asc, settings) -> None:
    settings.PORTAL_REHOSTS_PER_YEAR = 2
    activate(asc.server, asc.user, {asc.line.pk: 10})
    server_rehost(server=asc.server, actor=asc.user, hosts=[HostInput("new", "ETHER", "0000000000B1")])
    server_return(server=asc.server, actor=asc.user)
    other = LicenseServerFactory(customer=asc.customer)
    activate(other, asc.user, {asc.line.pk: 4})
    assert _moves(asc.customer) == ["rehost", "move"]
    # Another server of the same customer: its first rehost is refused too.
    with pytest.raises(PortalError, match="next rehost is possible"):
        server_rehost(server=other, actor=asc.user, hosts=[HostInput("new", "ETHER", "0000000000B2")])
    # Another customer's allowance is its own.
    them = flex_customer()
    their_server, their_line = setup_server(them)
    activate(their_server, UserFactory(is_staff=True), {their_line.pk: 1})
    server_rehost(
        server=their_server, actor=UserFactory(is_staff=True), hosts=[HostInput("h", "ETHER", "0000000000B3")]
    )


@pytest.mark.django_db
def test_update_from_license_onto_another_server_is_a_move(asc, settings) -> None:
    settings.PORTAL_REHOSTS_PER_YEAR = 0
    content = activate(asc.server, asc.user, {asc.line.pk: 10}).license_file.content
    server_return(server=asc.server, actor=asc.user)
    # "Update from license": the old file, put onto a new server with another host ID.
    imported = asc.post(reverse("activations:import", args=[asc.customer.number]), {"text": content})
    assert imported.status_code == HTTPStatus.OK
    prefill = imported.context["prefill"]
    assert prefill == {f"q_{asc.line.pk}": "10"}
    new = server_create(
        customer=asc.customer,
        actor=asc.user,
        name="replacement",
        hosts=[HostInput("replacement", "ETHER", "0000000000C1")],
    )
    with pytest.raises(PortalError, match="rehost allowance"):
        activate(new, asc.user, {asc.line.pk: 10})
    # Through the pages: the review says so, the save is refused and nothing is applied.
    review = asc.post(
        reverse("activations:activate", args=[asc.customer.number, new.pk]),
        {f"qty_{asc.line.pk}": "10", f"base_{asc.line.pk}": "0"},
    )
    assert "returned on another host ID" in review.content.decode()
    assert "0 of 0 left" in review.content.decode()
    assert _on(new) == {}
    # Support raises the allowance (the override path): the same move now goes through.
    rehost_quota_set(customer=asc.customer, actor=UserFactory(is_staff=True), rehosts_per_year=3)
    activate(new, asc.user, {asc.line.pk: 10})
    assert _on(new) == {asc.line.pk: 10}
    assert _moves(asc.customer) == ["move"]


@pytest.mark.django_db
def test_support_sets_the_allowance_per_customer_and_the_pages_state_it(asc, settings) -> None:
    settings.PORTAL_REHOSTS_PER_YEAR = 3
    activate(asc.server, asc.user, {asc.line.pk: 2})
    server_rehost(server=asc.server, actor=asc.user, hosts=[HostInput("h", "ETHER", "0000000000D1")])
    detail = asc.get(reverse("activations:server_detail", args=[asc.customer.number, asc.server.pk]))
    assert "2 of 3 left" in detail.content.decode()
    rehost_page = asc.get(reverse("activations:rehost", args=[asc.customer.number, asc.server.pk]))
    assert "2 of 3 left" in rehost_page.content.decode()
    with pytest.raises(AccessDenied):
        rehost_quota_set(customer=asc.customer, actor=asc.user, rehosts_per_year=9)  # support only
    rehost_quota_set(customer=asc.customer, actor=UserFactory(is_staff=True), rehosts_per_year=1)
    page = asc.get(reverse("activations:rehost", args=[asc.customer.number, asc.server.pk])).content.decode()
    assert "0 of 1 left" in page
    assert "No rehost left" in page
    with pytest.raises(PortalError, match="next rehost is possible"):
        server_rehost(server=asc.server, actor=asc.user, hosts=[HostInput("h", "ETHER", "0000000000D2")])
    server_return(server=asc.server, actor=asc.user)  # returns stay possible


# --- concurrency ----------------------------------------------------------------------------


def _in_thread(fn):
    def run(*args):
        try:
            return fn(*args)
        except PortalError as error:
            return "REFUSED:" + error.message
        finally:
            connections.close_all()

    return run


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("second", ["move", "rehost"])
def test_two_moves_on_different_servers_cannot_both_take_the_last_allowance(settings, second: str) -> None:
    settings.PORTAL_REHOSTS_PER_YEAR = 1
    customer = flex_customer()
    actor = UserFactory(is_staff=True)
    lines, targets = [], []
    for index in range(2):
        source, line = setup_server(customer, quantity=5, feature=f"feat{index}")
        activate(source, actor, {line.pk: 5})
        server_return(server=source, actor=actor)
        lines.append(line)
        targets.append(LicenseServerFactory(customer=customer))
    if second == "rehost":
        activate(targets[1], actor, {})  # a license file, so that it can be rehosted
    barrier = threading.Barrier(2)

    def move(index: int) -> str:
        barrier.wait()
        if index == 1 and second == "rehost":
            server_rehost(server=targets[1], actor=actor, hosts=[HostInput("h", "ETHER", "0000000000E1")])
        else:
            activate(targets[index], actor, {lines[index].pk: 5})
        return "OK"

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(_in_thread(move), [0, 1]))
    assert sorted(r.split(":")[0] for r in results) == ["OK", "REFUSED"], results
    assert Rehost.objects.filter(customer=customer).count() == 1
    assert "rehost" in next(r for r in results if r != "OK")
