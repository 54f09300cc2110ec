"""``{% site_header %}``: the page header (brand, customer switcher, language switcher, user
menu, customer navigation), cached per user on customer pages.

The header is the same on every page of a section for a user, and rendering it was most of a
cached landing page's time (docs/performance.md). Its key holds everything it shows: the user,
the language, the customer's data version and the member's role, the section, and the
switcher's customers with their versions. The per-request values, the CSRF token, the
current path and the notification bell (``header_bell``, from an app's context processor:
its count changes without the header's data changing), are rendered as placeholders and
filled in on every request.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import template
from django.middleware.csrf import get_token
from django.template.loader import get_template
from django.utils.crypto import salted_hmac
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeString, mark_safe

from portal.fragments import cached_fragment
from portal.navigation import NavLink, customer_nav

register = template.Library()

# The same in every process that shares the cache, and unguessable (derived from SECRET_KEY), so
# no data shown in the header can contain one.
_CSRF = "csrf-" + salted_hmac("portal.chrome", "csrf").hexdigest()[:32]
_PATH = "path-" + salted_hmac("portal.chrome", "path").hexdigest()[:32]
_BELL = "bell-" + salted_hmac("portal.chrome", "bell").hexdigest()[:32]


@register.simple_tag(takes_context=True)
def site_header(context: template.Context) -> SafeString:
    request = context.get("request")
    header = get_template("includes/site_header.html")
    memberships = getattr(request, "my_memberships", None)
    access = context.get("access")
    if request is None or memberships is None or access is None:
        # Pages outside /c/<n>/ (sign-in, the access page, errors): rendered as they are.
        with context.push(current_path=request.get_full_path() if request else ""):
            return header.template.render(context)
    user = request.user
    match = request.resolver_match
    vary = (
        user.pk,
        user.email,
        user.name,
        user.is_staff,
        access.customer.pk,
        access.customer.data_version,
        access.role,
        match.namespace if match else "",
        tuple((m.customer_id, m.customer.data_version) for m in memberships),
    )

    bell = context.get("header_bell", "")

    def render() -> str:
        with context.push(csrf_token=_CSRF, current_path=_PATH, header_bell=_BELL if bell else ""):
            return header.template.render(context)

    html = cached_fragment(name="site_header", vary=(*vary, bool(bell)), render=render)
    html = html.replace(_CSRF, escape(get_token(request))).replace(_PATH, escape(request.get_full_path()))
    if bell:
        html = html.replace(_BELL, conditional_escape(bell))
    return mark_safe(html)  # noqa: S308 - cached template output; the filled-in values are escaped


@register.simple_tag(takes_context=True)
def customer_nav_links(context: template.Context) -> list[NavLink]:
    """``{% customer_nav_links as links %}``: the customer tabs the member may open."""
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    return customer_nav(context["access"], section=match.namespace if match else "")


@register.simple_tag(takes_context=True)
def activations_absent(context: template.Context, customer: Any) -> str:
    """``{% activations_absent customer as reason %}``: why the customer has no Activations
    section ("no_flexnet" / "not_managed"), or "" when it has one (the visibility rule of
    ``activations.selectors``, cached per data version). A page listing many customers puts
    ``activations_absent_reasons`` (``activations_unavailable_reasons``) in its context so
    that the rule is asked once for all of them."""
    from activations.selectors import activations_unavailable_reason

    reasons = context.get("activations_absent_reasons")
    if reasons is not None and customer.pk in reasons:
        return reasons[customer.pk] or ""
    return activations_unavailable_reason(customer=customer) or ""


@register.simple_tag
def activations_absent_reasons(customers: Iterable[Any]) -> dict[int, str | None]:
    """``{% activations_absent_reasons customers as activations_absent_reasons %}``."""
    from activations.selectors import activations_unavailable_reasons

    return activations_unavailable_reasons(customers=customers)
