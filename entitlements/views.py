"""The entitlements page (every role's landing page) and its CSV export."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.safestring import mark_safe
from django.views import View
from django.views.generic import TemplateView

from accounts.access import CustomerViewMixin
from accounts.roles import Permission
from portal.csv import csv_response
from portal.fragments import customer_fragment, customer_value, shared_view

from .charts import entitlement_expiry_timeline, entitlement_usage_chart
from .forms import EntitlementFilterForm
from .licensing.selectors import elastic_pool
from .models import EntitlementStatus, LicensingModel
from .rows import PAGE_COLUMNS, entitlement_csv_header, entitlement_csv_rows, entitlement_rows_html
from .selectors import ENTITLEMENT_SORTS, entitlement_list

PAGE_SIZE = 50


def entitlement_recommendations(**kwargs: Any) -> dict[int, Any]:
    """What the lines' measured use recommends, from the app named by
    settings.PORTAL_ENTITLEMENT_RECOMMENDATIONS (the usage app; entitlements does not import it:
    dependencies point one way). Part of the cached content: usage ingest raises the data version."""
    path = getattr(settings, "PORTAL_ENTITLEMENT_RECOMMENDATIONS", "")
    return import_string(path)(**kwargs) if path else {}


# The filters whose combinations are cached (portal/fragments.py shared_view); text searches are not.
_CHOICES = {
    "status": EntitlementStatus.values,
    "model": LicensingModel.values,
    "sort": list(ENTITLEMENT_SORTS),
    "q": (),
}


class EntitlementListView(CustomerViewMixin, TemplateView):
    required_permission = Permission.VIEW
    template_name = "entitlements/list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        # Everything below the header depends only on the customer's data, the query, the role
        # and the language: rendered once per data version (portal/fragments.py).
        if shared_view(self.request.GET, choices=_CHOICES):
            content = customer_fragment(
                name="entitlements",
                customer=self.customer,
                vary=(self.access.role, sorted(self.request.GET.items())),
                render=self.render_content,
            )
        else:  # a text search or an unusual query: rendered for this request only
            content = mark_safe(self.render_content())  # noqa: S308 - template output
        return super().get_context_data(content=content, **kwargs)

    def render_content(self) -> str:
        form = EntitlementFilterForm(self.request.GET or None)
        filters = form.filters()
        today = timezone.localdate()
        queryset = entitlement_list(customer=self.customer, filters=filters, today=today)
        page = Paginator(queryset, PAGE_SIZE).get_page(self.request.GET.get("page"))
        notes = entitlement_recommendations(customer=self.customer, entitlements=page.object_list, today=today)
        query = self.request.GET.copy()
        query.pop("page", None)
        sort_query = query.copy()
        sort_query.pop("sort", None)
        # The Elastic lines show the pool's consumption and balance, as the Elastic page does
        # (two queries, on a cold render only: the content is cached per data version, which
        # an Elastic usage import raises too).
        pool = customer_value(
            name="elastic_pool",
            customer=self.customer,
            compute=lambda: elastic_pool(customer=self.customer, today=today),
        )
        return render_to_string(
            "entitlements/_list_content.html",
            self.access.page_context(
                **{
                    "form": form,
                    "page": page,
                    "rows_html": entitlement_rows_html(page.object_list, elastic_pool=pool, notes=notes),
                    "columns": PAGE_COLUMNS,
                    "query": query.urlencode(),
                    "sort_query": sort_query.urlencode(),
                    "sort": filters.sort,
                    "export_query": query.urlencode(),
                    # The charts do not depend on the query: paging or filtering reuses them.
                    "charts": customer_fragment(
                        name="entitlement_charts",
                        customer=self.customer,
                        vary=(),
                        render=lambda: self.render_charts(today),
                    ),
                }
            ),
        )

    def render_charts(self, today: datetime.date) -> str:
        return render_to_string(
            "entitlements/_charts.html",
            {
                "usage_chart": entitlement_usage_chart(customer=self.customer, today=today),
                "timeline": entitlement_expiry_timeline(customer=self.customer, today=today),
            },
        )


class EntitlementExportView(CustomerViewMixin, View):
    """The filtered lines as CSV (all of them, not just one page)."""

    required_permission = Permission.VIEW

    def get(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        form = EntitlementFilterForm(request.GET or None)
        filters = form.filters()
        rows = entitlement_list(customer=self.customer, filters=filters)
        lines = entitlement_csv_rows(rows.iterator(chunk_size=500))
        return csv_response(f"entitlements-{self.customer.number}.csv", entitlement_csv_header(), lines)
