"""The role–permission matrix: the product's core rule, stated exactly once.

Views, templates, navigation, services, notifications, the help page and the tests all ask
this module. Nothing else decides who may do what on a customer.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING

from django.db import models
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from .models import Membership, User


class Role(models.TextChoices):
    # Stable string values: they are stored in the database and appear in CSV imports.
    ASC = "asc", _("Support Coordinator (ASC)")
    ADMINISTRATOR = "administrator", _("License Portal Administrator")
    VIEWER = "viewer", _("License Portal Viewer")


class Permission(enum.Enum):
    VIEW = "view"
    DOWNLOAD_LICENSE_FILES = "download_license_files"
    CHANGE_LICENSE_SERVER = "change_license_server"
    ACTIVATE_ENTITLEMENTS = "activate_entitlements"
    MANAGE_USERS = "manage_users"
    MANAGE_LICENSING_SETTINGS = "manage_licensing_settings"
    RECEIVE_NOTIFICATIONS = "receive_notifications"
    TURN_OFF_MFA_REQUIREMENT = "turn_off_mfa_requirement"
    MANAGE_API_ACCESS = "manage_api_access"

    @property
    def label(self) -> str:
        return str(PERMISSION_LABELS[self])


# In the order of DESIGN.md's table; the help page and the access page list them this way.
PERMISSION_LABELS: Mapping[Permission, str] = {
    Permission.VIEW: _("Read-only access to all portal menus and settings"),
    Permission.DOWNLOAD_LICENSE_FILES: _("Download existing license files"),
    Permission.CHANGE_LICENSE_SERVER: _("Change / rehost license server"),
    Permission.ACTIVATE_ENTITLEMENTS: _("Activate entitlements"),
    Permission.MANAGE_USERS: _("Add portal users (excluding the ASC role)"),
    Permission.MANAGE_LICENSING_SETTINGS: _("Add / manage Shared Web and Elastic licensing settings"),
    Permission.RECEIVE_NOTIFICATIONS: _("Emailed about all new server activations and user modifications"),
    # Issue 12: an Administrator may require two-factor authentication, only an ASC may drop it.
    Permission.TURN_OFF_MFA_REQUIREMENT: _("Turn off the two-factor authentication requirement"),
    # Issue 16: the ASC sees and revokes every API token of the customer and registers its webhooks.
    Permission.MANAGE_API_ACCESS: _("See and revoke every API token; manage webhooks"),
}

_MANAGE = frozenset(
    {
        Permission.VIEW,
        Permission.DOWNLOAD_LICENSE_FILES,
        Permission.CHANGE_LICENSE_SERVER,
        Permission.ACTIVATE_ENTITLEMENTS,
        Permission.MANAGE_USERS,
        Permission.MANAGE_LICENSING_SETTINGS,
    }
)

ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.ASC: _MANAGE
    | {Permission.RECEIVE_NOTIFICATIONS, Permission.TURN_OFF_MFA_REQUIREMENT, Permission.MANAGE_API_ACCESS},
    Role.ADMINISTRATOR: _MANAGE,
    Role.VIEWER: frozenset({Permission.VIEW, Permission.DOWNLOAD_LICENSE_FILES}),
}

# Roles a portal user may grant to a colleague. The ASC is designated by support only.
GRANTABLE_ROLES: tuple[Role, ...] = (Role.ADMINISTRATOR, Role.VIEWER)


def role_permissions(role: Role | str) -> frozenset[Permission]:
    return ROLE_PERMISSIONS[Role(role)]


def has_permission(membership: Membership | None, permission: Permission) -> bool:
    """The single access decision: does this membership's role carry the permission?"""
    if membership is None or not membership.user.is_active:
        return False
    return permission in role_permissions(membership.role)


def roles_with(permission: Permission) -> tuple[Role, ...]:
    return tuple(role for role in Role if permission in ROLE_PERMISSIONS[role])


# --- The reseller's support staff: a second matrix beside the customer one ---------------
#
# A staff role is held through a Django group named after the role's value ("support_agent",
# "support_manager"), on an active ``is_staff`` account; a superuser is a manager. Groups and
# not a field on User: the support console already edits a user's groups, no migration of
# ``accounts`` is needed, and a staff member's role changes without a deploy. A staff account
# in no support group holds no staff role (deny by default): the cockpit answers 403.


class StaffRole(models.TextChoices):
    AGENT = "support_agent", _("Support agent")
    MANAGER = "support_manager", _("Support manager")


class StaffPermission(enum.Enum):
    VIEW_CUSTOMERS = "view_customers"  # the cockpit, its queues and every customer 360
    VIEW_AS_CUSTOMER = "view_as_customer"  # "see as customer", read-only
    MANAGE_CUSTOMERS = "manage_customers"  # designate an ASC, FlexNet management on/off
    HANDLE_REQUESTS = "handle_requests"  # comment on customers' requests, mark them done
    APPROVE_REQUESTS = "approve_requests"  # approve or reject a request
    ISSUE_EMERGENCY_LICENSES = "issue_emergency_licenses"

    @property
    def label(self) -> str:
        return str(STAFF_PERMISSION_LABELS[self])


STAFF_PERMISSION_LABELS: Mapping[StaffPermission, str] = {
    StaffPermission.VIEW_CUSTOMERS: _("See every customer, the queues and the customer pages"),
    StaffPermission.VIEW_AS_CUSTOMER: _("See a customer's portal as one of its roles, read-only"),
    StaffPermission.MANAGE_CUSTOMERS: _("Designate the ASC and turn FlexNet management on or off"),
    StaffPermission.HANDLE_REQUESTS: _("Comment on customers' requests and mark them done"),
    StaffPermission.APPROVE_REQUESTS: _("Approve or reject customers' requests"),
    StaffPermission.ISSUE_EMERGENCY_LICENSES: _("Issue emergency licenses"),
}

_AGENT = frozenset(
    {
        StaffPermission.VIEW_CUSTOMERS,
        StaffPermission.VIEW_AS_CUSTOMER,
        StaffPermission.MANAGE_CUSTOMERS,
        StaffPermission.HANDLE_REQUESTS,
    }
)

STAFF_ROLE_PERMISSIONS: Mapping[StaffRole, frozenset[StaffPermission]] = {
    StaffRole.AGENT: _AGENT,
    StaffRole.MANAGER: _AGENT | {StaffPermission.APPROVE_REQUESTS, StaffPermission.ISSUE_EMERGENCY_LICENSES},
}


def staff_role(user: User) -> StaffRole | None:
    """The staff role of an account (cached on it): manager for a superuser, else the highest
    support group it is in; None for anyone who is not active staff or is in no support group."""
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return None
    if user.is_superuser:
        return StaffRole.MANAGER
    cached = getattr(user, "_staff_role", False)
    if cached is not False:
        return cached
    names = set(user.groups.filter(name__in=StaffRole.values).values_list("name", flat=True))
    role = next((r for r in (StaffRole.MANAGER, StaffRole.AGENT) if r.value in names), None)
    user._staff_role = role
    return role


def has_staff_permission(user: User, permission: StaffPermission) -> bool:
    """The single staff access decision: does this account's staff role carry the permission?"""
    role = staff_role(user)
    return role is not None and permission in STAFF_ROLE_PERMISSIONS[role]
