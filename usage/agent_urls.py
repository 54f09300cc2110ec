"""The usage agent's push endpoint (outside /c/<n>/: authenticated by its upload key only)."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("upload/", views.AgentUploadView.as_view(), name="usage_agent_upload"),
]
