from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.roles import Role


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
