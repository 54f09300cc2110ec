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
    from .models import Membership


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
    Role.ASC: _MANAGE | {Permission.RECEIVE_NOTIFICATIONS, Permission.TURN_OFF_MFA_REQUIREMENT},
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
