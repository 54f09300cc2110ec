"""The users page's bulk add and its two-factor requirement switch, through the API.

Registered on ``api.v1.api`` (imported at the end of ``api.v1``). As everywhere in the API,
the services decide (``membership_bulk_add``, ``customer_set_mfa_required``): they check the
actor's role, audit and notify the ASCs; the operations check the token's role first.
"""

# No "from __future__ import annotations": ninja reads these annotations at runtime.

from collections.abc import Sequence
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _

from accounts.forms import MAX_BULK_LINES, bulk_requests_parse
from accounts.roles import Permission
from accounts.selectors import AddPlanLine, user_add_plan, user_add_plan_digest
from accounts.services import customer_set_mfa_required, membership_bulk_add

from . import schemas as s
from .http import previewed_import, requires
from .v1 import CUSTOMER, _responses, api


def _bulk_out(plan: Sequence[AddPlanLine], *, applied: bool) -> dict[str, Any]:
    return {
        "applied": applied,
        "digest": user_add_plan_digest(plan),
        "lines": [
            {
                "line": line.request.number,
                "email": line.request.email,
                "role": line.request.role.value if line.request.role else "",
                "outcome": line.outcome.value,
                "reason": str(line.reason or line.request.error),
            }
            for line in plan
        ],
    }


@api.post(
    CUSTOMER + "/member-import",
    response=_responses(s.MemberBulkOut),
    tags=["members"],
    summary="Invite many portal users: a preview without `digest`, then apply with the preview's `digest`",
    description=(
        "The bulk add page's two steps. Without `digest` nothing changes: the answer is the plan (each line's "
        "outcome: invite, already_member, already_invited, duplicate, invalid, asc_refused) and its digest. "
        "Send the same `csv` with that `digest` to apply it, all or nothing: every address that is not a member "
        "yet is invited by email (nobody joins without accepting). When the users changed in between, nothing "
        "is applied and the answer is `409 plan_changed` with the new plan (`lines`, `digest`) to review."
    ),
)
@requires(Permission.MANAGE_USERS)
def members_bulk_add(request: HttpRequest, number: str, body: s.MemberBulkIn) -> dict[str, Any]:
    customer = request.auth.customer
    return previewed_import(
        text=body.csv,
        digest=body.digest,
        parse=bulk_requests_parse,
        max_lines=MAX_BULK_LINES,
        empty_message=_("Enter at least one line: email,role."),
        plan=lambda requests: user_add_plan(customer=customer, requests=requests),
        apply=lambda requests, digest: membership_bulk_add(
            customer=customer, actor=request.auth.user, requests=requests, expected_digest=digest
        ),
        out=lambda plan, applied: _bulk_out(plan, applied=applied),
        changed_title="The users changed since the preview",
    )


@api.get(
    CUSTOMER + "/mfa-requirement",
    response=_responses(s.MfaRequirementOut),
    tags=["members"],
    summary="Whether every portal user of the customer must use two-factor authentication",
)
@requires(Permission.VIEW)
def mfa_requirement(request: HttpRequest, number: str) -> dict[str, Any]:
    return {"required": request.auth.customer.mfa_required}


@api.put(
    CUSTOMER + "/mfa-requirement",
    response=_responses(s.MfaRequirementOut),
    tags=["members"],
    summary="Require two-factor authentication of every portal user, or stop requiring it (ASC only)",
    description=(
        "As on the users page: whoever manages users may require it; only the ASC may stop requiring it "
        "(`turn_off_mfa_requirement`). Members without it are sent to set it up before any customer page."
    ),
)
@requires(Permission.MANAGE_USERS)
def mfa_requirement_set(request: HttpRequest, number: str, body: s.MfaRequirementIn) -> dict[str, Any]:
    if not body.required:  # stopping it needs the ASC's permission on the token too
        requires(Permission.TURN_OFF_MFA_REQUIREMENT)(lambda *a: None)(request, number)
    customer = request.auth.customer
    customer_set_mfa_required(customer=customer, actor=request.auth.user, required=body.required)
    return {"required": customer.mfa_required}
