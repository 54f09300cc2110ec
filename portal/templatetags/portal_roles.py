"""``{{ role|role_permission_labels }}``: what a role may do, in the reader's language, from the
matrix (accounts/roles.py) — e.g. in the invitation email, so the invitee knows what they get."""

from __future__ import annotations

from django import template

from accounts.roles import Permission, role_permissions

register = template.Library()


@register.filter
def role_permission_labels(role: str) -> list[str]:
    try:
        granted = role_permissions(role)
    except (KeyError, ValueError):
        return []
    return [permission.label for permission in Permission if permission in granted]
