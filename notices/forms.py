from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Category, Frequency


class PreferencesForm(forms.Form):
    """One choice per category. The ASC's activation and user-change emails are not here:
    the role matrix promises them and nobody can switch them off."""

    def __init__(self, *args: object, initial_choices: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        for category in Category:
            self.fields[category.value] = forms.ChoiceField(
                label=category.label,
                choices=Frequency.choices,
                widget=forms.RadioSelect,
                initial=initial_choices.get(category.value),
            )

    def choices(self) -> dict[str, str]:
        return {c.value: self.cleaned_data[c.value] for c in Category}


class MarkReadForm(forms.Form):
    notification = forms.IntegerField(required=False, min_value=1, label=_("Notification"))
