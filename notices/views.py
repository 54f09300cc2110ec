"""Renewals tab, calendar, notifications page, preferences and unsubscribe links. Thin:
selectors read, one service writes."""

from __future__ import annotations

import datetime
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.generic import TemplateView

from accounts.access import CustomerViewMixin
from accounts.roles import Permission
from portal.csv import csv_response

from . import ical, selectors, services
from .forms import MarkReadForm, PreferencesForm
from .models import Category, Frequency, Kind
from .rules import describe, lapse_cost, short_title
from .unsubscribe import UnsubscribeError, unsubscribe_read

PAGE_SIZE = 25


def _horizon(today: datetime.date) -> datetime.date:
    """Twelve months from today, to the day (the 28th for a 29 February)."""
    try:
        return today.replace(year=today.year + 1)
    except ValueError:
        return today.replace(year=today.year + 1, day=28)


def _utilisation(line) -> int | None:
    """Activated share of the line where the portal knows it (not for consumed Elastic units)."""
    if line.product.licensing_model == "elastic" or not line.quantity:
        return None
    return round(line.activated * 100 / line.quantity)


def _rows(customer, today: datetime.date) -> list[dict[str, Any]]:
    dates = selectors.renewal_dates(customer=customer, start=today, end=_horizon(today))
    recommendations = selectors.recommendations_for(
        customer=customer, lines=list({d.line.pk: d.line for d in dates}.values()), today=today
    )
    return [
        {
            "date": d.date,
            "month": d.date.replace(day=1),
            "kind": d.kind,
            "kind_label": Kind(d.kind).label,
            "line": d.line,
            "renewed": d.renewed,
            "utilisation": _utilisation(d.line),
            "title": short_title(
                kind=d.kind,
                data={"product": d.line.product.name, "line_id": d.line.line_id, "quantity": d.line.quantity},
            ),
            "recommendation": recommendations.get(d.line.pk, ""),
        }
        for d in dates
    ]


class RenewalsView(CustomerViewMixin, TemplateView):
    """What ends in the next 12 months, by month; the private calendar feed is linked here."""

    required_permission = Permission.VIEW
    template_name = "notices/renewals.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        today = timezone.localdate()
        rows = _rows(self.customer, today)
        months: dict[datetime.date, list] = {}
        for row in rows:
            months.setdefault(row["month"], []).append(row)
        found = selectors.renewal_settings_get(customer=self.customer)
        feed_url = ""
        if found and found.calendar_token:
            feed_url = self.request.build_absolute_uri(reverse("notices:calendar_feed", args=[found.calendar_token]))
        return super().get_context_data(
            months=[{"month": m, "rows": r, "quantity": sum(x["line"].quantity for x in r)} for m, r in months.items()],
            horizon=_horizon(today),
            feed_url=feed_url,
            renewal_settings=found,
            **kwargs,
        )


