"""The role matrix is stated once and every consumer agrees with it."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.urls import reverse

from accounts.roles import GRANTABLE_ROLES, PERMISSION_LABELS, ROLE_PERMISSIONS, Permission, Role, has_permission
from tests.factories import MembershipFactory, UserFactory

# DESIGN.md's table, copied by hand on purpose: the independent statement of the product's
# core rule that the code (ROLE_PERMISSIONS) and the help page are checked against.
DESIGN_TABLE = {  # permission: (ASC, Administrator, Viewer)
    Permission.VIEW: ("x", "x", "x"),
    Permission.DOWNLOAD_LICENSE_FILES: ("x", "x", "x"),
    Permission.CHANGE_LICENSE_SERVER: ("x", "x", ""),
    Permission.ACTIVATE_ENTITLEMENTS: ("x", "x", ""),
    Permission.MANAGE_USERS: ("x", "x", ""),
    Permission.MANAGE_LICENSING_SETTINGS: ("x", "x", ""),
    Permission.RECEIVE_NOTIFICATIONS: ("x", "", ""),
    # Issue 12 (not yet in DESIGN.md's table): only an ASC turns off the MFA requirement.
    Permission.TURN_OFF_MFA_REQUIREMENT: ("x", "", ""),
    # Issue 16 (not yet in DESIGN.md's table): only an ASC oversees every API token and the webhooks.
    Permission.MANAGE_API_ACCESS: ("x", "", ""),
}
DESIGN_ROLES = (Role.ASC, Role.ADMINISTRATOR, Role.VIEWER)


def _design_grants() -> dict[Role, set[Permission]]:
    return {
        role: {permission for permission, marks in DESIGN_TABLE.items() if marks[column] == "x"}
        for column, role in enumerate(DESIGN_ROLES)
    }


def test_matrix_matches_design_table() -> None:
    assert set(DESIGN_TABLE) == set(Permission) == set(PERMISSION_LABELS)
    assert set(DESIGN_ROLES) == set(Role)
    assert {role: set(permissions) for role, permissions in ROLE_PERMISSIONS.items()} == _design_grants()
    assert Role.ASC not in GRANTABLE_ROLES


@pytest.mark.django_db
def test_inactive_user_has_no_permission() -> None:
    membership = MembershipFactory(role=Role.ASC, user=UserFactory(is_active=False))
    assert not any(has_permission(membership, permission) for permission in Permission)
    assert not has_permission(None, Permission.VIEW)


@pytest.mark.django_db
def test_help_page_renders_the_mapping(client) -> None:
    response = client.get(reverse("roles_help"))
    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    table = html[html.index('id="role-matrix"') :]
    header_roles = re.findall(r'data-role="([a-z_]+)"', table)
    assert header_roles == [role.value for role in Role]
    rendered: dict[Role, set[Permission]] = {role: set() for role in Role}
    for permission_value, row in re.findall(r'<tr data-permission="([a-z_]+)">(.*?)</tr>', table, re.S):
        cells = re.findall(r'<td class="matrix__cell">(.*?)</td>', row, re.S)
        assert len(cells) == len(Role)
        for role, cell in zip(Role, cells, strict=True):
            if 'class="yes"' in cell:
                rendered[role].add(Permission(permission_value))
    # Against DESIGN.md's table, not against the mapping the page was rendered from.
    assert rendered == _design_grants()
