"""The Usage page (every role reads it), its CSV exports, uploads, agent keys and the agent's
upload endpoint. Thin: a form, one service or selector, a message, a redirect."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import TemplateView

from accounts.access import CustomerViewMixin
from accounts.roles import Permission
from portal.csv import csv_response
from portal.errors import PortalError
from portal.fragments import customer_fragment, shared_view

from . import selectors, services
from .charts import MAX_FEATURE_CHARTS, concurrency_charts, heatmap
from .forms import AgentKeyForm, LmstatForm, LogUploadForm, UsageFilterForm, UsageSettingsForm
from .models import AgentKey

EXPORTS = ("features", "periods", "concurrency", "heatmap", "users", "hosts")
AGENT_MAX_BYTES = 256 * 1024 * 1024


def _weekday_names() -> list[str]:
    return [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday")]


class _UsageMixin(CustomerViewMixin):
    def filter_form(self) -> UsageFilterForm:
        today = timezone.localdate()
        servers, features = selectors.usage_choices(customer=self.customer)
        return UsageFilterForm(
            self.request.GET or None,
            servers=servers,
            features=features,
            default_period=selectors.default_period(customer=self.customer, today=today),
        )


class UsageView(_UsageMixin, TemplateView):
    required_permission = Permission.VIEW
    template_name = "usage/index.html"
    new_key: tuple[AgentKey, str] | None = None

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        # The figures depend only on the customer's data (ingest raises its version), the
        # query, the role and the language: rendered once per version for the bounded set of
        # shared queries (portal/fragments.py). Uploads (progress) and forms are per request.
        servers, features = selectors.usage_choices(customer=self.customer)
        choices = {"server": servers, "feature": features, "granularity": selectors.GRANULARITIES}
        if shared_view(self.request.GET, choices=choices):
            content = customer_fragment(
                name="usage",
                customer=self.customer,
                vary=(self.access.role, sorted(self.request.GET.items())),
                render=self.render_content,
            )
        else:
            content = mark_safe(self.render_content())  # noqa: S308 - template output
        can_change = self.access.has(Permission.CHANGE_LICENSE_SERVER)
        context: dict[str, Any] = {
            "content": content,
            "can_change": can_change,
            "uploads": selectors.upload_list(customer=self.customer),
        }
        if can_change:
            settings_ = selectors.usage_settings_of(customer=self.customer)
            context.update(
                upload_form=kwargs.pop("upload_form", None) or LogUploadForm(),
                lmstat_form=kwargs.pop("lmstat_form", None) or LmstatForm(),
                key_form=kwargs.pop("key_form", None) or AgentKeyForm(),
                settings_form=kwargs.pop("settings_form", None)
                or UsageSettingsForm(
                    initial={
                        "retention_months": settings_.retention_months,
                        "pseudonymise_users": settings_.pseudonymise_users,
                    }
                ),
                agent_keys=selectors.agent_key_list(customer=self.customer),
                new_key=self.new_key,
                agent_url=self.request.build_absolute_uri(reverse("usage_agent_upload")),
            )
        return super().get_context_data(**context, **kwargs)

    def render_content(self) -> str:
        today = timezone.localdate()
        form = self.filter_form()
        filters = form.filters()
        summary = selectors.usage_feature_summary(customer=self.customer, filters=filters, today=today)
        shown = [row.feature for row in sorted(summary, key=lambda r: -r.license_hours)][:MAX_FEATURE_CHARTS]
        hourly = (filters.end - filters.start).days < 7
        series = selectors.usage_concurrency(customer=self.customer, filters=filters, features=shown)
        owned = {row.feature: row.owned for row in summary if row.owned}
        return render_to_string(
            "usage/_content.html",
            {
                "customer": self.customer,
                "can_change": self.access.has(Permission.CHANGE_LICENSE_SERVER),
                "form": form,
                "filters": filters,
                "summary": summary,
                "unmatched": [row for row in summary if not row.matched],
                "charts": concurrency_charts(
                    series={f: series.get(f, []) for f in shown},
                    owned=owned,
                    start=filters.start_time,
                    end=filters.end_time,
                    hourly=hourly,
                ),
                "periods": selectors.usage_periods(customer=self.customer, filters=filters),
                "heatmap": heatmap(selectors.usage_heatmap(customer=self.customer, filters=filters), _weekday_names()),
                "top_users": selectors.usage_top(customer=self.customer, filters=filters, kind="user"),
                "top_hosts": selectors.usage_top(customer=self.customer, filters=filters, kind="host"),
                "snapshots": selectors.usage_latest_snapshots(customer=self.customer),
                "export_query": self.request.GET.urlencode(),
            },
        )


class UsageExportView(_UsageMixin, View):
    """Every view of the page as CSV (``?view=features|periods|concurrency|heatmap|users|hosts``)."""

    required_permission = Permission.VIEW

    def get(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        view = request.GET.get("view", "features")
        if view not in EXPORTS:
            raise Http404(_("No such export."))
        filters = self.filter_form().filters()
        header, rows = getattr(self, f"_{view}")(filters)
        name = f"usage-{view}-{self.customer.number}-{filters.start.isoformat()}-{filters.end.isoformat()}.csv"
        return csv_response(name, header, rows)

    def _features(self, filters: selectors.UsageFilters) -> tuple[list[str], Iterable]:
        summary = selectors.usage_feature_summary(customer=self.customer, filters=filters, today=timezone.localdate())
        return (
            [
                _("Feature"),
                _("Owned"),
                _("Peak"),
                _("95th percentile"),
                _("License-hours"),
                _("Checkouts"),
                _("Denials"),
                _("True denials"),
                _("Queued"),
                _("Average queue wait (minutes)"),
                _("Unsupported"),
            ],
            (
                (
                    r.feature,
                    "" if r.owned is None else r.owned,
                    r.peak,
                    r.p95,
                    r.license_hours,
                    r.checkouts,
                    r.denials,
                    r.true_denials,
                    r.queued,
                    r.average_queue_wait_minutes,
                    r.unsupported,
                )
                for r in summary
            ),
        )

    def _periods(self, filters: selectors.UsageFilters) -> tuple[list[str], Iterable]:
        rows = selectors.usage_periods(customer=self.customer, filters=filters)
        return (
            [
                _("Feature"),
                _("Period start"),
                _("Peak"),
                _("95th percentile"),
                _("License-hours"),
                _("Denials"),
                _("True denials"),
            ],
            ((r.feature, r.start.isoformat(), r.peak, r.p95, r.license_hours, r.denials, r.true_denials) for r in rows),
        )

    def _concurrency(self, filters: selectors.UsageFilters) -> tuple[list[str], Iterable]:
        _servers, features = selectors.usage_choices(customer=self.customer)
        features = [filters.feature] if filters.feature else features
        series = selectors.usage_concurrency(customer=self.customer, filters=filters, features=features)
        return (
            [_("Feature"), _("Start"), _("Licenses out")],
            (
                (feature, moment.isoformat(), value)
                for feature, points in sorted(series.items())
                for moment, value in points
            ),
        )

    def _heatmap(self, filters: selectors.UsageFilters) -> tuple[list[str], Iterable]:
        values = selectors.usage_heatmap(customer=self.customer, filters=filters)
        names = _weekday_names()
        return (
            [_("Weekday"), *(f"{h:02d}" for h in range(24))],
            ([names[d - 1], *(values.get((d, h), 0) for h in range(24))] for d in range(1, 8)),
        )

    def _people(self, filters: selectors.UsageFilters, kind: str, label: str) -> tuple[list[str], Iterable]:
        rows = selectors.usage_top(customer=self.customer, filters=filters, kind=kind, limit=1000)
        return (
            [label, _("License-hours"), _("Checkouts"), _("Denials")],
            ((r.name, r.license_hours, r.checkouts, r.denials) for r in rows),
        )

    def _users(self, filters: selectors.UsageFilters) -> tuple[list[str], Iterable]:
        return self._people(filters, "user", _("User"))

    def _hosts(self, filters: selectors.UsageFilters) -> tuple[list[str], Iterable]:
        return self._people(filters, "host", _("Host"))


def _chunks(upload: Any) -> Iterator[bytes]:
    yield from upload.chunks()


class _ChangeView(CustomerViewMixin, View):
    required_permission = Permission.CHANGE_LICENSE_SERVER

    def page(self, **context: Any) -> HttpResponse:
        view = UsageView()
        view.setup(self.request, customer_number=self.customer.number)
        view.customer, view.access = self.customer, self.access
        view.new_key = context.pop("new_key", None)
        return view.render_to_response(view.get_context_data(**context), status=context.pop("status", 200))


class UploadLogsView(_ChangeView):
    def post(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        form = LogUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                uploads = services.usage_uploads_create(
                    customer=self.customer,
                    actor=request.user,
                    files=[(f.name, _chunks(f)) for f in form.cleaned_data["files"]],
                    server_name=form.cleaned_data["server_name"],
                )
            except PortalError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, _("%(n)s file(s) received; reading them now.") % {"n": len(uploads)})
                return redirect(reverse("usage:index", args=[self.customer.number]) + "#uploads")
        return self.page(upload_form=form)


class UploadLmstatView(_ChangeView):
    def post(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        form = LmstatForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                services.usage_lmstat_create(customer=self.customer, actor=request.user, text=form.cleaned_data["text"])
            except PortalError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, _("lmstat snapshot received."))
                return redirect(reverse("usage:index", args=[self.customer.number]) + "#uploads")
        return self.page(lmstat_form=form)


class UploadDeleteView(_ChangeView):
    def post(self, request: HttpRequest, customer_number: str, upload_id: int) -> HttpResponse:
        upload = selectors.upload_get(customer=self.customer, upload_id=upload_id)
        if upload is None:
            raise Http404(_("No such upload."))
        services.usage_upload_delete(customer=self.customer, actor=request.user, upload=upload)
        messages.success(request, _("Upload %(name)s and everything read from it deleted.") % {"name": upload.name})
        return redirect(reverse("usage:index", args=[self.customer.number]) + "#uploads")


class UploadStatusView(CustomerViewMixin, View):
    """Progress of the customer's recent uploads, polled by the page (static/js/usage.js)."""

    required_permission = Permission.VIEW

    def get(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        return JsonResponse(
            {
                "uploads": [
                    {
                        "id": u.pk,
                        "status": u.status,
                        "status_label": u.get_status_display(),
                        "lines_done": u.lines_done,
                        "lines_total": u.lines_total,
                        "percent": u.percent,
                        "events_read": u.events_read,
                        "events_new": u.events_new,
                        "skipped": u.skipped_count,
                    }
                    for u in selectors.upload_list(customer=self.customer)
                ]
            }
        )


class AgentKeyCreateView(_ChangeView):
    def post(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        form = AgentKeyForm(request.POST)
        if form.is_valid():
            try:
                key, raw = services.usage_agent_key_create(
                    customer=self.customer, actor=request.user, server_name=form.cleaned_data["server_name"]
                )
            except PortalError as error:
                form.add_error("server_name", error.message)
            else:
                # Shown once, on this response only: not stored, not in a message cookie.
                response = self.page(new_key=(key, raw))
                response["Cache-Control"] = "no-store"
                return response
        return self.page(key_form=form)


class AgentKeyRevokeView(_ChangeView):
    def post(self, request: HttpRequest, customer_number: str, key_id: int) -> HttpResponse:
        key = selectors.agent_key_get(customer=self.customer, key_id=key_id)
        if key is None:
            raise Http404(_("No such key."))
        services.usage_agent_key_revoke(customer=self.customer, actor=request.user, key=key)
        messages.success(request, _("Agent key revoked."))
        return redirect(reverse("usage:index", args=[self.customer.number]) + "#agent")


class UsageSettingsView(_ChangeView):
    def post(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        form = UsageSettingsForm(request.POST)
        if form.is_valid():
            try:
                services.usage_settings_update(customer=self.customer, actor=request.user, **form.cleaned_data)
            except PortalError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, _("Usage privacy settings saved."))
                return redirect(reverse("usage:index", args=[self.customer.number]) + "#privacy")
        return self.page(settings_form=form)


AGENT_FILE = Path(__file__).resolve().parent.parent / "agent" / "portal_usage_agent.py"


class AgentDownloadView(CustomerViewMixin, View):
    """The agent script (stdlib Python, docs/usage-agent.md)."""

    required_permission = Permission.VIEW

    def get(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        response = HttpResponse(AGENT_FILE.read_bytes(), content_type="text/x-python; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="portal_usage_agent.py"'
        return response


@method_decorator(csrf_exempt, name="dispatch")
class AgentUploadView(View):
    """POST /usage/agent/upload/?kind=log|lmstat: the agent's push, authenticated only by
    ``Authorization: Bearer <upload key>`` (no session, no CSRF). The body is the raw log
    lines (plain or gzip) or the lmstat output; streamed to disk, at most AGENT_MAX_BYTES."""

    def post(self, request: HttpRequest) -> HttpResponse:
        key = services.usage_agent_key_by_header(authorization=request.headers.get("Authorization", ""))
        if key is None:
            response = JsonResponse({"error": "invalid or revoked key"}, status=HTTPStatus.UNAUTHORIZED)
            response["WWW-Authenticate"] = 'Bearer realm="usage"'
            return response
        kind = request.GET.get("kind", "log")
        if kind not in ("log", "lmstat"):
            return JsonResponse({"error": "kind must be log or lmstat"}, status=HTTPStatus.BAD_REQUEST)
        try:
            length = int(request.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > AGENT_MAX_BYTES:
            return JsonResponse({"error": "body too large"}, status=HTTPStatus.REQUEST_ENTITY_TOO_LARGE)

        def body() -> Iterator[bytes]:
            remaining = length
            while remaining > 0:
                chunk = request.read(min(1 << 20, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                yield chunk

        if kind == "lmstat":
            text = b"".join(body())[: services.MAX_LMSTAT_CHARS].decode("utf-8", errors="replace")
            uploads = services.usage_agent_upload(key=key, log=None, lmstat=text)
        else:
            uploads = services.usage_agent_upload(key=key, log=body(), lmstat=None)
        return JsonResponse(
            {"uploads": [u.pk for u in uploads], "received": timezone.now().isoformat()}, status=HTTPStatus.ACCEPTED
        )
