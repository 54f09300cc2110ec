from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.roles import Role

from .services import TOKEN_DEFAULT_DAYS, TOKEN_MAX_DAYS
from .webhooks import EVENT_TYPES


class TokenCreateForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=80, help_text=_("What the token is for, e.g. the script."))
    role = forms.ChoiceField(
        label=_("Role"), choices=Role.choices, initial=Role.VIEWER, help_text=_("No higher than your own role.")
    )
    days = forms.IntegerField(
        label=_("Expires after (days)"), min_value=1, max_value=TOKEN_MAX_DAYS, initial=TOKEN_DEFAULT_DAYS
    )


class WebhookEndpointForm(forms.Form):
    url = forms.CharField(label=_("URL"), max_length=500, help_text=_("An https:// address on the public internet."))
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        label=_("Events"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[(key, key) for key in EVENT_TYPES],
        help_text=_("None chosen: every event."),
    )
    enabled = forms.BooleanField(label=_("Enabled"), required=False, initial=True)
