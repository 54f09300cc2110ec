from __future__ import annotations

from django.views.generic import TemplateView

from accounts.access import CustomerViewMixin
from accounts.roles import Permission


class ServerListView(CustomerViewMixin, TemplateView):
    required_permission = Permission.VIEW
    template_name = "activations/list.html"
