"""Forms of the entitlements pages and the support console's CSV import."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal.forms import csv_upload_text

from .models import EntitlementStatus, LicensingModel
from .selectors import ENTITLEMENT_SORTS, EntitlementFilters


class EntitlementFilterForm(forms.Form):
    """The filters of the entitlements page. Invalid values fall back to "all" silently:
    a hand-edited URL must never break the page."""

    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        required=False,
        choices=[("", gettext_lazy("All statuses")), *EntitlementStatus.choices],
    )
    model = forms.ChoiceField(
        label=gettext_lazy("Licensing model"),
        required=False,
        choices=[("", gettext_lazy("All models")), *LicensingModel.choices],
    )
    q = forms.CharField(label=gettext_lazy("Search"), required=False, max_length=100)
    sort = forms.ChoiceField(required=False, choices=[(key, key) for key in ENTITLEMENT_SORTS])

    def filters(self) -> EntitlementFilters:
        self.is_valid()  # keeps the valid fields in cleaned_data; unbound -> no filters
        data: dict[str, Any] = getattr(self, "cleaned_data", {})
        return EntitlementFilters(
            status=data.get("status") or "",
            model=data.get("model") or "",
            text=data.get("q") or "",
            sort=data.get("sort") or "line",
        )


class EntitlementImportForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("CSV file"), required=False)
    text = forms.CharField(label=gettext_lazy("Or paste the CSV"), required=False, widget=forms.Textarea)

    content: str

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        upload = data.get("file")
        if upload:
            self.content = csv_upload_text(upload)
        else:
            self.content = data.get("text") or ""
        if not self.content.strip():
            raise forms.ValidationError(_("Upload a CSV file or paste its content."))
        return data
