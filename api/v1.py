"""/api/v1/: the customer API (django-ninja; docs/performance.md says why).

Every operation is one customer's (``/customers/{number}/...``), declares the permission it
needs with ``@requires`` (from ``accounts.roles``), reads through the apps' selectors and
writes through their services. Errors are problem details (``api.http.Problem``). The
Shared Web and Elastic settings writes are in ``api.v1_licensing``, on the same ``api``.
"""

# No "from __future__ import annotations": ninja reads these annotations at runtime.

import datetime
import hashlib
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from ninja import Header, NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.openapi.docs import Swagger
from ninja.responses import Status

from accounts.models import Membership
from accounts.roles import Permission
from accounts.selectors import AuditFilters, audit_event_list, invitation_pending_list, membership_list
from accounts.services import (
    invitation_cancel,
    invitation_resend,
    membership_add,
    membership_change_role,
    membership_remove,
)
from activations.licensefile import license_verify
from activations.models import LicenseFile, LicenseServer
from activations.selectors import (
    LineRequest,
    activation_plan,
    activations_unavailable_reason,
    license_file_get,
    license_file_list,
    server_activations,
    server_get,
    server_list,
)
from activations.services import (
    ActivationConflict,
    HostInput,
    activation_apply,
    license_file_download,
    server_create,
    server_rehost,
    server_retire,
    server_return,
    server_update,
)
from activations.signing import verifying_key
from entitlements.licensing.selectors import (
    elastic_account_get,
    licensing_models_owned,
    shared_web_group_list,
    shared_web_user_get,
    shared_web_user_list,
)
from entitlements.licensing.services import shared_web_user_add, shared_web_user_remove
from entitlements.models import EntitlementStatus, LicensingModel
from entitlements.selectors import EntitlementFilters, entitlement_list
from portal.errors import AccessDenied, PortalError
from usage import services as usage_services

from . import schemas as s
from .http import PROBLEM_CONTENT_TYPE, Problem, TokenAuth, not_found, paginate, paginate_values, requires

VERSION = "1.2.1"


class PortalAPI(NinjaAPI):
    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        """ninja's document, with error bodies declared as ``application/problem+json``."""
        schema = super().get_openapi_schema(*args, **kwargs)
        for item in schema["paths"].values():
            for operation in item.values():
                media_type = operation.pop("x-media-type", None)
                if media_type:
                    operation["responses"][200]["content"] = {media_type: {"schema": {"type": "string"}}}
                for code, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if int(code) >= 400 and "application/json" in content:
                        response["content"] = {PROBLEM_CONTENT_TYPE: content["application/json"]}
        return schema


api = PortalAPI(
    title="License Portal API",
    version=VERSION,
    description=(
        "The customer API of the license portal: one customer per token, the same role matrix as the web pages. "
        "Errors are RFC 9457 problem details with a stable `code`; lists are cursor-paginated; every response "
        "carries `RateLimit` and `RateLimit-Policy` headers. See docs/api.md."
    ),
    auth=TokenAuth(),
    urls_namespace="api_v1",
    openapi_url="/openapi.json",
    docs=Swagger(settings={"persistAuthorization": True}),
    docs_url="/docs/",
    docs_decorator=None,
)

# Every operation may answer these; the OpenAPI document says so.
_PROBLEMS = {code: s.ProblemOut for code in (400, 401, 403, 404, 409, 422, 429)}


def _responses(ok: Any, status: int = 200) -> dict[int, Any]:
    return {status: ok, **_PROBLEMS}


# --- Errors as problem details -------------------------------------------------------------------


@api.exception_handler(Problem)
def _problem(request: HttpRequest, exc: Problem) -> HttpResponse:
    return exc.response(request)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: Exception) -> HttpResponse:
    response = Problem(
        HTTPStatus.UNAUTHORIZED,
        "unauthenticated",
        "Authentication required",
        "Send a valid, unexpired token: Authorization: Bearer lpat_...",
    ).response(request)
    response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


