from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views import View
from django.views.generic import TemplateView

from .access import CustomerViewMixin
from .roles import PERMISSION_LABELS, ROLE_PERMISSIONS, Permission, Role, role_permissions
from .selectors import memberships_for_user


class AccessView(LoginRequiredMixin, TemplateView):
    """License Portal Access: every customer the user is linked to, or how to get access."""

    template_name = "accounts/access.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        memberships = memberships_for_user(user=self.request.user)
        rows = [
            {
                "membership": membership,
                "customer": membership.customer,
                "role": Role(membership.role),
                "permissions": [
                    permission.label for permission in Permission if permission in role_permissions(membership.role)
                ],
            }
            for membership in memberships
        ]
        return super().get_context_data(rows=rows, **kwargs)


class RolesHelpView(TemplateView):
    """The role–permission matrix, rendered from ``ROLE_PERMISSIONS``."""

    template_name = "accounts/roles_help.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        roles = list(Role)
        matrix = [
            {"permission": permission, "label": PERMISSION_LABELS[permission],
             "cells": [permission in ROLE_PERMISSIONS[role] for role in roles]}
            for permission in Permission
        ]
        return super().get_context_data(roles=roles, matrix=matrix, **kwargs)


class CustomerHomeView(CustomerViewMixin, View):
    required_permission = Permission.VIEW

    def get(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        return redirect("entitlements:list", customer_number=customer_number)


class UserListView(CustomerViewMixin, TemplateView):
    required_permission = Permission.VIEW
    template_name = "accounts/users.html"


class AuditLogView(CustomerViewMixin, TemplateView):
    required_permission = Permission.VIEW
    template_name = "accounts/audit.html"
