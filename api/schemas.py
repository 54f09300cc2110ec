"""Request and response bodies of /api/v1/ (the OpenAPI document is generated from these)."""

from __future__ import annotations

import datetime

from ninja import Field, Schema

from accounts.roles import Role


class ProblemOut(Schema):
    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str


class TokenInfoOut(Schema):
    customer: str
    name: str
    prefix: str
    role: str
    owner: str
    owner_role: str
    permissions: list[str]
    expires_at: datetime.datetime


class EntitlementOut(Schema):
    id: int
    line_id: str
    order_number: str
    product: str
    feature: str
    licensing_model: str
    quantity: int
    activated: int
    available: int
    start_date: datetime.date
    end_date: datetime.date | None
    tecs_end_date: datetime.date | None
    borrowable: bool
    status: str


class EntitlementPage(Schema):
    results: list[EntitlementOut]
    next_cursor: str | None


class HostIn(Schema):
    host_name: str = Field(..., max_length=255)
    hostid_type: str = Field(..., max_length=16, description="ETHER, DISK_SERIAL_NUM or FLEXID")
    host_id: str = Field(..., max_length=64)


class HostOut(Schema):
    position: int
    host_name: str
    hostid_type: str
    host_id: str


class ServerOut(Schema):
    id: int
    name: str
    lmgrd_port: int
    vendor_port: int | None
    hosts: list[HostOut]
    created_at: datetime.datetime


class ServerPage(Schema):
    results: list[ServerOut]
    next_cursor: str | None


class ServerCreateIn(Schema):
    name: str = Field(..., max_length=60)
    hosts: list[HostIn] = Field(..., min_length=1, max_length=3)
    lmgrd_port: int = Field(1055, ge=1, le=65535)
    vendor_port: int | None = Field(None, ge=1, le=65535)


class ServerChangeIn(Schema):
    name: str = Field(..., max_length=60)
    host_names: list[str] = Field(..., min_length=1, max_length=3)
    lmgrd_port: int = Field(1055, ge=1, le=65535)
    vendor_port: int | None = Field(None, ge=1, le=65535)


class RehostIn(Schema):
    hosts: list[HostIn] = Field(..., min_length=1, max_length=3)


class LicenseFileOut(Schema):
    version: int
    reason: str
    created_at: datetime.datetime
    created_by: str | None
    download_url: str


class LicenseFilePage(Schema):
    results: list[LicenseFileOut]
    next_cursor: str | None


class ActivationOut(Schema):
    entitlement_id: int
    line_id: str
    feature: str
    quantity: int
    borrowable: bool
    updated_at: datetime.datetime


class ActivationLineIn(Schema):
    entitlement_id: int
    quantity: int = Field(..., ge=0, le=1_000_000)
    borrowable: bool = False
    expected: int | None = Field(
        None, ge=0, description="The quantity you saw on this server (from the plan); a different one refuses."
    )


class ActivationChangeIn(Schema):
    lines: list[ActivationLineIn] = Field(..., min_length=1, max_length=20_000)


class PlanLineOut(Schema):
    entitlement_id: int
    line_id: str
    feature: str
    current: int
    wanted: int
    delta: int
    borrowable: bool
    available_after: int
    errors: list[str]


class PlanOut(Schema):
    applicable: bool
    changes: list[PlanLineOut]


class AppliedChangeOut(Schema):
    line_id: str
    feature: str
    before: int
    after: int
    delta: int
    borrowable: bool


class ApplyOut(Schema):
    changed: bool
    already_applied: bool = Field(..., description="True when this Idempotency-Key was applied before")
    license_file_version: int
    changes: list[AppliedChangeOut]


class VerifyIn(Schema):
    content: str = Field(..., max_length=2_000_000)


class VerifyFailureOut(Schema):
    line: int
    reason: str


class VerifyOut(Schema):
    valid: bool
    failures: list[VerifyFailureOut]


class MemberOut(Schema):
    id: int
    email: str
    name: str
    role: str
    since: datetime.datetime


class MemberPage(Schema):
    results: list[MemberOut]
    next_cursor: str | None


class MemberAddIn(Schema):
    email: str = Field(..., max_length=254)
    role: Role = Role.VIEWER


class RoleIn(Schema):
    role: Role


