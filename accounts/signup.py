"""Sign-up's own fields (allauth's ``ACCOUNT_SIGNUP_FORM_CLASS``). A module of its own: allauth
imports it while building its sign-up form, so it must not import ``allauth.account.forms``
(``accounts.forms`` does)."""

from __future__ import annotations

import unicodedata
from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .services import user_profile_set


class SignupExtraForm(forms.Form):
    """What allauth's sign-up asks besides the address and password: the person's name
    (shown to colleagues on the users page) and, optionally, their company."""

    name = forms.CharField(label=gettext_lazy("Your name"), max_length=150)
    company = forms.CharField(label=gettext_lazy("Company (optional)"), max_length=150, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs.update(autocomplete="name")
        self.fields["company"].widget.attrs.update(autocomplete="organization")

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if not name or any(unicodedata.category(c).startswith("C") for c in name):
            raise forms.ValidationError(_("Enter your name."))
        return name

    def clean_company(self) -> str:
        company = " ".join(self.cleaned_data["company"].split())
        if any(unicodedata.category(c).startswith("C") for c in company):
            raise forms.ValidationError(_("Enter the company name in plain text."))
        return company

    def signup(self, request: Any, user: Any) -> None:  # allauth's ACCOUNT_SIGNUP_FORM_CLASS hook
        user_profile_set(user=user, name=self.cleaned_data["name"], company=self.cleaned_data.get("company", ""))