@api.exception_handler(NinjaValidationError)
def _invalid(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors]
    return Problem(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        "validation_error",
        "Invalid request",
        "The request does not match the schema.",
        errors=errors,
    ).response(request)


@api.exception_handler(ActivationConflict)
def _conflict(request: HttpRequest, exc: ActivationConflict) -> HttpResponse:
    return Problem(
        HTTPStatus.CONFLICT, "activation_conflict", "The entitlements changed", exc.message, problems=exc.problems
    ).response(request)


@api.exception_handler(AccessDenied)
def _denied(request: HttpRequest, exc: AccessDenied) -> HttpResponse:
    return Problem(HTTPStatus.FORBIDDEN, "permission_denied", "Permission denied", exc.message).response(request)


@api.exception_handler(PortalError)
def _refused(request: HttpRequest, exc: PortalError) -> HttpResponse:
    extra = {"field": exc.field} if exc.field else {}
    return Problem(
        HTTPStatus.UNPROCESSABLE_ENTITY, "rejected", "The request was refused", exc.message, **extra
    ).response(request)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return not_found().response(request)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = {405: "method_not_allowed", 400: "bad_request"}.get(exc.status_code, "error")
    return Problem(exc.status_code, code, str(exc)).response(request)


# --- The token itself ----------------------------------------------------------------------------


@api.get("/token", response=_responses(s.TokenInfoOut), summary="The token in use", tags=["token"])
def token_info(request: HttpRequest) -> dict[str, Any]:
    access = request.auth
    order = list(Permission)
    return {
        "customer": access.customer.number,
        "name": access.token.name,
        "prefix": access.token.prefix,
        "role": access.token.role,
        "owner": access.user.email,
        "owner_role": access.membership.role,
        "permissions": [p.value for p in sorted(access.permissions, key=order.index)],
        "expires_at": access.token.expires_at,
    }


CUSTOMER = "/customers/{number}"

# --- Entitlements --------------------------------------------------------------------------------


# EntitlementOut's fields and where the selector's rows keep them (the list's fast path).
ENTITLEMENT_FIELDS = (
    ("id", "pk"),
    ("line_id", "line_id"),
    ("order_number", "order_number"),
    ("product", "product__name"),
    ("feature", "product__feature"),
    ("licensing_model", "product__licensing_model"),
    ("quantity", "quantity"),
    ("activated", "activated"),
    ("available", "available_count"),
    ("start_date", "start_date"),
    ("end_date", "end_date"),
    ("tecs_end_date", "tecs_end_date"),
    ("borrowable", "borrowable"),
    ("status", "status_value"),
)
assert [name for name, _ in ENTITLEMENT_FIELDS] == list(s.EntitlementOut.model_fields)


def _entitlement(e: Any) -> dict[str, Any]:
    return {
        "id": e.pk,
        "line_id": e.line_id,
        "order_number": e.order_number,
        "product": e.product.name,
        "feature": e.product.feature,
        "licensing_model": e.product.licensing_model,
        "quantity": e.quantity,
        "activated": e.activated,
        "available": e.available_count,
        "start_date": e.start_date,
        "end_date": e.end_date,
        "tecs_end_date": e.tecs_end_date,
        "borrowable": e.borrowable,
        "status": e.status_value,
    }


@api.get(
    CUSTOMER + "/entitlements/",
    response=_responses(s.EntitlementPage),
    tags=["entitlements"],
    summary="Entitlement lines, filtered as on the entitlements page",
)
@requires(Permission.VIEW)
def entitlements(
    request: HttpRequest,
    number: str,
    status: str = "",
    model: str = "",
    q: str = "",
    cursor: str | None = None,
    limit: int = 100,
) -> HttpResponse:
    # Values the selector does not know filter nothing: dropped here, so the compiled
    # statements and cached pages are keyed by a bounded set of filters.
    filters = EntitlementFilters(
        status=status if status in EntitlementStatus.values else "",
        model=model if model in LicensingModel.values else "",
        text=q[:100],
    )
    customer, today = request.auth.customer, timezone.localdate()
    return paginate_values(
        lambda: entitlement_list(customer=customer, filters=filters, today=today),
        key=None if filters.text else ("entitlements", customer.pk, filters, today),
        cache_for=customer,
        fields=ENTITLEMENT_FIELDS,
        cursor=cursor,
        limit=limit,
    )


