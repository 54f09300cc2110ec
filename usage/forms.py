"""Forms of the Usage page: filters (bounded period), uploads, lmstat, agent keys, privacy."""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from .selectors import GRANULARITIES, MAX_PERIOD_DAYS, UsageFilters


class UsageFilterForm(forms.Form):
    server = forms.CharField(label=_("Server"), required=False, max_length=255)
    feature = forms.CharField(label=_("Feature"), required=False, max_length=255)
    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    granularity = forms.ChoiceField(
        label=_("Per"),
        required=False,
        choices=[("day", _("day")), ("week", _("week")), ("month", _("month"))],
    )

    def __init__(
        self,
        *args: Any,
        servers: list[str],
        features: list[str],
        default_period: tuple[datetime.date, datetime.date],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.default_period = default_period
        self.fields["server"].widget = forms.Select(choices=[("", _("All servers")), *((s, s or "?") for s in servers)])
        self.fields["feature"].widget = forms.Select(choices=[("", _("All features")), *((f, f) for f in features)])

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            self.add_error("end", _("The end is before the start."))
        elif start and end and (end - start).days >= MAX_PERIOD_DAYS:
            self.add_error("start", _("Choose a period of at most %(days)s days.") % {"days": MAX_PERIOD_DAYS})
        return data

    def filters(self) -> UsageFilters:
        default_start, default_end = self.default_period
        if not self.is_bound or not self.is_valid():
            return UsageFilters(start=default_start, end=default_end)
        data = self.cleaned_data
        end = data.get("end") or default_end
        start = data.get("start") or end - (default_end - default_start)
        start = max(start, end - datetime.timedelta(days=MAX_PERIOD_DAYS - 1))
        if start > end:
            start, end = end, start
        granularity = data.get("granularity") or "day"
        return UsageFilters(
            start=start,
            end=end,
            server=data.get("server") or "",
            feature=data.get("feature") or "",
            granularity=granularity if granularity in GRANULARITIES else "day",
        )


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


class LogUploadForm(forms.Form):
    files = MultipleFileField(
        label=_("Debug logs"),
        help_text=_("lmgrd or vendor daemon logs, plain or gzip; several at once."),
    )
    server_name = forms.CharField(
        label=_("License server host"),
        required=False,
        max_length=255,
        help_text=_("Only needed when the logs do not contain lmgrd's start-up line."),
    )


class LmstatForm(forms.Form):
    text = forms.CharField(
        label=_("lmstat -a output"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        max_length=2 * 1024 * 1024,
    )
    file = forms.FileField(label=_("or a file"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        upload = data.get("file")
        if upload is not None:
            if upload.size > 2 * 1024 * 1024:
                raise forms.ValidationError(_("The lmstat output is too long."))
            data["text"] = upload.read().decode("utf-8", errors="replace")
        if not (data.get("text") or "").strip():
            raise forms.ValidationError(_("Paste the output of lmutil lmstat -a or choose a file."))
        return data


class AgentKeyForm(forms.Form):
    server_name = forms.CharField(label=_("License server host"), max_length=255)


class UsageSettingsForm(forms.Form):
    retention_months = forms.IntegerField(label=_("Keep raw events for (months)"), min_value=1, max_value=120)
    pseudonymise_users = forms.BooleanField(label=_("Pseudonymise user names at upload"), required=False)
