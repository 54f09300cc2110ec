"""Forms of the activations pages. They validate input; the services decide."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from entitlements.models import Entitlement
from portal.errors import PortalError

from .hostids import HostIdError, HostIdType, hostid_normalise
from .licensefile import LicenseParseError, ParsedLicense, license_parse
from .selectors import LineRequest
from .services import HostInput, server_label_clean

HOSTID_CHOICES = [(kind.value, kind.label) for kind in HostIdType]
MAX_QUANTITY = 1_000_000


def _hostid_help() -> str:
    return _("Examples: %(examples)s.") % {"examples": ", ".join(f"{k.label}: {k.example}" for k in HostIdType)}


class ServerForm(forms.Form):
    """A license server: label, one host (or three for a triad), ports."""

    name = forms.CharField(label=gettext_lazy("Label"), max_length=60)
    triad = forms.BooleanField(label=gettext_lazy("Redundant (triad) server with three hosts"), required=False)
    lmgrd_port = forms.IntegerField(label=gettext_lazy("lmgrd port"), min_value=1, max_value=65535, initial=1055)
    vendor_port = forms.IntegerField(
        label=gettext_lazy("Vendor daemon port (optional)"), min_value=1, max_value=65535, required=False
    )

    def __init__(self, *args: Any, edit_host_ids: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.edit_host_ids = edit_host_ids
        for position in (1, 2, 3):
            required = position == 1
            self.fields[f"host_name_{position}"] = forms.CharField(
                label=_("Host name %(n)s") % {"n": position}, max_length=255, required=required
            )
            if edit_host_ids:
                self.fields[f"hostid_type_{position}"] = forms.ChoiceField(
                    label=_("Host ID type %(n)s") % {"n": position},
                    choices=HOSTID_CHOICES,
                    required=required,
                    initial=HostIdType.ETHER.value,
                )
                self.fields[f"host_id_{position}"] = forms.CharField(
                    label=_("Host ID %(n)s") % {"n": position},
                    max_length=64,
                    required=required,
                    help_text=_hostid_help() if position == 1 else "",
                )

    def clean_name(self) -> str:
        try:
            return server_label_clean(self.cleaned_data["name"])
        except PortalError as error:
            raise forms.ValidationError(error.message) from None

    def host_rows(self) -> list[dict[str, Any]]:
        rows = []
        for position in (1, 2, 3):
            if not self.edit_host_ids and position > 1 and not self._has_host(position):
                continue  # editing a single-host server: no triad rows to fill in
            rows.append(
                {
                    "position": position,
                    "host_name": self[f"host_name_{position}"],
                    "hostid_type": self[f"hostid_type_{position}"] if self.edit_host_ids else None,
                    "host_id": self[f"host_id_{position}"] if self.edit_host_ids else None,
                }
            )
        return rows

    def _has_host(self, position: int) -> bool:
        name = f"host_name_{position}"
        return bool(self.initial.get(name) or self.data.get(self.add_prefix(name)))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        count = 3 if data.get("triad") else 1
        for position in range(1, count + 1):
            if not data.get(f"host_name_{position}"):
                self.add_error(f"host_name_{position}", _("Enter the host name."))
            if self.edit_host_ids:
                value = data.get(f"host_id_{position}")
                kind = data.get(f"hostid_type_{position}")
                if not value:
                    self.add_error(f"host_id_{position}", _("Enter the host ID."))
                elif kind:
                    try:
                        data[f"host_id_{position}"] = hostid_normalise(kind, value)
                    except HostIdError as error:
                        self.add_error(f"host_id_{position}", str(error))
        return data

    @property
    def host_count(self) -> int:
        return 3 if self.cleaned_data.get("triad") else 1

    def hosts(self) -> list[HostInput]:
        return [
            HostInput(
                self.cleaned_data[f"host_name_{p}"],
                self.cleaned_data[f"hostid_type_{p}"],
                self.cleaned_data[f"host_id_{p}"],
            )
            for p in range(1, self.host_count + 1)
        ]

    def host_names(self) -> list[str]:
        return [self.cleaned_data[f"host_name_{p}"] for p in range(1, self.host_count + 1)]


class RehostForm(forms.Form):
    """New host names and host IDs, one row per host of the server."""

    def __init__(self, *args: Any, host_count: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.host_count = host_count
        for position in range(1, host_count + 1):
            self.fields[f"host_name_{position}"] = forms.CharField(
                label=_("Host name %(n)s") % {"n": position}, max_length=255
            )
            self.fields[f"hostid_type_{position}"] = forms.ChoiceField(
                label=_("Host ID type %(n)s") % {"n": position}, choices=HOSTID_CHOICES
            )
            self.fields[f"host_id_{position}"] = forms.CharField(
                label=_("New host ID %(n)s") % {"n": position}, max_length=64, help_text=_hostid_help()
            )

    def host_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "position": p,
                "host_name": self[f"host_name_{p}"],
                "hostid_type": self[f"hostid_type_{p}"],
                "host_id": self[f"host_id_{p}"],
            }
            for p in range(1, self.host_count + 1)
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for position in range(1, self.host_count + 1):
            kind, value = data.get(f"hostid_type_{position}"), data.get(f"host_id_{position}")
            if kind and value:
                try:
                    data[f"host_id_{position}"] = hostid_normalise(kind, value)
                except HostIdError as error:
                    self.add_error(f"host_id_{position}", str(error))
        return data

    def hosts(self) -> list[HostInput]:
        return [
            HostInput(
                self.cleaned_data[f"host_name_{p}"],
                self.cleaned_data[f"hostid_type_{p}"],
                self.cleaned_data[f"host_id_{p}"],
            )
            for p in range(1, self.host_count + 1)
        ]


class ActivationForm(forms.Form):
    """One "Activated" quantity and Borrowable box per FlexNet line, plus what the user saw
    on this server (``base_<id>``) so that a change made meanwhile is detected."""

    token = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args: Any, entitlements: Iterable[Entitlement], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.entitlements = list(entitlements)
        for entitlement in self.entitlements:
            self.fields[f"qty_{entitlement.pk}"] = forms.IntegerField(
                label=_("Activated on this server, line %(line)s") % {"line": entitlement.line_id},
                min_value=0,
                max_value=MAX_QUANTITY,
                required=False,
            )
            self.fields[f"borrow_{entitlement.pk}"] = forms.BooleanField(
                label=_("Borrowable, line %(line)s") % {"line": entitlement.line_id}, required=False
            )
            self.fields[f"base_{entitlement.pk}"] = forms.IntegerField(
                min_value=0, max_value=MAX_QUANTITY, required=False, widget=forms.HiddenInput
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for entitlement in self.entitlements:
            quantity = data.get(f"qty_{entitlement.pk}")
            if quantity is not None and quantity > entitlement.quantity:
                self.add_error(
                    f"qty_{entitlement.pk}",
                    _("At most %(quantity)s (the quantity of line %(line)s).")
                    % {"quantity": entitlement.quantity, "line": entitlement.line_id},
                )
        return data

    def requests(self, current: Callable[[], Mapping[int, LineRequest]]) -> dict[int, LineRequest]:
        """The posted quantities and borrowing by line; a line posted without a quantity keeps
        the server's (``current()``, read only then: a confirm posts every quantity)."""
        requests = {}
        for entitlement in self.entitlements:
            quantity = self.cleaned_data.get(f"qty_{entitlement.pk}")
            if quantity is None:
                quantity = current().get(entitlement.pk, LineRequest(0, False)).quantity
            requests[entitlement.pk] = LineRequest(quantity, bool(self.cleaned_data.get(f"borrow_{entitlement.pk}")))
        return requests

    def expected(self) -> dict[int, int]:
        return {
            entitlement.pk: self.cleaned_data[f"base_{entitlement.pk}"]
            for entitlement in self.entitlements
            if self.cleaned_data.get(f"base_{entitlement.pk}") is not None
        }