@api.get(
    CUSTOMER + "/entitlements/{entitlement_id}",
    response=_responses(s.EntitlementOut),
    tags=["entitlements"],
    summary="One entitlement line",
)
@requires(Permission.VIEW)
def entitlement(request: HttpRequest, number: str, entitlement_id: int) -> dict[str, Any]:
    row = entitlement_list(customer=request.auth.customer).filter(pk=entitlement_id).first()
    if row is None:
        raise not_found()
    return _entitlement(row)


# --- License servers -----------------------------------------------------------------------------


def _activations_visible(request: HttpRequest) -> None:
    reason = activations_unavailable_reason(customer=request.auth.customer, cached=request.method in ("GET", "HEAD"))
    if reason is not None:
        raise Problem(
            HTTPStatus.CONFLICT,
            "activations_unavailable",
            "Activations are not available",
            "This customer has no FlexNet entitlements managed in the portal; ask support.",
        )


def _server(request: HttpRequest, server_id: int, *, hosts: bool = False) -> LicenseServer:
    _activations_visible(request)
    server = server_get(customer=request.auth.customer, server_id=server_id, hosts=hosts)
    if server is None:
        raise not_found()
    server.customer = request.auth.customer
    return server


def _server_out(server: LicenseServer) -> dict[str, Any]:
    return {
        "id": server.pk,
        "name": server.name,
        "lmgrd_port": server.lmgrd_port,
        "vendor_port": server.vendor_port,
        "created_at": server.created_at,
        "hosts": [
            {"position": h.position, "host_name": h.host_name, "hostid_type": h.hostid_type, "host_id": h.host_id}
            for h in server.hosts.all()
        ],
    }


def _hosts(hosts: list[s.HostIn]) -> list[HostInput]:
    return [HostInput(h.host_name, h.hostid_type, h.host_id) for h in hosts]


@api.get(CUSTOMER + "/servers/", response=_responses(s.ServerPage), tags=["license servers"], summary="License servers")
@requires(Permission.VIEW)
def servers(request: HttpRequest, number: str, cursor: str | None = None, limit: int = 100) -> dict[str, Any]:
    _activations_visible(request)
    rows, next_cursor = paginate(server_list(customer=request.auth.customer), cursor=cursor, limit=limit)
    return {"results": [_server_out(r) for r in rows], "next_cursor": next_cursor}


@api.post(
    CUSTOMER + "/servers/",
    response=_responses(s.ServerOut, 201),
    tags=["license servers"],
    summary="Add a license server (one host, or three for a triad)",
)
@requires(Permission.ACTIVATE_ENTITLEMENTS)
def server_add(request: HttpRequest, number: str, body: s.ServerCreateIn) -> Status:
    _activations_visible(request)
    server = server_create(
        customer=request.auth.customer,
        actor=request.auth.user,
        name=body.name,
        hosts=_hosts(body.hosts),
        lmgrd_port=body.lmgrd_port,
        vendor_port=body.vendor_port,
    )
    return Status(201, _server_out(_server(request, server.pk, hosts=True)))


@api.get(
    CUSTOMER + "/servers/{server_id}",
    response=_responses(s.ServerOut),
    tags=["license servers"],
    summary="One license server",
)
@requires(Permission.VIEW)
def server(request: HttpRequest, number: str, server_id: int) -> dict[str, Any]:
    return _server_out(_server(request, server_id, hosts=True))