class InvitationOut(Schema):
    id: int
    email: str
    role: str
    created_at: datetime.datetime
    last_sent_at: datetime.datetime | None


class InvitationPage(Schema):
    results: list[InvitationOut]
    next_cursor: str | None


class MemberAddOut(Schema):
    outcome: str = Field(
        ...,
        description=(
            "invited: an invitation was emailed, the person joins when they accept it; the same answer whether "
            "or not the address has an account. added: only for support staff, who add an existing account at once."
        ),
    )
    id: int = Field(..., description="The invitation's id (the membership's, for added)")
    invitation: InvitationOut | None = Field(None, description="The pending invitation, as GET /invitations/ lists it")


class SharedWebUserOut(Schema):
    id: int
    email: str
    name: str
    active: bool


class SharedWebUserPage(Schema):
    results: list[SharedWebUserOut]
    next_cursor: str | None


class SharedWebUserIn(Schema):
    email: str = Field(..., max_length=254)
    name: str = Field("", max_length=150)


class SharedWebGroupOut(Schema):
    id: int
    name: str
    member_ids: list[int]


class SharedWebUserChangeIn(Schema):
    email: str = Field(..., max_length=254)
    name: str = Field("", max_length=150)


class PreviewedImportIn(Schema):
    """An import page's two steps: the lines, and the preview's digest to apply them."""

    csv: str = Field(..., max_length=2_000_000)
    digest: str | None = Field(
        None, max_length=64, description="Leave out for the preview; send the preview's digest back to apply it"
    )


class SharedWebImportIn(PreviewedImportIn):
    csv: str = Field(
        ...,
        max_length=2_000_000,
        description="Lines of email,name (a header line, ; or tab separators allowed), as on the import page",
    )


class ImportLineOut(Schema):
    line: int
    email: str
    name: str
    outcome: str
    reason: str


class SharedWebImportOut(Schema):
    applied: bool
    digest: str
    lines: list[ImportLineOut]


class GroupNameIn(Schema):
    name: str = Field(..., max_length=100)


class GroupMembersIn(Schema):
    member_ids: list[int] = Field(..., max_length=10_000, description="The Shared Web user ids, all of them")


class SeatsIn(Schema):
    seats: int = Field(..., ge=0, le=1_000_000_000)


class SeatReservationOut(Schema):
    entitlement_id: int
    line_id: str
    seats: int


class SharedWebGroupDetailOut(Schema):
    id: int
    name: str
    member_ids: list[int]
    seats: list[SeatReservationOut]


class GroupSeatsOut(Schema):
    group_id: int
    group: str
    seats: int


class SeatLineOut(Schema):
    entitlement_id: int
    line_id: str
    product: str
    quantity: int
    reserved: int
    unreserved: int
    reservations: list[GroupSeatsOut]


class SeatsOut(Schema):
    seats: int


class ElasticOut(Schema):
    license_server_id: str
    monthly_budget_units: int | None
    alert_thresholds: list[int]
    alert_recipients: list[str] = []


class ElasticBudgetIn(Schema):
    monthly_budget_units: int | None = Field(..., description="Elastic units a month; null for no budget")
    alert_thresholds: list[int] = Field(..., max_length=100, description="Whole percentages, 1 to 100")
    alert_recipients: list[str] = Field([], max_length=100, description="Extra email addresses for the alerts")


class ElasticPinOut(Schema):
    license_server_id: str
    pin: str
    pin_changed_at: datetime.datetime


class AuditEventOut(Schema):
    id: int
    created_at: datetime.datetime
    actor: str
    action: str
    target: str
    denied: bool
    details: dict


class AuditEventPage(Schema):
    results: list[AuditEventOut]
    next_cursor: str | None


class UsageUploadsOut(Schema):
    uploads: list[int]


class MemberBulkIn(PreviewedImportIn):
    csv: str = Field(
        ...,
        max_length=2_000_000,
        description="Lines of email,role (a header line, ; or tab separators allowed), as on the bulk add page",
    )


class MemberBulkLineOut(Schema):
    line: int
    email: str
    role: str
    outcome: str
    reason: str


class MemberBulkOut(Schema):
    applied: bool
    digest: str
    lines: list[MemberBulkLineOut]


class MfaRequirementIn(Schema):
    required: bool


class MfaRequirementOut(Schema):
    required: bool
