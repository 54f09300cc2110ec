"""/api/v1/: the Shared Web and Elastic settings writes, as the settings pages offer them.

Registered on ``api.v1.api`` (imported at the end of ``api.v1``). Each operation declares its
permission with ``@requires`` and calls the one service the web page's view calls
(``entitlements.licensing.services``), which checks the owner's permission again, locks,
audits and tells the ASCs; a refusal (``PortalError``) is a ``422 rejected`` problem.
"""

# No "from __future__ import annotations": ninja reads these annotations at runtime.

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja.responses import Status

from accounts.roles import Permission
from entitlements.licensing.forms import MAX_IMPORT_LINES, shared_web_import_parse
from entitlements.licensing.selectors import (
    SharedWebImportLine,
    elastic_account_get,
    shared_web_access_overview,
    shared_web_entitlement_get,
    shared_web_group_get,
    shared_web_import_digest,
    shared_web_import_plan,
    shared_web_user_get,
)
from entitlements.licensing.services import (
    elastic_budget_update,
    elastic_pin_regenerate,
    seat_assignment_set,
    shared_web_group_create,
    shared_web_group_delete,
    shared_web_group_rename,
    shared_web_group_set_members,
    shared_web_user_import,
    shared_web_user_set_active,
    shared_web_user_update,
)
from entitlements.models import ElasticAccount, LicensingModel, SharedWebGroup, SharedWebUser

from . import schemas as s
from .http import not_found, previewed_import, requires
from .v1 import _PROBLEMS, CUSTOMER, _owns, _responses, api

MANAGE = Permission.MANAGE_LICENSING_SETTINGS

# --- Shared Web users ----------------------------------------------------------------------------


def _shared_web_user(request: HttpRequest, user_id: int) -> SharedWebUser:
    _owns(request, LicensingModel.SHARED_WEB)
    user = shared_web_user_get(customer=request.auth.customer, pk=user_id)
    if user is None:
        raise not_found()
    return user


def _user_out(user: SharedWebUser) -> dict[str, Any]:
    return {"id": user.pk, "email": user.email, "name": user.name, "active": user.active}


@api.get(
    CUSTOMER + "/shared-web/users/{user_id}",
    response=_responses(s.SharedWebUserOut),
    tags=["shared web"],
    summary="One Shared Web user",
)
@requires(Permission.VIEW)
def shared_web_user(request: HttpRequest, number: str, user_id: int) -> dict[str, Any]:
    return _user_out(_shared_web_user(request, user_id))


@api.patch(
    CUSTOMER + "/shared-web/users/{user_id}",
    response=_responses(s.SharedWebUserOut),
    tags=["shared web"],
    summary="Change a Shared Web user's email and name",
)
@requires(MANAGE)
def shared_web_user_change(
    request: HttpRequest, number: str, user_id: int, body: s.SharedWebUserChangeIn
) -> dict[str, Any]:
    user = shared_web_user_update(
        shared_web_user=_shared_web_user(request, user_id), actor=request.auth.user, email=body.email, name=body.name
    )
    return _user_out(user)


def _set_active(request: HttpRequest, user_id: int, *, active: bool) -> dict[str, Any]:
    user = shared_web_user_set_active(
        shared_web_user=_shared_web_user(request, user_id), actor=request.auth.user, active=active
    )
    return _user_out(user)


@api.post(
    CUSTOMER + "/shared-web/users/{user_id}/deactivate",
    response=_responses(s.SharedWebUserOut),
    tags=["shared web"],
    summary="Deactivate a Shared Web user (kept on the list and in their groups, without access)",
)
@requires(MANAGE)
def shared_web_user_deactivate(request: HttpRequest, number: str, user_id: int) -> dict[str, Any]:
    return _set_active(request, user_id, active=False)


@api.post(
    CUSTOMER + "/shared-web/users/{user_id}/reactivate",
    response=_responses(s.SharedWebUserOut),
    tags=["shared web"],
    summary="Reactivate a Shared Web user",
)
@requires(MANAGE)
def shared_web_user_reactivate(request: HttpRequest, number: str, user_id: int) -> dict[str, Any]:
    return _set_active(request, user_id, active=True)


def _import_out(plan: Sequence[SharedWebImportLine], *, applied: bool) -> dict[str, Any]:
    return {
        "applied": applied,
        "digest": shared_web_import_digest(plan),
        "lines": [
            {
                "line": line.request.number,
                "email": line.request.email,
                "name": line.request.name,
                "outcome": line.outcome.value,
                "reason": str(line.reason),
            }
            for line in plan
        ],
    }


