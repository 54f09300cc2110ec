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