DELIVER_CHOICES = [("download", gettext_lazy("Download")), ("email", gettext_lazy("Email"))]


class DeliverForm(forms.Form):
    """Save & Download, or Save & Email to the chosen portal users of the customer (its ASCs
    are ticked by default)."""

    deliver = forms.ChoiceField(choices=DELIVER_CHOICES)
    recipients = forms.MultipleChoiceField(
        label=gettext_lazy("Email the license file to"), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(
        self, *args: Any, members: Sequence[tuple[str, str]] = (), default: Sequence[str] = (), **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["recipients"].choices = list(members)
        self.fields["recipients"].initial = list(default)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("deliver") == "email" and not data.get("recipients"):
            self.add_error("recipients", _("Choose at least one person to email the license file to."))
        return data


def _read_upload(upload: Any, max_bytes: int) -> str:
    if upload.size > max_bytes:
        raise forms.ValidationError(_("The file is larger than %(max)s KB.") % {"max": max_bytes // 1024})
    data = upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise forms.ValidationError(_("The file is too large."))
    if b"\x00" in data:
        return ""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return ""


class LicenseUploadForm(forms.Form):
    """An existing license file, uploaded or pasted; parsed into ``parsed``."""

    file = forms.FileField(label=gettext_lazy("License file"), required=False)
    text = forms.CharField(label=gettext_lazy("Or paste its content"), required=False, widget=forms.Textarea)

    parsed: ParsedLicense
    content: str

    @property
    def max_bytes(self) -> int:
        return settings.PORTAL_MAX_UPLOAD_BYTES

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        upload = data.get("file")
        content = _read_upload(upload, self.max_bytes) if upload else (data.get("text") or "")
        if upload and not content:
            raise forms.ValidationError(_("The file is not a text file."))
        if not content.strip():
            raise forms.ValidationError(_("Upload a license file or paste its content."))
        if len(content.encode()) > self.max_bytes:
            raise forms.ValidationError(
                _("The license file is too large: at most %(max)s KB.") % {"max": self.max_bytes // 1024}
            )
        self.content = content
        return data

    def parse(self) -> ParsedLicense:
        try:
            self.parsed = license_parse(self.content)
        except LicenseParseError as error:
            self.add_error(None, _("Line %(line)s: %(reason)s") % {"line": error.line, "reason": error.reason})
            raise
        return self.parsed


class VerifyForm(LicenseUploadForm):
    """The license file checker's input: at most ``PORTAL_VERIFY_MAX_BYTES``."""

    @property
    def max_bytes(self) -> int:
        return settings.PORTAL_VERIFY_MAX_BYTES
