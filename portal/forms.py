"""Form pieces shared by the apps."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, ClassVar

from django import forms
from django.conf import settings
from django.core import signing
from django.utils.translation import gettext as _

from portal.errors import PortalError


def form_error_from(form: forms.Form, error: PortalError) -> None:
    """Puts a service's refusal on the form: on its field when the form has it."""
    form.add_error(error.field if error.field in form.fields else None, error.message)


def ascii_int(text: str, *, max_digits: int = 18) -> int | None:
    """``text`` as a whole number when it is 1 to ``max_digits`` ASCII digits, else None.

    For numbers read from a query string or a pasted file: ``str.isdigit`` is true for
    ``"²"`` and ``"١"`` (``int("²")`` raises, ``int("١")`` is 1), and ``int`` refuses more than
    4,300 digits, while a database integer holds 18."""
    return int(text) if 0 < len(text) <= max_digits and text.isascii() and text.isdigit() else None


def lines_normalise(text: str) -> str:
    # Browsers submit textarea line breaks as CRLF; the signed preview must survive that.
    return "\n".join(text.splitlines())


def csv_upload_text(upload: Any, *, max_bytes: int | None = None) -> str:
    """An uploaded CSV file as text, or a ``ValidationError`` saying why it cannot be read:
    too large, not UTF-8, or binary (NUL, which PostgreSQL text cannot hold either)."""
    max_bytes = settings.PORTAL_MAX_UPLOAD_BYTES if max_bytes is None else max_bytes
    if upload.size > max_bytes:
        raise forms.ValidationError(_("The file is larger than %(max)d KB.") % {"max": max_bytes // 1024})
    try:
        text = upload.read(max_bytes + 1).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise forms.ValidationError(_("Save the file as UTF-8 CSV and upload it again.")) from None
    if "\x00" in text:
        raise forms.ValidationError(_("This is not a text file."))
    return text


class LinesImport:
    """What a pasted-lines import reads (bulk add users, Shared Web users): ``parse`` turns the
    text into requests, at most ``max_lines`` of them; ``empty_message`` when there are none.
    Shared by its step 1 (``PastedLinesForm``) and step 2 (``PreviewedLinesForm``)."""

    parse: ClassVar[Callable[[str], list[Any]]]
    max_lines: ClassVar[int]
    empty_message: ClassVar[str]

    def check(self, content: str) -> list[Any]:
        requests = self.parse(content)
        if not requests:
            raise forms.ValidationError(self.empty_message)
        if len(requests) > self.max_lines:
            raise forms.ValidationError(
                _("At most %(max)d lines at a time; this has %(count)d.")
                % {"max": self.max_lines, "count": len(requests)}
            )
        return requests


class PastedLinesForm(LinesImport, forms.Form):
    """Step 1 of a previewed import: the lines pasted into ``text`` or uploaded as ``file``
    (subclasses declare both fields with their own labels). Leaves the normalised text in
    ``cleaned_data["content"]`` and the parsed lines in ``cleaned_data["requests"]``."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        text, upload = cleaned.get("text") or "", cleaned.get("file")
        if text.strip() and upload:
            raise forms.ValidationError(_("Paste lines or upload a file, not both."))
        if upload:
            text = csv_upload_text(upload)
        cleaned["content"] = lines_normalise(text)
        cleaned["requests"] = self.check(cleaned["content"])
        return cleaned


class PreviewedLinesForm(LinesImport, forms.Form):
    """Step 2 of an import that is previewed first (bulk add users, Shared Web users): the
    previewed lines come back in a hidden field with a token signed for this customer, this
    user and exactly these lines, and are checked again.

    Subclasses set ``salt`` (one per import) and what ``LinesImport`` reads. ``token_for makes the token for the
    preview page; ``cleaned_data["digest"]`` is what the preview signed with it (the state the
    preview was computed on)."""

    salt: ClassVar[str]
    max_age: ClassVar[int] = 60 * 60  # seconds a preview may be applied after it was shown

    content = forms.CharField(
        widget=forms.Textarea(attrs={"hidden": True, "readonly": True}),
        max_length=settings.PORTAL_MAX_UPLOAD_BYTES,
        strip=False,
    )
    token = forms.CharField(widget=forms.HiddenInput, max_length=2000)

    def __init__(self, *args: Any, customer: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.customer, self.user = customer, user

    @classmethod
    def token_for(cls, *, customer: Any, user: Any, content: str, digest: str) -> str:
        return signing.dumps({**cls._signed(customer, user, content), "d": digest}, salt=cls.salt)

    @staticmethod
    def _signed(customer: Any, user: Any, content: str) -> dict[str, Any]:
        return {"c": customer.pk, "u": user.pk, "h": hashlib.sha256(content.encode()).hexdigest()}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            raise forms.ValidationError(_("The preview could not be read; start again."))
        content = cleaned["content"] = lines_normalise(cleaned["content"])
        try:
            token = signing.loads(cleaned["token"], salt=self.salt, max_age=self.max_age)
        except signing.BadSignature:
            raise forms.ValidationError(_("The preview has expired; preview the lines again.")) from None
        if any(token.get(key) != value for key, value in self._signed(self.customer, self.user, content).items()):
            raise forms.ValidationError(_("The preview does not match these lines; preview them again."))
        cleaned["digest"] = token["d"]
        cleaned["requests"] = self.check(content)
        return cleaned