@api.post(
    CUSTOMER + "/shared-web/user-import",
    response=_responses(s.SharedWebImportOut),
    tags=["shared web"],
    summary="Import Shared Web users: a preview without `digest`, then apply with the preview's `digest`",
    description=(
        "The import page's two steps. Without `digest` nothing changes: the answer is the plan (each line's "
        "outcome: add, update, unchanged, duplicate, invalid) and its digest. Send the same `csv` with that "
        "`digest` to apply it, all or nothing. When the list changed in between, nothing is applied and the "
        "answer is `409 plan_changed` with the new plan (`lines`, `digest`) to review."
    ),
)
@requires(MANAGE)
def shared_web_users_import(request: HttpRequest, number: str, body: s.SharedWebImportIn) -> dict[str, Any]:
    _owns(request, LicensingModel.SHARED_WEB)
    customer = request.auth.customer
    return previewed_import(
        text=body.csv,
        digest=body.digest,
        parse=shared_web_import_parse,
        max_lines=MAX_IMPORT_LINES,
        empty_message=_("Enter at least one line: email,name."),
        plan=lambda requests: shared_web_import_plan(customer=customer, requests=requests),
        apply=lambda requests, digest: shared_web_user_import(
            customer=customer, actor=request.auth.user, requests=requests, expected_digest=digest
        ),
        out=lambda plan, applied: _import_out(plan, applied=applied),
        changed_title="The list changed since the preview",
    )


# --- Shared Web groups and seats -----------------------------------------------------------------


def _group(request: HttpRequest, group_id: int) -> SharedWebGroup:
    _owns(request, LicensingModel.SHARED_WEB)
    group = shared_web_group_get(customer=request.auth.customer, pk=group_id)
    if group is None:
        raise not_found()
    return group


def _group_out(request: HttpRequest, group_id: int) -> dict[str, Any]:
    group = _group(request, group_id)  # read again: the prefetched members and seats as they are now
    return {
        "id": group.pk,
        "name": group.name,
        "member_ids": sorted(m.pk for m in group.members.all()),
        "seats": [
            {"entitlement_id": a.entitlement_id, "line_id": a.entitlement.line_id, "seats": a.seats}
            for a in sorted(group.seat_assignments.all(), key=lambda a: a.entitlement.line_id)
        ],
    }


@api.post(
    CUSTOMER + "/shared-web/groups/",
    response=_responses(s.SharedWebGroupDetailOut, 201),
    tags=["shared web"],
    summary="Create a Shared Web group (empty)",
)
@requires(MANAGE)
def shared_web_group_add(request: HttpRequest, number: str, body: s.GroupNameIn) -> Status:
    _owns(request, LicensingModel.SHARED_WEB)
    group = shared_web_group_create(customer=request.auth.customer, actor=request.auth.user, name=body.name)
    return Status(201, _group_out(request, group.pk))


@api.get(
    CUSTOMER + "/shared-web/groups/{group_id}",
    response=_responses(s.SharedWebGroupDetailOut),
    tags=["shared web"],
    summary="One Shared Web group: its members and the seats reserved for it",
)
@requires(Permission.VIEW)
def shared_web_group(request: HttpRequest, number: str, group_id: int) -> dict[str, Any]:
    return _group_out(request, group_id)


@api.patch(
    CUSTOMER + "/shared-web/groups/{group_id}",
    response=_responses(s.SharedWebGroupDetailOut),
    tags=["shared web"],
    summary="Rename a Shared Web group",
)
@requires(MANAGE)
def shared_web_group_change(request: HttpRequest, number: str, group_id: int, body: s.GroupNameIn) -> dict[str, Any]:
    shared_web_group_rename(group=_group(request, group_id), actor=request.auth.user, name=body.name)
    return _group_out(request, group_id)


@api.delete(
    CUSTOMER + "/shared-web/groups/{group_id}",
    response={204: None, **_PROBLEMS},
    tags=["shared web"],
    summary="Delete a Shared Web group; its reserved seats go back to the unreserved pool",
)
@requires(MANAGE)
def shared_web_group_remove(request: HttpRequest, number: str, group_id: int) -> Status:
    shared_web_group_delete(group=_group(request, group_id), actor=request.auth.user)
    return Status(204, None)


