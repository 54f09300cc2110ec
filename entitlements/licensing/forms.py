"""Forms of the Shared Web and Elastic settings. They validate input only; services decide
and write."""

from __future__ import annotations

import csv
import datetime
import re
from typing import Any

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Customer
from portal.csv import csv_line_fields, csv_unsafe
from portal.errors import PortalError
from portal.forms import LinesImport, PastedLinesForm, PreviewedLinesForm, csv_upload_text

from .selectors import Granularity, SharedWebImportRequest
from .services import recipients_clean, shared_web_email_normalise, thresholds_clean

# --- Shared Web users -------------------------------------------------------------------


class SharedWebUserForm(forms.Form):
    email = forms.CharField(label=gettext_lazy("Email address"), max_length=254)
    name = forms.CharField(label=gettext_lazy("Name"), max_length=150, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].widget.attrs.update(autocomplete="off", type="email")


class ActiveForm(forms.Form):
    active = forms.TypedChoiceField(choices=[("1", "1"), ("0", "0")], coerce=lambda value: value == "1")


MAX_IMPORT_LINES = 5000


def shared_web_import_parse(text: str) -> list[SharedWebImportRequest]:
    """One request per non-blank line of ``email,name`` (also ``;`` or tab separated).
    Blank lines, ``#`` comments and a leading ``email,name`` header are skipped; the name
    may be empty. Line numbers are the physical ones. A file exported from the users page
    imports as it is: its header names further columns (active, groups), which are ignored,
    and the quote that ``csv_safe`` put before formula-like cells is dropped again."""
    requests: list[SharedWebImportRequest] = []
    header_allowed = True
    columns = 2
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            fields = [csv_unsafe(value.strip()).strip() for value in csv_line_fields(line)]
        except csv.Error:
            requests.append(SharedWebImportRequest(number, line, error=_("This line is not valid CSV.")))
            continue
        if header_allowed and [value.casefold() for value in fields][:2] == ["email", "name"]:
            header_allowed = False
            columns = len(fields)
            continue
        header_allowed = False
        if not 1 <= len(fields) <= columns or not fields[0]:
            requests.append(
                SharedWebImportRequest(number, line, error=_("Expected an email address and a name: email,name."))
            )
            continue
        try:
            email = shared_web_email_normalise(fields[0])
        except PortalError as refused:
            requests.append(SharedWebImportRequest(number, line, error=refused.message))
            continue
        name = " ".join(fields[1].split()) if len(fields) > 1 else ""
        if len(name) > 150:
            requests.append(
                SharedWebImportRequest(number, line, email=email, error=_("A name has at most 150 characters."))
            )
            continue
        requests.append(SharedWebImportRequest(number, line, email=email, name=name))
    return requests


class _SharedWebLines(LinesImport):
    parse = staticmethod(shared_web_import_parse)
    max_lines = MAX_IMPORT_LINES
    empty_message = gettext_lazy("Enter at least one line: email,name.")


class SharedWebImportForm(_SharedWebLines, PastedLinesForm):
    """Step 1: the lines, pasted or uploaded."""

    text = forms.CharField(
        label=gettext_lazy("Paste lines of email,name"),
        required=False,
        max_length=settings.PORTAL_MAX_UPLOAD_BYTES,
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false"}),
        help_text=gettext_lazy("One person per line, for example: jane@example.com,Jane Doe"),
    )
    file = forms.FileField(
        label=gettext_lazy("Or upload a CSV file"),
        required=False,
        help_text=gettext_lazy("UTF-8 CSV with the columns email,name; a header line is allowed."),
    )


class SharedWebImportApplyForm(_SharedWebLines, PreviewedLinesForm):
    """Step 2 of the Shared Web import: the previewed lines, checked again."""

    salt = "entitlements.shared_web_import.preview"


# --- Shared Web groups ------------------------------------------------------------------


class GroupNameForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Group name"), max_length=100)


class GroupMembersForm(forms.Form):
    members = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Members"),
        required=False,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, users: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["members"].choices = [
            (user.pk, f"{user.email} ({user.name})" if user.name else user.email) for user in users
        ]


class SeatsForm(forms.Form):
    entitlement = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    seats = forms.IntegerField(label=gettext_lazy("Seats reserved"), min_value=0, max_value=1_000_000)


# --- Elastic ----------------------------------------------------------------------------


def _split(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,;]+", text or "") if part]