class RenewalsExportView(CustomerViewMixin, View):
    required_permission = Permission.VIEW

    def get(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        header = [
            _("Month"),
            _("Date"),
            _("What ends"),
            _("Line"),
            _("Product"),
            _("Feature"),
            _("Quantity"),
            _("Activated"),
            _("Utilisation (%)"),
            _("Renewed"),
            _("Recommendation"),
        ]
        rows = (
            (
                row["month"].strftime("%Y-%m"),
                row["date"].isoformat(),
                row["kind_label"],
                row["line"].line_id,
                row["line"].product.name,
                row["line"].product.feature,
                row["line"].quantity,
                row["line"].activated,
                "" if row["utilisation"] is None else row["utilisation"],
                _("yes") if row["renewed"] else _("no"),
                row["recommendation"],
            )
            for row in _rows(self.customer, timezone.localdate())
        )
        return csv_response(f"renewals-{self.customer.number}.csv", header, rows)


def _ics_response(body: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


def _domain() -> str:
    return settings.PORTAL_BASE_URL.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "license-portal"


def _calendar(customer, dates, url: str) -> str:
    events = ical.events_from(dates, domain=_domain(), url=url, title=short_title, cost=lapse_cost)
    name = _("%(brand)s renewals: %(customer)s") % {"brand": settings.PORTAL_BRAND_NAME, "customer": customer.name}
    return ical.calendar(name=name, events=events, stamp=timezone.now())


class LineCalendarView(CustomerViewMixin, View):
    """One line's end and TECS dates as an .ics download."""

    required_permission = Permission.VIEW

    def get(self, request: HttpRequest, customer_number: str, line_id: str) -> HttpResponse:
        line = selectors.line_get(customer=self.customer, line_id=line_id)
        if line is None:
            raise Http404(_("No such line."))
        dates = [
            d for d in selectors.renewal_dates(customer=self.customer, start=datetime.date.min) if d.line.pk == line.pk
        ]
        url = settings.PORTAL_BASE_URL + reverse("renewals:list", args=[self.customer.number])
        return _ics_response(_calendar(self.customer, dates, url), f"{line.line_id}.ics")


class CalendarRotateView(CustomerViewMixin, View):
    """A new secret URL for the calendar feed (old ones stop working), or none."""

    required_permission = Permission.MANAGE_LICENSING_SETTINGS
    http_method_names = ["post"]

    def post(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        revoke = request.POST.get("action") == "revoke"
        services.calendar_token_rotate(customer=self.customer, actor=request.user, revoke=revoke)
        messages.success(
            request,
            _("The calendar feed was turned off.")
            if revoke
            else _("A new calendar feed address was made; the old one no longer works."),
        )
        return redirect("renewals:list", self.customer.number)


@require_GET
@never_cache
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    """The customer's private feed: the secret in the URL is the only credential."""
    customer = selectors.calendar_customer(token=token)
    if customer is None:
        raise Http404(_("This calendar address is not valid (any more)."))
    dates = selectors.calendar_dates(customer=customer, today=timezone.localdate())
    url = settings.PORTAL_BASE_URL + reverse("renewals:list", args=[customer.number])
    return _ics_response(_calendar(customer, dates, url), f"renewals-{customer.number}.ics")


# --- The person's notifications ----------------------------------------------------------------


def _link(notification) -> str:
    number = notification.data.get("customer_number") or (notification.customer.number if notification.customer else "")
    if notification.kind != Kind.MESSAGE and number:
        return reverse("renewals:list", args=[number])
    return ""


@login_required
def notifications_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.notifications_of(user=request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    today = timezone.localdate()
    items = []
    for n in page.object_list:
        described = describe(kind=n.kind, data=n.data, today=today)
        items.append({"n": n, "title": described.title, "body": described.cost, "link": _link(n)})
    return render(request, "notices/list.html", {"page": page, "items": items})


@login_required
@require_POST
def notifications_read(request: HttpRequest) -> HttpResponse:
    form = MarkReadForm(request.POST)
    ids = None
    if form.is_valid() and form.cleaned_data["notification"]:
        ids = [form.cleaned_data["notification"]]
    count = services.notifications_mark_read(user=request.user, ids=ids)
    if ids is None:
        messages.success(request, _("All notifications are marked read."))
    elif count:
        messages.success(request, _("The notification is marked read."))
    page = request.POST.get("page", "")
    return redirect(reverse("notices:list") + (f"?page={page}" if page.isdigit() else ""))


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    current = selectors.preferences_of(user=request.user)
    form = PreferencesForm(request.POST or None, initial_choices=current)
    if request.method == "POST" and form.is_valid():
        services.preferences_set(user=request.user, choices=form.choices())
        messages.success(request, _("Your notification settings are saved."))
        return redirect("notices:settings")
    return render(
        request,
        "notices/settings.html",
        {
            "form": form,
            "receives_required": selectors.receives_matrix_emails(user=request.user),
        },
    )


_REASONS = {  # lazy: translated in the language of each request
    "forged": gettext_lazy("This unsubscribe link is not valid: it was changed or made up. Nothing was changed."),
    "expired": gettext_lazy("This unsubscribe link has expired. Nothing was changed; sign in to change your settings."),
    "unknown": gettext_lazy(
        "This unsubscribe link does not belong to an active account with this address. Nothing was changed."
    ),
    "other_user": gettext_lazy(
        "This unsubscribe link belongs to another account than the one you are signed in with. Nothing was changed."
    ),
}


@csrf_exempt  # RFC 8058: the mail client POSTs without a session or a token; the signed URL is the credential
@require_http_methods(["GET", "POST"])
@never_cache
def unsubscribe_link(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows what the link would do (mail scanners follow links: GET changes nothing);
    POST (the page's button, or the mail client's one-click) does it."""
    try:
        found = unsubscribe_read(token)
    except UnsubscribeError as exc:
        return render(
            request, "notices/unsubscribe.html", {"error": _REASONS[exc.reason]}, status=HTTPStatus.BAD_REQUEST
        )
    if request.user.is_authenticated and request.user.pk != found.user.pk:
        return render(
            request, "notices/unsubscribe.html", {"error": _REASONS["other_user"]}, status=HTTPStatus.FORBIDDEN
        )
    category_label = Category(found.category).label
    if request.method == "POST":
        services.unsubscribe(user=found.user, category=found.category)
        return render(
            request,
            "notices/unsubscribe.html",
            {"done": True, "category_label": category_label, "email": found.user.email},
        )
    return render(
        request,
        "notices/unsubscribe.html",
        {"category_label": category_label, "email": found.user.email, "never": Frequency.NEVER.label},
    )