@api.put(
    CUSTOMER + "/shared-web/groups/{group_id}/members",
    response=_responses(s.SharedWebGroupDetailOut),
    tags=["shared web"],
    summary="Set a group's members: exactly these Shared Web users",
)
@requires(MANAGE)
def shared_web_group_members(
    request: HttpRequest, number: str, group_id: int, body: s.GroupMembersIn
) -> dict[str, Any]:
    shared_web_group_set_members(group=_group(request, group_id), actor=request.auth.user, member_ids=body.member_ids)
    return _group_out(request, group_id)


@api.put(
    CUSTOMER + "/shared-web/groups/{group_id}/seats/{entitlement_id}",
    response=_responses(s.SeatsOut),
    tags=["shared web"],
    summary="Reserve seats of a Shared Web line for a group (0 removes the reservation)",
)
@requires(MANAGE)
def shared_web_group_seats(
    request: HttpRequest, number: str, group_id: int, entitlement_id: int, body: s.SeatsIn
) -> dict[str, Any]:
    group = _group(request, group_id)
    entitlement = shared_web_entitlement_get(customer=request.auth.customer, pk=entitlement_id)
    if entitlement is None:
        raise not_found()
    seats = seat_assignment_set(group=group, entitlement=entitlement, actor=request.auth.user, seats=body.seats)
    return {"seats": seats}


@api.get(
    CUSTOMER + "/shared-web/seats/",
    response=_responses(list[s.SeatLineOut]),
    tags=["shared web"],
    summary="Per Shared Web line: the seats reserved for each group and the unreserved pool",
)
@requires(Permission.VIEW)
def shared_web_seats(request: HttpRequest, number: str) -> list[dict[str, Any]]:
    _owns(request, LicensingModel.SHARED_WEB)
    return [
        {
            "entitlement_id": row.entitlement.pk,
            "line_id": row.entitlement.line_id,
            "product": row.entitlement.product.name,
            "quantity": row.entitlement.quantity,
            "reserved": row.reserved,
            "unreserved": row.unreserved,
            "reservations": [
                {"group_id": a.group_id, "group": a.group.name, "seats": a.seats} for a in row.reservations
            ],
        }
        for row in shared_web_access_overview(customer=request.auth.customer)
    ]


# --- Elastic -------------------------------------------------------------------------------------


def _elastic(request: HttpRequest) -> ElasticAccount:
    _owns(request, LicensingModel.ELASTIC)
    account = elastic_account_get(customer=request.auth.customer)
    if account is None:
        raise not_found()
    return account


def _elastic_out(account: ElasticAccount) -> dict[str, Any]:
    return {
        "license_server_id": account.license_server_id,
        "monthly_budget_units": account.monthly_budget_units,
        "alert_thresholds": list(account.alert_thresholds or []),
        "alert_recipients": list(account.alert_recipients or []),
    }


def _pin_response(request: HttpRequest, account: ElasticAccount) -> HttpResponse:
    response = api.create_response(
        request,
        {"license_server_id": account.license_server_id, "pin": account.pin, "pin_changed_at": account.pin_changed_at},
        status=HTTPStatus.OK,
    )
    response["Cache-Control"] = "no-store"
    return response


@api.put(
    CUSTOMER + "/elastic/budget",
    response=_responses(s.ElasticOut),
    tags=["elastic"],
    summary="Set the monthly budget, the alert thresholds and the extra alert recipients",
)
@requires(MANAGE)
def elastic_budget(request: HttpRequest, number: str, body: s.ElasticBudgetIn) -> dict[str, Any]:
    account = elastic_budget_update(
        account=_elastic(request),
        actor=request.auth.user,
        monthly_budget_units=body.monthly_budget_units,
        alert_thresholds=body.alert_thresholds,
        alert_recipients=body.alert_recipients,
    )
    return _elastic_out(account)


@api.get(
    CUSTOMER + "/elastic/pin",
    response=_responses(s.ElasticPinOut),
    tags=["elastic"],
    summary="The cloud license server ID and its PIN (as the settings page's export)",
)
@requires(MANAGE)
def elastic_pin(request: HttpRequest, number: str) -> HttpResponse:
    return _pin_response(request, _elastic(request))


@api.post(
    CUSTOMER + "/elastic/pin/regenerate",
    response=_responses(s.ElasticPinOut),
    tags=["elastic"],
    summary="Replace the PIN with a new random one; the old PIN stops working",
)
@requires(MANAGE)
def elastic_pin_new(request: HttpRequest, number: str) -> HttpResponse:
    account = elastic_pin_regenerate(account=_elastic(request), actor=request.auth.user)
    return _pin_response(request, account)