@api.patch(
    CUSTOMER + "/servers/{server_id}",
    response=_responses(s.ServerOut),
    tags=["license servers"],
    summary="Change label, host names and ports (host IDs change by rehost)",
)
@requires(Permission.CHANGE_LICENSE_SERVER)
def server_change(request: HttpRequest, number: str, server_id: int, body: s.ServerChangeIn) -> dict[str, Any]:
    server = _server(request, server_id)
    server_update(
        server=server,
        actor=request.auth.user,
        name=body.name,
        host_names=body.host_names,
        lmgrd_port=body.lmgrd_port,
        vendor_port=body.vendor_port,
    )
    return _server_out(_server(request, server_id, hosts=True))


@api.post(
    CUSTOMER + "/servers/{server_id}/rehost",
    response=_responses(s.LicenseFileOut),
    tags=["license servers"],
    summary="Move the server to new host IDs; returns the new license file version",
)
@requires(Permission.CHANGE_LICENSE_SERVER)
def server_rehost_op(request: HttpRequest, number: str, server_id: int, body: s.RehostIn) -> dict[str, Any]:
    license_file = server_rehost(server=_server(request, server_id), actor=request.auth.user, hosts=_hosts(body.hosts))
    return _file_out(license_file, number=number, server_id=server_id)


@api.post(
    CUSTOMER + "/servers/{server_id}/return",
    response=_responses(s.LicenseFileOut),
    tags=["license servers"],
    summary="Return every license of the server to the pool",
)
@requires(Permission.CHANGE_LICENSE_SERVER)
def server_return_op(request: HttpRequest, number: str, server_id: int) -> dict[str, Any]:
    license_file = server_return(server=_server(request, server_id), actor=request.auth.user)
    return _file_out(license_file, number=number, server_id=server_id)


@api.post(
    CUSTOMER + "/servers/{server_id}/retire",
    response={204: None, **_PROBLEMS},
    tags=["license servers"],
    summary="Retire a server whose licenses were returned",
)
@requires(Permission.CHANGE_LICENSE_SERVER)
def server_retire_op(request: HttpRequest, number: str, server_id: int) -> Status:
    server_retire(server=_server(request, server_id), actor=request.auth.user)
    return Status(204, None)


# --- Activations ---------------------------------------------------------------------------------


@api.get(
    CUSTOMER + "/servers/{server_id}/activations/",
    response=_responses(list[s.ActivationOut]),
    tags=["activations"],
    summary="What is activated on the server",
)
@requires(Permission.VIEW)
def activations(request: HttpRequest, number: str, server_id: int) -> list[dict[str, Any]]:
    return [
        {
            "entitlement_id": a.entitlement_id,
            "line_id": a.entitlement.line_id,
            "feature": a.entitlement.product.feature,
            "quantity": a.quantity,
            "borrowable": a.borrowable,
            "updated_at": a.updated_at,
        }
        for a in server_activations(server=_server(request, server_id))
    ]


def _requests(body: s.ActivationChangeIn) -> tuple[dict[int, LineRequest], dict[int, int]]:
    requests, expected = {}, {}
    for line in body.lines:
        if line.entitlement_id in requests:
            raise Problem(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                "duplicate_line",
                "A line is listed twice",
                f"Entitlement {line.entitlement_id} is listed more than once.",
            )
        requests[line.entitlement_id] = LineRequest(line.quantity, line.borrowable)
        if line.expected is not None:
            expected[line.entitlement_id] = line.expected
    return requests, expected


def _plan_line(line: Any) -> dict[str, Any]:
    return {
        "entitlement_id": line.entitlement.pk,
        "line_id": line.entitlement.line_id,
        "feature": line.entitlement.product.feature,
        "current": line.current,
        "wanted": line.wanted,
        "delta": line.delta,
        "borrowable": line.borrowable,
        "available_after": line.available_after,
        "errors": line.errors,
    }


