"""Pages outside /c/<n>/: the public key and the license file checker.

Included at the root of ``portal/urls.py``: ``path("", include("activations.urls_public"))``.
"""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("license-public-key.pem", views.PublicKeyView.as_view(), name="license_public_key"),
    path("license-files/verify/", views.VerifyView.as_view(), name="license_verify"),
]
