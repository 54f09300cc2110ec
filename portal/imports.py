"""The preview-then-apply page of every pasted or uploaded import (bulk add users, Shared Web
users), in one view mixin: step 1 parses and previews (nothing changes), step 2 applies the
previewed lines all or nothing, or shows the new preview when the data moved meanwhile.

Mixed into a ``CustomerViewMixin`` view (it uses ``self.customer``, ``self.render_page`` and
``self.refused``), with ``portal/forms.py`` ``PastedLinesForm`` / ``PreviewedLinesForm`` and
``templates/includes/previewed_import.html``. A subclass names its forms, outcomes, template
and URL, and implements the three hooks: ``import_plan`` (a selector), ``import_digest`` and
``import_apply`` (the service), plus ``import_done`` (message and redirect).
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, ClassVar

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from .errors import PortalError
from .forms import PastedLinesForm, PreviewedLinesForm


class PlanChanged(PortalError):
    """Raised by an import's apply service when the plan no longer equals the preview;
    ``plan`` is the new one, shown instead."""

    def __init__(self, message: str, plan: Sequence[Any]) -> None:
        super().__init__(message)
        self.plan = plan


class PreviewedImportMixin:
    form_class: ClassVar[type[PastedLinesForm]]
    apply_form_class: ClassVar[type[PreviewedLinesForm]]
    outcomes: ClassVar[type[enum.Enum]]
    template_name: ClassVar[str]
    import_url_name: ClassVar[str]
    max_lines: ClassVar[int]

    customer: Any
    request: HttpRequest

    # --- the hooks -------------------------------------------------------------------------

    def import_plan(self, requests: Sequence[Any]) -> list[Any]:
        raise NotImplementedError

    def import_digest(self, plan: Sequence[Any]) -> str:
        raise NotImplementedError

    def import_apply(self, requests: Sequence[Any], expected_digest: str) -> list[Any]:
        """The apply service; raises ``PlanChanged`` (with the new plan) or ``PortalError``."""
        raise NotImplementedError

    def import_done(self, applied: Sequence[Any]) -> HttpResponse:
        raise NotImplementedError

    def import_render(self, status: int, context: dict[str, Any]) -> HttpResponse:
        return self.render_page(self.template_name, status, **context)  # type: ignore[attr-defined]

    # --- the flow --------------------------------------------------------------------------

    def import_page(self, status: int = HTTPStatus.OK, **context: Any) -> HttpResponse:
        context.setdefault("form", self.form_class())
        context.setdefault("max_lines", self.max_lines)
        context.setdefault("import_url", reverse(self.import_url_name, args=[self.customer.number]))
        return self.import_render(status, context)

    def preview(self, content: str, plan: Sequence[Any], status: int = HTTPStatus.OK) -> HttpResponse:
        token = self.apply_form_class.token_for(
            customer=self.customer, user=self.request.user, content=content, digest=self.import_digest(plan)
        )
        counts = Counter(line.outcome for line in plan)
        return self.import_page(
            status,
            plan=plan,
            summary=[(outcome, counts[outcome]) for outcome in self.outcomes if counts[outcome]],
            blocking=any(line.blocking for line in plan),
            applicable=sum(1 for line in plan if line.applies),
            apply_form=self.apply_form_class(
                initial={"content": content, "token": token}, customer=self.customer, user=self.request.user
            ),
            form=self.form_class(initial={"text": content}),
        )

    def get(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        return self.import_page()

    def post(self, request: HttpRequest, customer_number: str) -> HttpResponse:
        if "apply" in request.POST:
            return self.apply(request)
        form = self.form_class(request.POST, request.FILES)
        if not form.is_valid():
            return self.import_page(HTTPStatus.BAD_REQUEST, form=form)
        return self.preview(form.cleaned_data["content"], self.import_plan(form.cleaned_data["requests"]))

    def apply(self, request: HttpRequest) -> HttpResponse:
        form = self.apply_form_class(request.POST, customer=self.customer, user=request.user)
        if not form.is_valid():
            return self.import_page(HTTPStatus.BAD_REQUEST, apply_errors=form.non_field_errors())
        content, requests = form.cleaned_data["content"], form.cleaned_data["requests"]
        try:
            applied = self.import_apply(requests, form.cleaned_data["digest"])
        except PlanChanged as changed:  # the data moved since the preview: show the new one
            messages.warning(request, changed.message)
            return self.preview(content, changed.plan, HTTPStatus.CONFLICT)
        except PortalError as refused:
            self.refused(refused)  # type: ignore[attr-defined]
            return self.preview(content, self.import_plan(requests), HTTPStatus.BAD_REQUEST)
        return self.import_done(applied)