@api.post(
    CUSTOMER + "/servers/{server_id}/activations/plan",
    response=_responses(s.PlanOut),
    tags=["activations"],
    summary="Dry run: what applying these quantities would change (nothing is written)",
)
@requires(Permission.ACTIVATE_ENTITLEMENTS)
def activation_plan_op(request: HttpRequest, number: str, server_id: int, body: s.ActivationChangeIn) -> dict:
    server = _server(request, server_id)
    requests, _expected = _requests(body)
    plan = activation_plan(server=server, requests=requests)
    known = {line.entitlement.pk for line in plan}
    unknown = sorted(set(requests) - known)
    if unknown:
        raise Problem(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "unknown_lines",
            "Unknown entitlement lines",
            "These are not FlexNet entitlements of this customer: " + ", ".join(map(str, unknown)),
        )
    changes = [line for line in plan if line.changed or (line.errors and line.entitlement.pk in requests)]
    return {"applicable": not any(line.errors for line in changes), "changes": [_plan_line(c) for c in changes]}


@api.post(
    CUSTOMER + "/servers/{server_id}/activations/apply",
    response=_responses(s.ApplyOut),
    tags=["activations"],
    summary="Apply quantities, all or nothing; repeat-safe with an Idempotency-Key",
)
@requires(Permission.ACTIVATE_ENTITLEMENTS)
def activation_apply_op(
    request: HttpRequest,
    number: str,
    server_id: int,
    body: s.ActivationChangeIn,
    idempotency_key: str = Header(..., alias="Idempotency-Key", max_length=200),
) -> dict[str, Any]:
    server = _server(request, server_id)
    requests, expected = _requests(body)
    if not idempotency_key.strip():
        raise Problem(HTTPStatus.BAD_REQUEST, "idempotency_key_required", "Idempotency-Key required")
    # The service's review token: one per token and key, so a retried request applies once.
    token = hashlib.sha256(f"{request.auth.token.pk}:{idempotency_key}".encode()).hexdigest()
    result = activation_apply(
        server=server, actor=request.auth.user, token=token, requests=requests, expected=expected or None
    )
    changes = [
        {
            "line_id": c["line"],
            "feature": c["feature"],
            "before": c["before"],
            "after": c["after"],
            "delta": c["delta"],
            "borrowable": c["borrowable"],
        }
        for c in result.changes
    ]
    return {
        "changed": result.changed,
        "already_applied": result.already_applied,
        "license_file_version": result.license_file.version,
        "changes": changes,
    }


# --- License files -------------------------------------------------------------------------------


def _file_out(f: LicenseFile, *, number: str, server_id: int) -> dict[str, Any]:
    return {
        "version": f.version,
        "reason": f.reason,
        "created_at": f.created_at,
        "created_by": f.created_by.email if f.created_by_id and f.created_by else None,
        "download_url": reverse(
            "api_v1:license_file", kwargs={"number": number, "server_id": server_id, "version": f.version}
        ),
    }


@api.get(
    CUSTOMER + "/servers/{server_id}/license-files/",
    response=_responses(s.LicenseFilePage),
    tags=["license files"],
    summary="License file versions, newest first",
)
@requires(Permission.VIEW)
def license_files(
    request: HttpRequest, number: str, server_id: int, cursor: str | None = None, limit: int = 100
) -> dict[str, Any]:
    rows, next_cursor = paginate(
        license_file_list(server=_server(request, server_id)), cursor=cursor, limit=limit, descending=True
    )
    return {"results": [_file_out(f, number=number, server_id=server_id) for f in rows], "next_cursor": next_cursor}


