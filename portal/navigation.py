"""The customer navigation: every page of ``/c/<n>/`` that has a tab, in one list.

A tab names its page's URL and nothing about access: who sees it is read from the view that
serves that URL (its ``required_permission``, checked against the member's role with the
matrix in ``accounts/roles.py``), so the navigation cannot offer a page the view would refuse
with 403. ``shown`` is for a rule besides the role (the Activations section exists only for
customers whose FlexNet licenses are managed in the portal).

A new app adds its page to the navigation here, and only here (docs/architecture.md).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.urls import resolve, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accounts.roles import Permission
from activations.selectors import activations_visible

if TYPE_CHECKING:
    from accounts.access import CustomerAccess


@dataclass(frozen=True)
class NavItem:
    url_name: str  # "<namespace>:<name>", taking the customer number as its one argument
    label: str | Promise
    shown: Callable[[CustomerAccess], bool] | None = None

    @property
    def section(self) -> str:
        """The URL namespace whose pages mark this tab as the current one."""
        return self.url_name.rpartition(":")[0]

    @property
    def permission(self) -> Permission:
        return view_permission(self.url_name)


def _activations_visible(access: CustomerAccess) -> bool:
    return activations_visible(customer=access.customer)


CUSTOMER_NAV: tuple[NavItem, ...] = (
    NavItem("entitlements:list", _("Entitlements")),
    NavItem("renewals:list", _("Renewals")),
    NavItem("activations:list", _("Activations"), shown=_activations_visible),
    NavItem("usage:index", _("Usage")),
    NavItem("users:list", _("Users")),
    NavItem("licensing_settings:index", _("Settings")),
    NavItem("audit:list", _("Audit log")),
    NavItem("api_tokens:list", _("API tokens")),
    NavItem("webhooks:list", _("Webhooks")),
    NavItem("requests:list", _("Requests")),
)


@functools.cache
def view_permission(url_name: str) -> Permission:
    """The permission the view behind a customer URL declares (fixed for a process)."""
    view_class = getattr(resolve(reverse(url_name, args=["0"])).func, "view_class", None)
    permission = getattr(view_class, "required_permission", None)
    if not isinstance(permission, Permission):
        raise TypeError(f"{url_name} is not served by a CustomerViewMixin view declaring a permission")
    return permission


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str
    current: bool


def customer_nav(access: CustomerAccess, *, section: str = "") -> list[NavLink]:
    """The tabs this member may open, in order; ``section`` is the current URL namespace."""
    number = access.customer.number
    return [
        NavLink(label=str(item.label), url=reverse(item.url_name, args=[number]), current=item.section == section)
        for item in CUSTOMER_NAV
        if access.has(item.permission) and (item.shown is None or item.shown(access))
    ]
