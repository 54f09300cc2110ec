"""Forms of the users page, the bulk add and the audit log. They validate input only;
services decide and write."""

from __future__ import annotations

import csv
import datetime
from typing import Any

from allauth.account.forms import LoginForm as AllauthLoginForm
from allauth.account.forms import ResetPasswordForm
from allauth.account.models import EmailAddress
from django import forms
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal.csv import csv_line_fields
from portal.errors import PortalError
from portal.forms import LinesImport, PastedLinesForm, PreviewedLinesForm

from .audit_text import AUDIT_ACTION_LABELS, audit_action_label, audit_kind_choices
from .emails import email_normalise
from .roles import GRANTABLE_ROLES, Role
from .selectors import AddRequest, AuditFilters

__all__ = ["AUDIT_ACTION_LABELS", "audit_action_label"]  # re-exported for the views and tests

# --- Single changes ----------------------------------------------------------------------


def _grantable_choices() -> list[tuple[str, str]]:
    return [(role.value, role.label) for role in GRANTABLE_ROLES]


class _RoleField(forms.ChoiceField):
    """Accepts every role so that a forged request for the ASC role reaches the service,
    which refuses it and audits the attempt; offers only the roles a portal user may grant."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=Role.choices, **kwargs)
        self.widget.choices = _grantable_choices()


class UserAddForm(forms.Form):
    email = forms.CharField(label=gettext_lazy("Email address"), max_length=254)
    role = _RoleField(label=gettext_lazy("Role"), initial=Role.VIEWER)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].widget.attrs.update(autocomplete="off", type="email")


class RoleChangeForm(forms.Form):
    role = _RoleField(label=gettext_lazy("Role"))


# --- Bulk add ----------------------------------------------------------------------------

MAX_BULK_LINES = 2000
_HEADER = ["email", "role"]


def role_from_text(value: str) -> Role | None:
    """``administrator``/``viewer``/``asc`` or a role's label, case-insensitively, in English
    or the current language."""
    wanted = value.strip().casefold()
    for role in Role:
        names = {role.value, str(role.label).casefold()}
        with translation.override("en"):
            names.add(str(role.label).casefold())
        if wanted in names:
            return role
    return None


def bulk_requests_parse(text: str) -> list[AddRequest]:
    """One request per non-blank line of ``email,role`` (also ``;`` or tab separated, as
    spreadsheets export). Line numbers are the physical ones, so people can find them.
    Blank lines, ``#`` comments and a leading ``email,role`` header are skipped. A line that
    does not parse becomes a request with ``error`` set: the preview shows why."""
    requests: list[AddRequest] = []
    header_allowed = True
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            fields = [field.strip() for field in csv_line_fields(line)]
        except csv.Error:
            requests.append(AddRequest(number, line, error=_("This line is not valid CSV.")))
            continue
        if header_allowed and [field.casefold() for field in fields] == _HEADER:
            header_allowed = False
            continue
        header_allowed = False
        if len(fields) != len(_HEADER) or not all(fields):
            requests.append(AddRequest(number, line, error=_("Expected an email address and a role: email,role.")))
            continue
        try:
            email = email_normalise(fields[0])
        except PortalError as refused:
            requests.append(AddRequest(number, line, error=refused.message))
            continue
        role = role_from_text(fields[1])
        if role is None:
            error = _("Unknown role “%(role)s”: use administrator or viewer.") % {"role": fields[1][:40]}
            requests.append(AddRequest(number, line, email=email, error=error))
            continue
        requests.append(AddRequest(number, line, email=email, role=role))
    return requests


class _BulkLines(LinesImport):
    parse = staticmethod(bulk_requests_parse)
    max_lines = MAX_BULK_LINES
    empty_message = gettext_lazy("Enter at least one line: email,role.")


class BulkAddForm(_BulkLines, PastedLinesForm):
    """Step 1: the lines, pasted or uploaded."""

    text = forms.CharField(
        label=gettext_lazy("Paste lines of email,role"),
        required=False,
        max_length=settings.PORTAL_MAX_UPLOAD_BYTES,
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false"}),
        help_text=gettext_lazy("One person per line, for example: jane@example.com,viewer"),
    )
    file = forms.FileField(
        label=gettext_lazy("Or upload a CSV file"),
        required=False,
        help_text=gettext_lazy("UTF-8 CSV with the columns email,role; a header line is allowed."),
    )


class BulkApplyForm(_BulkLines, PreviewedLinesForm):
    """Step 2 of bulk add: the previewed lines, checked again."""

    salt = "accounts.bulk_add.preview"


# --- Audit log filter --------------------------------------------------------------------

_EARLIEST = datetime.date(2000, 1, 1)
_LATEST = datetime.date(2999, 12, 31)


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(label=gettext_lazy("Action"), required=False)
    actor = forms.CharField(label=gettext_lazy("Actor email contains"), required=False, max_length=254, strip=True)
    date_from = forms.DateField(
        label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    date_to = forms.DateField(
        label=gettext_lazy("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    denied = forms.BooleanField(label=gettext_lazy("Denied attempts only"), required=False)

    def __init__(self, *args: Any, actions: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", _("All actions")), *audit_kind_choices(actions)]

    def _date_in_range(self, name: str) -> datetime.date | None:
        value = self.cleaned_data.get(name)
        if value is not None and not (_EARLIEST <= value <= _LATEST):
            raise forms.ValidationError(_("Enter a date between 2000 and 2999."))
        return value

    def clean_date_from(self) -> datetime.date | None:
        return self._date_in_range("date_from")

    def clean_date_to(self) -> datetime.date | None:
        return self._date_in_range("date_to")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date is before the start date."))
        return cleaned

    def filters(self) -> AuditFilters:
        data = self.cleaned_data
        return AuditFilters(
            action=data.get("action") or "",
            actor=data.get("actor") or "",
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            denied_only=bool(data.get("denied")),
        )


class PasswordResetForm(ResetPasswordForm):
    """allauth's reset form, sending a reset only where it proves the right thing.

    A reset is sent to an address its account holds *verified*, or to the sole address of an
    account that never verified it (the owner taking it back from someone who signed up with
    it first; ``email_verify_after_password_reset``). An unverified address sitting beside
    others gets none: otherwise the owner of an address someone added to *their* account would
    be handed that account, verify the address in it, and the account's other address would
    take it back with the owner's invitations. Nothing on the page differs (enumeration)."""

    def clean_email(self) -> str:
        email = super().clean_email()
        self.users = [user for user in self.users if _reset_proves_address(user, email)]
        return email


def _reset_proves_address(user: Any, email: str) -> bool:
    addresses = list(EmailAddress.objects.filter(user=user))
    matching = [address for address in addresses if address.email.lower() == email.lower()]
    if not matching:
        return False
    return matching[0].verified or len(addresses) == 1


class LoginForm(AllauthLoginForm):
    """allauth's login form; the address typed is normalised like every stored one (an
    'İ' typed at login finds the 'i' stored at sign-up). Anything that is not an address is
    left for allauth to refuse as usual."""

    def clean_login(self) -> str:
        login = super().clean_login()
        try:
            return email_normalise(login)
        except PortalError:
            return login