@api.get(
    CUSTOMER + "/servers/{server_id}/license-files/{version}",
    url_name="license_file",
    tags=["license files"],
    summary="Download one version (text/plain)",
    response={200: str, **_PROBLEMS},
    openapi_extra={"x-media-type": "text/plain"},
)
@requires(Permission.DOWNLOAD_LICENSE_FILES)
def license_file(request: HttpRequest, number: str, server_id: int, version: int) -> HttpResponse:
    _server(request, server_id)
    found = license_file_get(customer=request.auth.customer, server_id=server_id, version=version)
    if found is None:
        raise not_found()
    license_file_download(license_file=found, actor=request.auth.user)
    response = HttpResponse(found.content, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{found.filename}"'
    return response


@api.post(
    CUSTOMER + "/license-files/verify",
    response=_responses(s.VerifyOut),
    tags=["license files"],
    summary="Verify a license file's signatures",
)
@requires(Permission.VIEW)
def license_file_verify(request: HttpRequest, number: str, body: s.VerifyIn) -> dict[str, Any]:
    result = license_verify(body.content, public_key=verifying_key())
    return {"valid": result.valid, "failures": [{"line": f.line, "reason": f.reason} for f in result.failures]}


# --- Members and invitations ---------------------------------------------------------------------


def _member(request: HttpRequest, member_id: int) -> Membership:
    membership = membership_list(customer=request.auth.customer).filter(pk=member_id).first()
    if membership is None:
        raise not_found()
    return membership


@api.get(CUSTOMER + "/members/", response=_responses(s.MemberPage), tags=["members"], summary="Portal users")
@requires(Permission.VIEW)
def members(request: HttpRequest, number: str, cursor: str | None = None, limit: int = 100) -> dict[str, Any]:
    rows, next_cursor = paginate(membership_list(customer=request.auth.customer), cursor=cursor, limit=limit)
    return {
        "results": [
            {"id": m.pk, "email": m.user.email, "name": m.user.name, "role": m.role, "since": m.created_at}
            for m in rows
        ],
        "next_cursor": next_cursor,
    }


@api.post(
    CUSTOMER + "/members/",
    response=_responses(s.MemberAddOut, 201),
    tags=["members"],
    summary="Invite a portal user by email: they join when they accept the emailed invitation",
    description=(
        "As on the users page: the answer is the same whether or not the address has an account (it reveals "
        "nothing about other companies' people); the invitation is listed under /invitations/ until it is "
        "accepted, and can be sent again or cancelled there."
    ),
)
@requires(Permission.MANAGE_USERS)
def member_add(request: HttpRequest, number: str, body: s.MemberAddIn) -> Status:
    added = membership_add(customer=request.auth.customer, actor=request.auth.user, email=body.email, role=body.role)
    if isinstance(added, Membership):  # support staff only (membership_add)
        return Status(201, {"outcome": "added", "id": added.pk, "invitation": None})
    return Status(201, {"outcome": "invited", "id": added.pk, "invitation": _invitation_out(added)})


@api.patch(
    CUSTOMER + "/members/{member_id}",
    response=_responses(s.MemberOut),
    tags=["members"],
    summary="Change a portal user's role",
)
@requires(Permission.MANAGE_USERS)
def member_role(request: HttpRequest, number: str, member_id: int, body: s.RoleIn) -> dict[str, Any]:
    membership = membership_change_role(membership=_member(request, member_id), actor=request.auth.user, role=body.role)
    return {
        "id": membership.pk,
        "email": membership.user.email,
        "name": membership.user.name,
        "role": membership.role,
        "since": membership.created_at,
    }


@api.delete(
    CUSTOMER + "/members/{member_id}",
    response={204: None, **_PROBLEMS},
    tags=["members"],
    summary="Remove a portal user (or leave, for the token's owner)",
)
@requires(Permission.VIEW)
def member_remove(request: HttpRequest, number: str, member_id: int) -> Status:
    membership = _member(request, member_id)
    if membership.user_id != request.auth.user.pk:
        # Removing someone else needs the permission on the token too, not only on its owner.
        requires(Permission.MANAGE_USERS)(lambda *a: None)(request, number)
    membership_remove(membership=membership, actor=request.auth.user)
    return Status(204, None)


def _invitation(request: HttpRequest, invitation_id: int) -> Any:
    invitation = invitation_pending_list(customer=request.auth.customer).filter(pk=invitation_id).first()
    if invitation is None:
        raise not_found()
    return invitation


@api.get(
    CUSTOMER + "/invitations/", response=_responses(s.InvitationPage), tags=["members"], summary="Pending invitations"
)
@requires(Permission.VIEW)
def invitations(request: HttpRequest, number: str, cursor: str | None = None, limit: int = 100) -> dict[str, Any]:
    rows, next_cursor = paginate(invitation_pending_list(customer=request.auth.customer), cursor=cursor, limit=limit)
    return {"results": [_invitation_out(i) for i in rows], "next_cursor": next_cursor}


def _invitation_out(i: Any) -> dict[str, Any]:
    return {"id": i.pk, "email": i.email, "role": i.role, "created_at": i.created_at, "last_sent_at": i.last_sent_at}


@api.delete(
    CUSTOMER + "/invitations/{invitation_id}",
    response={204: None, **_PROBLEMS},
    tags=["members"],
    summary="Cancel a pending invitation",
)
@requires(Permission.MANAGE_USERS)
def invitation_cancel_op(request: HttpRequest, number: str, invitation_id: int) -> Status:
    invitation_cancel(invitation=_invitation(request, invitation_id), actor=request.auth.user)
    return Status(204, None)


@api.post(
    CUSTOMER + "/invitations/{invitation_id}/resend",
    response={204: None, **_PROBLEMS},
    tags=["members"],
    summary="Send a pending invitation again",
)
@requires(Permission.MANAGE_USERS)
def invitation_resend_op(request: HttpRequest, number: str, invitation_id: int) -> Status:
    invitation_resend(invitation=_invitation(request, invitation_id), actor=request.auth.user)
    return Status(204, None)


# --- Shared Web and Elastic ----------------------------------------------------------------------


def _owns(request: HttpRequest, model: str) -> None:
    if model not in licensing_models_owned(customer=request.auth.customer):
        raise Problem(
            HTTPStatus.CONFLICT,
            "licensing_model_not_owned",
            "Not part of this customer's licenses",
            f"This customer has no {model} entitlements.",
        )


@api.get(
    CUSTOMER + "/shared-web/users/",
    response=_responses(s.SharedWebUserPage),
    tags=["shared web"],
    summary="Shared Web users",
)
@requires(Permission.VIEW)
def shared_web_users(request: HttpRequest, number: str, cursor: str | None = None, limit: int = 100) -> dict:
    _owns(request, LicensingModel.SHARED_WEB)
    rows, next_cursor = paginate(shared_web_user_list(customer=request.auth.customer), cursor=cursor, limit=limit)
    return {
        "results": [{"id": u.pk, "email": u.email, "name": u.name, "active": u.active} for u in rows],
        "next_cursor": next_cursor,
    }


@api.post(
    CUSTOMER + "/shared-web/users/",
    response=_responses(s.SharedWebUserOut, 201),
    tags=["shared web"],
    summary="Add a Shared Web user",
)
@requires(Permission.MANAGE_LICENSING_SETTINGS)
def shared_web_user_add_op(request: HttpRequest, number: str, body: s.SharedWebUserIn) -> Status:
    _owns(request, LicensingModel.SHARED_WEB)
    user = shared_web_user_add(
        customer=request.auth.customer, actor=request.auth.user, email=body.email, name=body.name
    )
    return Status(201, {"id": user.pk, "email": user.email, "name": user.name, "active": user.active})


@api.delete(
    CUSTOMER + "/shared-web/users/{user_id}",
    response={204: None, **_PROBLEMS},
    tags=["shared web"],
    summary="Remove a Shared Web user",
)
@requires(Permission.MANAGE_LICENSING_SETTINGS)
def shared_web_user_remove_op(request: HttpRequest, number: str, user_id: int) -> Status:
    _owns(request, LicensingModel.SHARED_WEB)
    user = shared_web_user_get(customer=request.auth.customer, pk=user_id)
    if user is None:
        raise not_found()
    shared_web_user_remove(shared_web_user=user, actor=request.auth.user)
    return Status(204, None)


@api.get(
    CUSTOMER + "/shared-web/groups/",
    response=_responses(list[s.SharedWebGroupOut]),
    tags=["shared web"],
    summary="Shared Web groups and their members",
)
@requires(Permission.VIEW)
def shared_web_groups(request: HttpRequest, number: str) -> list[dict[str, Any]]:
    _owns(request, LicensingModel.SHARED_WEB)
    groups = shared_web_group_list(customer=request.auth.customer).prefetch_related("members")
    return [{"id": g.pk, "name": g.name, "member_ids": sorted(m.pk for m in g.members.all())} for g in groups]


@api.get(CUSTOMER + "/elastic/", response=_responses(s.ElasticOut), tags=["elastic"], summary="The Elastic account")
@requires(Permission.VIEW)
def elastic(request: HttpRequest, number: str) -> dict[str, Any]:
    _owns(request, LicensingModel.ELASTIC)
    account = elastic_account_get(customer=request.auth.customer)
    if account is None:
        raise not_found()
    return {
        "license_server_id": account.license_server_id,
        "monthly_budget_units": account.monthly_budget_units,
        "alert_thresholds": list(account.alert_thresholds or []),
        "alert_recipients": list(account.alert_recipients or []),
    }


# --- Audit events --------------------------------------------------------------------------------


@api.get(
    CUSTOMER + "/audit-events/",
    response=_responses(s.AuditEventPage),
    tags=["audit"],
    summary="The customer's audit events, newest first, filtered as on the audit page",
)
@requires(Permission.VIEW)
def audit_events(
    request: HttpRequest,
    number: str,
    action: str = "",
    actor: str = "",
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
    denied: bool = False,
    cursor: str | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    filters = AuditFilters(
        action=action[:64], actor=actor[:254], date_from=date_from, date_to=date_to, denied_only=denied
    )
    rows, next_cursor = paginate(
        audit_event_list(customer=request.auth.customer, filters=filters), cursor=cursor, limit=limit, descending=True
    )
    return {
        "results": [
            {
                "id": e.pk,
                "created_at": e.created_at,
                "actor": e.actor_email,
                "action": e.action,
                "target": e.target,
                "denied": e.denied,
                "details": e.details,
            }
            for e in rows
        ],
        "next_cursor": next_cursor,
    }


# --- Usage uploads (the usage agent, docs/usage-agent.md) ----------------------------------------


@api.post(
    CUSTOMER + "/usage/uploads",
    response={202: s.UsageUploadsOut, **_PROBLEMS},
    tags=["usage"],
    summary="Push FlexNet debug log lines (plain or gzip) or an `lmstat -a` snapshot as the request body",
    description=(
        "What the usage agent sends with a personal access token: `kind=log` (the default) for debug log "
        "lines, `kind=lmstat` for `lmutil lmstat -a` output; `server` names the license server host the log "
        "comes from when the log does not say. Ingest runs in the background; each upload's figures appear "
        "on the Usage page."
    ),
)
@requires(Permission.CHANGE_LICENSE_SERVER)
def usage_uploads_op(request: HttpRequest, number: str, kind: str = "log", server: str = "") -> Status:
    if kind not in ("log", "lmstat"):
        raise Problem(HTTPStatus.BAD_REQUEST, "invalid_kind", "Invalid kind", "kind is log or lmstat.")
    length = request.headers.get("Content-Length") or "0"
    if not length.isdigit() or int(length) > usage_services.MAX_REQUEST_BYTES:
        raise Problem(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too_large", "Too large", "The body is too large.")

    def body(remaining: int = int(length)) -> Iterator[bytes]:
        # Streamed to disk by the service (request.body would hold a large log in memory).
        while remaining > 0:
            chunk = request.read(min(1 << 20, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk

    customer, actor = request.auth.customer, request.auth.user
    if kind == "lmstat":
        text = b"".join(body())[: usage_services.MAX_LMSTAT_CHARS].decode("utf-8", errors="replace")
        uploads = [usage_services.usage_lmstat_create(customer=customer, actor=actor, text=text)]
    else:
        uploads = usage_services.usage_uploads_create(
            customer=customer,
            actor=actor,
            files=[(f"api: debug log {server}".strip(), body())],
            server_name=server[:255],
        )
    return Status(202, {"uploads": [upload.pk for upload in uploads]})


# The Shared Web and Elastic settings writes register their operations on ``api`` (last: they
# import this module's helpers).
from . import v1_licensing, v1_users  # noqa: E402, F401