class BudgetForm(forms.Form):
    monthly_budget_units = forms.IntegerField(
        label=gettext_lazy("Monthly budget (Elastic units)"),
        required=False,
        min_value=1,
        max_value=1_000_000_000,
        help_text=gettext_lazy("Leave empty for no budget (and no alerts)."),
    )
    alert_thresholds = forms.CharField(
        label=gettext_lazy("Alert thresholds (%)"),
        required=False,
        max_length=200,
        help_text=gettext_lazy("Whole percentages of the budget from 1 to 100, e.g. 50, 80, 100."),
    )
    alert_recipients = forms.CharField(
        label=gettext_lazy("Extra alert recipients"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text=gettext_lazy(
            "Email addresses, one per line or separated by commas. The ASCs always receive the alerts."
        ),
    )

    def clean_alert_thresholds(self) -> list[int]:
        parts = [part.rstrip("%") for part in _split(self.cleaned_data.get("alert_thresholds", ""))]
        if any(not part.isdigit() for part in parts):
            raise forms.ValidationError(_("Each threshold is a whole percentage from 1 to 100."))
        try:
            return thresholds_clean(int(part) for part in parts)
        except PortalError as refused:
            raise forms.ValidationError(refused.message) from None

    def clean_alert_recipients(self) -> list[str]:
        try:
            return recipients_clean(_split(self.cleaned_data.get("alert_recipients", "")))
        except PortalError as refused:
            raise forms.ValidationError(refused.message) from None


class UsagePreset:
    LAST_5_DAYS = "last5days"
    YEAR_TO_DATE = "ytd"
    LAST_12_MONTHS = "last12months"
    CUSTOM = "custom"


_EARLIEST = datetime.date(2000, 1, 1)
_LATEST = datetime.date(2999, 12, 31)
MAX_DAY_BUCKETS = 93
# The longest custom range the usage page shows (two years: 25 month bars at most). The CSV
# export takes any range: it streams and is capped at portal.csv.EXPORT_MAX_ROWS rows.
MAX_USAGE_RANGE_DAYS = 731


class UsageFilterForm(forms.Form):
    preset = forms.ChoiceField(
        label=gettext_lazy("Period"),
        required=False,
        choices=[
            (UsagePreset.LAST_5_DAYS, gettext_lazy("Last 5 days")),
            (UsagePreset.YEAR_TO_DATE, gettext_lazy("Year to date")),
            (UsagePreset.LAST_12_MONTHS, gettext_lazy("Last 12 months")),
            (UsagePreset.CUSTOM, gettext_lazy("Custom range")),
        ],
    )
    date_from = forms.DateField(
        label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    date_to = forms.DateField(
        label=gettext_lazy("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    per = forms.ChoiceField(
        label=gettext_lazy("Chart per"),
        required=False,
        choices=[
            ("", gettext_lazy("Automatic")),
            (Granularity.DAY.value, gettext_lazy("Day")),
            (Granularity.MONTH.value, gettext_lazy("Month")),
        ],
    )

    def __init__(
        self,
        *args: Any,
        today: datetime.date | None = None,
        max_days: int | None = MAX_USAGE_RANGE_DAYS,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.today = today or timezone.localdate()
        self.max_days = max_days

    def _in_range(self, name: str) -> datetime.date | None:
        value = self.cleaned_data.get(name)
        if value is not None and not _EARLIEST <= value <= _LATEST:
            raise forms.ValidationError(_("Enter a date between 2000 and 2999."))
        return value

    def clean_date_from(self) -> datetime.date | None:
        return self._in_range("date_from")

    def clean_date_to(self) -> datetime.date | None:
        return self._in_range("date_to")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        preset = cleaned.get("preset") or ""
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if not preset:
            preset = UsagePreset.CUSTOM if (start or end) else UsagePreset.LAST_12_MONTHS
        cleaned["preset"] = preset
        period = preset_period(preset, today=self.today)
        if period is not None:
            start, end = period
        elif not self.errors:
            self._check_custom_range(start, end)
        cleaned["start"], cleaned["end"] = start, end
        cleaned["granularity"] = usage_granularity(cleaned.get("per"), start, end)
        return cleaned

    def _check_custom_range(self, start: datetime.date | None, end: datetime.date | None) -> None:
        if start is None:
            self.add_error("date_from", _("Enter the first day of the range."))
        if end is None:
            self.add_error("date_to", _("Enter the last day of the range."))
        if start and end and start > end:
            self.add_error("date_to", _("The end date is before the start date."))
        elif start and end and self.max_days and (end - start).days >= self.max_days:
            self.add_error("date_to", _("Choose a range of at most %(days)d days.") % {"days": self.max_days})


def preset_period(preset: str, *, today: datetime.date) -> tuple[datetime.date, datetime.date] | None:
    """The days a preset period covers, both included; None for a custom range."""
    if preset == UsagePreset.LAST_5_DAYS:
        return today - datetime.timedelta(days=4), today
    if preset == UsagePreset.YEAR_TO_DATE:
        return today.replace(month=1, day=1), today
    if preset == UsagePreset.LAST_12_MONTHS:
        first = today.replace(day=1)
        year, month = (first.year, first.month - 11) if first.month > 11 else (first.year - 1, first.month + 1)
        return first.replace(year=year, month=month), today
    return None


def usage_granularity(per: str | None, start: datetime.date | None, end: datetime.date | None) -> Granularity:
    """Bars per day for up to two months (or when asked, up to ``MAX_DAY_BUCKETS`` days), else per month."""
    if per:
        granularity = Granularity(per)
    else:
        granularity = Granularity.DAY if start and end and (end - start).days < 62 else Granularity.MONTH
    if granularity == Granularity.DAY and start and end and (end - start).days >= MAX_DAY_BUCKETS:
        granularity = Granularity.MONTH
    return granularity


# --- Support console --------------------------------------------------------------------


class UsageImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Usage report (CSV)"),
        help_text=gettext_lazy(
            "UTF-8 CSV with the header customer_number,transaction_id,started_at,ended_at,feature,count,hours,cost,"
            "currency,user. Dates in ISO 8601 (2026-11-28 14:05)."
        ),
    )
    dry_run = forms.BooleanField(label=gettext_lazy("Check only (import nothing)"), required=False)

    def clean_file(self) -> str:
        return csv_upload_text(self.cleaned_data["file"], max_bytes=50 * 1024 * 1024)


class ElasticAccountAdminForm(forms.Form):
    customer = forms.ModelChoiceField(queryset=Customer.objects.order_by("number"), label=gettext_lazy("Customer"))
    license_server_id = forms.CharField(label=gettext_lazy("Cloud license server ID"), max_length=64)
