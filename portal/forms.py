"""Form pieces shared by the apps."""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from django import forms
from django.conf import settings
from django.core import signing
from django.utils.translation import gettext as _


def lines_normalise(text: str) -> str:
    # Browsers submit textarea line breaks as CRLF; the signed preview must survive that.
    return "\n".join(text.splitlines())


class PreviewedLinesForm(forms.Form):
    """Step 2 of an import that is previewed first (bulk add users, Shared Web users): the
    previewed lines come back in a hidden field with a token signed for this customer, this
    user and exactly these lines, and are checked again.

    Subclasses set ``salt`` (one per import) and implement ``check(content)``, which returns
    the parsed requests or raises ``ValidationError``. ``token_for`` makes the token for the
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

    def check(self, content: str) -> Any:
        raise NotImplementedError

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
