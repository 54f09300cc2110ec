"""The role matrix is stated once and every consumer agrees with it."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.urls import reverse

from accounts.roles import GRANTABLE_ROLES, PERMISSION_LABELS, ROLE_PERMISSIONS, Permission, Role, has_permission
from tests.factories import MembershipFactory, UserFactory


def test_matrix_matches_design_table() -> None:
    # DESIGN.md's table, read column by column: the product's core rule.
    assert ROLE_PERMISSIONS[Role.VIEWER] == {Permission.VIEW, Permission.DOWNLOAD_LICENSE_FILES}
    # Beyond DESIGN.md's table (issue 12): only an ASC turns off the MFA requirement.
    assert ROLE_PERMISSIONS[Role.ADMINISTRATOR] == set(Permission) - {
        Permission.RECEIVE_NOTIFICATIONS, Permission.TURN_OFF_MFA_REQUIREMENT,
    }
    assert ROLE_PERMISSIONS[Role.ASC] == set(Permission)
    assert set(PERMISSION_LABELS) == set(Permission)
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
    assert rendered == {role: set(permissions) for role, permissions in ROLE_PERMISSIONS.items()}
