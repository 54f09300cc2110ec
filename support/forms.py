from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.roles import Role
from activations.hostids import HostIdType
from activations.models import EMERGENCY_LICENSE_MAX_DAYS


class ViewAsForm(forms.Form):
    role = forms.ChoiceField(label=_("See the portal as"), choices=Role.choices, initial=Role.VIEWER)


class AscDesignateForm(forms.Form):
    email = forms.EmailField(label=_("Email of the new ASC"))


class FlexnetForm(forms.Form):
    managed = forms.BooleanField(required=False)


class CustomerSearchForm(forms.Form):
    q = forms.CharField(label=_("Customer number or name"), required=False, max_length=200)


class RequestFileForm(forms.Form):
    """What a member files; the kinds offered are those the member's role may file."""

    kind = forms.ChoiceField(label=_("What do you need?"))
    server = forms.TypedChoiceField(label=_("License server"), required=False, coerce=int, empty_value=None)
    asc_email = forms.EmailField(label=_("Email of the new Support Coordinator (ASC)"), required=False)
    hostid_type = forms.ChoiceField(
        label=_("Host ID type of the new host (emergency license)"),
        required=False,
        choices=[("", "—"), *((kind.value, kind.label) for kind in HostIdType)],
    )
    host_id = forms.CharField(label=_("Host ID of the new host (emergency license)"), required=False, max_length=64)
    host_name = forms.CharField(
        label=_("Host name of the new host (emergency license)"),
        required=False,
        max_length=255,
        help_text=_("Leave empty to keep the server's host name; you may edit it in the file."),
    )
    emergency_days = forms.IntegerField(
        label=_("Days the emergency license should run"),
        required=False,
        min_value=1,
        max_value=EMERGENCY_LICENSE_MAX_DAYS,
        initial=EMERGENCY_LICENSE_MAX_DAYS,
        help_text=_("At most 14 days, counted from the day support issues the file."),
    )
    reason = forms.CharField(label=_("Why"), widget=forms.Textarea(attrs={"rows": 4}), max_length=2000)

    def __init__(self, *args, kinds, servers, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(kind.value, kind.label) for kind in kinds]
        self.fields["server"].choices = [("", "—"), *((s.pk, s.name) for s in servers)]


class CommentForm(forms.Form):
    body = forms.CharField(label=_("Comment"), widget=forms.Textarea(attrs={"rows": 3}), max_length=4000)


class DecisionForm(forms.Form):
    comment = forms.CharField(
        label=_("Comment to the customer"), widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=4000
    )
